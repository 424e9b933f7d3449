"""llserver behind a real nginx (issue #7): keep-alive upstream connections,
chunked uploads buffered and streamed, multi-MiB streamed responses, and the
client address through X-Forwarded-For / Forwarded with ``trusted_proxies``.

nginx runs as a child process (``daemon off; master_process off``, so one
process, whatever the user) from a configuration written to the test's tmp
dir, with every path it writes inside that dir and only 127.0.0.1 listening;
llserver serves in the test's event loop.  Without nginx the tests skip,
unless ``LLSERVER_EXPECT_INSTALLED`` is set (CI installs nginx): then they
fail.  ``LLSERVER_NGINX`` names a binary to use instead of the one found.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Tuple

import pytest
from conftest import HOST, running_server
from multidict import CIMultiDict

import llserver.server
from llserver import Response
from llserver.forwarded import TrustedProxies

START_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0


# ------------------------------------------------------------------ nginx


def _find_nginx() -> Optional[str]:
    configured = os.environ.get("LLSERVER_NGINX")
    if configured:
        if not os.access(configured, os.X_OK):
            pytest.fail(f"LLSERVER_NGINX={configured!r} is not an executable")
        return configured
    found = shutil.which("nginx")
    if found:
        return found
    # Debian puts it in /usr/sbin, which is not on every user's PATH.
    for directory in ("/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin", "/usr/local/bin"):
        candidate = os.path.join(directory, "nginx")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def nginx_binary() -> Tuple[str, Tuple[int, ...]]:
    """The nginx executable and its version; skip (or, in CI, fail) without it."""
    binary = _find_nginx()
    if binary is None:
        if os.environ.get("LLSERVER_EXPECT_INSTALLED"):
            pytest.fail("nginx not found, but LLSERVER_EXPECT_INSTALLED is set (CI installs it)")
        pytest.skip("nginx is not installed (e.g. apt-get install nginx-light)")
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out.stderr + out.stdout)
    if match is None:
        pytest.fail(f"cannot tell the version of {binary}: {out.stderr!r}")
    return binary, tuple(int(part) for part in match.groups())


CONFIG = r"""
daemon off;
master_process off;
pid @DIR@/nginx.pid;
lock_file @DIR@/nginx.lock;
error_log @DIR@/error.log notice;

events {
    worker_connections 64;
}

