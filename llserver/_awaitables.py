"""Return values for ``write()``, ``write_eof()`` and ``drain()``.

aiohttp 1.1 returned ``()`` from ``Response.write()`` and generator coroutines
from ``write_eof()`` and ``drain()``; user code of that era consumes them in
three ways, all of which must keep working (api-spec §11 row 3):

- ignoring the result (``resp.write(b'x')``);
- ``await resp.write_eof()`` in ``async def`` code;
- ``yield from resp.write(b'x')`` in legacy ``types.coroutine`` generators.

So every object handed out here is both awaitable (``__await__``) and
iterable (``__iter__``), and none of them warns when dropped.  The warning
``coroutine ... was never awaited`` is emitted for coroutine objects, which is
why nothing here ever creates one eagerly: :data:`DONE` is a shared
singleton, and the pending variants build their generator only when somebody
actually awaits them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Generator, Optional, Tuple

if TYPE_CHECKING:
    import asyncio

    _EmptyTuple = Tuple[()]
else:
    _EmptyTuple = tuple

__all__ = ("DONE", "Done", "Failed", "Waiter")


class Done(_EmptyTuple):
    """An already-finished awaitable whose result is ``None``.

    It is an empty ``tuple`` subclass because aiohttp 1.1 returned ``()``
    from ``write()``: it still compares equal to ``()``, is falsy, and
    iterates as empty, so ``yield from`` over it completes at once.  Use the
    shared :data:`DONE` rather than building new instances.
    """

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]

    def __repr__(self) -> str:
        return "<llserver DONE>"


DONE = Done()


class Failed:
    """An awaitable that raises ``exc`` when awaited or iterated.

    ``drain()`` on a lost connection returns one: the error reaches code that
    awaits the drain, as it did in 1.1 where ``drain()`` was a coroutine,
    while code that drops the result (1.1 servers returned ``write_eof()``
    unawaited) sees nothing, not even a warning.
    """

    __slots__ = ("_exc",)

    def __init__(self, exc: BaseException) -> None:
        self._exc = exc

    def __await__(self) -> Generator[Any, None, None]:
        raise self._exc
        yield  # pragma: no cover - makes this a generator function

    __iter__ = __await__

    def __repr__(self) -> str:
        return f"<llserver Failed {self._exc!r}>"


class Waiter:
    """Wraps a pending ``asyncio.Future`` so it can be awaited, ``yield
    from``-ed or dropped.

    ``after`` (optional) runs once the future is done, inside the awaiting
    task, and may raise: the writer uses it to turn a wake-up caused by a lost
    connection into ``ConnectionResetError``.  Resolving the future with a
    *result* and raising from ``after`` (instead of ``set_exception`` on the
    future) is deliberate: a future whose exception nobody retrieves is logged
    as "Future exception was never retrieved" when collected, and dropping
    the result of ``write_eof()`` is a supported, common pattern.
    """

    __slots__ = ("_fut", "_after")

    def __init__(
        self, fut: asyncio.Future[Any], after: Optional[Callable[[], None]] = None
    ) -> None:
        self._fut = fut
        self._after = after

    def __await__(self) -> Generator[Any, None, None]:
        fut = self._fut
        if not fut.done():
            yield from fut
        after = self._after
        if after is not None:
            after()

    __iter__ = __await__

    def done(self) -> bool:
        return self._fut.done()

    def __repr__(self) -> str:
        return f"<llserver Waiter {self._fut!r}>"
