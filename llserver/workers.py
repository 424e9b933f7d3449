"""Several worker processes serving one address, under a supervisor.

One asyncio event loop runs on one core.  To use more cores, llserver runs
the same protocol factory in several processes that share the listening
address, and keeps one small process, the :class:`Supervisor`, in charge of
them: it starts them, restarts one that dies, replaces them all on
``SIGHUP`` and stops them gracefully on ``SIGTERM`` or ``SIGINT``.
``python -m llserver --workers N`` is its command line.

**How the workers share the address**

* **SO_REUSEPORT** (the default on Linux, which balances it): every
  worker binds a listening socket of its own to the same address and the
  kernel spreads new connections over them by a hash of the client's
  address, so no worker wakes up for a connection that another one takes.
  The supervisor binds one socket first and never listens on it: that
  resolves port ``0`` to a real port and keeps the address reserved while
  workers come and go.  A connection the kernel has queued on a worker's
  socket but that worker has not accepted yet is reset when that socket
  closes (a worker that dies or is replaced), unless the kernel migrates it
  (Linux ``net.ipv4.tcp_migrate_req``).
* **One shared socket** (``reuse_port=False``, and the default elsewhere:
  other systems either lack SO_REUSEPORT or give all connections to one
  socket of the group): the supervisor listens once and every worker accepts
  from that socket.  Connections wait in one queue, so none is lost while a
  worker restarts, but every idle worker wakes up for each new connection.

**Why fork and why the supervisor never loads the application**

Workers are forked from the supervisor: starting one costs no interpreter
start-up, and it inherits the listening sockets.  The supervisor itself never
calls the ``load_factory`` it is given; each worker does, after the fork.  So a
worker that replaces a dead one, or the new workers started on ``SIGHUP``,
import the application's code as it is on disk *now*: ``SIGHUP`` deploys new
code without dropping the address.  The price is that a broken application
is only noticed in a worker; the supervisor gives up at start-up if a first
worker cannot start, and keeps the old workers if a reload's new ones cannot.

**Signals**

=============  ===============================================================
``SIGTERM``,   Graceful stop: every worker stops accepting, lets the requests
``SIGINT``     in flight finish for up to ``graceful_timeout`` seconds, closes
               idle keep-alive connections and exits; the supervisor then
               exits with status 0.  A second ``SIGTERM``/``SIGINT`` makes the
               workers stop at once (``SIGQUIT``).  Workers still alive
               ``graceful_timeout + 5`` seconds after the first signal are
               killed.
``SIGHUP``     Replace every worker: for each one a new worker is started, and
               the old one gets ``SIGTERM`` (a graceful stop) once the new one
               listens.  If a new worker cannot start, the old one keeps
               serving.
=============  ===============================================================

A worker that exits on its own is restarted: at once after a first death,
then, while its successors keep dying young (before ``STABLE_SECONDS``),
after ``BACKOFF_FIRST`` seconds, doubled each time up to ``BACKOFF_MAX``, so
an application that crashes at once does not make the supervisor fork in a
tight loop.  Workers notice a supervisor that died (even by ``SIGKILL``)
through a pipe whose write end only the supervisor holds: it reads as
closed then, and the workers stop gracefully.

The supervisor needs ``os.fork`` (POSIX) and must run in the main thread of
a process that has no other threads (it installs signal handlers, and
forking a threaded process is unsafe).
"""

from __future__ import annotations

import asyncio
import errno
import importlib
import logging
import os
import selectors
import signal
import socket
import ssl
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from .embedding import LoopFactory, ProtocolFactory, _run_in_new_loop, shutdown, start_server

__all__ = ("BOOT_ERROR", "Supervisor", "import_factory", "make_ssl_context")

logger = logging.getLogger("llserver.workers")

#: Exit status of a worker that could not start (load the factory, build its
#: TLS context, bind or listen).
BOOT_ERROR = 3
#: A worker that lived this long before dying resets its slot's backoff.
STABLE_SECONDS = 10.0
#: Delay before the second start in a row of a slot's worker, doubled after.
BACKOFF_FIRST = 0.1
#: Longest delay between two starts of a slot's worker.
BACKOFF_MAX = 10.0
#: Seconds after a worker's stop deadline before it is killed.
KILL_MARGIN = 5.0

Address = Any  # what socket.getsockname() returns


