"""Raw-socket conformance suite (issue 5): framing, limits, Upgrade/CONNECT,
``Expect: 100-continue``.

One table of cases ``(id, request_bytes, expected, must_close)``; ``expected``
is the status of the only response, a tuple of the statuses of every response
on the wire (pipelining), or ``None`` when no response at all is expected.
Every malformed case also carries a request smuggled behind it, which must
never be served.  Valid keep-alive cases are followed by a ``Connection:
close`` request that must be answered, proving the connection stays usable.

Statuses follow RFC 9110/9112 and llserver's documented decisions
(docs/migration.md, "Deliberate differences" 12-30 and "Broken body framing
found before dispatch").
"""

from __future__ import annotations

import asyncio
import re

import pytest
from conftest import exchange, running_server

import llserver.server
from llserver import Response

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
AFTER = b"GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
MAX_BODY = 1000


async def answer(proto, message, body: bytes, status: int = 200) -> None:
    response = Response(proto.writer, status, http_version=message.version)
    response.add_header("Content-Length", str(len(body)))
    response.send_headers()
    response.write(body)
    await response.write_eof()


def make_server(read_body: bool):
    """A protocol factory and the list of paths its handler saw."""
    seen: list = []

    class Handler(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            seen.append(message.path)
            if read_body:
                data = await payload.read()
                body = b"%s:%d" % (message.path.encode("utf-8", "replace"), len(data))
            else:
                body = message.path.encode("utf-8", "replace")
            await answer(self, message, body)

    def factory():
        return Handler(max_body_size=MAX_BODY, lingering_time=0.5, keepalive_timeout=5)

    return factory, seen


STATUS_RE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


def statuses(data: bytes) -> list:
    """Status codes of every response head on the wire (1xx included).

    Bodies are paths or fixed error pages, which never contain a status
    line, so a plain scan also works after a bodiless HEAD response."""
    return [int(m) for m in STATUS_RE.findall(data)]


def req(head: str, body: bytes = b"") -> bytes:
    return head.encode("latin-1") + body


def post(headers: str, body: bytes = b"", version: str = "1.1", host: bool = True) -> bytes:
    h = "Host: x\r\n" if host else ""
    return req(f"POST /p HTTP/{version}\r\n{h}{headers}\r\n", body)


CHUNKED = "Transfer-Encoding: chunked\r\n"
BIG_FIELD = "X-Big: " + "a" * 8200 + "\r\n"
MANY_FIELDS = "".join(f"X-F{i}: v\r\n" for i in range(101))
HUGE_SECTION = "".join(f"X-H{i}: {'b' * 4000}\r\n" for i in range(9))  # ~36 KB
BIG_TRAILER = "".join(f"X-T{i}: {'c' * 4000}\r\n" for i in range(9))

# fmt: off
CASES = [
    # ---- valid baselines ----------------------------------------------------
    ("valid/get", req("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 200, False),
    ("valid/post-cl", post("Content-Length: 5\r\n", b"hello"), 200, False),
    ("valid/post-chunked", post(CHUNKED, b"5\r\nhello\r\n0\r\n\r\n"), 200, False),
    ("valid/chunked-upper-hex", post(CHUNKED, b"A\r\n0123456789\r\n0\r\n\r\n"), 200, False),
    ("valid/chunked-trailers", post(CHUNKED, b"3\r\nabc\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"), 200, False),
    ("valid/chunked-ext", post(CHUNKED, b"3;name=value\r\nabc\r\n0\r\n\r\n"), 200, False),
    ("valid/chunked-ext-quoted", post(CHUNKED, b'3;n="v v"\r\nabc\r\n0\r\n\r\n'), 200, False),
    ("valid/te-case-insensitive", post("Transfer-Encoding: Chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"), 200, False),
    ("valid/cl-zero", post("Content-Length: 0\r\n"), 200, False),
    ("valid/cl-leading-zeros", post("Content-Length: 003\r\n", b"abc"), 200, False),
    ("valid/cl-at-limit", post(f"Content-Length: {MAX_BODY}\r\n", b"z" * MAX_BODY), 200, False),
    ("valid/leading-crlf", req("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 200, False),
    ("valid/leading-crlfs", req("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 200, False),
    ("valid/http10-no-host", req("GET / HTTP/1.0\r\n\r\n"), 200, True),
    ("valid/absolute-form", req("GET http://x/abs HTTP/1.1\r\nHost: x\r\n\r\n"), 200, False),
    ("valid/asterisk-options", req("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), 200, False),
    ("valid/ows-around-value", req("GET / HTTP/1.1\r\nHost: x\r\nX-A:   v \t\r\n\r\n"), 200, False),
    ("valid/fields-at-count-limit", req("GET / HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-F{i}: v\r\n" for i in range(99)) + "\r\n"), 200, False),
    ("valid/connection-close", req("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 200, True),
    ("valid/head", req("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"), 200, False),
    ("valid/http10-keep-alive-response-not-opted-in", req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 200, True),
    ("valid/cl-body-looks-like-request", post(f"Content-Length: {len(SMUGGLED)}\r\n", SMUGGLED), 200, False),
    ("valid/chunk-data-looks-like-request", post(CHUNKED, b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)), 200, False),

    # ---- pipelining ---------------------------------------------------------
    ("pipeline/three-valid", req("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab" "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n"), (200, 200, 200), False),
    ("pipeline/valid-then-cl-te", req("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n") + post("Content-Length: 5\r\n" + CHUNKED, b"0\r\n\r\n"), (200, 200, 400), True),
    ("pipeline/valid-then-bad-method", req("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nG@T / HTTP/1.1\r\nHost: x\r\n\r\n"), (200, 400), True),
    ("pipeline/valid-then-bad-chunk", req("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n") + post(CHUNKED, b"zz\r\nabc\r\n0\r\n\r\n"), (200, 400), True),
    ("pipeline/valid-then-long-line", req("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /" + "u" * 8200 + " HTTP/1.1\r\nHost: x\r\n\r\n"), (200, 414), True),
    ("pipeline/chunked-with-trailers-then-get", post(CHUNKED, b"1\r\na\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n") + req("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"), (200, 200), False),

    # ---- CL + TE ------------------------------------------------------------
    ("cl-te/cl-first", post("Content-Length: 5\r\n" + CHUNKED, b"0\r\n\r\n"), 400, True),
    ("cl-te/te-first", post(CHUNKED + "Content-Length: 5\r\n", b"0\r\n\r\n"), 400, True),
    ("cl-te/cl-zero", post("Content-Length: 0\r\n" + CHUNKED, b"0\r\n\r\n"), 400, True),
    ("cl-te/te-upper", post("Content-Length: 5\r\nTRANSFER-ENCODING: CHUNKED\r\n", b"0\r\n\r\n"), 400, True),
    ("cl-te/te-space-value", post("Content-Length: 5\r\nTransfer-Encoding:  chunked \r\n", b"0\r\n\r\n"), 400, True),
    ("cl-te/te-tab-value", post("Content-Length: 5\r\nTransfer-Encoding:\tchunked\r\n", b"0\r\n\r\n"), 400, True),
    ("cl-te/te-list", post("Content-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 400, True),
    ("cl-te/te-identity", post("Content-Length: 5\r\nTransfer-Encoding: identity\r\n", b"hello"), 400, True),
    ("cl-te/te-chunked-chunked", post("Content-Length: 5\r\nTransfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), 400, True),
    ("cl-te/te-split-headers", post("Transfer-Encoding: gzip\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400, True),

    # ---- Content-Length -----------------------------------------------------
    ("cl/duplicate-equal", post("Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"), 400, True),
    ("cl/duplicate-differing", post("Content-Length: 3\r\nContent-Length: 5\r\n", b"abcde"), 400, True),
    ("cl/list-equal", post("Content-Length: 3, 3\r\n", b"abc"), 400, True),
    ("cl/list-differing", post("Content-Length: 3,5\r\n", b"abcde"), 400, True),
    ("cl/negative", post("Content-Length: -1\r\n", b"abc"), 400, True),
    ("cl/plus-sign", post("Content-Length: +1\r\n", b"a"), 400, True),
    ("cl/non-numeric", post("Content-Length: abc\r\n", b"abc"), 400, True),
    ("cl/hex", post("Content-Length: 0x3\r\n", b"abc"), 400, True),
    ("cl/decimal-point", post("Content-Length: 3.0\r\n", b"abc"), 400, True),
    ("cl/inner-space", post("Content-Length: 1 2\r\n", b"a" * 12), 400, True),
    ("cl/empty", post("Content-Length: \r\n", b""), 400, True),
    ("cl/huge-overflow", post("Content-Length: 99999999999999999999999999\r\n", b"abc"), 400, True),

    # ---- Transfer-Encoding codings --------------------------------------------
    ("te/gzip-chunked-501", post("Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501, True),
    ("te/unknown-chunked-501", post("Transfer-Encoding: foo, chunked\r\n", b"0\r\n\r\n"), 501, True),
    ("te/chunked-not-last", post("Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"), 400, True),
    ("te/chunked-chunked", post("Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), 400, True),
    ("te/chunked-twice-headers", post(CHUNKED + CHUNKED, b"0\r\n\r\n"), 400, True),
    ("te/xchunked", post("Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), 400, True),
    ("te/chunked-suffix", post("Transfer-Encoding: chunkedx\r\n", b"0\r\n\r\n"), 400, True),
    ("te/unknown-only", post("Transfer-Encoding: foo\r\n", b"0\r\n\r\n"), 400, True),
    ("te/identity-only", post("Transfer-Encoding: identity\r\n", b"0\r\n\r\n"), 400, True),
    ("te/gzip-only", post("Transfer-Encoding: gzip\r\n", b"0\r\n\r\n"), 400, True),
    ("te/http10-chunked", post(CHUNKED, b"3\r\nabc\r\n0\r\n\r\n", version="1.0"), 400, True),
    ("te/http10-chunked-host", post(CHUNKED, b"0\r\n\r\n", version="1.0", host=False), 400, True),

    # ---- chunk sizes ----------------------------------------------------------
    ("chunk/non-hex", post(CHUNKED, b"zz\r\nabc\r\n0\r\n\r\n"), 400, True),
    ("chunk/hex-prefix", post(CHUNKED, b"0x3\r\nabc\r\n0\r\n\r\n"), 400, True),
    ("chunk/negative", post(CHUNKED, b"-3\r\nabc\r\n0\r\n\r\n"), 400, True),
    ("chunk/overflow", post(CHUNKED, b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n"), 400, True),
    ("chunk/empty-size", post(CHUNKED, b"\r\nabc\r\n0\r\n\r\n"), 400, True),
    ("chunk/space-in-size", post(CHUNKED, b"1 2\r\nabc\r\n0\r\n\r\n"), 400, True),
    ("chunk/missing-crlf-after-data", post(CHUNKED, b"3\r\nabcX0\r\n\r\n"), 400, True),
    ("chunk/data-longer-than-size", post(CHUNKED, b"3\r\nabcdef\r\n0\r\n\r\n"), 400, True),
    ("chunk/bare-lf-after-size", post(CHUNKED, b"3\nabc\r\n0\r\n\r\n"), 400, True),
    ("chunk/bare-cr-after-size", post(CHUNKED, b"3\rabc\r\n0\r\n\r\n"), 400, True),

    # ---- chunk extensions -----------------------------------------------------
    ("chunk-ext/ctl-in-ext", post(CHUNKED, b"3;a\x01b\r\nabc\r\n0\r\n\r\n"), 400, True),
    ("chunk-ext/nul-in-ext", post(CHUNKED, b"3;a\x00\r\nabc\r\n0\r\n\r\n"), 400, True),
    ("chunk-ext/bare-cr-in-ext", post(CHUNKED, b"3;a\rb\r\nabc\r\n0\r\n\r\n"), 400, True),
    ("chunk-ext/bare-lf-in-ext", post(CHUNKED, b"3;a\nb\r\nabc\r\n0\r\n\r\n"), 400, True),
    ("chunk-ext/unterminated-quote", post(CHUNKED, b'3;a="b\r\nabc\r\n0\r\n\r\n'), 400, True),

    # ---- header syntax --------------------------------------------------------
    ("header/obs-fold-space", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"), 400, True),
    ("header/obs-fold-tab", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n"), 400, True),
    ("header/obs-fold-first-line", req("GET / HTTP/1.1\r\n Host: x\r\n\r\n"), 400, True),
    ("header/space-before-colon", req("GET / HTTP/1.1\r\nHost: x\r\nX-A : v\r\n\r\n"), 400, True),
    ("header/space-before-colon-cl", post("Content-Length : 3\r\n", b"abc"), 400, True),
    ("header/space-before-colon-te", post("Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), 400, True),
    ("header/tab-before-colon", req("GET / HTTP/1.1\r\nHost: x\r\nX-A\t: v\r\n\r\n"), 400, True),
    ("header/no-colon", req("GET / HTTP/1.1\r\nHost: x\r\nX-A v\r\n\r\n"), 400, True),
    ("header/empty-name", req("GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n"), 400, True),
    ("header/bad-name-char", req("GET / HTTP/1.1\r\nHost: x\r\nX(A): v\r\n\r\n"), 400, True),
    ("header/bare-cr-in-value", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"), 400, True),
    ("header/bare-cr-line-end", req("GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n"), 400, True),
    ("header/bare-lf-between", req("GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"), 400, True),
    ("header/bare-lf-hides-request", req("GET / HTTP/1.1\r\nHost: x\n\nGET /hidden HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("header/nul-in-value", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"), 400, True),
    ("header/nul-in-name", req("GET / HTTP/1.1\r\nHost: x\r\nX-\x00A: b\r\n\r\n"), 400, True),
    ("header/ctl-in-value", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"), 400, True),
    ("header/del-in-value", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n"), 400, True),

    # ---- request line: methods, targets, versions ------------------------------
    ("line/lower-case-method", req("get / HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("line/mixed-case-method", req("Get / HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("line/unknown-method", req("FOO / HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("line/invalid-method-char", req("G@T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("line/overlong-method", req("GET" + "T" * 100 + " / HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("line/empty-method", req(" / HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("line/space-in-target", req("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("line/tab-in-target", req("GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("line/ctl-in-target", req("GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("line/nul-in-target", req("GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("line/del-in-target", req("GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("line/bare-cr-in-line", req("GET / HTTP/1.1\rHost: x\r\n\r\n"), 400, True),
    ("line/bare-lf-line-end", req("GET / HTTP/1.1\nHost: x\r\n\r\n"), 400, True),
    ("line/trailing-space", req("GET / HTTP/1.1 \r\nHost: x\r\n\r\n"), 400, True),
    ("line/missing-target", req("GET HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("version/http09-style", req("GET /\r\n\r\n"), 400, True),
    # RFC 9110 §2.5: a higher minor version SHOULD be processed as 1.1.
    ("version/1.2-as-1.1", req("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), 200, False),
    ("version/2.0", req("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505, True),
    ("version/3.0", req("GET / HTTP/3.0\r\nHost: x\r\n\r\n"), 505, True),
    ("version/garbage", req("GET / HTTP/x.y\r\nHost: x\r\n\r\n"), 400, True),
    ("version/lower-case", req("GET / http/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("version/two-digit-minor", req("GET / HTTP/1.10\r\nHost: x\r\n\r\n"), 400, True),
    ("version/no-slash", req("GET / HTTP1.1\r\nHost: x\r\n\r\n"), 400, True),

    # ---- Host (RFC 9112 §3.2) ------------------------------------------------
    ("host/missing-1.1", req("GET / HTTP/1.1\r\n\r\n"), 400, True),
    ("host/duplicate", req("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"), 400, True),
    ("host/duplicate-equal", req("GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n"), 400, True),

    # ---- limits ---------------------------------------------------------------
    ("limit/request-line-414", req("GET /" + "u" * 8200 + " HTTP/1.1\r\nHost: x\r\n\r\n"), 414, True),
    ("limit/request-line-at-limit", req("GET /" + "u" * (8190 - len("GET / HTTP/1.1")) + " HTTP/1.1\r\nHost: x\r\n\r\n"), 200, False),
    ("limit/field-over-8190-431", req("GET / HTTP/1.1\r\nHost: x\r\n" + BIG_FIELD + "\r\n"), 431, True),
    ("limit/field-name-over-8190-431", req("GET / HTTP/1.1\r\nHost: x\r\nX" + "n" * 8200 + ": v\r\n\r\n"), 431, True),
    ("limit/section-over-32768-431", req("GET / HTTP/1.1\r\nHost: x\r\n" + HUGE_SECTION + "\r\n"), 431, True),
    ("limit/over-100-fields-431", req("GET / HTTP/1.1\r\nHost: x\r\n" + MANY_FIELDS + "\r\n"), 431, True),
    ("limit/trailer-one-field-over-32768-431", post(CHUNKED, b"1\r\na\r\n0\r\nX-T: " + b"c" * 33000 + b"\r\n\r\n"), 431, True),
    ("limit/trailer-section-over-431", post(CHUNKED, b"1\r\na\r\n0\r\n" + BIG_TRAILER.encode() + b"\r\n"), 431, True),
    ("limit/body-cl-413", post(f"Content-Length: {MAX_BODY + 1}\r\n", b"z" * (MAX_BODY + 1)), 413, True),
    ("limit/body-cl-huge-413", post("Content-Length: 100000000\r\n", b"z" * 100), 413, True),
    ("limit/body-chunked-413", post(CHUNKED, b"%x\r\n%s\r\n0\r\n\r\n" % (MAX_BODY + 1, b"z" * (MAX_BODY + 1))), 413, True),
    ("limit/body-chunked-many-413", post(CHUNKED, b"".join(b"64\r\n" + b"z" * 100 + b"\r\n" for _ in range(11)) + b"0\r\n\r\n"), 413, True),

    # ---- Upgrade and CONNECT ------------------------------------------------------
    ("upgrade/h2c-declined", req("GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"), 200, False),
    ("upgrade/websocket-declined", req("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), 200, False),
    ("upgrade/declined-pipelined", req("GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"), (200, 200), False),

    # ---- Expect: 100-continue ---------------------------------------------------------
    ("expect/100-continue-read", post("Expect: 100-continue\r\nContent-Length: 3\r\n", b"abc"), (100, 200), False),
    ("expect/100-continue-chunked", post("Expect: 100-continue\r\n" + CHUNKED, b"3\r\nabc\r\n0\r\n\r\n"), (100, 200), False),
    ("expect/http10-no-100", post("Expect: 100-continue\r\nContent-Length: 3\r\n", b"abc", version="1.0"), 200, True),
]
# fmt: on

FRAMING = ("cl-te/", "cl/", "te/", "chunk/", "chunk-ext/", "limit/body", "limit/trailer")
NON_READING_VALID = (
    "valid/post-cl",
    "valid/post-chunked",
    "valid/chunked-trailers",
    "valid/cl-body-looks-like-request",
    "valid/chunk-data-looks-like-request",
    "pipeline/three-valid",
    "pipeline/chunked-with-trailers-then-get",
)
NON_READING_CASES = [
    c for c in CASES if (c[0].startswith(FRAMING) and c[2] != 200) or c[0] in NON_READING_VALID
]


def is_malformed(expected) -> bool:
    final = expected[-1] if isinstance(expected, tuple) else expected
    return final is None or final >= 400


async def run_case(read_body: bool, data: bytes, expected, must_close: bool) -> None:
    factory, seen = make_server(read_body)
    malformed = is_malformed(expected)
    wanted = (
        list(expected) if isinstance(expected, tuple) else ([] if expected is None else [expected])
    )
    tail = SMUGGLED if malformed else (b"" if must_close else AFTER)
    async with running_server(factory) as (_, port):
        wire, closed = await exchange(port, data + tail, idle=1.5, total=6)
    got = statuses(wire)
    assert "/smuggled" not in seen and b"/smuggled" not in wire
    if malformed:
        assert got == wanted, wire[:300]
        assert "/smuggled" not in seen
        assert b"/smuggled" not in wire
        assert closed, "connection left open after a malformed request"
        return
    if must_close:
        assert got == wanted, wire[:300]
        assert closed, "connection should close"
        return
    # keep-alive: the trailing Connection: close request is served too
    assert got == wanted + [200], wire[:300]
    assert wire.endswith((b"/after:0", b"/after")), wire[-200:]
    assert closed
    assert seen[-1] == "/after"


@pytest.mark.parametrize(
    "data, expected, must_close", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_conformance(data: bytes, expected, must_close: bool) -> None:
    await run_case(True, data, expected, must_close)


@pytest.mark.parametrize(
    "data, expected, must_close",
    [c[1:] for c in NON_READING_CASES],
    ids=[c[0] for c in NON_READING_CASES],
)
async def test_conformance_handler_never_reads(data: bytes, expected, must_close: bool) -> None:
    await run_case(False, data, expected, must_close)


def test_table_is_large_and_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 80


# ---- targeted checks the table cannot express --------------------------------


async def test_head_response_has_no_body() -> None:
    factory, _ = make_server(True)
    async with running_server(factory) as (_, port):
        wire, _ = await exchange(port, b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" + AFTER, idle=1.5)
    head, _, rest = wire.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 4" in head  # "/h:0"
    assert rest.startswith(b"HTTP/1.1 200"), rest[:100]  # nothing between the two responses


async def test_100_continue_only_once_the_handler_reads() -> None:
    reading = asyncio.Event()

    class Late(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            await asyncio.sleep(0.3)
            reading.set()
            data = await payload.read()
            await answer(self, message, data)

    async with running_server(Late) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
            )
            await writer.drain()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(100), 0.15)  # nothing before the read
            await asyncio.wait_for(reading.wait(), 2)
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"abc")
            final = await asyncio.wait_for(reader.readuntil(b"abc"), 2)
            assert final.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()


async def test_no_100_continue_when_handler_answers_without_reading() -> None:
    factory, _ = make_server(False)
    async with running_server(factory) as (_, port):
        wire, closed = await exchange(
            port,
            b"POST /n HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
            idle=1.5,
        )
    assert statuses(wire) == [200] and b"100 Continue" not in wire
    assert closed  # the announced body never came: the connection cannot be reused


async def test_upgrade_declined_then_connection_reused_in_a_second_write() -> None:
    factory, seen = make_server(True)
    async with running_server(factory) as (_, port):
        wire, closed = await exchange(
            port,
            pieces=[
                b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                AFTER,
            ],
            delay=0.2,
        )
    assert statuses(wire) == [200, 200] and closed
    assert seen == ["/ws", "/after"]


async def test_connect_is_answered_and_the_tail_is_tunnel_data_not_http() -> None:
    """CONNECT (RFC 9110 §9.3.6): the bytes after the head belong to the
    tunnel, so a request behind it is never parsed as HTTP; the handler that
    reads the payload sees them, answers, and the connection closes."""
    factory, seen = make_server(True)
    head = b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n"
    async with running_server(factory) as (_, port):
        wire, closed = await exchange(port, head + SMUGGLED, half_close=True, idle=1.5)
    assert statuses(wire) == [200] and closed
    assert wire.endswith(b"x:443:%d" % len(SMUGGLED))
    assert seen == ["x:443"]


async def test_connect_answered_without_reading_closes() -> None:
    factory, seen = make_server(False)
    async with running_server(factory) as (_, port):
        wire, closed = await exchange(
            port, b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n" + SMUGGLED, idle=1.5
        )
    assert statuses(wire) == [200] and closed
    assert seen == ["x:443"] and b"/smuggled" not in wire


async def test_double_space_in_request_line_is_parsed_on_word_boundaries() -> None:
    """RFC 9112 §3 lets a recipient parse the request line on whitespace
    boundaries (MAY); llserver does, and the target is the real one."""
    factory, seen = make_server(True)
    async with running_server(factory) as (_, port):
        wire, closed = await exchange(
            port, b"GET  /x HTTP/1.1\r\nHost: x\r\n\r\n" + AFTER, idle=1.5
        )
    assert statuses(wire) == [200, 200] and closed
    assert seen == ["/x", "/after"]


async def test_header_timeout_closes_a_slow_head_without_serving_it() -> None:
    seen: list = []

    class Quick(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            seen.append(message.path)
            await answer(self, message, b"late")

    async with running_server(lambda: Quick(header_timeout=0.3, lingering_time=0.2)) as (_, port):
        start = asyncio.get_running_loop().time()
        wire, closed = await exchange(
            port,
            pieces=[b"GET / HTTP/1.1\r\n", b"Host: x\r\n", b"X-A: 1\r\n"],
            delay=0.2,
            idle=2,
            total=4,
        )
        elapsed = asyncio.get_running_loop().time() - start
    assert closed and not seen and b"200 OK" not in wire
    assert elapsed < 2.5


async def test_body_timeout_ends_a_stalled_body() -> None:
    seen: list = []

    class Reader(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            seen.append(message.path)
            await payload.read()
            await answer(self, message, b"read")

    async with running_server(lambda: Reader(body_timeout=0.3, lingering_time=0.2)) as (_, port):
        wire, closed = await exchange(
            port, b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", idle=2, total=4
        )
    assert seen == ["/b"] and closed
    assert b"200 OK" not in wire
