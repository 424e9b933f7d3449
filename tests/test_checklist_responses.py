"""Checklist section F (items 65-86) on the wire: what a real server sends
for each ``Response`` feature, read back with raw sockets, ``http.client``,
curl and aiohttp's client.

``tests/test_response.py`` checks the same features against a fake writer;
here every response travels through ``ServerHttpProtocol``, its corked
writer and a loopback socket, and the framing is checked by pipelining a
second request behind the first: a stray or missing body byte shows up as
a broken second response.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http.client
import shutil
import types
import warnings
import zlib
from typing import Any, Awaitable, Callable, List, Optional, Tuple

import pytest
from conftest import HOST, exchange, running_server

from llserver import Response
from llserver.server import ServerHttpProtocol

Script = Callable[[Any, Any, Any], Awaitable[None]]


class Scripted(ServerHttpProtocol):
    """Runs ``script(protocol, message, payload)`` for every request."""

    def __init__(self, script: Script, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script

    async def handle_request(self, message, payload):
        await self.script(self, message, payload)


def served(script: Script, **kwargs: Any):
    return running_server(lambda: Scripted(script, **kwargs))


class Reply:
    """One response as read off the wire."""

    def __init__(self, head: bytes, framed: bytes, body: bytes) -> None:
        self.head = head  # status line and headers, without the final CRLFCRLF
        self.framed = framed  # body bytes as sent (chunk framing included)
        self.body = body  # the payload after removing the framing
        lines = head.split(b"\r\n")
        self.status_line = lines[0].decode("latin-1")
        self.headers: List[Tuple[str, bytes]] = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers.append((name.decode("latin-1"), value.strip()))

    @property
    def status(self) -> int:
        return int(self.status_line.split()[1])

    @property
    def names(self) -> List[str]:
        return [name for name, _ in self.headers]

    def get(self, name: str) -> Optional[str]:
        values = self.getall(name)
        assert len(values) <= 1, f"{name} appears {len(values)} times"
        return values[0] if values else None

    def getall(self, name: str) -> List[str]:
        return [v.decode("utf-8") for n, v in self.headers if n.lower() == name.lower()]


class Conn:
    """A raw client connection that reads responses by RFC 9112 §6.3."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def response(self, method: str = "GET", timeout: float = 3.0) -> Reply:
        return await asyncio.wait_for(self._response(method), timeout)

    async def _response(self, method: str) -> Reply:
        head = (await self.reader.readuntil(b"\r\n\r\n"))[:-4]
        reply = Reply(head, b"", b"")
        status = reply.status
        if method == "HEAD" or status < 200 or status in (204, 304):
            return reply
        te = reply.getall("Transfer-Encoding")
        if te and te[-1].split(",")[-1].strip().lower() == "chunked":
            framed = bytearray()
            body = bytearray()
            while True:
                line = await self.reader.readuntil(b"\r\n")
                framed += line
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    trailer = await self.reader.readuntil(b"\r\n")
                    framed += trailer
                    assert trailer == b"\r\n", trailer
                    break
                data = await self.reader.readexactly(size + 2)
                assert data.endswith(b"\r\n"), data
                framed += data
                body += data[:-2]
            reply.framed, reply.body = bytes(framed), bytes(body)
        elif reply.get("Content-Length") is not None:
            data = await self.reader.readexactly(int(reply.get("Content-Length")))
            reply.framed = reply.body = data
        else:
            data = await self.reader.read()
            reply.framed = reply.body = data
        return reply

    async def tail(self, idle: float = 0.3, total: float = 3.0) -> Tuple[bytes, bool]:
        """Bytes that follow, and whether the server closed (within ``total``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + total
        out = bytearray()
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return bytes(out), False
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), min(idle, left))
            except asyncio.TimeoutError:
                return bytes(out), False
            except ConnectionResetError:
                return bytes(out), True
            if not chunk:
                return bytes(out), True
            out += chunk

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def connected(port: int):
    conn = await Conn.open(port)
    try:
        yield conn
    finally:
        await conn.close()


def request(path: str = "/", *, version: str = "1.1", method: str = "GET", extra: str = "") -> bytes:
    host = "Host: x\r\n" if version == "1.1" else ""
    return f"{method} {path} HTTP/{version}\r\n{host}{extra}\r\n".encode()


async def in_thread(fn: Callable[[], Any]) -> Any:
    return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, fn), 10)


def http_client_get(port: int, path: str = "/", method: str = "GET", times: int = 1) -> list:
    """``times`` requests on one ``http.client`` connection; (status, reason,
    version, headers, body) for each."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    out = []
    try:
        for _ in range(times):
            conn.request(method, path)
            resp = conn.getresponse()
            out.append((resp.status, resp.reason, resp.version, resp.getheaders(), resp.read()))
    finally:
        conn.close()
    return out


