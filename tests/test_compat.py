"""llserver.compat: legacy ``@asyncio.coroutine`` code and what handlers may return.

api-spec §11 row 1: the server must accept a coroutine, a Future or other
awaitable, a bare generator, or any non-awaitable value (None, a MagicMock)
from ``handle_request``.
"""

from __future__ import annotations

import asyncio
import inspect
import types
from unittest import mock

import pytest

from llserver.compat import (
    DONE,
    CoroutineType,
    coroutine,
    create_future,
    ensure_awaitable,
    ensure_future,
)

# -- coroutine() ---------------------------------------------------------------


async def test_decorated_generator_function_can_be_awaited_and_yield_from_anything():
    loop = asyncio.get_running_loop()

    @coroutine
    def legacy(value):
        yield from asyncio.sleep(0)  # a native coroutine
        fut = loop.create_future()
        loop.call_soon(fut.set_result, value)
        got = yield from fut  # a Future
        return got * 2

    assert inspect.isgeneratorfunction(legacy)
    assert await legacy(21) == 42


async def test_decorated_handler_method_needs_only_an_import_change():
    class Handler:
        def __init__(self):
            self.seen = None

        @coroutine
        def handle_request(self, message, payload):
            yield from asyncio.sleep(0)
            self.seen = (message, payload)

    handler = Handler()
    await ensure_awaitable(handler.handle_request("msg", "payload"))
    assert handler.seen == ("msg", "payload")


async def test_decorated_plain_function_returning_a_value_gives_that_value():
    @coroutine
    def plain(x):
        return x + 1

    assert await plain(1) == 2


async def test_decorated_plain_function_returning_an_awaitable_awaits_it():
    loop = asyncio.get_running_loop()

    async def native():
        return "native"

    def legacy_gen():
        yield
        return "generator"

    @coroutine
    def returns(kind):
        if kind == "future":
            fut = loop.create_future()
            fut.set_result("future")
            return fut
        if kind == "coroutine":
            return native()
        if kind == "generator":
            return legacy_gen()
        return None

    assert await returns("future") == "future"
    assert await returns("coroutine") == "native"
    assert await returns("generator") == "generator"
    assert await returns("none") is None


def test_coroutine_keeps_name_and_leaves_async_def_alone():
    async def native():
        pass

    def plain():
        """Doc."""

    assert coroutine(native) is native
    wrapped = coroutine(plain)
    assert wrapped.__name__ == "plain"
    assert wrapped.__doc__ == "Doc."


# -- ensure_awaitable() ----------------------------------------------------------


async def test_coroutine_is_returned_unchanged():
    async def handler():
        return 1

    coro = handler()
    assert type(coro) is CoroutineType is types.CoroutineType
    assert ensure_awaitable(coro) is coro
    assert await coro == 1


async def test_futures_tasks_and_custom_awaitables_are_returned_unchanged():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fut.set_result("f")
    task = loop.create_task(asyncio.sleep(0, result="t"))

    class Custom:
        def __await__(self):
            yield from asyncio.sleep(0).__await__()
            return "c"

    custom = Custom()
    assert ensure_awaitable(fut) is fut
    assert ensure_awaitable(task) is task
    assert ensure_awaitable(custom) is custom
    assert await ensure_awaitable(fut) == "f"
    assert await ensure_awaitable(task) == "t"
    assert await ensure_awaitable(custom) == "c"


async def test_generator_from_decorated_function_is_returned_unchanged():
    @coroutine
    def legacy():
        yield from asyncio.sleep(0)
        return "legacy"

    gen = legacy()
    assert ensure_awaitable(gen) is gen
    assert await gen == "legacy"


async def test_bare_generator_is_driven_to_completion():
    loop = asyncio.get_running_loop()
    steps = []

    def undecorated(fut):
        steps.append("start")
        yield  # a bare yield: let the loop run
        value = yield from fut
        steps.append(value)
        return "done"

    fut = loop.create_future()
    loop.call_later(0.01, fut.set_result, "resolved")
    assert await ensure_awaitable(undecorated(fut)) == "done"
    assert steps == ["start", "resolved"]


async def test_exceptions_from_a_driven_generator_propagate():
    def failing():
        yield
        raise KeyError("x")

    with pytest.raises(KeyError):
        await ensure_awaitable(failing())


@pytest.mark.parametrize("value", [None, 42, "text", (), [1], mock.MagicMock()])
async def test_non_awaitables_count_as_done(value):
    awaitable = ensure_awaitable(value)
    assert awaitable is DONE
    assert await awaitable is None


def test_magicmock_return_value_is_done_without_a_loop():
    handle_request = mock.MagicMock()
    assert ensure_awaitable(handle_request("message", "payload")) is DONE


def test_done_finishes_without_suspending():
    with pytest.raises(StopIteration):
        next(DONE.__await__())


# -- create_future() / ensure_future() -------------------------------------------


async def test_create_future_binds_the_given_loop():
    loop = asyncio.get_running_loop()
    fut = create_future(loop)
    assert isinstance(fut, asyncio.Future)
    assert fut.get_loop() is loop
    assert not fut.done()


def test_create_future_works_with_a_loop_lacking_create_future():
    class OldLoop:  # only what asyncio.Future itself asks of a loop
        def get_debug(self):
            return False

    old = OldLoop()
    fut = create_future(old)
    assert isinstance(fut, asyncio.Future)
    assert fut.get_loop() is old


async def test_ensure_future_wraps_coroutines_and_passes_futures_through():
    loop = asyncio.get_running_loop()

    async def work():
        return 7

    task = ensure_future(work())
    assert isinstance(task, asyncio.Task)
    assert await task == 7
    task = ensure_future(work(), loop=loop)
    assert task.get_loop() is loop
    assert await task == 7
    fut = loop.create_future()
    assert ensure_future(fut) is fut
    fut.cancel()


def test_ensure_future_with_explicit_loop_outside_a_running_loop():
    loop = asyncio.new_event_loop()
    try:

        async def work():
            return 3

        task = ensure_future(work(), loop=loop)
        assert task.get_loop() is loop
        assert loop.run_until_complete(task) == 3
    finally:
        loop.close()
