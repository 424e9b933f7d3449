"""The design document's first handler, as ``python -m llserver`` serves it."""

from __future__ import annotations

from typing import Any

from .message import RawRequestMessage
from .response import Response
from .server import ServerHttpProtocol


class HttpRequestHandler(ServerHttpProtocol):
    async def handle_request(self, message: RawRequestMessage, payload: Any) -> None:
        response = Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Type", "text/html")
        response.add_header("Content-Length", "18")
        response.send_headers()
        response.write(b"<h1>It Works!</h1>")
        await response.write_eof()
