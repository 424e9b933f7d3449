"""Checklist sections G-J (items 87-113) through real sockets: keep-alive,
pipelining and timeouts; errors raised by handlers; disconnects,
cancellation and shutdown; the log records a real request leaves.

``tests/test_server_basics.py`` covers the headline case of several items;
the tests here pin the rest of each item (timings, log records, the
decisions of api-spec §12 that override 1.1).
"""

from __future__ import annotations

import asyncio
import calendar
import http.client
import logging
import os
import re
import shutil
import socket
import ssl
import struct
import tempfile
import warnings
from typing import Any, Callable, List, Tuple
from unittest import mock

import pytest
from conftest import HOST, exchange, running_server
from test_checklist_responses import Conn, Scripted, connected, in_thread, request, served

import llserver.log
import llserver.server
from llserver import Response, errors
from llserver.server import ServerHttpProtocol

GET = request()
CLOSE_GET = request(extra="Connection: close\r\n")
JAN_1_1843 = calendar.timegm((1843, 1, 1, 0, 0, 0))


def tracking(factory: Callable[[], ServerHttpProtocol]) -> Tuple[Callable[[], ServerHttpProtocol], list]:
    """A protocol factory that remembers the protocols it built."""
    protocols: List[ServerHttpProtocol] = []

    def make() -> ServerHttpProtocol:
        proto = factory()
        protocols.append(proto)
        return proto

    return make, protocols


async def answer(proto, body: bytes, *, version: Any = None, opt_in: Any = None) -> Response:
    """A Content-Length response; ``opt_in`` is passed to ``keep_alive()``."""
    resp = Response(proto.writer, 200, http_version=version or (1, 1))
    resp.add_header("Content-Length", str(len(body)))
    resp.send_headers()
    resp.write(body)
    await resp.write_eof()
    if opt_in is not None:
        proto.keep_alive(opt_in)
    return resp


async def echo_path_opt_in(proto, message, payload):
    await answer(proto, message.path.encode(), version=message.version, opt_in=True)


def reset(conn: Conn) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0), so the server sees
    it as lost rather than half-closed."""
    sock = conn.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.writer.transport.abort()


async def eof_after(conn: Conn, limit: float = 3.0) -> Tuple[bytes, float]:
    """Read until the server closes; (bytes read, seconds it took)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    data = await asyncio.wait_for(conn.reader.read(), limit)
    return data, loop.time() - start


def records(caplog, name: str, level: int = logging.DEBUG) -> list:
    return [r for r in caplog.records if r.name == name and r.levelno >= level]


# =========================================================== G. keep-alive


async def test_three_pipelined_requests_with_opt_in_get_three_ordered_responses_on_one_connection():
    make, protocols = tracking(lambda: Scripted(echo_path_opt_in))
    async with running_server(make) as (_, port):
        async with connected(port) as conn:
            conn.send(request("/1") + request("/2") + request("/3"))
            bodies = [(await conn.response()).body for _ in range(3)]
            tail, closed = await conn.tail()
    assert bodies == [b"/1", b"/2", b"/3"]
    assert len(protocols) == 1 and protocols[0]._request_count == 3
    assert tail == b"" and not closed  # still open for a fourth request


async def test_idle_keep_alive_connection_closes_silently_after_keepalive_timeout(caplog):
    caplog.set_level(logging.DEBUG, logger="llserver")
    async with served(echo_path_opt_in, keepalive_timeout=1) as (_, port):
        async with connected(port) as conn:
            conn.send(request("/a"))
            assert (await conn.response()).body == b"/a"
            await asyncio.sleep(0.5)
            conn.send(request("/b"))  # 0.5 s idle: still served
            assert (await conn.response()).body == b"/b"
            rest, elapsed = await eof_after(conn)
    assert rest == b""
    assert 0.7 <= elapsed <= 1.3
    assert records(caplog, "llserver", logging.WARNING) == []


async def test_keepalive_timeout_zero_closes_after_the_first_response_despite_opt_in():
    async with served(echo_path_opt_in, keepalive_timeout=0) as (_, port):
        async with connected(port) as conn:
            conn.send(request("/a") + request("/b"))
            first = await conn.response()
            rest, elapsed = await eof_after(conn)
    assert first.body == b"/a"
    assert rest == b"" and elapsed < 0.5


async def test_keepalive_timeout_none_serves_every_connection_without_keep_alive():
    # 1.1 answered every connection with a 500 here (api-spec §11 row 4).
    async with served(echo_path_opt_in, keepalive_timeout=None) as (_, port):
        for path in ("/a", "/b"):
            async with connected(port) as conn:
                conn.send(request(path) + request("/again"))
                reply = await conn.response()
                rest, elapsed = await eof_after(conn)
            assert reply.status_line == "HTTP/1.1 200 OK" and reply.body == path.encode()
            assert rest == b"" and elapsed < 0.5


