"""Helpers that keep pre-``async def`` code running.

aiohttp 1.1 was written with ``@asyncio.coroutine`` and ``yield from``, and so
were the handlers of its users.  ``asyncio.coroutine`` is gone since Python
3.11, so this module offers:

- :func:`coroutine`, a drop-in for the decorator, so a legacy
  ``@asyncio.coroutine def handle_request(...): yield from ...`` only needs its
  import changed;
- :func:`ensure_awaitable`, which the server applies to whatever
  ``handle_request`` returned (api-spec §11 row 1): the handler may be
  ``async def``, a legacy generator, a plain function returning a Future, or a
  test double such as ``MagicMock`` whose return value 1.1 iterated as empty;
- :func:`create_future` and :func:`ensure_future`, two helpers that
  ``aiohttp.helpers`` exported.

aiohttp 1.1 also exported ``Timeout`` (from ``async_timeout`` 1.x).  It is not
provided: that package no longer works on supported Pythons, and the server
uses loop timers (``call_at``) for its deadlines, which also work on 3.9 and
PyPy where ``asyncio.timeout`` does not exist.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._awaitables import DONE

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Generator

__all__ = (
    "DONE",
    "CoroutineType",
    "coroutine",
    "create_future",
    "ensure_awaitable",
    "ensure_future",
)

_F = TypeVar("_F", bound="Callable[..., Any]")

#: The type of ``async def`` coroutine objects, re-exported so the server's hot
#: path can test ``type(result) is CoroutineType`` without calling anything.
CoroutineType = types.CoroutineType


def coroutine(func: _F) -> _F:
    """Mark ``func`` as a coroutine function, as ``@asyncio.coroutine`` did.

    - A generator function is flagged with :func:`types.coroutine`, so its
      generators can be awaited and can ``yield from`` native coroutines.
    - An ``async def`` function is returned unchanged.
    - Any other function is wrapped so calling it gives something awaitable
      whose result is the function's return value: an awaitable return value is
      awaited first, anything else is the result as is.  ``asyncio.coroutine``
      behaved this way, and legacy code relied on decorating functions that
      merely returned a Future or a value.
    """
    if inspect.iscoroutinefunction(func):
        return func
    if inspect.isgeneratorfunction(func):
        return cast(_F, types.coroutine(func))

    @functools.wraps(func)
    @types.coroutine
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        result = func(*args, **kwargs)
        if isinstance(result, (types.CoroutineType, types.GeneratorType)):
            # A coroutine, or a generator: both can be delegated to directly
            # from a types.coroutine-flagged generator.
            result = yield from cast("Generator[Any, Any, Any]", result)
        elif hasattr(type(result), "__await__"):
            result = yield from result.__await__()
        return result

    return wrapper  # type: ignore[return-value]


@types.coroutine
def _drive(gen: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """Run a bare generator as a coroutine: whatever it yields goes to the task.

    A legacy handler's generator yields Futures (``yield from fut``) or None
    (a bare ``yield``, i.e. "let others run"), which is what a Task accepts.
    """
    return (yield from gen)


def ensure_awaitable(result: Any) -> Awaitable[Any]:
    """Turn what a request handler returned into something to ``await``.

    - a coroutine, Future, Task or any object with ``__await__``: returned as is;
    - a generator: returned as is if it comes from a :func:`coroutine`-flagged
      function, otherwise (a legacy handler whose decorator was dropped)
      wrapped so that awaiting it runs the generator to completion;
    - None or any other value (a handler that did its work synchronously, or a
      ``MagicMock`` standing in for one): the shared, already-finished
      ``DONE`` that ``write()`` also returns.

    The common case, an ``async def`` handler, is decided by the first
    comparison.  A server that wants to skip even the call can test
    ``type(result) is CoroutineType`` itself and call this only otherwise.
    """
    if type(result) is types.CoroutineType:
        return result
    if result is None:
        return DONE
    if isinstance(result, types.GeneratorType):
        if result.gi_code.co_flags & inspect.CO_ITERABLE_COROUTINE:
            return cast("Awaitable[Any]", result)  # from a @coroutine function: awaitable already
        return _drive(result)
    if hasattr(type(result), "__await__"):
        return cast("Awaitable[Any]", result)
    return DONE


def create_future(loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
    """Return a new Future bound to ``loop`` (``aiohttp.helpers.create_future``).

    ``loop.create_future()`` lets a loop such as uvloop supply its own, faster
    Future class; a loop object without that method still gets a plain one.
    """
    try:
        factory = loop.create_future
    except AttributeError:
        return asyncio.Future(loop=loop)
    return factory()


def ensure_future(
    coro_or_future: Awaitable[Any], *, loop: asyncio.AbstractEventLoop | None = None
) -> asyncio.Future[Any]:
    """Wrap a coroutine or awaitable in a Task (``aiohttp.helpers.ensure_future``).

    Kept for the keyword-only ``loop=`` signature of 1.1; it is
    :func:`asyncio.ensure_future`, which leaves Futures and Tasks untouched.
    """
    if loop is None:
        return asyncio.ensure_future(coro_or_future)
    return asyncio.ensure_future(coro_or_future, loop=loop)
