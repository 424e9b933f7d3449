"""Payload streams: the objects a handler reads a request body from.

Strategy.  The protocol side pushes bytes in with ``feed_data()`` and ends
the body with ``feed_eof()`` or ``set_exception()``; the handler side pulls
with the ``read*`` coroutines.  Unread bytes are kept as the chunks they
arrived in (a ``deque`` of ``bytes`` plus an offset into the first one), so
feeding never copies and reading copies each byte at most once.  A reader that
finds too little data parks on a single Future (``_waiter``); every change of
state (data, EOF, error) resolves it and the reader re-examines the stream, so
errors never travel through the Future and a cancelled reader leaves nothing
behind.

Only one coroutine may wait for data at a time: with two, it would be
arbitrary which one gets the next bytes.  Methods that return without waiting
(a read that finds enough buffered data) do not take part in that rule.

Back-pressure (:class:`FlowControlStreamReader`) follows the transport-level
scheme of :class:`asyncio.StreamReader`: stop reading the socket while more
than ``2 * limit`` bytes sit unread, start again once the reader has brought
the buffer down to ``limit`` or wants more than is buffered.

The names, signatures, ``repr`` forms and error messages are those of
``aiohttp.streams`` 1.1, so code and tests written against it keep working.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Deque,
    Iterable,
    List,
    Optional,
    Protocol,
    Tuple,
)

__all__ = (
    "EofStream",
    "StreamReader",
    "FlowControlStreamReader",
    "EmptyStreamReader",
    "EMPTY_PAYLOAD",
    "DataQueue",
    "ChunksQueue",
    "FlowControlDataQueue",
    "FlowControlChunksQueue",
    "AsyncStreamIterator",
    "DEFAULT_LIMIT",
    "EOF_MARKER",
)

#: The default ``limit``: the longest line ``readline()`` accepts and half the
#: amount of unread data at which a flow-controlled stream pauses the socket.
DEFAULT_LIMIT = 2**16

#: What every read returns once the stream is exhausted.
EOF_MARKER = b""

#: The same logger object as ``llserver.log.internal_logger``; looked up by
#: name so that this module depends on nothing but the standard library.
internal_logger = logging.getLogger("llserver.internal")

_WAITING_MSG = "{}() called while another coroutine is already waiting for incoming data"


class EofStream(Exception):
    """Raised by :meth:`DataQueue.read` when the queue is exhausted."""


class ReadingController(Protocol):
    """What a flow-controlled stream needs from its owner (the server
    protocol): a way to stop and restart reading the socket."""

    def pause_reading(self) -> None: ...  # pragma: no cover

    def resume_reading(self) -> None: ...  # pragma: no cover


class AsyncStreamIterator:
    """Turns a read coroutine into an async iterator that stops at ``b''``.

    ``async for`` over a stream must end at EOF rather than spin on empty
    reads, which is the classic infinite loop with this API.
    """

    __slots__ = ("_read",)

    def __init__(self, read: Callable[[], Awaitable[bytes]]) -> None:
        self._read = read

    def __aiter__(self) -> AsyncStreamIterator:
        return self

    async def __anext__(self) -> bytes:
        data = await self._read()
        if not data:
            raise StopAsyncIteration
        return data


class _AsyncIterMixin:
    """``async for line in stream``, ``iter_chunked(n)`` and ``iter_any()``."""

    __slots__ = ()

    def __aiter__(self) -> AsyncStreamIterator:
        return AsyncStreamIterator(self.readline)  # type: ignore[attr-defined]

    def iter_chunked(self, n: int) -> AsyncStreamIterator:
        """Yield chunks of at most ``n`` bytes until EOF."""
        return AsyncStreamIterator(lambda: self.read(n))  # type: ignore[attr-defined]

    def iter_any(self) -> AsyncStreamIterator:
        """Yield whatever is buffered each time data arrives, until EOF."""
        return AsyncStreamIterator(self.readany)  # type: ignore[attr-defined]


class StreamReader(_AsyncIterMixin):
    """A request body, read by one handler coroutine.

    ``limit`` bounds ``readline()``; ``timeout`` (seconds, ``None`` or ``0``
    for none) bounds each wait for data: when it expires the stream gets
    :class:`asyncio.TimeoutError` as its stored exception, so the read that
    timed out and every later read raise it (aiohttp 1.1 semantics: a body
    that stalled is not resumed).  ``loop`` is accepted for aiohttp 1.1
    compatibility; without it the running loop is used at the first wait, so
    a stream may be created outside any event loop.

    ``on_first_read``, if set (constructor keyword or attribute), is called
    once, synchronously, when the first read method is called (``read``,
    ``readany``, ``readline``, ``readexactly``, ``read_nowait`` and the
    iterators, which use them).  The server sets it for a request with
    ``Expect: 100-continue`` to send ``HTTP/1.1 100 Continue`` only when the
    handler really wants the body (RFC 9110 §10.1.1), as h11 and uvicorn do.
    ``wait_eof()`` is not a read and does not trigger it.  The attribute is
    reset to ``None`` before the call, so a hook that raises still runs once;
    its exception propagates to the reader.
    """

    __slots__ = (
        "_limit",
        "_timeout",
        "_loop",
        "_buffer",
        "_buffer_offset",
        "_buffer_size",
        "_eof",
        "_waiter",
        "_eof_waiter",
        "_exception",
        "_eof_counter",
        "_gen",
        "_protocol",
        "_paused",
        "total_bytes",
        "on_first_read",
    )

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        timeout: Optional[float] = None,
        loop: Optional[asyncio.AbstractEventLoop] = None,
        *,
        on_first_read: Optional[Callable[[], Any]] = None,
    ) -> None:
        self._limit = limit
        self._timeout = timeout
        self._loop = loop
        self._buffer: Deque[bytes] = collections.deque()
        self._buffer_offset = 0
        self._buffer_size = 0
        self._eof = False
        self._waiter: Optional[asyncio.Future[None]] = None
        self._eof_waiter: Optional[asyncio.Future[None]] = None
        self._exception: Optional[BaseException] = None
        self._eof_counter = 0
        # Bumped whenever the head of the buffer changes (a read or an
        # unread), so that readline() can tell whether what it already
        # scanned is still there after a wait.
        self._gen = 0
        self._protocol: Optional[ReadingController] = None
        self._paused = False
        #: Bytes fed so far (the size of the body as received).
        self.total_bytes = 0
        self.on_first_read = on_first_read

    def __repr__(self) -> str:
        # The literal name, not the class name: aiohttp 1.1 showed request
        # bodies (a flow-controlled subclass) as ``<StreamReader ...>``.
        info = ["StreamReader"]
        if self._buffer_size:
            info.append(f"{self._buffer_size} bytes")
        if self._eof:
            info.append("eof")
        if self._limit != DEFAULT_LIMIT:
            info.append(f"l={self._limit}")
        if self._waiter is not None:
            info.append(f"w={self._waiter!r}")
        if self._exception is not None:
            info.append(f"e={self._exception!r}")
        return "<" + " ".join(info) + ">"

    # -- state ------------------------------------------------------------

    def exception(self) -> Optional[BaseException]:
        """The stored error, or ``None``."""
        return self._exception

    def set_exception(self, exc: BaseException) -> None:
        """Store ``exc``: every later read raises it, buffered data or not.

        The server uses it for a broken body (bad chunk size, a client that
        disconnected mid-body); the body can no longer be trusted, so a read
        must not return data that precedes the failure as if all were well.
        """
        self._exception = exc
        self._wake()
        self._wake_eof()
        # No more data will come for this stream: give the socket back.
        if self._paused:
            self._resume()

    def is_eof(self) -> bool:
        """True once the whole body has arrived, even if it is unread."""
        return self._eof

    @property
    def buffered(self) -> int:
        """Bytes received and not yet read (what flow control watches)."""
        return self._buffer_size

    def at_eof(self) -> bool:
        """True once the whole body has arrived and been read."""
        return self._eof and not self._buffer_size

    async def wait_eof(self) -> None:
        """Return once the whole body has arrived; it stays readable.

        Raises the stored exception if the body failed before its end (aiohttp
        1.1 waited forever in that case).  Several coroutines may wait.
        """
        if self._eof:
            return
        if self._exception is None:
            fut = self._eof_waiter
            if fut is None:
                fut = self._eof_waiter = self._get_loop().create_future()
            # Shielded: one cancelled waiter must not cancel the others.
            await asyncio.shield(fut)
        if not self._eof and self._exception is not None:
            raise self._exception

    # -- feeding (protocol side) -----------------------------------------

    def feed_data(self, data: bytes, size: int = 0) -> None:
        """Append received body bytes.  ``size`` is accepted and ignored, for
        callers written against aiohttp 1.1's flow-control readers."""
        if self._eof:
            raise AssertionError("feed_data after feed_eof")
        if not data:
            return
        if type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        self._buffer.append(data)
        self._buffer_size += n
        self.total_bytes += n
        self._wake()
        if self._protocol is not None and not self._paused and self._buffer_size > 2 * self._limit:
            self._paused = True
            self._protocol.pause_reading()

    def feed_eof(self) -> None:
        """Mark the end of the body; wakes readers and ``wait_eof()``."""
        self._eof = True
        self._wake()
        self._wake_eof()
        if self._paused:
            self._resume()

    def unread_data(self, data: bytes) -> None:
        """Push ``data`` back in front of the buffer (waiters are not woken:
        the data was already seen by whoever is reading)."""
        if not data:
            return
        if type(data) is not bytes:
            data = bytes(data)
        if self._buffer_offset:
            self._buffer[0] = self._buffer[0][self._buffer_offset :]
            self._buffer_offset = 0
        self._buffer.appendleft(data)
        self._buffer_size += len(data)
        self._gen += 1

    # -- reading (handler side) ------------------------------------------

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (``n < 0``: everything until EOF).

        Waits only when nothing is buffered; returns ``b''`` at EOF.  More
        than five reads at EOF log one warning on ``llserver.internal``:
        a loop ``while True: data = await read()`` that forgot to test for
        ``b''`` spins forever, and this makes it visible.
        """
        if self.on_first_read is not None:
            self._first_read()
        if self._exception is not None:
            raise self._exception
        if self._eof and not self._buffer_size:
            self._eof_counter += 1
            if self._eof_counter == 6:
                internal_logger.warning(
                    "Multiple access to StreamReader in eof state, might be infinite loop.",
                    stack_info=True,
                )
        if not n:
            return b""
        if n < 0:
            # Drain chunk by chunk rather than waiting for EOF with all of it
            # buffered, so flow control keeps working for large bodies.
            blocks: List[bytes] = []
            while True:
                while not self._buffer_size and not self._eof:
                    await self._wait("read")
                    if self._exception is not None:
                        raise self._exception
                if not self._buffer_size:
                    return b"".join(blocks)
                blocks.append(self._take(self._buffer_size))
        while not self._buffer_size and not self._eof:
            await self._wait("read")
            if self._exception is not None:
                raise self._exception
        return self._take(min(n, self._buffer_size))

    async def readany(self) -> bytes:
        """Everything buffered, waiting for the next packet if there is
        none; ``b''`` at EOF."""
        if self.on_first_read is not None:
            self._first_read()
        while True:
            if self._exception is not None:
                raise self._exception
            if self._buffer_size or self._eof:
                return self._take(self._buffer_size)
            await self._wait("readany")

    async def readline(self) -> bytes:
        """One line including its ``\\n``; at EOF the unterminated rest, then
        ``b''``.

        A line longer than ``limit`` raises ``ValueError('Line is too
        long')``.  What was examined up to that point is dropped: the line
        through its ``\\n`` if that was in the chunk where the limit was
        crossed, otherwise the received chunks up to and including that one.
        Everything after stays readable (aiohttp 1.1 semantics, pinned by its
        tests).  Data is consumed only when the line is complete, so a
        cancelled or failed ``readline()`` loses nothing.
        """
        if self.on_first_read is not None:
            self._first_read()
        limit = self._limit
        scanned = 0  # chunks already searched without finding b'\n'
        scanned_size = 0  # unread bytes in them
        gen = self._gen
        while True:
            if self._exception is not None:
                raise self._exception
            buf = self._buffer
            if gen != self._gen:  # someone read or unread meanwhile
                gen = self._gen
                scanned = scanned_size = 0
            count = len(buf)
            if count > scanned:
                if scanned:
                    # Only the new chunks, reached from the tail so that a
                    # line trickling in byte by byte is not rescanned.
                    chunks: Iterable[bytes] = _tail(buf, count - scanned)
                    start = 0
                else:
                    chunks = buf
                    start = self._buffer_offset
                for chunk in chunks:
                    pos = chunk.find(b"\n", start)
                    if pos != -1:
                        line = self._take(scanned_size + pos + 1 - start)
                        if len(line) > limit:
                            raise ValueError("Line is too long")
                        return line
                    scanned_size += len(chunk) - start
                    scanned += 1
                    start = 0
                    if scanned_size > limit:
                        self._take(scanned_size)
                        raise ValueError("Line is too long")
            if self._eof:
                return self._take(scanned_size)
            await self._wait("readline")

    async def readexactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes (``b''`` for ``n <= 0``).

        At an early EOF raises :class:`asyncio.IncompleteReadError` whose
        ``partial`` holds (and consumes) what was left.  Nothing is consumed
        while waiting, so a cancelled call loses nothing.
        """
        if self.on_first_read is not None:
            self._first_read()
        if self._exception is not None:
            raise self._exception
        if n <= 0:
            return b""
        while self._buffer_size < n:
            if self._eof:
                raise asyncio.IncompleteReadError(self._take(self._buffer_size), n)
            await self._wait("readexactly")
            if self._exception is not None:
                raise self._exception
        return self._take(n)

    def read_nowait(self, n: int = -1) -> bytes:
        """Up to ``n`` buffered bytes (``n < 0``: all of them), never
        waiting; ``b''`` when nothing is buffered."""
        if n is None:
            # aiohttp 1.1 asserted this; raise it explicitly so that it holds
            # under ``python -O`` too.
            raise AssertionError("n should be -1")
        if self.on_first_read is not None:
            self._first_read()
        if self._exception is not None:
            raise self._exception
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            raise RuntimeError(_WAITING_MSG.format("read_nowait"))
        if n < 0 or n > self._buffer_size:
            n = self._buffer_size
        return self._take(n)

    # -- internals --------------------------------------------------------

    def _first_read(self) -> None:
        hook = self.on_first_read
        self.on_first_read = None
        if hook is not None:
            hook()

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = asyncio.get_running_loop()
        return loop

    async def _wait(self, func_name: str) -> None:
        """Park until the next change of state (data, EOF or error)."""
        if self._waiter is not None:
            raise RuntimeError(_WAITING_MSG.format(func_name))
        if self._exception is not None:
            # Set while the caller was consuming (a resume_reading() callback
            # can fail the body synchronously): nothing would wake us.
            return
        loop = self._get_loop()
        waiter = self._waiter = loop.create_future()
        timer = None
        if self._timeout:
            timer = loop.call_later(self._timeout, self._on_timeout, waiter)
        if self._paused:
            # The reader needs more than is buffered (readexactly(n) with a
            # large n): reading must go on or it would wait forever.
            self._resume()
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None
            if timer is not None:
                timer.cancel()

    def _on_timeout(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            self.set_exception(asyncio.TimeoutError())

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_eof(self) -> None:
        waiter = self._eof_waiter
        if waiter is not None:
            self._eof_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _resume(self) -> None:
        self._paused = False
        self._protocol.resume_reading()  # type: ignore[union-attr]

    def _take(self, n: int) -> bytes:
        """Consume and return the first ``n`` buffered bytes (``n`` must not
        exceed the buffered amount)."""
        if not n:
            return b""
        buf = self._buffer
        off = self._buffer_offset
        first = buf[0]
        avail = len(first) - off
        if n < avail:
            self._buffer_offset = off + n
            data = first[off : off + n]
        elif n == avail:
            buf.popleft()
            self._buffer_offset = 0
            data = first[off:] if off else first
        else:
            parts = [first[off:] if off else first]
            buf.popleft()
            rest = n - avail
            while rest:
                chunk = buf[0]
                size = len(chunk)
                if size <= rest:
                    parts.append(chunk)
                    buf.popleft()
                    rest -= size
                else:
                    parts.append(chunk[:rest])
                    self._buffer_offset = rest
                    break
            else:
                self._buffer_offset = 0
            data = b"".join(parts)
        self._buffer_size -= n
        self._gen += 1
        if self._paused and self._buffer_size <= self._limit:
            self._resume()
        return data


def _tail(buf: Deque[bytes], count: int) -> List[bytes]:
    """The last ``count`` items of ``buf`` in order, in O(count)."""
    items = []
    it = reversed(buf)
    for _ in range(count):
        items.append(next(it))
    items.reverse()
    return items


class FlowControlStreamReader(StreamReader):
    """A :class:`StreamReader` that applies back-pressure to the socket.

    ``protocol`` is any object with ``pause_reading()`` and
    ``resume_reading()`` (the server protocol).  After a ``feed_data()``
    leaves more than ``2 * limit`` bytes unread, ``pause_reading()`` is
    called; ``resume_reading()`` follows when reads bring the unread amount
    down to ``limit`` or less (hysteresis, so a reader taking small pieces
    does not toggle the socket on every read), when a reader waits for more
    than is buffered, and when the body ends (EOF or error), since this
    stream then no longer needs the socket held.  The two calls strictly
    alternate, starting with a pause: never two of the same in a row.
    ``limit`` is also the ``readline()`` limit.
    """

    __slots__ = ()

    def __init__(
        self,
        protocol: ReadingController,
        limit: int = DEFAULT_LIMIT,
        *,
        timeout: Optional[float] = None,
        loop: Optional[asyncio.AbstractEventLoop] = None,
        on_first_read: Optional[Callable[[], Any]] = None,
    ) -> None:
        super().__init__(limit, timeout, loop, on_first_read=on_first_read)
        self._protocol = protocol


class EmptyStreamReader(_AsyncIterMixin):
    """The body of a request that has none: always at EOF.

    One shared instance, :data:`EMPTY_PAYLOAD`, serves every body-less
    request, so feeding and ``set_exception()`` are no-ops (they must not
    leak state from one request into another).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "<EmptyStreamReader>"

    def exception(self) -> Optional[BaseException]:
        return None

    def set_exception(self, exc: BaseException) -> None:
        pass

    def feed_data(self, data: bytes, size: int = 0) -> None:
        pass

    def feed_eof(self) -> None:
        pass

    def is_eof(self) -> bool:
        return True

    def at_eof(self) -> bool:
        return True

    async def wait_eof(self) -> None:
        return

    async def read(self, n: int = -1) -> bytes:
        return EOF_MARKER

    async def readany(self) -> bytes:
        return EOF_MARKER

    async def readline(self) -> bytes:
        return EOF_MARKER

    async def readexactly(self, n: int) -> bytes:
        # n <= 0 asks for nothing, which even an empty body can give, as
        # StreamReader.readexactly does.
        if n <= 0:
            return EOF_MARKER
        raise asyncio.IncompleteReadError(EOF_MARKER, n)

    def read_nowait(self, n: int = -1) -> bytes:
        # aiohttp 1.1 took no argument here; accepting ``n`` matches
        # StreamReader.read_nowait (api-spec §11 row 25).
        return EOF_MARKER

    @property
    def total_bytes(self) -> int:
        return 0


#: The body of every request without one (tests check ``is EMPTY_PAYLOAD``).
EMPTY_PAYLOAD = EmptyStreamReader()


class DataQueue:
    """A queue of parsed objects with one reader (aiohttp 1.1 import
    compatibility).  ``read()`` returns items in order, and raises
    :class:`EofStream` once the queue is fed EOF and empty.  Unlike
    :class:`StreamReader`, items fed before an error are still delivered;
    the error is raised when they run out."""

    __slots__ = (
        "_loop",
        "_eof",
        "_waiter",
        "_exception",
        "_size",
        "_buffer",
        "_protocol",
        "_paused",
        "_limit",
    )

    def __init__(self, *, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        self._loop = loop
        self._eof = False
        self._waiter: Optional[asyncio.Future[None]] = None
        self._exception: Optional[BaseException] = None
        self._size = 0
        self._buffer: Deque[Tuple[Any, int]] = collections.deque()
        self._protocol: Optional[ReadingController] = None
        self._paused = False
        self._limit = DEFAULT_LIMIT

    def __aiter__(self) -> AsyncIterator[Any]:
        return _QueueIterator(self)

    def is_eof(self) -> bool:
        return self._eof

    def at_eof(self) -> bool:
        return self._eof and not self._buffer

    def exception(self) -> Optional[BaseException]:
        return self._exception

    def set_exception(self, exc: BaseException) -> None:
        self._exception = exc
        self._wake()
        if self._paused:
            self._resume()

    def feed_data(self, data: Any, size: int = 0) -> None:
        """Append an item; ``size`` is its weight for flow control."""
        self._size += size
        self._buffer.append((data, size))
        self._wake()
        if self._protocol is not None and not self._paused and self._size > 2 * self._limit:
            self._paused = True
            self._protocol.pause_reading()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()
        if self._paused:
            self._resume()

    async def read(self) -> Any:
        while not self._buffer and not self._eof:
            if self._exception is not None:
                raise self._exception
            await self._wait()
        if self._buffer:
            data, size = self._buffer.popleft()
            self._size -= size
            if self._paused and self._size <= self._limit:
                self._resume()
            return data
        if self._exception is not None:
            raise self._exception
        raise EofStream

    async def _wait(self) -> None:
        if self._waiter is not None:
            raise RuntimeError(_WAITING_MSG.format("read"))
        loop = self._loop if self._loop is not None else asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        if self._paused:
            self._resume()
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _resume(self) -> None:
        self._paused = False
        self._protocol.resume_reading()  # type: ignore[union-attr]


class _QueueIterator:
    __slots__ = ("_queue",)

    def __init__(self, queue: DataQueue) -> None:
        self._queue = queue

    def __aiter__(self) -> _QueueIterator:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._queue.read()
        except EofStream:
            raise StopAsyncIteration from None


class ChunksQueue(DataQueue):
    """A :class:`DataQueue` of byte chunks: ``read()`` returns ``b''`` at
    EOF instead of raising :class:`EofStream`."""

    __slots__ = ()

    async def read(self) -> Any:
        try:
            return await super().read()
        except EofStream:
            return EOF_MARKER

    readany = read


class FlowControlDataQueue(DataQueue):
    """A :class:`DataQueue` that pauses ``protocol`` while the summed
    ``size`` of unread items exceeds ``2 * limit``, with the same rules as
    :class:`FlowControlStreamReader`."""

    __slots__ = ()

    def __init__(
        self,
        protocol: ReadingController,
        *,
        limit: int = DEFAULT_LIMIT,
        loop: Optional[asyncio.AbstractEventLoop] = None,
    ) -> None:
        super().__init__(loop=loop)
        self._protocol = protocol
        self._limit = limit


class FlowControlChunksQueue(FlowControlDataQueue):
    """A :class:`FlowControlDataQueue` whose ``read()`` returns ``b''`` at
    EOF."""

    __slots__ = ()

    async def read(self) -> Any:
        try:
            return await super().read()
        except EofStream:
            return EOF_MARKER

    readany = read
