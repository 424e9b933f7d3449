"""``python -m llserver``: serve a protocol factory, or the demo handler::

    python -m llserver [module:factory] [--host 127.0.0.1] [--port 8080]
                       [--workers N] [--ssl-certfile F [--ssl-keyfile K]]
                       [--uvloop] [--graceful-timeout S] [--backlog B]
                       [--no-reuse-port] [--debug]

``module:factory`` names a callable that returns a protocol for each
connection, such as a :class:`llserver.server.ServerHttpProtocol` subclass.
Without it, the page of the design document's first example is served
(:class:`llserver.demo.HttpRequestHandler`).

With ``--workers 1`` (the default) the server runs in this process; with
more, a supervisor runs that many worker processes on the same address
(:mod:`llserver.workers`).  SIGINT (Ctrl+C) or SIGTERM stops gracefully;
with workers, SIGHUP replaces them.  ``serving on <address>`` is printed
once the server accepts connections.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import traceback
from typing import Any, List, Optional

from .demo import HttpRequestHandler
from .embedding import LoopFactory, ProtocolFactory, run
from .workers import Supervisor, import_factory, make_ssl_context


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m llserver",
        description="Serve a protocol factory (default: the demo handler) over HTTP/1.1.",
    )
    parser.add_argument(
        "app", nargs="?", metavar="module:factory",
        help="callable returning a protocol per connection (default: the demo handler)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="worker processes; 1 serves in this process (default: 1)",
    )
    parser.add_argument("--ssl-certfile", metavar="FILE", help="PEM certificate chain: serve HTTPS")
    parser.add_argument(
        "--ssl-keyfile", metavar="FILE", help="PEM private key, if not in --ssl-certfile"
    )
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    parser.add_argument(
        "--graceful-timeout", type=float, default=15.0, metavar="SECONDS",
        help="on SIGTERM/SIGINT, how long requests in flight may run on (default: 15)",
    )
    parser.add_argument(
        "--backlog", type=int, default=100, metavar="N", help="listen queue length (default: 100)"
    )
    parser.add_argument(
        "--no-reuse-port", dest="reuse_port", action="store_const", const=False, default=None,
        help="workers share one listening socket instead of one SO_REUSEPORT socket each",
    )
    parser.add_argument(
        "--debug", action="store_true",
        help="the demo handler's debug mode (tracebacks in error pages)",
    )
    return parser


def _print_serving(addresses: List[Any]) -> None:
    print("serving on", *addresses, flush=True)


def main(argv: Optional[List[str]] = None) -> None:
    parser = _parser()
    ns = parser.parse_args(argv)
    if ns.workers < 1:
        parser.error("--workers must be at least 1")
    if ns.ssl_keyfile and not ns.ssl_certfile:
        parser.error("--ssl-keyfile needs --ssl-certfile")
    if ns.debug and ns.app:
        parser.error("--debug applies to the demo handler; give your protocols debug=True")
    if ns.app and ":" not in ns.app:
        parser.error(f"expected module:factory, got {ns.app!r}")
    loop_factory: Optional[LoopFactory] = None
    if ns.uvloop:
        try:
            import uvloop
        except ImportError:
            parser.error("--uvloop: uvloop is not installed")
        loop_factory = uvloop.new_event_loop

    demo: ProtocolFactory = functools.partial(HttpRequestHandler, debug=ns.debug)

    def load() -> ProtocolFactory:
        return import_factory(ns.app) if ns.app else demo

    try:  # a bad certificate fails here, not in every worker
        context = make_ssl_context(ns.ssl_certfile, ns.ssl_keyfile) if ns.ssl_certfile else None
    except (OSError, ValueError) as exc:
        print(f"llserver: cannot load the certificate: {exc}", file=sys.stderr)
        sys.exit(1)

    if ns.workers > 1:
        workers_log = logging.getLogger("llserver.workers")
        if not workers_log.handlers:  # the supervisor's log goes to stderr
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("[llserver %(process)d] %(message)s"))
            workers_log.addHandler(handler)
            workers_log.setLevel(logging.INFO)
        supervisor = Supervisor(
            load,
            ns.host,
            ns.port,
            workers=ns.workers,
            ssl_certfile=ns.ssl_certfile,
            ssl_keyfile=ns.ssl_keyfile,
            loop_factory=loop_factory,
            graceful_timeout=ns.graceful_timeout,
            backlog=ns.backlog,
            reuse_port=ns.reuse_port,
            ready=_print_serving,
        )
        try:
            status = supervisor.run()
        except OSError as exc:  # cannot bind, typically
            print(f"llserver: cannot serve on {ns.host}:{ns.port}: {exc}", file=sys.stderr)
            status = 1
        sys.exit(status)

    try:
        factory = load()
    except Exception:
        traceback.print_exc()
        print(f"llserver: cannot start {ns.app or 'the demo'}", file=sys.stderr)
        sys.exit(1)

    def ready(server: object) -> None:
        sockets = getattr(server, "sockets", None) or []
        _print_serving([s.getsockname() for s in sockets])

    try:
        run(
            factory,
            ns.host,
            ns.port,
            ssl=context,
            ready=ready,
            shutdown_timeout=ns.graceful_timeout,
            backlog=ns.backlog,
            loop_factory=loop_factory,
        )
    except OSError as exc:  # cannot bind, typically
        print(f"llserver: cannot serve on {ns.host}:{ns.port}: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