async def curl(*args: str) -> bytes:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--max-time", "5", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err
    return out


async def finish(resp: Response, *chunks: bytes) -> None:
    resp.send_headers()
    for chunk in chunks:
        resp.write(chunk)
    await resp.write_eof()


# ------------------------------------------------------------ 65 status line


@pytest.mark.parametrize(
    ("args", "kwargs", "line", "reason", "client_version"),
    [
        ((200,), {}, "HTTP/1.1 200 OK", "OK", 11),
        ((333,), {"reason": "My Reason"}, "HTTP/1.1 333 My Reason", "My Reason", 11),
        ((777,), {}, "HTTP/1.1 777 777", "777", 11),
        ((200,), {"http_version": (1, 0)}, "HTTP/1.0 200 OK", "OK", 10),
    ],
)
async def test_status_line_and_reason_reach_the_client(args, kwargs, line, reason, client_version):
    seen = {}

    async def script(proto, message, payload):
        resp = Response(proto.writer, *args, **kwargs)
        seen["attrs"] = (resp.status, resp.reason)
        resp.add_header("Content-Length", "2")
        await finish(resp, b"ok")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request())
            reply = await conn.response()
        (status, client_reason, version, _, body), = await in_thread(lambda: http_client_get(port))
    assert reply.status_line == line
    assert seen["attrs"] == (args[0], reason)
    assert (status, client_reason, version, body) == (args[0], reason, client_version, b"ok")


# ------------------------------------------------------- 66-69 header writing


async def test_header_name_is_title_cased_value_stripped_and_head_sent_in_one_write():
    seen = {}

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_header("content-type", "  plain/html  ")
        seen["items"] = list(resp.headers.items())
        calls = []
        real_write = proto.writer.write
        proto.writer.write = lambda data: (calls.append(bytes(data)), real_write(data))[1]
        seen["before"] = resp.is_headers_sent()
        resp.send_headers()
        seen["after"] = resp.is_headers_sent()
        seen["calls"] = list(calls)
        del proto.writer.write
        resp.write(b"x")
        await resp.write_eof()

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request())
            reply = await conn.response()
    assert seen["items"] == [("Content-Type", "plain/html")]
    assert reply.get("Content-Type") == "plain/html"
    assert b"Content-Type: plain/html\r\n" in reply.head + b"\r\n"
    assert seen["before"] is False and seen["after"] is True
    assert seen["calls"] == [reply.head + b"\r\n\r\n"]
    assert reply.body == b"x"


async def test_invalid_header_names_values_and_late_headers_raise_assertion_and_never_reach_the_wire():
    seen = {}

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        for name, value in [
            ("тип-контента", "text/plain"),
            ("content-type", {"test": "plain"}),
            (list("content-type"), "text/plain"),
        ]:
            try:
                resp.add_header(name, value)
            except AssertionError as exc:
                seen.setdefault("raised", []).append(type(exc))
        resp.add_header("Content-Length", "2")
        resp.send_headers()
        try:
            resp.add_header("X-Late", "1")
        except AssertionError as exc:
            seen["late"] = type(exc)
        resp.write(b"ok")
        await resp.write_eof()

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request())
            reply = await conn.response()
    assert len(seen["raised"]) == 3
    assert issubclass(seen["late"], AssertionError)
    assert reply.names == ["Content-Length", "Date", "Server"]
    assert reply.body == b"ok"


