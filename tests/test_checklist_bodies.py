"""Acceptance checklist sections D-E through real sockets: request bodies
(framing, pipelining after a body, compression, 100-continue, flow control,
disconnects) and the payload stream API, exercised by handlers that perform
the reads and report the results in their response.

Most handlers here answer with a chunked response whose head and "signal"
chunks go out *before* the body is read.  The client sends the next piece of
the body only after it has seen the signal that the handler is ready, so the
packet boundaries a test depends on are made by the protocol, not by sleeps.
The handler's report is the last chunk: a NUL byte, then JSON.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import re
import shutil
import socket
import ssl
import struct
import zlib
from typing import Any, Awaitable, Callable, Dict, List, Optional

import pytest
from conftest import HOST, exchange, running_server

import llserver.server
from llserver import Response, errors
from llserver.server import EMPTY_PAYLOAD

TIMEOUT = 5.0
HEAD = b"POST /body HTTP/1.1\r\nHost: x\r\n"


def text(data: bytes) -> str:
    """Bytes as a JSON-friendly string (one character per byte)."""
    return data.decode("latin-1")


def post(length: Optional[int] = None, *extra: bytes) -> bytes:
    head = HEAD
    if length is not None:
        head += b"Content-Length: %d\r\n" % length
    for line in extra:
        head += line + b"\r\n"
    return head + b"\r\n"


def chunked_post(*extra: bytes) -> bytes:
    return post(None, b"Transfer-Encoding: chunked", *extra)


# ------------------------------------------------------------------ handlers

Script = Callable[["Scripted", Any, Any], Awaitable[Any]]


class Scripted(llserver.server.ServerHttpProtocol):
    """Runs ``script(self, message, payload)`` and sends its JSON result as
    the last chunk of a chunked response.  ``await self.signal(tag)`` sends
    ``tag`` to the client at once (the head goes out with the first one)."""

    def __init__(self, script: Script, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script
        self.response: Optional[Response] = None

    def _head(self, message: Any) -> Response:
        if self.response is None:
            self.response = Response(self.writer, 200, http_version=message.version)
            self.response.add_header("Content-Type", "application/octet-stream")
            self.response.send_headers()
        return self.response

    async def handle_request(self, message, payload):
        self.response = None
        self.message = message
        result = await self.script(self, message, payload)
        response = self._head(message)
        response.write(b"\x00" + json.dumps(result).encode())
        await response.write_eof()

    async def signal(self, tag: bytes) -> None:
        self._head(self.message).write(tag)
        await self.writer.drain()


class Conversation:
    """A raw client that reads the response as it arrives."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = b""

    @classmethod
    async def open(cls, port: int) -> Conversation:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), TIMEOUT)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT)

    async def wait_for(self, marker: bytes) -> None:
        """Read until ``marker`` has arrived (bounded)."""
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while marker not in self.received:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"no {marker!r} in {self.received!r}"
            chunk = await asyncio.wait_for(self.reader.read(65536), left)
            assert chunk, f"closed before {marker!r}; got {self.received!r}"
            self.received += chunk

    async def result(self) -> Any:
        """Read the chunked response to its end; return the handler's JSON."""
        await self.wait_for(b"\r\n\r\n")
        head, _, rest = self.received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK"), self.received[:300]
        while not rest.endswith(b"\r\n0\r\n\r\n"):
            chunk = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
            assert chunk, f"closed before the end of the response: {self.received!r}"
            self.received += chunk
            rest += chunk
        body = dechunk(rest)
        return json.loads(body.split(b"\x00", 1)[1])

    def close(self) -> None:
        self.writer.close()


def dechunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if not size:
            return bytes(out)
        out += data[:size]
        assert data[size : size + 2] == b"\r\n"
        data = data[size + 2 :]


