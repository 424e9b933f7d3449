"""Typed errors, each carrying the HTTP status the server answers with.

The names and constructor signatures are those of ``aiohttp.errors`` 1.1, so
``from aiohttp.errors import *`` keeps working after the import rewrite.  The
classes added by llserver (``URITooLong``, ``HeaderFieldsTooLarge``,
``PayloadTooLarge``, ``UnsupportedTransferCoding``, ``HttpVersionNotSupported``)
subclass the 1.1 class a user would already catch for that failure, so an
``except LineTooLong`` written for 1.1 still sees an over-long request line.

The server turns an :class:`HttpProcessingError` into an error page with
``exc.code`` as status (RFC 9110 §15.5 for the 4xx codes, RFC 6585 §5 for 431).
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Tuple

__all__ = (
    "DisconnectedError",
    "ClientDisconnectedError",
    "ServerDisconnectedError",
    "HttpProcessingError",
    "BadHttpMessage",
    "HttpMethodNotAllowed",
    "HttpBadRequest",
    "HttpProxyError",
    "BadStatusLine",
    "LineTooLong",
    "InvalidHeader",
    "ContentEncodingError",
    "TransferEncodingError",
    "LineLimitExceededParserError",
    "URITooLong",
    "HeaderFieldsTooLarge",
    "TooManyHeaders",
    "PayloadTooLarge",
    "UnsupportedTransferCoding",
    "HttpVersionNotSupported",
    "InvalidResponseHeader",
    "ClientError",
    "ClientHttpProcessingError",
    "ClientConnectionError",
    "ClientOSError",
    "ClientTimeoutError",
    "ProxyConnectionError",
    "ClientRequestError",
    "ClientResponseError",
    "FingerprintMismatch",
    "WSServerHandshakeError",
    "WSClientDisconnectedError",
)

HeaderPairs = Optional[Iterable[Tuple[str, str]]]


class DisconnectedError(Exception):
    """Base for a peer that went away mid-exchange."""


class ClientDisconnectedError(DisconnectedError):
    """The client closed the connection (raised into body reads and handlers)."""


class ServerDisconnectedError(DisconnectedError):
    """Kept for import compatibility with aiohttp 1.1's client side."""


class HttpProcessingError(Exception):
    """An HTTP-level failure that the server answers with ``code``.

    Keyword-only, as in aiohttp 1.1: ``HttpProcessingError(code=403,
    message='Nope', headers=[('X-Why', 'because')])``.
    """

    code = 0
    message = ""
    headers: Any = None

    def __init__(
        self,
        *,
        code: Optional[int] = None,
        message: str = "",
        headers: HeaderPairs = None,
    ) -> None:
        if code is not None:
            self.code = code
        self.headers = headers
        self.message = message
        super().__init__(f"{self.code}, message='{message}'")


class BadHttpMessage(HttpProcessingError):
    """The request violates HTTP/1.1 syntax or framing: 400 (RFC 9112 §2.2)."""

    code = 400
    message = "Bad Request"

    def __init__(self, message: str, *, headers: HeaderPairs = None) -> None:
        super().__init__(message=message, headers=headers)


class HttpBadRequest(BadHttpMessage):
    code = 400
    message = "Bad Request"


class HttpMethodNotAllowed(HttpProcessingError):
    code = 405
    message = "Method Not Allowed"


class HttpProxyError(HttpProcessingError):
    """Kept for import compatibility (client-side proxy failures in 1.1)."""


class WSServerHandshakeError(HttpProcessingError):
    """Kept for import compatibility (websocket handshake failures in 1.1)."""


class ContentEncodingError(BadHttpMessage):
    """The body's Content-Encoding could not be decoded (RFC 9110 §8.4)."""


class TransferEncodingError(BadHttpMessage):
    """Chunked framing is broken (RFC 9112 §7.1)."""


class UnsupportedTransferCoding(TransferEncodingError):
    """A transfer coding the server does not implement: 501 (RFC 9112 §6.1)."""

    code = 501
    message = "Not Implemented"


class PayloadTooLarge(BadHttpMessage):
    """The body exceeds the configured maximum: 413 (RFC 9110 §15.5.14)."""

    code = 413
    message = "Payload Too Large"


class LineTooLong(BadHttpMessage):
    """A line of the request head is over its limit."""

    def __init__(self, line: str, limit: Any = "Unknown") -> None:
        super().__init__(f"Got more than {limit} bytes when reading {line}.")


class URITooLong(LineTooLong):
    """The request line is over ``max_line_size``: 414 (RFC 9110 §15.5.15)."""

    code = 414


class HeaderFieldsTooLarge(LineTooLong):
    """Header section or one field over its limit, or too many fields: 431
    (RFC 6585 §5)."""

    code = 431


class TooManyHeaders(HeaderFieldsTooLarge):
    """More header fields than ``max_header_count``: 431 (RFC 6585 §5)."""

    def __init__(self, limit: int) -> None:
        BadHttpMessage.__init__(self, f"Got more than {limit} header fields.")


class InvalidHeader(BadHttpMessage):
    """A header field is malformed (RFC 9110 §5, RFC 9112 §5)."""

    def __init__(self, hdr: Any) -> None:
        if isinstance(hdr, (bytes, bytearray)):
            hdr = bytes(hdr).decode("utf-8", "surrogateescape")
        super().__init__(f"Invalid HTTP Header: {hdr}")
        self.hdr = hdr


class BadStatusLine(BadHttpMessage):
    """The request line is malformed (RFC 9112 §3).

    As in 1.1 the base initialiser is not called: ``args == (line,)`` and
    ``code``/``message`` keep the class defaults.
    """

    def __init__(self, line: str = "") -> None:
        if not line:
            line = repr(line)
        self.args = (line,)
        self.line = line
        self.headers = None


class HttpVersionNotSupported(BadStatusLine):
    """An HTTP major version other than 1: 505 (RFC 9110 §15.6.6)."""

    code = 505
    message = "HTTP Version Not Supported"


class LineLimitExceededParserError(HttpBadRequest):
    """Line is too long (kept from aiohttp 1.1's parser module)."""

    def __init__(self, msg: str, limit: int) -> None:
        super().__init__(msg)
        self.limit = limit


class InvalidResponseHeader(AssertionError, ValueError):
    """A response header name or value is not sendable (CR, LF, NUL, non-ASCII
    name).  An ``AssertionError`` too, so 1.1 tests that expected the old
    ``assert`` still pass, but raised even under ``python -O``."""


# Client-side names of aiohttp 1.1, kept so star-imports keep working.


class ClientError(Exception):
    """Base class for client errors (import compatibility only)."""


class ClientHttpProcessingError(ClientError):
    pass


class ClientRequestError(ClientHttpProcessingError):
    pass


class ClientResponseError(ClientHttpProcessingError):
    pass


class ClientConnectionError(ClientError):
    pass


class ClientOSError(ClientConnectionError, OSError):
    pass


class ClientTimeoutError(ClientConnectionError, TimeoutError):
    pass


class ProxyConnectionError(ClientConnectionError):
    pass


class FingerprintMismatch(ClientConnectionError):
    def __init__(self, expected: bytes, got: bytes, host: str, port: int) -> None:
        self.expected = expected
        self.got = got
        self.host = host
        self.port = port
        super().__init__(expected, got, host, port)


class WSClientDisconnectedError(ClientDisconnectedError):
    pass
