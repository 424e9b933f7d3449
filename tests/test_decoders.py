"""Request-body Content-Encoding decoding (RFC 9110 §8.4.1; checklist items
43 and 44; api-spec §11 row 14)."""

from __future__ import annotations

import gzip
import os
import zlib
from typing import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llserver._decoders import BodyDecoder
from llserver.errors import BadHttpMessage, ContentEncodingError, PayloadTooLarge

BODY = b"The quick brown fox jumps over the lazy dog.\n" * 200


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def zlib_deflate(data: bytes, level: int = 6) -> bytes:
    return zlib.compress(data, level)


ENCODERS = {
    "gzip": ("gzip", gzip.compress),
    "x-gzip": ("x-gzip", gzip.compress),
    "deflate-zlib": ("deflate", zlib_deflate),
    "deflate-raw": ("deflate", raw_deflate),
}


def decode(decoder: BodyDecoder, pieces: Iterable[bytes]) -> bytes:
    out = [decoder.decompress(piece) for piece in pieces]
    out.append(decoder.flush())
    return b"".join(out)


def one_byte_pieces(data: bytes) -> Iterable[bytes]:
    return (data[i : i + 1] for i in range(len(data)))


@pytest.mark.parametrize("name", list(ENCODERS))
def test_body_fed_in_one_byte_pieces_is_decoded(name: str) -> None:
    encoding, encode = ENCODERS[name]
    assert decode(BodyDecoder(encoding), one_byte_pieces(encode(BODY))) == BODY


@pytest.mark.parametrize("name", list(ENCODERS))
def test_body_fed_at_once_is_decoded(name: str) -> None:
    encoding, encode = ENCODERS[name]
    assert decode(BodyDecoder(encoding), [encode(BODY)]) == BODY


@pytest.mark.parametrize("level", range(10))
def test_zlib_wrapped_deflate_detected_at_every_compression_level(level: int) -> None:
    # Each level gives a different FLG byte; all must be seen as zlib.
    assert decode(BodyDecoder("deflate"), [zlib_deflate(BODY, level)]) == BODY


@pytest.mark.parametrize("level", range(10))
def test_raw_deflate_detected_at_every_compression_level(level: int) -> None:
    c = zlib.compressobj(level, wbits=-zlib.MAX_WBITS)
    data = c.compress(BODY) + c.flush()
    assert decode(BodyDecoder("deflate"), one_byte_pieces(data)) == BODY


@pytest.mark.parametrize("wbits", range(9, 16))
def test_zlib_wrapped_deflate_with_small_window_is_decoded(wbits: int) -> None:
    c = zlib.compressobj(wbits=wbits)
    data = c.compress(BODY) + c.flush()
    assert decode(BodyDecoder("deflate"), one_byte_pieces(data)) == BODY


@pytest.mark.parametrize("encoding", ["GZIP", " gzip ", "Deflate"])
def test_coding_names_are_case_insensitive(encoding: str) -> None:
    # RFC 9110 §8.4.1: content-coding values are case-insensitive.
    encode = gzip.compress if "gzip" in encoding.lower() else zlib_deflate
    assert decode(BodyDecoder(encoding), [encode(BODY)]) == BODY


def test_gzip_body_of_several_members_is_decoded_whole() -> None:
    # RFC 1952 §2.2: a gzip file is a series of members.
    data = gzip.compress(b"first ") + gzip.compress(b"second")
    assert decode(BodyDecoder("gzip"), one_byte_pieces(data)) == b"first second"
    assert decode(BodyDecoder("gzip"), [data]) == b"first second"


def test_unsupported_coding_is_refused() -> None:
    with pytest.raises(ValueError):
        BodyDecoder("br")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_empty_body_decodes_to_empty(encoding: str) -> None:
    decoder = BodyDecoder(encoding)
    assert decoder.decompress(b"") == b""
    assert decoder.flush() == b""


@pytest.mark.parametrize("name", list(ENCODERS))
def test_corrupt_data_raises_content_encoding_error_chained_to_zlib(name: str) -> None:
    encoding, encode = ENCODERS[name]
    data = bytearray(encode(BODY))
    # Break the header (gzip/zlib) or the first block type (raw deflate).
    if name == "deflate-raw":
        data[0] |= 0x06  # BTYPE 11: reserved, always an error
    else:
        data[0] ^= 0xFF
    decoder = BodyDecoder(encoding)
    with pytest.raises(ContentEncodingError) as info:
        decode(decoder, [bytes(data)])
    assert isinstance(info.value.__cause__, zlib.error)
    assert info.value.message == "deflate"
    assert info.value.code == 400
    assert isinstance(info.value, BadHttpMessage)


def test_gzip_with_bad_checksum_raises() -> None:
    data = bytearray(gzip.compress(BODY))
    data[-8] ^= 0xFF  # CRC32 of the trailer
    with pytest.raises(ContentEncodingError):
        decode(BodyDecoder("gzip"), one_byte_pieces(bytes(data)))


@pytest.mark.parametrize("name", list(ENCODERS))
def test_truncated_stream_raises_at_flush(name: str) -> None:
    encoding, encode = ENCODERS[name]
    data = encode(BODY)[:-3]
    decoder = BodyDecoder(encoding)
    for piece in one_byte_pieces(data):
        decoder.decompress(piece)
    with pytest.raises(ContentEncodingError, match="deflate"):
        decoder.flush()