def import_factory(spec: str) -> ProtocolFactory:
    """The callable named by ``"package.module:attribute"``.

    The attribute may be dotted (``module:Class.factory``).  It is called
    once per connection and must return a protocol, e.g. a
    :class:`~llserver.server.ServerHttpProtocol` subclass."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'module:factory', got {spec!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(f"{module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise TypeError(f"{spec!r} is not callable: {obj!r}")
    return obj  # type: ignore[no-any-return]


def make_ssl_context(certfile: str, keyfile: Optional[str] = None) -> ssl.SSLContext:
    """A server-side TLS context with the certificate chain in ``certfile``
    (and its private key in ``keyfile``, unless ``certfile`` holds both).

    Python's defaults for a server (``ssl.create_default_context``), with
    TLS 1.2 as the oldest version on every Python (3.9's default still
    allows 1.0), and ALPN offering only ``http/1.1``, the one protocol
    llserver speaks."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if context.minimum_version < ssl.TLSVersion.TLSv1_2:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    context.set_alpn_protocols(["http/1.1"])
    return context


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"signal {signal.Signals(sig).name}"
        except ValueError:
            return f"signal {sig}"
    if os.WIFEXITED(status):
        return f"exit status {os.WEXITSTATUS(status)}"
    return f"wait status {status}"


def _exit_code(status: int) -> Optional[int]:
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else None


class _Worker:
    """The supervisor's record of one worker process."""

    def __init__(self, pid: int, slot: _Slot, status_fd: int) -> None:
        self.pid = pid
        self.slot = slot
        self.status_fd: Optional[int] = status_fd
        self.started = time.monotonic()
        self.ready = False
        self.retiring = False


