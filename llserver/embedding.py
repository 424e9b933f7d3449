"""Serving a protocol factory: inside a running loop or as the whole program.

aiohttp 1.1 left this to ``loop.create_server``, which still works as the
design document shows.  These helpers add what that leaves out: tracking the
connections so that stopping the server also closes keep-alive connections
and lets in-flight requests finish (``ServerHttpProtocol.shutdown``).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl as _ssl
import weakref
from typing import Any, Callable, Coroutine, Optional, TypeVar

__all__ = ("start_server", "serve", "run", "shutdown")

ProtocolFactory = Callable[[], asyncio.Protocol]
LoopFactory = Callable[[], asyncio.AbstractEventLoop]
_T = TypeVar("_T")


class _Tracked:
    """Wraps a protocol factory and remembers the protocols it made."""

    def __init__(self, factory: ProtocolFactory) -> None:
        self.factory = factory
        self.protocols: weakref.WeakSet[Any] = weakref.WeakSet()

    def __call__(self) -> asyncio.Protocol:
        proto = self.factory()
        self.protocols.add(proto)
        return proto


class _WithProtocols:
    """A server that takes no new attributes (uvloop's ``Server``), with
    the ``protocols`` attribute added: everything else is the server's."""

    def __init__(self, server: Any, protocols: Any) -> None:
        self._server = server
        self.protocols = protocols

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)

    async def __aenter__(self) -> _WithProtocols:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._server.close()
        await self._server.wait_closed()


async def start_server(
    protocol_factory: ProtocolFactory,
    host: Optional[str] = "127.0.0.1",
    port: int = 8080,
    *,
    ssl: Optional[_ssl.SSLContext] = None,
    sock: Optional[socket.socket] = None,
    **kwargs: Any,
) -> asyncio.AbstractServer:
    """Start listening in the running loop and return the server.

    The server's ``protocols`` attribute holds the live connections; pass
    the server to :func:`shutdown` to stop gracefully.  Extra keyword
    arguments go to ``loop.create_server`` (``reuse_port``, ``backlog`` …).

    ``sock`` serves a listening socket made elsewhere (a process manager's,
    or one shared between worker processes); ``host`` and ``port`` are then
    ignored, because ``loop.create_server`` refuses both at once.
    """
    tracked = _Tracked(protocol_factory)
    loop = asyncio.get_running_loop()
    if sock is not None:
        server = await loop.create_server(tracked, ssl=ssl, sock=sock, **kwargs)
    else:
        server = await loop.create_server(tracked, host, port, ssl=ssl, **kwargs)
    try:
        server.protocols = tracked.protocols  # type: ignore[attr-defined]
    except AttributeError:
        return _WithProtocols(server, tracked.protocols)  # type: ignore[return-value]
    return server


async def shutdown(server: asyncio.AbstractServer, timeout: float = 15.0) -> None:
    """Stop accepting, close idle connections, let running requests finish
    for up to ``timeout`` seconds, then close what is left."""
    server.close()
    protocols = list(getattr(server, "protocols", ()))
    await asyncio.gather(
        *(p.shutdown(timeout) for p in protocols if hasattr(p, "shutdown")),
        return_exceptions=True,
    )
    await server.wait_closed()


async def serve(
    protocol_factory: ProtocolFactory,
    host: Optional[str] = "127.0.0.1",
    port: int = 8080,
    *,
    ssl: Optional[_ssl.SSLContext] = None,
    shutdown_timeout: float = 15.0,
    ready: Optional[Callable[[asyncio.AbstractServer], Any]] = None,
    **kwargs: Any,
) -> None:
    """Serve until cancelled, then shut down gracefully.  ``ready`` is
    called with the server once it listens (e.g. to print the address)."""
    server = await start_server(protocol_factory, host, port, ssl=ssl, **kwargs)
    if ready is not None:
        ready(server)
    try:
        await asyncio.Event().wait()
    finally:
        await shutdown(server, shutdown_timeout)


def run(
    protocol_factory: ProtocolFactory,
    host: Optional[str] = "127.0.0.1",
    port: int = 8080,
    *,
    loop_factory: Optional[LoopFactory] = None,
    **kwargs: Any,
) -> None:
    """``asyncio.run(serve(...))``: serve until SIGINT (Ctrl+C) or SIGTERM,
    then shut down gracefully.

    The signals cancel the serving task from the event loop, so they never
    land as a ``KeyboardInterrupt`` in the middle of a handler or a socket
    write (which Python before 3.11 would do).

    ``loop_factory`` makes the event loop (``uvloop.new_event_loop``, say);
    by default it is asyncio's.  A factory rather than a global event loop
    policy, because policies are deprecated from Python 3.14 on."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, task.cancel)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # no signal support here (Windows, not the main thread)
        try:
            await serve(protocol_factory, host, port, **kwargs)
        except asyncio.CancelledError:
            pass

    try:
        _run_in_new_loop(main(), loop_factory)
    except KeyboardInterrupt:
        pass


def _run_in_new_loop(
    main: Coroutine[Any, Any, _T], loop_factory: Optional[LoopFactory] = None
) -> _T:
    """Run ``main`` to completion in a new event loop made by
    ``loop_factory``, then close that loop as ``asyncio.run`` does: cancel
    what is left, finish async generators, stop the default executor.

    ``asyncio.run`` takes a loop factory only from Python 3.12 on (and
    ``asyncio.Runner`` from 3.11), so this is how llserver runs uvloop on
    3.9 and 3.10 without touching the global event loop policy."""
    if loop_factory is None:
        return asyncio.run(main)
    loop = loop_factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            shutdown_executor = getattr(loop, "shutdown_default_executor", None)
            if shutdown_executor is not None:
                loop.run_until_complete(shutdown_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
