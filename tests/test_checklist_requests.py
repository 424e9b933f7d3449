"""Acceptance checklist sections A-C through real sockets and real clients:
the design document's example end to end (A), the request message exactly
as a handler sees it (B), and malformed requests (C): status, ``Connection:
close``, the server closing, and a new connection still served.

The handlers here record what they receive in a list owned by the test, so
the assertions look at the very objects a handler got, after a real client
sent real bytes over a loopback socket.

Decisions that override the 1.1 behaviour stated in the checklist (api-spec
§12), tested as llserver's behaviour: automatic keep-alive when the handler
never calls ``keep_alive()`` (item 3), header-size limits answer 431 (items
27, 28), an HTTP/1.1 request without Host gets 400 (item 10), lower-case
methods get 400 (item 36), obs-fold gets 400 (item 35).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import re
import shutil
import socket
import ssl
import sys
import warnings
from typing import Any, List, Tuple
from urllib.parse import parse_qsl, urlparse

import pytest
from conftest import HOST, exchange, running_server

import llserver
import llserver.server
from llserver import CIMultiDict, HttpVersion10, HttpVersion11, MultiDict, RawRequestMessage

TIMEOUT = 5.0
GET_CLOSE = b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
# No header section at all, so it fits any configured header limit.
GET_10 = b"GET /next HTTP/1.0\r\n\r\n"


# ------------------------------------------------------------------ handlers


class DocHandler(llserver.server.ServerHttpProtocol):
    """The design document's handler, imports rewritten (checklist item 1)."""

    async def handle_request(self, message, payload):
        response = llserver.Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Type", "text/html")
        response.add_header("Content-Length", "18")
        response.send_headers()
        response.write(b"<h1>It Works!</h1>")
        await response.write_eof()


async def send_json(writer, message, data: Any) -> None:
    body = json.dumps(data).encode()
    response = llserver.Response(writer, 200, http_version=message.version)
    response.add_header("Content-Type", "application/json")
    response.add_header("Content-Length", str(len(body)))
    response.send_headers()
    response.write(body)
    await response.write_eof()


