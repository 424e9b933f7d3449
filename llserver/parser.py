"""The Python side of the parser: bytes in, request events out.

Strategy: one call into C per received buffer (``lls_feed``), which returns
every head, body span and end-of-message found in it as packed integers plus
two string arenas (see ``llserver/_glue/glue.h``).  This module turns those
into the few Python objects the server hands to user code, and nothing more:

* a :class:`~llserver.message.RawRequestMessage`, immediately followed by an
  ``int`` of ``HEAD_*`` flags that tell the server how the body is framed;
* ``bytes``: a piece of the current message's body, sliced from the buffer
  that was fed (llhttp never copies it; Python makes the one copy it must);
* :data:`END_OF_MESSAGE`: the current message is complete;
* an :class:`Upgrade`: the request before it switched protocols (Upgrade or
  CONNECT, RFC 9110 §7.8/§9.3.6); ``tail`` holds the bytes that followed it;
* an :class:`~llserver.errors.HttpProcessingError` instance, always last: the
  stream is broken from there on.  Requests completed before the error in the
  same buffer are delivered first, so nothing already received is lost.

Like h11, the parser is testable by feeding bytes, without a socket.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union, cast

from multidict import CIMultiDict, getversion

from . import errors
from ._llhttp import ffi, lib
from .message import HttpVersion10, HttpVersion11, RawRequestMessage

__all__ = (
    "RequestParser",
    "Upgrade",
    "END_OF_MESSAGE",
    "HEAD_KEEP_ALIVE",
    "HEAD_UPGRADE",
    "HEAD_CHUNKED",
    "HEAD_CONTENT_LENGTH",
    "HEAD_EXPECT_CONTINUE",
    "HEAD_HAS_BODY",
    "DEFAULT_MAX_LINE_SIZE",
    "DEFAULT_MAX_FIELD_SIZE",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_COUNT",
)

# Flags of a head (glue.h's LLS_F_*).
HEAD_KEEP_ALIVE = lib.LLS_F_KEEP_ALIVE
HEAD_UPGRADE = lib.LLS_F_UPGRADE
HEAD_CHUNKED = lib.LLS_F_CHUNKED
HEAD_CONTENT_LENGTH = lib.LLS_F_CONTENT_LENGTH
HEAD_EXPECT_CONTINUE = lib.LLS_F_EXPECT_CONTINUE
_HEAD_GZIP = lib.LLS_F_GZIP
_HEAD_DEFLATE = lib.LLS_F_DEFLATE
HEAD_HAS_BODY = lib.LLS_F_HAS_BODY

# Defaults: aiohttp 1.1's sizes; the header count follows Apache's
# LimitRequestFields.
DEFAULT_MAX_LINE_SIZE = 8190
DEFAULT_MAX_FIELD_SIZE = 8190
DEFAULT_MAX_HEADERS = 32768
DEFAULT_MAX_HEADER_COUNT = 100

_EV_HEAD, _EV_BODY, _EV_STATUS = lib.LLS_EV_HEAD, lib.LLS_EV_BODY, lib.LLS_EV_STATUS
_OK, _PAUSED, _UPGRADE, _YIELD = lib.LLS_OK, lib.LLS_PAUSED, lib.LLS_UPGRADE, lib.LLS_YIELD

# llhttp errno values (llhttp.h, enum llhttp_errno).
_HPE_CR_EXPECTED = 25
_HPE_LF_EXPECTED = 3
_HPE_UNEXPECTED_CONTENT_LENGTH = 4
_HPE_INVALID_METHOD = 6
_HPE_INVALID_URL = 7
_HPE_INVALID_CONSTANT = 8
_HPE_INVALID_VERSION = 9
_HPE_INVALID_HEADER_TOKEN = 10
_HPE_INVALID_CONTENT_LENGTH = 11
_HPE_INVALID_CHUNK_SIZE = 12
_HPE_INVALID_EOF_STATE = 14
_HPE_INVALID_TRANSFER_ENCODING = 15


class _EndOfMessage:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END_OF_MESSAGE"


END_OF_MESSAGE = _EndOfMessage()


class Upgrade:
    """The connection switches protocols after the preceding request.

    ``tail`` is what the client sent after that request's head (and body):
    the first bytes of the new protocol.  If the server declines the switch
    it calls :meth:`RequestParser.resume_after_upgrade` and feeds ``tail``
    back to go on with HTTP/1.1.
    """

    __slots__ = ("tail",)

    def __init__(self, tail: bytes) -> None:
        self.tail = tail

    def __repr__(self) -> str:
        return f"Upgrade(tail={self.tail!r})"


Event = Union[RawRequestMessage, int, bytes, _EndOfMessage, Upgrade, errors.HttpProcessingError]


def _method_table() -> List[Optional[str]]:
    names: List[Optional[str]] = []
    for code in range(64):
        name = lib.lls_method_name(code)
        names.append(None if name == ffi.NULL else ffi.string(name).decode("ascii"))
    return names


_METHODS = _method_table()
_tuple_new = tuple.__new__
# multidict's stub types getversion() too narrowly for CIMultiDict[str].
_getversion = cast(Callable[[Any], int], getversion)


class RequestParser:
    """Incremental HTTP/1.1 request parser (RFC 9112) over llhttp, strict mode.

    Limits (all in bytes except the count), checked in C as bytes arrive:

    * ``max_line_size``: the request line; over it → 414 URI Too Long;
    * ``max_field_size``: one header field line; over it → 431;
    * ``max_headers``: the whole header section, as aiohttp's ``max_headers``
      (a size, not a count); over it → 431; trailers share this bound;
    * ``max_header_count``: number of header fields; over it → 431;
    * ``max_body_size``: the (undecoded) body; over it → 413.  ``None``: no
      limit at this layer.

    ``max_messages`` bounds the requests one feed completes: past it, the
    parser keeps the rest of the buffer (``pending``) and the next feed,
    ``feed_data(b"")`` included, goes on from there.  A server uses it so
    that one socket read full of tiny pipelined requests (asyncio reads up
    to 256 KiB: thousands of them) never becomes thousands of queued
    requests.  ``None``: no bound.
    """

    __slots__ = (
        "_p",
        "_ev",
        "_text",
        "_raw",
        "_error",
        "_last_raw",
        "_last_raw_pairs",
        "_last_headers",
        "_last_version",
        "in_head",
        "max_line_size",
        "max_field_size",
        "max_headers",
        "max_header_count",
        "max_body_size",
        "max_messages",
        "_rest",
        "_rest_at",
    )

    def __init__(
        self,
        *,
        max_line_size: int = DEFAULT_MAX_LINE_SIZE,
        max_field_size: int = DEFAULT_MAX_FIELD_SIZE,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_header_count: int = DEFAULT_MAX_HEADER_COUNT,
        max_body_size: Optional[int] = None,
        max_messages: Optional[int] = None,
    ) -> None:
        if max_messages is not None and max_messages < 1:
            raise ValueError("max_messages must be at least 1 (or None)")
        self.max_messages = max_messages
        # Bytes not parsed yet (the message bound was reached): the buffer
        # they are in and where they start, so resuming copies nothing.
        self._rest: Optional[bytes] = None
        self._rest_at = 0
        self.max_line_size = max_line_size
        self.max_field_size = max_field_size
        self.max_headers = max_headers
        self.max_header_count = max_header_count
        self.max_body_size = max_body_size
        p = lib.lls_new(
            max_line_size, max_field_size, max_headers, max_header_count, max_body_size or 0
        )
        if p == ffi.NULL:
            raise MemoryError("cannot allocate an llhttp parser")
        self._p = ffi.gc(p, lib.lls_free)
        self._error: Optional[errors.HttpProcessingError] = None
        self._last_raw: Optional[bytes] = None
        self._last_raw_pairs: Tuple[Tuple[bytes, bytes], ...] = ()
        self._last_headers: Optional[CIMultiDict[str]] = None
        self._last_version = 0
        #: After a feed: a request head has started but is not complete
        #: (the server's header-read deadline runs while this is true).
        self.in_head = False
        self._refresh()

    def _refresh(self) -> None:
        """Re-read the C output buffers after they grew."""
        ev = ffi.new("int64_t **")
        text = ffi.new("char **")
        raw = ffi.new("char **")
        caps = ffi.new("size_t[3]")
        lib.lls_buffers(self._p, ev, text, raw, caps, caps + 1, caps + 2)
        # ffi.unpack(pointer, n) gives the event list in one call; as fast as
        # a memoryview's tolist() on CPython and ~100x faster on PyPy.
        self._ev = ev[0]
        self._text = ffi.buffer(text[0], caps[1])
        self._raw = ffi.buffer(raw[0], caps[2])

    def feed_data(self, data: bytes) -> List[Event]:
        """Parse ``data``; return the events it completes, in order."""
        return self._feed(data, self._message)

    def feed_heads(self, data: bytes) -> List[Event]:
        """Like :meth:`feed_data`, but each head is a light ``(method, path,
        raw_headers)`` tuple instead of a :class:`RawRequestMessage` (no
        ``CIMultiDict``): for callers that want httptools-style output."""
        return self._feed(data, self._light_head)

    @property
    def pending(self) -> bool:
        """Bytes are held back by ``max_messages``: feed again (with
        ``b""`` or more data) to go on with them."""
        return self._rest is not None

    def _feed(self, data: bytes, build: Callable[[List[int], int], object]) -> List[Event]:
        if self._error is not None:
            return [self._error]
        out: List[Event] = []
        start = 0
        rest = self._rest
        if rest is not None:
            self._rest = None
            if data:
                data = rest[self._rest_at :] + data
            else:
                data = rest
                start = self._rest_at
        budget = self.max_messages or 0
        n = lib.lls_feed(self._p, data, start, len(data), budget)
        while True:
            if n <= 0:
                if n == 0:
                    raise MemoryError("llhttp glue out of memory")
                self._refresh()
                n = -n
            ev = ffi.unpack(self._ev, n)
            i = 0
            kind = ev[0]
            while kind != _EV_STATUS:
                if kind == _EV_HEAD:
                    out.append(build(ev, i))  # type: ignore[arg-type]
                    out.append(ev[i + 4])
                    i += 11
                elif kind == _EV_BODY:
                    off = ev[i + 1]
                    out.append(data[off : off + ev[i + 2]])
                    i += 3
                else:
                    out.append(END_OF_MESSAGE)
                    if budget:
                        budget -= 1
                    i += 1
                kind = ev[i]
            status = ev[i + 1]
            self.in_head = ev[i + 5] == 1
            if status == _OK:
                return out
            consumed = ev[i + 2]
            if status == _PAUSED:
                # (budget > 0 here: C yields when it reaches 0.)
                n = lib.lls_feed(self._p, data, consumed, len(data), budget)
                continue
            if status == _YIELD:
                if consumed < len(data):
                    self._rest = data
                    self._rest_at = consumed
                return out
            if status == _UPGRADE:
                out.append(Upgrade(data[consumed:]))
                return out
            self._error = self._make_error(ev[i + 3], ev[i + 4])
            out.append(self._error)
            return out

    def _raw_pairs(self, raw: bytes) -> Tuple[Tuple[bytes, bytes], ...]:
        """The raw header pairs of a raw block, reusing the previous
        request's when the block is the same (keep-alive clients repeat their
        header sections byte for byte; comparing is a memcmp)."""
        if raw == self._last_raw:
            return self._last_raw_pairs
        rparts = iter(raw.split(b"\x00"))
        pairs = tuple(zip(rparts, rparts))
        self._last_raw = raw
        self._last_raw_pairs = pairs
        self._last_headers = None
        return pairs

    def _light_head(
        self, ev: List[int], i: int
    ) -> Tuple[Optional[str], str, List[Tuple[bytes, bytes]]]:
        roff = ev[i + 8]
        raw_pairs = self._raw_pairs(self._raw[roff : roff + ev[i + 9]])
        toff = ev[i + 6]
        path = self._text[toff : toff + ev[i + 10]].decode("utf-8", "surrogateescape")
        return (_METHODS[ev[i + 1]], path, list(raw_pairs))

    def _message(self, ev: List[int], i: int) -> RawRequestMessage:
        """Build the message of the head event at ``ev[i]``.

        When the header section repeats the previous request's, ``headers``
        is copied from that request's ``CIMultiDict`` (several times cheaper
        than building one: keys are not folded again), unless the handler
        modified it (``multidict.getversion`` tells)."""
        _, method, _, minor, flags, _, toff, tlen, roff, rlen, ulen = ev[i : i + 11]
        raw = self._raw[roff : roff + rlen]
        if raw == self._last_raw:
            raw_pairs = self._last_raw_pairs
        else:
            raw_pairs = self._raw_pairs(raw)
        last = self._last_headers
        if last is not None and _getversion(last) == self._last_version:
            headers = CIMultiDict(last)
            path = self._text[toff : toff + ulen].decode("utf-8", "surrogateescape")
        else:
            parts = self._text[toff : toff + tlen].decode("utf-8", "surrogateescape").split("\x00")
            it = iter(parts)
            path = next(it)
            headers = CIMultiDict(list(zip(it, it)))
            self._last_headers = headers
            self._last_version = _getversion(headers)
        if flags & _HEAD_GZIP:
            compression: Optional[str] = "gzip"
        elif flags & _HEAD_DEFLATE:
            compression = "deflate"
        else:
            compression = None
        # What RawRequestMessage(...) does, without its Python-level __new__.
        return _tuple_new(
            RawRequestMessage,
            (
                _METHODS[method],
                path,
                HttpVersion10 if minor == 0 else HttpVersion11,  # 1.2+ served as 1.1
                headers,
                list(raw_pairs),
                not flags & HEAD_KEEP_ALIVE,
                compression,
            ),
        )

    def feed_eof(self) -> bool:
        """The client closed its side.  True if that happened between
        messages; False if a request was cut short (head or body).

        While bytes are ``pending`` nothing is finished (True): the caller
        feeds them first and calls this again."""
        if self._error is not None:
            return False
        if self._rest is not None:
            return True
        n = lib.lls_finish(self._p)
        if n < 0:
            self._refresh()
            n = -n
        ev = ffi.unpack(self._ev, n)
        return ev[-5] == _OK

    def resume_after_upgrade(self) -> None:
        """Go on parsing HTTP after an :class:`Upgrade` the server declined."""
        lib.lls_resume_after_upgrade(self._p)

    @property
    def error(self) -> Optional[errors.HttpProcessingError]:
        """The error that broke the stream, if any."""
        return self._error

    def _make_error(self, errno: int, own: int) -> errors.HttpProcessingError:
        """Map llhttp's errno, or the glue's own code, to a typed error.

        Messages are fixed texts: nothing from the request is echoed
        (aiohttp 1.1 reflected raw input into its error page)."""
        if own:
            return _own_error(self, own)
        reason = ffi.string(lib.lls_error_reason(self._p)).decode("ascii", "replace")
        if errno in (_HPE_INVALID_METHOD, _HPE_INVALID_URL, _HPE_INVALID_CONSTANT):
            return errors.BadStatusLine(f"Bad request line: {reason}")
        if errno == _HPE_INVALID_VERSION:
            return errors.BadStatusLine(f"Bad HTTP version: {reason}")
        if errno in (_HPE_INVALID_CONTENT_LENGTH, _HPE_UNEXPECTED_CONTENT_LENGTH):
            exc = errors.InvalidHeader("Content-Length")
            exc.message = f"Invalid HTTP Header: Content-Length ({reason})"
            return exc
        if errno == _HPE_INVALID_HEADER_TOKEN:
            return errors.BadHttpMessage(f"Invalid HTTP Header: {reason}")
        if errno in (_HPE_INVALID_CHUNK_SIZE, _HPE_INVALID_TRANSFER_ENCODING):
            return errors.TransferEncodingError(reason)
        if errno == _HPE_INVALID_EOF_STATE:
            return errors.BadHttpMessage("Request incomplete at end of stream.")
        return errors.BadHttpMessage(reason or f"Bad request ({errno}).")


def _own_error(parser: RequestParser, code: int) -> errors.HttpProcessingError:
    """The typed error for one of the glue's own codes (glue.h's LLS_E_*)."""
    make = _OWN_ERRORS.get(code)
    if make is None:
        return errors.HttpProcessingError(code=500, message="Parser out of memory.")
    return make(parser)


_OWN_ERRORS: Dict[int, Callable[[RequestParser], errors.HttpProcessingError]] = {
    lib.LLS_E_URI_TOO_LONG: lambda p: errors.URITooLong("request line", p.max_line_size),
    lib.LLS_E_HEADERS_TOO_LARGE: lambda p: errors.HeaderFieldsTooLarge(
        "request header", p.max_headers
    ),
    lib.LLS_E_FIELD_TOO_LARGE: lambda p: errors.HeaderFieldsTooLarge(
        "request header field", p.max_field_size
    ),
    lib.LLS_E_TOO_MANY_HEADERS: lambda p: errors.TooManyHeaders(p.max_header_count),
    lib.LLS_E_BODY_TOO_LARGE: lambda p: errors.PayloadTooLarge(
        f"Request body larger than {p.max_body_size} bytes."
    ),
    lib.LLS_E_MISSING_HOST: lambda p: errors.BadHttpMessage(
        "Missing Host header (RFC 9112 section 3.2)."
    ),
    lib.LLS_E_DUPLICATE_HOST: lambda p: errors.BadHttpMessage(
        "Duplicate Host header (RFC 9112 section 3.2)."
    ),
    lib.LLS_E_TE_NOT_CHUNKED: lambda p: errors.TransferEncodingError(
        "Transfer-Encoding must end with chunked, applied once (RFC 9112 section 6.3)."
    ),
    lib.LLS_E_TE_UNSUPPORTED: lambda p: errors.UnsupportedTransferCoding(
        "Unsupported transfer coding."
    ),
    lib.LLS_E_TE_HTTP10: lambda p: errors.TransferEncodingError(
        "Transfer-Encoding in an HTTP/1.0 request."
    ),
    lib.LLS_E_NUL: lambda p: errors.BadHttpMessage("NUL byte in request."),
    lib.LLS_E_VERSION: lambda p: errors.HttpVersionNotSupported("Only HTTP/1.x is supported."),
    lib.LLS_E_TRAILERS_TOO_LARGE: lambda p: errors.HeaderFieldsTooLarge(
        "trailer section", p.max_headers
    ),
    lib.LLS_E_NO_VERSION: lambda p: errors.BadStatusLine("Request line without HTTP version."),
}