INJECTIONS = {
    "crlf-in-value": lambda resp: resp.add_header("X-Bad", "a\r\nInjected: 1"),
    "lf-in-value": lambda resp: resp.add_header("X-Bad", "a\nInjected: 1"),
    "cr-in-value": lambda resp: resp.add_header("X-Bad", "a\rInjected: 1"),
    "nul-in-value": lambda resp: resp.add_header("X-Bad", "a\x00Injected: 1"),
    "crlf-at-the-end": lambda resp: resp.add_header("X-Bad", "a\r\n"),
    "crlf-in-name": lambda resp: resp.add_header("X-Bad\r\nInjected", "1"),
    "crlf-via-add-headers": lambda resp: resp.add_headers(("X-Ok", "1"), ("X-Bad", "a\r\nInjected: 1")),
}


@pytest.mark.parametrize("inject", list(INJECTIONS.values()), ids=list(INJECTIONS))
async def test_header_injection_is_refused_with_an_assertion_error_and_nothing_is_sent(inject):
    seen = {}

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        try:
            inject(resp)
        except AssertionError as exc:
            seen["exc"] = exc
        seen["headers_sent"] = resp.is_headers_sent()
        # The handler gives up without answering.

    async with served(script) as (_, port):
        data, closed = await exchange(port, request(), idle=0.5)
    assert isinstance(seen["exc"], ValueError)
    assert seen["headers_sent"] is False
    assert data == b"" and closed


async def test_line_breaks_put_into_headers_directly_or_in_the_reason_send_nothing():
    seen = []

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.headers["X-Bad"] = "a\r\nInjected: 1"
        try:
            resp.send_headers()
        except AssertionError as exc:
            seen.append(exc)
        try:
            Response(proto.writer, 200, reason="OK\r\nInjected: 1")
        except AssertionError as exc:
            seen.append(exc)

    async with served(script) as (_, port):
        data, closed = await exchange(port, request(), idle=0.5)
    assert len(seen) == 2
    assert data == b"" and closed


async def test_injection_error_escaping_the_handler_becomes_a_500_without_the_injected_line():
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_header("X-Bad", "a\r\nInjected: 1")
        await finish(resp, b"never")

    async with served(script) as (_, port):
        data, closed = await exchange(port, request())
    assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"Injected" not in data and b"never" not in data
    assert closed


async def test_non_ascii_header_value_is_sent_as_utf8():
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_headers(("x-header", "текст"), ("Content-Length", "0"))
        await finish(resp)

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request())
            reply = await conn.response()
    assert b"\r\nX-Header: \xd1\x82\xd0\xb5\xd0\xba\xd1\x81\xd1\x82\r\n" in reply.head + b"\r\n"


# ----------------------------------------------------------- 70-75 framing


async def test_bytes_beyond_content_length_are_dropped_and_the_next_response_follows():
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_header("Content-Length", "2")
        await finish(resp, b"d", b"ata")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request("/1") + request("/2"))
            first = await conn.response()
            second = await conn.response()
        replies = await in_thread(lambda: http_client_get(port, times=2))
    assert first.body == b"da" and second.status_line == "HTTP/1.1 200 OK" and second.body == b"da"
    assert [r[4] for r in replies] == [b"da", b"da"]


