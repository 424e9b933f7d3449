"""gunicorn worker classes that serve an llserver protocol factory.

Run them with::

    gunicorn -k llserver.worker.LLServerWorker myapp:factory
    gunicorn -k llserver.worker.LLServerUVLoopWorker myapp:factory

The "application" gunicorn loads (``module:name``, or ``module:make()`` to
call a function first) is the protocol factory itself: a callable returning
one protocol per connection, such as a
:class:`~llserver.server.ServerHttpProtocol` subclass.  gunicorn keeps doing
what it is good at (binding, forking, restarting and replacing workers,
privileges, logging to files), and each worker runs an asyncio event loop
with llserver serving gunicorn's listening sockets.

What each gunicorn setting does here:

``bind``, ``backlog``
    The worker serves gunicorn's own listening sockets (``sock=``), TCP or
    Unix; nothing is bound twice.
``timeout``
    The worker tells the arbiter it is alive from its event loop, at least
    once a second.  An event loop blocked for longer than ``timeout`` (a
    handler that never awaits) gets the worker killed and replaced, as a
    stuck sync worker would.
``graceful_timeout``
    On ``SIGTERM`` (and when ``max_requests`` is reached) the worker stops
    accepting, closes idle keep-alive connections and lets the requests in
    flight run for up to this many seconds; then it cancels them and exits.
    ``SIGINT`` and ``SIGQUIT`` stop at once.
``max_requests``, ``max_requests_jitter``
    Requests are counted as they reach a handler; the one that reaches the
    limit is still answered, then the worker stops gracefully and gunicorn
    starts a new one.
``certfile``, ``keyfile``, ``ca_certs``, ``cert_reqs``, ``ciphers``, ``ssl_context``
    TLS: the context is built by gunicorn's own ``ssl_context`` (so its
    server hook of that name applies), with ALPN limited to ``http/1.1``.

Settings for gunicorn's WSGI request handling (``keepalive``,
``limit_request_*``, ``worker_connections``, ``threads``, access-log
formats) do not apply: the protocol factory carries its own limits and
timeouts, and llserver logs through the ``llserver.*`` loggers, which a
``--log-config`` file can route.

This is the only llserver module that imports gunicorn.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import weakref
from typing import Any, Callable, Dict, List, Optional, Set, cast

from gunicorn.sock import ssl_context as _gunicorn_ssl_context
from gunicorn.workers.base import Worker

from .embedding import ProtocolFactory, _run_in_new_loop, shutdown, start_server

__all__ = ("CountingFactory", "LLServerWorker", "LLServerUVLoopWorker")

_LOOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGWINCH)


class CountingFactory:
    """A protocol factory that reports each request its protocols start.

    The count needs no hook in the server: each protocol's
    ``handle_request`` is wrapped on the instance (an instance attribute is
    found before the class's method).  The wrapper returns the handler's own
    result untouched, so the server's fast path for coroutine handlers is
    kept, and it holds the protocol only weakly, so a finished connection
    is still freed by reference counting.  A protocol without
    ``handle_request`` (not an HTTP one) counts once per connection."""

    def __init__(self, factory: ProtocolFactory, on_request: Callable[[], Any]) -> None:
        self.factory = factory
        self.on_request = on_request

    def __call__(self) -> asyncio.Protocol:
        proto = self.factory()
        on_request = self.on_request
        handler = getattr(proto, "handle_request", None)
        if handler is None:
            on_request()
            return proto
        func = getattr(handler, "__func__", None)
        if func is not None and getattr(handler, "__self__", None) is proto:
            ref = weakref.ref(proto)

            def handle_request(message: Any, payload: Any) -> Any:
                on_request()
                return func(ref(), message, payload)

        else:

            def handle_request(message: Any, payload: Any) -> Any:
                on_request()
                return handler(message, payload)

        try:
            proto.handle_request = handle_request  # type: ignore[attr-defined]
        except AttributeError:  # no instance attributes (__slots__)
            on_request()
        return proto


class LLServerWorker(Worker):
    """A gunicorn worker running llserver on asyncio's event loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.servers: List[asyncio.AbstractServer] = []
        self._stop: Optional[asyncio.Event] = None
        self._hurry: Optional[asyncio.Event] = None
        self._early_signals: List[int] = []
        self._ssl_context: Optional[ssl.SSLContext] = None

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        """The worker's event loop; subclasses return another kind."""
        return asyncio.new_event_loop()

    def init_process(self) -> None:
        # The child still has the arbiter's signal handlers, which would
        # swallow a stop signal sent while the worker boots: from here on,
        # such signals are noted until the event loop takes them over.
        for sig in _LOOP_SIGNALS:
            signal.signal(sig, self._note_signal)
        self.loop = self.new_event_loop()
        asyncio.set_event_loop(self.loop)
        super().init_process()

    def _note_signal(self, signum: int, frame: Any) -> None:
        self._early_signals.append(signum)

    def init_signals(self) -> None:
        """gunicorn calls this before it loads the application.  The stop
        signals are only noted until the event loop runs (see
        :meth:`_take_over_signals`), because a loop that is not running yet
        may never see a signal (uvloop reads them only while it runs).
        ``SIGABRT`` (the arbiter's timeout) stays a plain handler: it must
        work while the event loop is stuck."""
        for sig in self.SIGNALS:
            signal.signal(sig, self._note_signal if sig in _LOOP_SIGNALS else signal.SIG_DFL)
        signal.signal(signal.SIGABRT, self.handle_abort)

    def _take_over_signals(self) -> None:
        """From the running loop on, signals reach the worker through it, so
        a stop never lands in the middle of a handler or a socket write."""
        loop = asyncio.get_running_loop()
        handlers: Dict[int, Callable[[], Any]] = {
            signal.SIGTERM: lambda: self._request_stop(False),
            signal.SIGQUIT: self._quit,
            signal.SIGINT: self._quit,
            signal.SIGUSR1: self.log.reopen_files,
            signal.SIGWINCH: lambda: None,  # window size: not for workers
        }
        for sig, handler in handlers.items():
            loop.add_signal_handler(sig, handler)
        early, self._early_signals = self._early_signals, []
        for sig in early:
            handlers[sig]()

    def _quit(self) -> None:
        self.cfg.worker_int(self)
        self._request_stop(True)

    def _request_stop(self, fast: bool) -> None:
        self.alive = False
        # Stop accepting now, not a few loop iterations later: a connection
        # that arrives meanwhile waits in the listening socket's queue for
        # the next worker (the arbiter keeps the socket open).
        for server in self.servers:
            server.close()
        if self._stop is not None:
            self._stop.set()
        if fast and self._hurry is not None:
            self._hurry.set()

    def _on_request(self) -> None:
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self._request_stop(False)

    def load_wsgi(self) -> None:
        """Load the protocol factory, and build the TLS context here too:
        gunicorn treats a failure at this point as a boot error and stops,
        instead of restarting a worker that can never serve."""
        super().load_wsgi()
        self._ssl_context = self.ssl_context() if self.cfg.is_ssl else None

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for gunicorn's SSL settings."""
        context = _gunicorn_ssl_context(self.cfg)
        context.set_alpn_protocols(["http/1.1"])
        return context

    def run(self) -> None:
        loop = self.loop
        assert loop is not None
        _run_in_new_loop(self._serve(), lambda: loop)

    def _heartbeat_interval(self) -> float:
        # The arbiter passes half its timeout as self.timeout; beat faster.
        timeout = float(self.timeout or 0)
        return min(1.0, timeout) if timeout > 0 else 1.0

    async def _serve(self) -> None:
        self.notify()  # booted: the arbiter's timeout counts from the fork
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()
        self._take_over_signals()
        if not self.alive:  # stopped before the loop ran
            self._stop.set()
        # What gunicorn calls the application is, here, the protocol factory.
        factory = CountingFactory(cast(ProtocolFactory, self.wsgi), self._on_request)
        for listener in self.sockets:
            sock = getattr(listener, "sock", listener)
            server = await start_server(
                factory, sock=sock, ssl=self._ssl_context, backlog=self.cfg.backlog
            )
            self.servers.append(server)
        interval = self._heartbeat_interval()
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
            try:
                await asyncio.wait_for(self._stop.wait(), interval)
            except asyncio.TimeoutError:
                pass
        self.alive = False
        await self._drain(interval)

    async def _drain(self, interval: float) -> None:
        """Stop gracefully, telling the arbiter we are alive meanwhile (the
        graceful timeout may be longer than the worker timeout)."""
        assert self._hurry is not None
        timeout = 0.0 if self._hurry.is_set() else float(self.cfg.graceful_timeout)
        drain = asyncio.ensure_future(
            asyncio.gather(*(shutdown(s, timeout) for s in self.servers), return_exceptions=True)
        )
        hurried = asyncio.ensure_future(self._hurry.wait())
        waiters: Set[asyncio.Future[Any]] = {drain, hurried}
        try:
            while not drain.done():
                self.notify()
                await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
                if hurried.done() and not drain.done():
                    # SIGQUIT/SIGINT during a graceful stop: cut the rest.
                    for server in self.servers:
                        for proto in list(getattr(server, "protocols", ())):
                            transport = getattr(proto, "transport", None)
                            if transport is not None:
                                transport.abort()
                    await asyncio.wait({drain}, timeout=5.0)
                    break
        finally:
            hurried.cancel()


class LLServerUVLoopWorker(LLServerWorker):
    """The same worker on uvloop's event loop (CPython; ``pip install uvloop``)."""

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """The arbiter calls this before it forks: importing uvloop there
        makes a missing uvloop fail at start-up, once, and lets workers
        boot faster (less time in which a stop signal finds them unready)."""
        import uvloop  # noqa: F401

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        import uvloop

        return uvloop.new_event_loop()
