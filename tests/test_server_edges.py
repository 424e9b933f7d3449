"""Upgrade/CONNECT hand-off, legacy handler styles and the server's own
policies (announced close, 100-continue rules, inflate limit), through real
sockets."""

from __future__ import annotations

import asyncio
import gzip
import platform
import zlib

import pytest
from conftest import exchange, running_server, split_responses

import llserver.server
from llserver import Response, errors


async def answer(proto, message, body: bytes, status: int = 200) -> None:
    response = Response(proto.writer, status, http_version=message.version)
    response.add_header("Content-Length", str(len(body)))
    response.send_headers()
    response.write(body)
    await response.write_eof()


class BodyEcho(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        data = await payload.read()
        await answer(self, message, b"%s:%s" % (message.path.encode(), data))


async def test_declined_upgrade_is_answered_and_http_continues_with_the_next_request():
    async with running_server(BodyEcho) as (_, port):
        data, _ = await exchange(
            port,
            b"GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
            b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n",
        )
    bodies = [body for _, body in split_responses(data)]
    assert bodies == [b"/up:", b"/next:"]


class Tunnel(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        assert message.method == "CONNECT"
        self.writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        chunk = await payload.readexactly(5)
        self.writer.write(chunk.upper())
        await self.writer.drain()


async def test_connect_tunnel_bytes_reach_the_handler_through_the_payload():
    async with running_server(Tunnel) as (_, port):
        data, closed = await exchange(
            port, pieces=[b"CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\nhel", b"lo"], delay=0.05
        )
    assert data == b"HTTP/1.1 200 Connection Established\r\n\r\nHELLO"
    assert closed


class Switch(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        response = Response(self.writer, 101, http_version=message.version)
        response.add_header("Upgrade", "custom")
        response.send_headers()
        await response.write_eof()


async def test_101_response_ends_http_on_the_connection():
    async with running_server(Switch) as (_, port):
        data, closed = await exchange(
            port,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: custom\r\n\r\n"
            b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n",
        )
    assert data.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Upgrade: custom" in data and data.count(b"HTTP/1.1") == 1
    assert closed


async def test_no_100_continue_for_http10_clients():
    async with running_server(BodyEcho) as (_, port):
        data, _ = await exchange(
            port,
            pieces=[b"POST /p HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", b"abc"],
            delay=0.2,
        )
    assert b"100 Continue" not in data
    assert data.startswith(b"HTTP/1.0 200 OK") and data.endswith(b"/p:abc")


async def test_no_100_continue_when_the_handler_answers_without_reading():
    class Ignore(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            await answer(self, message, b"no thanks", 413)

    async with running_server(Ignore) as (_, port):
        data, closed = await exchange(
            port, b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
        )
    assert data.startswith(b"HTTP/1.1 413") and b"100 Continue" not in data
    assert closed  # the body never came: the connection cannot be reused


class Legacy(llserver.server.ServerHttpProtocol):
    def handle_request(self, message, payload):  # a generator, no decorator
        data = yield from payload.read()
        yield from asyncio.sleep(0)
        yield from answer(self, message, b"legacy:" + data)


async def test_undecorated_generator_handler_runs():
    async with running_server(Legacy) as (_, port):
        data, _ = await exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    assert data.endswith(b"legacy:hi")


class StrayCancel(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        if message.path == "/cancel":
            raise asyncio.CancelledError()
        raise errors.ClientDisconnectedError()


async def test_handler_raising_cancelled_error_itself_gets_a_500():
    async with running_server(StrayCancel) as (_, port):
        data, closed = await exchange(port, b"GET /cancel HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 500") and closed


async def test_handler_raising_disconnect_while_connected_gets_a_500():
    async with running_server(StrayCancel) as (_, port):
        data, closed = await exchange(port, b"GET /dc HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 500") and closed


async def test_keep_alive_disabled_announces_connection_close():
    async with running_server(lambda: BodyEcho(keepalive_timeout=0)) as (_, port):
        data, closed = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"\r\nConnection: close\r\n" in data and closed


async def test_gzip_bomb_is_refused_with_413_by_default():
    bomb = gzip.compress(b"\0" * (llserver.server.DEFAULT_MAX_INFLATED_SIZE + 1024 * 1024), 9)

    class Reader(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            await payload.read()
            await answer(self, message, b"read it all")

    async with running_server(Reader) as (_, port):
        data, closed = await exchange(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
            % len(bomb)
            + bomb,
            idle=15,  # the handler reads 64 MiB first, inflated as it reads
            total=30,
        )
    assert data.startswith(b"HTTP/1.1 413") and closed


async def test_zlib_wrapped_and_raw_deflate_bodies_are_both_decoded():
    for body in (zlib.compress(b"payload"), zlib.compress(b"payload")[2:-4]):
        async with running_server(BodyEcho) as (_, port):
            data, _ = await exchange(
                port,
                b"POST /d HTTP/1.1\r\nHost: x\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n"
                % len(body)
                + body,
            )
        assert data.endswith(b"/d:payload"), data


async def test_raw_transport_writes_never_overtake_the_response():
    class Mixed(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            response = Response(self.writer, 200, http_version=message.version)
            response.add_header("Content-Length", "6")
            response.send_headers()
            response.write(b"abc")
            self.transport.write(b"def")  # 1.1 code wrote raw bytes like this
            await response.write_eof()

    async with running_server(Mixed) as (_, port):
        data, _ = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.endswith(b"\r\n\r\nabcdef")


async def test_shutdown_during_a_request_announces_close():
    started = asyncio.Event()
    protos = []

    class Slow(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            protos.append(self)
            started.set()
            await asyncio.sleep(0.2)
            await answer(self, message, b"done")

    async with running_server(Slow) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(started.wait(), 3)
        await asyncio.wait_for(protos[0].shutdown(timeout=2), 5)
        data = await asyncio.wait_for(reader.read(), 3)
        writer.close()
    assert data.startswith(b"HTTP/1.1 200 OK") and b"\r\nConnection: close\r\n" in data
    assert data.endswith(b"done")


class EchoAfterSwitch(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        response = Response(self.writer, 101, http_version=message.version)
        response.add_header("Upgrade", "echo")
        response.send_headers()
        await response.write_eof()
        data = await payload.readexactly(4)
        self.writer.write(data[::-1])
        await self.writer.drain()


async def test_after_101_the_payload_carries_the_new_protocol():
    async with running_server(EchoAfterSwitch) as (_, port):
        data, closed = await exchange(
            port,
            pieces=[b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nab", b"cd"],
            delay=0.1,
        )
    assert data.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert data.endswith(b"\r\n\r\ndcba") and closed


async def test_upgrade_request_body_read_is_empty_when_the_handler_does_not_switch():
    async with running_server(BodyEcho) as (_, port):
        data, _ = await asyncio.wait_for(
            exchange(
                port,
                b"GET /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
            ),
            10,
        )
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"/h2c:")


async def test_keep_alive_false_before_the_head_announces_close():
    class Closer(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            self.keep_alive(False)
            await answer(self, message, b"bye")

    async with running_server(Closer) as (_, port):
        data, closed = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"\r\nConnection: close\r\n" in data and data.endswith(b"bye") and closed


class Refuse(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        await answer(self, message, b"too big" * 100, 413)


async def unread_body_exchange(factory):
    """Send a head and part of a 4 MiB body the handler never reads, read the
    response to its end, then keep sending the body.  Returns the response
    and the error the late sends met (None if none)."""
    async with running_server(factory) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n")
        writer.write(b"x" * 65536)
        await writer.drain()
        received = await asyncio.wait_for(reader.read(), 10)  # to the server's FIN
        error = None
        try:
            for _ in range(8):
                writer.write(b"x" * 65536)
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionError, OSError) as exc:
            error = exc
        writer.close()
    return received, error


async def test_after_refusing_an_unread_body_the_server_lingers():
    """Lingering close (RFC 9112 §9.6): the response ends with a half-close
    and the server keeps draining what the client still sends, instead of
    resetting the connection (a reset can destroy a response in flight)."""
    received, error = await unread_body_exchange(Refuse)
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert rest == b"too big" * 100
    assert error is None


async def test_without_lingering_late_sends_are_reset():
    """The control experiment for the test above (lingering_time=0)."""
    received, error = await unread_body_exchange(lambda: Refuse(lingering_time=0))
    assert received.startswith(b"HTTP/1.1 413")
    assert isinstance(error, (ConnectionResetError, BrokenPipeError))


async def test_lingering_ends_when_the_client_closes_its_side():
    async with running_server(Refuse) as (_, port):
        loop = asyncio.get_running_loop()
        start = loop.time()
        data, closed = await exchange(
            port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", half_close=True, idle=3
        )
        elapsed = loop.time() - start
    assert data.startswith(b"HTTP/1.1 413") and closed
    assert elapsed < 1.5  # not the 2 s lingering bound


async def test_a_head_trickled_byte_by_byte_is_cut_off_at_the_header_timeout():
    """Slowloris: the head must be complete within header_timeout of its
    first byte, even though bytes keep arriving."""
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100

    async with running_server(lambda: BodyEcho(header_timeout=0.5)) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        start = loop.time()
        closed_after = None
        for byte in head:
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except (ConnectionError, OSError):
                break
            await asyncio.sleep(0.05)
            if reader.at_eof() or (await _peek_closed(reader)):
                closed_after = loop.time() - start
                break
        writer.close()
    assert closed_after is not None and 0.4 <= closed_after <= 1.5


@pytest.mark.parametrize("handler_waits", [False, True])
async def test_a_partial_head_behind_a_served_request_gets_the_header_timeout(handler_waits):
    """A complete request and the start of the next one in one segment: once
    the first is answered, the partial head must still be cut off at
    header_timeout, not left the (longer) idle keep-alive time."""

    class Maybe(BodyEcho):
        async def handle_request(self, message, payload):
            if handler_waits:
                await asyncio.sleep(0.01)
            await super().handle_request(message, payload)

    factory = lambda: Maybe(header_timeout=0.4, keepalive_timeout=30)  # noqa: E731
    async with running_server(factory) as (_, port):
        loop = asyncio.get_running_loop()
        start = loop.time()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHo")
        data = await asyncio.wait_for(reader.read(), 5)
        elapsed = loop.time() - start
        writer.close()
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"/first:")
    assert elapsed < 2.5


async def _peek_closed(reader) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(1), 0.001)
    except asyncio.TimeoutError:
        return False
    except ConnectionError:
        return True
    return data == b""


async def test_a_complete_request_after_an_idle_wait_is_served():
    async with running_server(lambda: BodyEcho(header_timeout=0.3, keepalive_timeout=5)) as (_, port):
        data, _ = await exchange(
            port, pieces=[b"", b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n"], delay=0.6
        )
    assert data.endswith(b"/late:")


async def test_body_known_broken_at_dispatch_is_answered_without_the_handler():
    called = []

    class NoRead(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            called.append(message.path)
            await answer(self, message, b"ok")

    async with running_server(NoRead) as (_, port):
        data, closed = await exchange(
            port,
            b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
            b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        )
    assert data.startswith(b"HTTP/1.1 400 Bad Request") and closed
    assert called == [] and b"ok" not in data


async def test_a_body_that_stops_arriving_is_cut_off_at_the_body_timeout():
    async with running_server(lambda: BodyEcho(body_timeout=0.3)) as (_, port):
        loop = asyncio.get_running_loop()
        start = loop.time()
        data, closed = await exchange(
            port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", idle=3
        )
        elapsed = loop.time() - start
    assert data == b"" and closed  # silently, like every server timeout
    assert elapsed < 2


async def test_a_slow_but_steady_body_is_not_cut_off():
    async with running_server(lambda: BodyEcho(body_timeout=0.3)) as (_, port):
        data, _ = await exchange(
            port,
            pieces=[b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n", b"a", b"b", b"c", b"d"],
            delay=0.2,
        )
    assert data.endswith(b"/s:abcd")


async def test_a_reset_client_leaves_no_send_warnings_behind(caplog):
    import socket
    import struct

    async with running_server(BodyEcho) as (_, port):
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 64)
            # close with a reset (SO_LINGER 0) while answers are on their way
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        await asyncio.sleep(0.5)
    assert not [r for r in caplog.records if "socket.send() raised exception" in r.getMessage()]


@pytest.mark.skipif(
    platform.python_implementation() != "CPython",
    reason="PyPy frees every object through its GC; reference counting is CPython's",
)
async def test_a_finished_connection_is_freed_without_the_cycle_collector():
    import gc
    import weakref

    refs = []

    class Tracked(BodyEcho):
        def connection_made(self, transport):
            refs.append(weakref.ref(self))
            super().connection_made(transport)

    # loop.create_server directly: the running_server fixture keeps its
    # protocols in a list.
    server = await asyncio.get_running_loop().create_server(Tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gc.collect()
    gc.disable()
    try:
        await exchange(port, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await asyncio.sleep(0.2)
        alive = [r for r in refs if r() is not None]
    finally:
        gc.enable()
        server.close()
        await server.wait_closed()
    assert refs and not alive


async def test_connect_with_a_content_length_still_tunnels():
    """RFC 9110 §9.3.6: CONNECT has no content, whatever Content-Length says
    (found by the fuzzer: the tunnel bytes once met an ended body stream)."""
    async with running_server(Tunnel) as (_, port):
        data, _ = await exchange(
            port, b"CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\nContent-Length: 4\r\n\r\nhello"
        )
    assert data == b"HTTP/1.1 200 Connection Established\r\n\r\nHELLO"


# ------------------------------------------- handlers started from data_received
# Requests that arrive while the connection is idle are started straight from
# data_received (no task wake-up); these pin down that a handler cannot tell.


async def test_a_handler_runs_as_the_connection_task_from_its_first_step():
    seen = []

    class TaskAware(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            task = asyncio.current_task()
            seen.append(task)
            # asyncio.wait_for needs a current task on 3.12+ (it uses timeout()).
            data = await asyncio.wait_for(payload.read(), 5)
            if hasattr(asyncio, "timeout"):  # 3.11+
                async with asyncio.timeout(5):
                    await asyncio.sleep(0)
            assert asyncio.current_task() is task
            await answer(self, message, b"%s:%s" % (message.path.encode(), data))

    async with running_server(TaskAware) as (_, port):
        data, _ = await exchange(
            port,
            pieces=[
                b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
            ],
            delay=0.1,
        )
    assert [body for _, body in split_responses(data)] == [b"/a:", b"/b:hi"]
    assert len(seen) == 2 and seen[0] is not None and seen[0] is seen[1]
    assert isinstance(seen[0], asyncio.Task)


async def test_asyncio_timeout_in_a_first_step_cancels_the_handler_not_the_connection():
    if not hasattr(asyncio, "timeout"):
        pytest.skip("asyncio.timeout is 3.11+")

    class Times(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            try:
                async with asyncio.timeout(0.05):
                    await asyncio.sleep(5)
            except TimeoutError:
                await answer(self, message, b"timed out")

    async with running_server(Times) as (_, port):
        data, _ = await exchange(
            port, b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
    assert [body for _, body in split_responses(data)] == [b"timed out", b"timed out"]


async def test_a_first_step_that_raises_gets_a_500_and_others_are_still_served():
    class Raises(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            if message.path == "/bad":
                raise ValueError("boom")
            await answer(self, message, b"fine")

    async with running_server(Raises) as (_, port):
        bad, closed = await exchange(
            port, b"GET /bad HTTP/1.1\r\nHost: x\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        good, _ = await exchange(port, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 500") and closed and b"fine" not in bad
    assert good.startswith(b"HTTP/1.1 200") and good.endswith(b"fine")


async def test_pipelined_requests_mixing_sync_and_waiting_handlers_are_answered_in_order():
    class Mixed(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            number = int(message.path[1:])
            if number % 3 == 0:
                await asyncio.sleep(0.002)
            await answer(self, message, message.path.encode())

    requests = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(40))
    async with running_server(Mixed) as (_, port):
        data, _ = await exchange(port, pieces=[requests[:333], requests[333:]], delay=0.01)
    assert [body for _, body in split_responses(data)] == [b"/%d" % i for i in range(40)]


async def test_responses_to_one_segment_of_pipelined_requests_leave_in_one_write():
    """Handlers that finish without waiting: their responses gather and
    leave together (one transport.write for the whole segment)."""
    writes = []

    class Counting(llserver.server.ServerHttpProtocol):
        def connection_made(self, transport):
            original = transport.write

            def write(data):
                writes.append(len(data))
                original(data)

            transport.write = write
            super().connection_made(transport)

        async def handle_request(self, message, payload):
            await answer(self, message, b"x")

    requests = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(16))
    async with running_server(Counting) as (_, port):
        data, _ = await exchange(port, requests)
    assert len(split_responses(data)) == 16
    assert len(writes) == 1


@pytest.mark.parametrize("handler_waits", [False, True])
async def test_a_long_pipeline_then_half_close_is_answered_whole(handler_waits):
    """More requests in one segment than max_pipelined, then the client
    half-closes: the parser holds the rest back and the end of input waits
    for it, so every request is answered, in order, and nothing more."""

    class Echo(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            if handler_waits:
                await asyncio.sleep(0)
            body = await payload.read()
            await answer(self, message, message.path.encode() + body)

    requests = b"".join(
        b"POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n%d" % (i, i % 10) for i in range(100)
    )
    requests += b"GET /cut HTTP/1.1\r\nHost"  # a head cut by the end of input
    async with running_server(lambda: Echo(max_pipelined=4)) as (_, port):
        data, closed = await exchange(port, requests, half_close=True)
    assert [body for _, body in split_responses(data)] == [
        b"/%d%d" % (i, i % 10) for i in range(100)
    ]
    assert closed


async def test_a_handler_that_closes_the_connection_then_waits_still_answers():
    """closing() from a handler's first step, then an await: the handler was
    started from data_received and goes on in the connection's task, which
    must finish it (and announce the close) although closing is now set."""

    class CloseThenWait(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            self.closing()
            await asyncio.sleep(0.01)
            await answer(self, message, b"last")

    async with running_server(CloseThenWait) as (_, port):
        data, closed = await exchange(
            port, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        )
    assert data.startswith(b"HTTP/1.1 200 OK") and b"\r\nConnection: close\r\n" in data
    assert data.endswith(b"last") and data.count(b"HTTP/1.1") == 1 and closed