class Recorder(llserver.server.ServerHttpProtocol):
    """Appends ``(message, payload)`` to ``seen`` and answers with the
    message as JSON.  It never reads the payload."""

    def __init__(self, seen: list, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen = seen

    async def handle_request(self, message, payload):
        self.seen.append((message, payload))
        await send_json(
            self.writer,
            message,
            {
                "method": message.method,
                "path": message.path,
                "version": list(message.version),
                "headers": [list(kv) for kv in message.headers.items()],
                "should_close": message.should_close,
                "compression": message.compression,
            },
        )


class BodyReader(llserver.server.ServerHttpProtocol):
    """Reads the whole body without catching anything, then answers 200:
    a read error becomes the server's error page."""

    def __init__(self, seen: list, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen = seen

    async def handle_request(self, message, payload):
        self.seen.append((message, payload))
        body = await payload.read()
        await send_json(self.writer, message, {"body": body.decode("latin-1")})


# ------------------------------------------------------------------- helpers


async def read_responses(port: int, data: bytes, count: int = 1) -> List[Tuple[bytes, bytes]]:
    """Send ``data`` and read ``count`` Content-Length framed responses."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), TIMEOUT)
    try:
        writer.write(data)
        out = []
        for _ in range(count):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            match = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
            assert match is not None, head
            body = await asyncio.wait_for(reader.readexactly(int(match.group(1))), TIMEOUT)
            out.append((head, body))
        return out
    finally:
        writer.close()


async def record_one(raw: bytes, **kwargs: Any) -> Tuple[Any, Any]:
    """Serve one raw request with a Recorder; return (message, payload)."""
    seen: list = []
    async with running_server(lambda: Recorder(seen, **kwargs)) as (_, port):
        [(head, _)] = await read_responses(port, raw)
    assert head.startswith(b"HTTP/1."), head
    assert len(seen) == 1
    return seen[0]


def head_and_body(data: bytes) -> Tuple[bytes, bytes]:
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, data[:200]
    return head, body


async def assert_new_connection_served(port: int) -> None:
    data, _ = await exchange(port, GET_10)
    assert data.startswith(b"HTTP/1.0 200 OK\r\n"), data[:200]


def no_error_records(caplog: Any) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# ======================================================= A. design document


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.filterwarnings("ignore:keep_alive is deprecated:DeprecationWarning")
async def test_design_doc_page_with_curl_has_user_headers_then_date_and_server():
    async with running_server(lambda: DocHandler(debug=True, keep_alive=75)) as (_, port):
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "-i", "--max-time", "5", f"http://{HOST}:{port}/",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 10)

    assert proc.returncode == 0, err
    head, body = head_and_body(out)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    names = [line.split(b":", 1)[0] for line in lines[1:]]
    assert names == [b"Content-Type", b"Content-Length", b"Date", b"Server"]
    assert b"Content-Type: text/html" in lines and b"Content-Length: 18" in lines
    date = [line for line in lines if line.startswith(b"Date: ")][0]
    assert re.fullmatch(rb"Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                        rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                        rb"\d\d:\d\d:\d\d GMT", date)
    server = [line for line in lines if line.startswith(b"Server: ")][0]
    assert len(server) > len(b"Server: ")
    assert body == b"<h1>It Works!</h1>"


async def test_design_doc_protocol_warns_once_per_connection_at_the_factory_line():
    factory = lambda: DocHandler(debug=True, keep_alive=75)  # noqa: E731
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with running_server(factory) as (_, port):
            first, _ = await exchange(port, GET_CLOSE)
            second, _ = await exchange(port, GET_CLOSE)

    assert first.startswith(b"HTTP/1.1 200 OK") and second.startswith(b"HTTP/1.1 200 OK")
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert [str(w.message) for w in deprecations] == [
        "keep_alive is deprecated, use keepalive_timeout instead"
    ] * 2
    assert {(w.filename, w.lineno) for w in deprecations} == {
        (__file__, factory.__code__.co_firstlineno)
    }


async def test_design_doc_handler_keeps_connection_with_http_client_until_asked_to_close():
    # Decision §12.2 (overrides item 3): no keep_alive() call, a known
    # length and a request that allows it -> automatic keep-alive.
    async with running_server(DocHandler) as (host, port):

        def client():
            conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
            conn.request("GET", "/one")
            first = conn.getresponse()
            first_body, first_conn = first.read(), first.getheader("Connection")
            sock = conn.sock
            spy = sock.dup()  # http.client closes its own socket on "close"
            conn.request("GET", "/two", headers={"Connection": "close"})
            second = conn.getresponse()
            second_body, second_conn = second.read(), second.getheader("Connection")
            reused = conn.sock is sock or conn.sock is None
            spy.settimeout(TIMEOUT)
            after = spy.recv(10)
            spy.close()
            conn.close()
            return first_body, first_conn, second_body, second_conn, reused, after

        result = await asyncio.get_running_loop().run_in_executor(None, client)

    first_body, first_conn, second_body, second_conn, reused, after = result
    assert first_body == second_body == b"<h1>It Works!</h1>"
    assert first_conn is None
    assert second_conn == "close"
    assert reused
    assert after == b""  # the server closed after the Connection: close request


async def test_get_params_parsed_from_message_path_with_aiohttp_client():
    aiohttp = pytest.importorskip("aiohttp")
    yarl = pytest.importorskip("yarl")

    class GetParams(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            params = MultiDict(parse_qsl(urlparse(message.path).query))
            await send_json(
                self.writer, message,
                {"path": message.path, "x": params.getall("x"), "y": params.getall("y")},
            )

    async with running_server(GetParams) as (host, port):
        async with aiohttp.ClientSession() as session:
            url = yarl.URL(f"http://{host}:{port}/p?x=1&x=2&y=3", encoded=True)
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as resp:
                status, info = resp.status, await resp.json()

    assert status == 200
    assert info == {"path": "/p?x=1&x=2&y=3", "x": ["1", "2"], "y": ["3"]}


async def test_post_form_body_is_bytes_and_parses_with_http_client():
    class PostParams(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            data = await payload.read()
            params = MultiDict(parse_qsl(data))
            await send_json(
                self.writer, message,
                {
                    "type": type(data).__name__,
                    "data": data.decode(),
                    "a": [v.decode() for v in params.getall(b"a")],
                },
            )

    async with running_server(PostParams) as (host, port):

        def client():
            conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
            conn.request("POST", "/f", body=b"a=1&b=2&a=3",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            resp = conn.getresponse()
            result = resp.status, json.loads(resp.read())
            conn.close()
            return result

        status, info = await asyncio.get_running_loop().run_in_executor(None, client)

    assert status == 200
    assert info == {"type": "bytes", "data": "a=1&b=2&a=3", "a": ["1", "3"]}


async def test_https_unverified_client_gets_page_and_tls_socket_has_keepalive_and_nodelay(
    server_ssl_context, caplog
):
    seen = {}

    class TlsDoc(DocHandler):
        async def handle_request(self, message, payload):
            sock = self.transport.get_extra_info("socket")
            seen["keepalive"] = sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
            seen["nodelay"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            seen["tls"] = self.transport.get_extra_info("sslcontext") is not None
            await super().handle_request(message, payload)

    async with running_server(lambda: TlsDoc(debug=True), ssl_context=server_ssl_context) as (
        host,
        port,
    ):

        def client():
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=ctx)
            conn.request("GET", "/")
            resp = conn.getresponse()
            result = resp.status, resp.read()
            conn.close()
            return result

        status, body = await asyncio.get_running_loop().run_in_executor(None, client)

    assert (status, body) == (200, b"<h1>It Works!</h1>")
    assert seen["tls"] is True
    assert seen["keepalive"] == 1 and seen["nodelay"] != 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


IMPORTS_AFTER_REWRITE = """
from llserver import MultiDict, Response
import llserver.server
import llserver.hdrs
import llserver.errors
from llserver.server import EMPTY_PAYLOAD, ServerHttpProtocol
assert llserver.server.ServerHttpProtocol is ServerHttpProtocol
assert llserver.hdrs.CONTENT_TYPE == "Content-Type"
assert issubclass(llserver.errors.BadStatusLine, llserver.errors.HttpProcessingError)
assert EMPTY_PAYLOAD.at_eof() and MultiDict and Response
print("ok")
"""

ALIAS_ONLY = """
import llserver as aiohttp
print(aiohttp.server.ServerHttpProtocol.__name__)
"""


@pytest.mark.parametrize(
    ("code", "expected"),
    [(IMPORTS_AFTER_REWRITE, b"ok"), (ALIAS_ONLY, b"ServerHttpProtocol")],
    ids=["design-doc-imports", "package-alias"],
)
async def test_design_doc_imports_work_in_a_fresh_interpreter(code, expected, tmp_path):
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(llserver.__file__)))
    env = dict(os.environ, PYTHONPATH=pkg_parent, PYTHONWARNINGS="error")
    # cwd: `python -c` puts it first on sys.path; a checkout's llserver/
    # (without the built extension) must not shadow the one under test.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env=env, cwd=str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)

    assert proc.returncode == 0, err.decode()
    assert out.strip() == expected


# ==================================================== B. the request message


async def test_http10_request_without_headers_is_the_seven_field_tuple():
    message, payload = await record_one(b"GET /path HTTP/1.0\r\n\r\n")

    assert message == ("GET", "/path", (1, 0), CIMultiDict(), [], True, None)
    assert type(message) is RawRequestMessage and isinstance(message, tuple)
    assert message._fields == (
        "method", "path", "version", "headers", "raw_headers", "should_close", "compression",
    )
    assert len(message) == 7
    assert payload is llserver.server.EMPTY_PAYLOAD


async def test_http11_request_without_host_is_400_and_handler_not_called():
    seen: list = []
    async with running_server(lambda: Recorder(seen)) as (_, port):
        data, closed = await exchange(port, b"GET /path HTTP/1.1\r\n\r\n")
        await assert_new_connection_served(port)

    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert closed
    assert [m.path for m, _ in seen] == ["/next"]


async def test_methods_are_upper_case_strings_on_pipelined_requests():
    seen: list = []
    methods = ["GET", "POST", "PUT", "DELETE"]
    raw = b"".join(b"%s /m HTTP/1.1\r\nHost: x\r\n\r\n" % m.encode() for m in methods)
    async with running_server(lambda: Recorder(seen)) as (_, port):
        responses = await read_responses(port, raw, count=4)

    assert all(head.startswith(b"HTTP/1.1 200 OK") for head, _ in responses)
    assert [m.method for m, _ in seen] == methods
    assert all(type(m.method) is str for m, _ in seen)


async def test_version_has_major_and_minor_and_equals_the_constants():
    seen: list = []
    raw = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    async with running_server(lambda: Recorder(seen)) as (_, port):
        await read_responses(port, raw, count=2)

    v11, v10 = seen[0][0].version, seen[1][0].version
    assert (v11.major, v11.minor) == (1, 1) and v11 == HttpVersion11 == (1, 1)
    assert (v10.major, v10.minor) == (1, 0) and v10 == HttpVersion10 == (1, 0)


@pytest.mark.parametrize(
    "target",
    ["//path", "http://example.com/info?q=1", "/p?x=1&x=2&y=3"],
)
async def test_request_target_reaches_handler_verbatim(target):
    message, _ = await record_one(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())

    assert message.path == target


async def test_repeated_headers_kept_in_order_and_looked_up_case_insensitively():
    message, _ = await record_one(
        b"GET / HTTP/1.1\r\nHost: x\r\nSet-Cookie: c1=cookie1\r\nSet-Cookie: c2=cookie2\r\n"
        b"X-Custom: v1\r\nx-custom: v2\r\n\r\n"
    )

    assert message.headers.getall("set-cookie") == ["c1=cookie1", "c2=cookie2"]
    assert message.headers.getall("X-CUSTOM") == ["v1", "v2"]
    assert [(bytes(n), bytes(v)) for n, v in message.raw_headers] == [
        (b"HOST", b"x"),
        (b"SET-COOKIE", b"c1=cookie1"),
        (b"SET-COOKIE", b"c2=cookie2"),
        (b"X-CUSTOM", b"v1"),
        (b"X-CUSTOM", b"v2"),
    ]


async def test_header_names_title_cased_raw_names_upper_case_values_stripped():
    message, _ = await record_one(
        b"GET / HTTP/1.1\r\nhost:    x   \r\nx-custom: v\r\nset-cookie: a=1\r\nX-E:\r\n\r\n"
    )

    assert list(message.headers.items()) == [
        ("Host", "x"), ("X-Custom", "v"), ("Set-Cookie", "a=1"), ("X-E", ""),
    ]
    assert [(bytes(n), bytes(v)) for n, v in message.raw_headers] == [
        (b"HOST", b"x"), (b"X-CUSTOM", b"v"), (b"SET-COOKIE", b"a=1"), (b"X-E", b""),
    ]


async def test_headers_are_a_mutable_cimultidict():
    message, _ = await record_one(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    assert isinstance(message.headers, CIMultiDict)
    message.headers["X-Added"] = "1"
    assert message.headers["x-added"] == "1"


async def test_mutating_one_messages_headers_does_not_leak_into_an_identical_next_request():
    snapshots: list = []

    class Mutator(Recorder):
        async def handle_request(self, message, payload):
            snapshots.append(
                (list(message.headers.items()), [(bytes(n), bytes(v)) for n, v in message.raw_headers])
            )
            message.headers["X-Added"] = "1"
            del message.headers["Host"]
            message.raw_headers.append((b"X-ADDED", b"1"))
            await super().handle_request(message, payload)

    same = b"GET /same HTTP/1.1\r\nHost: x\r\nX-Y: z\r\n\r\n"
    async with running_server(lambda: Mutator([])) as (_, port):
        await read_responses(port, same * 2, count=2)
        await read_responses(port, same, count=1)

    assert snapshots == [([("Host", "x"), ("X-Y", "z")], [(b"HOST", b"x"), (b"X-Y", b"z")])] * 3


async def test_utf8_and_cp1251_header_values_round_trip():
    utf8 = "тест".encode()
    cp1251 = "тест".encode("cp1251")
    message, _ = await record_one(
        b"GET / HTTP/1.1\r\nHost: x\r\nx-test:" + utf8 + b"\r\nX-Legacy: " + cp1251 + b"\r\n\r\n"
    )

    assert message.headers["X-Test"] == "тест"
    assert message.headers["X-Legacy"].encode("utf-8", "surrogateescape") == cp1251
    raw = {bytes(n): bytes(v) for n, v in message.raw_headers}
    assert raw[b"X-TEST"] == utf8 and raw[b"X-LEGACY"] == cp1251


@pytest.mark.parametrize(
    ("version", "connection", "should_close"),
    [
        (b"1.1", None, False),
        (b"1.1", b"close", True),
        (b"1.0", None, True),
        (b"1.0", b"keep-alive", False),
        (b"1.1", b"test", False),
    ],
)
async def test_should_close_follows_version_and_connection_header(version, connection, should_close):
    raw = b"GET / HTTP/" + version + b"\r\nHost: x\r\n"
    if connection is not None:
        raw += b"Connection: " + connection + b"\r\n"
    message, _ = await record_one(raw + b"\r\n")

    assert message.should_close is should_close


@pytest.mark.parametrize(
    ("encoding", "compression"),
    [(b"gzip", "gzip"), (b"deflate", "deflate"), (b"compress", None), (None, None)],
)
async def test_compression_follows_content_encoding(encoding, compression):
    raw = b"GET / HTTP/1.1\r\nHost: x\r\n"
    if encoding is not None:
        raw += b"Content-Encoding: " + encoding + b"\r\n"
    message, _ = await record_one(raw + b"\r\n")

    assert message.compression == compression


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["no-body", "content-length-0", "post-without-length"],
)
async def test_bodyless_requests_get_the_empty_payload_singleton(raw):
    _, payload = await record_one(raw)

    assert payload is llserver.server.EMPTY_PAYLOAD


async def test_connect_request_gets_a_real_payload_stream():
    seen: list = []
    async with running_server(lambda: Recorder(seen)) as (_, port):
        data, _ = await exchange(port, b"CONNECT host:80 HTTP/1.0\r\nContent-Length: 0\r\n\r\n")

    assert data.startswith(b"HTTP/1.0 200 OK\r\n")
    [(message, payload)] = seen
    assert message.method == "CONNECT" and message.path == "host:80"
    assert payload is not llserver.server.EMPTY_PAYLOAD


# ===================================================== C. malformed requests

MANY_SMALL_HEADERS = b"".join(b"X-H%03d: %s\r\n" % (i, b"v" * 91) for i in range(400))
BIG_HEADERS = b"".join(b"X-H%02d: %s\r\n" % (i, b"v" * 1000) for i in range(40))

MALFORMED = [
    # (id, request, status, server kwargs)
    ("20-bad-method", b"!@#$ / HTTP/1.0\r\nHost: example.com\r\n\r\n", 400, {}),
    ("21-junk-line", b"a" * 10000, 400, {}),
    ("22-bad-version", b"GET / HT/asd\r\n\r\n", 400, {}),
    ("23-no-version", b"GET /\r\n\r\n", 400, {}),
    ("25-negative-length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, {}),
    ("26-no-colon", b"GET / HTTP/1.1\r\nHost: x\r\ntest line\r\n\r\n", 400, {}),
    ("26-bad-name", b"GET / HTTP/1.1\r\nHost: x\r\ntest[]: line\r\n\r\n", 400, {}),
    ("27-field-too-long",
     b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431, {}),
    ("27-field-over-custom-limit",
     b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 143 + b"\r\n\r\n", 431,
     {"max_field_size": 100}),
    ("28-400-headers", b"GET / HTTP/1.1\r\nHost: x\r\n" + MANY_SMALL_HEADERS + b"\r\n", 431, {}),
    ("28-head-over-32k", b"GET / HTTP/1.1\r\nHost: x\r\n" + BIG_HEADERS + b"\r\n", 431, {}),
    ("28-head-over-custom-limit",
     b"GET /path HTTP/1.1\r\ntest: line\r\ntest2: data\r\n\r\n", 431, {"max_headers": 20}),
    ("33-length-and-chunked",
     b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", 400, {}),
    ("33-two-lengths",
     b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, {}),
    ("34-space-before-colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, {}),
    ("35-obs-fold-last", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n continued\r\n\r\n", 400, {}),
    ("35-obs-fold-middle",
     b"GET / HTTP/1.1\r\nX-A: a\r\n continued\r\nHost: x\r\n\r\n", 400, {}),
    ("36-lower-case-method", b"get /path HTTP/1.1\r\nHost: x\r\n\r\n", 400, {}),
]


@pytest.mark.parametrize(
    ("request_bytes", "status", "kwargs"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
async def test_malformed_request_is_rejected_with_close_and_server_keeps_serving(
    request_bytes, status, kwargs, caplog
):
    seen: list = []
    async with running_server(lambda: Recorder(seen, **kwargs)) as (_, port):
        data, closed = await exchange(port, request_bytes)
        await assert_new_connection_served(port)

    head, body = head_and_body(data)
    assert head.startswith(b"HTTP/1.1 %d " % status), head
    assert b"\r\nConnection: close" in head
    assert b"Content-Length: %d" % len(body) in head
    assert closed
    assert [m.path for m, _ in seen] == ["/next"]  # the handler never saw the bad one
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_malformed_request_over_tls_gets_400_and_close(server_ssl_context):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    seen: list = []
    async with running_server(lambda: Recorder(seen), ssl_context=server_ssl_context) as (_, port):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port, ssl=ctx), TIMEOUT
        )
        writer.write(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), TIMEOUT)  # until the server closes
        writer.close()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port, ssl=ctx), TIMEOUT
        )
        writer.write(GET_10)
        after = await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()

    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"\r\nConnection: close" in data
    assert after.startswith(b"HTTP/1.0 200 OK\r\n")
    assert [m.path for m, _ in seen] == ["/next"]


async def test_bad_version_page_says_bad_request():
    async with running_server(DocHandler) as (_, port):
        data, _ = await exchange(port, b"GET / HT/asd\r\n\r\n")

    assert b"400 Bad Request" in data


async def test_non_numeric_content_length_is_400_before_the_handler_runs():
    seen: list = []
    async with running_server(lambda: BodyReader(seen)) as (_, port):
        data, closed = await exchange(
            port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: sdgg\r\n\r\nbody"
        )

    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert closed
    assert seen == []


async def test_unknown_transfer_coding_is_refused_never_treated_as_chunked():
    seen: list = []
    async with running_server(lambda: BodyReader(seen)) as (_, port):
        data, closed = await exchange(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n4\r\ndata\r\n0\r\n\r\n",
        )
        await assert_new_connection_served(port)

    assert re.match(rb"HTTP/1\.1 (400|501) ", data)
    assert b"\r\nConnection: close" in data
    assert closed
    assert [m.path for m, _ in seen] == ["/next"]


@pytest.mark.parametrize("size_line", [b"blah", b"zz"])
async def test_bad_chunk_size_read_by_handler_gives_400_page_and_close(size_line):
    seen: list = []
    async with running_server(lambda: BodyReader(seen)) as (_, port):
        # The size line arrives while the handler waits in its read.
        data, closed = await exchange(
            port,
            pieces=[b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", size_line + b"\r\n"],
            delay=0.1,
        )
        await assert_new_connection_served(port)

    head, body = head_and_body(data)
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"\r\nConnection: close" in head
    assert data.count(b"HTTP/1.1 ") == 1
    assert closed
    assert len(seen) == 2  # the handler ran and its read raised


async def test_gzip_label_on_plain_body_read_by_handler_gives_400_page_and_close():
    seen: list = []
    async with running_server(lambda: BodyReader(seen)) as (_, port):
        data, closed = await exchange(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 11\r\n\r\n"
            b"hello world",
        )
        await assert_new_connection_served(port)

    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"\r\nConnection: close" in data
    assert data.count(b"HTTP/1.1 ") == 1
    assert closed


def _truncated(encoding: str) -> bytes:
    import gzip
    import zlib

    data = b"a fairly long body that compresses into a few blocks " * 20
    if encoding == "gzip":
        full = gzip.compress(data)
    else:
        obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        full = obj.compress(data) + obj.flush()
    return full[: len(full) // 2]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_truncated_compressed_body_fails_the_read_with_400(encoding):
    body = _truncated(encoding)
    seen: list = []
    async with running_server(lambda: BodyReader(seen)) as (_, port):
        data, closed = await exchange(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n"
            % (encoding.encode(), len(body)) + body,
        )

    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert closed
    assert len(seen) == 1


async def test_truncated_compressed_body_after_response_started_closes_without_second_response():
    body = _truncated("gzip")

    class StartsThenReads(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            response = llserver.Response(self.writer, 200, http_version=message.version)
            response.send_headers()
            response.write(b"started")
            await payload.read()
            response.write(b"never")
            await response.write_eof()

    async with running_server(StartsThenReads) as (_, port):
        data, closed = await exchange(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
            % len(body) + body,
        )

    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.count(b"HTTP/1.1 ") == 1
    assert b"started" in data and b"never" not in data
    assert not data.endswith(b"0\r\n\r\n")
    assert closed


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n<script>alert(1)</script>: x\r\n\r\n",
        b"<script>alert(1)</script> / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: <script>\x01</script>\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-<script>: " + b"a" * 20000 + b"\r\n\r\n",
        b"<script>" + b"a" * 30000,
    ],
    ids=["header-name", "method", "header-value", "long-header", "long-junk"],
)
async def test_error_page_never_reflects_raw_request_text(raw):
    async with running_server(DocHandler) as (_, port):
        data, closed = await exchange(port, raw)

    head, body = head_and_body(data)
    assert re.match(rb"HTTP/1\.1 4\d\d ", head)
    assert b"<script>" not in body
    assert b"aaaaaaaa" not in body
    assert len(body) < 1024
    assert closed


async def test_purge_method_known_to_llhttp_is_accepted():
    message, payload = await record_one(b"PURGE /path HTTP/1.1\r\nHost: x\r\n\r\n")

    assert message.method == "PURGE" and message.path == "/path"
    assert payload is llserver.server.EMPTY_PAYLOAD


async def test_leading_empty_lines_before_request_line_are_ignored():
    seen: list = []
    async with running_server(lambda: Recorder(seen)) as (_, port):
        [(head, _)] = await read_responses(port, b"\r\n\r\nGET /after-crlf HTTP/1.1\r\nHost: x\r\n\r\n")

    assert head.startswith(b"HTTP/1.1 200 OK")
    assert [m.path for m, _ in seen] == ["/after-crlf"]


async def test_truncated_request_then_half_close_is_a_quiet_close_and_server_stays_up(caplog):
    caplog.set_level(logging.DEBUG)
    seen: list = []
    async with running_server(lambda: Recorder(seen, debug=True)) as (_, port):
        data, closed = await exchange(port, b"GET /path HTTP/1.1\r\n", half_close=True)
        await assert_new_connection_served(port)

    assert data == b"" and closed
    assert [m.path for m, _ in seen] == ["/next"]
    assert no_error_records(caplog) == []


async def test_request_line_over_max_line_size_is_414():
    seen: list = []
    async with running_server(lambda: Recorder(seen)) as (_, port):
        data, closed = await exchange(
            port, b"GET /" + b"p" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        )

    assert data.startswith(b"HTTP/1.1 414 ")
    assert b"\r\nConnection: close" in data
    assert closed and seen == []


async def test_pipelined_requests_before_a_bad_chunk_are_answered_first():
    seen: list = []
    raw = (
        b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /bad HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    )
    async with running_server(lambda: BodyReader(seen)) as (_, port):
        data, closed = await exchange(port, raw)

    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.count(b"HTTP/1.1 400 Bad Request\r\n") == 1
    assert closed
    # /bad's framing was broken before it was dispatched: the server answers
    # it without calling the handler.
    assert [m.path for m, _ in seen] == ["/first"]
