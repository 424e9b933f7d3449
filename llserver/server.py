"""``ServerHttpProtocol``: one HTTP/1.1 connection, aiohttp 1.1's API.

Lifecycle of a connection (one place for each decision):

* ``data_received`` feeds the parser once per buffer and routes its events:
  a head becomes a queued request with its payload stream; body bytes go to
  the stream of the message being parsed (which, with pipelining, may not be
  the one being handled); a parse error is queued after the requests that
  preceded it, so nothing already received is lost and nothing after the
  error is served.
* ``start()`` (the task in ``_request_handler``, as in 1.1) takes queued
  requests one at a time, calls ``handle_request`` and then decides, in
  :meth:`_should_keep_alive`, whether the connection serves another request.
* Deadlines share one loop timer per connection, which only ever moves to a
  stored deadline: idle before a request (``keepalive_timeout``), a head
  once begun (``header_timeout``, or ``slow_request_timeout``), a body read
  without progress (``body_timeout``, in the payload stream).  Expiry closes
  silently (api-spec §12 decision 5).
* Input flow control: reading pauses while a body stream holds more than its
  limit unread, while compressed input waits to be inflated, or while more
  than ``max_pipelined`` requests wait.
* Every exit goes through ``start()``'s ``finally``, which closes, after a
  bounded lingering read when input may still be on its way.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import sys
import types
import warnings
from asyncio.tasks import _enter_task, _leave_task
from asyncio.tasks import current_task as _current_task
from collections import deque
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Awaitable, Deque, List, Optional, Tuple, Union, cast

from . import errors, hdrs
from ._decoders import BodyDecoder
from .compat import ensure_awaitable
from .log import AccessLogger, access_logger, server_logger
from .message import RawRequestMessage
from .parser import (
    DEFAULT_MAX_HEADER_COUNT,
    END_OF_MESSAGE,
    HEAD_EXPECT_CONTINUE,
    HEAD_HAS_BODY,
    HEAD_UPGRADE,
    RequestParser,
    Upgrade,
)
from .response import Response
from .streams import EMPTY_PAYLOAD, FlowControlStreamReader
from .writer import StreamWriter

if TYPE_CHECKING:
    from .forwarded import TrustedProxies, TrustedProxiesSpec

__all__ = ("ServerHttpProtocol",)

# {status: (phrase, message)}: what http.server.BaseHTTPRequestHandler.responses
# holds (built the same way), without importing http.server, which pulls in
# the email package (a few MiB of resident memory per process).
RESPONSES = {status.value: (status.phrase, status.description) for status in HTTPStatus}

DEFAULT_ERROR_MESSAGE = """
<html>
  <head>
    <title>{status} {reason}</title>
  </head>
  <body>
    <h1>{status} {reason}</h1>
    {message}
  </body>
</html>"""

#: Requests parsed ahead of the one being handled before reading pauses.
MAX_PIPELINED = 16

#: Deadline for reading a request head when neither ``keepalive_timeout``
#: nor ``slow_request_timeout`` gives one: a client never holds a
#: connection forever by sending nothing (slowloris).
DEFAULT_HEAD_TIMEOUT = 60.0

#: Bound on a decompressed request body when ``max_body_size`` is None:
#: a few kilobytes of gzip must not inflate into gigabytes (→ 413).
DEFAULT_MAX_INFLATED_SIZE = 64 * 1024 * 1024

#: Once a request head has begun to arrive, it must be complete within
#: this many seconds (``slow_request_timeout``, when set, takes its place):
#: a client trickling its head a byte at a time (slowloris) is closed.
DEFAULT_HEADER_TIMEOUT = 15.0

#: A handler waiting for request-body bytes that do not come for this many
#: seconds sees the body fail; the connection then closes silently (a
#: client that stops sending mid-body must not hold a handler forever).
DEFAULT_BODY_TIMEOUT = 60.0

#: Lingering close bounds: how long and how much unread input is drained
#: after the last response before the socket is closed (RFC 9112 §9.6).
DEFAULT_LINGERING_TIME = 2.0
LINGER_MAX_BYTES = 1024 * 1024

_PAUSE_BODY = 1
_PAUSE_QUEUE = 2
_PAUSE_UPGRADE = 4
_PAUSE_INFLATE = 8


def tcp_keepalive(server: Any, transport: asyncio.BaseTransport) -> None:
    """Turn on SO_KEEPALIVE for the connection's socket (aiohttp 1.1 name)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        except OSError:
            pass


@types.coroutine
def _resume(coro: Any, fut: Any, exc: Optional[BaseException] = None) -> Any:
    """Go on with a coroutine whose first step already ran and yielded
    ``fut``: what ``await coro`` would have done from there (values and
    exceptions, cancellation included, pass through to ``coro``).  With
    ``exc``, ``coro`` first gets that exception where it waits."""
    if exc is not None:
        try:
            fut = coro.throw(exc)
        except StopIteration as stop:
            return stop.value
    while True:
        try:
            value = yield fut
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                fut = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                fut = coro.send(value)
            except StopIteration as stop:
                return stop.value


def _caller_stacklevel(obj: Any) -> int:
    """The warnings stacklevel of the line that built ``obj``, past any
    ``__init__`` of subclasses that chain to ours with ``super()``."""
    level = 2
    frame: Optional[types.FrameType] = sys._getframe(2)
    while (
        frame is not None
        and frame.f_code.co_name == "__init__"
        and frame.f_locals.get("self") is obj
    ):
        level += 1
        frame = frame.f_back
    return level