@pytest.mark.parametrize("keepalive_timeout", [None, 0])
async def test_server_without_keep_alive_says_connection_close_so_http_client_can_reconnect(
    keepalive_timeout,
):
    # RFC 9112 §9.6: a server that does not keep connections MUST send
    # "close" in every final response.  http.client reuses a connection whose
    # HTTP/1.1 response did not say close, and then fails.
    async def script(proto, message, payload):
        await answer(proto, message.path.encode())

    async with served(script, keepalive_timeout=keepalive_timeout) as (_, port):

        def client():
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            try:
                out = []
                for path in ("/1", "/2"):
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    out.append((resp.getheader("Connection"), resp.read()))
                return out
            finally:
                conn.close()

        replies = await in_thread(client)
    assert replies == [("close", b"/1"), ("close", b"/2")]


async def test_slow_request_is_closed_quickly_and_silently(caplog):
    caplog.set_level(logging.DEBUG, logger="llserver")
    handled = []

    async def script(proto, message, payload):
        handled.append(message)

    async with served(script, slow_request_timeout=0.01, keepalive_timeout=0) as (_, port):
        async with connected(port) as conn:
            conn.send(b"GET / HTTP/1.0\r\nHost: example.com\r\n")
            rest, elapsed = await eof_after(conn)
    assert rest == b"" and elapsed < 0.5
    assert handled == []
    assert records(caplog, "llserver.server", logging.WARNING) == []


async def test_deprecated_timeout_zero_still_serves_and_the_default_handler_then_closes():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with running_server(lambda: ServerHttpProtocol(timeout=0)) as (_, port):
            data, closed = await exchange(port, request("/x"))
    assert data.startswith(b"HTTP/1.1 404 Not Found\r\n") and closed
    assert [str(w.message) for w in caught if w.category is DeprecationWarning] == [
        "timeout is deprecated, use slow_request_timeout instead"
    ]


@pytest.mark.parametrize(
    ("kwargs", "expected"), [({}, 75), ({"keepalive_timeout": 10}, 10), ({"keep_alive": 10}, 10)]
)
async def test_keepalive_timeout_property_and_its_deprecated_spelling(kwargs, expected):
    seen = {}

    async def script(proto, message, payload):
        seen["value"] = proto.keepalive_timeout
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            seen["old"] = proto.keep_alive_timeout
        seen["warnings"] = [(w.category, str(w.message), w.filename) for w in caught]
        await answer(proto, b"ok")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        async with served(script, **kwargs) as (_, port):
            await exchange(port, request(extra="Connection: close\r\n"))
    assert seen["value"] == expected and seen["old"] == expected
    assert seen["warnings"] == [
        (DeprecationWarning, "Use keepalive_timeout property instead", __file__)
    ]


async def test_deprecated_constructor_aliases_warn_once_each_and_take_effect(caplog):
    caplog.set_level(logging.DEBUG)
    custom = logging.getLogger("tests.checklist.custom")
    seen = {}

    class Boom(ServerHttpProtocol):
        async def handle_request(self, message, payload):
            sock = self.transport.get_extra_info("socket")
            seen["so_keepalive"] = sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
            raise ValueError("boom")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        factory = lambda: Boom(log=custom, keep_alive_on=False, timeout=0.01, keepalive_timeout=0)  # noqa: E731
        async with running_server(factory) as (_, port):
            data, _ = await exchange(port, GET)
            async with connected(port) as conn:  # timeout= became the slow-request limit
                conn.send(b"GET / HTTP/1.1\r\n")
                rest, elapsed = await eof_after(conn)
    deprecations = [w for w in caught if w.category is DeprecationWarning]
    assert sorted(str(w.message) for w in deprecations) == sorted(
        [
            "log is deprecated, use logger instead",
            "keep_alive_on is deprecated, use tcp_keepalive instead",
            "timeout is deprecated, use slow_request_timeout instead",
        ]
        * 2  # two connections
    )
    assert {w.filename for w in deprecations} == {__file__}
    assert data.startswith(b"HTTP/1.1 500")
    assert seen["so_keepalive"] == 0
    assert [r.getMessage() for r in records(caplog, "tests.checklist.custom", logging.ERROR)] == [
        "Error handling request"
    ]
    assert records(caplog, "llserver.server", logging.ERROR) == []
    assert rest == b"" and elapsed < 0.5