async def test_http11_body_without_length_is_chunked_and_decoded_by_real_clients():
    async def script(proto, message, payload):
        await finish(Response(proto.writer, 200), b"data1", b"data2")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request() + request())
            first = await conn.response()
            second = await conn.response()
        replies = await in_thread(lambda: http_client_get(port, times=2))
        curled = await curl(f"http://{HOST}:{port}/")
    assert first.get("Transfer-Encoding") == "chunked" and first.get("Content-Length") is None
    assert first.framed == b"5\r\ndata1\r\n5\r\ndata2\r\n0\r\n\r\n"
    assert second.framed == first.framed
    assert [r[4] for r in replies] == [b"data1data2"] * 2
    assert curled == b"data1data2"


@pytest.mark.parametrize("how", ["enable_chunked_encoding", "force_chunked"])
async def test_forced_chunking_wins_over_content_length(how):
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_header("Content-Length", "42")
        getattr(resp, how)()
        await finish(resp, b"data")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request() + request())
            first = await conn.response()
            second = await conn.response()
    assert first.get("Transfer-Encoding") == "chunked"
    assert first.get("Content-Length") is None  # RFC 9112 §6.2: never both
    assert first.framed == b"4\r\ndata\r\n0\r\n\r\n"
    assert second.body == b"data"


@pytest.mark.parametrize("response_version", [(1, 0), (1, 1)], ids=["http10-response", "http11-response"])
async def test_body_without_length_for_http10_request_is_raw_and_ends_with_the_connection(response_version):
    async def script(proto, message, payload):
        await finish(Response(proto.writer, 200, http_version=response_version), b"data1", b"data2")

    async with served(script) as (_, port):
        data, closed = await exchange(port, request(version="1.0"))
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/%d.%d 200 OK" % response_version)
    assert b"Transfer-Encoding" not in head and b"Content-Length" not in head
    assert b"keep-alive" not in head.lower()
    assert body == b"data1data2"
    assert closed


@pytest.mark.parametrize(
    ("size", "writes", "framed"),
    [
        (2, [b"data"], b"2\r\nda\r\n2\r\nta\r\n0\r\n\r\n"),
        (2, [b"data1", b"data2"], b"2\r\nda\r\n2\r\nta\r\n2\r\n1d\r\n2\r\nat\r\n2\r\na2\r\n0\r\n\r\n"),
        (3, [b"data1", b"data2"], b"3\r\ndat\r\n3\r\na1d\r\n3\r\nata\r\n1\r\n2\r\n0\r\n\r\n"),
        (1024, [b"data"], b"4\r\ndata\r\n0\r\n\r\n"),
    ],
)
async def test_chunking_filter_added_after_the_head_recuts_the_body(size, writes, framed):
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.send_headers()
        resp.add_chunking_filter(size)
        for chunk in writes:
            resp.write(chunk)
        await resp.write_eof()

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request() + request())
            first = await conn.response()
            second = await conn.response()
    assert first.framed == framed and second.framed == framed


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


async def test_deflate_filter_with_content_length_sends_raw_deflate():
    compressed = raw_deflate(b"data")

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_header("Content-Length", str(len(compressed)))
        resp.add_compression_filter("deflate")
        await finish(resp, b"data")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request() + request())
            first = await conn.response()
            second = await conn.response()
    assert first.body == compressed and second.body == compressed
    assert zlib.decompress(first.body, -zlib.MAX_WBITS) == b"data"


async def test_deflate_then_chunking_gives_two_byte_chunks_of_the_same_deflate_stream():
    compressed = raw_deflate(b"data")

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_compression_filter("deflate")
        resp.add_chunking_filter(2)
        await finish(resp, b"data")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request() + request())
            first = await conn.response()
            second = await conn.response()
    pieces = [compressed[i : i + 2] for i in range(0, len(compressed), 2)]
    assert first.framed == b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    assert first.body == compressed and second.body == compressed


async def test_chunking_then_deflate_compresses_the_recut_pieces_into_one_chunk():
    compressed = raw_deflate(b"data")

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_chunking_filter(2)
        resp.add_compression_filter("deflate")
        await finish(resp, b"data")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request())
            reply = await conn.response()
    assert reply.framed == b"%x\r\n%b\r\n0\r\n\r\n" % (len(compressed), compressed)