class _Request:
    """A parsed request waiting for (or being served by) the handler."""

    __slots__ = ("message", "flags", "payload", "complete", "framing_error")

    def __init__(self, message: RawRequestMessage, flags: int, payload: Any) -> None:
        self.message = message
        self.flags = flags
        self.payload = payload
        self.complete = False  # the whole body arrived
        self.framing_error: Optional[errors.HttpProcessingError] = None


class _BodyFeed:
    """Routes body bytes of one message into its payload, decompressing
    when Content-Encoding asks for it.

    Decompression follows the reader: compressed bytes queue in the decoder
    and are inflated only while the payload holds less than its high-water
    mark, so a small gzip body never sits in memory inflated (reading the
    socket pauses meanwhile)."""

    __slots__ = ("request", "decoder", "ended")

    def __init__(self, request: _Request, decoder: Optional[BodyDecoder]) -> None:
        self.request = request
        self.decoder: Any = decoder
        self.ended = False  # the wire body is complete


class _Discard:
    """Stands in for a decoder once a body failed or finished: drops bytes."""

    __slots__ = ()
    pending = False

    def feed(self, data: bytes) -> None:
        pass

    def inflate(self, max_length: int) -> bytes:
        return b""

    def flush(self) -> bytes:
        return b""


_DISCARD: Any = _Discard()


