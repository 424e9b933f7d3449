"""llserver target: the seed-style handler of examples/basic_server.py.

    python llserver_app.py --port 8080 [--loop asyncio|uvloop]

``Response(self.writer, 200, http_version=message.version)``, two
``add_header`` calls, ``send_headers``, ``write``, ``await write_eof()``, on a
``loop.create_server`` as the design document serves it.  Imports the
installed llserver, or the checkout this file lives in when none is installed.
"""

import argparse
import asyncio
import sys
from pathlib import Path

try:
    import llserver
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import llserver
from bodies import CHUNK, CHUNKS, HELLO, STREAM_SIZE

import llserver.server

Response = llserver.Response


class HttpRequestHandler(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        path = message.path
        if path == "/":
            response = Response(self.writer, 200, http_version=message.version)
            response.add_header("Content-Type", "text/html")
            response.add_header("Content-Length", "18")
            response.send_headers()
            response.write(HELLO)
            await response.write_eof()
        elif path == "/upload":
            body = await payload.read()
            reply = b"%d" % len(body)
            response = Response(self.writer, 200, http_version=message.version)
            response.add_header("Content-Type", "text/plain")
            response.add_header("Content-Length", str(len(reply)))
            response.send_headers()
            response.write(reply)
            await response.write_eof()
        elif path == "/stream":
            response = Response(self.writer, 200, http_version=message.version)
            response.add_header("Content-Type", "application/octet-stream")
            response.add_header("Content-Length", str(STREAM_SIZE))
            response.send_headers()
            for _ in range(CHUNKS):
                await response.write(CHUNK, drain=True)
            await response.write_eof()
        else:
            response = Response(self.writer, 404, http_version=message.version)
            response.add_header("Content-Length", "0")
            response.send_headers()
            await response.write_eof()


def main() -> None:
    cli = argparse.ArgumentParser()
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = cli.parse_args()
    if args.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(lambda: HttpRequestHandler(keepalive_timeout=75), args.host, args.port)
    )
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
