"""StreamWriter: pass-through writes, flow control, coalescing, TCP options,
and the awaitables that write()/drain() hand out."""

from __future__ import annotations

import asyncio
import gc
import inspect
import socket
import ssl
import types
import warnings
from unittest import mock

import pytest

from llserver._awaitables import DONE, Failed, Waiter
from llserver.writer import CORK_LIMIT, StreamWriter


@pytest.fixture
def tls_contexts(certificate, server_ssl_context):
    """Server and client TLS contexts around conftest's throwaway certificate."""
    client_ctx = ssl.create_default_context(cafile=certificate[0])
    return server_ssl_context, client_ctx


class FakeTransport:
    """Records each write call as one element of ``writes``."""

    def __init__(self, sock=None):
        self.writes = []
        self.sock = sock
        self.eof = False
        self.closed = False

    def write(self, data):
        self.writes.append(bytes(data))

    def writelines(self, data):
        self.writes.append(b"".join(data))

    def get_extra_info(self, name, default=None):
        return {"socket": self.sock, "peername": ("127.0.0.1", 1234)}.get(name, default)

    def can_write_eof(self):
        return True

    def write_eof(self):
        self.eof = True

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed


def make_writer(sock=None, loop=None, reader=None):
    transport = FakeTransport(sock)
    return StreamWriter(transport, mock.Mock(), reader, loop), transport


# ----------------------------------------------------------------- awaitables


async def test_done_is_awaitable_and_returns_none():
    assert inspect.isawaitable(DONE)
    assert await DONE is None


def test_done_compares_equal_to_the_empty_tuple_that_1_1_returned():
    assert DONE == ()
    assert not DONE
    assert list(DONE) == []


async def test_done_works_with_yield_from_in_a_legacy_generator_coroutine():
    @types.coroutine
    def legacy():
        result = yield from DONE
        return ("finished", result)

    assert await legacy() == ("finished", None)


async def test_done_can_be_wrapped_by_ensure_future_and_gather():
    assert await asyncio.ensure_future(DONE) is None
    assert await asyncio.gather(DONE, DONE) == [None, None]


async def test_failed_raises_only_when_awaited():
    failed = Failed(ConnectionResetError("gone"))
    with pytest.raises(ConnectionResetError, match="gone"):
        await failed

    @types.coroutine
    def legacy():
        yield from Failed(ValueError("x"))

    with pytest.raises(ValueError):
        await legacy()


async def test_waiter_completes_when_its_future_does():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    waiter = Waiter(fut)
    loop.call_soon(fut.set_result, None)
    assert await waiter is None
    assert waiter.done()


async def test_waiter_runs_its_check_after_wakeup():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fut.set_result(None)

    def check():
        raise ConnectionResetError("late")

    with pytest.raises(ConnectionResetError, match="late"):
        await Waiter(fut, check)


def _collect_warnings(func):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        func()
        gc.collect()
        gc.collect()
    return [
        w
        for w in caught
        if "never awaited" in str(w.message) or "never retrieved" in str(w.message)
    ]


async def test_dropped_awaitables_emit_no_warning():
    loop = asyncio.get_running_loop()

    def drop_all():
        DONE  # noqa: B018
        Failed(ConnectionResetError())
        Waiter(loop.create_future())

    assert _collect_warnings(drop_all) == []


# -------------------------------------------------------------- pass-through


def test_write_hands_data_to_the_transport_unchanged():
    writer, transport = make_writer()
    writer.write(b"abc")
    writer.write(memoryview(b"def"))
    assert transport.writes == [b"abc", b"def"]


def test_writelines_goes_to_transport_writelines():
    writer, transport = make_writer()
    writer.writelines([b"a", b"b"])
    assert transport.writes == [b"ab"]


def test_transport_and_extra_info_come_from_the_transport():
    writer, transport = make_writer()
    assert writer.transport is transport
    assert writer.get_extra_info("peername") == ("127.0.0.1", 1234)
    assert writer.get_extra_info("nothing", "dflt") == "dflt"
    assert writer.can_write_eof() is True


def test_write_eof_and_close_reach_the_transport():
    writer, transport = make_writer()
    writer.write_eof()
    assert transport.eof
    assert not writer.is_closing()
    writer.close()
    assert transport.closed
    assert writer.is_closing()


def test_per_request_context_defaults():
    writer, _ = make_writer()
    assert writer.request_method is None
    assert writer.request_version is None
    assert writer.request_should_close is False
    assert writer.response is None


# --------------------------------------------------------------- flow control


async def test_drain_returns_the_shared_done_object_when_not_paused():
    writer, _ = make_writer()
    assert writer.drain() is DONE
    await writer.drain()


async def test_drain_waits_until_resume_writing():
    writer, _ = make_writer()
    writer.pause_writing()
    waiter = writer.drain()
    task = asyncio.ensure_future(_await(waiter))
    await asyncio.sleep(0.01)
    assert not task.done()
    writer.resume_writing()
    await asyncio.wait_for(task, 1)
    assert writer.drain() is DONE


