"""Mutation fuzzer for the request parser and the connection protocol.

Each input is a request corpus entry mutated (bytes flipped, inserted,
deleted, duplicated, spliced with another entry), then:

* fed to a fresh :class:`~llserver.parser.RequestParser` whole and, for a
  share of inputs, split at random points: both must give the same events
  (bodies joined), and the only exceptions allowed are the parser's typed
  errors, returned in-band as the last event;
* every ``--protocol-every`` inputs, fed to a connected
  ``ServerHttpProtocol`` (a transport that only records) whose handler reads
  the body: the protocol must not raise, must answer or close, and must not
  leave its handler running.

Runs for ``--count`` inputs or ``--seconds``, whichever comes first, prints
the count and any failure (with the input, repr'd) and exits non-zero on
one.  No sockets, no network.

    python fuzz/fuzz_requests.py --count 10000000 --seconds 3600
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import time
from typing import Optional

try:
    import llserver
except ImportError:  # a checkout without an installed llserver
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    import llserver

from llserver import errors
from llserver.parser import END_OF_MESSAGE, RequestParser, Upgrade
from llserver.server import ServerHttpProtocol

CORPUS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /a?b=c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\na=1&b=2&a=3",
    b"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4;ext=1\r\ndata\r\n4\r\nline\r\n0\r\nT: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nxyz",
    b"CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\ntunnel",
    b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET http://e.com/p HTTP/1.1\r\nHost: e.com\r\nCookie: a=b; c=d\r\n"
    b"Accept: */*\r\nUser-Agent: fuzz\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n"
    b"\x1f\x8b\x08\x00",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
]

TOKENS = [b"\r\n", b"\r", b"\n", b" ", b"\t", b":", b"\x00", b"chunked", b"Content-Length: ",
          b"Transfer-Encoding: ", b"0\r\n\r\n", b"HTTP/1.1", b"Host: x\r\n", b"\xff", b"ffffffff"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(6)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:
            buf[pos:pos] = rng.choice(TOKENS)
        elif op == 2 and buf:
            del buf[pos : pos + rng.randint(1, 8)]
        elif op == 3:
            end = min(len(buf), pos + rng.randint(1, 32))
            buf[pos:pos] = buf[pos:end] * rng.randint(1, 4)
        elif op == 4:
            buf[pos:pos] = rng.choice(CORPUS)
        else:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    return bytes(buf)


def normalise(events: list) -> list:
    out: list = []
    for ev in events:
        if isinstance(ev, bytes):
            if out and isinstance(out[-1], bytearray):
                out[-1] += ev
                continue
            out.append(bytearray(ev))
        elif isinstance(ev, Exception):
            out.append((type(ev).__name__, str(ev)))
        elif isinstance(ev, Upgrade):
            out.append(("upgrade", ev.tail))
        else:
            out.append(ev)
    return [bytes(e) if isinstance(e, bytearray) else e for e in out]


def parse(pieces: list, max_messages: Optional[int] = None) -> list:
    """Events of feeding ``pieces``; after an Upgrade, the pieces that follow
    belong to the new protocol and are appended to its tail.  With
    ``max_messages``, bytes the parser holds back are fed (``b""``) before
    the next piece, as the server does."""
    parser = RequestParser(max_messages=max_messages)
    events: list = []
    for n, piece in enumerate(pieces):
        events.extend(parser.feed_data(piece))
        while parser.pending and not (events and isinstance(events[-1], (Exception, Upgrade))):
            events.extend(parser.feed_data(b""))
        if events and isinstance(events[-1], Exception):
            break
        if events and isinstance(events[-1], Upgrade):
            events[-1] = Upgrade(events[-1].tail + b"".join(pieces[n + 1 :]))
            break
    return events


def check_parser(rng: random.Random, data: bytes, split: bool) -> None:
    whole = parse([data])
    for ev in whole[:-1]:
        assert not isinstance(ev, Exception), "an error that is not the last event"
    if whole and isinstance(whole[-1], Exception):
        assert isinstance(whole[-1], errors.HttpProcessingError), repr(whole[-1])
    assert whole.count(END_OF_MESSAGE) <= data.count(b"HTTP/") + 1
    if split and len(data) > 1:
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 6))))
        bounds = [0, *cuts, len(data)]
        pieces = [data[a:b] for a, b in zip(bounds, bounds[1:])]
        assert normalise(parse(pieces)) == normalise(whole), "split changed the events"
        budget = rng.randint(1, 3)
        assert normalise(parse(pieces, budget)) == normalise(whole), "max_messages changed them"


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closed = False

    def write(self, data) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.closed = True

    def get_extra_info(self, name, default=None):
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Reader(ServerHttpProtocol):
    async def handle_request(self, message, payload):
        body = await payload.read()
        response = llserver.Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Length", str(len(body)))
        response.send_headers()
        response.write(body)
        await response.write_eof()


class _Errors(logging.Handler):
    """Counts ERROR records of the server logger: a 500 means a bug here."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_ERRORS = _Errors()
logging.getLogger("llserver.server").addHandler(_ERRORS)
logging.getLogger("llserver.server").propagate = False


async def check_protocol(data: bytes, inline: bool, max_pipelined: int) -> None:
    transport = _Transport()
    proto = _Reader(
        access_log=None,
        lingering_time=0,
        body_timeout=0.05,
        header_timeout=0.05,
        max_pipelined=max_pipelined,
    )
    proto.connection_made(transport)
    if inline:
        # As a transport delivers it: from a loop callback while the
        # connection's task is idle, so requests are served from
        # data_received (the server's inline path).
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        loop.call_soon(proto.data_received, data)
        loop.call_soon(proto.eof_received)
        await asyncio.sleep(0)
    else:  # from inside a task: the connection's task is woken instead
        proto.data_received(data)
        proto.eof_received()
    for _ in range(50):
        await asyncio.sleep(0)
        if proto._request_handler is None:
            break
    proto.connection_lost(None)
    for _ in range(5):
        await asyncio.sleep(0)
    handler = proto._request_handler
    assert handler is None or handler.done(), "handler still running after connection_lost"
    if _ERRORS.records:
        record = _ERRORS.records[0]
        _ERRORS.records.clear()
        raise AssertionError(f"server logged an error: {record.getMessage()} {record.exc_info!r}")


async def run(count: int, seconds: float, seed: int, protocol_every: int) -> int:
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    done = 0
    report = time.monotonic() + 10
    while done < count and time.monotonic() < deadline:
        data = mutate(rng, rng.choice(CORPUS))
        try:
            check_parser(rng, data, split=done % 4 == 0)
            if protocol_every and done % protocol_every == 0:
                turn = done // protocol_every
                pipelined = 16 if turn % 3 == 0 else 2
                await check_protocol(data, inline=turn % 2 == 0, max_pipelined=pipelined)
        except Exception as exc:  # a failure: show the input and stop
            print(f"FAILED after {done} inputs on {data!r}: {exc!r}", flush=True)
            return 1
        done += 1
        if time.monotonic() > report:
            report += 10
            print(f"... {done} inputs", flush=True)
    print(f"{done} inputs, no failure (seed {seed})", flush=True)
    return 0


def main() -> None:
    cli = argparse.ArgumentParser()
    cli.add_argument("--count", type=int, default=100_000)
    cli.add_argument("--seconds", type=float, default=600)
    cli.add_argument("--seed", type=int, default=1)
    cli.add_argument("--protocol-every", type=int, default=20)
    ns = cli.parse_args()
    sys.exit(asyncio.run(run(ns.count, ns.seconds, ns.seed, ns.protocol_every)))


if __name__ == "__main__":
    main()
