"""The request message handed to ``handle_request``, as aiohttp 1.1 shaped it.

Both types are real namedtuples: user code and old tests unpack the message
and compare it with plain tuples, e.g. ``('GET', '/', (1, 1), CIMultiDict(),
[], False, None)``.
"""

from __future__ import annotations

from collections import namedtuple

__all__ = ("HttpVersion", "HttpVersion10", "HttpVersion11", "RawRequestMessage")

HttpVersion = namedtuple("HttpVersion", ["major", "minor"])
HttpVersion10 = HttpVersion(1, 0)
HttpVersion11 = HttpVersion(1, 1)

RawRequestMessage = namedtuple(
    "RawRequestMessage",
    ["method", "path", "version", "headers", "raw_headers", "should_close", "compression"],
)
RawRequestMessage.__doc__ = """A parsed request head.

``headers`` is a ``CIMultiDict`` keyed by title-cased names; ``raw_headers``
a list of ``(UPPER-CASE name bytes, value bytes)`` pairs in wire order;
``should_close`` follows the last Connection header and the version default
(RFC 9112 §9.3); ``compression`` is ``'gzip'``, ``'deflate'`` or ``None``."""
