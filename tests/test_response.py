"""Response: status line, headers, framing, keep-alive, filters, sendfile
(acceptance checklist section F, api-spec §4 and §11), plus hdrs."""

from __future__ import annotations

import asyncio
import email.utils
import gc
import gzip
import os
import re
import ssl
import subprocess
import sys
import types
import warnings
import zlib

import pytest
from multidict import istr

from llserver import hdrs, protocol
from llserver._awaitables import DONE
from llserver.errors import InvalidResponseHeader
from llserver.message import HttpVersion, HttpVersion10, HttpVersion11, RawRequestMessage
from llserver.response import Response
from llserver.writer import StreamWriter


class FakeWriter:
    """Stands for ``protocol.writer``: records every write call separately."""

    def __init__(self, method=None, version=None, should_close=False):
        self.writes = []
        self.drains = 0
        self.request_method = method
        self.request_version = version
        self.request_should_close = should_close
        self.response = None

    def write(self, data):
        self.writes.append(bytes(data))

    def drain(self):
        self.drains += 1
        return DONE

    @property
    def wire(self):
        return b"".join(self.writes)

    @property
    def head(self):
        return self.wire.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"

    @property
    def body(self):
        return self.wire.split(b"\r\n\r\n", 1)[1]

    def header_lines(self):
        return self.head.decode("utf-8").split("\r\n")[1:-2]

    def header_names(self):
        return [line.split(":", 1)[0] for line in self.header_lines()]

    def header(self, name):
        found = [
            line.split(": ", 1)[1]
            for line in self.header_lines()
            if line.split(":", 1)[0].lower() == name.lower()
        ]
        return found[0] if len(found) == 1 else (found or None)


def dechunk(body):
    """Parse a chunked body; returns (pieces, rest after the terminator)."""
    pieces = []
    while True:
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            assert body.startswith(b"\r\n"), body
            return pieces, body[2:]
        pieces.append(body[:size])
        assert body[size : size + 2] == b"\r\n"
        body = body[size + 2 :]


def sent(resp_factory=None, *, writes=(), eof=True, **writer_kw):
    writer = FakeWriter(**writer_kw)
    resp = resp_factory(writer) if resp_factory else Response(writer, 200)
    resp.send_headers()
    for chunk in writes:
        resp.write(chunk)
    if eof:
        resp.write_eof()
    return resp, writer


# --------------------------------------------------------------- status line


@pytest.mark.parametrize(
    ("args", "kwargs", "line", "reason"),
    [
        ((200,), {}, "HTTP/1.1 200 OK\r\n", "OK"),
        ((333,), {"reason": "My Reason"}, "HTTP/1.1 333 My Reason\r\n", "My Reason"),
        ((777,), {}, "HTTP/1.1 777 777\r\n", "777"),
        ((200,), {"http_version": (1, 0)}, "HTTP/1.0 200 OK\r\n", "OK"),
        ((404, HttpVersion10), {}, "HTTP/1.0 404 Not Found\r\n", "Not Found"),
    ],
)
def test_status_line_and_reason(args, kwargs, line, reason):
    writer = FakeWriter()
    resp = Response(writer, *args, **kwargs)
    assert resp.status == args[0]
    assert resp.reason == reason
    assert resp.status_line == line
    resp.send_headers()
    assert writer.wire.startswith(line.encode())


def test_status_line_is_computed_once():
    resp = Response(FakeWriter(), 200)
    assert resp.status_line is resp.status_line


def test_version_property_is_what_was_passed():
    assert Response(FakeWriter(), 200).version == HttpVersion11
    assert Response(FakeWriter(), 200, HttpVersion(1, 0)).version == (1, 0)


def test_calc_reason_is_static_and_falls_back_to_the_number():
    assert Response.calc_reason(404) == "Not Found"
    assert Response.calc_reason(799) == "799"


@pytest.mark.parametrize("reason", ["OK\r\nX-Injected: 1", "a\nb", "a\x00b"])
def test_reason_phrase_with_line_break_or_nul_is_rejected(reason):
    with pytest.raises(InvalidResponseHeader):
        Response(FakeWriter(), 200, reason=reason)


@pytest.mark.parametrize("status", [0, 99, 1000, -200])
def test_status_outside_three_digits_is_rejected(status):
    with pytest.raises(ValueError):
        Response(FakeWriter(), status)


def test_class_attributes():
    major, minor = sys.version_info[:2]
    assert Response.SERVER_SOFTWARE == f"Python/{major}.{minor} llserver/0.1.0"
    assert Response.HOP_HEADERS == ()
    assert Response._send_headers is False


def test_initial_attributes():
    writer = FakeWriter()
    resp = Response(writer, 200, close=True)
    assert resp.transport is writer
    assert resp.closing is True
    assert resp.keepalive is None
    assert resp.chunked is False
    assert resp.length is None
    assert list(resp.headers.items()) == []
    assert resp.headers_sent is False
    assert resp.output_length == resp.headers_length == resp.body_length == 0
    assert resp.upgrade is resp.websocket is resp.has_chunked_hdr is False
    assert resp.filter is None
    assert resp.eof_written is False and resp.incomplete is False


# ---------------------------------------------------------------- add_header


def test_add_header_title_cases_the_name_and_strips_the_value():
    writer = FakeWriter()
    resp = Response(writer, 200)
    resp.add_header("content-type", "  plain/html  ")
    assert list(resp.headers.items()) == [("Content-Type", "plain/html")]
    assert [type(name) for name in resp.headers.keys()] == [istr]
    resp.send_headers()
    assert "Content-Type: plain/html" in writer.header_lines()


def test_values_keep_inner_whitespace_and_tabs():
    _, writer = sent(lambda w: _with_headers(w, ("X-Spaces", "\t a  b\t ")))
    assert "X-Spaces: a  b" in writer.header_lines()


def _with_headers(writer, *pairs, status=200, **kw):
    resp = Response(writer, status, **kw)
    resp.add_headers(*pairs)
    return resp