class _Slot:
    """One of the N places a worker fills.  ``incoming`` is the worker that
    will replace ``active`` once it listens (SIGHUP)."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.active: Optional[_Worker] = None
        self.incoming: Optional[_Worker] = None
        self.restart_at: Optional[float] = None
        self.streak = 0


class Supervisor:
    """Runs ``workers`` processes that serve the factory ``load_factory()``
    returns on ``host``:``port``; see the module documentation.

    ``load_factory`` is called in each worker process (never in the
    supervisor), so a restarted worker loads the application afresh.
    ``loop_factory`` makes each worker's event loop (``uvloop.new_event_loop``
    for uvloop).  ``ready`` is called once with the listening addresses when
    every first worker listens.  TLS is on when ``ssl_certfile`` is given;
    each worker reads the files when it starts, so ``SIGHUP`` also picks up
    a renewed certificate.

    ``reuse_port``: ``None`` uses SO_REUSEPORT on Linux and one shared
    listening socket elsewhere, ``False`` always shares one socket, ``True``
    insists on SO_REUSEPORT.
    """

    def __init__(
        self,
        load_factory: Callable[[], ProtocolFactory],
        host: Optional[str] = "127.0.0.1",
        port: int = 8080,
        *,
        workers: int = 2,
        ssl_certfile: Optional[str] = None,
        ssl_keyfile: Optional[str] = None,
        loop_factory: Optional[LoopFactory] = None,
        graceful_timeout: float = 15.0,
        backlog: int = 100,
        reuse_port: Optional[bool] = None,
        ready: Optional[Callable[[List[Address]], Any]] = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.load_factory = load_factory
        self.host = host
        self.port = port
        self.workers = workers
        self.ssl_certfile = ssl_certfile
        self.ssl_keyfile = ssl_keyfile
        self.loop_factory = loop_factory
        self.graceful_timeout = graceful_timeout
        self.backlog = backlog
        self.reuse_port = reuse_port
        self.ready = ready
        self.sockets: List[socket.socket] = []
        self._slots = [_Slot(i) for i in range(workers)]
        self._procs: Dict[int, _Worker] = {}
        self._signals: List[int] = []
        self._selector: Optional[selectors.BaseSelector] = None
        self._wake: Tuple[int, int] = (-1, -1)
        self._lifeline: Tuple[int, int] = (-1, -1)
        self._reuse_port = False
        self._announced = False
        self._stopping = False
        self._killed = False
        self._kill_at = 0.0
        self._status = 0

    # ----------------------------------------------------------- the address

    @property
    def addresses(self) -> List[Address]:
        """The addresses served (after :meth:`run` has bound them)."""
        return [s.getsockname() for s in self.sockets]

    def _use_reuse_port(self) -> bool:
        if self.reuse_port is False:
            return False
        supported = hasattr(socket, "SO_REUSEPORT")
        if supported:
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            except OSError:
                supported = False
            finally:
                probe.close()
        if self.reuse_port and not supported:
            raise OSError(errno.ENOPROTOOPT, "SO_REUSEPORT is not supported here")
        # Only Linux spreads connections over the sockets of a SO_REUSEPORT
        # group; macOS and the BSDs accept the option but hand connections
        # to one socket, so there the shared socket is the default.
        return supported and (self.reuse_port is True or sys.platform.startswith("linux"))

    def _new_socket(self, family: int, reuse_port: bool) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                # one socket per family, as loop.create_server does
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        except BaseException:
            sock.close()
            raise
        return sock

    def _bind(self) -> None:
        """Bind the supervisor's sockets: one per address ``host`` resolves
        to, all on the same port (the one the first gets, for port 0)."""
        self._reuse_port = self._use_reuse_port()
        infos = socket.getaddrinfo(
            self.host or None, self.port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
            socket.AI_PASSIVE,
        )
        seen = set()
        port = self.port
        try:
            for family, _, _, _, sockaddr in infos:
                if (family, sockaddr) in seen:
                    continue
                seen.add((family, sockaddr))
                sock = self._new_socket(family, self._reuse_port)
                self.sockets.append(sock)
                sock.bind((sockaddr[0], port, *sockaddr[2:]))
                port = sock.getsockname()[1]
                if not self._reuse_port:
                    sock.listen(self.backlog)
        except BaseException:
            self._close_sockets()
            raise

    def _close_sockets(self) -> None:
        for sock in self.sockets:
            sock.close()

    # ------------------------------------------------------------ supervising

    def run(self) -> int:
        """Bind, start the workers and supervise them until stopped.

        Returns the process exit status: ``0`` after a requested stop, ``1``
        when a first worker could not start."""
        self._bind()
        old_handlers: Dict[int, Any] = {}
        self._wake = os.pipe()
        self._lifeline = os.pipe()
        for fd in self._wake:
            os.set_blocking(fd, False)
        old_wakeup = -1
        self._selector = selectors.DefaultSelector()
        try:
            self._selector.register(self._wake[0], selectors.EVENT_READ)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                old_handlers[sig] = signal.signal(sig, self._on_signal)
            old_wakeup = signal.set_wakeup_fd(self._wake[1])
            logger.info(
                "starting %d workers (%s)", self.workers,
                "SO_REUSEPORT" if self._reuse_port else "one shared listening socket",
            )
            for slot in self._slots:
                slot.active = self._spawn(slot)
            self._loop()
        finally:
            for pid in list(self._procs):  # left only by an error above
                self._send(pid, signal.SIGKILL)
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in old_handlers.items():
                signal.signal(signum, handler)
            self._selector.close()
            for fd in (*self._wake, *self._lifeline):
                os.close(fd)
            self._close_sockets()
        return self._status

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signals.append(signum)

    def _loop(self) -> None:
        assert self._selector is not None
        while True:
            for key, _ in self._selector.select(self._timeout()):
                if key.fd == self._wake[0]:
                    try:
                        while os.read(key.fd, 512):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    self._read_status(key.data)
            while self._signals:
                self._handle_signal(self._signals.pop(0))
            self._reap()
            now = time.monotonic()
            if self._stopping:
                if not self._procs:
                    return
                if now >= self._kill_at:
                    if self._killed:
                        logger.error("workers %s do not exit; giving up", sorted(self._procs))
                        return
                    logger.warning("killing workers still running: %s", sorted(self._procs))
                    for pid in self._procs:
                        self._send(pid, signal.SIGKILL)
                    self._killed = True
                    self._kill_at = now + KILL_MARGIN
                continue
            for slot in self._slots:
                if slot.restart_at is not None and now >= slot.restart_at:
                    slot.restart_at = None
                    slot.active = self._spawn(slot)

    def _timeout(self) -> float:
        due = [s.restart_at for s in self._slots if s.restart_at is not None]
        if self._stopping:
            due.append(self._kill_at)
        if not due:
            return 1.0
        return min(1.0, max(0.0, min(due) - time.monotonic()))

    def _handle_signal(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            if not self._stopping:
                self._stop(fast=False)
            else:
                logger.info("second stop signal: workers stop now")
                self._stop(fast=True)
        elif signum == signal.SIGHUP and not self._stopping:
            self._reload()

    def _stop(self, fast: bool) -> None:
        now = time.monotonic()
        if not self._stopping:
            grace = 0.0 if fast else self.graceful_timeout
            logger.info("stopping: requests in flight get up to %.1f s", grace)
            self._stopping = True
            self._kill_at = now + (0 if fast else self.graceful_timeout) + KILL_MARGIN
        else:
            self._kill_at = min(self._kill_at, now + KILL_MARGIN)
        for slot in self._slots:
            slot.restart_at = None
        for pid in list(self._procs):
            self._send(pid, signal.SIGQUIT if fast else signal.SIGTERM)

    def _reload(self) -> None:
        logger.info("SIGHUP: replacing %d workers", self.workers)
        for slot in self._slots:
            if slot.incoming is not None:  # an earlier reload's, not ready yet
                self._retire(slot.incoming)
            slot.restart_at = None
            slot.incoming = self._spawn(slot)

    def _retire(self, worker: _Worker) -> None:
        worker.retiring = True
        self._send(worker.pid, signal.SIGTERM)

    def _send(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass  # exited; reaped soon

    # ---------------------------------------------------------- worker events

    def _read_status(self, worker: _Worker) -> None:
        """A worker writes ``R`` once it listens, then closes its end."""
        fd = worker.status_fd
        if fd is None:
            return
        try:
            data = os.read(fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if b"R" in data and not worker.ready:
            self._on_ready(worker)
        if not data:
            assert self._selector is not None
            self._selector.unregister(fd)
            os.close(fd)
            worker.status_fd = None

    def _on_ready(self, worker: _Worker) -> None:
        worker.ready = True
        slot = worker.slot
        logger.info("worker %d listening", worker.pid)
        if slot.incoming is worker:
            old, slot.active, slot.incoming = slot.active, worker, None
            if old is not None:
                logger.info("worker %d replaces worker %d", worker.pid, old.pid)
                self._retire(old)
        if not self._announced and all(s.active and s.active.ready for s in self._slots):
            self._announced = True
            logger.info(
                "%d workers ready: %s", self.workers,
                " ".join(str(s.active.pid) for s in self._slots if s.active),
            )
            if self.ready is not None:
                self.ready(self.addresses)

    def _reap(self) -> None:
        while self._procs:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self._procs.pop(pid, None)
            if worker is not None:
                self._on_exit(worker, status)

    def _on_exit(self, worker: _Worker, status: int) -> None:
        if worker.status_fd is not None:
            self._read_status(worker)  # its "R" may not have been read yet
        if worker.status_fd is not None:
            assert self._selector is not None
            self._selector.unregister(worker.status_fd)
            os.close(worker.status_fd)
            worker.status_fd = None
        slot = worker.slot
        how = _describe(status)
        if slot.active is worker:
            slot.active = None
        elif slot.incoming is worker:
            slot.incoming = None
            if not worker.retiring and not self._stopping:
                logger.error(
                    "new worker %d exited (%s) before it listened; %s", worker.pid, how,
                    "the old one keeps serving" if slot.active else "starting another",
                )
                if slot.active is None:
                    self._schedule(slot, worker)
            return
        if worker.retiring or self._stopping:
            logger.info("worker %d exited (%s)", worker.pid, how)
            return
        if not self._announced and not worker.ready:
            logger.error(
                "worker %d could not start (%s); stopping%s", worker.pid, how,
                " (see its traceback above)" if _exit_code(status) == BOOT_ERROR else "",
            )
            self._status = 1
            self._stop(fast=True)
            return
        if slot.incoming is not None:
            logger.warning("worker %d exited (%s); its replacement is starting", worker.pid, how)
            return
        self._schedule(slot, worker)
        logger.warning(
            "worker %d exited (%s); restarting in %.1f s",
            worker.pid, how, max(0.0, (slot.restart_at or 0) - time.monotonic()),
        )

    def _schedule(self, slot: _Slot, dead: _Worker) -> None:
        now = time.monotonic()
        if dead.ready and now - dead.started >= STABLE_SECONDS:
            slot.streak = 0
        slot.streak += 1
        delay = 0.0 if slot.streak == 1 else BACKOFF_FIRST * 2 ** (slot.streak - 2)
        slot.restart_at = now + min(delay, BACKOFF_MAX)

    # ----------------------------------------------------------------- spawn

    def _spawn(self, slot: _Slot) -> _Worker:
        """Fork a worker for ``slot``.  Signals are blocked around the fork,
        so the child never runs the supervisor's handlers."""
        assert self._selector is not None
        status_r, status_w = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        sigs = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGQUIT}
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(status_r)
            os.close(status_w)
            raise
        if pid == 0:  # the worker: never returns
            code = BOOT_ERROR
            try:
                os.close(status_r)
                self._become_worker(mask)
                code = self._worker(status_w)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except (AttributeError, OSError, ValueError):
                        pass
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(status_w)
        os.set_blocking(status_r, False)
        worker = _Worker(pid, slot, status_r)
        self._procs[pid] = worker
        self._selector.register(status_r, selectors.EVENT_READ, worker)
        logger.debug("worker %d started (slot %d)", pid, slot.index)
        return worker

    def _become_worker(self, mask: Any) -> None:
        """In the new child: drop the supervisor's signal handling and the
        descriptors that are the supervisor's alone."""
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        assert self._selector is not None
        self._selector.close()
        os.close(self._wake[0])
        os.close(self._wake[1])
        os.close(self._lifeline[1])
        for other in self._procs.values():
            if other.status_fd is not None:
                os.close(other.status_fd)

    # ------------------------------------------------------ the worker itself

    def _worker_sockets(self) -> List[socket.socket]:
        if not self._reuse_port:
            return self.sockets
        own = []
        try:
            for parent in self.sockets:
                sock = self._new_socket(parent.family, True)
                own.append(sock)
                sock.bind(parent.getsockname())
                sock.listen(self.backlog)
        except BaseException:
            for sock in own:
                sock.close()
            raise
        for parent in self.sockets:
            parent.close()
        return own

    def _worker(self, status_fd: int) -> int:
        """A worker process's life; returns its exit status."""
        try:
            factory = self.load_factory()
            context = (
                make_ssl_context(self.ssl_certfile, self.ssl_keyfile)
                if self.ssl_certfile
                else None
            )
            sockets = self._worker_sockets()
        except Exception:
            traceback.print_exc()
            return BOOT_ERROR
        return _run_in_new_loop(
            self._serve(factory, context, sockets, status_fd), self.loop_factory
        )

    async def _serve(
        self,
        factory: ProtocolFactory,
        context: Optional[ssl.SSLContext],
        sockets: List[socket.socket],
        status_fd: int,
    ) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        hurry = asyncio.Event()
        servers: List[asyncio.AbstractServer] = []

        def on_stop(fast: bool) -> None:
            for server in servers:
                server.close()  # stop accepting at once
            stop.set()
            if fast:
                hurry.set()

        loop.add_signal_handler(signal.SIGTERM, on_stop, False)
        loop.add_signal_handler(signal.SIGINT, on_stop, False)
        loop.add_signal_handler(signal.SIGQUIT, on_stop, True)
        # The supervisor decides what SIGHUP means; a worker outlives a
        # terminal's hang-up until the supervisor replaces it.
        loop.add_signal_handler(signal.SIGHUP, lambda: None)
        lifeline = self._lifeline[0]

        def on_lifeline() -> None:
            try:
                data = os.read(lifeline, 1)
            except OSError:
                data = b""
            if not data:  # the supervisor is gone
                loop.remove_reader(lifeline)
                logger.warning("worker %d: the supervisor is gone; stopping", os.getpid())
                on_stop(False)

        loop.add_reader(lifeline, on_lifeline)
        try:
            for sock in sockets:
                servers.append(
                    await start_server(factory, sock=sock, ssl=context, backlog=self.backlog)
                )
        except Exception:
            traceback.print_exc()
            for server in servers:
                server.close()
            return BOOT_ERROR
        try:
            os.write(status_fd, b"R")
        except OSError:
            pass  # the supervisor is gone; the lifeline stops this worker
        os.close(status_fd)
        await stop.wait()
        timeout = 0.0 if hurry.is_set() else self.graceful_timeout
        drain = asyncio.ensure_future(
            asyncio.gather(*(shutdown(s, timeout) for s in servers), return_exceptions=True)
        )
        hurried = asyncio.ensure_future(hurry.wait())
        try:
            waiters: Set[asyncio.Future[Any]] = {drain, hurried}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not drain.done():
                # SIGQUIT during a graceful stop: cut the remaining
                # connections; their handlers are cancelled.
                for server in servers:
                    for proto in list(getattr(server, "protocols", ())):
                        transport = getattr(proto, "transport", None)
                        if transport is not None:
                            transport.abort()
                await asyncio.wait({drain}, timeout=KILL_MARGIN)
        finally:
            hurried.cancel()
        return 0