http {
    access_log @DIR@/access.log;
    client_body_temp_path @DIR@/client_body;
    proxy_temp_path @DIR@/proxy;
    fastcgi_temp_path @DIR@/fastcgi;
    uwsgi_temp_path @DIR@/uwsgi;
    scgi_temp_path @DIR@/scgi;
    default_type application/octet-stream;

    client_max_body_size 64m;
    # Small buffers: bodies of a few MiB go through the temp files.
    client_body_buffer_size 16k;
    proxy_buffer_size 16k;
    proxy_buffers 4 16k;

    upstream llserver {
        server 127.0.0.1:@UPSTREAM@;
        keepalive 8;
    }

    # RFC 7239 §6: an IPv6 node is bracketed and quoted.
    map $remote_addr $forwarded_node {
        "~:"     "\"[$remote_addr]\"";
        default  $remote_addr;
    }

    server {
        listen 127.0.0.1:@PORT@;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header Forwarded "for=$forwarded_node;proto=$scheme";
        proxy_connect_timeout 5s;
        proxy_send_timeout 30s;
        proxy_read_timeout 30s;
        @BIND@

        location / {
            proxy_pass http://llserver;
        }

        location /streaming/ {
            proxy_pass http://llserver;
            proxy_request_buffering off;
            proxy_buffering off;
        }
    }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


async def _listening(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and proc.poll() is None:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 1.0)
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return True
    return False


async def _stop(proc: subprocess.Popen) -> None:
    """Terminate nginx by its pid and wait for it, bounded."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # fast shutdown
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10.0
        while proc.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
    proc.wait(timeout=10)


@contextlib.asynccontextmanager
async def nginx_in_front(
    nginx_binary: Tuple[str, Tuple[int, ...]],
    directory: Path,
    upstream_port: int,
    *,
    bind: Optional[str] = None,
) -> AsyncIterator[int]:
    """Run nginx proxying 127.0.0.1:<port> to llserver on ``upstream_port``;
    yield that port.  ``bind`` is the source address of its upstream
    connections (``proxy_bind``)."""
    binary, version = nginx_binary
    for path in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / path).mkdir(parents=True, exist_ok=True)
    error_log = directory / "error.log"
    for _attempt in range(3):  # the free port may be taken before nginx binds it
        port = _free_port()
        config = (
            CONFIG.replace("@DIR@", str(directory))
            .replace("@UPSTREAM@", str(upstream_port))
            .replace("@PORT@", str(port))
            .replace("@BIND@", f"proxy_bind {bind};" if bind else "")
        )
        conf = directory / "nginx.conf"
        conf.write_text(config)
        args = [binary, "-p", str(directory), "-c", str(conf)]
        if version >= (1, 19, 5):  # -e: the error log before the config is read
            args += ["-e", str(error_log)]
        with open(directory / "nginx.out", "ab") as out:
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            ready = await _listening(port, proc, START_TIMEOUT)
        except BaseException:
            await _stop(proc)
            raise
        if ready:
            break
        await _stop(proc)
        log = error_log.read_text() if error_log.exists() else ""
        log += (directory / "nginx.out").read_text()
        if "Address already in use" not in log:
            pytest.fail(f"nginx did not start:\n{log}")
    else:
        pytest.fail("nginx could not bind a free port three times")
    try:
        yield port
    finally:
        await _stop(proc)


# ------------------------------------------------------------- the client


class Reply:
    def __init__(self, status: int, headers: CIMultiDict, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


async def _read_head(reader: asyncio.StreamReader) -> Tuple[int, CIMultiDict]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: CIMultiDict = CIMultiDict()
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip())
    return int(lines[0].split(" ", 2)[1]), headers


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The data of a chunked body, chunk by chunk (RFC 9112 §7.1)."""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return
        yield await reader.readexactly(size)
        assert await reader.readexactly(2) == b"\r\n"


async def _read_reply(reader: asyncio.StreamReader, slow_after: int = 0) -> Reply:
    status, headers = await _read_head(reader)
    body = bytearray()
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        paused = False
        async for chunk in _chunks(reader):
            body += chunk
            if slow_after and not paused and len(body) > slow_after:
                # Stop reading for a moment: buffers fill up along the way
                # (client socket, nginx, llserver's transport) and the
                # handler's writes have to wait.
                paused = True
                await asyncio.sleep(0.3)
    elif "Content-Length" in headers:
        body += await reader.readexactly(int(headers["Content-Length"]))
    return Reply(status, headers, bytes(body))


async def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: Tuple[Tuple[str, str], ...] = (),
    body: Optional[bytes] = None,
    chunks: Optional[List[bytes]] = None,
    connection: Optional[Tuple[asyncio.StreamReader, asyncio.StreamWriter]] = None,
    slow_after: int = 0,
) -> Reply:
    """One HTTP/1.1 request to nginx.  ``chunks`` sends the body with
    ``Transfer-Encoding: chunked``, one chunk each.  Without ``connection``
    the request has its own connection, closed after it."""

    async def run() -> Reply:
        own = connection is None
        reader, writer = (
            await asyncio.open_connection(HOST, port) if connection is None else connection
        )
        try:
            head = [f"{method} {path} HTTP/1.1", "Host: llserver.test"]
            head += [f"{name}: {value}" for name, value in headers]
            if own:
                head.append("Connection: close")
            if chunks is not None:
                head.append("Transfer-Encoding: chunked")
            elif body is not None:
                head.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            if chunks is not None:
                for chunk in chunks:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            elif body is not None:
                writer.write(body)
            await writer.drain()
            return await _read_reply(reader, slow_after)
        finally:
            if own:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    return await asyncio.wait_for(run(), REQUEST_TIMEOUT)


# ---------------------------------------------------------- the upstream


# Streamed bodies repeat this block; its odd length makes every offset's
# content distinct from its neighbours', so a lost, doubled or reordered
# piece changes the digest.
_BLOCK = random.Random(1).randbytes(1_000_003)


def _stream_piece(offset: int, length: int) -> bytes:
    start = offset % len(_BLOCK)
    piece = _BLOCK[start : start + length]
    while len(piece) < length:
        piece += _BLOCK[: length - len(piece)]
    return piece