@pytest.mark.parametrize(
    ("name", "wire"),
    [("x-header", "X-Header"), ("ETag", "Etag"), ("WWW-AUTHENTICATE", "Www-Authenticate")],
)
def test_names_are_written_title_cased(name, wire):
    _, writer = sent(lambda w: _with_headers(w, (name, "v")))
    assert f"{wire}: v" in writer.header_lines()


def test_names_put_into_headers_directly_are_title_cased_on_the_wire():
    writer = FakeWriter()
    resp = Response(writer, 200)
    resp.headers["x-direct"] = "1"
    resp.send_headers()
    assert "X-Direct: 1" in writer.header_lines()


def test_send_headers_writes_the_whole_head_in_one_write():
    writer = FakeWriter()
    resp = _with_headers(writer, ("Content-Type", "text/plain"), ("Content-Length", "0"))
    assert not resp.is_headers_sent()
    resp.send_headers()
    assert resp.is_headers_sent()
    assert len(writer.writes) == 1
    assert writer.writes[0].endswith(b"\r\n\r\n")
    assert writer.writes[0].count(b"\r\n\r\n") == 1


def test_send_headers_registers_the_response_on_the_writer():
    resp, writer = sent()
    assert writer.response is resp


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("тип-контента", "text/plain"),
        ("content-type", {"test": "plain"}),
        (list("content-type"), "text/plain"),
        ("Bad Name", "x"),
        ("Bad:Name", "x"),
        ("", "x"),
        (b"Content-Type", "x"),
        ("Content-Length", 42),
    ],
)
def test_invalid_names_and_values_raise_assertion_and_value_error(name, value):
    resp = Response(FakeWriter(), 200)
    with pytest.raises(AssertionError):
        resp.add_header(name, value)
    with pytest.raises(ValueError):
        resp.add_header(name, value)
    with pytest.raises(InvalidResponseHeader):
        resp.add_header(name, value)
    assert list(resp.headers.items()) == []


def test_add_header_after_send_headers_raises():
    resp, _ = sent(eof=False)
    with pytest.raises(AssertionError):
        resp.add_header("X-Late", "1")
    with pytest.raises(InvalidResponseHeader):
        resp.add_headers(("X-Late", "1"))


def test_send_headers_twice_raises():
    resp, writer = sent(eof=False)
    with pytest.raises(AssertionError):
        resp.send_headers()
    assert len(writer.writes) == 1


@pytest.mark.parametrize(
    "value", ["a\r\nInjected: 1", "a\nInjected: 1", "a\rInjected: 1", "a\x00b", "\r\n\r\nbody"]
)
def test_cr_lf_nul_in_values_is_refused_and_nothing_is_sent(value):
    writer = FakeWriter()
    resp = Response(writer, 200)
    with pytest.raises(InvalidResponseHeader) as info:
        resp.add_header("X-Bad", value)
    assert isinstance(info.value, AssertionError)
    assert "X-Bad" not in resp.headers
    resp.send_headers()
    assert b"Injected" not in writer.wire
    assert b"X-Bad" not in writer.wire


def test_line_breaks_in_headers_set_directly_stop_send_headers():
    writer = FakeWriter()
    resp = Response(writer, 200)
    resp.headers["X-Bad"] = "a\r\nInjected: 1"
    with pytest.raises(InvalidResponseHeader):
        resp.send_headers()
    assert writer.writes == []
    assert not resp.headers_sent


def test_header_validation_survives_python_dash_O():
    code = (
        # Only the response module is under test: load it without running the
        # package __init__ (and its compiled parser).
        "import sys, types\n"
        "pkg = types.ModuleType('llserver'); pkg.__path__ = ['llserver']\n"
        "sys.modules['llserver'] = pkg\n"
        "from llserver.response import Response\n"
        "class W:\n"
        "    def write(self, d): pass\n"
        "r = Response(W(), 200)\n"
        "try:\n"
        "    r.add_header('X-Bad', 'a\\r\\nInjected: 1')\n"
        "except AssertionError:\n"
        "    print('refused')\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-O", "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "refused"


def test_non_ascii_values_are_sent_as_utf8():
    _, writer = sent(lambda w: _with_headers(w, ("x-header", "текст")))
    assert b"X-Header: \xd1\x82\xd0\xb5\xd0\xba\xd1\x81\xd1\x82\r\n" in writer.head


def test_surrogate_escaped_values_go_back_as_the_original_bytes():
    value = b"\xe0\xe1".decode("utf-8", "surrogateescape")
    _, writer = sent(lambda w: _with_headers(w, ("X-Raw", value)))
    assert b"X-Raw: \xe0\xe1\r\n" in writer.head


def test_duplicate_headers_are_kept_in_order():
    resp, writer = sent(lambda w: _with_headers(w, ("Set-Cookie", "a=1"), ("set-cookie", "b=2")))
    assert resp.headers.getall("SET-COOKIE") == ["a=1", "b=2"]
    assert writer.header("Set-Cookie") == ["a=1", "b=2"]


def test_content_length_header_sets_length():
    resp = _with_headers(FakeWriter(), ("content-length", "42"))
    assert resp.length == 42


@pytest.mark.parametrize("value", ["-1", "abc", "4_2", "+4", "٤٢", ""])
def test_malformed_content_length_is_refused(value):
    resp = Response(FakeWriter(), 200)
    with pytest.raises(ValueError):
        resp.add_header("Content-Length", value)
    assert resp.length is None


def test_a_second_content_length_replaces_the_first():
    resp, writer = sent(
        lambda w: _with_headers(w, ("Content-Length", "5"), ("Content-Length", "3"))
    )
    assert resp.length == 3
    assert writer.header("Content-Length") == "3"


def test_connection_header_sets_flags_and_is_not_stored():
    resp = Response(FakeWriter(), 200)
    resp.add_header("Connection", "keep-alive")
    assert "Connection" not in resp.headers
    assert resp.keep_alive() is True
    resp.add_header("Connection", "close")
    assert resp.keep_alive() is False
    resp.add_headers(("connection", "upgrade"))
    assert resp.upgrade is True


def test_upgrade_header_keeps_any_protocol():
    resp, writer = sent(
        lambda w: _with_headers(w, ("connection", "upgrade"), ("upgrade", "h2c"), status=101)
    )
    assert writer.header("Upgrade") == "h2c"
    assert resp.websocket is False


def test_upgrade_websocket_is_sent_and_flagged():
    resp, writer = sent(lambda w: _with_headers(w, ("upgrade", "websocket")))
    assert writer.header("Upgrade") == "websocket"
    assert resp.websocket is True


def test_a_later_upgrade_header_replaces_an_earlier_one():
    resp = _with_headers(FakeWriter(), ("upgrade", "test"), ("upgrade", "websocket"))
    assert list(resp.headers.items()) == [("Upgrade", "websocket")]


def test_hop_headers_are_dropped():
    resp = Response(FakeWriter(), 200)
    resp.HOP_HEADERS = {"Transfer-Encoding"}
    resp.add_headers(("connection", "test"), ("transfer-encoding", "t"))
    assert list(resp.headers.items()) == []


def test_hop_headers_given_as_hdrs_constants_are_dropped():
    resp = Response(FakeWriter(), 200)
    resp.HOP_HEADERS = {hdrs.TRANSFER_ENCODING, hdrs.KEEP_ALIVE}
    resp.add_headers(("keep-alive", "timeout=5"), ("X-Kept", "1"))
    assert list(resp.headers.items()) == [("X-Kept", "1")]


# ------------------------------------------------------------ default headers

IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d\d:\d\d:\d\d GMT\Z"
)


