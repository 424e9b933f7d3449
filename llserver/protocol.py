"""Import path of aiohttp 1.1's ``aiohttp.protocol`` for the server-side names.

``from aiohttp.protocol import Response, HttpVersion11`` keeps working after
the import rewrite.
"""

from .message import HttpVersion, HttpVersion10, HttpVersion11, RawRequestMessage
from .response import Response

__all__ = ("Response", "HttpVersion", "HttpVersion10", "HttpVersion11", "RawRequestMessage")