async def _await(awaitable):
    return await awaitable


async def test_drain_while_paused_works_with_yield_from():
    writer, _ = make_writer()
    writer.pause_writing()

    @types.coroutine
    def legacy():
        yield from writer.drain()
        return "resumed"

    task = asyncio.ensure_future(legacy())
    await asyncio.sleep(0)
    writer.resume_writing()
    assert await asyncio.wait_for(task, 1) == "resumed"


async def test_cancelling_one_drainer_does_not_cancel_another():
    writer, _ = make_writer()
    writer.pause_writing()
    first = asyncio.ensure_future(_await(writer.drain()))
    second = asyncio.ensure_future(_await(writer.drain()))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    writer.resume_writing()
    await asyncio.wait_for(second, 1)
    assert first.cancelled()
    assert second.result() is None


async def test_drain_after_connection_lost_raises_connection_reset():
    writer, _ = make_writer()
    writer.connection_lost(None)
    result = writer.drain()  # creating it raises nothing
    with pytest.raises(ConnectionResetError, match="Connection lost"):
        await result


async def test_drain_after_connection_lost_with_error_raises_that_error():
    writer, _ = make_writer()
    err = OSError("boom")
    writer.connection_lost(err)
    with pytest.raises(OSError, match="boom"):
        await writer.drain()


async def test_drain_prefers_the_readers_stored_exception():
    reader = mock.Mock()
    reader.exception.return_value = RuntimeError("reader says")
    writer, _ = make_writer(reader=reader)
    writer.connection_lost(None)
    with pytest.raises(RuntimeError, match="reader says"):
        await writer.drain()


async def test_paused_drainer_gets_connection_reset_when_connection_is_lost():
    writer, _ = make_writer()
    writer.pause_writing()
    task = asyncio.ensure_future(_await(writer.drain()))
    await asyncio.sleep(0)
    writer.connection_lost(None)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(task, 1)


async def test_dropped_drain_results_warn_and_log_nothing():
    loop = asyncio.get_running_loop()
    errors = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    try:
        writer, _ = make_writer()

        def drop():
            writer.pause_writing()
            writer.drain()
            writer.drain()
            writer.connection_lost(ConnectionResetError("x"))
            writer.drain()

        assert _collect_warnings(drop) == []
        await asyncio.sleep(0)
        gc.collect()
        assert errors == []
    finally:
        loop.set_exception_handler(None)


# ------------------------------------------------------------------ coalescing


async def test_corked_writes_leave_in_one_transport_write_at_uncork():
    writer, transport = make_writer()
    writer.cork()
    assert writer.corked
    writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
    writer.write(b"body")
    writer.write(b"")
    assert transport.writes == []
    writer.uncork()
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    assert not writer.corked
    writer.write(b"x")
    assert transport.writes[-1] == b"x"


async def test_corked_writes_are_flushed_on_the_next_loop_iteration():
    writer, transport = make_writer()
    writer.cork()
    writer.write(b"a")
    writer.writelines([b"b", b"c"])
    assert transport.writes == []
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert transport.writes == [b"abc"]
    assert writer.corked


async def test_corked_writer_copies_mutable_buffers():
    writer, transport = make_writer()
    writer.cork()
    buf = bytearray(b"abc")
    writer.write(buf)
    writer.write(memoryview(buf))
    buf[:] = b"xyz"
    writer.flush()
    assert transport.writes == [b"abcabc"]


async def test_corked_writer_flushes_at_the_size_limit():
    writer, transport = make_writer()
    writer.cork()
    writer.write(b"a" * (CORK_LIMIT - 1))
    assert transport.writes == []
    writer.write(b"b")
    assert transport.writes == [b"a" * (CORK_LIMIT - 1) + b"b"]


async def test_drain_write_eof_and_close_flush_a_corked_writer():
    for action in ("drain", "write_eof", "close"):
        writer, transport = make_writer()
        writer.cork()
        writer.write(b"pending")
        getattr(writer, action)()
        assert transport.writes == [b"pending"], action


def test_cork_without_a_running_loop_waits_for_flush():
    writer, transport = make_writer()
    writer.cork()
    writer.write(b"a")
    assert transport.writes == []
    writer.flush()
    assert transport.writes == [b"a"]


async def test_connection_lost_discards_corked_bytes():
    writer, transport = make_writer()
    writer.cork()
    writer.write(b"lost")
    writer.connection_lost(None)
    writer.write(b"more")
    await asyncio.sleep(0)
    writer.uncork()
    assert transport.writes == []


# ---------------------------------------------------------------- TCP options


def _tcp_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    return sock


def _opt(sock, option):
    return sock.getsockopt(socket.IPPROTO_TCP, option)


def test_set_tcp_nodelay_sets_the_socket_option():
    with _tcp_socket() as sock:
        writer, _ = make_writer(sock)
        assert not writer.tcp_nodelay
        writer.set_tcp_nodelay(True)
        assert writer.tcp_nodelay
        assert _opt(sock, socket.TCP_NODELAY)
        writer.set_tcp_nodelay(False)
        assert not writer.tcp_nodelay
        assert not _opt(sock, socket.TCP_NODELAY)