def test_every_response_gets_date_and_server():
    resp, writer = sent()
    assert IMF_FIXDATE.match(writer.header("Date"))
    assert writer.header("Server") == Response.SERVER_SOFTWARE
    assert "Date" in resp.headers and "Server" in resp.headers


def test_date_is_imf_fixdate_of_the_current_second(monkeypatch):
    import llserver.response as response_module

    stamp = 1795562624.75
    monkeypatch.setattr(response_module.time, "time", lambda: stamp)
    _, writer = sent()
    assert writer.header("Date") == email.utils.formatdate(int(stamp), usegmt=True)


def test_date_string_is_reused_within_a_second(monkeypatch):
    import llserver.response as response_module

    monkeypatch.setattr(response_module.time, "time", lambda: 1795562624.1)
    first, _ = sent()
    monkeypatch.setattr(response_module.time, "time", lambda: 1795562624.9)
    second, _ = sent()
    assert first.headers["Date"] is second.headers["Date"]
    monkeypatch.setattr(response_module.time, "time", lambda: 1795562625.0)
    third, _ = sent()
    assert third.headers["Date"] != first.headers["Date"]


def test_a_subclass_server_software_is_used_and_validated():
    class Custom(Response):
        SERVER_SOFTWARE = "MyServer/1.0"

    class Broken(Response):
        SERVER_SOFTWARE = "MyServer/1.0\r\nX-Injected: 1"

    _, writer = sent(lambda w: Custom(w, 200))
    assert writer.header("Server") == "MyServer/1.0"
    writer = FakeWriter()
    with pytest.raises(InvalidResponseHeader):
        Broken(writer, 200).send_headers()
    assert writer.writes == []


def test_user_date_and_server_are_kept():
    _, writer = sent(lambda w: _with_headers(w, ("Date", "now"), ("Server", "custom")))
    assert writer.header("Date") == "now"
    assert writer.header("Server") == "custom"


def test_header_order_is_user_then_framing_then_connection_then_date_and_server():
    _, writer = sent(
        lambda w: _with_headers(w, ("X-First", "1"), ("Content-Type", "text/plain"), close=True)
    )
    assert writer.header_names() == [
        "X-First",
        "Content-Type",
        "Transfer-Encoding",
        "Connection",
        "Date",
        "Server",
    ]


# ------------------------------------------------------------------ framing


def test_content_length_truncates_excess_body_bytes():
    resp, writer = sent(lambda w: _with_headers(w, ("Content-Length", "2")), writes=[b"d", b"ata"])
    assert writer.body == b"da"
    assert resp.incomplete is False
    assert resp.keep_alive() is True


def test_chunked_is_the_default_for_http11_without_length():
    resp, writer = sent(writes=[b"data1", b"data2"])
    assert writer.header("Transfer-Encoding") == "chunked"
    assert writer.header("Content-Length") is None
    assert writer.body == b"5\r\ndata1\r\n5\r\ndata2\r\n0\r\n\r\n"
    assert resp.chunked is True


def test_each_chunk_is_one_write_call():
    _, writer = sent(writes=[b"data1", b"data2"])
    assert writer.writes[1:] == [b"5\r\ndata1\r\n", b"5\r\ndata2\r\n", b"0\r\n\r\n"]


@pytest.mark.parametrize("force", ["enable_chunked_encoding", "force_chunked"])
def test_forced_chunking_wins_over_content_length(force):
    def make(writer):
        resp = _with_headers(writer, ("Content-Length", "42"))
        getattr(resp, force)()
        return resp

    resp, writer = sent(make, writes=[b"data"])
    assert writer.header("Transfer-Encoding") == "chunked"
    assert writer.header("Content-Length") is None  # RFC 9112 §6.2
    assert writer.body == b"4\r\ndata\r\n0\r\n\r\n"


def test_user_transfer_encoding_chunked_selects_chunked_framing():
    resp, writer = sent(
        lambda w: _with_headers(w, ("Content-Length", "4"), ("Transfer-Encoding", "chunked")),
        writes=[b"data"],
    )
    assert resp.has_chunked_hdr
    assert writer.header("Transfer-Encoding") == "chunked"
    assert writer.header("Content-Length") is None
    assert writer.body == b"4\r\ndata\r\n0\r\n\r\n"


def test_http10_without_length_sends_raw_body_and_cannot_keep_alive():
    def make(writer):
        resp = Response(writer, 200, http_version=HttpVersion10)
        resp.keepalive = True
        return resp

    resp, writer = sent(make, writes=[b"data1", b"data2"])
    assert writer.body == b"data1data2"
    assert writer.header("Transfer-Encoding") is None
    assert writer.header("Connection") is None
    assert resp.keep_alive() is False


