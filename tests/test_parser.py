"""The parser adapter, driven by feeding bytes (no socket): framing, splits,
limits and every malformed form, each mapped to its typed error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from llserver import errors
from llserver.message import HttpVersion10, HttpVersion11, RawRequestMessage
from llserver.parser import (
    END_OF_MESSAGE,
    HEAD_CHUNKED,
    HEAD_CONTENT_LENGTH,
    HEAD_EXPECT_CONTINUE,
    HEAD_HAS_BODY,
    HEAD_KEEP_ALIVE,
    HEAD_UPGRADE,
    RequestParser,
    Upgrade,
)

BROWSER_GET = (
    b"GET /static/app.js?v=3 HTTP/1.1\r\n"
    b"Host: example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: */*\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Referer: https://example.com/\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=abc123; theme=dark\r\n"
    b"Sec-Fetch-Dest: script\r\n"
    b"Sec-Fetch-Mode: no-cors\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"\r\n"
)

CHUNKED_POST = (
    b"POST /upload HTTP/1.1\r\n"
    b"Host: x\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
    b"4;test\r\ndata\r\n"
    b"4\r\nline\r\n"
    b"0\r\n"
    b"test: x\r\n"
    b"\r\n"
)

FIXTURES = {
    "browser_get": BROWSER_GET,
    "http10": b"GET /path HTTP/1.0\r\n\r\n",
    "post_length": b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\na=1&b=2&a=3",
    "chunked_ext_trailers": CHUNKED_POST,
    "pipelined": (
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n12"
        b"GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ),
    "absolute_form": b"GET http://example.com/info?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "asterisk_form": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "utf8_and_empty_values": b"GET /p HTTP/1.1\r\nHost: x\r\nx-test:\xd1\x82\xd0\xb5\r\nX-E:\r\n\r\n",
    "cp1251_value": b"GET /p HTTP/1.1\r\nHost: x\r\nX-Win: \xf2\xe5\xf1\xf2\r\n\r\n",
    "leading_crlf": b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "many_headers": b"GET / HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-H%d: v%d\r\n" % (i, i) for i in range(90))
    + b"\r\n",
    "long_url": b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "gzip_body": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
}


def normalise(events):
    """Join body pieces so that any split of the input compares equal."""
    out = []
    for ev in events:
        if isinstance(ev, bytes):
            if out and isinstance(out[-1], bytearray):
                out[-1] += ev
                continue
            out.append(bytearray(ev))
        else:
            out.append(ev)
    return [bytes(e) if isinstance(e, bytearray) else e for e in out]


def parse_pieces(pieces, **limits):
    parser = RequestParser(**limits)
    events = []
    for piece in pieces:
        events.extend(parser.feed_data(piece))
    return normalise(events)


def split_at(data, offsets):
    offsets = sorted(set(o for o in offsets if 0 < o < len(data)))
    bounds = [0, *offsets, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def comparable(events):
    """Errors compare by type and message, everything else by value."""
    return [
        (type(e), str(e)) if isinstance(e, Exception) else (e if not isinstance(e, Upgrade) else ("up", e.tail))
        for e in events
    ]


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_parses_identically_whole_bytewise_and_at_every_split(name):
    data = FIXTURES[name]
    whole = parse_pieces([data])
    assert whole and not any(isinstance(e, Exception) for e in whole)
    assert comparable(parse_pieces([data[i : i + 1] for i in range(len(data))])) == comparable(whole)
    step = max(1, len(data) // 300)  # every offset for small fixtures
    for offset in range(1, len(data), step):
        assert comparable(parse_pieces(split_at(data, [offset]))) == comparable(whole), offset


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(FIXTURES)),
    cuts=st.lists(st.integers(min_value=1, max_value=9000), max_size=12),
)
def test_fixture_parses_identically_under_random_splits(name, cuts):
    data = FIXTURES[name]
    assert comparable(parse_pieces(split_at(data, cuts))) == comparable(parse_pieces([data]))


def test_browser_request_builds_the_aiohttp_message():
    events = parse_pieces([BROWSER_GET])
    msg, flags, end = events
    assert isinstance(msg, RawRequestMessage)
    assert msg.method == "GET"
    assert msg.path == "/static/app.js?v=3"
    assert msg.version == HttpVersion11 == (1, 1)
    assert list(msg.headers)[:3] == ["Host", "User-Agent", "Accept"]
    assert msg.headers["accept-language"] == "en-US,en;q=0.5"
    assert msg.raw_headers[0] == (b"HOST", b"example.com")
    assert msg.raw_headers[-1] == (b"SEC-FETCH-SITE", b"same-origin")
    assert msg.should_close is False
    assert msg.compression is None
    assert flags & HEAD_KEEP_ALIVE and not flags & HEAD_HAS_BODY
    assert end is END_OF_MESSAGE


def test_http10_request_without_headers_equals_the_old_tuple():
    msg = parse_pieces([FIXTURES["http10"]])[0]
    assert msg == ("GET", "/path", (1, 0), CIMultiDict(), [], True, None)
    assert msg.version is HttpVersion10


def test_header_names_title_cased_values_stripped_duplicates_kept_in_order():
    data = (
        b"GET / HTTP/1.1\r\nhost:    x   \r\nx-custom: v1\r\nX-CUSTOM: v2\r\n"
        b"set-cookie: c1=cookie1\r\nSet-Cookie: c2=cookie2\r\nwww-authenticate: a\r\n\r\n"
    )
    msg = parse_pieces([data])[0]
    assert [k for k, _ in msg.headers.items()] == [
        "Host", "X-Custom", "X-Custom", "Set-Cookie", "Set-Cookie", "Www-Authenticate",
    ]
    assert msg.headers["Host"] == "x"
    assert msg.headers.getall("X-CUSTOM") == ["v1", "v2"]
    assert msg.headers.getall("set-cookie") == ["c1=cookie1", "c2=cookie2"]
    assert msg.raw_headers[:3] == [(b"HOST", b"x"), (b"X-CUSTOM", b"v1"), (b"X-CUSTOM", b"v2")]


def test_utf8_value_decodes_and_cp1251_round_trips_through_surrogateescape():
    msg = parse_pieces([FIXTURES["utf8_and_empty_values"]])[0]
    assert msg.headers["X-Test"] == "те"
    assert msg.headers["X-E"] == ""
    assert (b"X-TEST", b"\xd1\x82\xd0\xb5") in msg.raw_headers
    msg = parse_pieces([FIXTURES["cp1251_value"]])[0]
    assert msg.headers["X-Win"].encode("utf-8", "surrogateescape") == b"\xf2\xe5\xf1\xf2"


def test_value_split_across_three_feeds_is_joined():
    events = parse_pieces([b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: aaa", b"bbb", b"ccc\r\n\r\n"])
    assert events[0].headers["X-Long"] == "aaabbbccc"
    assert events[0].raw_headers[-1] == (b"X-LONG", b"aaabbbccc")


def test_name_split_across_feeds_is_title_cased_as_a_whole():
    events = parse_pieces([b"GET / HTTP/1.1\r\nHost: x\r\nx-cus", b"tom-na", b"me: v\r\n\r\n"])
    assert list(events[0].headers) == ["Host", "X-Custom-Name"]


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"", False),
        (b"Connection: close\r\n", True),
        (b"Connection: test\r\n", False),
    ],
)
def test_should_close_http11(line, expected):
    msg = parse_pieces([b"GET / HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n"])[0]
    assert msg.should_close is expected


@pytest.mark.parametrize("line, expected", [(b"", True), (b"Connection: keep-alive\r\n", False)])
def test_should_close_http10(line, expected):
    assert parse_pieces([b"GET / HTTP/1.0\r\n" + line + b"\r\n"])[0].should_close is expected


@pytest.mark.parametrize(
    "value, expected",
    [(b"gzip", "gzip"), (b"deflate", "deflate"), (b"GZIP", "gzip"), (b"compress", None), (None, None)],
)
def test_compression_from_content_encoding(value, expected):
    line = b"" if value is None else b"Content-Encoding: " + value + b"\r\n"
    assert parse_pieces([b"GET / HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n"])[0].compression == expected


def test_expect_continue_and_length_flags():
    events = parse_pieces([b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"])
    flags = events[1]
    assert flags & HEAD_EXPECT_CONTINUE and flags & HEAD_CONTENT_LENGTH and flags & HEAD_HAS_BODY
    assert len(events) == 2  # the body has not arrived: no END yet


def test_content_length_zero_has_no_body():
    events = parse_pieces([b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"])
    assert not events[1] & HEAD_HAS_BODY and events[2] is END_OF_MESSAGE


def test_chunked_body_extensions_ignored_trailers_consumed_and_next_request_served():
    events = parse_pieces([CHUNKED_POST + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"])
    assert events[1] & HEAD_CHUNKED
    assert events[2] == b"dataline"
    assert events[3] is END_OF_MESSAGE
    assert events[4].path == "/next"
    assert "Test" not in events[0].headers  # trailers are not request headers


def test_pipelined_messages_in_one_buffer_come_out_in_order():
    events = parse_pieces([FIXTURES["pipelined"]])
    paths = [e.path for e in events if isinstance(e, RawRequestMessage)]
    assert paths == ["/1", "/2", "/3"]
    assert b"12" in events
    assert events.count(END_OF_MESSAGE) == 3


def test_body_is_sliced_from_the_fed_buffer_not_copied_in_c():
    body = b"x" * 100000
    events = RequestParser().feed_data(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + body
    )
    assert events[2] == body


def test_many_pipelined_requests_in_one_feed_survive_output_pauses():
    data = b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
    events = RequestParser().feed_data(data)
    assert sum(isinstance(e, RawRequestMessage) for e in events) == 2000


def test_thousands_of_tiny_chunks_in_one_feed():
    data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    data += b"1\r\na\r\n" * 20000 + b"0\r\n\r\n"
    events = normalise(RequestParser().feed_data(data))
    assert events[2] == b"a" * 20000 and events[3] is END_OF_MESSAGE


def test_large_head_grows_the_arenas():
    data = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Big-%d: %s\r\n" % (i, b"v" * 1000) for i in range(25)
    ) + b"\r\n"
    msg = parse_pieces([data])[0]
    assert msg.headers["X-Big-24"] == "v" * 1000
    assert len(msg.raw_headers) == 26


def test_connect_hands_off_with_the_tail():
    events = parse_pieces([b"CONNECT host:80 HTTP/1.1\r\nHost: host:80\r\n\r\nTUNNEL"])
    assert events[0].method == "CONNECT" and events[0].path == "host:80"
    assert events[1] & HEAD_UPGRADE
    assert isinstance(events[-1], Upgrade) and events[-1].tail == b"TUNNEL"


def test_declined_upgrade_resumes_http_with_the_tail():
    parser = RequestParser()
    events = parser.feed_data(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
        b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert events[0].headers["Upgrade"] == "h2c"
    upgrade = events[-1]
    assert isinstance(upgrade, Upgrade)
    parser.resume_after_upgrade()
    more = parser.feed_data(upgrade.tail)
    assert more[0].path == "/after"


def test_feed_eof_between_messages_is_clean_and_mid_message_is_not():
    parser = RequestParser()
    parser.feed_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert parser.feed_eof() is True
    parser = RequestParser()
    parser.feed_data(b"GET /path HTTP/1.1\r\n")
    assert parser.feed_eof() is False
    parser = RequestParser()
    parser.feed_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nda")
    assert parser.feed_eof() is False


MALFORMED = [
    ("bad_method", b"!@#$ / HTTP/1.0\r\nHost: example.com\r\n\r\n", errors.BadStatusLine, 400),
    ("lower_case_method", b"get /path HTTP/1.1\r\nHost: x\r\n\r\n", errors.BadStatusLine, 400),
    ("junk_line", b"a" * 10000, errors.BadStatusLine, 400),
    ("bad_version", b"GET / HT/asd\r\n\r\n", errors.BadStatusLine, 400),
    ("no_version", b"GET /\r\n\r\n", errors.BadStatusLine, 400),
    ("http2_version", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", errors.HttpVersionNotSupported, 505),
    ("h2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", errors.HttpVersionNotSupported, 505),
    ("cr_without_lf", b"GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", errors.BadHttpMessage, 400),
    ("bare_lf_between_headers", b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", errors.BadHttpMessage, 400),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", errors.BadHttpMessage, 400),
    ("no_colon", b"GET / HTTP/1.1\r\nHost: x\r\ntest line\r\n\r\n", errors.BadHttpMessage, 400),
    ("bad_name_char", b"GET / HTTP/1.1\r\nHost: x\r\ntest[]: line\r\n\r\n", errors.BadHttpMessage, 400),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n", errors.BadHttpMessage, 400),
    ("nul_in_value", b"GET / HTTP/1.1\r\nHost: x\r\nA: b\x00c\r\n\r\n", errors.BadHttpMessage, 400),
    (
        "cl_and_te",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        errors.TransferEncodingError,
        400,
    ),
    (
        "two_different_lengths",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        errors.InvalidHeader,
        400,
    ),
    ("negative_length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", errors.InvalidHeader, 400),
    ("junk_length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: sdgg\r\n\r\n", errors.InvalidHeader, 400),
    (
        "xchunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
        errors.TransferEncodingError,
        400,
    ),
    (
        "chunked_not_last",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        errors.TransferEncodingError,
        400,
    ),
    (
        "unknown_coding_before_chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        errors.UnsupportedTransferCoding,
        501,
    ),
    (
        "te_on_http10",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        errors.TransferEncodingError,
        400,
    ),
    (
        "bad_chunk_size",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        errors.TransferEncodingError,
        400,
    ),
    ("missing_host_http11", b"GET / HTTP/1.1\r\n\r\n", errors.BadHttpMessage, 400),
    ("two_hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", errors.BadHttpMessage, 400),
]


BODY_ERRORS = {"bad_chunk_size"}


@pytest.mark.parametrize("name, data, exc_type, status", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_request_gives_typed_error_with_status(name, data, exc_type, status):
    events = parse_pieces([data])
    error = events[-1]
    assert type(error) is exc_type, error
    assert error.code == status
    heads = [e for e in events if isinstance(e, RawRequestMessage)]
    if name in BODY_ERRORS:  # the head was fine; the body breaks the stream
        assert len(heads) == 1 and END_OF_MESSAGE not in events
    else:
        assert heads == []


@pytest.mark.parametrize("name, data, exc_type, status", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_request_fed_bytewise_gives_the_same_error(name, data, exc_type, status):
    error = parse_pieces([data[i : i + 1] for i in range(len(data))])[-1]
    assert type(error) is exc_type and error.code == status


def test_requests_before_a_malformed_one_in_the_same_buffer_are_delivered():
    events = parse_pieces(
        [b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost : x\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"]
    )
    assert events[0].path == "/ok" and events[2] is END_OF_MESSAGE
    assert isinstance(events[-1], errors.BadHttpMessage)
    assert not any(isinstance(e, RawRequestMessage) and e.path == "/smuggled" for e in events)


def test_smuggling_with_cl_and_te_never_yields_the_hidden_request():
    data = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    events = parse_pieces([data])
    assert [type(e) for e in events] == [errors.TransferEncodingError]


def test_error_is_sticky():
    parser = RequestParser()
    first = parser.feed_data(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")[-1]
    assert parser.feed_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == [first]
    assert parser.error is first


def test_request_line_over_limit_is_414():
    error = parse_pieces([b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"])[-1]
    assert isinstance(error, errors.URITooLong) and error.code == 414
    assert isinstance(error, errors.LineTooLong)


def test_request_line_limit_applies_across_feeds():
    pieces = [b"GET /"] + [b"a" * 100] * 100
    error = parse_pieces(pieces, max_line_size=5000)[-1]
    assert isinstance(error, errors.URITooLong)


def test_one_field_over_max_field_size_is_431():
    error = parse_pieces([b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n"])[-1]
    assert isinstance(error, errors.HeaderFieldsTooLarge) and error.code == 431
    error = parse_pieces(
        [b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 150 + b"\r\n\r\n"], max_field_size=100
    )[-1]
    assert error.code == 431


def test_head_over_max_headers_is_431():
    data = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-H%03d: %s\r\n" % (i, b"v" * 90) for i in range(400)
    ) + b"\r\n"
    error = parse_pieces([data], max_header_count=1000)[-1]
    assert isinstance(error, errors.HeaderFieldsTooLarge) and error.code == 431
    error = parse_pieces([b"GET /path HTTP/1.1\r\ntest: line\r\ntest2: data\r\n\r\n"], max_headers=20)[-1]
    assert error.code == 431


def test_whitespace_padding_counts_towards_the_head_limit():
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad:" + b" " * 1_000_000 + b"v\r\n\r\n"
    error = parse_pieces([data])[-1]
    assert error.code == 431
    error = parse_pieces(split_at(data, range(0, len(data), 4096)))[-1]
    assert error.code == 431


def test_too_many_headers_is_431():
    data = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(10000)) + b"\r\n"
    error = parse_pieces([data])[-1]
    assert isinstance(error, errors.TooManyHeaders) and error.code == 431


def test_oversized_trailers_are_431_not_a_hang():
    data = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
        + b"".join(b"T-%d: %s\r\n" % (i, b"v" * 100) for i in range(700))
        + b"\r\n"
    )
    error = parse_pieces(split_at(data, range(0, len(data), 1000)))[-1]
    assert error.code == 431


def test_body_over_max_body_size_is_413_for_length_and_chunked():
    error = parse_pieces(
        [b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n"], max_body_size=1000
    )[-1]
    assert isinstance(error, errors.PayloadTooLarge) and error.code == 413
    chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"64\r\n" + b"z" * 100 + b"\r\n"
    error = parse_pieces([chunked * 1 + b"64\r\n" + b"z" * 100 + b"\r\n"], max_body_size=150)[-1]
    assert isinstance(error, errors.PayloadTooLarge)


def test_error_messages_do_not_echo_request_bytes():
    error = parse_pieces([b"GET / HTTP/1.1\r\nHost: x\r\n<script>: y\r\n\r\n"])[-1]
    assert "<script>" not in str(error)


def test_repeated_header_section_gives_independent_equal_messages():
    parser = RequestParser()
    req = b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n"
    first = parser.feed_data(req)[0]
    first.headers["X-Added"] = "by handler"
    first.raw_headers.append((b"X-JUNK", b"1"))
    second = parser.feed_data(req.replace(b"/a", b"/b"))[0]
    assert second.path == "/b"
    assert list(second.headers.items()) == [("Host", "x"), ("X-A", "1")]
    assert second.raw_headers == [(b"HOST", b"x"), (b"X-A", b"1")]
    second.headers.popall("X-A")
    third = parser.feed_data(req)[0]
    assert third.headers.getall("X-A") == ["1"]
    assert third.headers is not second.headers and third.raw_headers is not second.raw_headers


def test_feed_heads_gives_light_tuples():
    parser = RequestParser()
    events = parser.feed_heads(b"GET /a?q=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n")
    assert events[0] == ("GET", "/a?q=1", [(b"HOST", b"x"), (b"X-A", b"1")])
    assert events[2] is END_OF_MESSAGE


def test_x_gzip_is_gzip():
    msg = parse_pieces([b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: x-gzip\r\n\r\n"])[0]
    assert msg.compression == "gzip"


# ------------------------------------------------------------- max_messages


def _summary(events, out=None):
    """Events as comparable values: (method, path) for heads, body bytes
    (adjacent pieces joined: splits may cut a body anywhere), END."""
    out = [] if out is None else out
    it = iter(events)
    for ev in it:
        if isinstance(ev, RawRequestMessage):
            out.append((ev.method, ev.path))
            next(it)  # flags
        elif isinstance(ev, bytes):
            if out and isinstance(out[-1], bytes):
                out[-1] += ev
            else:
                out.append(ev)
        elif ev is END_OF_MESSAGE:
            out.append(ev)
        else:
            out.append(repr(ev))
    return out


def _mixed_pipeline(count):
    parts = []
    for i in range(count):
        if i % 3 == 0:
            parts.append(b"POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nb%02d" % (i, i % 100))
        elif i % 3 == 1:
            parts.append(
                b"POST /%d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nc%d\r\n0\r\n\r\n"
                % (i, i % 10)
            )
        else:
            parts.append(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    return b"".join(parts)


@pytest.mark.parametrize("budget", [1, 2, 16])
def test_max_messages_bounds_each_feed_and_keeps_the_rest(budget):
    data = _mixed_pipeline(50)
    expected = _summary(RequestParser().feed_data(data))
    parser = RequestParser(max_messages=budget)
    got = []
    events = parser.feed_data(data)
    feeds = 0
    while True:
        feeds += 1
        assert sum(ev is END_OF_MESSAGE for ev in events) <= budget
        got += _summary(events)
        if not parser.pending:
            break
        events = parser.feed_data(b"")
    assert got == expected
    assert feeds == -(-50 // budget)
    assert parser.feed_eof() is True


def test_new_data_while_bytes_are_pending_is_parsed_after_them():
    data = _mixed_pipeline(10)
    parser = RequestParser(max_messages=4)
    got = _summary(parser.feed_data(data[:-7]))
    assert parser.pending
    _summary(parser.feed_data(data[-7:]), got)  # the pending bytes, then these
    while parser.pending:
        _summary(parser.feed_data(b""), got)
    assert got == _summary(RequestParser().feed_data(data))


def test_end_of_input_waits_for_the_pending_bytes():
    parser = RequestParser(max_messages=1)
    parser.feed_data(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHo")
    assert parser.pending
    assert parser.feed_eof() is True  # nothing is finished while bytes wait
    assert _summary(parser.feed_data(b"")) == []  # the partial head
    assert not parser.pending
    assert parser.feed_eof() is False  # now the cut request shows


def test_an_error_in_the_pending_bytes_comes_after_the_requests_before_it():
    data = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n" * 3 + b"BAD\x01 / HTTP/1.1\r\n\r\n"
    parser = RequestParser(max_messages=2)
    first = _summary(parser.feed_data(data))
    second = parser.feed_data(b"")
    assert first == [("GET", "/a"), END_OF_MESSAGE] * 2
    assert _summary(second[:-1]) == [("GET", "/a"), END_OF_MESSAGE]
    assert isinstance(second[-1], errors.HttpProcessingError)


def test_max_messages_must_be_positive():
    with pytest.raises(ValueError):
        RequestParser(max_messages=0)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.lists(st.integers(0, 400), max_size=6))
def test_max_messages_with_any_split_gives_the_same_events(budget, cuts):
    data = _mixed_pipeline(12)
    expected = _summary(RequestParser().feed_data(data))
    parser = RequestParser(max_messages=budget)
    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    got = []
    for a, b in zip(bounds, bounds[1:]):
        _summary(parser.feed_data(data[a:b]), got)
    while parser.pending:
        _summary(parser.feed_data(b""), got)
    assert got == expected


@pytest.mark.parametrize(
    "data, tail",
    [
        (b"CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n", b""),
        (b"CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\nxyz", b"xyz"),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\nGET /b HTTP/1.1\r\n",
            b"GET /b HTTP/1.1\r\n",
        ),
    ],
)
def test_max_messages_never_hides_an_upgrade(data, tail):
    """The message bound is not applied to an Upgrade/CONNECT request: the
    parser stops there anyway and must say so (found by the fuzzer)."""
    events = RequestParser(max_messages=1).feed_data(data)
    assert isinstance(events[-1], Upgrade) and events[-1].tail == tail