BIG_TEXT = b"".join(b"line %d of a compressible body\n" % i for i in range(2000))


async def test_gzip_filter_with_content_encoding_is_decoded_by_aiohttp_and_curl():
    aiohttp = pytest.importorskip("aiohttp")

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_header("Content-Encoding", "gzip")
        resp.add_compression_filter("gzip")
        resp.send_headers()
        for i in range(0, len(BIG_TEXT), 5000):
            resp.write(BIG_TEXT[i : i + 5000])
        await resp.write_eof()

    async with served(script) as (_, port):
        async with aiohttp.ClientSession() as session:
            for _ in range(2):  # the second request reuses the pooled connection
                async with session.get(f"http://{HOST}:{port}/", timeout=aiohttp.ClientTimeout(total=5)) as r:
                    assert r.headers["Content-Encoding"] == "gzip"
                    assert await r.read() == BIG_TEXT
        async with connected(port) as conn:
            conn.send(request())
            reply = await conn.response()
        curled = await curl("--compressed", f"http://{HOST}:{port}/")
    assert len(reply.body) < len(BIG_TEXT) // 4  # it really is compressed
    assert curled == BIG_TEXT


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_enable_compression_is_decoded_by_aiohttp(encoding):
    aiohttp = pytest.importorskip("aiohttp")

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_header("Content-Length", str(len(BIG_TEXT)))
        resp.enable_compression(encoding)
        await finish(resp, BIG_TEXT)

    async with served(script) as (_, port):
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://{HOST}:{port}/", timeout=aiohttp.ClientTimeout(total=5)) as r:
                assert r.headers["Content-Encoding"] == encoding
                assert "Content-Length" not in r.headers
                assert await r.read() == BIG_TEXT


# ------------------------------------------------------- 76 default headers


async def test_every_response_has_date_and_server_after_user_framing_and_connection_headers():
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200, close=message.path == "/close")
        resp.add_header("X-A", "1")
        resp.add_header("X-B", "2")
        await finish(resp, b"x")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request("/close"))
            reply = await conn.response()
    assert reply.names == ["X-A", "X-B", "Transfer-Encoding", "Connection", "Date", "Server"]
    assert reply.get("Connection") == "close"
    assert reply.get("Server").startswith("Python/") and "llserver/" in reply.get("Server")
    assert reply.get("Date").endswith(" GMT")


async def test_user_date_and_server_are_sent_as_given_and_only_once():
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_headers(("Date", "now"), ("Server", "custom"), ("Content-Length", "0"))
        await finish(resp)

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request())
            reply = await conn.response()
    assert reply.getall("Date") == ["now"] and reply.getall("Server") == ["custom"]
    assert reply.names == ["Date", "Server", "Content-Length"]


# -------------------------------------------------- 77-80 Connection header


def _make(version=(1, 1), **kwargs):
    def build(proto, message):
        return Response(proto.writer, 200, http_version=version, **kwargs)

    return build


def _with(build, action):
    def wrapped(proto, message):
        resp = build(proto, message)
        action(resp)
        return resp

    return wrapped


def _set_keepalive(resp):
    resp.keepalive = True


CONNECTION_CASES = {
    # id: (request, build, Connection header, connection stays open)
    "http11-default": (request(), _make(), None, True),
    "http11-close=True": (request(), _make(close=True), "close", False),
    "http11-force_close": (request(), _with(_make(), Response.force_close), "close", False),
    "http11-keepalive=True": (request(), _with(_make(), _set_keepalive), None, True),
    "http10-keepalive=True": (
        request(version="1.0", extra="Connection: keep-alive\r\n"),
        _with(_make((1, 0)), _set_keepalive),
        "keep-alive",
        True,
    ),
}


