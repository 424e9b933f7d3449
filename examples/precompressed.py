"""The design document's "Sending pre-compressed data" example, ported.

The document showed it with ``aiohttp.web``; the low-level equivalent sets
``Content-Encoding`` itself and does not call ``enable_compression``, so the
bytes pass through untouched:

    python examples/precompressed.py --port 8080
    curl --compressed http://127.0.0.1:8080/
"""

import argparse
import gzip

import llserver
import llserver.server

DATA = gzip.compress(b"mydata")


class HttpRequestHandler(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        response = llserver.Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Encoding", "gzip")
        response.add_header("Content-Length", str(len(DATA)))
        response.send_headers()
        response.write(DATA)
        await response.write_eof()


if __name__ == "__main__":
    cli = argparse.ArgumentParser()
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, default=8080)
    args = cli.parse_args()
    llserver.run(
        HttpRequestHandler,
        args.host,
        args.port,
        ready=lambda srv: print("serving on", srv.sockets[0].getsockname(), flush=True),
    )