def test_deflate_body_of_one_byte_is_truncated() -> None:
    decoder = BodyDecoder("deflate")
    assert decoder.decompress(b"x") == b""
    with pytest.raises(ContentEncodingError):
        decoder.flush()


@pytest.mark.parametrize("name", ["deflate-zlib", "deflate-raw"])
def test_data_after_end_of_deflate_stream_raises(name: str) -> None:
    encoding, encode = ENCODERS[name]
    decoder = BodyDecoder(encoding)
    assert decoder.decompress(encode(BODY)) == BODY
    with pytest.raises(ContentEncodingError):
        decoder.decompress(b"junk")


def test_data_after_end_of_deflate_stream_in_same_piece_raises() -> None:
    with pytest.raises(ContentEncodingError):
        BodyDecoder("deflate").decompress(zlib_deflate(BODY) + b"junk")


def test_junk_after_gzip_member_raises() -> None:
    with pytest.raises(ContentEncodingError):
        decode(BodyDecoder("gzip"), [gzip.compress(BODY) + b"junk"])


def test_partial_gzip_member_after_a_complete_one_raises_at_flush() -> None:
    decoder = BodyDecoder("gzip")
    decoder.decompress(gzip.compress(BODY) + gzip.compress(BODY)[:5])
    with pytest.raises(ContentEncodingError):
        decoder.flush()


# -- max_size -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENCODERS))
def test_output_of_exactly_max_size_is_accepted(name: str) -> None:
    encoding, encode = ENCODERS[name]
    decoder = BodyDecoder(encoding, max_size=len(BODY))
    assert decode(decoder, one_byte_pieces(encode(BODY))) == BODY


@pytest.mark.parametrize("name", list(ENCODERS))
def test_output_one_byte_over_max_size_raises_payload_too_large(name: str) -> None:
    encoding, encode = ENCODERS[name]
    decoder = BodyDecoder(encoding, max_size=len(BODY) - 1)
    with pytest.raises(PayloadTooLarge) as info:
        decode(decoder, one_byte_pieces(encode(BODY)))
    assert info.value.code == 413


def test_max_size_counts_output_across_gzip_members() -> None:
    data = gzip.compress(b"a" * 600) + gzip.compress(b"b" * 600)
    with pytest.raises(PayloadTooLarge):
        decode(BodyDecoder("gzip", max_size=1000), [data])


def test_max_size_zero_allows_only_an_empty_payload() -> None:
    assert decode(BodyDecoder("gzip", max_size=0), [gzip.compress(b"")]) == b""
    with pytest.raises(PayloadTooLarge):
        decode(BodyDecoder("gzip", max_size=0), [gzip.compress(b"x")])


class _RecordingObj:
    """Wraps a zlib decompress object to record what each call produced."""

    def __init__(self, obj, log):
        self._obj = obj
        self._log = log

    def decompress(self, data, max_length=0):
        out = self._obj.decompress(data, max_length)
        self._log.append((max_length, len(out)))
        return out

    def __getattr__(self, name):
        return getattr(self._obj, name)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_zip_bomb_raises_payload_too_large_without_inflating_it_all(name: str, monkeypatch) -> None:
    encoding, encode = ENCODERS[name]
    bomb = encode(bytes(10 * 1024 * 1024))  # 10 MiB of zeros
    assert len(bomb) < 20 * 1024
    max_size = 1024 * 1024
    log: list = []
    real = zlib.decompressobj
    monkeypatch.setattr(
        "llserver._decoders.zlib.decompressobj",
        lambda *a, **k: _RecordingObj(real(*a, **k), log),
    )
    decoder = BodyDecoder(encoding, max_size=max_size)
    with pytest.raises(PayloadTooLarge):
        decoder.decompress(bomb)
    assert log
    produced = sum(n for _, n in log)
    assert produced <= max_size + 1
    assert all(0 < limit <= max_size + 1 for limit, _ in log)


def test_zip_bomb_fed_in_small_pieces_stops_at_the_limit() -> None:
    bomb = zlib_deflate(bytes(10 * 1024 * 1024))
    decoder = BodyDecoder("deflate", max_size=1024 * 1024)
    total = 0
    with pytest.raises(PayloadTooLarge):
        for i in range(0, len(bomb), 64):
            total += len(decoder.decompress(bomb[i : i + 64]))
    assert total <= 1024 * 1024


# -- properties -----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(list(ENCODERS)),
    st.binary(max_size=2000),
    st.lists(st.integers(1, 64), max_size=40),
)
def test_any_body_split_anywhere_round_trips(name: str, body: bytes, cuts) -> None:
    encoding, encode = ENCODERS[name]
    data = encode(body)
    pieces = []
    pos = 0
    for cut in cuts:
        pieces.append(data[pos : pos + cut])
        pos += cut
    pieces.append(data[pos:])
    assert decode(BodyDecoder(encoding), pieces) == body


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(list(ENCODERS)), st.integers(0, 4096))
def test_incompressible_body_round_trips(name: str, size: int) -> None:
    encoding, encode = ENCODERS[name]
    body = os.urandom(size)
    assert decode(BodyDecoder(encoding), [encode(body)]) == body