@pytest.mark.parametrize("how", ["header", "enable"])
def test_http10_responses_never_carry_transfer_encoding(how):
    def make(writer):
        resp = Response(writer, 200, http_version=HttpVersion10)
        if how == "header":
            resp.add_header("Transfer-Encoding", "chunked")
        else:
            resp.enable_chunked_encoding()
        return resp

    resp, writer = sent(make, writes=[b"data"])
    assert writer.header("Transfer-Encoding") is None
    assert writer.body == b"data"
    assert resp.chunked is False


def test_http11_response_to_http10_request_is_not_chunked():
    resp, writer = sent(writes=[b"data"], version=HttpVersion10, should_close=True)
    assert writer.header("Transfer-Encoding") is None
    assert writer.body == b"data"
    assert writer.header("Connection") == "close"
    assert resp.keep_alive() is False


def test_non_chunked_transfer_coding_on_http11_is_close_delimited():
    resp, writer = sent(
        lambda w: _with_headers(w, ("Content-Length", "3"), ("Transfer-Encoding", "gzip")),
        writes=[b"raw"],
    )
    assert writer.header("Transfer-Encoding") == "gzip"
    assert writer.header("Content-Length") is None
    assert writer.header("Connection") == "close"
    assert writer.body == b"raw"
    assert resp.keep_alive() is False


def test_forced_chunking_appends_chunked_to_a_user_coding():
    def make(writer):
        resp = _with_headers(writer, ("Transfer-Encoding", "gzip"))
        resp.enable_chunked_encoding()
        resp._add_default_headers()  # computing the defaults twice changes nothing
        return resp

    _, writer = sent(make, writes=[b"x"])
    assert writer.header("Transfer-Encoding") == "gzip, chunked"
    assert writer.body == b"1\r\nx\r\n0\r\n\r\n"


def test_transfer_encoding_set_directly_in_headers_is_honoured():
    writer = FakeWriter()
    resp = Response(writer, 200)
    resp.add_header("Content-Length", "4")
    resp.headers["Transfer-Encoding"] = "chunked"
    resp.send_headers()
    resp.write(b"data")
    resp.write_eof()
    assert writer.header("Content-Length") is None
    assert writer.body == b"4\r\ndata\r\n0\r\n\r\n"


def test_empty_writes_are_ignored_in_chunked_mode():
    _, writer = sent(writes=[b"data1", b"", bytearray(), memoryview(b""), b"data2"])
    assert writer.body == b"5\r\ndata1\r\n5\r\ndata2\r\n0\r\n\r\n"
    assert writer.body.count(b"0\r\n\r\n") == 1


def test_memoryview_bytearray_and_other_buffers_are_accepted():
    import array

    data = array.array("H", [0x6261, 0x6463])  # 4 bytes
    _, writer = sent(writes=[memoryview(b"ab"), bytearray(b"cd"), data, memoryview(b"xyz")[1:]])
    pieces, _ = dechunk(writer.body)
    assert pieces == [b"ab", b"cd", data.tobytes(), b"yz"]


def test_memoryview_is_truncated_by_content_length():
    _, writer = sent(
        lambda w: _with_headers(w, ("Content-Length", "3")), writes=[memoryview(b"abcdef")]
    )
    assert writer.body == b"abc"


@pytest.mark.parametrize("bad", ["text", 42, None, ["a"]])
def test_write_refuses_non_bytes_like_data(bad):
    resp, _ = sent(eof=False)
    with pytest.raises(TypeError):
        resp.write(bad)
    with pytest.raises(AssertionError):
        resp.write(bad)


def test_write_before_send_headers_raises():
    resp = Response(FakeWriter(), 200)
    with pytest.raises(AssertionError, match="send_headers"):
        resp.write(b"data")
    with pytest.raises(AssertionError):
        resp.write_eof()


def test_write_auto_sends_headers_when_asked():
    writer = FakeWriter()
    resp = Response(writer, 200)
    resp._send_headers = True
    resp.write(b"data1")
    assert resp.headers_sent
    assert writer.wire.startswith(b"HTTP/1.1 200 OK\r\n")
    assert writer.body == b"5\r\ndata1\r\n"
    with pytest.raises(AssertionError):
        resp.add_header("name", "value")


def test_write_after_write_eof_raises_and_second_eof_only_drains():
    resp, writer = sent(writes=[b"x"])
    with pytest.raises(RuntimeError):
        resp.write(b"more")
    before = list(writer.writes)
    resp.write_eof()
    assert writer.writes == before
    assert writer.drains == 2


def test_short_body_marks_the_response_incomplete():
    resp, writer = sent(lambda w: _with_headers(w, ("Content-Length", "10")), writes=[b"abc"])
    assert resp.eof_written
    assert resp.incomplete is True
    assert resp.keep_alive() is False


def test_exact_body_is_complete():
    resp, _ = sent(lambda w: _with_headers(w, ("Content-Length", "3")), writes=[b"abc"])
    assert resp.incomplete is False
    assert resp.keep_alive() is True


def test_output_and_body_lengths_count_bytes_on_the_wire():
    resp, writer = sent(writes=[b"data"])
    assert resp.output_length == len(writer.wire)
    assert resp.headers_length == len(writer.head)
    assert resp.body_length == len(b"4\r\ndata\r\n0\r\n\r\n")


# ---------------------------------------------------- statuses without body


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_transfer_encoding_and_no_body(status):
    resp, writer = sent(lambda w: Response(w, status), writes=[b"ignored"])
    assert writer.header("Transfer-Encoding") is None
    assert writer.header("Content-Length") is None
    assert writer.body == b""
    assert resp.keep_alive() is True


def test_204_drops_a_content_length_and_transfer_encoding():
    _, writer = sent(
        lambda w: _with_headers(
            w, ("Content-Length", "5"), ("Transfer-Encoding", "chunked"), status=204
        )
    )
    assert writer.header("Content-Length") is None
    assert writer.header("Transfer-Encoding") is None


def test_304_keeps_the_content_length_of_the_representation():
    _, writer = sent(lambda w: _with_headers(w, ("Content-Length", "5"), status=304), writes=[b"x"])
    assert writer.header("Content-Length") == "5"
    assert writer.body == b""


