"""``Response``: one HTTP/1.x response written onto a connection's writer.

The API is aiohttp 1.1's ``aiohttp.protocol.Response`` (api-spec §4); the
wire output follows RFC 9110/9112 where 1.1 did not (api-spec §11 rows 7-9,
19, 21, 22, 27).

Strategy.  ``add_header()`` validates and title-cases each name once (a
cache maps every name seen to its canonical ``istr``) and records what the
framing headers say.  ``send_headers()`` decides the body framing once, adds
``Transfer-Encoding``/``Connection``/``Date``/``Server``, serialises the head
and hands it to the writer in **one** ``write()``.  The decision also picks
the body emitter that ``write()`` calls for every chunk, so the per-chunk path
is a type check, the optional filters, and one ``transport.write()``:

============  ==============================================================
framing       when
============  ==============================================================
no body       1xx except 101, 204, 304, and any response to HEAD (RFC 9110
              §9.3.2, §15.2, §15.3.5, §15.4.5): the head is what a GET would
              get, body bytes are dropped
upgrade       101: head only, later bytes pass raw (they belong to the new
              protocol, RFC 9110 §15.2.2)
chunked       HTTP/1.1+ response to an HTTP/1.1+ request, when the length is
              unknown or chunking was asked for (RFC 9112 §7.1)
length        a Content-Length was given: excess bytes are dropped, a short
              body makes ``keep_alive()`` false (RFC 9112 §6.3)
close         otherwise (HTTP/1.0 without a length): raw bytes, the end of
              the body is the end of the connection (RFC 9112 §6.3 rule 8)
============  ==============================================================

Keep-alive (what ``keep_alive()`` answers and what ``Connection`` says):

- an explicit ``keepalive`` (attribute, ``add_header('Connection', ...)``,
  ``force_close()``) wins over the defaults; otherwise HTTP/1.1+ keeps alive
  unless ``close=True`` and HTTP/1.0 or older does not;
- it is then false anyway when the request said close (the writer's
  ``request_should_close is True``), when the body is close-delimited or an
  upgrade, or when ``write_eof()`` found fewer bytes than Content-Length;
- ``Connection: close`` is sent on HTTP/1.1+ when the verdict is false,
  ``Connection: keep-alive`` on HTTP/1.0 only when it is true, which needs
  an explicit opt-in (api-spec §12 decision 3), and ``Connection: upgrade``
  for upgrades and every 101 (RFC 9110 §7.8).  Interim 1xx responses get
  no Connection header.

The server still makes the final call (it also closes when the handler
did not opt in, per its own policy); a response can only be kept alive if
its ``keep_alive()`` is true and ``eof_written`` is set.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
import zlib
from http import HTTPStatus
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, cast

from multidict import CIMultiDict, getversion, istr

from . import hdrs
from ._awaitables import DONE
from ._version import __version__
from .errors import InvalidResponseHeader
from .message import HttpVersion, HttpVersion10, HttpVersion11

# multidict's stub types getversion() too narrowly for CIMultiDict[str].
_getversion = cast(Callable[[Any], int], getversion)

__all__ = ("Response", "HttpVersion", "HttpVersion10", "HttpVersion11")

# Reason phrases: the table aiohttp 1.1 used (http.server's, i.e. HTTPStatus).
_REASONS: Dict[int, str] = {int(s): s.phrase for s in HTTPStatus}

# Framing modes, decided by send_headers().
_NO_BODY = 0
_UPGRADE = 1
_CHUNKED = 2
_LENGTH = 3
_CLOSE = 4

#: ``write(..., drain=True)`` returns the drain awaitable past this many bytes.
DRAIN_THRESHOLD = 64 * 1024

# RFC 9110 §5.6.2 token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")

_CONTENT_LENGTH = hdrs.CONTENT_LENGTH
_TRANSFER_ENCODING = hdrs.TRANSFER_ENCODING
_CONNECTION = hdrs.CONNECTION
_UPGRADE_HDR = hdrs.UPGRADE
_CONTENT_ENCODING = hdrs.CONTENT_ENCODING
_DATE = hdrs.DATE
_SERVER = hdrs.SERVER

# Canonical title-cased istr per title string: seeded with hdrs' constants so
# that identity tests against them work in add_header().
_CANONICAL: Dict[str, istr] = {}
for _value in vars(hdrs).values():
    if isinstance(_value, istr):
        _CANONICAL[str(_value)] = _value
# Any spelling seen -> canonical title-cased istr; doubles as the record of
# names already validated.  Bounded, because names may come from user data.
_TITLES: Dict[str, istr] = dict(_CANONICAL)
_TITLES_MAX = 4096


def _title_name(name: Any) -> istr:
    """Validate a header name and return its title-cased ``istr``.

    aiohttp 1.1 (on multidict 2.x) wrote names through ``str.title()``:
    ``content-type`` -> ``Content-Type``, ``ETag`` -> ``Etag``; tests pin it.
    """
    title = _TITLES.get(name) if isinstance(name, str) else None
    if title is not None:
        return title
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise InvalidResponseHeader(f"Invalid header name: {name!r}")
    spelled = name.title()
    title = _CANONICAL.get(spelled)
    if title is None:
        title = istr(spelled)
        if len(_CANONICAL) < _TITLES_MAX:
            _CANONICAL[spelled] = title
    if len(_TITLES) < _TITLES_MAX:
        _TITLES[name] = title
    return title


def _check_value(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidResponseHeader(f"Header value must be str, not {type(value).__name__}")
    # RFC 9110 §5.5: CR, LF and NUL are never valid in a field value; letting
    # them through would allow response splitting.  Checked before stripping,
    # which would quietly accept them at the edges.
    if "\r" in value or "\n" in value or "\x00" in value:
        raise InvalidResponseHeader(f"Invalid header value: {value!r}")
    return value.strip()


_SERVER_SOFTWARE = f"Python/{sys.version_info[0]}.{sys.version_info[1]} llserver/{__version__}"
_SERVER_PAIR: Tuple[istr, str] = (hdrs.SERVER, _SERVER_SOFTWARE)

# -- Date: IMF-fixdate (RFC 9110 §5.6.7), formatted at most once a second.

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_second = -1
_date_value = ""


_date_pair: Tuple[istr, str] = (hdrs.DATE, "")


def _http_date() -> str:
    global _date_second, _date_value, _date_pair
    now = int(time.time())
    if now != _date_second:
        t = time.gmtime(now)
        _date_value = (
            f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
        )
        _date_pair = (hdrs.DATE, _date_value)
        _date_second = now
    return _date_value


# -- Status lines, cached per (version, status) for the standard phrases.

_STATUS_LINES: Dict[Tuple[Any, int], Tuple[str, str]] = {}
# The same for the HttpVersion11 object itself, keyed by status alone.
_STATUS_LINES_11: Dict[int, Tuple[str, str]] = {}


# Whole heads built from header lists (see Response._head_from_list), valid
# for the current second.
_HEAD_CACHE: Dict[Tuple[Any, ...], bytes] = {}
_HEAD_CACHE_MAX = 512
_KEEP_ALIVE_PAIR = (hdrs.CONNECTION, "keep-alive")
_CLOSE_PAIR = (hdrs.CONNECTION, "close")
_CHUNKED_PAIR = (hdrs.TRANSFER_ENCODING, "chunked")


def _is_http10(version: Any) -> bool:
    return version is not None and tuple(version) == (1, 0)


def _status_line(version: Any, status: int, reason: str) -> str:
    return f"HTTP/{version[0]}.{version[1]} {status} {reason}\r\n"


# -- Body filters: feed(bytes) and flush() each return a sequence of pieces.


class _ChunkingFilter:
    """Re-cuts the body into pieces of exactly ``size`` bytes (the last one
    shorter), holding a remainder across writes."""

    __slots__ = ("_size", "_buf")

    def __init__(self, size: int) -> None:
        self._size = size
        self._buf = bytearray()

    def feed(self, data: Any) -> Sequence[bytes]:
        buf = self._buf
        buf += data
        size = self._size
        if len(buf) < size:
            return ()
        end = len(buf) - len(buf) % size
        out = [bytes(buf[i : i + size]) for i in range(0, end, size)]
        del buf[:end]
        return out

    def flush(self) -> Sequence[bytes]:
        if not self._buf:
            return ()
        out = bytes(self._buf)
        self._buf.clear()
        return (out,)


class _ZlibFilter:
    """zlib compression; ``wbits`` selects raw deflate, zlib or gzip."""

    __slots__ = ("_compressor",)

    def __init__(self, wbits: int) -> None:
        self._compressor = zlib.compressobj(wbits=wbits)

    def feed(self, data: Any) -> Sequence[bytes]:
        out = self._compressor.compress(data)
        return (out,) if out else ()

    def flush(self) -> Sequence[bytes]:
        out = self._compressor.flush()
        return (out,) if out else ()


def _zlib_wbits(encoding: str, *, raw_deflate: bool) -> int:
    if encoding == "gzip":
        return 16 + zlib.MAX_WBITS
    if encoding == "deflate":
        return -zlib.MAX_WBITS if raw_deflate else zlib.MAX_WBITS
    raise ValueError(f"Unsupported content coding {encoding!r}: use 'gzip' or 'deflate'")


class _NotBytesLike(AssertionError, TypeError):
    """``write()`` got something that is not bytes-like.  An AssertionError
    too, because 1.1 rejected it with ``assert``."""


def _as_bytes(chunk: Any) -> Any:
    """Any bytes-like object as something whose ``len()`` counts bytes."""
    try:
        view = memoryview(chunk)
    except TypeError:
        kind = type(chunk).__name__
        raise _NotBytesLike(f"data must be a bytes-like object, not {kind}") from None
    if view.format in ("B", "b", "c") and view.ndim == 1 and view.c_contiguous:
        return view if view.format == "B" else view.cast("B")
    if view.c_contiguous:
        return view.cast("B")
    return view.tobytes()


class Response:
    """An HTTP/1.x response (``aiohttp.protocol.Response`` of aiohttp 1.1).

    ``transport`` is the connection's writer (``protocol.writer``); anything
    with ``write(bytes)`` works, and ``drain()`` is used when present.
    ``http_version`` is usually the request's ``message.version``; ``close``
    asks for the connection to close after this response.
    """

    #: Value of the ``Server`` header unless the handler sets one.
    SERVER_SOFTWARE: str = _SERVER_SOFTWARE
    #: Header names ``add_header()`` silently drops (wsgi-style hop headers).
    HOP_HEADERS: Any = ()
    #: When true, the first ``write()`` sends the head by itself.
    _send_headers: bool = False

    # Per-instance state starts at these class-level defaults (immutable
    # values only) and becomes an instance attribute when first changed:
    # building a Response then costs a handful of stores instead of twenty.
    keepalive: Optional[bool] = None
    chunked: bool = False
    length: Optional[int] = None
    headers_sent: bool = False
    output_length: int = 0
    headers_length: int = 0
    upgrade: bool = False
    websocket: bool = False
    has_chunked_hdr: bool = False
    #: Body filters in the order added (None when there are none).
    filter: Optional[List[Any]] = None
    #: The body emitter chosen by send_headers() (None before).
    _emit: Any = None  # the body emitter chosen by send_headers (a plain function)
    #: True once write_eof() ran.
    eof_written: bool = False
    #: True when write_eof() found fewer body bytes than Content-Length.
    incomplete: bool = False
    _output_size = 0
    _mode = -1
    _hdict: Optional[CIMultiDict[str]] = None
    _validated: Any = None
    #: In list mode: a Content-Length / Date / Server pair is in the list.
    _list_has_length = False
    _list_has_defaults = False
    _remaining = 0
    _compression: Optional[str] = None
    _hlist: Optional[List[Tuple[istr, str]]]

    def __init__(
        self,
        transport: Any,
        status: int,
        http_version: Any = HttpVersion11,
        close: bool = False,
        reason: Optional[str] = None,
    ) -> None:
        self.transport = transport
        self._version = http_version
        self.closing = close
        if reason is None and http_version is HttpVersion11 and type(status) is int:
            # The common case: one lookup gives the status line and reason.
            cached = _STATUS_LINES_11.get(status)
            if cached is not None:
                self._status = status
                self._status_line, self._reason = cached
                self._at_least_11 = True
                self._hlist = []
                return
        if type(status) is not int:
            status = int(status)
        if not 100 <= status <= 999:
            raise ValueError(f"HTTP status must be a three-digit code, not {status}")
        self._status = status
        if reason is None:
            key = (http_version, status)
            cached = _STATUS_LINES.get(key)
            if cached is None:
                reason = self.calc_reason(status)
                cached = (_status_line(http_version, status, reason), reason)
                if len(_STATUS_LINES) < 4096:
                    _STATUS_LINES[key] = cached
                    if http_version is HttpVersion11:
                        _STATUS_LINES_11[status] = cached
            self._status_line, self._reason = cached
        else:
            if not isinstance(reason, str) or "\r" in reason or "\n" in reason or "\x00" in reason:
                raise InvalidResponseHeader(f"Invalid reason phrase: {reason!r}")
            self._reason = reason
            self._status_line = _status_line(http_version, status, reason)
        self._at_least_11 = http_version >= (1, 1)
        # Headers live in a plain list of validated (title, value) pairs
        # until someone asks for ``headers``; see the property.
        self._hlist = []

    def __repr__(self) -> str:
        return f"<Response {self._status} {self._reason}>"

    # ---------------------------------------------------------- properties

    @property
    def headers(self) -> CIMultiDict[str]:
        """The response headers, a ``CIMultiDict`` (aiohttp 1.1's attribute).

        Most handlers only call ``add_header()``; for them the pairs stay in
        a list and the head is serialised from it directly, which spares the
        dictionary (and its case-folding) on every response.  The first
        access builds the dictionary from the list; from then on it is the
        one place headers are kept, and changes made to it directly are
        validated when the head is sent."""
        d = self._hdict
        if d is None:
            d = self._hdict = CIMultiDict(self._hlist or ())
            self._hlist = None
            # Version of ``headers`` after our last own change: if it still
            # matches at send time, nobody touched the dict directly and
            # every name and value in it has been validated already.
            self._validated = _getversion(d)
        return d

    @headers.setter
    def headers(self, value: Any) -> None:
        self._hdict = value
        self._hlist = None
        self._validated = None  # a dict from outside: validate at send time

    @property
    def status(self) -> int:
        return self._status

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def version(self) -> Any:
        return self._version

    @property
    def status_line(self) -> str:
        """``'HTTP/1.1 200 OK\\r\\n'``, computed once."""
        return self._status_line

    @property
    def body_length(self) -> int:
        """Bytes written after the head, framing included (access log ``%b``)."""
        return self.output_length - self.headers_length

    @staticmethod
    def calc_reason(status: int) -> str:
        """The standard reason phrase, or ``str(status)`` for unknown codes."""
        reason = _REASONS.get(status)
        return str(status) if reason is None else reason

    # ------------------------------------------------------------- headers

    def add_header(self, name: str, value: str) -> None:
        """Add one header, validating it whatever the interpreter flags.

        ``name`` must be a token (RFC 9110 §5.6.2), ``value`` a ``str``
        without CR, LF or NUL (RFC 9110 §5.5); it is stripped.  Failures,
        and calls after the head was sent, raise
        :class:`~llserver.errors.InvalidResponseHeader`, which is an
        ``AssertionError`` like 1.1's asserts (and a ``ValueError``).

        ``Content-Length`` sets ``length`` (replacing an earlier one);
        ``Transfer-Encoding`` sets ``has_chunked_hdr`` when chunked is its
        final coding, which then selects chunked framing; ``Connection`` is
        not stored but sets ``upgrade`` or ``keepalive``; ``Upgrade`` replaces
        an earlier Upgrade header, whatever the protocol (1.1 kept only
        websocket, api-spec §12 decision 4).
        """
        if self.headers_sent:
            raise InvalidResponseHeader("headers have been sent already")
        # Fast paths inline; the helpers validate the rest and raise.
        try:
            title = _TITLES.get(name)
        except TypeError:  # unhashable, certainly not a name
            title = None
        if title is None:
            title = _title_name(name)
        # isprintable(): one scan that is False for CR, LF and NUL (and for
        # tabs and other controls, which the precise check then looks at).
        if type(value) is str and value.isprintable():
            value = value.strip()
        else:
            value = _check_value(value)
        hop = self.HOP_HEADERS
        if hop and title in hop:
            return
        hlist = self._hlist
        if hlist is not None:
            # List mode: appending is all a header costs, except for the
            # names whose later occurrence replaces an earlier one.
            if title is _CONTENT_LENGTH:
                if not (value.isdigit() and value.isascii()):
                    raise InvalidResponseHeader(f"Invalid Content-Length: {value!r}")
                if not self._list_has_length:
                    self._list_has_length = True
                    self.length = int(value)
                    hlist.append((title, value))
                    return
            elif title is _CONNECTION:
                pass  # not stored: handled below
            elif title is _TRANSFER_ENCODING or title is _UPGRADE_HDR:
                pass  # replaces: the dictionary does it
            else:
                if title is _DATE or title is _SERVER:
                    self._list_has_defaults = True
                hlist.append((title, value))
                return
        headers = self.headers
        validated = _getversion(headers) == self._validated
        if title is _CONTENT_LENGTH:
            if not (value.isdigit() and value.isascii()):
                raise InvalidResponseHeader(f"Invalid Content-Length: {value!r}")
            self.length = int(value)
            headers[title] = value
        elif title is _TRANSFER_ENCODING:
            self.has_chunked_hdr = value.rsplit(",", 1)[-1].strip().lower() == "chunked"
            headers[title] = value
        elif title is _CONNECTION:
            tokens = {t.strip() for t in value.lower().split(",")}
            if "upgrade" in tokens:
                self.upgrade = True
            elif "close" in tokens:
                self.keepalive = False
            elif "keep-alive" in tokens:
                self.keepalive = True
        elif title is _UPGRADE_HDR:
            if "websocket" in value.lower():
                self.websocket = True
            headers[title] = value
        else:
            headers.add(title, value)
        if validated:
            self._validated = _getversion(headers)

    def add_headers(self, *headers: Tuple[str, str]) -> None:
        """``add_header()`` for each ``(name, value)`` pair."""
        for name, value in headers:
            self.add_header(name, value)

    def is_headers_sent(self) -> bool:
        return self.headers_sent

    # --------------------------------------------------------- keep-alive

    def keep_alive(self) -> bool:
        """Whether the connection may carry another request after this one
        (the rules are in the module docstring)."""
        return self._keep_alive(self._mode)

    def _keep_alive(self, mode: int) -> bool:
        ka = self.keepalive
        if ka is None:
            ka = self._at_least_11 and not self.closing
        if not ka:
            return False
        if self.incomplete or mode == _CLOSE or mode == _UPGRADE:
            return False
        return getattr(self.transport, "request_should_close", False) is not True

    def force_close(self) -> None:
        """Close the connection after this response."""
        self.closing = True
        self.keepalive = False

    def enable_chunked_encoding(self) -> None:
        """Use chunked framing even if a Content-Length was given (the
        Content-Length is then not sent, RFC 9112 §6.2).  Ignored for
        HTTP/1.0, which has no chunked coding."""
        self.chunked = True

    def force_chunked(self) -> None:
        """Old name of :meth:`enable_chunked_encoding`."""
        self.chunked = True

    # --------------------------------------------------------------- filters

    def _add_filter(self, body_filter: Any) -> None:
        if self.filter is None:
            self.filter = [body_filter]
        else:
            self.filter.append(body_filter)

    def add_chunking_filter(self, chunk_size: int = 16 * 1024) -> None:
        """Re-cut the body into ``chunk_size`` pieces (each its own chunk in
        chunked framing).  Does not change the framing itself."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self._add_filter(_ChunkingFilter(chunk_size))

    def add_compression_filter(self, encoding: str = "deflate") -> None:
        """Compress the body: raw deflate for ``'deflate'`` (as 1.1 did), the
        gzip format for ``'gzip'``.  Sets no header: the caller adds
        ``Content-Encoding`` and a matching (or no) Content-Length.  See
        :meth:`enable_compression` for the one-call version."""
        self._add_filter(_ZlibFilter(_zlib_wbits(encoding, raw_deflate=True)))

    def enable_compression(self, encoding: str = "deflate") -> None:
        """Compress the body and say so: sets ``Content-Encoding``, adds the
        compressor and drops any Content-Length (the compressed size is not
        known in advance, so the body is chunked on HTTP/1.1 and
        close-delimited on 1.0).

        ``'deflate'`` produces the zlib format that RFC 9110 §8.4.1.2
        defines for that coding (``add_compression_filter('deflate')`` keeps
        1.1's raw deflate).  Raises once the head was sent.
        """
        if self.headers_sent:
            raise InvalidResponseHeader("enable_compression() called after send_headers()")
        wbits = _zlib_wbits(encoding, raw_deflate=False)
        if self._compression is not None:
            if self._compression == encoding:
                return
            raise ValueError(f"compression already enabled with {self._compression!r}")
        self._compression = encoding
        headers = self.headers
        validated = _getversion(headers) == self._validated
        headers[_CONTENT_ENCODING] = encoding
        headers.popall(_CONTENT_LENGTH, None)
        if validated:
            self._validated = _getversion(headers)
        self.length = None
        self._add_filter(_ZlibFilter(wbits))

    def _run_filters(self, chunk: Any, eof: bool) -> List[Any]:
        pieces: List[Any] = [] if chunk is None else [chunk]
        for body_filter in self.filter:  # type: ignore[union-attr]
            out: List[Any] = []
            for piece in pieces:
                out.extend(body_filter.feed(piece))
            if eof:
                out.extend(body_filter.flush())
            pieces = out
        return pieces

    # --------------------------------------------------------- sending head

    def _choose_framing(self) -> int:
        """Decide the body framing and fix the framing headers to match."""
        status = self._status
        headers = self.headers
        if status < 200 or status == 204:
            # RFC 9110 §8.6, RFC 9112 §6.1: never Content-Length or
            # Transfer-Encoding in 1xx and 204.
            headers.popall(_CONTENT_LENGTH, None)
            headers.popall(_TRANSFER_ENCODING, None)
            self.length = None
            if status == 101:
                self.upgrade = True
                return _UPGRADE
            return _NO_BODY
        if status == 304:
            # No body (RFC 9110 §15.4.5); headers the user chose are kept,
            # none are added.
            return _NO_BODY
        if self._compression is not None:
            headers.popall(_CONTENT_LENGTH, None)
            self.length = None
        writer = self.transport
        request_version = getattr(writer, "request_version", None)
        # RFC 9112 §6.1: no Transfer-Encoding unless the request was 1.1+.
        can_chunk = self._at_least_11 and not (
            isinstance(request_version, tuple) and request_version < (1, 1)
        )
        te = headers.get(_TRANSFER_ENCODING)
        has_te = te is not None
        if te is not None:
            # Re-read: the header may have been put into ``headers`` directly.
            self.has_chunked_hdr = te.rsplit(",", 1)[-1].strip().lower() == "chunked"
        if can_chunk and (
            self.chunked or self.has_chunked_hdr or (self.length is None and not has_te)
        ):
            if self.length is not None:
                headers.popall(_CONTENT_LENGTH, None)  # RFC 9112 §6.2
                self.length = None
            if not has_te:
                headers.add(_TRANSFER_ENCODING, "chunked")
            elif not self.has_chunked_hdr:
                headers[_TRANSFER_ENCODING] = f"{te}, chunked"
                self.has_chunked_hdr = True
            self.chunked = True
            mode = _CHUNKED
        else:
            self.chunked = False
            if has_te:
                if can_chunk:
                    # A coding list not ending in chunked: the body ends at
                    # close (RFC 9112 §6.3 rule 4), so no Content-Length.
                    headers.popall(_CONTENT_LENGTH, None)
                    self.length = None
                else:
                    # HTTP/1.0 has no Transfer-Encoding (api-spec §11 row 21).
                    headers.popall(_TRANSFER_ENCODING, None)
                    self.has_chunked_hdr = False
            if self.length is not None:
                self._remaining = self.length
                mode = _LENGTH
            else:
                mode = _CLOSE
        if getattr(writer, "request_method", None) == "HEAD":
            return _NO_BODY  # the GET's head, no body (RFC 9110 §9.3.2)
        return mode

    def _add_default_headers(self) -> None:
        """Framing, Connection, Date and Server headers (in that order on the
        wire, after the user's).  Idempotent."""
        headers = self.headers
        validated = _getversion(headers) == self._validated
        mode = self._mode = self._choose_framing()
        status = self._status
        if self.upgrade:
            headers[_CONNECTION] = "upgrade"
        elif status >= 200:
            keep = self._keep_alive(mode)
            if not keep:
                if self._at_least_11:
                    headers[_CONNECTION] = "close"
            elif self._version == (1, 0) or _is_http10(
                getattr(self.transport, "request_version", None)
            ):
                # An HTTP/1.0 client learns that the connection persists only
                # from this header (RFC 9112 §9.3, appendix C.2.2), whatever
                # version the response itself carries.
                headers[_CONNECTION] = "keep-alive"
        headers.setdefault(_DATE, _http_date())
        server = self.SERVER_SOFTWARE
        if server is not _SERVER_SOFTWARE:
            server = _check_value(server)  # a subclass's own value
        headers.setdefault(_SERVER, server)
        if validated:
            self._validated = _getversion(headers)

    def send_headers(self) -> None:
        """Send the status line and headers, in one ``transport.write()``.

        Names are written title-cased, values UTF-8 encoded (with
        ``surrogateescape``, so values decoded from a request that way go
        back as the original bytes).  Headers placed in ``headers`` directly,
        bypassing ``add_header()``, are checked here: a CR, LF or NUL raises
        :class:`~llserver.errors.InvalidResponseHeader` and nothing is sent.
        """
        if self.headers_sent:
            raise InvalidResponseHeader("headers have been sent already")
        head = None if self._hlist is None else self._head_from_list()
        if head is None:
            self._add_default_headers()
            headers = self.headers
            if _getversion(headers) == self._validated:
                # Only add_header() and this class changed the dict: names
                # are canonical title-cased istr, values checked str.
                text = (
                    self._status_line
                    + "".join([name + ": " + value + "\r\n" for name, value in headers.items()])
                    + "\r\n"
                )
            else:
                text = self._serialise_unvalidated(headers)
            head = text.encode("utf-8", "surrogateescape")

        self.headers_sent = True
        self._emit = _EMITTERS[self._mode]
        size = len(head)
        self.headers_length = size
        self.output_length += size
        self._output_size += size
        transport = self.transport
        try:
            transport.response = self
        except AttributeError:
            pass
        transport.write(head)

    def _head_from_list(self) -> Optional[bytes]:
        """The head of the common response, built from the header list: what
        ``_add_default_headers()`` and the serialisation in ``send_headers()``
        produce, byte for byte, for a final status with a body, no
        Transfer-Encoding, upgrade or compression of the user's and the
        default Date and Server.  None when the response is not that case
        (the dictionary path then handles it)."""
        status = self._status
        if (
            status < 200
            or status == 204
            or status == 304
            or self.upgrade
            or self._list_has_defaults
            or self._compression is not None
            or self.SERVER_SOFTWARE is not _SERVER_SOFTWARE
        ):
            return None
        hlist: List[Tuple[istr, str]] = self._hlist  # type: ignore[assignment]
        writer = self.transport
        try:  # a StreamWriter has them all; other writers may have none
            request_version = writer.request_version
            request_method = writer.request_method
            request_close = writer.request_should_close
        except AttributeError:
            request_version = getattr(writer, "request_version", None)
            request_method = getattr(writer, "request_method", None)
            request_close = getattr(writer, "request_should_close", False)
        at_least_11 = self._at_least_11
        if request_version is HttpVersion11 or request_version is None:
            can_chunk = at_least_11
            request_10 = False
        else:
            # RFC 9112 §6.1: no Transfer-Encoding unless the request was 1.1+.
            can_chunk = at_least_11 and not (
                isinstance(request_version, tuple) and request_version < (1, 1)
            )
            request_10 = _is_http10(request_version)
        length = self.length
        if can_chunk and (self.chunked or self.has_chunked_hdr or length is None):
            if length is not None:
                return None  # a Content-Length to drop (RFC 9112 §6.2)
            self.chunked = True
            mode = _CHUNKED
        else:
            self.chunked = False
            if length is not None:
                self._remaining = length
                mode = _LENGTH
            else:
                mode = _CLOSE
        if request_method == "HEAD":
            mode = _NO_BODY  # the GET's head, no body (RFC 9110 §9.3.2)
        self._mode = mode
        # _keep_alive(mode), inlined: which Connection header, if any.
        keep = self.keepalive
        if keep is None:
            keep = at_least_11 and not self.closing
        if keep and not self.incomplete and mode != _CLOSE and request_close is not True:
            if request_10 or (not at_least_11 and self._version == (1, 0)):
                # See _add_default_headers (RFC 9112 §9.3, appendix C.2.2).
                connection: Optional[Tuple[istr, str]] = _KEEP_ALIVE_PAIR
            else:
                connection = None
        elif at_least_11:
            connection = _CLOSE_PAIR
        else:
            connection = None
        chunked = self.chunked
        # The head is a function of these and the second (Date): handlers
        # send the same few heads again and again.
        if int(time.time()) != _date_second:
            _http_date()
            _HEAD_CACHE.clear()
        key = (self._status_line, chunked, connection, *hlist)
        head = _HEAD_CACHE.get(key)
        if chunked:
            hlist.append(_CHUNKED_PAIR)
        if connection is not None:
            hlist.append(connection)
        hlist.append(_date_pair)
        hlist.append(_SERVER_PAIR)
        if head is None:
            text = self._status_line + "\r\n".join(map(": ".join, hlist)) + "\r\n\r\n"
            head = text.encode("utf-8", "surrogateescape")
            if len(_HEAD_CACHE) >= _HEAD_CACHE_MAX:
                _HEAD_CACHE.clear()
            _HEAD_CACHE[key] = head
        return head

    def _serialise_unvalidated(self, headers: Any) -> str:
        titles = _TITLES
        lines = [self._status_line]
        append = lines.append
        for name, value in headers.items():
            title = titles.get(name)
            if title is None:
                title = _title_name(name)
            append(f"{title}: {value}\r\n")
        append("\r\n")
        text = "".join(lines)
        count = len(lines)
        if text.count("\n") != count or text.count("\r") != count or "\x00" in text:
            raise InvalidResponseHeader("CR, LF or NUL in a header value")
        return text

    # ------------------------------------------------------------- body

    def write(self, chunk: Any, *, drain: bool = False) -> Any:
        """Send a piece of the body.

        ``chunk`` may be any bytes-like object; an empty one is ignored (in
        1.1 it ended a chunked body early).  Returns an awaitable that is
        also iterable and never warns when dropped: already done, or, with
        ``drain=True`` and more than 64 KiB written since the last drain,
        the writer's ``drain()``.
        """
        if not self.headers_sent:
            if not self._send_headers:
                raise InvalidResponseHeader("send_headers() is not called.")
            self.send_headers()
        if self.eof_written:
            raise RuntimeError("write() called after write_eof()")
        kind = type(chunk)
        if kind is not bytes and kind is not bytearray:
            chunk = _as_bytes(chunk)
        if not chunk:
            return DONE
        if self.filter is None:
            self._emit(self, chunk)
        else:
            emit = self.writer
            for piece in self._run_filters(chunk, False):
                emit(piece)
        if drain and self._output_size > DRAIN_THRESHOLD:
            self._output_size = 0
            return self._drain()
        return DONE

    @property
    def writer(self) -> Any:
        """The body emitter chosen when the head was sent (aiohttp 1.1 kept
        its body-writer generator under this name), bound on access: storing
        a bound method on the instance would make every response a reference
        cycle, freed only by the cycle collector."""
        emit = self._emit
        return None if emit is None else emit.__get__(self, Response)

    def _emit_chunked(self, chunk: Any) -> None:
        data = b"%x\r\n%b\r\n" % (len(chunk), chunk)
        self.transport.write(data)
        size = len(data)
        self.output_length += size
        self._output_size += size

    def _emit_length(self, chunk: Any) -> None:
        remaining = self._remaining
        if remaining <= 0:
            return
        size = len(chunk)
        if size > remaining:
            chunk = chunk[:remaining]
            size = remaining
        self._remaining = remaining - size
        self.transport.write(chunk)
        self.output_length += size
        self._output_size += size

    def _emit_raw(self, chunk: Any) -> None:
        self.transport.write(chunk)
        size = len(chunk)
        self.output_length += size
        self._output_size += size

    def _emit_nothing(self, chunk: Any) -> None:
        pass

    def write_eof(self) -> Any:
        """Finish the body: flush the filters, write the chunked terminator,
        and note a body shorter than its Content-Length (the connection
        cannot be reused then, api-spec §11 row 22).  Returns the writer's
        ``drain()`` (awaitable, iterable, silent when dropped).  A second
        call only drains."""
        if self.eof_written:
            return self._drain()
        if not self.headers_sent:
            if not self._send_headers:
                raise InvalidResponseHeader("send_headers() is not called.")
            self.send_headers()
        if self.filter is not None:
            emit = self.writer
            for piece in self._run_filters(None, True):
                emit(piece)
        self.eof_written = True
        mode = self._mode
        if mode == _CHUNKED:
            self.transport.write(b"0\r\n\r\n")
            self.output_length += 5
        elif mode == _LENGTH and self._remaining > 0:
            self.incomplete = True
        self._output_size = 0
        return self._drain()

    def _drain(self) -> Any:
        drain = getattr(self.transport, "drain", None)
        if drain is None:
            return DONE
        return drain()

    async def sendfile(self, file: Any, offset: int = 0, count: Optional[int] = None) -> int:
        """Send ``count`` bytes of the binary ``file`` from ``offset`` (to its
        end when ``count`` is None) as (part of) the body; returns the number
        of body bytes sent.

        If the head is not sent yet and no length or chunking was set, it
        gets ``Content-Length`` from ``count`` or the file size, then goes
        out.  Length-delimited and close-delimited bodies go through
        ``loop.sendfile()``: zero-copy ``os.sendfile`` on plain TCP, asyncio's
        read/write fallback on TLS.  Chunked or filtered bodies are read and
        written in 64 KiB pieces.  Call ``write_eof()`` afterwards as usual.
        """
        if offset < 0:
            raise ValueError(f"offset must be >= 0, not {offset}")
        if count is not None and count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        if not self.headers_sent:
            if (
                self.length is None
                and not self.chunked
                and not self.has_chunked_hdr
                and self.filter is None
                and _TRANSFER_ENCODING not in self.headers
            ):
                if count is None:
                    count = max(os.fstat(file.fileno()).st_size - offset, 0)
                self.add_header(_CONTENT_LENGTH, str(count))
            self.send_headers()
        if self.eof_written:
            raise RuntimeError("sendfile() called after write_eof()")
        mode = self._mode
        if mode == _LENGTH:
            count = self._remaining if count is None else min(count, self._remaining)
        if mode == _NO_BODY or count == 0:
            return 0
        writer = self.transport
        raw = getattr(writer, "transport", None)
        if (
            self.filter is None
            and mode != _CHUNKED
            and isinstance(raw, asyncio.WriteTransport)
            and getattr(raw, "_sendfile_compatible", None) is not None
            and not raw.is_closing()
        ):
            flush = getattr(writer, "flush", None)
            if flush is not None:
                flush()  # bytes gathered by a corked writer go first
            loop = asyncio.get_running_loop()
            try:
                sent = await loop.sendfile(raw, file, offset, count, fallback=True)
            except NotImplementedError:
                pass  # e.g. an event loop without sendfile support
            else:
                self.output_length += sent
                if mode == _LENGTH:
                    self._remaining -= sent
                return sent
        return await self._sendfile_by_copy(file, offset, count)

    async def _sendfile_by_copy(self, file: Any, offset: int, count: Optional[int]) -> int:
        loop = asyncio.get_running_loop()
        file.seek(offset)
        sent = 0
        while count is None or sent < count:
            size = 64 * 1024 if count is None else min(64 * 1024, count - sent)
            data = await loop.run_in_executor(None, file.read, size)
            if not data:
                break
            sent += len(data)
            self.write(data)
            await self._drain()
        return sent


# The body emitter of each framing mode (indexed by _NO_BODY ... _CLOSE).
_EMITTERS = (
    Response._emit_nothing,
    Response._emit_raw,
    Response._emit_chunked,
    Response._emit_length,
    Response._emit_raw,
)
assert (_NO_BODY, _UPGRADE, _CHUNKED, _LENGTH, _CLOSE) == (0, 1, 2, 3, 4)