class ServerHttpProtocol(asyncio.Protocol):
    """Serves HTTP/1.1 on one connection; subclass it and override
    :meth:`handle_request`.

    Keyword arguments are those of aiohttp 1.1 (api-spec §2.1) plus limits:
    ``max_line_size`` (request line, 414), ``max_field_size`` (one header
    line, 431), ``max_headers`` (header section size, 431),
    ``max_header_count`` (431) and ``max_body_size`` (413, also after
    decompression; ``None`` for no limit).
    """

    _request_count = 0
    _request_handler: Optional[asyncio.Task[None]] = None
    # None until connection_made() when not given (the type says what it is
    # whenever a connection runs).
    _loop: asyncio.AbstractEventLoop
    _reading_request = False
    _keepalive = False
    _closing = False
    _transport: Optional[asyncio.Transport] = None
    # Set only when trusted_proxies is given: None costs nothing per request.
    _trusted_proxies: Optional[TrustedProxies] = None
    writer: Optional[StreamWriter] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Legacy handlers written as generators (``yield from`` style, once
        decorated with the removed ``@asyncio.coroutine``) are made
        awaitable, so they run unchanged (api-spec §11 row 1)."""
        super().__init_subclass__(**kwargs)
        handler = cls.__dict__.get("handle_request")
        if handler is not None and inspect.isgeneratorfunction(handler):
            cls.handle_request = types.coroutine(handler)  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        loop: Optional[asyncio.AbstractEventLoop] = None,
        keepalive_timeout: Optional[float] = 75,
        tcp_keepalive: bool = True,
        slow_request_timeout: Optional[float] = 0,
        logger: Any = server_logger,
        access_log: Any = access_logger,
        access_log_format: Optional[str] = None,
        debug: bool = False,
        max_line_size: int = 8190,
        max_headers: int = 32768,
        max_field_size: int = 8190,
        max_header_count: int = DEFAULT_MAX_HEADER_COUNT,
        max_body_size: Optional[int] = None,
        max_pipelined: int = MAX_PIPELINED,
        lingering_time: float = DEFAULT_LINGERING_TIME,
        header_timeout: Optional[float] = DEFAULT_HEADER_TIMEOUT,
        body_timeout: Optional[float] = DEFAULT_BODY_TIMEOUT,
        trusted_proxies: Optional[TrustedProxiesSpec] = None,
        **kwargs: Any,
    ) -> None:
        # Deprecated aliases of aiohttp 0.x, one warning each, pointing at
        # the line that builds the protocol (stacklevel 3: past __init__ and
        # the factory lambda's call frame is the caller's line).
        stacklevel = _caller_stacklevel(self)
        for old, new in (
            ("log", "logger"),
            ("keep_alive_on", "tcp_keepalive"),
            ("keep_alive", "keepalive_timeout"),
            ("timeout", "slow_request_timeout"),
        ):
            if old in kwargs:
                warnings.warn(
                    f"{old} is deprecated, use {new} instead",
                    DeprecationWarning,
                    stacklevel=stacklevel,
                )
                value = kwargs.pop(old)
                if new == "logger":
                    logger = value
                elif new == "tcp_keepalive":
                    tcp_keepalive = value
                elif new == "keepalive_timeout":
                    keepalive_timeout = value
                else:
                    slow_request_timeout = value
        limit = kwargs.pop("limit", 2**16)
        kwargs.pop("buf", None)
        if kwargs:
            raise TypeError(f"__init__() got an unexpected keyword argument {next(iter(kwargs))!r}")
        self._loop = loop  # type: ignore[assignment]
        self._keepalive_timeout = keepalive_timeout
        self._tcp_keepalive = tcp_keepalive
        self._slow_request_timeout = slow_request_timeout
        self.logger = logger
        self.debug = debug
        self.access_log = access_log
        if access_log:
            self.access_logger: Optional[AccessLogger] = (
                AccessLogger(access_log, access_log_format)
                if access_log_format
                else AccessLogger(access_log)
            )
        else:
            self.access_logger = None
        self._limit = limit
        self._max_body_size = max_body_size
        self._max_inflated_size = (
            max_body_size if max_body_size is not None else DEFAULT_MAX_INFLATED_SIZE
        )
        self._max_pipelined = max_pipelined
        self._parser = RequestParser(
            max_line_size=max_line_size,
            max_field_size=max_field_size,
            max_headers=max_headers,
            max_header_count=max_header_count,
            max_body_size=max_body_size,
            # Bounds what one read can queue (see _unqueued).
            max_messages=max(1, max_pipelined),
        )
        self._queue: Deque[Union[_Request, errors.HttpProcessingError]] = deque()
        self._feed: Optional[_BodyFeed] = None
        self._inflating: List[_BodyFeed] = []  # feeds with compressed backlog
        self._last_parsed: Optional[_Request] = None
        self._upgraded: Optional[_Request] = None
        self._upgrade_tail: Optional[bytearray] = None
        self._switched = False  # a 101 was sent: bytes go to the payload
        self._close_announced = False  # this request's response says close
        self._lingering = False
        self._linger_left = 0
        self._lingering_time = lingering_time
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        self._head_deadline_set = False
        self._tls = False
        self._cancelled_by_server = False
        self._waiter: Optional[asyncio.Future[None]] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._deadline: Optional[float] = None
        self._pause = 0
        self._eof = False
        self._keepalive_set = False
        self._in_handler = False
        # A request _serve_inline() started, for the task to go on with:
        # (request, coroutine, awaited future, other awaitable, exception).
        self._handoff: Optional[Tuple[Any, ...]] = None
        self._handoff_cancel = False
        if trusted_proxies is not None:
            # Parsed here, once per connection (equal lists share one parsed
            # instance): requests only walk the header.
            from .forwarded import TrustedProxies  # only when configured

            self._trusted_proxies = TrustedProxies.coerce(trusted_proxies)

    # ------------------------------------------------------------ properties

    @property
    def keepalive_timeout(self) -> Optional[float]:
        return self._keepalive_timeout

    @property
    def keep_alive_timeout(self) -> Optional[float]:
        warnings.warn("Use keepalive_timeout property instead", DeprecationWarning, stacklevel=2)
        return self._keepalive_timeout

    @property
    def reader(self) -> RequestParser:
        """The request parser (1.1 exposed its StreamParser here)."""
        return self._parser

    @property
    def transport(self) -> Optional[asyncio.Transport]:
        """The connection's transport (None when not connected).

        The writer coalesces a response's writes; reaching for the raw
        transport hands it what was gathered first, so bytes written through
        ``self.transport`` never overtake the response already written."""
        writer = self.writer
        if writer is not None and writer.corked:
            writer.flush()
        return self._transport

    @transport.setter
    def transport(self, value: Optional[asyncio.Transport]) -> None:
        self._transport = value

    def is_connected(self) -> bool:
        return self._transport is not None

    # ------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._transport = transport  # type: ignore[assignment]
        # Asked now: a TLS transport may be torn down before eof_received.
        self._tls = transport.get_extra_info("sslcontext") is not None
        self.writer = StreamWriter(transport, self, None, loop)
        self._request_handler = loop.create_task(self.start())
        self._arm_timer(self._head_timeout())
        if self._tcp_keepalive:
            tcp_keepalive(self, transport)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._transport = None
        writer = self.writer
        self.writer = None
        if writer is not None:
            writer.connection_lost(exc)
        self._closing = True
        self._drop_timer()
        disconnect = errors.ClientDisconnectedError()
        feed = self._feed
        if feed is not None and not feed.request.complete:
            feed.request.payload.set_exception(disconnect)
        upgraded = self._upgraded
        if upgraded is not None and upgraded.payload is not EMPTY_PAYLOAD:
            upgraded.payload.feed_eof()
        for item in self._queue:
            if isinstance(item, _Request) and not item.complete:
                item.payload.set_exception(disconnect)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._release()
        handler = self._request_handler
        if handler is not None and self._in_handler:
            # Next iteration: a read woken by the disconnect error above
            # raises that error, not CancelledError (api-spec §2.11).
            self._cancelled_by_server = True
            self._loop.call_soon(self._cancel_if_running, handler)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._linger_left -= len(data)
            if self._linger_left <= 0 and self._transport is not None:
                self._transport.close()
            return
        if self._upgraded is not None:
            self._upgraded_data(data)
            return
        self._reading_request = True
        self._route(self._parser.feed_data(data))

    def eof_received(self) -> Optional[bool]:
        self._eof = True
        if self._lingering:
            return False  # the client is done too: asyncio closes
        upgraded = self._upgraded
        if upgraded is not None:
            if self._switched or upgraded.message.method == "CONNECT":
                upgraded.payload.feed_eof()
            return True
        self._eof_parse()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        # Keep the write side open while requests remain to be answered (a
        # client may half-close after a complete request).  TLS cannot
        # half-close; asyncio closes it after this anyway.
        return not self._tls

    def _eof_parse(self) -> None:
        """Tell the parser the input ended (once it parsed all it held)."""
        clean = self._parser.feed_eof()
        feed = self._feed
        if not clean and feed is not None and not feed.request.complete:
            # The client stopped mid-body: the handler's read raises.
            feed.request.payload.set_exception(errors.ClientDisconnectedError())
            self._feed = None

    def pause_writing(self) -> None:
        if self.writer is not None:
            self.writer.pause_writing()

    def resume_writing(self) -> None:
        if self.writer is not None:
            self.writer.resume_writing()

    # Called by body streams (FlowControlStreamReader) for back-pressure.
    def pause_reading(self) -> None:
        self._set_pause(_PAUSE_BODY, True)

    def resume_reading(self) -> None:
        self._set_pause(_PAUSE_BODY, False)
        for feed in list(self._inflating):
            self._pump(feed)

    def _set_pause(self, reason: int, on: bool) -> None:
        before = self._pause
        self._pause = before | reason if on else before & ~reason
        transport = self._transport
        if transport is None or bool(before) == bool(self._pause):
            return
        try:
            if self._pause:
                transport.pause_reading()
            else:
                transport.resume_reading()
        except (AttributeError, RuntimeError):
            pass  # closing, or a transport without read flow control

    # --------------------------------------------------------------- parsing

    def _route(self, events: List[Any]) -> None:
        self._absorb(events)
        queue = self._queue
        waiter = self._waiter
        if queue and waiter is not None and not waiter.done():
            if _current_task(self._loop) is None:
                self._serve_inline()
            else:  # fed from inside a task (tests, embedders): wake ours
                waiter.set_result(None)

    def _absorb(self, events: List[Any]) -> None:
        """Turn parser events into queued requests and body bytes."""
        queue = self._queue
        it = iter(events)
        for ev in it:
            if type(ev) is RawRequestMessage:
                flags = next(it)
                request = self._last_parsed = self._new_request(ev, flags)
                queue.append(request)
            elif type(ev) is bytes:
                self._feed_body(ev)
            elif ev is END_OF_MESSAGE:
                feed = self._feed
                if feed is not None:
                    self._feed = None
                    self._end_body(feed)
            elif isinstance(ev, Upgrade):
                # The parser stopped after an Upgrade or CONNECT request
                # (RFC 9110 §7.8, §9.3.6): what follows is not HTTP until
                # the handler declines the switch (see _after_upgrade).
                self._upgraded = self._last_parsed
                self._upgrade_tail = bytearray()
                if ev.tail:
                    self._upgraded_data(ev.tail)
            else:  # a parse error: the stream is broken from here on
                feed = self._feed
                if feed is not None:
                    self._feed = None
                    feed.request.framing_error = ev
                    feed.request.payload.set_exception(ev)
                queue.append(ev)
        if self._parser.in_head:
            if not self._head_deadline_set:
                self._head_deadline_set = True
                self._tighten_deadline(self._slow_request_timeout or self._header_timeout)
        else:
            self._head_deadline_set = False
        if len(queue) > self._max_pipelined or self._parser.pending:
            # Requests wait, or input is held back unparsed: read no more
            # until the queue drains (see _unqueued).
            self._set_pause(_PAUSE_QUEUE, True)

    def _unqueued(self) -> None:
        """A request left the queue: once the queue is down to half its
        bound, parse what the parser held back and read again."""
        if self._pause & _PAUSE_QUEUE and len(self._queue) <= self._max_pipelined // 2:
            parser = self._parser
            if parser.pending and self._upgraded is None:
                self._absorb(parser.feed_data(b""))
                if self._eof and not parser.pending:
                    self._eof_parse()
            if not parser.pending and len(self._queue) <= self._max_pipelined:
                self._set_pause(_PAUSE_QUEUE, False)

    def _upgraded_data(self, data: bytes) -> None:
        """Bytes after an Upgrade/CONNECT request: a CONNECT tunnel's go to
        its payload stream; an Upgrade's wait (bounded, reading pauses) until
        the handler has answered."""
        upgraded = self._upgraded
        assert upgraded is not None
        if self._switched or upgraded.message.method == "CONNECT":
            if not upgraded.payload.is_eof():  # never after the stream ended
                upgraded.payload.feed_data(data)
            return
        tail = self._upgrade_tail
        assert tail is not None
        tail += data
        if len(tail) > 2 * self._limit:
            self._set_pause(_PAUSE_UPGRADE, True)

    def _upgrade_first_read(self) -> None:
        """First read of an Upgrade request's payload (RFC 9110 §7.8): once
        the handler has sent 101 (Switching Protocols) the payload carries
        what the client sends next; otherwise the request simply had no
        body, and HTTP goes on after the response."""
        request = self._upgraded
        if request is None:
            return
        payload = request.payload
        writer = self.writer
        response = writer.response if writer is not None else None
        switched = response is not None and response.status == 101 and response.headers_sent
        # hixie-76 websockets (aiohttp 1.1 supported them) send 8 key bytes
        # after the head, read by the handler before it answers 101.
        if not switched and "Sec-WebSocket-Key1" not in request.message.headers:
            payload.feed_eof()
            return
        self._switched = True
        tail = self._upgrade_tail
        self._upgrade_tail = None
        if tail:
            payload.feed_data(bytes(tail))
        if self._eof:
            payload.feed_eof()
        self._set_pause(_PAUSE_UPGRADE, False)  # the payload's flow control rules now

    def _new_request(self, message: RawRequestMessage, flags: int) -> _Request:
        connect = message.method == "CONNECT"
        if flags & HEAD_HAS_BODY or connect:
            # RFC 9110 §10.1.1: no 100 (Continue) for an HTTP/1.0 client.
            expect = flags & HEAD_EXPECT_CONTINUE and message.version >= (1, 1)
            payload: Any = FlowControlStreamReader(
                self,
                self._limit,
                # An inactivity bound on body reads; none on a CONNECT tunnel.
                timeout=self._body_timeout if flags & HEAD_HAS_BODY else None,
                loop=self._loop,
                on_first_read=self._send_continue if expect else None,
            )
            request = _Request(message, flags, payload)
            if flags & HEAD_HAS_BODY:
                decoder = None
                if message.compression:
                    decoder = BodyDecoder(message.compression, self._max_inflated_size)
                self._feed = _BodyFeed(request, decoder)
            else:  # a CONNECT tunnel: its bytes come after the Upgrade event
                request.complete = True
        elif flags & HEAD_UPGRADE:
            # No body, but the handler may switch protocols: after it sent a
            # 101 its first read gets the new protocol's bytes; before, the
            # payload is an empty body (see _upgrade_first_read).
            payload = FlowControlStreamReader(
                self, self._limit, loop=self._loop, on_first_read=self._upgrade_first_read
            )
            request = _Request(message, flags, payload)
            request.complete = True
        else:
            request = _Request(message, flags, EMPTY_PAYLOAD)
            request.complete = True
        return request

    def _feed_body(self, data: bytes) -> None:
        feed = self._feed
        if feed is None:
            return
        if feed.decoder is None:
            feed.request.payload.feed_data(data)
        else:
            feed.decoder.feed(data)
            self._pump(feed)

    def _end_body(self, feed: _BodyFeed) -> None:
        feed.request.complete = True
        feed.ended = True
        if feed.decoder is None:
            payload = feed.request.payload
            if payload.exception() is None:
                payload.feed_eof()
        else:
            self._pump(feed)

    def _pump(self, feed: _BodyFeed) -> None:
        """Inflate queued compressed bytes up to the payload's high-water
        mark; finish the body once all is inflated and the wire body ended."""
        payload = feed.request.payload
        decoder = feed.decoder
        high = 2 * self._limit
        try:
            if payload.exception() is None:
                # Fill past the high-water mark, so that the stream itself
                # pauses and calls resume_reading() (which pumps again) once
                # the handler has read enough.
                while decoder.pending and payload.buffered <= high:
                    chunk = decoder.inflate(self._limit)
                    if chunk:
                        payload.feed_data(chunk)
                if feed.ended and not decoder.pending:
                    tail = decoder.flush()
                    if tail:
                        payload.feed_data(tail)
                    payload.feed_eof()
                    decoder = None
            else:
                decoder = None
        except errors.HttpProcessingError as exc:
            payload.set_exception(exc)
            decoder = None
        if decoder is None:
            feed.decoder = _DISCARD  # any later bytes of this body are dropped
        inflating = self._inflating
        if decoder is not None and decoder.pending:
            if feed not in inflating:
                inflating.append(feed)
        elif feed in inflating:
            inflating.remove(feed)
        self._set_pause(_PAUSE_INFLATE, bool(inflating))

    def _send_continue(self) -> None:
        """RFC 9110 §10.1.1: the client waits for 100 before sending the body;
        send it when the handler first reads, never if it answers without
        reading."""
        writer = self.writer
        if writer is not None and not (
            writer.response is not None and writer.response.headers_sent
        ):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    # ------------------------------------------------------------- deadlines

    def _head_timeout(self) -> Optional[float]:
        slow = self._slow_request_timeout or 0
        keep = self._keepalive_timeout or 0
        return max(slow, keep) or DEFAULT_HEAD_TIMEOUT

    def _arm_timer(self, delay: Optional[float]) -> None:
        """Set the connection's deadline ``delay`` seconds from now.

        One loop timer serves every deadline of the connection: moving the
        deadline later (the common case, once per request) only stores a
        number; the timer, when it fires early, re-arms itself for what is
        left.  So a request costs no TimerHandle and no heap churn."""
        loop = self._loop
        if not delay or loop is None:
            self._deadline = None
            return
        when = loop.time() + delay
        self._deadline = when
        timer = self._timer
        if timer is None or when < timer.when():
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(when, self._on_timer)

    def _rearm(self) -> None:
        """The deadline after a response: the header-read one while a next
        request is partly received (slowloris), else the idle keep-alive
        one, or the time to get a queued request's turn."""
        if self._parser.in_head:
            self._arm_timer(self._slow_request_timeout or self._header_timeout)
        elif self._queue:
            self._arm_timer(self._head_timeout())
        else:
            self._arm_timer(self._keepalive_timeout)

    def _tighten_deadline(self, delay: Optional[float]) -> None:
        """Bring the deadline to ``delay`` from now unless it is sooner."""
        loop = self._loop
        if not delay or loop is None:
            return
        deadline = self._deadline
        if deadline is None or loop.time() + delay < deadline:
            self._arm_timer(delay)

    def _cancel_timer(self) -> None:
        """Clear the deadline (the timer, if any, then fires and does nothing)."""
        self._deadline = None

    def _drop_timer(self) -> None:
        self._deadline = None
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        loop = self._loop
        if loop.time() < deadline:
            self._timer = loop.call_at(deadline, self._on_timer)
            return
        self._deadline = None
        self._on_timeout()

    def _on_timeout(self) -> None:
        if self._in_handler:
            return
        self.log_debug("Request handler timed out.")
        self._closing = True
        transport = self._transport
        if transport is not None:
            transport.close()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -------------------------------------------------------------- the loop

    def keep_alive(self, val: bool) -> None:
        """Keep (True) or close (False) the connection after this request.

        Called before the response head is sent, ``False`` also makes the
        response say ``Connection: close`` (RFC 9112 §9.6)."""
        self._keepalive = bool(val)
        self._keepalive_set = True
        writer = self.writer
        if writer is not None:
            writer.request_should_close = self._close_announced or not val

    def _prepare(self, item: _Request) -> StreamWriter:
        """Per-request state, set before the handler runs."""
        writer: StreamWriter = self.writer  # type: ignore[assignment]
        message = item.message
        self._cancel_timer()
        self._keepalive = False
        self._keepalive_set = False
        self._request_count += 1
        self._reading_request = False
        writer.request_method = message.method
        writer.request_version = message.version
        # Announce the close when this response is the last one
        # (RFC 9112 §9.6).
        writer.request_should_close = self._close_announced = bool(
            message.should_close or not self._keepalive_timeout or self._closing
        )
        writer.response = None
        self._in_handler = True
        return writer

    def _serve_inline(self) -> None:
        """Serve queued requests from ``data_received`` while the connection's
        task is idle, instead of waking the task for each one.

        A handler's first step runs here, with the connection's task set as
        the current task (so ``asyncio.current_task()``, ``asyncio.timeout()``
        and the like see the task that will run the rest of it).  Most
        handlers finish in that step; their response leaves in one write and
        the next request is served without an event-loop iteration.  A
        handler that suspends, raises, or ends the connection is handed to
        the task, which goes on exactly as if it had started the handler
        itself (see :meth:`start`)."""
        queue = self._queue
        task = cast("asyncio.Task[None]", self._request_handler)
        loop = self._loop
        waiter = self._waiter
        served = False
        while queue:
            item = queue[0]
            if (
                type(item) is not _Request
                or item.framing_error is not None
                or self._closing
                or self._transport is None
                or self._transport.is_closing()
            ):
                break  # the task's general path handles it
            queue.popleft()
            if self._pause & _PAUSE_QUEUE:
                self._unqueued()
            writer = self._prepare(item)
            # Responses of pipelined requests gather in the writer and
            # leave together, in one write, when this loop ends.
            writer.owner_flushes = True
            _enter_task(loop, task)
            try:
                result = self.handle_request(item.message, item.payload)
                if type(result) is types.CoroutineType:
                    try:
                        fut = result.send(None)
                    except StopIteration:
                        handoff: Any = None
                    else:
                        handoff = (item, result, fut, None, None)
                elif result is not None:
                    handoff = (item, None, None, result, None)
                else:
                    handoff = None
            except BaseException as exc:  # the task raises it in its place
                handoff = (item, None, None, None, exc)
            finally:
                _leave_task(loop, task)
            if handoff is None:
                self._in_handler = False
                if self._should_keep_alive(item) and self._upgraded is not item:
                    served = True
                    continue
                handoff = (item, None, None, None, None)  # finished: the task closes
            self._handoff = handoff
            break
        if served and self._handoff is None:
            # Once for all the requests served here: the idle deadline, or
            # the header-read one when a request is partly received.
            self._rearm()
        current = self.writer
        if current is not None:
            current.owner_flushes = False
            current.flush()
        if waiter is not None and not waiter.done() and (queue or self._handoff is not None):
            waiter.set_result(None)

    async def start(self) -> None:
        """Serve requests on this connection until it closes."""
        loop = self._loop
        queue = self._queue
        writer = self.writer
        if writer is None or self._closing:
            # Lost (or shut down) before this task's first step.
            self._request_handler = None
            if self._transport is not None:
                self._transport.close()
            return
        writer.set_tcp_nodelay(True)
        # Coalesce each response's writes (head and small body) into one
        # transport.write(); anything still gathered when the handler
        # suspends goes out on the next loop iteration (see writer.py).
        writer.cork()
        message: Optional[RawRequestMessage] = None
        try:
            while True:
                handoff = self._handoff
                if handoff is not None:
                    # A request _serve_inline() started: go on from where it
                    # left the handler (suspended, raised, or finished).
                    self._handoff = None
                    item, coro, fut, result, raised = handoff
                    message = item.message
                elif self._closing:
                    # (A hand-off is taken even when closing: its handler
                    # runs and its response is sent, announcing the close.)
                    break
                elif not queue:
                    if self._eof or self._transport is None:
                        self.log_debug("Ignored premature client disconnection #1.")
                        break
                    waiter = self._waiter = loop.create_future()
                    try:
                        await waiter
                    except asyncio.CancelledError:
                        if self._handoff is None:
                            raise
                        # Cancelled between a hand-off and this step: the
                        # cancellation belongs to the handler (see below).
                        self._handoff_cancel = True
                    finally:
                        self._waiter = None
                    continue
                else:
                    transport = self._transport
                    if transport is None or transport.is_closing():
                        break  # the client is gone: queued requests go unanswered
                    item = queue.popleft()
                    if self._pause & _PAUSE_QUEUE:
                        self._unqueued()
                    if not isinstance(item, _Request):
                        # Malformed request: answer it and close (RFC 9112 §2.2).
                        writer.request_method = None
                        writer.response = None
                        self.handle_error(item.code, None, None, item, item.headers, item.message)
                        break
                    message = item.message
                    broken = item.framing_error
                    if broken is not None:
                        # The body's framing broke before the handler ran (bad
                        # chunk size, oversized trailers...): answer that, as
                        # for any malformed request (RFC 9112 §7.1).
                        # Content-coding errors are the handler's to see when
                        # it reads.
                        self._cancel_timer()
                        writer.request_method = message.method
                        writer.response = None
                        self.handle_error(
                            broken.code, message, None, broken, broken.headers, broken.message
                        )
                        break
                    self._prepare(item)
                    coro = fut = result = raised = None
                try:
                    if handoff is not None:
                        if self._handoff_cancel:
                            self._handoff_cancel = False
                            if coro is not None:
                                await _resume(coro, fut, asyncio.CancelledError())
                                coro = None
                            elif raised is None:
                                raise asyncio.CancelledError()
                        if raised is not None:
                            raise raised  # the handler's first step raised it
                        if coro is not None:
                            await _resume(coro, fut)
                        elif result is not None:
                            await ensure_awaitable(result)
                    else:
                        result = self.handle_request(message, item.payload)
                        if type(result) is types.CoroutineType:
                            # Run the handler's first step here: most handlers
                            # finish without waiting, and then their response
                            # leaves in one write with no flush scheduled.
                            writer.owner_flushes = True
                            try:
                                fut = result.send(None)
                            except StopIteration:
                                pass
                            else:
                                writer.owner_flushes = False
                                writer.flush()  # it waits: what it wrote goes out
                                await _resume(result, fut)
                            finally:
                                writer.owner_flushes = False
                        elif result is not None:
                            await ensure_awaitable(result)
                except asyncio.CancelledError:
                    if self._cancelled_by_server or self._transport is None:
                        raise
                    # A handler's own stray CancelledError is a bug in the
                    # handler, not a disconnect (api-spec §11 row 18).
                    self._error_after_handler(500, message, None, None, None)
                    break
                except asyncio.TimeoutError as exc:
                    if exc is not item.payload.exception():
                        raise
                    # The body stopped arriving (body_timeout): a server
                    # timeout, closed silently (api-spec §12 decision 5).
                    self.log_debug("Request handler timed out.")
                    break
                except errors.ClientDisconnectedError as exc:
                    if self._transport is None or self._eof:
                        raise  # the client did leave (closed or half-closed)
                    self._error_after_handler(500, message, exc, None, None)
                    break
                finally:
                    handoff = coro = fut = result = raised = None
                    self._in_handler = False
                    writer.flush()
                if not self._should_keep_alive(item):
                    break
                if self._upgraded is item and not self._after_upgrade(cast(_Request, item)):
                    break
                message = None
                self._rearm()
        except asyncio.CancelledError:
            self.log_debug("Request handler cancelled.")
        except errors.ClientDisconnectedError:
            self.log_debug("Ignored premature client disconnection #1.")
        except errors.HttpProcessingError as exc:
            self._error_after_handler(exc.code, message, exc, exc.headers, exc.message)
        except Exception as exc:
            self._error_after_handler(500, message, exc, None, None)
        finally:
            self._request_handler = None
            self._in_handler = False
            self._handoff = None
            self._drop_timer()
            transport = self._transport
            if transport is None:
                self.log_debug("Ignored premature client disconnection #2.")
            else:
                if self.writer is not None:
                    self.writer.flush()
                if self._eof or not self._client_may_send_more():
                    transport.close()
                else:
                    self._linger(transport)
            self._release()

    def _release(self) -> None:
        """Drop the per-request state that points back at this protocol
        (payload streams hold it for flow control), so a finished
        connection is freed by reference counting, not left to the cycle
        collector (RSS stays flat under connection churn)."""
        self._queue.clear()
        self._feed = None
        self._last_parsed = None
        self._upgraded = None
        self._upgrade_tail = None
        self._inflating.clear()

    def _client_may_send_more(self) -> bool:
        """Input may still be on its way: a body being received, requests
        left unanswered, or a stream broken by a parse error."""
        return (
            self._feed is not None
            or bool(self._queue)
            or self._parser.pending
            or self._parser.error is not None
            or self._upgraded is not None
        )

    def _linger(self, transport: asyncio.Transport) -> None:
        """Lingering close (RFC 9112 §9.6): closing a socket with unread
        input makes the kernel send a reset, which can destroy the response
        still in flight.  So half-close the write side (the client sees the
        end of the response), then read and discard input for at most
        ``lingering_time`` seconds and ``LINGER_MAX_BYTES`` bytes, and close
        when the client closes its side or either bound is reached."""
        self._lingering = True
        self._linger_left = LINGER_MAX_BYTES
        self._pause = 0
        try:
            transport.resume_reading()
        except (AttributeError, RuntimeError):
            pass
        try:
            if transport.can_write_eof():
                transport.write_eof()
        except (OSError, RuntimeError):
            transport.close()
            return
        if self._loop is not None and self._lingering_time:
            self._timer = self._loop.call_later(self._lingering_time, transport.close)
        else:
            transport.close()

    def _after_upgrade(self, request: _Request) -> bool:
        """After the handler of an Upgrade/CONNECT request: go on with HTTP
        if it declined the switch, with the bytes that followed the request.
        A CONNECT tunnel or a 101 response ends HTTP on this connection."""
        writer = self.writer
        response = writer.response if writer is not None else None
        if request.message.method == "CONNECT" or (response is not None and response.status == 101):
            return False
        tail = bytes(self._upgrade_tail or b"")
        self._switched = False
        self._upgraded = None
        self._upgrade_tail = None
        self._set_pause(_PAUSE_UPGRADE, False)
        self._parser.resume_after_upgrade()
        if tail:
            self._route(self._parser.feed_data(tail))
        if self._eof:
            self._parser.feed_eof()
        return True

    def _error_after_handler(
        self, status: int, message: Any, exc: Optional[BaseException], headers: Any, reason: Any
    ) -> None:
        writer = self.writer
        response = writer.response if writer is not None else None
        if response is not None and response.headers_sent:
            # The head is out: a second response would corrupt the stream
            # (api-spec §11 row 6).  Log it; the finally clause closes, and
            # the client sees a truncated response.
            self.log_exception("Error handling request")
            return
        self.handle_error(status, message, None, exc, headers, reason)

    def _should_keep_alive(self, request: _Request) -> bool:
        """The one place that decides whether the connection serves another
        request (api-spec §12 decision 2, RFC 9112 §9.3, §9.6)."""
        if not self._keepalive_timeout or self._closing or self._transport is None:
            return False
        if not request.complete:
            self.log_debug("Uncompleted request.")
            return False
        if request.message.should_close:
            return False
        writer = self.writer
        response = writer.response if writer is not None else None
        if self._keepalive_set:
            if not self._keepalive:
                return False
            # An explicit yes still needs a response the client can delimit.
            return response is None or (response.eof_written and response.keep_alive())
        return response is not None and response.eof_written and response.keep_alive()

    # ------------------------------------------------------------ handlers

    def handle_request(self, message: RawRequestMessage, payload: Any) -> Awaitable[Any]:
        """The default handler: 404 (override it).  Writes synchronously and
        returns the drain awaitable, as 1.1 did."""
        now = self._loop.time() if self._loop is not None else 0.0
        response = Response(self.writer, 404, http_version=message.version, close=True)
        body = b"Page Not Found!"
        response.add_header(hdrs.CONTENT_TYPE, "text/plain")
        response.add_header(hdrs.CONTENT_LENGTH, str(len(body)))
        response.send_headers()
        response.write(body)
        drain = response.write_eof()
        self.keep_alive(False)
        self.log_access(message, None, response, (self._loop.time() if self._loop else 0.0) - now)
        return cast("Awaitable[Any]", drain)

    def handle_error(
        self,
        status: int = 500,
        message: Optional[RawRequestMessage] = None,
        payload: Any = None,
        exc: Optional[BaseException] = None,
        headers: Any = None,
        reason: Optional[str] = None,
    ) -> Any:
        """Write an HTML error page and close after it (api-spec §2.9).

        Status, reason and message are HTML-escaped; request text is never
        echoed beyond the fixed parser messages (§11 row 5)."""
        now = self._loop.time() if self._loop is not None else 0.0
        try:
            if self._transport is None or self.writer is None:
                return ()
            try:
                phrase, msg = RESPONSES[status]
            except KeyError:
                status = 500
                phrase, msg = "???", ""
            if status == 500:
                self.log_exception("Error handling request")
            if reason:
                phrase = msg = reason
            import html  # error pages only

            msg = html.escape(str(msg))
            phrase = html.escape(str(phrase))
            if self.debug and exc is not None:
                try:
                    import traceback  # debug pages only

                    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
                    msg += "<br><h2>Traceback:</h2>\n<pre>{}</pre>".format(html.escape("".join(tb)))
                except Exception:
                    pass
            body = DEFAULT_ERROR_MESSAGE.format(status=status, reason=phrase, message=msg).encode(
                "utf-8"
            )
            writer = self.writer
            writer.response = None
            response = Response(writer, status, close=True)
            response.add_header(hdrs.CONTENT_TYPE, "text/html; charset=utf-8")
            response.add_header(hdrs.CONTENT_LENGTH, str(len(body)))
            if headers is not None:
                for name, value in headers:
                    response.add_header(name, value)
            response.send_headers()
            response.write(body)
            drain = response.write_eof()
            self.log_access(
                message, None, response, (self._loop.time() if self._loop else 0.0) - now
            )
            return drain
        finally:
            self.keep_alive(False)

    # -------------------------------------------------------------- logging

    def client_address(self, message: Optional[RawRequestMessage]) -> Optional[str]:
        """The address of the client that sent ``message``; ``%a`` in the
        access log shows the same.

        Without ``trusted_proxies``: the peer's IP address (for a
        Unix-domain socket its path, ``''`` when unnamed), None when not
        connected.  With it: when the peer is a trusted proxy, the client
        named by the configured forwarding header, walked from the right
        past trusted hops (see :mod:`llserver.forwarded`); otherwise, or
        when ``message`` is None, the peer's address."""
        transport = self._transport
        if transport is None:
            return None
        peername = transport.get_extra_info("peername")
        trusted = self._trusted_proxies
        if trusted is None or message is None:
            address = peername[0] if isinstance(peername, (tuple, list)) else peername
            return cast(Optional[str], address)
        return trusted.client_address(peername, message.headers)

    def log_access(self, message: Any, environ: Any, response: Any, time: float) -> None:
        access_logger = self.access_logger
        if access_logger is not None:
            if self._trusted_proxies is None:
                access_logger.log(message, environ, response, self._transport, time)
            elif access_logger.enabled:  # the header walk only for a line written
                access_logger.log(
                    message,
                    environ,
                    response,
                    self._transport,
                    time,
                    remote_address=self.client_address(message),
                )

    def log_debug(self, *args: Any, **kw: Any) -> None:
        if self.debug:
            self.logger.debug(*args, **kw)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        self.logger.exception(*args, **kw)

    # ------------------------------------------------------------- shutdown

    def closing(self, timeout: float = 15.0) -> None:
        """Stop after the current request (0.22's name; nothing waits)."""
        self._closing = True
        self._announce_close()
        if not self._in_handler:
            self._cancel_timer()
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _announce_close(self) -> None:
        """A response not yet started says ``Connection: close`` (RFC 9112
        §9.6): this connection serves nothing after it."""
        self._close_announced = True
        if self.writer is not None:
            self.writer.request_should_close = True

    def _cancel_if_running(self, handler: asyncio.Task[None]) -> None:
        if self._in_handler and not handler.done():
            handler.cancel()

    def _cancel_handler(self, handler: asyncio.Task[None]) -> None:
        self._cancelled_by_server = True
        handler.cancel()

    async def shutdown(self, timeout: Optional[float] = 15.0) -> None:
        """Close this connection gracefully: an idle keep-alive connection at
        once, a running handler after it finishes or ``timeout`` elapses."""
        handler = self._request_handler
        if handler is None:
            return
        self._closing = True
        self._announce_close()
        if not self._in_handler:
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif timeout:
            cancel = self._loop.call_later(timeout, self._cancel_handler, handler)
            try:
                await asyncio.shield(handler)
            except asyncio.CancelledError:
                pass
            finally:
                cancel.cancel()
            return
        else:
            self._cancel_handler(handler)
        try:
            await asyncio.shield(handler)
        except asyncio.CancelledError:
            pass