def test_101_upgrade_sends_the_head_only():
    resp, writer = sent(
        lambda w: _with_headers(w, ("Connection", "upgrade"), ("Upgrade", "websocket"), status=101)
    )
    assert writer.wire.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert writer.body == b""
    assert writer.header("Connection") == "upgrade"
    assert writer.header("Upgrade") == "websocket"
    assert writer.header("Transfer-Encoding") is None
    assert len(writer.writes) == 1
    assert resp.upgrade


def test_101_always_says_connection_upgrade_and_passes_later_bytes_raw():
    writer = FakeWriter()
    resp = _with_headers(writer, ("Upgrade", "h2c"), status=101, close=True)
    resp.send_headers()
    resp.write(b"\x00\x00\x12raw frame")
    assert writer.header("Connection") == "upgrade"
    assert writer.body == b"\x00\x00\x12raw frame"
    assert resp.keep_alive() is False  # the connection is no longer HTTP


@pytest.mark.parametrize("status", [100, 103])
def test_interim_responses_have_no_framing_headers_or_body(status):
    _, writer = sent(lambda w: Response(w, status, close=True), writes=[b"x"])
    assert writer.header("Transfer-Encoding") is None
    assert writer.header("Connection") is None
    assert writer.body == b""


def test_head_response_has_the_get_framing_but_no_body():
    resp, writer = sent(writes=[b"data"], method="HEAD")
    assert writer.header("Transfer-Encoding") == "chunked"
    assert writer.body == b""
    assert len(writer.writes) == 1
    assert resp.keep_alive() is True


def test_head_response_keeps_content_length_without_body():
    _, writer = sent(
        lambda w: _with_headers(w, ("Content-Length", "18")),
        writes=[b"<h1>It Works!</h1>"],
        method="HEAD",
    )
    assert writer.header("Content-Length") == "18"
    assert writer.body == b""


def test_head_on_a_real_stream_writer_sends_no_body():
    transport = _RecordingTransport()
    writer = StreamWriter(transport, None)
    writer.request_method = "HEAD"
    resp = Response(writer, 200)
    resp.add_header("Content-Length", "4")
    resp.send_headers()
    resp.write(b"body")
    resp.write_eof()
    assert len(transport.writes) == 1
    assert transport.writes[0].endswith(b"\r\n\r\n")


class _RecordingTransport:
    def __init__(self):
        self.writes = []

    def write(self, data):
        self.writes.append(bytes(data))

    def get_extra_info(self, name, default=None):
        return default


# --------------------------------------------------------------- keep-alive


@pytest.mark.parametrize(
    ("make", "connection"),
    [
        (lambda w: Response(w, 200), None),
        (lambda w: Response(w, 200, close=True), "close"),
        (lambda w: _forced_close(Response(w, 200)), "close"),
        (lambda w: _with_headers(w, ("Connection", "upgrade")), "upgrade"),
        (lambda w: _keepalive(Response(w, 200, http_version=(1, 0)), length=True), "keep-alive"),
        (lambda w: _keepalive(Response(w, 200)), None),
    ],
)
def test_connection_header(make, connection):
    _, writer = sent(make)
    assert writer.header("Connection") == connection


def _forced_close(resp):
    resp.force_close()
    return resp


def _keepalive(resp, length=False):
    resp.keepalive = True
    if length:
        resp.add_header("Content-Length", "0")
    return resp


def test_http10_default_response_does_not_advertise_keep_alive():
    resp, writer = sent(lambda w: _with_headers(w, ("Content-Length", "0"), http_version=(1, 0)))
    assert writer.header("Connection") is None
    assert not resp.keepalive
    assert resp.keep_alive() is False


def test_http10_keep_alive_needs_a_known_length():
    _, writer = sent(lambda w: _keepalive(Response(w, 200, http_version=(1, 0))))
    assert writer.header("Connection") is None


def test_request_that_asked_for_close_gets_connection_close():
    resp, writer = sent(lambda w: _keepalive(Response(w, 200)), should_close=True)
    assert writer.header("Connection") == "close"
    assert resp.keep_alive() is False


def test_keep_alive_method():
    resp = Response(FakeWriter(), 200, close=True)
    assert resp.keep_alive() is False
    resp.keepalive = True
    assert resp.keep_alive() is True
    resp.force_close()
    assert resp.keep_alive() is False
    assert resp.closing is True

    http10 = Response(FakeWriter(), 200, http_version=HttpVersion10)
    assert http10.keep_alive() is False
    assert not http10.keepalive

    http11 = Response(FakeWriter(), 200)
    assert http11.keepalive is None
    assert http11.keep_alive() is True

    http09 = Response(FakeWriter(), 200, http_version=(0, 9))
    assert http09.keep_alive() is False


def test_add_header_connection_keep_alive_then_close():
    resp = Response(FakeWriter(), 200)
    resp.add_header("Connection", "keep-alive")
    assert "Connection" not in resp.headers
    assert resp.keep_alive()
    resp.add_header("Connection", "close")
    assert not resp.keep_alive()


def test_default_headers_can_be_computed_before_sending():
    resp = Response(FakeWriter(), 200)
    resp.force_close()
    resp._add_default_headers()
    assert resp.headers["CONNECTION"] == "close"
    assert "DATE" in resp.headers and "SERVER" in resp.headers
    resp._add_default_headers()
    assert len(resp.headers.getall("Date")) == 1


# ---------------------------------------------------------------- filters


def test_chunking_filter_cuts_one_write():
    writer = FakeWriter()
    resp = Response(writer, 200)
    resp.send_headers()
    resp.add_chunking_filter(2)
    resp.write(b"data")
    resp.write_eof()
    assert writer.body == b"2\r\nda\r\n2\r\nta\r\n0\r\n\r\n"


def test_chunking_filter_recuts_across_writes():
    writer = FakeWriter()
    resp = Response(writer, 200)
    resp.send_headers()
    resp.add_chunking_filter(2)
    resp.write(b"data1")
    resp.write(b"data2")
    resp.write_eof()
    assert writer.body == (b"2\r\nda\r\n2\r\nta\r\n2\r\n1d\r\n2\r\nat\r\n2\r\na2\r\n0\r\n\r\n")