@pytest.mark.parametrize("opt_in", [True, None])
async def test_request_connection_close_wins_over_opt_in_and_closes_at_once(opt_in):
    async def script(proto, message, payload):
        await answer(proto, b"ok", opt_in=opt_in)

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request(extra="Connection: close\r\n") + GET)
            reply = await conn.response()
            rest, elapsed = await eof_after(conn)
    assert reply.get("Connection") == "close"
    assert rest == b"" and elapsed < 0.3


@pytest.mark.parametrize("how", ["add_header", "close=True", "force_close"])
async def test_response_that_says_close_closes_despite_opt_in(how):
    # Decision: never kept after Connection: close was sent.
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200, close=how == "close=True")
        if how == "add_header":
            resp.add_header("Connection", "close")
        elif how == "force_close":
            resp.force_close()
        resp.add_header("Content-Length", "2")
        resp.send_headers()
        resp.write(b"ok")
        await resp.write_eof()
        proto.keep_alive(True)

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(GET + GET)
            reply = await conn.response()
            rest, elapsed = await eof_after(conn)
    assert reply.get("Connection") == "close"
    assert rest == b"" and elapsed < 0.3


async def test_explicit_keep_alive_false_closes_a_response_that_could_be_kept():
    async def script(proto, message, payload):
        await answer(proto, b"ok", opt_in=False)

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(GET + GET)
            reply = await conn.response()
            rest, elapsed = await eof_after(conn)
    assert reply.body == b"ok"
    assert rest == b"" and elapsed < 0.3


async def test_http10_request_without_keep_alive_closes_even_after_opt_in():
    async def script(proto, message, payload):
        await answer(proto, b"ok", version=message.version, opt_in=True)

    async with served(script) as (_, port):
        data, closed = await exchange(port, request(version="1.0") * 2)
    assert data.count(b"HTTP/1.0 200 OK") == 1 and closed


async def test_http10_response_without_opt_in_closes_and_drops_pipelined_requests():
    handled = []

    async def script(proto, message, payload):
        handled.append(message.path)
        await answer(proto, b"ok", version=message.version)

    async with served(script) as (_, port):
        data, closed = await exchange(port, request("/1", version="1.0") + request("/2", version="1.0"))
    assert data.startswith(b"HTTP/1.0 200 OK\r\n") and data.endswith(b"\r\n\r\nok")
    assert data.count(b"HTTP/1.0") == 1 and closed
    assert handled == ["/1"]


async def test_http10_keep_alive_request_answered_by_a_default_http11_response_is_told_keep_alive():
    # The connection stays open (automatic keep-alive), so the HTTP/1.0
    # client must be told: it has no other way to know (RFC 2068 §19.7.1,
    # api-spec §12 decision 3, ApacheBench -k waits for close otherwise).
    async def script(proto, message, payload):
        await answer(proto, b"ok")

    req = request(version="1.0", extra="Connection: keep-alive\r\n")
    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(req)
            reply = await conn.response()
            conn.send(req)
            second = await conn.response()
    assert second.body == b"ok"  # the connection did stay
    assert reply.get("Connection") == "keep-alive"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [({}, 1), ({"tcp_keepalive": False}, 0), ({"keep_alive_on": False}, 0)],
    ids=["default", "tcp_keepalive=False", "keep_alive_on=False"],
)
@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_accepted_socket_options(kwargs, expected, tls, request):
    seen = {}

    class Opts(ServerHttpProtocol):
        async def handle_request(self, message, payload):
            sock = self.transport.get_extra_info("socket")
            seen["keepalive"] = sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
            seen["nodelay"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            await answer(self, b"ok")

    server_ctx = client_ctx = None
    if tls:
        cert, key = request.getfixturevalue("certificate")
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(cert, key)
        client_ctx = ssl.create_default_context(cafile=cert)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        async with running_server(lambda: Opts(**kwargs), ssl_context=server_ctx) as (_, port):
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(HOST, port, ssl=client_ctx), 5
            )
            writer.write(CLOSE_GET)
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
    assert data.endswith(b"\r\n\r\nok")
    assert seen["keepalive"] == expected
    assert seen["nodelay"] != 0


# ============================================================ H. errors


