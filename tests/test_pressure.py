"""Clients that push or stall: memory stays bounded (issue #5).

A client that never reads a large response, and a client that floods the
connection with pipelined requests without reading the answers, each on
127.0.0.1, each bounded in time and size."""

from __future__ import annotations

import asyncio
import socket

from conftest import running_server

import llserver.server
from llserver import Response

CHUNK = b"x" * 65536


class BigStream(llserver.server.ServerHttpProtocol):
    """Streams 64 MiB, awaiting the writer's back-pressure as it goes."""

    instances: list = []

    def connection_made(self, transport):
        BigStream.instances.append(self)
        super().connection_made(transport)

    async def handle_request(self, message, payload):
        response = Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Length", str(1024 * len(CHUNK)))
        response.send_headers()
        for _ in range(1024):
            await response.write(CHUNK, drain=True)
        await response.write_eof()


async def test_a_client_that_never_reads_does_not_grow_server_memory():
    BigStream.instances.clear()
    async with running_server(BigStream) as (_, port):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        peak = 0
        for _ in range(20):  # 1 s of a client that reads nothing
            await asyncio.sleep(0.05)
            proto = BigStream.instances[0]
            if proto.transport is not None:
                peak = max(peak, proto.transport.get_write_buffer_size())
        sock.close()
        await asyncio.sleep(0.2)
    # asyncio's high-water mark is 64 KiB; allow one drain window above it
    assert 0 < peak <= 512 * 1024, peak


class Quick(llserver.server.ServerHttpProtocol):
    instances: list = []

    def connection_made(self, transport):
        Quick.instances.append(self)
        super().connection_made(transport)

    peak_queue = 0

    def _absorb(self, events):
        super()._absorb(events)
        self.peak_queue = max(self.peak_queue, len(self._queue))

    async def handle_request(self, message, payload):
        response = Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Length", str(len(BODY)))
        response.send_headers()
        response.write(BODY)
        await response.write_eof()  # waits while the transport is paused


BODY = b"y" * 16384


async def test_a_pipelined_flood_without_reading_stays_bounded():
    Quick.instances.clear()
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    async with running_server(Quick) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peak_queue = 0
        paused_seen = False
        sent = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        # Send up to 20,000 requests and never read the 16 KiB answers: once
        # the answers back up, the server must stop reading instead of
        # queueing requests (or answers) without bound.
        while sent < 20000 and loop.time() < deadline:
            writer.write(request * 500)
            sent += 500
            try:
                await asyncio.wait_for(writer.drain(), 0.2)
            except asyncio.TimeoutError:
                pass  # the server stopped reading: that is the point
            proto = Quick.instances[0]
            peak_queue = max(peak_queue, len(proto._queue))
            paused_seen = paused_seen or bool(proto._pause)
        await asyncio.sleep(0.5)  # let the server run into its bounds
        proto = Quick.instances[0]
        peak_queue = max(peak_queue, len(proto._queue))
        paused_seen = paused_seen or bool(proto._pause)
        out_buffer = proto.transport.get_write_buffer_size() if proto.transport else 0
        writer.close()
    assert paused_seen  # the server stopped reading
    # Queued requests are bounded by max_pipelined (the parser holds back
    # the rest of a read), not by what one socket read holds (asyncio reads
    # up to 256 KiB: ~9,000 of these requests) nor by what the client sends.
    assert max(peak_queue, proto.peak_queue) <= 2 * proto._max_pipelined
    assert out_buffer <= 4 * 1024 * 1024
