"""Shared fixtures: real servers on 127.0.0.1 and real clients.

Every server binds loopback on an ephemeral port, every wait is bounded,
and every helper stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from typing import Any, AsyncIterator, Callable, Optional, Tuple

import pytest

HOST = "127.0.0.1"


@contextlib.asynccontextmanager
async def running_server(
    factory: Callable[[], asyncio.Protocol], *, ssl_context: Optional[ssl.SSLContext] = None
) -> AsyncIterator[Tuple[str, int]]:
    """Serve ``factory`` on 127.0.0.1:<ephemeral>; yield ``(host, port)``."""
    loop = asyncio.get_running_loop()
    protocols: list = []

    def tracked() -> asyncio.Protocol:
        proto = factory()
        protocols.append(proto)
        return proto

    server = await loop.create_server(tracked, HOST, 0, ssl=ssl_context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield HOST, port
    finally:
        server.close()
        for proto in protocols:
            transport = getattr(proto, "transport", None)
            if transport is not None:
                transport.close()
        await asyncio.wait_for(server.wait_closed(), 5)
        await asyncio.sleep(0)


async def exchange(
    port: int,
    data: bytes = b"",
    *,
    pieces: Optional[list] = None,
    delay: float = 0.0,
    half_close: bool = False,
    idle: float = 1.0,
    total: float = 5.0,
) -> Tuple[bytes, bool]:
    """Send raw bytes, read until the server closes or stays quiet for
    ``idle`` seconds.  Returns ``(received, closed_by_server)``."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), total)
    try:
        for piece in pieces if pieces is not None else [data]:
            writer.write(piece)
            await writer.drain()
            if delay:
                await asyncio.sleep(delay)
        if half_close:
            writer.write_eof()
        received = bytearray()
        deadline = asyncio.get_running_loop().time() + total
        closed = False
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(reader.read(65536), min(idle, left))
            except asyncio.TimeoutError:
                break
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
        return bytes(received), closed
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def split_responses(data: bytes) -> list:
    """Split a byte stream of Content-Length-framed responses (test helper)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            out.append((head, b""))
            break
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        out.append((head, rest[:length]))
        data = rest[length:]
    return out


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: Any) -> Tuple[str, str]:
    """A throwaway self-signed certificate for 127.0.0.1, made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def server_ssl_context(certificate: Tuple[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*certificate)
    return ctx
