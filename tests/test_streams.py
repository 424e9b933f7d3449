"""Payload streams (api-spec §5, acceptance checklist items 51-64), at the
stream level: bytes are fed by hand, the way the server protocol feeds them."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llserver import streams
from llserver.streams import (
    EMPTY_PAYLOAD,
    ChunksQueue,
    DataQueue,
    EmptyStreamReader,
    EofStream,
    FlowControlChunksQueue,
    FlowControlDataQueue,
    FlowControlStreamReader,
    StreamReader,
)

DATA = b"line1\nline2\nline3\n"


class FakeProtocol:
    """Records pause_reading/resume_reading calls and the resulting state."""

    def __init__(self) -> None:
        self.calls: List[str] = []
        self.paused = False

    def pause_reading(self) -> None:
        self.calls.append("pause")
        self.paused = True

    def resume_reading(self) -> None:
        self.calls.append("resume")
        self.paused = False


def assert_alternating(calls: List[str]) -> None:
    expected = ["pause", "resume"] * (len(calls) // 2 + 1)
    assert calls == expected[: len(calls)]


async def tick(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


# -- item 51: read(n) ---------------------------------------------------------


async def test_read_returns_up_to_n_bytes_across_chunks() -> None:
    stream = StreamReader()
    stream.feed_data(b"line1")
    stream.feed_data(b"line2")
    assert await stream.read(8) == b"line1lin"
    assert await stream.read(8) == b"e2"


async def test_read_n_stops_at_chunk_boundaries_only_when_n_says_so() -> None:
    stream = StreamReader()
    stream.feed_data(b"line1")
    stream.feed_data(b"line2")
    assert await stream.read(5) == b"line1"
    assert await stream.read(5) == b"line2"


async def test_read_zero_returns_empty_without_consuming() -> None:
    stream = StreamReader()
    stream.feed_data(DATA)
    assert await stream.read(0) == b""
    stream.feed_eof()
    assert await stream.read() == DATA


async def test_read_waits_for_data_when_buffer_is_empty() -> None:
    stream = StreamReader()
    task = asyncio.ensure_future(stream.read(30))
    await tick()
    assert not task.done()
    stream.feed_data(DATA)
    assert await task == DATA


# -- item 52: EOF, read() until EOF -------------------------------------------


async def test_reads_at_eof_return_empty_every_time() -> None:
    stream = StreamReader()
    stream.feed_eof()
    for _ in range(3):
        assert await stream.read() == b""
        assert await stream.read(1024) == b""
        assert await stream.readany() == b""


async def test_read_waiting_at_eof_returns_empty() -> None:
    stream = StreamReader()
    task = asyncio.ensure_future(stream.read(1024))
    await tick()
    stream.feed_eof()
    assert await task == b""


async def test_feed_empty_data_is_ignored() -> None:
    stream = StreamReader()
    stream.feed_data(b"")
    assert repr(stream) == "<StreamReader>"
    stream.feed_eof()
    assert await stream.read() == b""


async def test_read_without_argument_concatenates_packets_until_eof() -> None:
    stream = StreamReader()
    task = asyncio.ensure_future(stream.read())
    await tick()
    stream.feed_data(b"chunk1\n")
    await tick()
    stream.feed_data(b"chunk2")
    await tick()
    assert not task.done()
    stream.feed_eof()
    assert await task == b"chunk1\nchunk2"
    assert await stream.read() == b""


async def test_read_all_of_buffered_packets() -> None:
    stream = StreamReader()
    stream.feed_data(b"line1")
    stream.feed_data(b"line2")
    stream.feed_eof()
    assert await stream.read() == b"line1line2"


async def test_feed_data_after_feed_eof_raises_assertion_error() -> None:
    stream = StreamReader()
    stream.feed_eof()
    with pytest.raises(AssertionError):
        stream.feed_data(b"late")


async def test_feed_data_copies_mutable_buffers() -> None:
    stream = StreamReader()
    data = bytearray(b"abc")
    stream.feed_data(data)
    stream.feed_data(memoryview(b"def"))
    data[0] = ord("X")
    stream.feed_eof()
    result = await stream.read()
    assert result == b"abcdef"
    assert type(result) is bytes


async def test_total_bytes_counts_fed_bytes_not_reads_or_unreads() -> None:
    stream = StreamReader()
    assert stream.total_bytes == 0
    stream.feed_data(b"abc")
    stream.feed_data(b"")
    stream.feed_data(b"de")
    data = await stream.read(2)
    stream.unread_data(data)
    stream.feed_eof()
    assert await stream.read() == b"abcde"
    assert stream.total_bytes == 5


async def test_more_than_five_reads_at_eof_log_one_warning(caplog) -> None:
    stream = StreamReader()
    stream.feed_eof()
    with caplog.at_level(logging.WARNING, logger="llserver.internal"):
        for _ in range(5):
            await stream.read()
        assert not caplog.records
        for _ in range(5):
            await stream.read()
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.name == "llserver.internal"
    assert "Multiple access to StreamReader in eof state" in record.getMessage()


async def test_reads_at_eof_with_unread_data_do_not_count_towards_warning(caplog) -> None:
    stream = StreamReader()
    stream.feed_data(b"x" * 10)
    stream.feed_eof()
    with caplog.at_level(logging.WARNING, logger="llserver.internal"):
        for _ in range(10):
            await stream.read(1)
        await stream.read()
    assert not caplog.records


# -- item 53: readline --------------------------------------------------------


async def test_readline_waits_for_newline_across_chunks() -> None:
    stream = StreamReader()
    stream.feed_data(b"chunk1 ")
    task = asyncio.ensure_future(stream.readline())
    await tick()
    stream.feed_data(b"chunk2 ")
    await tick()
    assert not task.done()
    stream.feed_data(b"chunk3 ")
    stream.feed_data(b"\n chunk4")
    assert await task == b"chunk1 chunk2 chunk3 \n"
    stream.feed_eof()
    assert await stream.read() == b" chunk4"


async def test_readline_from_buffered_chunks_without_waiting() -> None:
    stream = StreamReader()
    stream.feed_data(DATA[:6])
    stream.feed_data(DATA[6:])
    assert await stream.readline() == b"line1\n"
    stream.feed_eof()
    assert await stream.read() == b"line2\nline3\n"


async def test_readline_then_read_counts_bytes_correctly() -> None:
    stream = StreamReader()
    stream.feed_data(DATA)
    await stream.readline()
    assert await stream.read(7) == b"line2\nl"
    stream.feed_eof()
    assert await stream.read() == b"ine3\n"


async def test_readline_returns_unterminated_last_line_at_eof_then_empty() -> None:
    stream = StreamReader()
    stream.feed_data(b"some data")
    stream.feed_eof()
    assert await stream.readline() == b"some data"
    assert await stream.readline() == b""


async def test_readline_returns_unterminated_line_when_eof_arrives_while_waiting() -> None:
    stream = StreamReader()
    stream.feed_data(b"some ")
    task = asyncio.ensure_future(stream.readline())
    await tick()
    stream.feed_data(b"data")
    await tick()
    stream.feed_eof()
    assert await task == b"some data"


async def test_readline_at_empty_eof_returns_empty() -> None:
    stream = StreamReader()
    stream.feed_eof()
    assert await stream.readline() == b""


async def test_readline_of_line_trickling_in_byte_by_byte() -> None:
    stream = StreamReader()
    line = b"x" * 5000 + b"\n"
    task = asyncio.ensure_future(stream.readline())
    for i in range(len(line)):
        stream.feed_data(line[i : i + 1])
        await asyncio.sleep(0)
    stream.feed_data(b"next")
    assert await task == line
    stream.feed_eof()
    assert await stream.read() == b"next"


async def test_readline_cancelled_while_waiting_keeps_partial_line() -> None:
    stream = StreamReader()
    stream.feed_data(b"partial ")
    task = asyncio.ensure_future(stream.readline())
    await tick()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stream.feed_data(b"line\n")
    assert await stream.readline() == b"partial line\n"


async def test_readline_rescans_after_another_coroutine_consumed_data() -> None:
    stream = StreamReader()
    stream.feed_data(b"ab")
    task = asyncio.ensure_future(stream.readline())
    await tick()
    # Wakes the waiter; before it runs, someone else takes the buffer.
    stream.feed_data(b"cd")
    assert stream.read_nowait() == b"abcd"
    stream.feed_data(b"ef\n")
    assert await task == b"ef\n"


# -- item 54: readline limit --------------------------------------------------


async def test_readline_longer_than_limit_raises_and_keeps_rest() -> None:
    stream = StreamReader(limit=2)
    stream.feed_data(b"li")
    stream.feed_data(b"ne1\nline2\n")
    with pytest.raises(ValueError, match="^Line is too long$"):
        await stream.readline()
    stream.feed_eof()
    assert await stream.read() == b"line2\n"


async def test_readline_limit_drops_only_chunks_examined_before_the_limit() -> None:
    # aiohttp 1.1 semantics: the chunk in which the limit is crossed is the
    # last one dropped; later chunks stay readable.
    stream = StreamReader(limit=7)

    def cb() -> None:
        stream.feed_data(b"chunk1")
        stream.feed_data(b"chunk2")
        stream.feed_data(b"chunk3\n")
        stream.feed_eof()

    asyncio.get_running_loop().call_soon(cb)
    with pytest.raises(ValueError, match="Line is too long"):
        await stream.readline()
    assert await stream.read() == b"chunk3\n"


async def test_readline_over_64_kib_raises_and_following_line_is_readable() -> None:
    stream = StreamReader()
    stream.feed_data(b"x" * 70000 + b"\nafter\n")
    with pytest.raises(ValueError):
        await stream.readline()
    assert await stream.readline() == b"after\n"


async def test_readline_limit_raises_while_line_still_arriving() -> None:
    stream = StreamReader(limit=10)
    task = asyncio.ensure_future(stream.readline())
    await tick()
    stream.feed_data(b"0123456789")
    await tick()
    assert not task.done()
    stream.feed_data(b"a")
    with pytest.raises(ValueError):
        await task
    stream.feed_data(b"bc\nok\n")
    assert await stream.readline() == b"bc\n"
    assert await stream.readline() == b"ok\n"


async def test_readline_of_exactly_limit_bytes_is_accepted() -> None:
    stream = StreamReader(limit=6)
    stream.feed_data(b"12345\n123456\n")
    assert await stream.readline() == b"12345\n"
    with pytest.raises(ValueError):
        await stream.readline()


async def test_unterminated_line_over_limit_at_eof_raises() -> None:
    stream = StreamReader(limit=4)
    stream.feed_data(b"abcdefgh")
    stream.feed_eof()
    with pytest.raises(ValueError):
        await stream.readline()
    assert stream.at_eof()


# -- item 55: readexactly -----------------------------------------------------


async def test_readexactly_at_early_eof_raises_incomplete_read_with_partial() -> None:
    stream = StreamReader()
    n = 2 * len(DATA)
    task = asyncio.ensure_future(stream.readexactly(n))
    await tick()
    stream.feed_data(DATA)
    await tick()
    stream.feed_eof()
    with pytest.raises(asyncio.IncompleteReadError) as info:
        await task
    assert info.value.partial == DATA
    assert info.value.expected == n
    assert str(info.value) == "18 bytes read on a total of 36 expected bytes"
    assert await stream.read() == b""


async def test_readexactly_returns_exactly_n_bytes_spanning_packets() -> None:
    stream = StreamReader()
    n = 2 * len(DATA)
    task = asyncio.ensure_future(stream.readexactly(n))
    await tick()
    stream.feed_data(DATA)
    await tick()
    stream.feed_data(DATA)
    stream.feed_data(DATA)
    assert await task == DATA + DATA
    stream.feed_eof()
    assert await stream.read() == DATA


@pytest.mark.parametrize("n", [0, -1])
async def test_readexactly_zero_or_negative_returns_empty(n: int) -> None:
    stream = StreamReader()
    stream.feed_data(DATA)
    assert await stream.readexactly(n) == b""
    stream.feed_eof()
    assert await stream.read() == DATA


async def test_readexactly_cancelled_while_waiting_loses_nothing() -> None:
    stream = StreamReader()
    stream.feed_data(b"abc")
    task = asyncio.ensure_future(stream.readexactly(10))
    await tick()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.read_nowait() == b"abc"


# -- item 56: readany ---------------------------------------------------------


async def test_readany_returns_first_packet_without_waiting_for_more() -> None:
    stream = StreamReader()
    task = asyncio.ensure_future(stream.readany())
    await tick()
    stream.feed_data(b"chunk1\n")
    assert await task == b"chunk1\n"
    stream.feed_eof()
    assert await stream.read() == b""


async def test_readany_returns_everything_buffered() -> None:
    stream = StreamReader()
    stream.feed_data(b"a")
    stream.feed_data(b"bc")
    assert await stream.readany() == b"abc"


async def test_readany_after_partial_read_returns_rest_of_chunk() -> None:
    stream = StreamReader()
    stream.feed_data(b"abcdef")
    assert await stream.read(2) == b"ab"
    assert await stream.readany() == b"cdef"


# -- item 57: read_nowait -----------------------------------------------------


async def test_read_nowait_returns_buffered_bytes_then_empty() -> None:
    stream = StreamReader()
    stream.feed_data(b"line1\n")
    stream.feed_data(b"line2\n")
    assert stream.read_nowait() == b"line1\nline2\n"
    assert stream.read_nowait() == b""
    stream.feed_eof()
    assert await stream.read() == b""


async def test_read_nowait_n_returns_at_most_n_bytes() -> None:
    stream = StreamReader()
    stream.feed_data(b"line1\nline2\n")
    assert stream.read_nowait(4) == b"line"
    assert stream.read_nowait(0) == b""
    assert stream.read_nowait(100) == b"1\nline2\n"
    assert stream.read_nowait() == b""


def test_read_nowait_none_raises_assertion_error() -> None:
    stream = StreamReader()
    stream.feed_data(b"data")
    with pytest.raises(AssertionError):
        stream.read_nowait(None)  # type: ignore[arg-type]


# -- item 58: one waiter ------------------------------------------------------


async def test_second_concurrent_read_raises_runtime_error() -> None:
    stream = StreamReader()
    first = asyncio.ensure_future(stream.read())
    await tick()
    with pytest.raises(RuntimeError) as info:
        await stream.read()
    assert str(info.value) == (
        "read() called while another coroutine is already waiting for incoming data"
    )
    stream.feed_data(b"data")
    stream.feed_eof()
    assert await first == b"data"


@pytest.mark.parametrize("name", ["readline", "readany", "readexactly"])
async def test_concurrent_wait_message_names_the_method(name: str) -> None:
    stream = StreamReader()
    first = asyncio.ensure_future(stream.read(1))
    await tick()
    call = getattr(stream, name)
    with pytest.raises(RuntimeError, match=rf"^{name}\(\) called while another coroutine"):
        await (call(5) if name == "readexactly" else call())
    first.cancel()


async def test_read_nowait_while_a_read_waits_raises_runtime_error() -> None:
    stream = StreamReader()
    task = asyncio.ensure_future(stream.read())
    await tick()
    with pytest.raises(RuntimeError, match="already waiting for incoming data"):
        stream.read_nowait()
    task.cancel()


async def test_read_nowait_with_pending_private_waiter_raises() -> None:
    # aiohttp 1.1's own test pokes ``_waiter``; keep that working.
    stream = StreamReader()
    stream.feed_data(b"line\n")
    stream._waiter = asyncio.get_running_loop().create_future()
    with pytest.raises(RuntimeError):
        stream.read_nowait()


async def test_wait_with_private_waiter_set_raises() -> None:
    stream = StreamReader()
    stream._waiter = asyncio.get_running_loop().create_future
    with pytest.raises(RuntimeError):
        await stream._wait("test")


async def test_cancelled_reader_leaves_no_waiter_behind() -> None:
    stream = StreamReader()
    task = asyncio.ensure_future(stream.readline())
    await tick()
    task.cancel()
    await tick()
    stream.set_exception(RuntimeError("message"))
    await tick()
    assert stream._waiter is None


# -- item 59: stored exception ------------------------------------------------


async def test_exception_is_none_until_set_then_returned() -> None:
    stream = StreamReader()
    assert stream.exception() is None
    exc = ValueError()
    stream.set_exception(exc)
    assert stream.exception() is exc


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.read(),
        lambda s: s.read(2),
        lambda s: s.read(0),
        lambda s: s.readline(),
        lambda s: s.readany(),
        lambda s: s.readexactly(2),
        lambda s: s.readexactly(0),
    ],
    ids=["read", "read_n", "read_0", "readline", "readany", "readexactly", "readexactly_0"],
)
async def test_stored_exception_raised_before_buffered_data(call) -> None:
    stream = StreamReader()
    stream.feed_data(b"line\n")
    stream.feed_eof()
    exc = ValueError("bad chunk size")
    stream.set_exception(exc)
    for _ in range(2):  # sticky
        with pytest.raises(ValueError) as info:
            await call(stream)
        assert info.value is exc


async def test_read_nowait_raises_stored_exception() -> None:
    stream = StreamReader()
    stream.feed_data(b"line\n")
    stream.set_exception(ValueError())
    with pytest.raises(ValueError):
        stream.read_nowait()


@pytest.mark.parametrize("method", ["read", "readline", "readany", "readexactly"])
async def test_set_exception_wakes_waiting_reader(method: str) -> None:
    stream = StreamReader()
    stream.feed_data(b"par")
    call = getattr(stream, method)
    task = asyncio.ensure_future(call(10) if method == "readexactly" else call())
    await tick()
    if method == "readany":
        # readany returns buffered data at once; wait on an empty buffer.
        assert await task == b"par"
        task = asyncio.ensure_future(stream.readany())
        await tick()
    assert not task.done()
    stream.set_exception(ConnectionResetError("gone"))
    with pytest.raises(ConnectionResetError):
        await task


async def test_async_for_propagates_stored_exception() -> None:
    stream = StreamReader()
    stream.feed_data(b"line1\n")
    stream.set_exception(ValueError())
    with pytest.raises(ValueError):
        async for _ in stream:
            pass


# -- item 60: at_eof, is_eof, wait_eof ----------------------------------------


async def test_at_eof_is_false_while_unread_bytes_remain() -> None:
    stream = StreamReader()
    assert not stream.at_eof()
    stream.feed_data(b"some data\n")
    assert not stream.at_eof()
    await stream.readline()
    assert not stream.at_eof()
    stream.feed_data(b"some data\n")
    stream.feed_eof()
    assert not stream.at_eof()
    assert stream.is_eof()
    await stream.readline()
    assert stream.at_eof()


async def test_is_eof_is_true_once_the_body_is_complete() -> None:
    stream = StreamReader()
    assert not stream.is_eof()
    stream.feed_data(b"data")
    assert not stream.is_eof()
    stream.feed_eof()
    assert stream.is_eof()


async def test_wait_eof_returns_once_eof_is_fed_and_data_stays_readable() -> None:
    stream = StreamReader()
    task = asyncio.ensure_future(stream.wait_eof())
    stream.feed_data(b"body")
    await tick()
    assert not task.done()
    stream.feed_eof()
    await task
    assert stream.is_eof()
    assert stream._eof_waiter is None
    assert await stream.read() == b"body"


async def test_wait_eof_returns_at_once_when_already_at_eof() -> None:
    stream = StreamReader()
    stream.feed_eof()
    await asyncio.wait_for(stream.wait_eof(), 1)


async def test_wait_eof_serves_several_waiters_and_survives_a_cancelled_one() -> None:
    stream = StreamReader()
    a = asyncio.ensure_future(stream.wait_eof())
    b = asyncio.ensure_future(stream.wait_eof())
    c = asyncio.ensure_future(stream.wait_eof())
    await tick()
    b.cancel()
    await tick()
    stream.feed_eof()
    await asyncio.wait_for(asyncio.gather(a, c), 1)
    assert b.cancelled()


async def test_wait_eof_raises_when_the_body_fails_before_its_end() -> None:
    stream = StreamReader()
    task = asyncio.ensure_future(stream.wait_eof())
    await tick()
    stream.set_exception(ConnectionResetError())
    with pytest.raises(ConnectionResetError):
        await task
    with pytest.raises(ConnectionResetError):
        await stream.wait_eof()


async def test_wait_eof_returns_when_eof_was_fed_before_an_error() -> None:
    stream = StreamReader()
    stream.feed_eof()
    stream.set_exception(ValueError())
    await stream.wait_eof()


# -- item 61: unread_data -----------------------------------------------------


async def test_unread_data_is_returned_by_the_next_read() -> None:
    stream = StreamReader()
    stream.feed_data(b"line1")
    stream.feed_data(b"line2")
    stream.feed_data(b"onemoreline")

    data = await stream.read(5)
    assert data == b"line1"
    stream.unread_data(data)
    assert await stream.read(5) == b"line1"
    assert await stream.read(4) == b"line"
    stream.unread_data(b"line1line")
    data = b""
    while len(data) < 10:
        data += await stream.read(10)
    assert data == b"line1line2"
    assert await stream.read(7) == b"onemore"
    stream.unread_data(b"onemore")
    assert await stream.read(11) == b"onemoreline"

    stream.feed_eof()
    stream.unread_data(b"at_eof")
    assert not stream.at_eof()
    assert await stream.read(6) == b"at_eof"


async def test_unread_empty_data_changes_nothing() -> None:
    stream = StreamReader()
    stream.feed_data(DATA)
    stream.unread_data(b"")
    assert await stream.read(5) == b"line1"


async def test_unread_data_does_not_wake_a_waiting_reader() -> None:
    stream = StreamReader()
    task = asyncio.ensure_future(stream.read())
    await tick()
    stream.unread_data(b"x")
    await tick()
    assert not task.done()
    task.cancel()


async def test_unread_data_is_seen_by_readline() -> None:
    stream = StreamReader()
    stream.feed_data(b"ne1\nline2\n")
    stream.unread_data(b"li")
    assert await stream.readline() == b"line1\n"


# -- item 62: async iteration -------------------------------------------------


async def test_async_for_yields_lines() -> None:
    stream = StreamReader()
    stream.feed_data(DATA)
    stream.feed_eof()
    lines = [line async for line in stream]
    assert lines == [b"line1\n", b"line2\n", b"line3\n"]


async def test_async_for_waits_for_lines_as_they_arrive() -> None:
    stream = StreamReader()

    async def collect() -> List[bytes]:
        return [line async for line in stream]

    task = asyncio.ensure_future(collect())
    for piece in (b"li", b"ne1\nline", b"2\n", b"tail"):
        stream.feed_data(piece)
        await tick()
    stream.feed_eof()
    assert await task == [b"line1\n", b"line2\n", b"tail"]


@pytest.mark.parametrize("complete", [True, False])
async def test_iter_chunked_yields_chunks_of_n_bytes_last_shorter(complete: bool) -> None:
    stream = StreamReader()
    data = DATA if complete else DATA[:-1]
    stream.feed_data(data)
    stream.feed_eof()
    chunks = [chunk async for chunk in stream.iter_chunked(8)]
    assert chunks == [data[i : i + 8] for i in range(0, len(data), 8)]


async def test_iter_any_yields_data_as_it_arrived() -> None:
    stream = StreamReader()

    async def collect() -> List[bytes]:
        return [chunk async for chunk in stream.iter_any()]

    task = asyncio.ensure_future(collect())
    for piece in (b"one", b"two", b"three"):
        stream.feed_data(piece)
        await tick()
    stream.feed_eof()
    assert await task == [b"one", b"two", b"three"]


# -- item 63: EMPTY_PAYLOAD ---------------------------------------------------


async def test_empty_payload_is_an_empty_stream_reader_singleton() -> None:
    assert isinstance(EMPTY_PAYLOAD, EmptyStreamReader)
    assert streams.EMPTY_PAYLOAD is EMPTY_PAYLOAD


async def test_empty_payload_is_always_at_eof() -> None:
    s = EMPTY_PAYLOAD
    assert await s.read() == b""
    assert await s.read(10) == b""
    assert await s.readline() == b""
    assert await s.readany() == b""
    assert s.read_nowait() == b""
    assert s.read_nowait(5) == b""
    assert s.read_nowait(-1) == b""
    with pytest.raises(asyncio.IncompleteReadError) as info:
        await s.readexactly(10)
    assert info.value.partial == b""
    assert info.value.expected == 10
    assert await s.readexactly(0) == b""
    assert s.at_eof()
    assert s.is_eof()
    assert s.exception() is None
    assert s.total_bytes == 0
    await asyncio.wait_for(s.wait_eof(), 1)


async def test_empty_payload_ignores_feeding_and_errors() -> None:
    s = EMPTY_PAYLOAD
    s.feed_data(b"data")
    s.feed_data(b"data", 4)
    s.feed_eof()
    s.set_exception(ValueError())
    assert s.exception() is None
    assert await s.read() == b""


async def test_empty_payload_iterations_yield_nothing() -> None:
    assert [x async for x in EMPTY_PAYLOAD] == []
    assert [x async for x in EMPTY_PAYLOAD.iter_chunked(4)] == []
    assert [x async for x in EMPTY_PAYLOAD.iter_any()] == []


def test_empty_payload_repr() -> None:
    assert repr(EMPTY_PAYLOAD) == "<EmptyStreamReader>"


# -- item 64: repr ------------------------------------------------------------


def test_repr_of_empty_stream() -> None:
    assert repr(StreamReader()) == "<StreamReader>"


def test_repr_shows_unread_bytes() -> None:
    stream = StreamReader()
    stream.feed_data(b"data")
    assert repr(stream) == "<StreamReader 4 bytes>"


def test_repr_shows_eof() -> None:
    stream = StreamReader()
    stream.feed_eof()
    assert repr(stream) == "<StreamReader eof>"


def test_repr_shows_non_default_limit() -> None:
    assert repr(StreamReader(limit=123)) == "<StreamReader l=123>"


def test_repr_shows_exception() -> None:
    stream = StreamReader()
    stream.set_exception(RuntimeError())
    assert repr(stream) == "<StreamReader e=RuntimeError()>"


async def test_repr_shows_waiter() -> None:
    stream = StreamReader()
    task = asyncio.ensure_future(stream.read())
    await tick()
    assert repr(stream).startswith("<StreamReader w=<Future pending")
    stream.feed_eof()
    await task
    assert repr(stream) == "<StreamReader eof>"


def test_repr_of_flow_control_body_stream_reads_stream_reader() -> None:
    stream = FlowControlStreamReader(FakeProtocol())
    stream.feed_data(b"data")
    stream.feed_eof()
    assert repr(stream) == "<StreamReader 4 bytes eof>"


# -- timeout ------------------------------------------------------------------


async def test_timeout_sets_sticky_timeout_error() -> None:
    stream = StreamReader(timeout=0.01)
    with pytest.raises(asyncio.TimeoutError):
        await stream.read()
    assert isinstance(stream.exception(), asyncio.TimeoutError)
    stream.feed_data(b"late")
    with pytest.raises(asyncio.TimeoutError):
        await stream.read()


async def test_timeout_applies_to_each_wait_not_to_the_whole_body() -> None:
    stream = StreamReader(timeout=0.2)

    async def produce() -> None:
        for _ in range(5):
            await asyncio.sleep(0.05)
            stream.feed_data(b"x")
        stream.feed_eof()

    producer = asyncio.ensure_future(produce())
    assert await stream.read() == b"xxxxx"
    await producer
    assert stream.exception() is None


async def test_timeout_timer_is_cancelled_when_data_arrives() -> None:
    stream = StreamReader(timeout=0.05)
    task = asyncio.ensure_future(stream.read(10))
    await tick()
    stream.feed_data(b"x")
    assert await task == b"x"
    await asyncio.sleep(0.1)
    assert stream.exception() is None


# -- event loop handling ------------------------------------------------------


def test_stream_created_outside_a_running_loop_works_inside_one() -> None:
    stream = StreamReader()  # no loop exists or is running here

    async def main() -> bytes:
        asyncio.get_running_loop().call_soon(stream.feed_data, b"hello")
        return await stream.read(100)

    assert asyncio.run(main()) == b"hello"


def test_explicit_loop_is_used_for_waiting() -> None:
    loop = asyncio.new_event_loop()
    try:
        stream = StreamReader(loop=loop)
        loop.call_soon(stream.feed_data, b"x")
        assert loop.run_until_complete(stream.read(10)) == b"x"
    finally:
        loop.close()


# -- on_first_read (100-continue) ---------------------------------------------


READS = {
    "read": lambda s: s.read(),
    "read_n": lambda s: s.read(2),
    "readany": lambda s: s.readany(),
    "readline": lambda s: s.readline(),
    "readexactly": lambda s: s.readexactly(2),
    "read_nowait": lambda s: s.read_nowait(),
    "async_for": lambda s: s.__aiter__().__anext__(),
    "iter_chunked": lambda s: s.iter_chunked(2).__anext__(),
    "iter_any": lambda s: s.iter_any().__anext__(),
}


@pytest.mark.parametrize("read", READS.values(), ids=list(READS))
async def test_on_first_read_called_once_by_first_read(read) -> None:
    calls = []
    stream = FlowControlStreamReader(FakeProtocol(), on_first_read=lambda: calls.append(1))
    stream.feed_data(b"ab\ncd\n")
    stream.feed_eof()
    assert calls == []
    result = read(stream)
    if asyncio.iscoroutine(result):
        await result
    assert calls == [1]
    await stream.read()
    await stream.readline()
    stream.read_nowait()
    assert calls == [1]


async def test_on_first_read_is_called_before_waiting_for_the_body() -> None:
    # The server's hook sends "100 Continue"; only then does the client send.
    stream = FlowControlStreamReader(FakeProtocol())
    seen = []

    def send_continue() -> None:
        seen.append(stream.is_eof())
        asyncio.get_running_loop().call_soon(stream.feed_data, b"abc")

    stream.on_first_read = send_continue
    assert await stream.readexactly(3) == b"abc"
    assert seen == [False]
    assert stream.on_first_read is None


async def test_wait_eof_and_state_queries_do_not_trigger_on_first_read() -> None:
    calls = []
    stream = StreamReader(on_first_read=lambda: calls.append(1))
    stream.feed_data(b"x")
    stream.feed_eof()
    await stream.wait_eof()
    stream.at_eof()
    stream.is_eof()
    stream.exception()
    repr(stream)
    stream.unread_data(b"y")
    assert calls == []


async def test_on_first_read_error_propagates_and_hook_runs_only_once() -> None:
    calls = []

    def hook() -> None:
        calls.append(1)
        raise OSError("transport closed")

    stream = StreamReader(on_first_read=hook)
    stream.feed_data(b"x")
    with pytest.raises(OSError):
        await stream.read(10)
    assert await stream.read(10) == b"x"
    assert calls == [1]


# -- flow control -------------------------------------------------------------


def test_flow_control_pauses_once_when_unread_data_exceeds_twice_limit() -> None:
    proto = FakeProtocol()
    stream = FlowControlStreamReader(proto, limit=10)
    stream.feed_data(b"x" * 20)
    assert proto.calls == []
    stream.feed_data(b"x")
    assert proto.calls == ["pause"]
    stream.feed_data(b"x" * 100)
    assert proto.calls == ["pause"]


def test_flow_control_resumes_once_reads_bring_buffer_down_to_limit() -> None:
    proto = FakeProtocol()
    stream = FlowControlStreamReader(proto, limit=10)
    stream.feed_data(b"x" * 25)
    assert proto.calls == ["pause"]
    stream.read_nowait(10)  # 15 left: above limit, stay paused
    assert proto.calls == ["pause"]
    stream.read_nowait(5)  # 10 left: resume
    assert proto.calls == ["pause", "resume"]
    stream.read_nowait(5)
    assert proto.calls == ["pause", "resume"]


async def test_flow_control_resumes_when_reader_needs_more_than_is_buffered() -> None:
    proto = FakeProtocol()
    stream = streams.FlowControlStreamReader(proto, limit=4)
    stream.feed_data(b"x" * 9)
    assert proto.paused
    task = asyncio.ensure_future(stream.readexactly(20))
    await tick()
    assert not proto.paused  # otherwise it would wait forever
    stream.feed_data(b"y" * 11)
    assert await task == b"x" * 9 + b"y" * 11
    assert_alternating(proto.calls)


async def test_flow_control_releases_pause_at_eof_and_on_error() -> None:
    proto = FakeProtocol()
    stream = streams.FlowControlStreamReader(proto, limit=4)
    stream.feed_data(b"x" * 9)
    stream.feed_eof()
    assert proto.calls == ["pause", "resume"]

    proto = FakeProtocol()
    stream = streams.FlowControlStreamReader(proto, limit=4)
    stream.feed_data(b"x" * 9)
    stream.set_exception(ConnectionResetError())
    assert proto.calls == ["pause", "resume"]
    stream.set_exception(ConnectionResetError())
    assert proto.calls == ["pause", "resume"]


def test_plain_stream_reader_never_touches_flow_control() -> None:
    stream = StreamReader(limit=1)
    stream.feed_data(b"x" * 100)
    assert stream.read_nowait() == b"x" * 100


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["feed", "read", "readline"]), st.integers(1, 50)),
        max_size=60,
    )
)
def test_flow_control_calls_alternate_and_track_buffer_size(ops) -> None:
    proto = FakeProtocol()
    limit = 16
    stream = FlowControlStreamReader(proto, limit=limit)
    for op, n in ops:
        if op == "feed":
            stream.feed_data(b"a\n" * n)
            if stream._buffer_size > 2 * limit:
                assert proto.paused
        else:
            stream.read_nowait(n)
            if stream._buffer_size <= limit:
                assert not proto.paused
        assert_alternating(proto.calls)
    stream.feed_eof()
    assert not proto.paused
    assert_alternating(proto.calls)


async def test_slow_reader_of_one_mib_body_keeps_buffer_bounded() -> None:
    """A simulated socket delivers 16 KiB reads while not paused; the
    handler reads 4 KiB at a time.  The buffer stays within 2 * limit plus
    one socket read, and the body arrives intact."""
    proto = FakeProtocol()
    limit = 2**16
    stream = FlowControlStreamReader(proto, limit=limit)
    body = bytes(random.Random(0).getrandbits(8) for _ in range(4096)) * 256
    recv = 16384
    max_buffered = 0

    async def socket() -> None:
        nonlocal max_buffered
        pos = 0
        while pos < len(body):
            if proto.paused:
                await asyncio.sleep(0)
                continue
            stream.feed_data(body[pos : pos + recv])
            pos += recv
            max_buffered = max(max_buffered, stream._buffer_size)
            await asyncio.sleep(0)
        stream.feed_eof()

    feeder = asyncio.ensure_future(socket())
    received = []
    while True:
        chunk = await stream.read(4096)
        if not chunk:
            break
        received.append(chunk)
        await asyncio.sleep(0)
    await feeder
    assert b"".join(received) == body
    assert max_buffered <= 2 * limit + recv
    assert "pause" in proto.calls
    assert_alternating(proto.calls)


# -- properties ---------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=30))
def test_readline_splits_on_newline_only_for_any_chunking(data: bytes, cuts) -> None:
    stream = StreamReader()
    pos = 0
    for cut in cuts:
        stream.feed_data(data[pos : pos + cut])
        pos += cut
    stream.feed_data(data[pos:])
    stream.feed_eof()

    async def lines() -> List[bytes]:
        return [line async for line in stream]

    expected = [part + b"\n" for part in data.split(b"\n")]
    expected[-1] = expected[-1][:-1]
    if not expected[-1]:
        expected.pop()
    assert asyncio.run(lines()) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300),
    st.lists(st.integers(1, 40), max_size=30),
    st.lists(st.one_of(st.just(-1), st.integers(1, 50)), min_size=1, max_size=30),
)
def test_reads_of_any_sizes_return_the_fed_bytes_in_order(data: bytes, cuts, sizes) -> None:
    stream = StreamReader()
    pos = 0
    for cut in cuts:
        stream.feed_data(data[pos : pos + cut])
        pos += cut
    stream.feed_data(data[pos:])
    stream.feed_eof()

    async def consume() -> bytes:
        out = []
        i = 0
        while not stream.at_eof():
            n = sizes[i % len(sizes)]
            i += 1
            chunk = await stream.read(n)
            assert len(chunk) <= n or n < 0
            out.append(chunk)
        return b"".join(out)

    assert asyncio.run(consume()) == data


def test_reading_a_large_body_in_small_pieces_is_linear() -> None:
    # One 8 MiB chunk read 4 KiB at a time must not copy the rest each time.
    stream = StreamReader()
    stream.feed_data(b"x" * (8 << 20))
    stream.feed_eof()
    start = time.perf_counter()
    total = 0
    while True:
        chunk = stream.read_nowait(4096)
        if not chunk:
            break
        total += len(chunk)
    assert total == 8 << 20
    assert time.perf_counter() - start < 2.0


# -- DataQueue and friends (aiohttp 1.1 import compatibility) ----------------


async def test_data_queue_returns_items_in_order_then_raises_eof_stream() -> None:
    q = DataQueue()
    item = object()
    q.feed_data(item, 1)
    q.feed_data(b"two")
    assert not q.at_eof()
    q.feed_eof()
    assert q.is_eof()
    assert await q.read() is item
    assert await q.read() == b"two"
    assert q.at_eof()
    with pytest.raises(EofStream):
        await q.read()


async def test_data_queue_read_waits_for_an_item() -> None:
    q = DataQueue()
    task = asyncio.ensure_future(q.read())
    await tick()
    assert not task.done()
    q.feed_data("item")
    assert await task == "item"


async def test_data_queue_delivers_items_fed_before_an_error_then_raises_it() -> None:
    q = DataQueue()
    q.feed_data("item")
    q.set_exception(ValueError())
    assert isinstance(q.exception(), ValueError)
    assert await q.read() == "item"
    with pytest.raises(ValueError):
        await q.read()


async def test_data_queue_error_wakes_waiting_reader() -> None:
    q = DataQueue()
    task = asyncio.ensure_future(q.read())
    await tick()
    q.set_exception(ValueError())
    with pytest.raises(ValueError):
        await task


async def test_data_queue_async_for_stops_at_eof() -> None:
    q = DataQueue()
    q.feed_data(1)
    q.feed_data(2)
    q.feed_eof()
    assert [x async for x in q] == [1, 2]


async def test_chunks_queue_returns_empty_bytes_at_eof() -> None:
    q = ChunksQueue()
    q.feed_data(b"chunk", 5)
    q.feed_eof()
    assert await q.read() == b"chunk"
    assert await q.readany() == b""
    assert await q.read() == b""


async def test_flow_control_data_queue_pauses_and_resumes_by_item_size() -> None:
    proto = FakeProtocol()
    q = FlowControlDataQueue(proto, limit=5)
    q.feed_data("a", 6)
    q.feed_data("b", 6)
    assert proto.calls == ["pause"]
    assert await q.read() == "a"  # 6 left: above limit
    assert proto.calls == ["pause"]
    assert await q.read() == "b"
    assert proto.calls == ["pause", "resume"]


async def test_flow_control_chunks_queue_returns_empty_bytes_at_eof() -> None:
    proto = FakeProtocol()
    q = FlowControlChunksQueue(proto, limit=1)
    q.feed_data(b"abc", 3)
    assert proto.calls == ["pause"]
    q.feed_eof()
    assert proto.calls == ["pause", "resume"]
    assert await q.read() == b"abc"
    assert await q.read() == b""


def test_public_names_are_exported() -> None:
    for name in (
        "EofStream",
        "StreamReader",
        "FlowControlStreamReader",
        "EmptyStreamReader",
        "EMPTY_PAYLOAD",
        "DataQueue",
        "ChunksQueue",
        "FlowControlDataQueue",
        "FlowControlChunksQueue",
    ):
        assert name in streams.__all__
        assert hasattr(streams, name)


async def test_body_failed_from_resume_reading_callback_raises_instead_of_hanging():
    """The server may fail a body synchronously inside resume_reading()
    (e.g. an inflate limit hit while refilling); the read must see it."""

    class FailOnResume:
        def __init__(self):
            self.stream = None

        def pause_reading(self):
            pass

        def resume_reading(self):
            self.stream.set_exception(ValueError("failed while refilling"))

    proto = FailOnResume()
    stream = streams.FlowControlStreamReader(proto, limit=4)
    proto.stream = stream
    stream.feed_data(b"0123456789")  # above 2 * limit: pauses
    with pytest.raises(ValueError, match="refilling"):
        await asyncio.wait_for(stream.read(), 2)