async def converse(
    script: Script,
    steps: Callable[[Conversation], Awaitable[None]],
    **kwargs: Any,
) -> Any:
    """Serve ``script``, run the client ``steps``, return the handler's JSON."""
    async with running_server(lambda: Scripted(script, **kwargs)) as (_, port):
        conv = await Conversation.open(port)
        try:
            await steps(conv)
            return await conv.result()
        finally:
            conv.close()


def sends(*pieces: bytes, delay: float = 0.0) -> Callable[[Conversation], Awaitable[None]]:
    async def steps(conv: Conversation) -> None:
        for piece in pieces:
            await conv.send(piece)
            if delay:
                await asyncio.sleep(delay)

    return steps


class Answer(llserver.server.ServerHttpProtocol):
    """Answers with a Content-Length framed report of what it read; the body
    is read only when the path says /read.  ``keep`` is passed to
    ``keep_alive()`` unless it is None (automatic keep-alive)."""

    def __init__(self, log: list, keep: Optional[bool] = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log = log
        self.keep = keep

    async def handle_request(self, message, payload):
        body = await payload.read() if message.path.startswith("/read") else b""
        self.log.append((message.path, body, payload is EMPTY_PAYLOAD))
        out = f"{message.path} {text(body)}".encode("latin-1")
        response = Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Length", str(len(out)))
        response.send_headers()
        response.write(out)
        await response.write_eof()
        if self.keep is not None:
            self.keep_alive(self.keep)


async def read_responses(port: int, data: bytes, count: int) -> List[bytes]:
    """Send ``data`` and return the bodies of ``count`` Content-Length
    framed responses."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), TIMEOUT)
    try:
        writer.write(data)
        bodies = []
        for _ in range(count):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            match = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
            assert match is not None, head
            bodies.append(await asyncio.wait_for(reader.readexactly(int(match.group(1))), TIMEOUT))
        return bodies
    finally:
        writer.close()


# ============================================================ D. request bodies


async def test_content_length_body_split_over_three_sends_reads_whole():
    async def script(h, message, payload):
        return {"body": text(await payload.read())}

    result = await converse(script, sends(post(4), b"da", b"t", b"a", delay=0.05))

    assert result == {"body": "data"}


@pytest.mark.parametrize("keep", [True, None], ids=["explicit", "automatic"])
async def test_bytes_after_content_length_body_are_the_next_pipelined_request(keep):
    log: list = []
    raw = b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n12GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    async with running_server(lambda: Answer(log, keep)) as (_, port):
        bodies = await read_responses(port, raw, 2)

    assert bodies == [b"/read 12", b"/next "]
    assert log[0][1] == b"12"


async def test_chunked_body_with_extensions_and_trailers_then_pipelined_request_served():
    log: list = []
    raw = (
        b"POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;test\r\ndata\r\n4\r\nline\r\n0\r\ntest: x\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    async with running_server(lambda: Answer(log)) as (_, port):
        bodies = await read_responses(port, raw, 2)

    assert bodies == [b"/read dataline", b"/next "]


async def test_chunked_body_sent_byte_by_byte_reads_whole():
    async def script(h, message, payload):
        return {"body": text(await payload.read())}

    body = b"4\r\ndata\r\n4\r\nline\r\n0\r\n\r\n"
    pieces = [chunked_post()] + [body[i : i + 1] for i in range(len(body))]
    result = await converse(script, sends(*pieces, delay=0.003))

    assert result == {"body": "dataline"}


class RecordsRead(llserver.server.ServerHttpProtocol):
    """Reports how its body read ended through ``outcome`` and lets the
    exception propagate, as a handler that does not catch it would."""

    def __init__(self, outcome: asyncio.Future[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcome = outcome

    async def handle_request(self, message, payload):
        if message.path == "/ok":
            return self.handle_error(404)
        try:
            data = await payload.read()
        except BaseException as exc:
            if not self.outcome.done():
                self.outcome.set_result(exc)
            raise
        if not self.outcome.done():
            self.outcome.set_result(data)


def unverified_client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
@pytest.mark.parametrize(
    ("head", "partial"),
    [(chunked_post(), b"4\r\ndata\r\n"), (post(4), b"da")],
    ids=["chunked", "content-length"],
)
async def test_client_closing_mid_body_fails_the_read_quietly_and_server_stays_up(
    head, partial, tls, caplog, request
):
    caplog.set_level(logging.DEBUG)
    server_ctx = request.getfixturevalue("server_ssl_context") if tls else None
    client_ctx = unverified_client_context() if tls else None
    outcome: asyncio.Future = asyncio.get_running_loop().create_future()
    factory = lambda: RecordsRead(outcome, debug=True)  # noqa: E731
    async with running_server(factory, ssl_context=server_ctx) as (_, port):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port, ssl=client_ctx), TIMEOUT
        )
        writer.write(head + partial)
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        raised = await asyncio.wait_for(outcome, TIMEOUT)
        await asyncio.sleep(0.05)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port, ssl=client_ctx), TIMEOUT
        )
        writer.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        after = await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()

    assert isinstance(raised, errors.ClientDisconnectedError), repr(raised)
    assert after.startswith(b"HTTP/1.1 404 Not Found")
    assert not any("Error handling request" in r.getMessage() for r in caplog.records)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_client_reset_mid_body_ends_the_handler_quietly_and_server_stays_up(caplog):
    caplog.set_level(logging.DEBUG)
    outcome: asyncio.Future = asyncio.get_running_loop().create_future()
    async with running_server(lambda: RecordsRead(outcome, debug=True)) as (_, port):
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(post(4) + b"da")
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST instead of FIN
        raised = await asyncio.wait_for(outcome, TIMEOUT)
        await asyncio.sleep(0.05)
        after, _ = await exchange(port, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")

    assert isinstance(raised, (errors.ClientDisconnectedError, asyncio.CancelledError)), repr(raised)
    assert after.startswith(b"HTTP/1.1 404 Not Found")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def report_body(h, message, payload):
    data = await payload.read()
    return {
        "body": text(data),
        "compression": message.compression,
        "content_encoding": message.headers.get("Content-Encoding"),
        "content_length": message.headers.get("Content-Length"),
    }


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_gzip_body_from_curl_is_decompressed_and_headers_kept(tmp_path):
    original = b"compress me, please! " * 200
    packed = gzip.compress(original)
    path = tmp_path / "body.gz"
    path.write_bytes(packed)
    async with running_server(lambda: Scripted(report_body)) as (_, port):
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "--max-time", "5", "--data-binary", f"@{path}",
            "-H", "Content-Encoding: gzip", "-H", "Content-Type: application/octet-stream",
            f"http://{HOST}:{port}/upload",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 10)

    assert proc.returncode == 0, err
    result = json.loads(out.split(b"\x00", 1)[1])
    assert result == {
        "body": text(original),
        "compression": "gzip",
        "content_encoding": "gzip",
        "content_length": str(len(packed)),
    }


def raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


@pytest.mark.parametrize(
    "packer", [raw_deflate, zlib.compress, gzip.compress], ids=["raw-deflate", "zlib", "gzip"]
)
async def test_compressed_body_over_raw_socket_is_decompressed(packer):
    original = b"deflate me " * 300
    packed = packer(original)
    encoding = b"gzip" if packer is gzip.compress else b"deflate"
    result = await converse(
        report_body, sends(post(len(packed), b"Content-Encoding: " + encoding) + packed)
    )

    assert result["body"] == text(original)
    assert result["compression"] == encoding.decode()


async def test_zlib_deflate_body_from_aiohttp_client_is_decompressed():
    aiohttp = pytest.importorskip("aiohttp")
    original = b"aiohttp sends zlib-wrapped deflate " * 100
    async with running_server(lambda: Scripted(report_body)) as (host, port):
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"http://{host}:{port}/upload",
                data=original,
                compress="deflate",
                timeout=aiohttp.ClientTimeout(total=TIMEOUT),
            ) as resp:
                status, body = resp.status, await resp.read()

    assert status == 200
    result = json.loads(body.split(b"\x00", 1)[1])
    assert result["body"] == text(original)
    assert result["compression"] == "deflate" and result["content_encoding"] == "deflate"


async def test_hixie76_key1_header_gets_no_implicit_body():
    # Item 45: the hixie-76 8-byte body rule is dropped, as the migration
    # guide documents: without Upgrade the request is body-less, and the
    # bytes that follow are parsed as the next request (malformed here).
    log: list = []
    raw = b"GET /read HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key1: 13\r\n\r\n0123456789"
    async with running_server(lambda: Answer(log)) as (_, port):
        data, closed = await exchange(port, raw)

    assert log == [("/read", b"", True)]
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"HTTP/1.1 400 Bad Request\r\n" in data
    assert closed


async def test_hixie76_handshake_with_upgrade_hands_the_key_bytes_to_the_payload():
    # The documented replacement for item 45's rule (migration guide): with
    # Connection: Upgrade and Upgrade: WebSocket, what follows the head is the
    # payload stream, so a handler can still take the 8 key bytes.
    got: list = []

    class Hixie(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            got.append((payload is EMPTY_PAYLOAD, await payload.readexactly(8)))
            response = Response(self.writer, 101, http_version=message.version)
            response.add_header("Connection", "Upgrade")
            response.add_header("Upgrade", "WebSocket")
            response.send_headers()
            await response.write_eof()

    raw = (
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n"
        b"Sec-WebSocket-Key1: 13\r\nSec-WebSocket-Key2: 1 2\r\n\r\n0123456789"
    )
    async with running_server(Hixie) as (_, port):
        data, _ = await exchange(port, raw)

    assert got == [(False, b"01234567")]
    assert data.startswith(b"HTTP/1.1 101 ")


def buffered(payload: Any) -> int:
    """Unread bytes in a body stream, from its documented repr."""
    match = re.match(r"<StreamReader (\d+) bytes", repr(payload))
    return int(match.group(1)) if match else 0


async def test_one_mib_body_read_slowly_arrives_whole_with_bounded_buffering():
    size = 1024 * 1024
    original = bytes(range(256)) * (size // 256)
    limit = 2**16
    socket_read = 256 * 1024  # asyncio's largest single recv on a socket transport

    async def script(h, message, payload):
        peak, paused_seen, digest, total = 0, False, hashlib.sha256(), 0
        while True:
            await asyncio.sleep(0.001)
            peak = max(peak, buffered(payload))
            if buffered(payload) and not h.transport.is_reading():
                paused_seen = True
            chunk = await payload.read(4096)
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
        return {"peak": peak, "paused": paused_seen, "total": total, "sha": digest.hexdigest()}

    async def steps(conv: Conversation) -> None:
        conv.writer.write(post(size) + original)
        await asyncio.wait_for(conv.writer.drain(), 15)

    result = await converse(script, steps)

    assert result["total"] == size
    assert result["sha"] == hashlib.sha256(original).hexdigest()
    assert result["paused"] is True
    assert 0 < result["peak"] <= 2 * limit + socket_read


async def test_small_gzip_body_inflating_to_8_mib_read_slowly_keeps_buffer_bounded():
    # The flow-control bound of item 46 must hold for what the handler can
    # read, i.e. after decompression (items 43/44): 8 KiB on the wire that
    # inflate to 8 MiB must not sit in memory at once.
    size = 8 * 1024 * 1024
    packed = gzip.compress(bytes(size))

    async def script(h, message, payload):
        peak, total = 0, 0
        while True:
            await asyncio.sleep(0.001)
            peak = max(peak, buffered(payload))
            chunk = await payload.read(65536)
            if not chunk:
                break
            total += len(chunk)
        return {"peak": peak, "total": total}

    result = await converse(
        script, sends(post(len(packed), b"Content-Encoding: gzip") + packed)
    )

    assert result["total"] == size
    assert result["peak"] <= 1024 * 1024


@pytest.mark.parametrize("keep", [True, None], ids=["explicit", "automatic"])
async def test_ignored_complete_body_still_lets_the_next_pipelined_request_through(keep):
    log: list = []
    raw = (
        b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    async with running_server(lambda: Answer(log, keep)) as (_, port):
        bodies = await read_responses(port, raw, 2)

    assert bodies == [b"/ignore ", b"/next "]
    assert [path for path, _, _ in log] == ["/ignore", "/next"]


@pytest.mark.parametrize("keep", [True, None], ids=["explicit", "automatic"])
async def test_ignored_incomplete_body_closes_the_connection_after_the_response(keep):
    log: list = []
    async with running_server(lambda: Answer(log, keep)) as (_, port):
        data, closed = await exchange(port, post(10) + b"abc")

    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.count(b"HTTP/1.1") == 1
    assert closed


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_expect_100_continue_gets_100_then_the_final_response():
    async with running_server(lambda: Scripted(report_body)) as (_, port):
        loop = asyncio.get_running_loop()
        started = loop.time()
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "-v", "--max-time", "10", "--expect100-timeout", "6",
            "-H", "Expect: 100-continue", "--data-binary", "abc",
            f"http://{HOST}:{port}/upload",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 15)
        elapsed = loop.time() - started

    assert proc.returncode == 0, err
    assert b"< HTTP/1.1 100 Continue" in err
    assert json.loads(out.split(b"\x00", 1)[1])["body"] == "abc"
    assert elapsed < 3  # curl did not have to wait for its 6 s fallback


async def test_expect_100_continue_not_sent_when_handler_answers_without_reading():
    log: list = []
    async with running_server(lambda: Answer(log)) as (_, port):
        data, closed = await exchange(port, post(3, b"Expect: 100-continue"))

    assert b"100 Continue" not in data
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert closed  # the body never came, so the connection cannot be reused


async def test_expect_100_continue_in_http10_request_is_ignored():
    # RFC 9110 §10.1.1 and §15.2: a 100-continue expectation in an HTTP/1.0
    # request MUST be ignored; a server MUST NOT send 1xx to a 1.0 client.
    log: list = []
    head = b"POST /read HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    async with running_server(lambda: Answer(log)) as (_, port):
        data, closed = await exchange(port, pieces=[head, b"abc"], delay=0.2)

    assert b"100 Continue" not in data
    assert data.startswith(b"HTTP/1.0 200 OK\r\n")
    assert data.endswith(b"/read abc")
    assert log == [("/read", b"abc", False)]


async def test_post_without_length_has_empty_payload_and_next_bytes_are_a_request():
    log: list = []
    raw = b"POST /read HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    async with running_server(lambda: Answer(log)) as (_, port):
        bodies = await read_responses(port, raw, 2)

    assert bodies == [b"/read ", b"/next "]
    assert log == [("/read", b"", True), ("/next", b"", True)]


# ===================================================== E. payload stream API


async def test_read_n_returns_up_to_n_and_read_zero_consumes_nothing():
    async def script(h, message, payload):
        await payload.wait_eof()
        return [text(await payload.read(0)), text(await payload.read(8)),
                text(await payload.read(0)), text(await payload.read(8))]

    result = await converse(script, sends(post(10) + b"line1line2"))

    assert result == ["", "line1lin", "", "e2"]


async def test_read_all_joins_two_packets_and_reads_at_eof_return_empty():
    async def script(h, message, payload):
        await h.signal(b"ready")
        whole = await payload.read()
        at_eof = []
        for _ in range(3):
            at_eof += [await payload.read(), await payload.read(1024), await payload.readany()]
        return {"whole": text(whole), "at_eof": [text(x) for x in at_eof]}

    async def steps(conv: Conversation) -> None:
        await conv.send(post(10))
        await conv.wait_for(b"ready")
        await conv.send(b"part1")
        await asyncio.sleep(0.1)
        await conv.send(b"part2")

    result = await converse(script, steps)

    assert result == {"whole": "part1part2", "at_eof": [""] * 9}


async def test_readline_then_read_rest():
    async def script(h, message, payload):
        await payload.wait_eof()
        return [text(await payload.readline()), text(await payload.read())]

    body = b"chunk1 chunk2 chunk3 \n chunk4"
    result = await converse(script, sends(post(len(body)) + body))

    assert result == ["chunk1 chunk2 chunk3 \n", " chunk4"]


async def test_readline_returns_last_unterminated_line_then_empty():
    async def script(h, message, payload):
        return [text(await payload.readline()) for _ in range(4)]

    body = b"line\nlast"
    result = await converse(script, sends(post(len(body)) + body))

    assert result == ["line\n", "last", "", ""]


async def readline_after_too_long(h, message, payload):
    try:
        await payload.readline()
    except ValueError as exc:
        error = str(exc)
    else:
        error = None
    return {"error": error, "rest": text(await payload.read())}


async def test_readline_longer_than_64k_raises_value_error_and_later_data_stays_readable():
    body = b"a" * 70000 + b"\nafter\n"
    result = await converse(readline_after_too_long, sends(post(len(body)) + body))

    assert result["error"] == "Line is too long"
    assert result["rest"].endswith("after\n")


async def test_readline_over_the_configured_limit_drops_only_that_line():
    body = b"x" * 40 + b"\nafter\n"
    result = await converse(readline_after_too_long, sends(post(len(body)) + body), limit=16)

    assert result == {"error": "Line is too long", "rest": "after\n"}


async def test_readexactly_past_eof_raises_incomplete_read_with_partial():
    async def script(h, message, payload):
        try:
            await payload.readexactly(36)
        except asyncio.IncompleteReadError as exc:
            return {"partial": text(exc.partial), "expected": exc.expected, "str": str(exc)}
        return {"partial": None}

    body = b"x" * 18
    result = await converse(script, sends(post(18) + body))

    assert result == {
        "partial": "x" * 18,
        "expected": 36,
        "str": "18 bytes read on a total of 36 expected bytes",
    }


async def test_readexactly_spans_packets_and_zero_or_negative_is_empty():
    async def script(h, message, payload):
        out = [text(await payload.readexactly(0)), text(await payload.readexactly(-1))]
        await h.signal(b"ready")
        out += [text(await payload.readexactly(10)), text(await payload.readexactly(3))]
        return out

    async def steps(conv: Conversation) -> None:
        await conv.send(post(13))
        await conv.wait_for(b"ready")
        await conv.send(b"abcde")
        await asyncio.sleep(0.05)
        await conv.send(b"fghijklm")

    result = await converse(script, steps)

    assert result == ["", "", "abcdefghij", "klm"]


async def test_readany_returns_the_first_packet_without_waiting_for_the_rest():
    async def script(h, message, payload):
        await h.signal(b"ready")
        first = await payload.readany()
        await h.signal(b"got-first")
        return [text(first), text(await payload.read())]

    async def steps(conv: Conversation) -> None:
        await conv.send(post(11))
        await conv.wait_for(b"ready")
        await conv.send(b"first")
        await conv.wait_for(b"got-first")
        await conv.send(b"second")

    result = await converse(script, steps)

    assert result == ["first", "second"]


async def test_read_nowait_returns_buffered_bytes_and_empty_when_nothing_is_buffered():
    async def script(h, message, payload):
        before = payload.read_nowait()
        await h.signal(b"ready")
        await payload.wait_eof()
        return [text(before), text(payload.read_nowait(4)), text(payload.read_nowait()),
                text(payload.read_nowait())]

    async def steps(conv: Conversation) -> None:
        await conv.send(post(8))
        await conv.wait_for(b"ready")
        await conv.send(b"abcdefgh")

    result = await converse(script, steps)

    assert result == ["", "abcd", "efgh", ""]


async def test_second_reader_while_one_waits_gets_runtime_error():
    async def script(h, message, payload):
        first = asyncio.ensure_future(payload.read())
        for _ in range(3):
            await asyncio.sleep(0)
        errors_seen = []
        try:
            await payload.read()
        except RuntimeError as exc:
            errors_seen.append(str(exc))
        try:
            payload.read_nowait()
        except RuntimeError as exc:
            errors_seen.append(str(exc))
        await h.signal(b"ready")
        body = await asyncio.wait_for(first, TIMEOUT)
        return {"errors": errors_seen, "body": text(body)}

    async def steps(conv: Conversation) -> None:
        await conv.send(post(4))
        await conv.wait_for(b"ready")
        await conv.send(b"data")

    result = await converse(script, steps)

    assert result["body"] == "data"
    assert len(result["errors"]) == 2
    assert result["errors"][0].startswith("read() called while")
    assert result["errors"][1].startswith("read_nowait() called while")
    assert all(e.endswith("already waiting for incoming data") for e in result["errors"])


async def test_exception_is_none_for_a_good_body():
    async def script(h, message, payload):
        data = await payload.read()
        return {"body": text(data), "exception": repr(payload.exception())}

    result = await converse(script, sends(post(4) + b"data"))

    assert result == {"body": "data", "exception": "None"}


async def test_after_a_chunk_size_error_every_read_raises_the_stored_exception():
    async def script(h, message, payload):
        try:
            await payload.read()
        except errors.TransferEncodingError as exc:
            first = exc
        else:
            return {"first": None}
        stored = payload.exception()
        same = {}
        for name, call in [
            ("read", lambda: payload.read()),
            ("readline", lambda: payload.readline()),
            ("readexactly", lambda: payload.readexactly(2)),
            ("readany", lambda: payload.readany()),
        ]:
            try:
                await call()
            except Exception as exc:
                same[name] = exc is first
            else:
                same[name] = False
        try:
            payload.read_nowait()
        except Exception as exc:
            same["read_nowait"] = exc is first
        else:
            same["read_nowait"] = False
        return {"first": type(first).__name__, "stored_is_first": stored is first,
                "code": first.code, "same": same}

    # The bad chunk arrives while the handler reads (a body whose framing is
    # already broken when the request is dispatched is answered 400 by the
    # server without calling the handler).
    result = await converse(script, sends(chunked_post() + b"4\r\ndata\r\n", b"zz\r\n", delay=0.1))

    assert result == {
        "first": "TransferEncodingError",
        "stored_is_first": True,
        "code": 400,
        "same": dict.fromkeys(["read", "readline", "readexactly", "readany", "read_nowait"], True),
    }


async def test_eof_flags_and_wait_eof_leave_the_data_readable():
    async def script(h, message, payload):
        states = [(payload.is_eof(), payload.at_eof())]
        await h.signal(b"ready")
        await payload.wait_eof()
        states.append((payload.is_eof(), payload.at_eof()))
        first = await payload.read(2)
        states.append((payload.is_eof(), payload.at_eof()))
        second = await payload.read(2)
        states.append((payload.is_eof(), payload.at_eof()))
        return {"states": states, "data": text(first + second)}

    async def steps(conv: Conversation) -> None:
        await conv.send(post(4))
        await conv.wait_for(b"ready")
        await conv.send(b"ab")
        await asyncio.sleep(0.05)
        await conv.send(b"cd")

    result = await converse(script, steps)

    assert result == {
        "states": [[False, False], [True, False], [True, False], [True, True]],
        "data": "abcd",
    }


async def test_unread_data_is_read_again():
    async def script(h, message, payload):
        await payload.wait_eof()
        first = await payload.read(5)
        payload.unread_data(first)
        payload.unread_data(b"")
        return [text(first), text(await payload.read(5)), text(await payload.read())]

    result = await converse(script, sends(post(10) + b"line1line2"))

    assert result == ["line1", "line1", "line2"]


async def test_async_for_yields_lines():
    async def script(h, message, payload):
        return [text(line) async for line in payload]

    body = b"line1\nline2\nline3\n"
    result = await converse(script, sends(post(len(body)) + body))

    assert result == ["line1\n", "line2\n", "line3\n"]


async def test_iter_chunked_yields_fixed_size_chunks_with_a_short_last_one():
    async def script(h, message, payload):
        await payload.wait_eof()
        return [text(chunk) async for chunk in payload.iter_chunked(8)]

    body = b"line1\nline2\nline3\n"
    result = await converse(script, sends(post(len(body)) + body))

    assert result == ["line1\nli", "ne2\nline", "3\n"]


async def test_iter_any_yields_data_as_it_arrived():
    async def script(h, message, payload):
        chunks = []
        await h.signal(b"ready")
        async for chunk in payload.iter_any():
            chunks.append(text(chunk))
            await h.signal(b"ack%d;" % len(chunks))
        return chunks

    async def steps(conv: Conversation) -> None:
        await conv.send(post(15))
        await conv.wait_for(b"ready")
        await conv.send(b"alpha")
        await conv.wait_for(b"ack1;")
        await conv.send(b"bravo")
        await conv.wait_for(b"ack2;")
        await conv.send(b"charl")

    result = await converse(script, steps)

    assert result == ["alpha", "bravo", "charl"]


async def test_empty_payload_api_on_a_bodyless_request():
    async def script(h, message, payload):
        report: Dict[str, Any] = {"is_empty_payload": payload is EMPTY_PAYLOAD}
        report["reads"] = [
            text(await payload.read()), text(await payload.readline()),
            text(await payload.readany()), text(payload.read_nowait()),
        ]
        try:
            await payload.readexactly(10)
        except asyncio.IncompleteReadError as exc:
            report["readexactly"] = [text(exc.partial), exc.expected]
        report["at_eof"] = payload.at_eof()
        report["exception"] = repr(payload.exception())
        await asyncio.wait_for(payload.wait_eof(), TIMEOUT)
        payload.feed_data(b"leak")
        payload.feed_eof()
        payload.set_exception(ValueError("leak"))
        report["after_feeding"] = [text(await payload.read()), repr(payload.exception())]
        report["lines"] = [text(line) async for line in payload]
        return report

    result = await converse(script, sends(b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n"))

    assert result == {
        "is_empty_payload": True,
        "reads": ["", "", "", ""],
        "readexactly": ["", 10],
        "at_eof": True,
        "exception": "None",
        "after_feeding": ["", "None"],
        "lines": [],
    }


async def test_body_stream_repr_shows_unread_bytes_and_eof():
    async def script(h, message, payload):
        reprs = [repr(payload)]
        await h.signal(b"ready")
        for _ in range(500):  # wait (bounded) for the first chunk to be buffered
            if buffered(payload):
                break
            await asyncio.sleep(0.01)
        reprs.append(repr(payload))
        await h.signal(b"more")
        await payload.wait_eof()
        reprs.append(repr(payload))
        await payload.read()
        reprs.append(repr(payload))
        return reprs

    async def steps(conv: Conversation) -> None:
        await conv.send(chunked_post())
        await conv.wait_for(b"ready")
        await conv.send(b"4\r\ndata\r\n")
        await conv.wait_for(b"more")
        await conv.send(b"0\r\n\r\n")

    result = await converse(script, steps)

    assert result == [
        "<StreamReader>",
        "<StreamReader 4 bytes>",
        "<StreamReader 4 bytes eof>",
        "<StreamReader eof>",
    ]