def test_chunking_filter_larger_than_the_body():
    writer = FakeWriter()
    resp = Response(writer, 200)
    resp.send_headers()
    resp.add_chunking_filter(1024)
    resp.write(b"data")
    resp.write_eof()
    assert writer.body == b"4\r\ndata\r\n0\r\n\r\n"


def _raw_deflate(data):
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def test_deflate_filter_with_content_length_sends_raw_deflate():
    compressed = _raw_deflate(b"data")
    writer = FakeWriter()
    resp = _with_headers(writer, ("content-length", str(len(compressed))))
    resp.send_headers()
    resp.add_compression_filter("deflate")
    resp.write(b"data")
    resp.write_eof()
    assert all(writer.writes)
    assert writer.body == compressed
    assert zlib.decompress(writer.body, -zlib.MAX_WBITS) == b"data"


@pytest.mark.parametrize("order", ["deflate_then_chunk", "chunk_then_deflate"])
def test_deflate_and_chunking_filters_compose(order):
    writer = FakeWriter()
    resp = Response(writer, 200)
    resp.send_headers()
    if order == "deflate_then_chunk":
        resp.add_compression_filter("deflate")
        resp.add_chunking_filter(2)
    else:
        resp.add_chunking_filter(2)
        resp.add_compression_filter("deflate")
    resp.write(b"data")
    resp.write_eof()
    pieces, rest = dechunk(writer.body)
    assert rest == b""
    if order == "deflate_then_chunk":
        assert all(len(p) == 2 for p in pieces[:-1])
    assert zlib.decompress(b"".join(pieces), -zlib.MAX_WBITS) == b"data"


def test_gzip_filter_output_decodes_with_gzip():
    payload = b"hello gzip " * 1000
    writer = FakeWriter()
    resp = _with_headers(writer, ("Content-Encoding", "gzip"))
    resp.add_compression_filter("gzip")
    resp.send_headers()
    for i in range(0, len(payload), 777):
        resp.write(payload[i : i + 777])
    resp.write_eof()
    pieces, _ = dechunk(writer.body)
    assert gzip.decompress(b"".join(pieces)) == payload
    assert writer.header("Content-Encoding") == "gzip"


def test_unknown_compression_encoding_is_refused():
    with pytest.raises(ValueError):
        Response(FakeWriter(), 200).add_compression_filter("br")
    with pytest.raises(ValueError):
        Response(FakeWriter(), 200).enable_compression("compress")


def test_chunking_filter_size_must_be_positive():
    with pytest.raises(ValueError):
        Response(FakeWriter(), 200).add_chunking_filter(0)


@pytest.mark.parametrize(
    ("encoding", "decode"),
    [("gzip", gzip.decompress), ("deflate", zlib.decompress)],  # deflate = zlib format
)
def test_enable_compression_sets_encoding_drops_length_and_compresses(encoding, decode):
    payload = b"compress me " * 500
    writer = FakeWriter()
    resp = _with_headers(writer, ("Content-Length", str(len(payload))))
    resp.enable_compression(encoding)
    assert resp.length is None
    resp.send_headers()
    resp.write(payload)
    resp.write_eof()
    assert writer.header("Content-Encoding") == encoding
    assert writer.header("Content-Length") is None
    assert writer.header("Transfer-Encoding") == "chunked"
    pieces, _ = dechunk(writer.body)
    assert decode(b"".join(pieces)) == payload
    assert resp.keep_alive()


def test_enable_compression_ignores_a_later_content_length():
    writer = FakeWriter()
    resp = Response(writer, 200)
    resp.enable_compression("gzip")
    resp.add_header("Content-Length", "3")
    resp.send_headers()
    resp.write(b"abc")
    resp.write_eof()
    assert writer.header("Content-Length") is None
    pieces, _ = dechunk(writer.body)
    assert gzip.decompress(b"".join(pieces)) == b"abc"


def test_enable_compression_on_http10_is_close_delimited():
    writer = FakeWriter()
    resp = Response(writer, 200, http_version=HttpVersion10)
    resp.enable_compression("gzip")
    resp.send_headers()
    resp.write(b"abc" * 100)
    resp.write_eof()
    assert writer.header("Transfer-Encoding") is None
    assert gzip.decompress(writer.body) == b"abc" * 100
    assert resp.keep_alive() is False


def test_enable_compression_after_send_headers_raises():
    resp, _ = sent(eof=False)
    with pytest.raises(AssertionError):
        resp.enable_compression("gzip")


def test_enable_compression_twice_with_another_coding_raises():
    resp = Response(FakeWriter(), 200)
    resp.enable_compression("gzip")
    resp.enable_compression("gzip")
    assert len(resp.filter) == 1
    with pytest.raises(ValueError):
        resp.enable_compression("deflate")


# ------------------------------------------------------- awaitable results


async def test_write_results_can_be_ignored_awaited_or_yielded_from():
    writer = FakeWriter()
    resp = Response(writer, 200)
    resp.send_headers()
    assert resp.write(b"a") == ()
    assert await resp.write(b"b") is None

    @types.coroutine
    def legacy():
        yield from resp.write(b"c")
        yield from resp.write_eof()

    await legacy()
    pieces, _ = dechunk(writer.body)
    assert pieces == [b"a", b"b", b"c"]


async def test_await_write_eof_on_a_stream_writer():
    transport = _RecordingTransport()
    resp = Response(StreamWriter(transport, None), 200)
    resp.send_headers()
    resp.write(b"x")
    assert await resp.write_eof() is None


def test_write_with_drain_returns_drain_after_64k():
    writer = FakeWriter()
    resp = Response(writer, 200, http_version=(1, 0))
    resp._send_headers = True
    assert resp.write(b"1" * (64 * 1024 * 2), drain=False) is DONE
    assert writer.drains == 0
    resp.write(b"1", drain=True)
    assert writer.drains == 1
    assert resp._output_size == 0
    resp.write(b"1", drain=True)
    assert writer.drains == 1


