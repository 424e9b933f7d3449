"""The design document's first example ("Run a basic server"), ported.

Only the imports changed (``aiohttp`` -> ``llserver``), plus a command line
for host/port so tests can run it on a free port:

    python examples/basic_server.py --port 8080
"""

import argparse
import asyncio

import llserver
import llserver.server


class HttpRequestHandler(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        response = llserver.Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Type", "text/html")
        response.add_header("Content-Length", "18")
        response.send_headers()
        response.write(b"<h1>It Works!</h1>")
        await response.write_eof()


if __name__ == "__main__":
    cli = argparse.ArgumentParser()
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", default="8080")
    args = cli.parse_args()

    # The design document's loop handling, kept as it was written.  On
    # Python 3.12+ use asyncio.new_event_loop() / asyncio.run() instead.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    f = loop.create_server(
        lambda: HttpRequestHandler(debug=True, keepalive_timeout=75), args.host, args.port
    )
    srv = loop.run_until_complete(f)
    print("serving on", srv.sockets[0].getsockname(), flush=True)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