@pytest.mark.parametrize("case", list(CONNECTION_CASES.values()), ids=list(CONNECTION_CASES))
async def test_connection_header_table_and_the_connection_does_what_it_says(case):
    req, build, expected, stays = case

    async def script(proto, message, payload):
        resp = build(proto, message)
        resp.add_header("Content-Length", "2")
        await finish(resp, b"ok")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(req)
            reply = await conn.response()
            if stays:
                conn.send(req)
                again = await conn.response()
                assert again.body == b"ok"
            tail, closed = await conn.tail()
    assert reply.get("Connection") == expected
    assert reply.body == b"ok" and tail == b""
    assert closed is not stays


async def test_connection_upgrade_header_is_sent_as_upgrade():
    async def script(proto, message, payload):
        resp = Response(proto.writer, 101)
        resp.add_header("Connection", "upgrade")
        resp.add_header("Upgrade", "websocket")
        await finish(resp)

    async with served(script) as (_, port):
        data, _ = await exchange(
            port, request(extra="Connection: Upgrade\r\nUpgrade: websocket\r\n"), idle=0.5
        )
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nConnection: upgrade\r\n" in head + b"\r\n"


@pytest.mark.parametrize(
    ("request_header", "resp_keepalive", "opt_in", "advertised"),
    [
        ("", None, False, False),  # the 1.1 quirk: keep-alive advertised, then closed
        ("Connection: keep-alive\r\n", None, False, False),
        ("Connection: keep-alive\r\n", None, True, False),
        ("", True, True, False),  # the request implied close
        ("Connection: keep-alive\r\n", True, False, True),
        ("Connection: keep-alive\r\n", True, True, True),
    ],
)
async def test_http10_keep_alive_is_advertised_only_when_the_connection_really_stays(
    request_header, resp_keepalive, opt_in, advertised
):
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200, http_version=message.version)
        if resp_keepalive is not None:
            resp.keepalive = resp_keepalive
        resp.add_header("Content-Length", "2")
        await finish(resp, b"ok")
        if opt_in:
            proto.keep_alive(True)

    req = request(version="1.0", extra=request_header)
    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(req + req)
            reply = await conn.response()
            tail, closed = await conn.tail()
    assert reply.status_line == "HTTP/1.0 200 OK"
    assert (reply.get("Connection") == "keep-alive") is advertised
    if advertised:
        assert tail.startswith(b"HTTP/1.0 200 OK\r\n")  # the second request was served
    else:
        assert tail == b"" and closed


async def test_http10_close_delimited_body_never_advertises_keep_alive():
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200, http_version=message.version)
        resp.keepalive = True
        await finish(resp, b"raw body")
        proto.keep_alive(True)

    async with served(script) as (_, port):
        data, closed = await exchange(port, request(version="1.0", extra="Connection: keep-alive\r\n"))
    assert b"keep-alive" not in data.lower()
    assert data.endswith(b"\r\n\r\nraw body") and closed


async def test_connection_keep_alive_added_by_handler_is_not_stored_and_close_overrides_it():
    seen = {}

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200, http_version=message.version)
        resp.add_header("Connection", "keep-alive")
        seen.setdefault("stored", []).append("Connection" in resp.headers)
        seen.setdefault("ka", []).append((resp.keepalive, resp.keep_alive()))
        if message.path == "/close":
            resp.add_header("Connection", "close")
            seen["ka_after_close"] = resp.keep_alive()
        resp.add_header("Content-Length", "2")
        await finish(resp, b"ok")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            # HTTP/1.0: the response says keep-alive only because the handler
            # asked for it, so the header must come from add_header().
            conn.send(request("/keep", version="1.0", extra="Connection: keep-alive\r\n"))
            kept = await conn.response()
            conn.send(request("/close"))
            closing = await conn.response()
            tail, closed = await conn.tail()
    assert seen["stored"] == [False, False]
    assert seen["ka"] == [(True, True), (True, True)]
    assert seen["ka_after_close"] is False
    assert kept.status_line == "HTTP/1.0 200 OK" and kept.get("Connection") == "keep-alive"
    assert closing.get("Connection") == "close"
    assert tail == b"" and closed


