"""Server CPU per request without sockets: a transport that only counts.

Feeds one request per loop iteration into a connected ServerHttpProtocol and
lets the handler answer, so the figure is llserver's own Python/C work per
request (parser, dispatch, handler, Response, writer), free of kernel and
load-generator noise.  Use it to compare before/after a change; the
end-to-end numbers come from benchmarks/e2e (wrk).

    python benchmarks/hot_path.py [--requests 50000] [--pipelined 1]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

try:
    import llserver  # noqa: F401
except ImportError:  # running from a checkout without installing
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from llserver.demo import HttpRequestHandler

REQUEST = (
    b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\n"
    b"User-Agent: wrk\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
)


class CountingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.bytes = 0
        self.closed = False

    def write(self, data) -> None:
        self.writes += 1
        self.bytes += len(data)

    def get_extra_info(self, name, default=None):
        return default

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def measure(requests: int, pipelined: int) -> float:
    transport = CountingTransport()
    proto = HttpRequestHandler(access_log=None)
    proto.connection_made(transport)
    data = REQUEST * pipelined
    rounds = requests // pipelined
    # data_received runs as a loop callback, as a transport calls it (not
    # from inside this task).
    call_soon = asyncio.get_running_loop().call_soon
    feed = proto.data_received
    for _ in range(100):  # warm up
        call_soon(feed, data)
        await asyncio.sleep(0)
    gc.collect()
    start = time.perf_counter()
    for _ in range(rounds):
        call_soon(feed, data)
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - start
    assert not transport.closed, "the connection closed during the run"
    proto.connection_lost(None)
    return elapsed / (rounds * pipelined) * 1e6


def main() -> None:
    cli = argparse.ArgumentParser()
    cli.add_argument("--requests", type=int, default=50000)
    cli.add_argument("--pipelined", type=int, default=1)
    cli.add_argument("--rounds", type=int, default=5)
    ns = cli.parse_args()
    results = sorted(
        asyncio.run(measure(ns.requests, ns.pipelined)) for _ in range(ns.rounds)
    )
    print(
        f"{results[len(results) // 2]:.2f} µs/request (median of {ns.rounds}, "
        f"min {results[0]:.2f}, max {results[-1]:.2f}), pipelined={ns.pipelined}"
    )


if __name__ == "__main__":
    main()
