"""Serving a protocol factory: inside a running loop (start_server/serve),
as a whole program (run, python -m llserver), plain and with TLS, and the
graceful shutdown that closes idle connections and finishes running ones."""

from __future__ import annotations

import ast
import asyncio
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

import llserver
from llserver import Response
from llserver.server import ServerHttpProtocol


class Hello(ServerHttpProtocol):
    async def handle_request(self, message, payload):
        if message.path == "/slow":
            await asyncio.sleep(0.3)
        response = Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Length", "5")
        response.send_headers()
        response.write(b"hello")
        await response.write_eof()


async def get(port: int, path: str = "/", ssl_ctx=None) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_ctx)
    writer.write(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


async def test_start_server_in_a_running_loop_and_shutdown():
    server = await llserver.start_server(Hello, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    assert (await get(port)).endswith(b"hello")
    # an idle keep-alive connection is closed by the shutdown
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"hello"), 5)
    start = time.monotonic()
    await asyncio.wait_for(llserver.shutdown(server, timeout=5), 10)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert time.monotonic() - start < 1
    writer.close()


async def test_shutdown_lets_a_running_request_finish():
    server = await llserver.start_server(Hello, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pending = asyncio.ensure_future(get(port, "/slow"))
    await asyncio.sleep(0.1)  # the handler is sleeping now
    await asyncio.wait_for(llserver.shutdown(server, timeout=5), 10)
    data = await pending
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"hello")


async def test_serve_with_tls_until_cancelled(server_ssl_context, certificate):
    ready = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(
        llserver.serve(Hello, "127.0.0.1", 0, ssl=server_ssl_context, ready=ready.set_result)
    )
    server = await asyncio.wait_for(ready, 5)
    port = server.sockets[0].getsockname()[1]
    client_ctx = ssl.create_default_context(cafile=certificate[0])
    assert (await get(port, ssl_ctx=client_ctx)).endswith(b"hello")
    task.cancel()
    try:
        await asyncio.wait_for(task, 10)
    except asyncio.CancelledError:
        pass
    assert not server.is_serving()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_python_m_llserver_serves_the_demo_and_stops_gracefully_on_a_signal(sig):
    pkg_parent = str(Path(llserver.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=pkg_parent, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llserver", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd="/",
    )
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("serving on"), line + proc.stderr.read().decode()
        port = ast.literal_eval(line[len("serving on") :].strip())[1]
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"<h1>It Works!</h1>"
        conn.close()
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
