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
    """Incremental decoder for one request body with the given coding."""

    __slots__ = ("_gzip", "_max_size", "_total", "_obj", "_pending", "_started")

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
        self._pending = b""

    def decompress(self, data: bytes) -> bytes:
        """Decode the next piece of the body; returns what it inflates to
        (possibly ``b''``)."""
        if not data:
            return b""
        self._started = True
        obj = self._obj
        if obj is None:
            data = self._pending + data
            if len(data) < 2:
                self._pending = data
                return b""
            self._pending = b""
            wbits = _ZLIB_WBITS if _is_zlib_header(data[0], data[1]) else _RAW_WBITS
            obj = self._obj = zlib.decompressobj(wbits)
        out = []
        while True:
            if obj.eof:
                if not self._gzip:
                    raise ContentEncodingError("deflate")  # data after the end
                obj = self._obj = zlib.decompressobj(_GZIP_WBITS)  # next member
            out.append(self._inflate(obj, data))
            data = obj.unused_data
            if not (obj.eof and data):
                break
        return out[0] if len(out) == 1 else b"".join(out)

    def flush(self) -> bytes:
        """Call at the end of the body.  Raises ``ContentEncodingError`` if
        the compressed data stopped short of its end.  An empty body is
        accepted as empty (clients label empty bodies too)."""
        if not self._started:
            return b""
        obj = self._obj
        if obj is None or not obj.eof:
            raise ContentEncodingError("deflate")
        # Every byte was inflated by decompress(): zlib emits all output up to
        # the end of the stream in the call that reaches it.
        return b""

    def _inflate(self, obj: zlib._Decompress, data: bytes) -> bytes:
        max_size = self._max_size
        try:
            if max_size is None:
                chunk = obj.decompress(data)
            else:
                room = max_size - self._total
                # room + 1 >= 1: max_length=0 would mean "unlimited".
                chunk = obj.decompress(data, room + 1)
        except zlib.error as exc:
            raise ContentEncodingError("deflate") from exc
        if max_size is not None and len(chunk) > room:
            raise PayloadTooLarge(f"Decompressed body larger than {max_size} bytes")
        self._total += len(chunk)
        return chunk
