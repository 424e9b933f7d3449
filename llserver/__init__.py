"""llserver: a strict, fast asyncio HTTP/1.1 server on llhttp through cffi.

A drop-in successor of aiohttp 1.1's low-level ``aiohttp.server`` API.
"""

from __future__ import annotations

from . import errors
from ._version import __version__ as __version__
from .errors import *  # noqa: F401,F403
from .message import HttpVersion, HttpVersion10, HttpVersion11, RawRequestMessage
from .parser import RequestParser

__all__ = (
    "HttpVersion",
    "HttpVersion10",
    "HttpVersion11",
    "RawRequestMessage",
    "RequestParser",
    "errors",
    *errors.__all__,
)
