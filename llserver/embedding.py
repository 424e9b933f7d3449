"""Serving a protocol factory: inside a running loop or as the whole program.

aiohttp 1.1 left this to ``loop.create_server``, which still works as the
design document shows.  These helpers add what that leaves out: tracking the
connections so that stopping the server also closes keep-alive connections
and lets in-flight requests finish (``ServerHttpProtocol.shutdown``).
"""

from __future__ import annotations

import asyncio
import signal
import ssl as _ssl
import weakref
from typing import Any, Callable, Optional

__all__ = ("start_server", "serve", "run", "shutdown")

ProtocolFactory = Callable[[], asyncio.Protocol]


class _Tracked:
    """Wraps a protocol factory and remembers the protocols it made."""

    def __init__(self, factory: ProtocolFactory) -> None:
        self.factory = factory
        self.protocols: weakref.WeakSet[Any] = weakref.WeakSet()

    def __call__(self) -> asyncio.Protocol:
        proto = self.factory()
        self.protocols.add(proto)
        return proto


async def start_server(
    protocol_factory: ProtocolFactory,
    host: Optional[str] = "127.0.0.1",
    port: int = 8080,
    *,
    ssl: Optional[_ssl.SSLContext] = None,
    **kwargs: Any,
) -> asyncio.AbstractServer:
    """Start listening in the running loop and return the server.

    The server's ``protocols`` attribute holds the live connections; pass
    the server to :func:`shutdown` to stop gracefully.  Extra keyword
    arguments go to ``loop.create_server`` (``reuse_port``, ``backlog`` …).
    """
    tracked = _Tracked(protocol_factory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(tracked, host, port, ssl=ssl, **kwargs)
    server.protocols = tracked.protocols  # type: ignore[attr-defined]
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
    **kwargs: Any,
) -> None:
    """``asyncio.run(serve(...))``: serve until SIGINT (Ctrl+C) or SIGTERM,
    then shut down gracefully.

    The signals cancel the serving task from the event loop, so they never
    land as a ``KeyboardInterrupt`` in the middle of a handler or a socket
    write (which Python before 3.11 would do)."""

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
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
