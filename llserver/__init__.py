"""llserver: a strict, fast asyncio HTTP/1.1 server on llhttp through cffi.

A drop-in successor of aiohttp 1.1's low-level ``aiohttp.server`` API: the
names aiohttp exported at top level for the server live here, and
``llserver.server`` is imported eagerly so that both ``import llserver as
aiohttp; aiohttp.server.ServerHttpProtocol`` and ``import llserver.server``
work after an import rewrite.
"""

from __future__ import annotations

from . import (
    errors,
    hdrs,
    server,  # noqa: E402  (eager, after the names it imports)
)
from ._multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy, istr, upstr
from ._version import __version__ as __version__
from .compat import create_future, ensure_future
from .embedding import run, serve, shutdown, start_server  # noqa: E402
from .errors import *  # noqa: F403
from .message import HttpVersion, HttpVersion10, HttpVersion11, RawRequestMessage
from .parser import RequestParser
from .response import Response
from .streams import (
    ChunksQueue,
    DataQueue,
    EofStream,
    FlowControlChunksQueue,
    FlowControlDataQueue,
    FlowControlStreamReader,
    StreamReader,
)
from .writer import StreamWriter

__all__ = (
    "CIMultiDict",
    "CIMultiDictProxy",
    "ChunksQueue",
    "DataQueue",
    "EofStream",
    "FlowControlChunksQueue",
    "FlowControlDataQueue",
    "FlowControlStreamReader",
    "HttpVersion",
    "HttpVersion10",
    "HttpVersion11",
    "MultiDict",
    "MultiDictProxy",
    "RawRequestMessage",
    "RequestParser",
    "Response",
    "StreamReader",
    "StreamWriter",
    "create_future",
    "ensure_future",
    "errors",
    "hdrs",
    "istr",
    "run",
    "serve",
    "shutdown",
    "server",
    "start_server",
    "upstr",
    *errors.__all__,
)