class Raising(ServerHttpProtocol):
    """Raises whatever ``exc`` the factory passed."""

    def __init__(self, exc: BaseException, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exc = exc

    async def handle_request(self, message, payload):
        raise self.exc


async def test_handler_exception_gives_the_500_page_and_logs_error_handling_request(caplog):
    caplog.set_level(logging.DEBUG, logger="llserver")
    async with running_server(lambda: Raising(ValueError("nope"))) as (_, port):
        async with connected(port) as conn:
            conn.send(GET + GET)
            reply = await conn.response()
            rest, _ = await eof_after(conn)
        replies = await in_thread(lambda: _http_client_status(port))
    assert reply.status_line == "HTTP/1.1 500 Internal Server Error"
    assert reply.get("Content-Type") == "text/html; charset=utf-8"
    assert reply.get("Connection") == "close"
    assert int(reply.get("Content-Length")) == len(reply.body) == 170
    assert b"<title>500 Internal Server Error</title>" in reply.body
    assert b"Server got itself in trouble" in reply.body
    assert rest == b""  # closed, the pipelined request dropped
    assert replies == (500, "Internal Server Error")
    errors_logged = records(caplog, "llserver.server", logging.ERROR)
    assert [r.getMessage() for r in errors_logged] == ["Error handling request"] * 2
    assert all(r.exc_info and r.exc_info[0] is ValueError for r in errors_logged)


def _http_client_status(port: int) -> Tuple[int, str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.reason
    finally:
        conn.close()


@pytest.mark.parametrize("debug", [True, False])
async def test_error_page_traceback_only_with_debug_and_always_escaped(debug):
    exc = RuntimeError("<b>что-то пошло не так</b>")
    async with running_server(lambda: Raising(exc, debug=debug)) as (_, port):
        data, closed = await exchange(port, GET)
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 500 Internal Server Error\r\n") and closed
    assert b"<b>" not in body
    if debug:
        assert b"<h2>Traceback:</h2>" in body
        assert b"Traceback (most recent call last):" in body
        assert "&lt;b&gt;что-то пошло не так&lt;/b&gt;".encode() in body
    else:
        assert b"Traceback" not in body and "что".encode() not in body
        assert len(body) == 170


async def test_http_processing_error_page_escapes_its_message_and_is_not_logged_as_500(caplog):
    caplog.set_level(logging.DEBUG, logger="llserver")
    exc = errors.HttpProcessingError(code=403, message="<i>Nope</i>", headers=[("X-Why", "because")])
    async with running_server(lambda: Raising(exc)) as (_, port):
        data, closed = await exchange(port, GET)
    assert data.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"\r\nX-Why: because\r\n" in data and b"\r\nConnection: close\r\n" in data
    assert b"<title>403 &lt;i&gt;Nope&lt;/i&gt;</title>" in data and b"<i>" not in data
    assert closed
    assert records(caplog, "llserver.server", logging.ERROR) == []


async def test_http_bad_request_raised_by_handler_is_a_400_page():
    async with running_server(lambda: Raising(errors.HttpBadRequest("bad thing"))) as (_, port):
        data, closed = await exchange(port, GET)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"<title>400 bad thing</title>" in data and closed


async def test_handle_error_called_from_a_handler_writes_at_once_and_turns_keep_alive_off():
    seen = {}

    async def script(proto, message, payload):
        written = []
        real_write = proto.writer.write
        proto.writer.write = lambda data: (written.append(bytes(data)), real_write(data))[1]
        proto.keep_alive(True)
        result = proto.handle_error(404, headers=(("X-Server", "asyncio"),))
        seen["sync"] = b"".join(written)
        seen["keepalive"] = proto._keepalive
        await result

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(GET + GET)
            reply = await conn.response()
            rest, elapsed = await eof_after(conn)
    assert seen["sync"].startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"\r\nX-Server: asyncio\r\n" in seen["sync"]
    assert seen["sync"] == reply.head + b"\r\n\r\n" + reply.body
    assert seen["keepalive"] is False
    assert reply.get("Connection") == "close"
    assert rest == b"" and elapsed < 0.5


async def test_handle_error_with_unknown_status_is_500_with_triple_question_mark_and_traceback():
    async def script(proto, message, payload):
        try:
            raise KeyError("inner")
        except KeyError as exc:
            await proto.handle_error(999, exc=exc)

    async with served(script, debug=True) as (_, port):
        data, closed = await exchange(port, GET)
    assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"<title>500 ???</title>" in data
    assert b"Traceback (most recent call last):" in data and b"KeyError" in data
    assert closed


async def test_failing_traceback_formatting_still_writes_a_500_page_and_logs(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG, logger="llserver")
    import traceback  # the server imports it when it renders a debug page

    def broken(*args, **kwargs):
        raise RuntimeError("formatting failed")

    monkeypatch.setattr(traceback, "format_exception", broken)
    monkeypatch.setattr(traceback, "format_exc", broken)
    async with running_server(lambda: Raising(ValueError("x"), debug=True)) as (_, port):
        data, closed = await exchange(port, GET)
    assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n") and closed
    assert b"Server got itself in trouble" in data and b"Traceback" not in data
    assert [r.getMessage() for r in records(caplog, "llserver.server", logging.ERROR)] == [
        "Error handling request"
    ]


async def test_handle_error_after_the_connection_is_lost_neither_raises_nor_writes():
    seen = {}
    entered = asyncio.Event()

    async def script(proto, message, payload):
        written = []
        proto.writer.write = written.append
        entered.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            proto.keep_alive(True)
            seen["result"] = proto.handle_error(300)
            seen["keepalive"] = proto._keepalive
            seen["written"] = written
            raise

    async with served(script) as (_, port):
        conn = await Conn.open(port)
        conn.send(GET)
        await asyncio.wait_for(entered.wait(), 3)
        reset(conn)
        for _ in range(100):
            if "result" in seen:
                break
            await asyncio.sleep(0.01)
    assert seen["result"] == () and seen["keepalive"] is False and seen["written"] == []


async def test_exception_after_part_of_a_length_body_truncates_closes_and_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="llserver")

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_header("Content-Length", "100")
        resp.send_headers()
        resp.write(b"partial")
        await asyncio.sleep(0)
        raise ValueError("late")

    async with served(script) as (_, port):
        data, closed = await exchange(port, GET + GET)
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"partial"
    assert data.count(b"HTTP/1.1") == 1 and closed
    logged = records(caplog, "llserver.server", logging.ERROR)
    assert [r.getMessage() for r in logged] == ["Error handling request"]
    assert logged[0].exc_info[0] is ValueError


@pytest.mark.parametrize("how", ["raise TimeoutError", "wait_for expired"])
async def test_stray_timeout_error_from_the_handler_is_a_500_not_a_silent_close(how):
    async def script(proto, message, payload):
        if how == "raise TimeoutError":
            raise TimeoutError("stray")
        await asyncio.wait_for(asyncio.sleep(5), 0.01)

    async with served(script) as (_, port):
        data, closed = await exchange(port, GET)
    assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n") and closed


@pytest.mark.parametrize("version", ["1.1", "1.0"])
async def test_default_handle_request_is_a_404_with_one_access_line(version, caplog):
    caplog.set_level(logging.INFO, logger="llserver.access")
    async with running_server(ServerHttpProtocol) as (_, port):
        async with connected(port) as conn:
            conn.send(request("/x", version=version) + request("/y", version=version))
            reply = await conn.response()
            rest, _ = await eof_after(conn)
    assert reply.status_line == f"HTTP/{version} 404 Not Found"
    assert reply.names[:2] == ["Content-Type", "Content-Length"]
    assert reply.get("Content-Type") == "text/plain" and reply.get("Content-Length") == "15"
    assert reply.get("Connection") == ("close" if version == "1.1" else None)
    assert reply.get("Date") and reply.get("Server")
    assert reply.body == b"Page Not Found!" and rest == b""
    lines = [r.getMessage() for r in records(caplog, "llserver.access")]
    assert len(lines) == 1 and f'"GET /x HTTP/{version}" 404 15' in lines[0]


async def test_default_handle_request_writes_its_bytes_before_being_awaited():
    seen = {}

    class Sync(ServerHttpProtocol):
        def handle_request(self, message, payload):
            written = []
            real_write = self.writer.write
            self.writer.write = lambda data: (written.append(bytes(data)), real_write(data))[1]
            result = super().handle_request(message, payload)
            seen["written"] = b"".join(written)
            return result

    async with running_server(Sync) as (_, port):
        data, _ = await exchange(port, GET)
    assert seen["written"].startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert seen["written"].endswith(b"\r\n\r\nPage Not Found!")
    assert data == seen["written"]


# ==================================================== I. disconnects, shutdown


async def test_client_reset_cancels_a_sleeping_handler_silently_and_the_server_goes_on(caplog):
    caplog.set_level(logging.DEBUG, logger="llserver")
    seen = {}
    entered = asyncio.Event()
    done = asyncio.Event()

    async def script(proto, message, payload):
        if message.path == "/next":
            await answer(proto, b"next")
            return
        written = []
        proto.writer.write = written.append
        seen["written"] = written
        entered.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise
        finally:
            done.set()

    async with served(script, debug=True) as (_, port):
        conn = await Conn.open(port)
        conn.send(GET)
        await asyncio.wait_for(entered.wait(), 3)
        reset(conn)
        await asyncio.wait_for(done.wait(), 1)
        async with connected(port) as other:
            other.send(request("/next"))
            assert (await other.response()).body == b"next"
    assert seen["cancelled"] and seen["written"] == []
    messages = [r.getMessage() for r in records(caplog, "llserver.server")]
    assert "Request handler cancelled." in messages
    assert records(caplog, "llserver.server", logging.WARNING) == []


@pytest.mark.parametrize("ending", ["half-close", "reset"])
async def test_client_leaving_mid_body_makes_the_handlers_read_fail_without_a_500(ending, caplog):
    caplog.set_level(logging.DEBUG, logger="llserver")
    seen = {}
    done = asyncio.Event()

    async def script(proto, message, payload):
        if message.path == "/next":
            await answer(proto, b"next")
            return
        try:
            seen["body"] = await payload.read()
        except BaseException as exc:
            seen["exc"] = exc
            raise
        finally:
            done.set()

    async with served(script) as (_, port):
        conn = await Conn.open(port)
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        await asyncio.sleep(0.05)
        if ending == "reset":
            reset(conn)
            data = b""
        else:
            conn.writer.write_eof()
            data, _ = await eof_after(conn)
            await conn.close()
        await asyncio.wait_for(done.wait(), 2)
        async with connected(port) as other:
            other.send(request("/next"))
            assert (await other.response()).body == b"next"
    assert "body" not in seen
    assert isinstance(seen["exc"], (errors.ClientDisconnectedError, asyncio.CancelledError))
    assert data == b""
    assert records(caplog, "llserver.server", logging.WARNING) == []


@pytest.mark.parametrize("ending", ["half-close", "reset"])
async def test_client_that_sends_nothing_and_leaves_is_closed_quietly(ending, caplog):
    caplog.set_level(logging.DEBUG, logger="llserver")
    handled = []

    async def script(proto, message, payload):
        handled.append(message)

    make, protocols = tracking(lambda: Scripted(script, debug=True))
    async with running_server(make) as (_, port):
        conn = await Conn.open(port)
        await asyncio.sleep(0.05)
        if ending == "reset":
            reset(conn)
            data = b""
        else:
            conn.writer.write_eof()
            data, elapsed = await eof_after(conn)
            assert elapsed < 0.5
            await conn.close()
        for _ in range(100):
            if protocols and protocols[0].transport is None:
                break
            await asyncio.sleep(0.01)
    assert data == b"" and handled == []
    assert protocols[0].transport is None and protocols[0]._request_handler is None
    assert records(caplog, "llserver", logging.WARNING) == []


async def test_shutdown_of_an_idle_keep_alive_connection_closes_it_at_once():
    make, protocols = tracking(lambda: Scripted(echo_path_opt_in))
    loop = asyncio.get_running_loop()
    async with running_server(make) as (_, port):
        async with connected(port) as conn:
            conn.send(GET)
            await conn.response()
            proto = protocols[0]
            task = proto._request_handler
            reading = asyncio.ensure_future(conn.reader.read())
            await asyncio.sleep(0.05)
            start = loop.time()
            await asyncio.wait_for(proto.shutdown(), 1)
            rest = await asyncio.wait_for(reading, 1)
            elapsed = loop.time() - start
            await asyncio.wait_for(proto.shutdown(), 1)  # a second call is a no-op
    assert rest == b"" and elapsed < 0.05
    assert task is not None and task.done() and not task.cancelled()


@pytest.mark.parametrize(("work", "cancelled"), [(0.2, False), (5.0, True)])
async def test_shutdown_waits_for_a_running_handler_or_cancels_it_at_the_timeout(work, cancelled):
    seen = {}
    entered = asyncio.Event()

    async def script(proto, message, payload):
        entered.set()
        try:
            await asyncio.sleep(work)
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise
        await answer(proto, b"done")

    make, protocols = tracking(lambda: Scripted(script))
    loop = asyncio.get_running_loop()
    async with running_server(make) as (_, port):
        async with connected(port) as conn:
            conn.send(GET)
            await asyncio.wait_for(entered.wait(), 3)
            start = loop.time()
            await asyncio.wait_for(protocols[0].shutdown(timeout=0.5), 2)
            elapsed = loop.time() - start
            data, closed = await conn.tail(total=1)
    assert closed
    if cancelled:
        assert seen.get("cancelled") and data == b""
        assert 0.4 <= elapsed <= 0.8
    else:
        assert "cancelled" not in seen and data.endswith(b"\r\n\r\ndone")
        assert b"\r\nConnection: close\r\n" in data  # the last response says so
        assert 0.15 <= elapsed <= 0.45


async def test_protocol_built_directly_survives_connection_made_and_lost_outside_a_loop():
    def scenario():
        asyncio.set_event_loop(None)
        loop = asyncio.new_event_loop()
        try:
            transport = mock.Mock()
            transport.get_extra_info.return_value = None
            proto = ServerHttpProtocol(loop=loop, access_log=None)
            proto.connection_made(transport)
            task = proto._request_handler
            connected_then = proto.is_connected()
            proto.connection_lost(None)
            never = ServerHttpProtocol(loop=loop, access_log=None)
            never.connection_lost(None)
            loop.run_until_complete(asyncio.wait([task], timeout=1))
            return task, connected_then, proto
        finally:
            loop.close()

    task, connected_then, proto = await in_thread(scenario)
    assert connected_then
    assert task.done()
    assert task.cancelled() or task.exception() is None
    assert proto.transport is None and proto.writer is None


# ============================================================= J. logging


ACCESS_LINE = re.compile(
    r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
    r'"GET /x HTTP/1\.1" 404 15 "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$'
)


async def test_default_access_line_for_a_real_request(caplog):
    caplog.set_level(logging.INFO, logger="llserver.access")
    async with running_server(ServerHttpProtocol) as (_, port):
        await exchange(port, request("/x"))
        await exchange(port, request("/x", extra="Referer: http://ref.example/\r\nUser-Agent: probe/1\r\n"))
    lines = [r.getMessage() for r in records(caplog, "llserver.access")]
    assert len(lines) == 2
    plain, rich = (ACCESS_LINE.match(line) for line in lines)
    assert plain and (plain["referer"], plain["agent"]) == ("-", "-")
    assert rich and (rich["referer"], rich["agent"]) == ("http://ref.example/", "probe/1")
    assert all(r.levelno == logging.INFO for r in records(caplog, "llserver.access"))


async def test_default_access_line_from_curl_carries_its_referer_and_agent(caplog):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    caplog.set_level(logging.INFO, logger="llserver.access")
    async with running_server(ServerHttpProtocol) as (_, port):
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "--max-time", "5", "-e", "http://from.example/", "-A", "curl-probe/2",
            f"http://{HOST}:{port}/x", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert out == b"Page Not Found!"
    (line,) = [r.getMessage() for r in records(caplog, "llserver.access")]
    assert line.endswith('"GET /x HTTP/1.1" 404 15 "http://from.example/" "curl-probe/2"')


async def test_access_log_none_emits_no_access_records(caplog):
    caplog.set_level(logging.DEBUG, logger="llserver.access")
    async with running_server(lambda: ServerHttpProtocol(access_log=None)) as (_, port):
        data, _ = await exchange(port, request("/x"))
        await exchange(port, b"!@#$ / HTTP/1.1\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 404")
    assert records(caplog, "llserver.access") == []


async def test_every_simple_atom_for_a_real_request_with_frozen_clock(monkeypatch, caplog):
    # os.getpid is not frozen: PyPy's pure-Python asyncio compares it with
    # the pid that started the running loop.
    monkeypatch.setattr(llserver.log, "clock", lambda: float(JAN_1_1843))
    pid = os.getpid()
    caplog.set_level(logging.INFO, logger="llserver.access")
    fmt = "%a %t %P %l %u %r %s %b %O %T %Tf %D"
    async with running_server(lambda: ServerHttpProtocol(access_log_format=fmt)) as (_, port):
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(HOST, port, local_addr=("127.0.0.2", 0)), 5
            )
            peer = "127.0.0.2"
        except OSError:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
            peer = "127.0.0.1"
        writer.write(request("/path"))
        wire = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    (record,) = records(caplog, "llserver.access")
    line = record.getMessage()
    expected_prefix = f"{peer} [01/Jan/1843:00:00:00 +0000] <{pid}> - - GET /path HTTP/1.1 404 15 {len(wire)} 0 "
    assert line.startswith(expected_prefix), line
    frac, micro = line[len(expected_prefix):].split()
    assert re.fullmatch(r"0\.\d{6}", frac) and abs(float(frac) * 1e6 - int(micro)) <= 1
    assert record.remote_address == peer
    assert record.request_time == "[01/Jan/1843:00:00:00 +0000]"
    assert record.process_id == f"<{pid}>"
    assert record.first_request_line == "GET /path HTTP/1.1"
    assert (record.response_status, record.response_size, record.bytes_sent) == (404, 15, len(wire))
    assert record.request_time_seconds == 0
    assert record.request_time_frac == frac and record.request_time_micro == int(micro)


