"""``python -m llserver``: serve the demo handler on 127.0.0.1:8080.

Until the drop-in ``ServerHttpProtocol`` lands this is a minimal protocol
built directly on :class:`llserver.parser.RequestParser`: it answers every
request with the design document's page and every malformed request with
its status code, then closes.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
from typing import Optional

from .errors import HttpProcessingError
from .message import RawRequestMessage
from .parser import END_OF_MESSAGE, RequestParser

BODY = b"<h1>It Works!</h1>"
REASONS = {400: "Bad Request", 413: "Payload Too Large", 414: "URI Too Long",
           431: "Request Header Fields Too Large", 501: "Not Implemented",
           505: "HTTP Version Not Supported"}


class DemoProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = RequestParser()
        self.transport: Optional[asyncio.Transport] = None
        self.current: Optional[RawRequestMessage] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        for event in self.parser.feed_data(data):
            if isinstance(event, RawRequestMessage):
                self.current = event
            elif event is END_OF_MESSAGE and self.current is not None:
                msg = self.current
                close = msg.should_close
                head = (
                    f"HTTP/{msg.version.major}.{msg.version.minor} 200 OK\r\n"
                    "Content-Type: text/html\r\n"
                    f"Content-Length: {len(BODY)}\r\n"
                    f"Date: {email.utils.formatdate(usegmt=True)}\r\n"
                    "Server: llserver-demo\r\n"
                    + ("Connection: close\r\n" if close else "")
                    + "\r\n"
                )
                self.transport.write(head.encode() + (b"" if msg.method == "HEAD" else BODY))
                if close:
                    self.transport.close()
                    return
            elif isinstance(event, HttpProcessingError):
                reason = REASONS.get(event.code, "Bad Request")
                self.transport.write(
                    f"HTTP/1.1 {event.code} {reason}\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                self.transport.close()
                return


def main(argv: Optional[list] = None) -> None:
    args = argparse.ArgumentParser(prog="python -m llserver")
    args.add_argument("--host", default="127.0.0.1")
    args.add_argument("--port", type=int, default=8080)
    ns = args.parse_args(argv)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(DemoProtocol, ns.host, ns.port)
        print("serving on", server.sockets[0].getsockname(), flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
