"""aiohttp 3.x target: the low-level ``aiohttp.web.Server`` on ``loop.create_server``.

    python aiohttp_app.py --port 8080
"""

import argparse
import asyncio

from aiohttp import web
from bodies import CHUNK, CHUNKS, HELLO, STREAM_SIZE


async def handler(request: web.BaseRequest) -> web.StreamResponse:
    path = request.path
    if path == "/":
        return web.Response(body=HELLO, content_type="text/html")
    if path == "/upload":
        body = await request.read()
        return web.Response(body=b"%d" % len(body), content_type="text/plain")
    if path == "/stream":
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = STREAM_SIZE
        await response.prepare(request)
        for _ in range(CHUNKS):
            await response.write(CHUNK)
        await response.write_eof()
        return response
    return web.Response(status=404)


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(web.Server(handler), host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    cli = argparse.ArgumentParser()
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, required=True)
    args = cli.parse_args()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
