"""Request-body decompression for ``Content-Encoding`` (RFC 9110 §8.4.1).

Strategy.  One :class:`BodyDecoder` per body, fed the body bytes as they
arrive (``decompress``) and told when they end (``flush``), so a body is never
held whole in memory, compressed or not.

- ``gzip`` (and its alias ``x-gzip``, RFC 9110 §8.4.1.3) is the RFC 1952
  wrapper.  A gzip body may hold several members back to back (RFC 1952
  §2.2); they are decoded one after the other.
- ``deflate`` means the zlib format (RFC 1950, RFC 9110 §8.4.1.2), but some
  clients send bare deflate data (RFC 1951), which is all aiohttp 1.1
  accepted.  Both are taken: the first two bytes decide, since a zlib header
  has compression method 8, a window of at most 32 KiB and
  ``(CMF * 256 + FLG) % 31 == 0``, which a raw stream's first block does not
  produce in practice.
- Corrupt data, bytes after the end of the compressed data, or data that is
  not finished when the body ends raise ``ContentEncodingError('deflate')``
  (aiohttp 1.1's message, whatever the coding), chained to the zlib error.
- ``max_size`` bounds the *inflated* size.  zlib's ``max_length`` stops
  inflation at ``max_size + 1`` bytes per call, so a small zip bomb costs at
  most that much memory before :class:`~llserver.errors.PayloadTooLarge`
  (413, RFC 9110 §15.5.14) is raised.
"""

from __future__ import annotations

import zlib
from typing import Optional

from .errors import ContentEncodingError, PayloadTooLarge

__all__ = ("BodyDecoder", "SUPPORTED_ENCODINGS")

#: Content codings :class:`BodyDecoder` understands (lower case).
SUPPORTED_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_WBITS = -zlib.MAX_WBITS


def _is_zlib_header(cmf: int, flg: int) -> bool:
    """RFC 1950 §2.2: CM is 8 (deflate), CINFO <= 7, and the 16-bit header
    is a multiple of 31."""
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0


class BodyDecoder:
    """Incremental decoder for one request body with the given coding.

    Two ways to use it: ``decompress(data)`` inflates everything at once;
    ``feed(data)`` then ``inflate(max_length)`` while ``pending`` lets the
    server inflate no faster than the handler reads, so a small compressed
    body never sits in memory inflated (flow control, RFC 9112 §9.3 spirit).
    """

    __slots__ = ("_gzip", "_max_size", "_total", "_obj", "_input", "_started", "_capped")

    def __init__(self, encoding: str, max_size: Optional[int] = None) -> None:
        enc = encoding.strip().lower()
        if enc not in SUPPORTED_ENCODINGS:
            raise ValueError(f"unsupported content coding: {encoding!r}")
        self._gzip = enc != "deflate"
        self._max_size = max_size
        self._total = 0
        self._started = False
        # For deflate the wrapper is known only after two bytes.
        self._obj = zlib.decompressobj(_GZIP_WBITS) if self._gzip else None
        self._input = b""  # compressed bytes not inflated yet
        self._capped = False  # the last inflate stopped at its max_length

    def feed(self, data: bytes) -> None:
        """Queue compressed bytes; :meth:`inflate` turns them into output."""
        if data:
            self._started = True
            self._input = self._input + data if self._input else bytes(data)

    @property
    def pending(self) -> bool:
        """Whether :meth:`inflate` has more output to give now."""
        if self._capped:
            return True
        if not self._input:
            return False
        return self._obj is not None or len(self._input) >= 2

    def inflate(self, max_length: int) -> bytes:
        """Inflate queued input, producing at most ``max_length`` bytes."""
        out = []
        produced = 0
        while produced < max_length and self.pending:
            obj = self._obj
            if obj is None:
                data = self._input
                wbits = _ZLIB_WBITS if _is_zlib_header(data[0], data[1]) else _RAW_WBITS
                obj = self._obj = zlib.decompressobj(wbits)
            elif obj.eof:
                if not self._gzip:
                    raise ContentEncodingError("deflate")  # data after the end
                obj = self._obj = zlib.decompressobj(_GZIP_WBITS)  # next member
            limit = max_length - produced
            max_size = self._max_size
            if max_size is not None:
                # room + 1 >= 1: max_length=0 would mean "unlimited".
                limit = min(limit, max_size - self._total + 1)
            try:
                chunk = obj.decompress(self._input, limit)
            except zlib.error as exc:
                raise ContentEncodingError("deflate") from exc
            self._input = obj.unused_data if obj.eof else obj.unconsumed_tail
            self._capped = len(chunk) == limit and not obj.eof
            self._total += len(chunk)
            if max_size is not None and self._total > max_size:
                raise PayloadTooLarge(f"Decompressed body larger than {max_size} bytes")
            if chunk:
                out.append(chunk)
                produced += len(chunk)
        return out[0] if len(out) == 1 else b"".join(out)

    def decompress(self, data: bytes) -> bytes:
        """Decode the next piece of the body; returns all it inflates to
        (possibly ``b''``)."""
        self.feed(data)
        return self.inflate(_UNLIMITED)

    def flush(self) -> bytes:
        """Call at the end of the body: returns the output still queued and
        raises ``ContentEncodingError`` if the compressed data stopped short
        of its end.  An empty body is accepted as empty (clients label empty
        bodies too)."""
        if not self._started:
            return b""
        tail = self.inflate(_UNLIMITED)
        obj = self._obj
        if obj is None or not obj.eof or self._input:
            raise ContentEncodingError("deflate")
        return tail


_UNLIMITED = 1 << 62
