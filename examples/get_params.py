"""The design document's "Handling GET params" example, ported.

The document's handler only printed the parameters; this one also answers
with them, so a client sees the result:

    python examples/get_params.py --port 8080
    curl 'http://127.0.0.1:8080/p?x=1&x=2&y=3'
"""

import argparse
from urllib.parse import parse_qsl, urlparse

import llserver
import llserver.server
from llserver import MultiDict


class HttpRequestHandler(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        response = llserver.Response(self.writer, 200, http_version=message.version)
        get_params = MultiDict(parse_qsl(urlparse(message.path).query))
        print("Passed in GET", get_params, flush=True)
        body = repr(get_params).encode()
        response.add_header("Content-Type", "text/plain")
        response.add_header("Content-Length", str(len(body)))
        response.send_headers()
        response.write(body)
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