async def test_dropped_results_never_warn():
    loop = asyncio.get_running_loop()
    errors = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    transport = _RecordingTransport()
    writer = StreamWriter(transport, None, None, loop)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            resp = Response(writer, 200)
            resp.send_headers()
            resp.write(b"x" * 70000, drain=True)
            writer.pause_writing()
            resp.write(b"x" * 70000, drain=True)  # a pending waiter, dropped
            resp.write_eof()  # dropped too
            writer.connection_lost(None)
            resp2 = Response(writer, 200)
            resp2.send_headers()
            resp2.write_eof()  # a failed drain, dropped
            del resp, resp2
            gc.collect()
            await asyncio.sleep(0)
            gc.collect()
        assert [str(w.message) for w in caught] == []
        assert errors == []
    finally:
        loop.set_exception_handler(None)


# ------------------------------------------------------------------ sendfile


class _ServerProto(asyncio.Protocol):
    """A minimal server protocol: wires a StreamWriter and runs ``handle``."""

    def __init__(self, handle, loop):
        self.handle = handle
        self.loop = loop

    def connection_made(self, transport):
        self.transport = transport
        self.writer = StreamWriter(transport, self, None, self.loop)
        self.task = self.loop.create_task(self._run())

    async def _run(self):
        try:
            await self.handle(self.writer)
        finally:
            self.writer.close()

    def pause_writing(self):
        self.writer.pause_writing()

    def resume_writing(self):
        self.writer.resume_writing()

    def connection_lost(self, exc):
        self.writer.connection_lost(exc)


async def _fetch(handle, ssl_server=None, ssl_client=None):
    """Serve one connection with ``handle(writer)``; return all bytes the client got."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _ServerProto(handle, loop), "127.0.0.1", 0, ssl=ssl_server
    )
    port = server.sockets[0].getsockname()[1]
    try:
        reader, client = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ssl_client, server_hostname="localhost" if ssl_client else None
        )
        data = await asyncio.wait_for(reader.read(), 10)
        client.close()
        return data
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def payload_file(tmp_path):
    data = os.urandom(1024 * 1024 + 123)
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    return path, data


def _split(wire):
    head, body = wire.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return lines[0], headers, body


async def test_sendfile_sets_content_length_and_uses_loop_sendfile(payload_file, monkeypatch):
    path, data = payload_file
    loop_sendfile_calls = []
    original = asyncio.BaseEventLoop.sendfile

    async def spy(self, *args, **kwargs):
        loop_sendfile_calls.append(args[1:])
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", spy)

    async def handle(writer):
        resp = Response(writer, 200)
        resp.add_header("Content-Type", "application/octet-stream")
        with open(path, "rb") as f:
            assert await resp.sendfile(f) == len(data)
        await resp.write_eof()
        assert resp.keep_alive() and not resp.incomplete

    wire = await _fetch(handle)
    status, headers, body = _split(wire)
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-length"] == str(len(data))
    assert "transfer-encoding" not in headers
    assert body == data
    assert len(loop_sendfile_calls) == 1


async def test_sendfile_with_offset_and_count(payload_file):
    path, data = payload_file

    async def handle(writer):
        resp = Response(writer, 200)
        with open(path, "rb") as f:
            assert await resp.sendfile(f, offset=1000, count=5000) == 5000
        await resp.write_eof()

    _, headers, body = _split(await _fetch(handle))
    assert headers["content-length"] == "5000"
    assert body == data[1000:6000]


async def test_sendfile_chunked_when_chunking_is_enabled(payload_file):
    path, data = payload_file

    async def handle(writer):
        resp = Response(writer, 200)
        resp.enable_chunked_encoding()
        resp.send_headers()
        await resp.write(b"prefix-")
        with open(path, "rb") as f:
            assert await resp.sendfile(f) == len(data)
        await resp.write_eof()

    _, headers, body = _split(await _fetch(handle))
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    pieces, rest = dechunk(body)
    assert rest == b""
    assert b"".join(pieces) == b"prefix-" + data


async def test_sendfile_through_compression_is_chunked_and_decodes(payload_file):
    path, data = payload_file

    async def handle(writer):
        resp = Response(writer, 200)
        resp.enable_compression("gzip")
        with open(path, "rb") as f:
            await resp.sendfile(f)
        await resp.write_eof()

    _, headers, body = _split(await _fetch(handle))
    assert headers["content-encoding"] == "gzip"
    pieces, _ = dechunk(body)
    assert gzip.decompress(b"".join(pieces)) == data


async def test_sendfile_on_http10_after_headers_is_close_delimited(payload_file):
    path, data = payload_file

    async def handle(writer):
        resp = Response(writer, 200, http_version=HttpVersion10)
        resp.send_headers()
        with open(path, "rb") as f:
            await resp.sendfile(f)
        await resp.write_eof()

    status, headers, body = _split(await _fetch(handle))
    assert status == "HTTP/1.0 200 OK"
    assert "content-length" not in headers
    assert body == data


async def test_sendfile_respects_a_declared_content_length(payload_file):
    path, data = payload_file

    async def handle(writer):
        resp = Response(writer, 200)
        resp.add_header("Content-Length", "10")
        with open(path, "rb") as f:
            assert await resp.sendfile(f) == 10
        await resp.write_eof()
        assert not resp.incomplete

    _, headers, body = _split(await _fetch(handle))
    assert body == data[:10]


async def test_sendfile_for_head_sends_only_the_head(payload_file):
    path, data = payload_file

    async def handle(writer):
        writer.request_method = "HEAD"
        resp = Response(writer, 200)
        with open(path, "rb") as f:
            assert await resp.sendfile(f) == 0
        await resp.write_eof()

    _, headers, body = _split(await _fetch(handle))
    assert headers["content-length"] == str(len(data))
    assert body == b""


async def test_sendfile_over_tls_falls_back_to_copying(payload_file, tls_contexts):
    path, data = payload_file
    server_ctx, client_ctx = tls_contexts

    async def handle(writer):
        resp = Response(writer, 200)
        with open(path, "rb") as f:
            assert await resp.sendfile(f) == len(data)
        await resp.write_eof()

    _, headers, body = _split(await _fetch(handle, server_ctx, client_ctx))
    assert headers["content-length"] == str(len(data))
    assert body == data


async def test_sendfile_with_a_plain_writer_copies_through_write(payload_file):
    path, data = payload_file
    writer = FakeWriter()
    resp = Response(writer, 200)
    with open(path, "rb") as f:
        assert await resp.sendfile(f, 10, 100000) == 100000
        assert f.tell() == 100010
    resp.write_eof()
    assert writer.header("Content-Length") == "100000"
    assert writer.body == data[10:100010]


@pytest.fixture
def tls_contexts(certificate, server_ssl_context):
    """Server and client TLS contexts around conftest's throwaway certificate."""
    client_ctx = ssl.create_default_context(cafile=certificate[0])
    return server_ssl_context, client_ctx


