"""Parser throughput, llserver against the anchors, side by side in one run.

    python benchmarks/parser_bench.py [--quick] [--json out.json]

What is measured (issue #3, "Benchmark"): requests parsed per second by one
parser object fed like one kept-alive connection, on three corpora (realistic
browser requests; the same with every request unique; tiny requests), each fed
one request per feed and 16 pipelined requests per feed, for two workloads:

(a) comparable work: the method, the URL and a list of (name, value) pairs, as
    httptools and zttp users get them.  Each anchor runs the callback or event
    code that collects exactly those; llserver uses ``feed_data`` (which does
    more: it also builds the CIMultiDict, version, flags...) and takes
    ``method, path, raw_headers`` from each message.  The plain-C llhttp
    program (llhttp_ceiling.c) records the same spans and is the ceiling.
(b) llserver's full ``RawRequestMessage`` against aiohttp's C parser building
    its own message (aiohttp 3.x ``HttpRequestParser``).

Method: every (corpus, mode, parser) cell runs once per round, in the same
order (A B C ..., A B C ...), N rounds of a fixed time budget each, after one
untimed warm-up; the report gives the median with min-max, requests/s and
µs/request, and ratios to the faster of httptools and zttp for (a) and to
aiohttp's C parser for (b).  Time is the process's CPU time unless --clock
wall.  The garbage collector stays enabled, as in a server (the benchmark's
own corpus is frozen out of its reach).  Before timing, every parser's output
is checked against the corpus.  The issue's targets are printed as met or not
met: reported, never asserted.  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from math import gcd
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

try:  # the installed package first (PyPy venvs), then the source tree
    import llserver
except ImportError:
    sys.path.insert(0, str(ROOT))
    try:
        import llserver
    except ImportError as exc:
        sys.exit(f"cannot import llserver ({exc}): pip install the checkout first")

RawRequestMessage = llserver.RawRequestMessage
RequestParser = llserver.RequestParser

# Workload (a) for llserver goes through ``feed_data``, which builds the whole
# RawRequestMessage.  Should RequestParser gain a lighter entry point for (a),
# name it here and it is used when present.  Its contract: it takes the same
# bytes and returns feed_data's event list, except that each head is a
# ``(method, path, raw_headers)`` tuple instead of a RawRequestMessage.
LLSERVER_LIGHT_FEED = "feed_heads"

TARGET_A = 1.3  # llserver (a) / max(httptools, zttp)
TARGET_B = 1.5  # llserver (b) / aiohttp C

# The clock of every measurement: "cpu" (this process's CPU time, the default:
# on a shared machine it counts only the time the parser actually ran) or
# "wall" (time.perf_counter).  Set from --clock before anything is measured.
CLOCK: List[str] = ["cpu"]

CHECK_EVERY = 64  # requests between two clock reads
MAX_CHUNKS = 10_000_000  # bound on any timed loop (the budget ends it far sooner)
MAX_EVENTS_PER_FEED = 10_000  # bound on the event loops of zttp and h11

Head = Tuple[str, str, List[Tuple[bytes, bytes]]]  # method, target, header pairs

# ---------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------

# Browser requests as Chrome, Firefox and Safari send them over HTTP/1.1 (GETs
# for a page, scripts, styles, images, XHR/fetch).  {path} and {token} are
# fixed-width slots: the "unique" corpus fills them per request so that no two
# heads in the stream are the same, without changing any request's size.
_CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
_FIREFOX_UA = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
_SAFARI_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Safari/605.1.15"
)
_CH_UA = '"Chromium";v="131", "Not_A Brand";v="24"'

BROWSER_TEMPLATES: List[Tuple[str, str, List[Tuple[str, str]]]] = [
    # Chrome: top-level navigation to a page
    ("GET", "/products/espresso/{path}?sort=price&page=2", [
        ("Host", "shop.example.com"),
        ("Connection", "keep-alive"),
        ("sec-ch-ua", _CH_UA),
        ("sec-ch-ua-platform", '"Linux"'),
        ("Upgrade-Insecure-Requests", "1"),
        ("User-Agent", _CHROME_UA),
        ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "navigate"),
        ("Sec-Fetch-Dest", "document"),
        ("Referer", "https://shop.example.com/products"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Cookie", "sessionid={token}; csrftoken=q8WcT0pXzR"),
    ]),
    # Chrome: a script
    ("GET", "/static/js/app.{path}.js", [
        ("Host", "shop.example.com"),
        ("Connection", "keep-alive"),
        ("sec-ch-ua-platform", '"Linux"'),
        ("User-Agent", _CHROME_UA),
        ("sec-ch-ua", _CH_UA),
        ("sec-ch-ua-mobile", "?0"),
        ("Accept", "*/*"),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "no-cors"),
        ("Sec-Fetch-Dest", "script"),
        ("Referer", "https://shop.example.com/products/espresso-machines"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Cookie", "sessionid={token}; csrftoken=q8WcT0pXzR"),
    ]),
    # Chrome: a fetch() returning JSON
    ("GET", "/api/v2/cart/items?locale=en-US&id={path}", [
        ("Host", "shop.example.com"),
        ("Connection", "keep-alive"),
        ("sec-ch-ua-platform", '"Linux"'),
        ("User-Agent", _CHROME_UA),
        ("Accept", "application/json, text/plain, */*"),
        ("X-Requested-With", "XMLHttpRequest"),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Dest", "empty"),
        ("Referer", "https://shop.example.com/cart"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Cookie", "sessionid={token}; csrftoken=q8WcT0pXzR; cart=3"),
    ]),
    # Firefox: a page
    ("GET", "/blog/2026/11/{path}/parsing-http-fast", [
        ("Host", "www.example.org"),
        ("User-Agent", _FIREFOX_UA),
        ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ("Accept-Language", "en-GB,en;q=0.5"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Referer", "https://www.example.org/blog/"),
        ("Connection", "keep-alive"),
        ("Cookie", "_ga=GA1.2.1234567890.1732600000; theme=dark; sid={token}"),
        ("Upgrade-Insecure-Requests", "1"),
        ("Sec-Fetch-Dest", "document"),
        ("Sec-Fetch-Mode", "navigate"),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-User", "?1"),
        ("Priority", "u=0, i"),
    ]),
    # Firefox: a stylesheet
    ("GET", "/assets/css/main.{path}.css", [
        ("Host", "www.example.org"),
        ("User-Agent", _FIREFOX_UA),
        ("Accept", "text/css,*/*;q=0.1"),
        ("Accept-Language", "en-GB,en;q=0.5"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Referer", "https://www.example.org/blog/2026/11/parsing-http-fast"),
        ("Connection", "keep-alive"),
        ("Cookie", "_ga=GA1.2.1234567890.1732600000; theme=dark; sid={token}"),
        ("Sec-Fetch-Dest", "style"),
        ("Sec-Fetch-Mode", "no-cors"),
        ("Sec-Fetch-Site", "same-origin"),
        ("If-None-Match", '"5f3a9c-1b2e4d"'),
        ("Priority", "u=2"),
    ]),
    # Firefox: an image
    ("GET", "/images/hero/{path}-1280w.webp", [
        ("Host", "www.example.org"),
        ("User-Agent", _FIREFOX_UA),
        ("Accept", "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"),
        ("Accept-Language", "en-GB,en;q=0.5"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Referer", "https://www.example.org/blog/2026/11/parsing-http-fast"),
        ("Connection", "keep-alive"),
        ("Cookie", "_ga=GA1.2.1234567890.1732600000; theme=dark; sid={token}"),
        ("Sec-Fetch-Dest", "image"),
        ("Sec-Fetch-Mode", "no-cors"),
        ("Sec-Fetch-Site", "same-origin"),
        ("Priority", "u=5, i"),
    ]),
    # Safari: a page
    ("GET", "/account/orders/{path}", [
        ("Host", "shop.example.com"),
        ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ("Sec-Fetch-Site", "same-origin"),
        ("Cookie", "sessionid={token}; csrftoken=q8WcT0pXzR; _fbp=fb.1.1732600000.42"),
        ("Sec-Fetch-Dest", "document"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Sec-Fetch-Mode", "navigate"),
        ("User-Agent", _SAFARI_UA),
        ("Referer", "https://shop.example.com/account"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Connection", "keep-alive"),
    ]),
    # Safari: an image with a conditional
    ("GET", "/media/catalog/{path}/thumb_320x240.jpg", [
        ("Host", "cdn.example.com"),
        ("Sec-Fetch-Site", "same-site"),
        ("Accept", "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"),
        ("Sec-Fetch-Dest", "image"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Sec-Fetch-Mode", "no-cors"),
        ("User-Agent", _SAFARI_UA),
        ("Referer", "https://shop.example.com/"),
        ("If-Modified-Since", "Tue, 24 Nov 2026 08:12:31 GMT"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Cookie", "cdn_pref={token}"),
        ("Connection", "keep-alive"),
    ]),
]

TINY_REQUESTS: List[Head] = [
    ("GET", "/", [(b"Host", b"x")]),
    ("GET", "/a", [(b"Host", b"x")]),
    ("GET", "/ping", [(b"Host", b"y")]),
    ("GET", "/?q=1", [(b"Host", b"x")]),
]

_PATH_FIXED, _TOKEN_FIXED = "7c1e4a90", "9f2b6d0e41a87c35"


def _browser_head(template: Tuple[str, str, List[Tuple[str, str]]], path: str, token: str) -> Head:
    method, target, headers = template
    return (
        method,
        target.replace("{path}", path),
        [(n.encode(), v.replace("{token}", token).encode()) for n, v in headers],
    )


def browser_heads() -> List[Head]:
    return [_browser_head(t, _PATH_FIXED, _TOKEN_FIXED) for t in BROWSER_TEMPLATES]


def unique_browser_heads(count: int) -> List[Head]:
    """`count` requests cycling through the templates, each with its own path
    and cookie value (same widths as the fixed ones)."""
    n = len(BROWSER_TEMPLATES)
    return [
        _browser_head(BROWSER_TEMPLATES[i % n], f"{i:08x}", f"{i * 2654435761 % (1 << 64):016x}")
        for i in range(count)
    ]


def serialize(head: Head) -> bytes:
    method, target, headers = head
    lines = [f"{method} {target} HTTP/1.1".encode()]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class Scenario:
    """One corpus fed in one mode: the feeds, and what each must parse to."""

    def __init__(self, key: str, corpus: str, heads: List[Head], per_feed: int, note: str) -> None:
        self.key = key
        self.corpus = corpus
        self.per_feed = per_feed
        self.note = note
        self.heads = heads
        raw = [serialize(h) for h in heads]
        self.sizes = [len(r) for r in raw]
        self.header_counts = [len(h[2]) for h in heads]
        # Feeds: `per_feed` consecutive requests each, cycling through the
        # corpus until it divides evenly.
        reps = per_feed // gcd(per_feed, len(raw))
        stream = raw * reps
        self.expected = heads * reps
        self.feeds = [b"".join(stream[i : i + per_feed]) for i in range(0, len(stream), per_feed)]
        # Chunks: lists of feeds holding CHECK_EVERY requests between clock reads.
        chunk = max(1, CHECK_EVERY // per_feed)
        reps = chunk // gcd(chunk, len(self.feeds))
        feeds = self.feeds * reps
        self.chunks = [feeds[i : i + chunk] for i in range(0, len(feeds), chunk)]
        self.chunk_requests = chunk * per_feed

    @property
    def title(self) -> str:
        mode = "1 request per feed" if self.per_feed == 1 else f"{self.per_feed} pipelined per feed"
        return (
            f"{self.corpus}: {len(self.heads)} distinct requests, "
            f"{min(self.sizes)}-{max(self.sizes)} B, "
            f"{min(self.header_counts)}-{max(self.header_counts)} headers; {mode}"
        )


def make_scenarios(unique_pool: int) -> List[Scenario]:
    browser = browser_heads()
    unique = unique_browser_heads(unique_pool)
    out = []
    for per_feed in (1, 16):
        tag = "x1" if per_feed == 1 else "x16"
        out.append(Scenario(f"browser-{tag}", "browser", browser, per_feed, "repeated corpus"))
        out.append(
            Scenario(f"browser-unique-{tag}", "browser-unique", unique, per_feed, "every head differs")
        )
        out.append(Scenario(f"tiny-{tag}", "tiny", TINY_REQUESTS, per_feed, "repeated corpus"))
    return out


# ---------------------------------------------------------------------------
# Parsers under test
#
# Each anchor's factory returns a `run(data) -> list` for a fresh "connection";
# `normalize` maps that list to [(method, target, [(lower name, value)])] for
# the check against the corpus.  Factories raise ImportError (or
# RuntimeError) when the anchor cannot run here; the table says why.
# ---------------------------------------------------------------------------

Run = Callable[[bytes], list]


def _as_str(x: Any) -> str:
    return x.decode("latin-1") if isinstance(x, (bytes, bytearray)) else str(x)


def _norm_heads(items: Sequence[Tuple[Any, Any, Any]]) -> List[Head]:
    return [(_as_str(m), _as_str(t), [(n.lower(), bytes(v)) for n, v in hs]) for m, t, hs in items]


class Anchor:
    def __init__(
        self,
        name: str,
        workload: str,
        factory: Callable[[], Run],
        normalize: Callable[[list], List[Head]],
        version: Callable[[], str],
        note: str = "",
    ) -> None:
        self.name = name
        self.workload = workload
        self.factory = factory
        self.normalize = normalize
        self.version = version
        self.note = note
        self.skip: Optional[str] = None


def _dist_version(dist: str) -> Callable[[], str]:
    def version() -> str:
        try:
            from importlib.metadata import version as v

            return v(dist)
        except Exception:
            return "?"

    return version


# -- llserver ---------------------------------------------------------------


def llserver_a_entry() -> str:
    return LLSERVER_LIGHT_FEED if hasattr(RequestParser, LLSERVER_LIGHT_FEED) else "feed_data"


def llserver_a() -> Run:
    parser = RequestParser()
    if llserver_a_entry() != "feed_data":
        light = getattr(parser, LLSERVER_LIGHT_FEED)

        def run_light(data: bytes) -> list:
            return [ev for ev in light(data) if type(ev) is tuple]

        return run_light
    feed = parser.feed_data
    msg_type = RawRequestMessage

    def run(data: bytes) -> list:
        out = []
        for ev in feed(data):
            if type(ev) is msg_type:
                out.append((ev.method, ev.path, ev.raw_headers))
        return out

    return run


def llserver_b() -> Run:
    return RequestParser().feed_data


def _norm_llserver_b(events: list) -> List[Head]:
    msgs = [ev for ev in events if isinstance(ev, RawRequestMessage)]
    for m in msgs:
        if len(m.headers) != len(m.raw_headers):
            raise AssertionError("headers and raw_headers differ in length")
    return _norm_heads([(m.method, m.path, m.raw_headers) for m in msgs])


# -- httptools --------------------------------------------------------------


def httptools_a() -> Run:
    import httptools

    class Heads:
        """Collects method, URL and header pairs: the callbacks a user of
        httptools writes for them, and no others."""

        __slots__ = ("out", "url", "headers", "parser")

        def __init__(self) -> None:
            self.out: list = []
            self.url = b""
            self.headers: list = []

        def on_url(self, url: bytes) -> None:
            self.url += url

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name, value))

        def on_headers_complete(self) -> None:
            self.out.append((self.parser.get_method(), self.url, self.headers))
            self.url = b""
            self.headers = []

    heads = Heads()
    parser = httptools.HttpRequestParser(heads)
    heads.parser = parser
    feed = parser.feed_data

    def run(data: bytes) -> list:
        heads.out = out = []
        feed(data)
        return out

    return run


# -- zttp -------------------------------------------------------------------


def zttp_a() -> Run:
    import zttp

    conn = zttp.Connection(zttp.SERVER)
    receive, next_event, next_cycle = conn.receive_event, conn.next_event, conn.start_next_cycle
    request_t, eom_t, need_data = zttp.Request, zttp.EndOfMessage, zttp.NEED_DATA

    def run(data: bytes) -> list:
        out = []
        ev = receive(data)
        for _ in range(MAX_EVENTS_PER_FEED):
            if ev is need_data:
                break
            t = type(ev)
            if t is request_t:
                # headers is a lazy HeaderBlock; (a) asks for the list.
                out.append((ev.method, ev.target, ev.headers.to_list()))
                if ev.end_stream:
                    next_cycle()
            elif t is eom_t:
                next_cycle()
            ev = next_event()
        return out

    return run


# -- h11 ----------------------------------------------------------------------


def h11_a() -> Run:
    import h11

    conn = h11.Connection(h11.SERVER)
    request_t, eom_t, need_data = h11.Request, h11.EndOfMessage, h11.NEED_DATA
    response = h11.Response(status_code=200, headers=[("Content-Length", "0")])
    eom = h11.EndOfMessage()

    def run(data: bytes) -> list:
        out = []
        conn.receive_data(data)
        for _ in range(MAX_EVENTS_PER_FEED):
            ev = conn.next_event()
            if ev is need_data:
                break
            t = type(ev)
            if t is request_t:
                out.append((ev.method, ev.target, ev.headers.raw_items()))
            elif t is eom_t:
                # h11 moves to the next request only after a response.
                conn.send(response)
                conn.send(eom)
                conn.start_next_cycle()
            else:
                raise RuntimeError(f"h11: unexpected event {ev!r}")
        return out

    return run


# -- aiohttp's C parser -----------------------------------------------------


class _StubProtocol:
    """aiohttp's parser keeps a protocol to hand to the StreamReader of a
    request body; the corpus has no bodies, so nothing is ever called."""

    transport = None


class _StubLoop:
    """Likewise for the event loop."""


def aiohttp_b() -> Run:
    import aiohttp.http_parser
    from aiohttp._http_parser import HttpRequestParser

    if aiohttp.http_parser.HttpRequestParser is not HttpRequestParser:
        raise RuntimeError("aiohttp runs its pure-Python parser here (AIOHTTP_NO_EXTENSIONS?)")
    parser = HttpRequestParser(
        _StubProtocol(), _StubLoop(), 2**16, max_line_size=8190, max_field_size=8190
    )
    feed = parser.feed_data

    def run(data: bytes) -> list:
        messages, _upgraded, _tail = feed(data)
        return messages

    return run


def _norm_aiohttp(messages: list) -> List[Head]:
    return _norm_heads([(m.method, m.path, m.raw_headers) for m, _payload in messages])


def make_anchors() -> List[Anchor]:
    impl = platform.python_implementation()
    llv = getattr(llserver, "__version__", "?")
    anchors = [
        Anchor("llserver", "a", llserver_a, _norm_heads, lambda: llv,
               note=f"{llserver_a_entry()} -> method, path, raw_headers"),
        Anchor("httptools", "a", httptools_a, _norm_heads, _dist_version("httptools"),
               note="on_url + on_header + on_headers_complete"),
        Anchor("zttp", "a", zttp_a, _norm_heads, _dist_version("zttp"),
               note="receive_event/next_event, headers.to_list()"),
        Anchor("h11", "a", h11_a, _norm_heads, _dist_version("h11"),
               note="pure Python; sends a minimal response per request"),
        Anchor("llserver", "b", llserver_b, _norm_llserver_b, lambda: llv,
               note="feed_data: full RawRequestMessage"),
        Anchor("aiohttp C", "b", aiohttp_b, _norm_aiohttp, _dist_version("aiohttp"),
               note="aiohttp._http_parser.HttpRequestParser"),
    ]
    for a in anchors:
        try:
            a.factory()
        except ImportError as exc:
            a.skip = f"not installed on {impl} {platform.python_version()} ({exc.name or exc})"
        except Exception as exc:  # noqa: BLE001 - any failure to start is reported
            a.skip = f"cannot run: {exc}"
    return anchors


def verify(anchor: Anchor, sc: Scenario) -> Optional[str]:
    """Parse the first feeds and compare with the corpus; None when right."""
    run = anchor.factory()
    limit = max(1, min(len(sc.feeds), 64 // sc.per_feed))
    got: List[Head] = []
    try:
        for data in sc.feeds[:limit]:
            got.extend(anchor.normalize(run(data)))
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return f"raised {type(exc).__name__}: {exc}"
    want = _norm_heads(sc.expected[: limit * sc.per_feed])
    if got != want:
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                return f"request {i} parsed as {g!r}, expected {w!r}"
        return f"{len(got)} requests parsed, expected {len(want)}"
    return None


# ---------------------------------------------------------------------------
# llhttp in plain C: the ceiling
# ---------------------------------------------------------------------------


class Ceiling:
    name = "llhttp C (ceiling)"
    note = "llhttp_ceiling.c, gcc -O3, same spans"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.exe: Optional[Path] = None
        self.skip: Optional[str] = None
        self.version = "?"
        self.files: Dict[str, Path] = {}

    def build(self) -> None:
        gcc = shutil.which("gcc") or shutil.which("cc")
        if gcc is None:
            self.skip = "no C compiler"
            return
        sys.path.insert(0, str(ROOT / "vendor"))
        try:
            from fetch_llhttp import fetch

            info = fetch()
        except Exception as exc:  # noqa: BLE001 - FetchError, or no vendor/ here
            self.skip = f"llhttp sources unavailable: {exc}"
            return
        finally:
            sys.path.pop(0)
        self.version = str(info["version"])
        exe = self.workdir / "llhttp_ceiling"
        cmd = [gcc, "-O3", "-o", str(exe), f"-I{info['include_dir']}",
               str(HERE / "llhttp_ceiling.c"), *map(str, info["sources"])]  # type: ignore[arg-type]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            self.skip = f"build failed: {proc.stderr.strip()[:200]}"
            return
        self.exe = exe

    def corpus_file(self, sc: Scenario) -> Path:
        path = self.files.get(sc.key)
        if path is None:
            path = self.workdir / f"{sc.key}.feeds"
            with open(path, "wb") as f:
                for data in sc.feeds:
                    f.write(len(data).to_bytes(4, "little"))
                    f.write(data)
            self.files[sc.key] = path
        return path

    def measure(self, sc: Scenario, budget: float) -> Tuple[float, Dict[str, int]]:
        assert self.exe is not None
        proc = subprocess.run(
            [str(self.exe), str(self.corpus_file(sc)), f"{budget:.3f}", "1", CLOCK[0]],
            capture_output=True, text=True, timeout=60 + 10 * budget,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip())
        fields = dict(re.findall(r"(\w+)=([\d.]+)", proc.stdout))
        counts = {k: int(fields[k]) for k in ("messages_per_pass", "headers_per_pass")}
        return float(fields["rps"]), counts

    def verify(self, sc: Scenario) -> Optional[str]:
        _rps, counts = self.measure(sc, 0.01)
        want = {
            "messages_per_pass": len(sc.expected),
            "headers_per_pass": sum(len(h[2]) for h in sc.expected),
        }
        if counts != want:
            return f"parsed {counts}, expected {want}"
        return None


# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------


class Cell:
    """One parser on one scenario: its rounds, and where its stream stands."""

    def __init__(self, sc: Scenario, workload: str, name: str, note: str, version: str) -> None:
        self.scenario = sc
        self.workload = workload
        self.name = name
        self.note = note
        self.version = version
        self.skip: Optional[str] = None
        self.rates: List[float] = []
        self.position = 0  # next chunk: the unique stream goes on across rounds
        self.run_factory: Optional[Callable[[], Run]] = None
        self.ceiling: Optional[Ceiling] = None
        self.source: Optional[str] = None  # set when the rates come from --compare

    def measure(self, budget: float) -> float:
        if self.ceiling is not None:
            return self.ceiling.measure(self.scenario, budget)[0]
        assert self.run_factory is not None
        run = self.run_factory()  # a fresh connection per round
        chunks = self.scenario.chunks
        nchunks = len(chunks)
        i = self.position
        clock = time.process_time if CLOCK[0] == "cpu" else time.perf_counter
        gc.collect()
        done = 0
        t0 = clock()
        deadline = t0 + budget
        t = t0
        for _ in range(MAX_CHUNKS):
            for data in chunks[i]:
                run(data)
            done += 1
            i += 1
            if i == nchunks:
                i = 0
            t = clock()
            if t >= deadline:
                break
        self.position = i
        return done * self.scenario.chunk_requests / (t - t0)

    # -- summary

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def build_cells(scenarios: List[Scenario], anchors: List[Anchor], ceiling: Ceiling) -> List[Cell]:
    cells = []
    for sc in scenarios:
        c = Cell(sc, "a", Ceiling.name, Ceiling.note, f"llhttp {ceiling.version}")
        c.ceiling = ceiling
        c.skip = ceiling.skip
        if c.skip is None:
            c.skip = ceiling.verify(sc)
            if c.skip:
                c.skip = f"verification failed: {c.skip}"
        cells.append(c)
        for a in anchors:
            c = Cell(sc, a.workload, a.name, a.note, a.version())
            c.run_factory = a.factory
            c.skip = a.skip
            if c.skip is None:
                problem = verify(a, sc)
                if problem:
                    c.skip = f"verification failed: {problem}"
            cells.append(c)
    return cells


def import_compare(cells: List[Cell], path: str) -> str:
    """Fill the cells this interpreter cannot run (the compiled anchors on
    PyPy) with the medians of an earlier run's JSON, so that ratios across
    interpreters can be read; the table marks them."""
    with open(path, encoding="utf-8") as f:
        other = json.load(f)
    label = f"{other['meta']['python']}, {other['meta']['date']} ({os.path.basename(path)})"
    found = {
        (s["key"], r["workload"], r["parser"]): r
        for s in other["scenarios"] for r in s["results"] if "rounds" in r
    }
    for c in cells:
        r = found.get((c.scenario.key, c.workload, c.name))
        if c.skip is not None and c.ceiling is None and r is not None:
            c.skip, c.rates, c.source, c.version = None, list(r["rounds"]), label, r["version"]
    return label


def run_rounds(cells: List[Cell], rounds: int, budget: float, warmup: float) -> None:
    live = [c for c in cells if c.skip is None and c.source is None]
    if warmup > 0:
        for c in live:
            c.measure(warmup)
    for r in range(rounds):
        t = time.perf_counter()
        for c in live:
            c.rates.append(c.measure(budget))
        print(f"  round {r + 1}/{rounds} done in {time.perf_counter() - t:.1f} s", file=sys.stderr)


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def _baseline(cells: List[Cell], workload: str) -> Optional[Cell]:
    names = ("httptools", "zttp") if workload == "a" else ("aiohttp C",)
    ready = [c for c in cells if c.workload == workload and c.name in names and c.rates]
    return max(ready, key=lambda c: c.median) if ready else None


def _llserver(cells: List[Cell], workload: str) -> Optional[Cell]:
    for c in cells:
        if c.workload == workload and c.name == "llserver" and c.rates:
            return c
    return None


def _fmt_rate(x: float) -> str:
    return f"{x / 1000:,.0f}k" if x >= 10_000 else f"{x / 1000:,.1f}k"


def summarize(scenarios: List[Scenario], cells: List[Cell]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"scenarios": [], "targets": []}
    for sc in scenarios:
        mine = [c for c in cells if c.scenario is sc]
        base = {w: _baseline(mine, w) for w in ("a", "b")}
        rows = []
        for c in mine:
            row: Dict[str, Any] = {
                "workload": c.workload, "parser": c.name, "version": c.version, "note": c.note,
            }
            if c.source:
                row["measured_in"] = c.source
            if c.skip or not c.rates:
                row["skipped"] = c.skip or "no rounds"
            else:
                b = base[c.workload]
                row.update(
                    rps_median=c.median, rps_min=min(c.rates), rps_max=max(c.rates),
                    us_per_request=1e6 / c.median, rounds=c.rates,
                    ratio=(c.median / b.median) if b else None,
                    ratio_to=(b.name if b else None),
                )
            rows.append(row)
        out["scenarios"].append({
            "key": sc.key, "title": sc.title, "corpus": sc.corpus, "per_feed": sc.per_feed,
            "note": sc.note, "distinct_requests": len(sc.heads),
            "bytes": [min(sc.sizes), max(sc.sizes)],
            "headers": [min(sc.header_counts), max(sc.header_counts)],
            "results": rows,
        })
        for w, goal in (("a", TARGET_A), ("b", TARGET_B)):
            me, b = _llserver(mine, w), base[w]
            ratio = me.median / b.median if me and b else None
            out["targets"].append({
                "scenario": sc.key, "workload": w, "target": goal,
                "baseline": b.name if b else None, "ratio": ratio,
                "met": None if ratio is None else ratio >= goal,
            })
    return out


def print_report(summary: Dict[str, Any], meta: Dict[str, Any]) -> None:
    print(f"llserver parser benchmark — {meta['date']}, {meta['python']}, {meta['cpus']} CPUs")
    clock = "process CPU time" if meta["clock"] == "cpu" else "wall-clock time"
    print(f"{meta['rounds']} interleaved rounds of {meta['budget']} s per cell (after a "
          f"{meta['warmup']} s warm-up), timed in {clock}; median (min-max) requests/s; "
          "GC enabled")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    print(f"llserver from {meta['llserver_origin']}; workload (a) through {meta['llserver_a_entry']}")
    print("ratio: (a) to the faster of httptools and zttp, (b) to aiohttp C")
    print(f"load average at start / end: {meta['loadavg_start']} / {meta['loadavg_end']}")
    if meta.get("compare"):
        print(f"* not runnable here; median of an earlier run: {meta['compare']}")
    for s in summary["scenarios"]:
        print()
        print(f"{s['title']} ({s['note']})")
        print(f"  {'':3} {'parser':20} {'req/s':>8} {'(min-max)':>17} {'µs/req':>7} {'ratio':>6}")
        for r in s["results"]:
            label = f"({r['workload']})"
            name = r["parser"] + (" *" if "measured_in" in r else "")
            if "skipped" in r:
                print(f"  {label:3} {name:20} skipped: {r['skipped']}")
                continue
            span = f"({_fmt_rate(r['rps_min'])}-{_fmt_rate(r['rps_max'])})"
            ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
            print(f"  {label:3} {name:20} {_fmt_rate(r['rps_median']):>8} {span:>17} "
                  f"{r['us_per_request']:7.2f} {ratio:>6}")

    # Unique heads beside the repeated corpus, one line per parser.
    keys = [s["key"] for s in summary["scenarios"]]
    print()
    print("Summary, median k requests/s (unique-heads beside repeated):")
    order = sorted(keys, key=lambda k: (("x16" in k), ("tiny" in k), ("unique" in k)))
    short = {k: k.replace("browser-unique", "uniq").replace("browser", "brow") for k in order}
    print(f"  {'':3} {'parser':20} " + " ".join(f"{short[k]:>9}" for k in order))
    first = summary["scenarios"][0]["results"]
    for i, r0 in enumerate(first):
        vals = []
        for k in order:
            r = next(s for s in summary["scenarios"] if s["key"] == k)["results"][i]
            vals.append(f"{r['rps_median'] / 1000:9.0f}" if "rps_median" in r else f"{'-':>9}")
        print(f"  {'(' + r0['workload'] + ')':3} {r0['parser']:20} " + " ".join(vals))

    print()
    print(f"Targets (reported, not asserted): (a) llserver >= {TARGET_A}x max(httptools, zttp); "
          f"(b) llserver >= {TARGET_B}x aiohttp C")
    for t in summary["targets"]:
        if t["ratio"] is None:
            verdict = "n/a (a parser is missing)"
        else:
            verdict = f"{t['ratio']:.2f}x vs {t['baseline']}: " + ("met" if t["met"] else "NOT met")
        print(f"  {t['scenario']:20} ({t['workload']}) target {t['target']}x  {verdict}")


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def llserver_origin() -> str:
    """Where the llserver under test comes from: the checkout's commit when it
    is imported from this checkout (``+dirty`` if its sources differ), else
    the installed package's location (results move with the parser)."""
    path = Path(llserver.__file__).resolve().parent
    if path != ROOT / "llserver":
        return f"installed at {path}"
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "llserver", "build_ffi.py", "vendor"],
            capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "this checkout (no git)"
    return f"this checkout, git {head or '?'}{'+dirty' if dirty else ''}"