@pytest.mark.skipif(not hasattr(socket, "TCP_CORK"), reason="platform has no TCP_CORK")
def test_tcp_cork_and_nodelay_exclude_each_other():
    with _tcp_socket() as sock:
        writer, _ = make_writer(sock)
        writer.set_tcp_nodelay(True)
        writer.set_tcp_cork(True)
        assert writer.tcp_cork and not writer.tcp_nodelay
        assert _opt(sock, socket.TCP_CORK) and not _opt(sock, socket.TCP_NODELAY)
        writer.set_tcp_nodelay(True)
        assert writer.tcp_nodelay and not writer.tcp_cork
        assert _opt(sock, socket.TCP_NODELAY) and not _opt(sock, socket.TCP_CORK)
        writer.set_tcp_nodelay(False)
        writer.set_tcp_cork(True)
        writer.set_tcp_cork(False)
        assert not _opt(sock, socket.TCP_CORK)


def test_tcp_options_on_a_unix_socket_are_recorded_but_not_applied():
    sock = mock.Mock(family=socket.AF_UNIX)
    writer, _ = make_writer(sock)
    writer.set_tcp_nodelay(True)
    assert writer.tcp_nodelay
    writer.set_tcp_cork(True)
    assert writer.tcp_cork and not writer.tcp_nodelay
    sock.setsockopt.assert_not_called()


def test_tcp_options_without_a_socket_are_recorded():
    writer, _ = make_writer(None)
    writer.set_tcp_nodelay(True)
    assert writer.tcp_nodelay
    writer.set_tcp_cork(True)
    assert writer.tcp_cork


def test_tcp_option_errors_are_ignored():
    sock = mock.Mock(family=socket.AF_INET)
    sock.setsockopt.side_effect = OSError("bad fd")
    writer, _ = make_writer(sock)
    writer.set_tcp_nodelay(True)
    assert writer.tcp_nodelay


def test_setting_the_same_value_again_does_not_touch_the_socket():
    sock = mock.Mock(family=socket.AF_INET6)
    writer, _ = make_writer(sock)
    writer.set_tcp_nodelay(True)
    writer.set_tcp_nodelay(True)
    assert sock.setsockopt.call_count == 1
    sock.setsockopt.assert_called_with(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)


async def _accepted_writer(ssl_server=None, ssl_client=None):
    """A StreamWriter around the server side of a real loopback connection."""
    loop = asyncio.get_running_loop()
    accepted = loop.create_future()

    class Proto(asyncio.Protocol):
        def connection_made(self, transport):
            accepted.set_result(StreamWriter(transport, self, None, loop))

    server = await loop.create_server(Proto, "127.0.0.1", 0, ssl=ssl_server)
    port = server.sockets[0].getsockname()[1]
    _, client = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ssl_client, server_hostname="localhost" if ssl_client else None
    )
    writer = await asyncio.wait_for(accepted, 5)
    return server, client, writer


async def test_tcp_nodelay_on_a_real_tcp_connection():
    server, client, writer = await _accepted_writer()
    try:
        writer.set_tcp_nodelay(True)
        sock = writer.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        writer.close()
        client.close()
        server.close()
        await server.wait_closed()


async def test_tcp_nodelay_on_a_tls_connection(tls_contexts):
    server_ctx, client_ctx = tls_contexts
    server, client, writer = await _accepted_writer(server_ctx, client_ctx)
    try:
        assert isinstance(writer.get_extra_info("sslcontext"), ssl.SSLContext)
        writer.set_tcp_nodelay(True)
        sock = writer.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        writer.close()
        client.close()
        server.close()
        await server.wait_closed()


async def test_real_transport_pause_and_resume_drive_drain():
    """A peer that does not read makes the transport pause the protocol; the
    protocol forwards to the writer, and drain() waits until the peer reads."""
    loop = asyncio.get_running_loop()
    accepted = loop.create_future()

    class Proto(asyncio.Protocol):
        def connection_made(self, transport):
            transport.set_write_buffer_limits(high=1024)
            self.writer = StreamWriter(transport, self, None, loop)
            accepted.set_result(self.writer)

        def pause_writing(self):
            self.writer.pause_writing()

        def resume_writing(self):
            self.writer.resume_writing()

        def connection_lost(self, exc):
            self.writer.connection_lost(exc)

    server = await loop.create_server(Proto, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, client = await asyncio.open_connection("127.0.0.1", port)
    writer = await asyncio.wait_for(accepted, 5)
    try:
        payload = b"x" * (8 * 1024 * 1024)
        writer.write(payload)
        pending = writer.drain()
        assert pending is not DONE
        drained = asyncio.ensure_future(_await(pending))
        await asyncio.sleep(0.05)
        assert not drained.done()
        received = await asyncio.wait_for(reader.readexactly(len(payload)), 10)
        assert received == payload
        await asyncio.wait_for(drained, 5)
    finally:
        writer.close()
        client.close()
        server.close()
        await server.wait_closed()