KEEP_ALIVE_TABLE = {
    # id: (request version, build, expected keep_alive(), expected keepalive attr test)
    "close=True": ("1.1", _make(close=True), False, None),
    "keepalive=True": ("1.1", _with(_make(), _set_keepalive), True, None),
    "force_close": ("1.1", _with(_make(), Response.force_close), False, None),
    "http10-default": ("1.0", _make((1, 0)), False, "falsy"),
    "http11-default": ("1.1", _make(), True, "none"),
}


@pytest.mark.parametrize("case", list(KEEP_ALIVE_TABLE.values()), ids=list(KEEP_ALIVE_TABLE))
async def test_response_keep_alive_table_matches_what_the_server_does(case):
    version, build, expected, attr = case
    seen = {}

    async def script(proto, message, payload):
        resp = build(proto, message)
        seen["before"] = resp.keep_alive()
        seen["attr"] = resp.keepalive
        resp.add_header("Content-Length", "2")
        await finish(resp, b"ok")
        seen["after"] = resp.keep_alive()

    extra = "Connection: keep-alive\r\n" if version == "1.0" else ""
    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request(version=version, extra=extra))
            await conn.response()
            tail, closed = await conn.tail()
    assert seen["before"] is expected and seen["after"] is expected
    if attr == "none":
        assert seen["attr"] is None
    elif attr == "falsy":
        assert not seen["attr"]
    assert tail == b""
    assert closed is not expected


# ----------------------------------------------------- 81-82 special headers


async def test_add_headers_sets_length_and_upgrade_flags():
    seen = {}

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.add_headers(("content-length", "42"))
        seen["length"] = resp.length
        probe = Response(proto.writer, 200)
        probe.add_headers(("connection", "upgrade"))
        seen["upgrade"] = probe.upgrade
        await finish(resp, b"x" * 42)

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request())
            reply = await conn.response()
    assert seen == {"length": 42, "upgrade": True}
    assert reply.get("Content-Length") == "42" and reply.body == b"x" * 42


@pytest.mark.parametrize("protocol", ["websocket", "test", "h2c", "IRC/6.9, RTA/x11"])
async def test_every_upgrade_value_reaches_the_wire(protocol):
    # api-spec §12 decision 4: 1.1 silently dropped anything but websocket.
    async def script(proto, message, payload):
        resp = Response(proto.writer, 101)
        resp.add_headers(("connection", "upgrade"), ("upgrade", protocol))
        await finish(resp)

    async with served(script) as (_, port):
        data, _ = await exchange(
            port, request(extra=f"Connection: Upgrade\r\nUpgrade: {protocol}\r\n"), idle=0.5
        )
    assert data.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert f"\r\nUpgrade: {protocol}\r\n".encode() in data


async def test_hop_headers_are_dropped_before_the_wire():
    seen = {}

    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp.HOP_HEADERS = {"Transfer-Encoding"}
        resp.add_headers(("connection", "test"), ("transfer-encoding", "t"))
        seen["headers"] = list(resp.headers.items())
        resp.add_header("Content-Length", "2")
        await finish(resp, b"ok")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request())
            reply = await conn.response()
    assert seen["headers"] == []
    assert reply.get("Transfer-Encoding") is None and reply.get("Connection") is None
    assert reply.body == b"ok"


# ------------------------------------------------ 83-84 write() and results


