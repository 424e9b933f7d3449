"""The connection's byte writer (``protocol.writer``), a small class of our own.

aiohttp 1.1's ``StreamWriter`` subclassed ``asyncio.StreamWriter`` without
calling its constructor, which modern asyncio no longer tolerates (api-spec §11
row 28).  This class keeps the method names user code touches (``write``,
``writelines``, ``drain``, ``transport``, ``get_extra_info``, ``can_write_eof``,
``write_eof``, ``close``, the TCP_NODELAY / TCP_CORK switches) and adds what
the server and :class:`~llserver.response.Response` need:

Flow control.  The writer owns the "paused" state instead of a protocol
mixin.  Contract with the server protocol (the only one): its
``pause_writing()``, ``resume_writing()`` and ``connection_lost(exc)`` call
the writer's methods of the same names.  Nothing else on the protocol is
read; ``protocol`` is only stored.  ``drain()`` then returns the shared
already-done awaitable while the transport is below its high-water mark (the
common case costs no allocation), a waiter woken by ``resume_writing()``
otherwise, and, once the connection is lost, an awaitable that raises
(api-spec §6).  None of them warns when dropped (api-spec §11 row 3).

Coalescing.  ``cork()`` makes ``write()`` collect bytes instead of calling
``transport.write()``; they go out joined, in one ``transport.write()``, at
``uncork()``/``flush()``, before ``drain()``, ``write_eof()`` and ``close()``,
when 64 KiB have gathered, and at the latest on the next event-loop iteration
(a ``call_soon`` armed by the first buffered write), so no byte waits for
anything but the current synchronous step of a handler.  A response head and
a small body thus leave in one segment.  This is unrelated to ``tcp_cork``,
which is the kernel's TCP_CORK socket option.

Per-request context.  The server sets, before each handler call:
``request_method`` (``'HEAD'`` makes a ``Response`` send no body bytes, RFC
9110 §9.3.2), ``request_version`` (a request below HTTP/1.1 never gets chunked
framing, RFC 9112 §6.1), ``request_should_close`` (``True`` makes a ``Response``
announce ``Connection: close``, RFC 9112 §9.6) and ``response = None``.  A
``Response`` built on this writer stores itself in ``response`` when it sends
its head, so the server can ask it for its keep-alive verdict afterwards.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Iterable, List, Optional

from ._awaitables import DONE, Failed, Waiter

__all__ = ("StreamWriter", "CORK_LIMIT")

# Linux has TCP_CORK; the BSDs and macOS have the equivalent TCP_NOPUSH.
# Elsewhere set_tcp_cork() only records the wish.
_CORK_OPT: Optional[int] = getattr(socket, "TCP_CORK", None)
if _CORK_OPT is None:
    _CORK_OPT = getattr(socket, "TCP_NOPUSH", None)

_INET_FAMILIES = tuple(
    getattr(socket, name) for name in ("AF_INET", "AF_INET6") if hasattr(socket, name)
)

#: Bytes gathered while corked that trigger an immediate flush.
CORK_LIMIT = 64 * 1024


class StreamWriter:
    """Writes a connection's output and applies flow control to it.

    ``StreamWriter(transport, protocol, reader=None, loop=None)``, the
    signature of aiohttp 1.1.  ``reader`` is consulted only after the
    connection is lost: if it holds an exception (``reader.exception()``),
    ``drain()`` raises that one, as asyncio's ``StreamWriter`` did.
    """

    # Per-request context, reset by the server before each handler call.
    # Class-level defaults keep the constructor short.
    request_method: Optional[str] = None
    request_version: Any = None
    request_should_close: bool = False
    response: Any = None
    #: Set by the server while it runs a handler's synchronous part: it
    #: flushes itself when the handler returns or suspends, so no
    #: ``call_soon`` flush needs scheduling for each response.
    owner_flushes: bool = False

    def __init__(
        self,
        transport: Any,
        protocol: Any,
        reader: Any = None,
        loop: Optional[asyncio.AbstractEventLoop] = None,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._reader = reader
        self._loop = loop
        self._paused = False
        self._waiters: Optional[List[asyncio.Future[None]]] = None
        self._lost = False
        self._closing = False  # close() was called through this writer
        self._lost_exc: Optional[BaseException] = None
        # Corking: a list while corked, None otherwise (write() tests this).
        self._buffer: Optional[List[bytes]] = None
        self._buffered = 0
        self._flush_handle: Optional[asyncio.Handle] = None
        self._tcp_nodelay = False
        self._tcp_cork = False
        self._socket = transport.get_extra_info("socket") if transport is not None else None

    def __repr__(self) -> str:
        state = "lost" if self._lost else ("paused" if self._paused else "open")
        return f"<StreamWriter {state} transport={self._transport!r}>"

    # ------------------------------------------------------------------ I/O

    @property
    def transport(self) -> Any:
        return self._transport

    def write(self, data: Any) -> None:
        """Send ``data`` (any bytes-like object), or queue it while corked."""
        buf = self._buffer
        if buf is None:
            self._transport.write(data)
        elif type(data) is bytes and data and not self._lost:
            # _queue() inlined for the common case.
            buf.append(data)
            self._buffered += len(data)
            if self._buffered >= CORK_LIMIT:
                self.flush()
            elif self._flush_handle is None and not self.owner_flushes and self._loop is not None:
                self._flush_handle = self._loop.call_soon(self._flush_soon)
        else:
            self._queue(data)

    def writelines(self, data: Iterable[Any]) -> None:
        if self._buffer is None:
            self._transport.writelines(data)
        else:
            for item in data:
                self._queue(item)

    def _queue(self, data: Any) -> None:
        # The caller may reuse a bytearray or memoryview after write()
        # returns; transport.write() copies what it cannot send, so must we.
        if self._lost:
            return  # undeliverable; asyncio would only count and warn
        if type(data) is not bytes:
            data = bytes(data)
        if not data:
            return
        self._buffer.append(data)  # type: ignore[union-attr]
        self._buffered += len(data)
        if self._buffered >= CORK_LIMIT:
            self.flush()
        elif self._flush_handle is None and self._loop is not None and not self.owner_flushes:
            self._flush_handle = self._loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_handle = None
        self.flush()

    def cork(self) -> None:
        """Start gathering writes into one ``transport.write()`` (see the
        module docstring for when they are flushed)."""
        if self._buffer is None:
            self._buffer = []
            if self._loop is None:
                try:
                    self._loop = asyncio.get_running_loop()
                except RuntimeError:
                    pass  # no loop: bytes wait for flush()/uncork()

    def uncork(self) -> None:
        """Flush what was gathered and write through again."""
        self.flush()
        self._buffer = None

    @property
    def corked(self) -> bool:
        return self._buffer is not None

    def flush(self) -> None:
        """Hand gathered bytes to the transport now, in one write; stays corked."""
        handle = self._flush_handle
        if handle is not None:
            self._flush_handle = None
            handle.cancel()
        buf = self._buffer
        if buf:
            data = buf[0] if len(buf) == 1 else b"".join(buf)
            buf.clear()
            self._buffered = 0
            transport = self._transport
            if transport.is_closing() and not self._closing:
                # The connection failed (reset) and asyncio will report it
                # lost on the next iteration; writing now only makes it log
                # "socket.send() raised exception." for every write.
                return
            transport.write(data)

    def can_write_eof(self) -> bool:
        return bool(self._transport.can_write_eof())

    def write_eof(self) -> None:
        """Flush, then half-close the write side (TCP FIN)."""
        if self._buffer:
            self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        """Flush, then close the transport (asyncio sends what it buffered)."""
        if self._buffer:
            self.flush()
        self._closing = True
        self._transport.close()

    def is_closing(self) -> bool:
        return bool(self._transport.is_closing())

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    # --------------------------------------------------------- flow control

    def drain(self) -> Any:
        """Return something to await before writing more.

        Flushes gathered bytes first.  The result is awaitable and iterable
        (``await`` and ``yield from`` both work) and may be dropped silently.
        Awaiting it raises once the connection is lost: the reader's stored
        exception if it has one, else the exception the connection was lost
        with, else ``ConnectionResetError('Connection lost')``.
        """
        if self._buffer and (self._paused or not self.owner_flushes):
            # (While the server runs a handler's synchronous step it flushes
            # at the end of that step: responses to pipelined requests then
            # leave together.  The buffer stays under CORK_LIMIT meanwhile.)
            self.flush()
        if self._lost:
            return Failed(self._lost_error())
        if not self._paused:
            return DONE
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        fut = loop.create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
        # One future per drain() call: a cancelled drainer cancels only its
        # own future, never the one another task waits on.
        waiters.append(fut)
        return Waiter(fut, self._raise_if_lost)

    def pause_writing(self) -> None:
        """Called (via the protocol) when the transport is above its high-water mark."""
        self._paused = True

    def resume_writing(self) -> None:
        """Called (via the protocol) when the transport drained below its low-water mark."""
        self._paused = False
        self._wake_waiters()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        """Called (via the protocol) when the connection is gone.

        Wakes every drainer (each then raises) and discards gathered bytes,
        which could no longer be delivered.
        """
        self._lost = True
        self._lost_exc = exc
        # The last Response points at this writer and this writer at it:
        # break the pair, so both go with reference counting.
        self.response = None
        handle = self._flush_handle
        if handle is not None:
            self._flush_handle = None
            handle.cancel()
        if self._buffer is not None:
            self._buffer.clear()
            self._buffered = 0
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = None
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def _raise_if_lost(self) -> None:
        if self._lost:
            raise self._lost_error()

    def _lost_error(self) -> BaseException:
        reader = self._reader
        if reader is not None:
            get_exc = getattr(reader, "exception", None)
            exc = get_exc() if get_exc is not None else None
            if isinstance(exc, BaseException):
                return exc
        if self._lost_exc is not None:
            return self._lost_exc
        return ConnectionResetError("Connection lost")

    # ---------------------------------------------------------- TCP options

    @property
    def tcp_nodelay(self) -> bool:
        return self._tcp_nodelay

    def set_tcp_nodelay(self, value: bool) -> None:
        """Switch Nagle's algorithm off (``True``) or on.

        NODELAY and CORK exclude each other: enabling one clears the other.
        The flag records the request even where it cannot apply (no socket,
        AF_UNIX); OS errors from ``setsockopt`` (e.g. on a socket that just
        got reset) are ignored because the option is only an optimisation.
        """
        value = bool(value)
        if value == self._tcp_nodelay:
            return
        self._tcp_nodelay = value
        sock = self._tcp_socket()
        if value and self._tcp_cork:
            self._tcp_cork = False
            if sock is not None and _CORK_OPT is not None:
                _setsockopt(sock, _CORK_OPT, False)
        if sock is not None:
            _setsockopt(sock, socket.TCP_NODELAY, value)

    @property
    def tcp_cork(self) -> bool:
        return self._tcp_cork

    def set_tcp_cork(self, value: bool) -> None:
        """Ask the kernel to hold partial segments (TCP_CORK / TCP_NOPUSH).

        Clears NODELAY when enabled.  Does nothing at socket level on
        platforms without either option.
        """
        value = bool(value)
        if value == self._tcp_cork:
            return
        self._tcp_cork = value
        sock = self._tcp_socket()
        if value and self._tcp_nodelay:
            self._tcp_nodelay = False
            if sock is not None:
                _setsockopt(sock, socket.TCP_NODELAY, False)
        if sock is not None and _CORK_OPT is not None:
            _setsockopt(sock, _CORK_OPT, value)

    def _tcp_socket(self) -> Any:
        # TLS transports expose the underlying TCP socket here too.
        sock = self._socket
        if sock is None or getattr(sock, "family", None) not in _INET_FAMILIES:
            return None
        return sock


def _setsockopt(sock: Any, option: int, value: bool) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, option, value)
    except OSError:
        pass