# ---------------------------------------------------------------- protocol/hdrs


def test_protocol_module_re_exports_the_1_1_names():
    assert protocol.Response is Response
    assert protocol.HttpVersion is HttpVersion
    assert protocol.HttpVersion10 == (1, 0)
    assert protocol.HttpVersion11 == (1, 1)
    assert protocol.RawRequestMessage is RawRequestMessage


def test_hdrs_header_names_equal_their_title_cased_spelling():
    names = {k: v for k, v in vars(hdrs).items() if k.isupper() and not k.startswith("METH_")}
    assert len(names) >= 75
    for attr, value in names.items():
        assert isinstance(value, istr), attr
        assert value == attr.replace("_", "-").title(), attr
    assert hdrs.CONTENT_LENGTH == "Content-Length"
    assert hdrs.PROXY_AUTHENTICATE == "Proxy-Authenticate"
    for required in (
        "SEC_WEBSOCKET_KEY1",
        "URI",
        "WEBSOCKET",
        "DIGEST",
        "WANT_DIGEST",
        "LAST_EVENT_ID",
        "LINK",
        "KEEP_ALIVE",
        "ACCEPT",
        "WWW_AUTHENTICATE",
    ):
        assert required in names


def test_hdrs_methods():
    assert hdrs.METH_ANY == "*"
    assert hdrs.METH_ALL == {
        "CONNECT",
        "HEAD",
        "GET",
        "DELETE",
        "OPTIONS",
        "PATCH",
        "POST",
        "PUT",
        "TRACE",
    }
    assert hdrs.METH_GET == "GET" and hdrs.METH_HEAD == "HEAD"


# ------------------------------------------- list mode and dictionary mode agree

_HEADER_SETS = [
    (),
    (("Content-Type", "text/html"), ("Content-Length", "18")),
    (("content-length", "3"), ("X-A", "1"), ("x-a", "2")),
    (("Content-Length", "5"), ("Content-Length", "3")),
    (("Set-Cookie", "a=1"), ("Connection", "close")),
    (("Connection", "keep-alive"), ("Content-Length", "2")),
    (("X-Text", "текст"),),
    (("Date", "now"), ("Content-Length", "1")),
    (("Server", "mine"),),
    (("Transfer-Encoding", "chunked"),),
    (("Upgrade", "websocket"), ("Connection", "upgrade")),
]


@pytest.mark.parametrize("pairs", _HEADER_SETS)
@pytest.mark.parametrize("status", [200, 201, 204, 304, 404, 101, 100])
@pytest.mark.parametrize(
    "method, req_version, resp_version, close, should_close, chunked",
    [
        ("GET", HttpVersion11, HttpVersion11, False, False, False),
        ("GET", HttpVersion11, HttpVersion11, True, False, False),
        ("GET", HttpVersion11, HttpVersion11, False, True, False),
        ("GET", HttpVersion11, HttpVersion11, False, False, True),
        ("HEAD", HttpVersion11, HttpVersion11, False, False, False),
        ("GET", HttpVersion10, HttpVersion10, False, False, False),
        ("GET", HttpVersion10, HttpVersion11, False, False, False),
        ("POST", None, HttpVersion11, False, False, False),
    ],
)
def test_the_header_list_fast_path_writes_what_the_dictionary_path_writes(
    pairs, status, method, req_version, resp_version, close, should_close, chunked, monkeypatch
):
    """A response whose ``headers`` nobody looked at is serialised from a
    list; looking at ``headers`` first forces the dictionary path.  Both
    must put the same bytes on the wire and leave the same state."""
    import time as real_time
    import types

    import llserver.response as response_module

    frozen = types.SimpleNamespace(time=lambda: 1_700_000_000.0, gmtime=real_time.gmtime)
    monkeypatch.setattr(response_module, "time", frozen)
    outcomes = []
    for look_first in (False, True):
        writer = FakeWriter(method, req_version, should_close)
        resp = Response(writer, status, http_version=resp_version, close=close)
        if look_first:
            resp.headers  # noqa: B018 -- switches to the dictionary
        resp.add_headers(*pairs)
        if chunked:
            resp.enable_chunked_encoding()
        resp.send_headers()
        resp.write(b"abc")
        resp.write_eof()
        outcomes.append(
            (
                writer.wire,
                list(resp.headers.items()),
                resp.keep_alive(),
                resp.chunked,
                resp.length,
                resp.output_length,
                resp.headers_length,
                resp.incomplete,
            )
        )
    assert outcomes[0] == outcomes[1]


def test_a_repeated_head_is_reused_within_a_second_and_renewed_after(monkeypatch):
    import types

    import llserver.response as response_module

    now = [1_700_000_000.0]
    clock = types.SimpleNamespace(time=lambda: now[0], gmtime=__import__("time").gmtime)
    monkeypatch.setattr(response_module, "time", clock)

    def head(value="text/plain"):
        writer = FakeWriter("GET", HttpVersion11)
        resp = Response(writer, 200)
        resp.add_headers(("Content-Type", value), ("Content-Length", "1"))
        resp.send_headers()
        return writer.head, resp

    first, _ = head()
    second, resp = head()
    assert first == second and b"Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n" in first
    assert resp.headers["Date"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    other, _ = head("text/html")
    assert b"Content-Type: text/html\r\n" in other
    now[0] += 1
    third, resp = head()
    assert b"Date: Tue, 14 Nov 2023 22:13:21 GMT\r\n" in third
    assert third.replace(b":21 GMT", b":20 GMT") == first