async def test_write_results_can_be_ignored_awaited_or_yielded_from_without_warnings():
    big = b"y" * (70 * 1024)
    seen = {}

    async def script(proto, message, payload):
        drains = []
        real_drain = proto.writer.drain

        def spy_drain():
            result = real_drain()
            drains.append(result)
            return result

        proto.writer.drain = spy_drain
        resp = Response(proto.writer, 200)
        resp.send_headers()
        resp.write(b"a")  # result dropped
        await resp.write(b"b")

        @types.coroutine
        def legacy():
            yield from resp.write(b"c")

        await legacy()
        seen["small"] = resp.write(b"d", drain=True)
        seen["drains_before"] = len(drains)
        result = resp.write(big, drain=True)
        seen["drains_after"] = len(drains)
        seen["is_drain"] = bool(drains) and result is drains[-1]
        await result
        await resp.write_eof()
        resp.write_eof()  # second call only drains; dropped

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with served(script) as (_, port):
            async with connected(port) as conn:
                conn.send(request())
                reply = await conn.response()
        gc.collect()
    assert reply.body == b"abcd" + big
    assert seen["small"] == () and seen["drains_before"] == 0
    assert seen["drains_after"] == 1 and seen["is_drain"]
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


async def test_write_sends_the_head_first_when_send_headers_flag_is_set():
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        resp._send_headers = True
        resp.add_header("Content-Length", "4")
        resp.write(b"data")
        await resp.write_eof()

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request())
            reply = await conn.response()
    assert reply.status_line == "HTTP/1.1 200 OK" and reply.body == b"data"


# --------------------------------------------- 85-86 bodiless and empty writes


@pytest.mark.parametrize("status", [204, 304])
async def test_204_and_304_carry_no_framing_and_no_body_bytes(status):
    async def script(proto, message, payload):
        if message.path == "/next":
            resp = Response(proto.writer, 200)
            resp.add_header("Content-Length", "4")
            await finish(resp, b"next")
            return
        await finish(Response(proto.writer, status), b"ignored")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request("/") + request("/next"))
            first = await conn.response()
            second = await conn.response()
    assert first.status == status
    assert first.get("Transfer-Encoding") is None and first.get("Content-Length") is None
    assert second.status_line == "HTTP/1.1 200 OK" and second.body == b"next"


async def test_101_upgrade_is_the_head_only():
    async def script(proto, message, payload):
        resp = Response(proto.writer, 101)
        resp.add_headers(("Connection", "upgrade"), ("Upgrade", "websocket"))
        resp.send_headers()
        await resp.write_eof()

    async with served(script) as (_, port):
        data, _ = await exchange(
            port, request(extra="Connection: Upgrade\r\nUpgrade: websocket\r\n"), idle=0.5
        )
    assert data.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert data.endswith(b"\r\n\r\n") and data.count(b"\r\n\r\n") == 1
    assert b"Transfer-Encoding" not in data and b"Content-Length" not in data


@pytest.mark.parametrize("length", [None, 5], ids=["chunked", "content-length"])
async def test_head_response_has_the_get_framing_and_no_body_bytes(length):
    async def script(proto, message, payload):
        resp = Response(proto.writer, 200)
        if length is not None:
            resp.add_header("Content-Length", str(length))
        await finish(resp, b"hello")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request(method="HEAD") + request("/after"))
            head = await conn.response("HEAD")
            after = await conn.response()
        replies = await in_thread(lambda: http_client_get(port, method="HEAD", times=2))
        curled = await curl("-I", f"http://{HOST}:{port}/")
    if length is None:
        assert head.get("Transfer-Encoding") == "chunked"
    else:
        assert head.get("Content-Length") == "5"
    assert after.body == b"hello"
    assert [r[4] for r in replies] == [b"", b""]
    assert curled.startswith(b"HTTP/1.1 200 OK\r\n") and curled.endswith(b"\r\n\r\n")


async def test_empty_write_does_not_end_a_chunked_body():
    async def script(proto, message, payload):
        await finish(Response(proto.writer, 200), b"data1", b"", bytearray(), b"data2")

    async with served(script) as (_, port):
        async with connected(port) as conn:
            conn.send(request() + request())
            first = await conn.response()
            second = await conn.response()
        replies = await in_thread(lambda: http_client_get(port))
    assert first.framed == b"5\r\ndata1\r\n5\r\ndata2\r\n0\r\n\r\n"
    assert second.body == b"data1data2"
    assert replies[0][4] == b"data1data2"