def collect_meta(args: argparse.Namespace, anchors: List[Anchor], ceiling: Ceiling) -> Dict[str, Any]:
    versions = {"llserver": getattr(llserver, "__version__", "?")}
    for a in anchors:
        if a.name != "llserver":
            versions[a.name] = a.version() if a.skip is None else "missing"
    for dist in ("cffi", "multidict"):
        versions[dist] = _dist_version(dist)()
    versions["llhttp"] = ceiling.version
    return {
        "date": time.strftime("%Y-%m-%d"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "budget": args.budget,
        "warmup": args.warmup,
        "clock": CLOCK[0],
        "unique_pool": args.unique_pool,
        "llserver_a_entry": llserver_a_entry(),
        "llserver_origin": llserver_origin(),
        "loadavg_start": args.loadavg_start,
        "loadavg_end": _loadavg(),
        "versions": versions,
    }


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds of 0.15 s (a smoke run)")
    ap.add_argument("--rounds", type=int, help="rounds per cell (default 7; --quick 3)")
    ap.add_argument("--budget", type=float, help="seconds per cell and round (default 0.3; --quick 0.15)")
    ap.add_argument("--warmup", type=float,
                    help="untimed seconds per cell first (default 0.2, on PyPy 1.0 for the JIT; --quick 0.05)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="time in process CPU time (default; steadier on a busy machine) "
                         "or wall-clock time")
    ap.add_argument("--no-freeze", action="store_true",
                    help="leave the benchmark's own objects to the collector (see gc.freeze)")
    ap.add_argument("--unique-pool", type=int, default=16384,
                    help="distinct requests in the unique-heads corpus (default 16384)")
    ap.add_argument("--only", help="run only scenarios whose key contains this (e.g. browser-x1)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--compare", metavar="PATH",
                    help="JSON of an earlier run (e.g. on CPython): its medians stand in for "
                         "the parsers that cannot run here, marked *")
    args = ap.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.budget = args.budget or (0.15 if args.quick else 0.3)
    CLOCK[0] = args.clock
    pypy = platform.python_implementation() == "PyPy"
    if args.warmup is None:
        args.warmup = 0.05 if args.quick else (1.0 if pypy else 0.2)
    args.loadavg_start = _loadavg()
    if not (1 <= args.rounds <= 1000 and 0 < args.budget <= 60 and 0 <= args.warmup <= 60):
        ap.error("rounds must be 1-1000, budget in (0, 60] s, warmup in [0, 60] s")
    if not 16 <= args.unique_pool <= 1_000_000:
        ap.error("--unique-pool must be 16-1000000")

    scenarios = make_scenarios(args.unique_pool)
    if args.only:
        scenarios = [s for s in scenarios if args.only in s.key]
        if not scenarios:
            ap.error(f"no scenario key contains {args.only!r}")
    anchors = make_anchors()
    with tempfile.TemporaryDirectory(prefix="llserver-bench-") as tmp:
        ceiling = Ceiling(Path(tmp))
        print("building the llhttp C ceiling ...", file=sys.stderr)
        ceiling.build()
        cells = build_cells(scenarios, anchors, ceiling)
        # The corpus and its expected parses are ~10^5 tracked objects that a
        # server would not have; freezing them keeps the collector's full
        # passes from charging their traversal to allocation-heavy parsers.
        # The collector stays enabled for everything the parsers allocate.
        gc.collect()
        if hasattr(gc, "freeze") and not args.no_freeze:
            gc.freeze()
        n_live = sum(c.skip is None for c in cells)
        est = n_live * (args.rounds * args.budget + args.warmup)
        print(f"{n_live} cells x {args.rounds} rounds, about {est:.0f} s", file=sys.stderr)
        run_rounds(cells, args.rounds, args.budget, args.warmup)
        meta = collect_meta(args, anchors, ceiling)
    if args.compare:
        meta["compare"] = import_compare(cells, args.compare)
    summary = summarize(scenarios, cells)
    print_report(summary, meta)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, **summary}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