def _stream_digest(size: int) -> str:
    digest = hashlib.sha256()
    for offset in range(0, size, len(_BLOCK)):
        digest.update(_BLOCK[: min(len(_BLOCK), size - offset)])
    return digest.hexdigest()


class Upstream(llserver.server.ServerHttpProtocol):
    """The application behind nginx.  Counts its requests (one instance per
    upstream connection) and answers by path."""

    def __init__(self, *, forwarded_trust: Optional[TrustedProxies] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.forwarded_trust = forwarded_trust
        self.requests = 0
        self.finished_streams: List[int] = []
        self.stream_written = 0

    async def handle_request(self, message: Any, payload: Any) -> None:
        self.requests += 1
        route = message.path.split("?", 1)[0].rsplit("/", 1)[-1]
        if route == "upload":
            digest = hashlib.sha256()
            length = 0
            while True:
                piece = await payload.readany()
                if not piece:
                    break
                digest.update(piece)
                length += len(piece)
            await self._json(
                message,
                {
                    "length": length,
                    "sha256": digest.hexdigest(),
                    "transfer_encoding": message.headers.get("Transfer-Encoding"),
                    "content_length": message.headers.get("Content-Length"),
                },
            )
        elif route == "stream":
            size = int(message.path.split("size=", 1)[1])
            response = Response(self.writer, 200, http_version=message.version)
            response.add_header("Content-Type", "application/octet-stream")
            response.enable_chunked_encoding()
            response.send_headers()
            offset = 0
            rng = random.Random(7)
            while offset < size:
                step = min(rng.randint(1, 256 * 1024), size - offset)
                response.write(_stream_piece(offset, step))
                await self.writer.drain()
                offset += step
                self.stream_written = offset
            await response.write_eof()
            self.finished_streams.append(size)
        elif route == "who":
            response = await self._json(
                message,
                {
                    "client": self.client_address(message),
                    "peer": self.client_address(None),
                    "x_forwarded_for": message.headers.getall("X-Forwarded-For", []),
                    "forwarded": message.headers.getall("Forwarded", []),
                    # What the same trust makes of nginx's Forwarded header.
                    "by_forwarded": (
                        None
                        if self.forwarded_trust is None
                        else self.forwarded_trust.client_address(
                            self.transport.get_extra_info("peername"), message.headers
                        )
                    ),
                },
            )
            self.log_access(message, None, response, 0.0)
        else:
            body = f"{message.method} {message.path} {message.headers.get('X-Test')}".encode()
            response = Response(self.writer, 200, http_version=message.version)
            response.add_header("Content-Type", "text/plain; charset=utf-8")
            response.add_header("Content-Length", str(len(body)))
            response.add_header("X-Backend", "llserver")
            response.add_header("Set-Cookie", "a=1")
            response.add_header("Set-Cookie", "b=2")
            response.send_headers()
            response.write(body)
            await response.write_eof()

    async def _json(self, message: Any, value: Dict[str, Any]) -> Response:
        body = json.dumps(value).encode()
        response = Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Type", "application/json")
        response.add_header("Content-Length", str(len(body)))
        response.send_headers()
        response.write(body)
        await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def proxied(
    nginx_binary: Tuple[str, Tuple[int, ...]],
    directory: Path,
    factory: Callable[[], Upstream] = Upstream,
    *,
    bind: Optional[str] = None,
) -> AsyncIterator[Tuple[int, List[Upstream]]]:
    """llserver in this loop, nginx in front; yield nginx's port and the
    list of upstream connections (one protocol each) as they are made."""
    protocols: List[Upstream] = []

    def tracked() -> Upstream:
        proto = factory()
        protocols.append(proto)
        return proto

    async with running_server(tracked) as (_, upstream_port):
        async with nginx_in_front(nginx_binary, directory, upstream_port, bind=bind) as port:
            yield port, protocols


class AccessLines(list):
    """An access logger that keeps its records."""

    def __init__(self) -> None:
        super().__init__()
        self.logger = logging.getLogger(f"test_nginx.access.{id(self)}")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.handler = logging.Handler()
        self.handler.emit = self.append  # type: ignore[method-assign]
        self.logger.addHandler(self.handler)

    def close(self) -> None:
        self.logger.removeHandler(self.handler)


@pytest.fixture
def access_lines() -> Any:
    lines = AccessLines()
    yield lines
    lines.close()


# ------------------------------------------------------------------ tests


async def test_plain_requests_pass_with_status_headers_and_body(nginx_binary, tmp_path):
    async with proxied(nginx_binary, tmp_path) as (port, _):
        reply = await request(port, "GET", "/hello?x=1", headers=(("X-Test", "t1"),))
        assert reply.status == 200
        assert reply.body == b"GET /hello?x=1 t1"
        assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert reply.headers["Content-Length"] == str(len(reply.body))
        assert reply.headers["X-Backend"] == "llserver"
        assert reply.headers.getall("Set-Cookie") == ["a=1", "b=2"]
        assert reply.headers["Server"].startswith("nginx")  # it really went through nginx
        body = b"x" * 100_000
        reply = await request(port, "PUT", "/upload", body=body)
        assert reply.status == 200
        assert reply.json()["length"] == len(body)
        assert reply.json()["sha256"] == hashlib.sha256(body).hexdigest()


async def test_sequential_requests_reuse_upstream_connections(nginx_binary, tmp_path):
    async with proxied(nginx_binary, tmp_path) as (port, protocols):
        count = 30
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for i in range(count // 2):  # one client connection...
                reply = await request(port, "GET", f"/r{i}", connection=(reader, writer))
                assert (reply.status, reply.body) == (200, f"GET /r{i} None".encode())
        finally:
            writer.close()
        for i in range(count // 2, count):  # ...and a new one for each request
            reply = await request(port, "GET", f"/r{i}")
            assert (reply.status, reply.body) == (200, f"GET /r{i} None".encode())
        served = [proto.requests for proto in protocols]
    assert sum(served) == count
    # nginx keeps its upstream connection open between requests: llserver
    # sees far fewer connections than requests (one, in practice).
    assert len(protocols) < count
    assert len(protocols) <= 2, served
    assert max(served) >= count // 2


@pytest.mark.parametrize(
    "path, upstream_framing",
    [
        ("/upload", "content-length"),  # nginx buffers the body, then sends it with a length
        ("/streaming/upload", "chunked"),  # proxy_request_buffering off: passed on as it comes
    ],
)
async def test_chunked_upload_arrives_whole(nginx_binary, tmp_path, path, upstream_framing):
    rng = random.Random(path)
    body = rng.randbytes(3 * 1024 * 1024 + 17)
    chunks = []
    offset = 0
    while offset < len(body):
        step = rng.choice((1, 7, 4096, 65536, 300_000))
        chunks.append(body[offset : offset + step])
        offset += step
    async with proxied(nginx_binary, tmp_path) as (port, _):
        reply = await request(port, "POST", path, chunks=chunks)
    assert reply.status == 200, reply.body
    seen = reply.json()
    assert seen["length"] == len(body)
    assert seen["sha256"] == hashlib.sha256(body).hexdigest()
    if upstream_framing == "chunked":
        assert seen["transfer_encoding"] == "chunked" and seen["content_length"] is None
    else:
        assert seen["transfer_encoding"] is None and seen["content_length"] == str(len(body))


@pytest.mark.parametrize("path", ["/stream", "/streaming/stream"])
async def test_streamed_response_of_several_mib_arrives_whole(nginx_binary, tmp_path, path):
    size = 6 * 1024 * 1024 + 12345
    async with proxied(nginx_binary, tmp_path) as (port, protocols):
        reply = await request(port, "GET", f"{path}?size={size}", slow_after=512 * 1024)
        finished = [s for proto in protocols for s in proto.finished_streams]
    assert reply.status == 200
    assert reply.headers["Transfer-Encoding"] == "chunked"
    assert len(reply.body) == size
    assert hashlib.sha256(reply.body).hexdigest() == _stream_digest(size)
    assert finished == [size]


@pytest.mark.parametrize(
    "path, buffered",
    [
        ("/stream", True),  # proxy_buffering on: nginx takes it all (temp file)
        ("/streaming/stream", False),  # off: the client's pace reaches the handler
    ],
)
async def test_a_client_that_stops_reading_holds_the_handler_unless_nginx_buffers(nginx_binary, tmp_path, path, buffered):
    """A client reads a streamed response's head, then stops.  Behind a
    buffering nginx the handler still finishes; without buffering its
    writes wait (llserver's drain) until the client reads again, and then
    the whole body arrives."""
    size = 64 * 1024 * 1024 + 5
    async with proxied(nginx_binary, tmp_path) as (port, protocols):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, (HOST, port)), 5)
        reader, writer = await asyncio.open_connection(sock=sock)
        try:
            writer.write(f"GET {path}?size={size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, headers = await asyncio.wait_for(_read_head(reader), REQUEST_TIMEOUT)
            assert status == 200

            def finished() -> bool:
                return any(proto.finished_streams for proto in protocols)

            deadline = loop.time() + (REQUEST_TIMEOUT if buffered else 1.0)
            while not finished() and loop.time() < deadline:
                await asyncio.sleep(0.02)
            written = max(proto.stream_written for proto in protocols)
            if buffered:
                assert finished()
            else:
                assert not finished(), "nothing held the handler back"
                assert written < size // 2, written

            async def rest() -> Tuple[int, str]:
                digest = hashlib.sha256()
                length = 0
                async for chunk in _chunks(reader):
                    digest.update(chunk)
                    length += len(chunk)
                return length, digest.hexdigest()

            assert headers["Transfer-Encoding"] == "chunked"
            length, digest = await asyncio.wait_for(rest(), REQUEST_TIMEOUT)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    assert (length, digest) == (size, _stream_digest(size))
    assert finished()


SPOOF = (("X-Forwarded-For", "203.0.113.7"), ("Forwarded", "for=192.0.2.99"))


@pytest.mark.parametrize(
    "trusted, client",
    [
        # The client (127.0.0.1, nginx's address too) is itself trusted, so
        # the address it forwards is believed: the walk goes past it.
        (["127.0.0.1"], "203.0.113.7"),
        # nginx is not trusted: its headers are not believed.
        (["10.0.0.0/8"], "127.0.0.1"),
        # Off: the peer.
        (None, "127.0.0.1"),
    ],
)
async def test_forwarding_headers_reach_the_handler(
    nginx_binary, tmp_path, access_lines, trusted, client
):
    def factory() -> Upstream:
        return Upstream(
            trusted_proxies=trusted,
            forwarded_trust=TrustedProxies(["127.0.0.1"], header="Forwarded"),
            access_log=access_lines.logger,
            access_log_format="%a %s",
        )

    async with proxied(nginx_binary, tmp_path, factory) as (port, _):
        seen = (await request(port, "GET", "/who", headers=SPOOF)).json()
    # nginx appended the address it saw to X-Forwarded-For and replaced the
    # client's Forwarded with its own element.
    assert seen["x_forwarded_for"] == ["203.0.113.7, 127.0.0.1"]
    assert seen["forwarded"] == ["for=127.0.0.1;proto=http"]
    assert seen["by_forwarded"] == "127.0.0.1"
    assert seen["peer"] == "127.0.0.1"
    assert seen["client"] == client
    assert [line.getMessage() for line in access_lines] == [f"{client} 200"]


def _loopback_alias_usable() -> bool:
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.2", 0))
    except OSError:
        return False
    return True


async def test_original_client_address_behind_nginx(nginx_binary, tmp_path, access_lines):
    """nginx connects to llserver from 127.0.0.2 (``proxy_bind``), the
    client reaches nginx from 127.0.0.1: trusting nginx's address alone
    yields the client's, whatever the client put in the headers."""
    if not _loopback_alias_usable():
        pytest.skip("127.0.0.2 is not a usable loopback address here")

    def factory() -> Upstream:
        return Upstream(
            trusted_proxies=["127.0.0.2"],
            forwarded_trust=TrustedProxies(["127.0.0.2"], header="Forwarded"),
            access_log=access_lines.logger,
            access_log_format="%a %s",
        )

    async with proxied(nginx_binary, tmp_path, factory, bind="127.0.0.2") as (port, _):
        seen = (await request(port, "GET", "/who", headers=SPOOF)).json()
        plain = (await request(port, "GET", "/who")).json()
    assert seen["peer"] == "127.0.0.2"
    assert seen["x_forwarded_for"] == ["203.0.113.7, 127.0.0.1"]  # the spoof is there...
    assert seen["client"] == "127.0.0.1"  # ...and ignored
    assert seen["by_forwarded"] == "127.0.0.1"
    assert plain["x_forwarded_for"] == ["127.0.0.1"]
    assert plain["client"] == plain["by_forwarded"] == "127.0.0.1"
    assert [line.getMessage() for line in access_lines] == ["127.0.0.1 200"] * 2
