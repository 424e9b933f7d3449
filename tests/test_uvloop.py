"""The same server under uvloop (api-spec: old code must run with uvloop):
plain and TLS, keep-alive and pipelining, bodies, errors."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from conftest import exchange, running_server, split_responses

import llserver.server
from llserver import Response

uvloop = pytest.importorskip("uvloop")


class Echo(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        body = await payload.read()
        response = Response(self.writer, 200, http_version=message.version)
        out = message.path.encode() + b":" + body
        response.add_header("Content-Length", str(len(out)))
        response.send_headers()
        response.write(out)
        await response.write_eof()


def run_in_uvloop(coro_fn):
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(coro_fn(), 30))
    finally:
        loop.close()


def test_pipelined_keep_alive_and_bodies_under_uvloop():
    async def scenario():
        async with running_server(Echo) as (_, port):
            return await exchange(
                port,
                b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n",
            )

    data, _ = run_in_uvloop(scenario)
    assert [body for _, body in split_responses(data)] == [b"/a:", b"/b:abc", b"/c:de"]


def test_malformed_request_under_uvloop_is_400_and_closed():
    async def scenario():
        async with running_server(Echo) as (_, port):
            return await exchange(port, b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")

    data, closed = run_in_uvloop(scenario)
    assert data.startswith(b"HTTP/1.1 400 Bad Request") and closed


def test_tls_under_uvloop(server_ssl_context, certificate):
    async def scenario():
        async with running_server(Echo, ssl_context=server_ssl_context) as (host, port):
            ctx = ssl.create_default_context(cafile=certificate[0])
            reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
            writer.write(b"GET /tls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await reader.read()
            writer.close()
            return data

    data = run_in_uvloop(scenario)
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"/tls:")
