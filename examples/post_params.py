"""The design document's "Handling POST data" example, ported.

``MultiDict(parse_qsl(data))`` with ``data`` the *bytes* of the body raised
TypeError in aiohttp 1.1 (multidict wants str keys); ``llserver.MultiDict``
accepts the bytes pairs, so the example works as written:

    python examples/post_params.py --port 8080
    curl -d 'a=1&b=2&a=3' http://127.0.0.1:8080/f
"""

import argparse
from urllib.parse import parse_qsl

import llserver
import llserver.server
from llserver import MultiDict


class HttpRequestHandler(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        response = llserver.Response(self.writer, 200, http_version=message.version)
        data = await payload.read()
        post_params = MultiDict(parse_qsl(data))
        print("Passed in POST", post_params, flush=True)
        body = repr(post_params).encode()
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