async def test_header_response_header_and_environ_atoms_for_a_real_request(monkeypatch, caplog):
    monkeypatch.setenv("SPAM", "EGGS")
    caplog.set_level(logging.INFO, logger="llserver.access")
    fmt = "%{User-Agent}i %{Content-Length}o %{SPAM}e %{None}i"
    async with running_server(lambda: ServerHttpProtocol(access_log_format=fmt)) as (_, port):
        await exchange(port, request(extra="User-Agent: Mock/1.0\r\n"))
    (record,) = records(caplog, "llserver.access")
    assert record.getMessage() == "Mock/1.0 15 EGGS -"
    assert record.request_header == {"User-Agent": "Mock/1.0", "None": "-"}
    assert record.response_header == {"Content-Length": "15"}


async def test_malformed_request_is_logged_with_dash_request_line_and_no_headers(caplog):
    caplog.set_level(logging.INFO, logger="llserver.access")
    fmt = "%a|%r|%s|%{Host}i"
    async with running_server(lambda: ServerHttpProtocol(access_log_format=fmt)) as (_, port):
        data, _ = await exchange(port, b"GET / HT/asd\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400")
    assert [r.getMessage() for r in records(caplog, "llserver.access")] == [
        "127.0.0.1|-|400|(no headers)"
    ]


async def test_access_line_logged_after_the_transport_is_gone_has_dash_address(caplog):
    caplog.set_level(logging.INFO, logger="llserver.access")
    entered = asyncio.Event()
    done = asyncio.Event()

    async def script(proto, message, payload):
        entered.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            proto.log_access(message, None, None, 0.0)
            done.set()
            raise

    fmt = "%a|%r"
    async with served(script, access_log_format=fmt) as (_, port):
        conn = await Conn.open(port)
        conn.send(request("/gone"))
        await asyncio.wait_for(entered.wait(), 3)
        reset(conn)
        await asyncio.wait_for(done.wait(), 2)
    assert [r.getMessage() for r in records(caplog, "llserver.access")] == ["-|GET /gone HTTP/1.1"]


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
async def test_unix_socket_peer_is_logged_as_empty_address(caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="llserver.access")
    path = str(tmp_path / "s")
    if len(path) > 100:
        path = tempfile.mktemp(prefix="lls", dir="/tmp")
    server = await asyncio.get_running_loop().create_unix_server(
        lambda: ServerHttpProtocol(access_log_format="[%a] %r %s"), path
    )
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), 5)
        writer.write(request("/u"))
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)
    assert data.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert [r.getMessage() for r in records(caplog, "llserver.access")] == ["[] GET /u HTTP/1.1 404"]


async def test_access_log_formatting_error_is_logged_not_raised(caplog):
    caplog.set_level(logging.INFO, logger="llserver.access")

    async def script(proto, message, payload):
        proto.log_access(message, None, object(), 0.0)  # no .status: the format fails
        await answer(proto, b"still served")

    async with served(script, access_log_format="%s %{X}o") as (_, port):
        data, _ = await exchange(port, request(extra="Connection: close\r\n"))
    assert data.endswith(b"\r\n\r\nstill served")
    (record,) = records(caplog, "llserver.access")
    assert record.getMessage() == "Error in logging" and record.levelno == logging.ERROR
    assert record.exc_info is not None


@pytest.mark.parametrize("debug", [True, False])
async def test_log_debug_only_with_debug_and_log_exception_always(debug, caplog):
    caplog.set_level(logging.DEBUG, logger="llserver.server")

    async def script(proto, message, payload):
        proto.log_debug("debug note %s", 1)
        try:
            raise KeyError("k")
        except KeyError:
            proto.log_exception("handled %s", 2)
        await answer(proto, b"ok")

    async with served(script, debug=debug) as (_, port):
        await exchange(port, request(extra="Connection: close\r\n"))
    messages = [(r.levelno, r.getMessage()) for r in records(caplog, "llserver.server")]
    assert ((logging.DEBUG, "debug note 1") in messages) is debug
    assert (logging.ERROR, "handled 2") in messages
    (exc_record,) = [r for r in records(caplog, "llserver.server") if r.getMessage() == "handled 2"]
    assert exc_record.exc_info[0] is KeyError


async def test_repeated_reads_at_eof_warn_on_the_internal_logger(caplog):
    caplog.set_level(logging.WARNING, logger="llserver.internal")

    async def script(proto, message, payload):
        for _ in range(8):
            await payload.read(10)
        await answer(proto, b"ok")

    async with served(script) as (_, port):
        await exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
    (record,) = records(caplog, "llserver.internal")
    assert record.getMessage().startswith("Multiple access to StreamReader in eof state")

