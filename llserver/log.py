"""Loggers and the Apache-style access logger.

Three loggers, named after llserver rather than aiohttp (api-spec §9); the
server's ``logger=`` and ``access_log=`` parameters take any logger, so a user
can keep an old ``logging.getLogger('aiohttp.access')`` configuration.

:class:`AccessLogger` renders ``mod_log_config``-style formats.  A format string
is compiled once, per class, into a ``%``-template plus one small function per
atom; logging a request is then a loop over those functions and one C-level
``template % values``.  The atoms, their values and their ``extra`` keys follow
aiohttp 1.1 (api-spec §9.1) with the fixes of api-spec §11 row 23:

- the default format says ``%{Referer}i`` (1.1 had the typo ``Referrer``, which
  always logged ``-``);
- every atom has its own ``extra`` key: ``%T`` is ``request_time_seconds``
  instead of overwriting ``%t``'s ``request_time``, and several ``%{H}i`` (or
  ``o``/``e``) atoms fill one dict instead of replacing one another;
- ``%{K}e`` reads ``os.environ`` when no environ mapping is passed, as the
  aiohttp docs always claimed.

One 1.1 quirk is kept on purpose because a test pins it: ``%%`` is not an
escape.  The format is scanned left to right for atoms and everything else is
literal text, so ``%%P`` is a literal ``%`` followed by the pid atom.
"""

from __future__ import annotations

import logging
import os
import re
import time as _time
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    # An atom function gets (message, environ, response, transport, time).
    _AtomFn = Callable[[Any, Any, Any, Any, Any], Any]
    # One compiled atom: extra key, sub-key of the dict-valued atoms (else None), function.
    _Atom = tuple[str, str | None, _AtomFn]

__all__ = (
    "LOG_FORMAT",
    "AccessLogger",
    "access_logger",
    "internal_logger",
    "server_logger",
)

#: Access lines (one INFO record per request).
access_logger = logging.getLogger("llserver.access")
#: Request-handling errors (``Error handling request``) and debug messages.
server_logger = logging.getLogger("llserver.server")
#: Library-internal warnings, e.g. the "multiple access at EOF" one.
internal_logger = logging.getLogger("llserver.internal")

#: Apache's "combined" format.
LOG_FORMAT = '%a %l %u %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"'

#: The clock ``%t`` reads, looked up at every call so tests can freeze it with
#: ``monkeypatch.setattr(llserver.log, "clock", lambda: ...)``.  Seconds since
#: the epoch, as ``time.time()`` returns.
clock: Callable[[], float] = _time.time

# %{name}i / %{name}o / %{name}e take a header or variable name; RFC 9110 token
# characters cover every header name and every usual environment variable.
_ATOM_RE = re.compile(r"%(?:\{([A-Za-z0-9!#$&'*+.^_`|~-]+)\}([ioe])|(Tf?|[atPrsbODlu]))")

# strftime's %b follows LC_TIME; access logs must not.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _remote_address(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> Any:
    if transport is None:
        return "-"
    peername = transport.get_extra_info("peername")
    if isinstance(peername, (tuple, list)):
        return peername[0]  # IPv4 (host, port) and IPv6 (host, port, flow, scope)
    if peername is None:  # 1.1 printed "None"; Apache's convention is "-"
        return "-"
    return peername  # AF_UNIX: the path, '' for an unnamed client socket


class _KnownPeer:
    """Stands in for the transport when the caller already knows the
    address ``%a`` must show (a client behind a trusted proxy)."""

    __slots__ = ("_address",)

    def __init__(self, address: str) -> None:
        self._address = address

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._address if name == "peername" else default


# (second, rendered) of the last %t, so a busy server formats the date once a
# second.  Replaced as a whole tuple, which is atomic under the GIL and on PyPy.
_last_request_time: tuple[int, str] = (-(2**63), "")


def _request_time(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> str:
    global _last_request_time
    now = int(clock() // 1)
    cached = _last_request_time
    if cached[0] == now:
        return cached[1]
    tm = _time.gmtime(now)
    text = (
        f"[{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year:04d}"
        f":{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} +0000]"
    )
    _last_request_time = (now, text)
    return text


def _process_id(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> str:
    # Looked up per call, not cached: a forked worker must log its own pid.
    return f"<{os.getpid()}>"


def _first_request_line(
    message: Any, environ: Any, response: Any, transport: Any, time: Any
) -> str:
    if message is None:
        return "-"
    version = message.version  # indexed, so a plain (1, 1) tuple works too
    return f"{message.method} {message.path} HTTP/{version[0]}.{version[1]}"


def _response_status(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> Any:
    return "-" if response is None else response.status


def _response_size(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> Any:
    return "-" if response is None else response.body_length


def _bytes_sent(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> Any:
    return "-" if response is None else response.output_length


def _seconds(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> Any:
    return "-" if time is None else round(time)


def _seconds_frac(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> str:
    return "-" if time is None else f"{time:06f}"


def _microseconds(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> Any:
    return "-" if time is None else round(time * 1_000_000)


def _dash(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> str:
    return "-"


def _request_header(name: str) -> _AtomFn:
    def atom(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> Any:
        if message is None:
            return "(no headers)"
        return message.headers.get(name, "-")

    return atom


def _response_header(name: str) -> _AtomFn:
    def atom(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> Any:
        if response is None:
            return "-"
        return response.headers.get(name, "-")

    return atom


def _environ(name: str) -> _AtomFn:
    def atom(message: Any, environ: Any, response: Any, transport: Any, time: Any) -> Any:
        # The server passes no environ; then the process environment is meant.
        return (os.environ if environ is None else environ).get(name, "-")

    return atom


# Letter -> (extra key, function).  %l and %u (ident and remote user) are not
# known to an HTTP server; they are always "-" and, as in 1.1, have no key.
_SIMPLE_ATOMS: dict[str, tuple[str | None, _AtomFn]] = {
    "a": ("remote_address", _remote_address),
    "t": ("request_time", _request_time),
    "P": ("process_id", _process_id),
    "r": ("first_request_line", _first_request_line),
    "s": ("response_status", _response_status),
    "b": ("response_size", _response_size),
    "O": ("bytes_sent", _bytes_sent),
    "T": ("request_time_seconds", _seconds),
    "Tf": ("request_time_frac", _seconds_frac),
    "D": ("request_time_micro", _microseconds),
    "l": (None, _dash),
    "u": (None, _dash),
}

# Kind letter -> (extra key holding a {name: value} dict, function factory).
_NAMED_ATOMS: dict[str, tuple[str, Callable[[str], _AtomFn]]] = {
    "i": ("request_header", _request_header),
    "o": ("response_header", _response_header),
    "e": ("environ", _environ),
}


def _compile(log_format: str) -> tuple[str, tuple[_Atom, ...]]:
    """Split ``log_format`` into a ``%``-template and its atoms, in order.

    Literal text has its ``%`` doubled so the template survives ``%``
    formatting; each atom becomes one ``%s``.  %l and %u are folded into the
    template as ``-`` since they never vary.
    """
    template: list[str] = []
    atoms: list[_Atom] = []
    pos = 0
    for match in _ATOM_RE.finditer(log_format):
        template.append(log_format[pos : match.start()].replace("%", "%%"))
        pos = match.end()
        name, kind, letter = match.groups()
        if letter is not None:
            key, fn = _SIMPLE_ATOMS[letter]
            if key is None:
                template.append("-")
                continue
            atoms.append((key, None, fn))
        else:
            key, factory = _NAMED_ATOMS[kind]
            atoms.append((key, name, factory(name)))
        template.append("%s")
    template.append(log_format[pos:].replace("%", "%%"))
    return "".join(template), tuple(atoms)


class AccessLogger:
    """Write one access line per request in a ``mod_log_config``-like format.

    ``logger`` is anything with ``info`` and ``exception`` (a ``Logger``,
    ``LoggerAdapter`` or test double).  Supported atoms: ``%a %t %P %r %s %b
    %O %T %Tf %D %l %u %{Header}i %{Header}o %{VAR}e``; any other ``%X`` is
    copied literally.
    """

    # Compiled formats, shared by all instances: servers build one
    # AccessLogger per connection, and the compile should happen once.
    _FORMAT_CACHE: ClassVar[dict[str, tuple[str, tuple[_Atom, ...]]]] = {}

    def __init__(self, logger: Any, log_format: str = LOG_FORMAT) -> None:
        self.logger = logger
        compiled = self._FORMAT_CACHE.get(log_format)
        if compiled is None:
            compiled = self._FORMAT_CACHE[log_format] = _compile(log_format)
        #: The %-template, named as in 1.1 (its tests compare it).
        self._log_format: str = compiled[0]
        self._atoms: tuple[_Atom, ...] = compiled[1]
        # With a real logger below INFO the whole line can be skipped; test
        # doubles without isEnabledFor are always treated as enabled.
        self._is_enabled_for: Callable[[int], bool] | None = getattr(logger, "isEnabledFor", None)

    @property
    def enabled(self) -> bool:
        """Whether a call to :meth:`log` would emit anything (INFO is on).

        The server can test this before measuring request time at all.
        """
        check = self._is_enabled_for
        return check is None or bool(check(logging.INFO))

    def log(
        self,
        message: Any,
        environ: Mapping[str, Any] | None,
        response: Any,
        transport: Any,
        time: float | None,
        *,
        remote_address: str | None = None,
    ) -> None:
        """Log one request.

        ``message`` is the request head (``.method``, ``.path``, ``.version``,
        ``.headers``) or None; ``environ`` an optional mapping for ``%{K}e``;
        ``response`` has ``.status``, ``.body_length``, ``.output_length`` and
        ``.headers``; ``transport`` answers ``get_extra_info('peername')``;
        ``time`` is the request's duration in seconds.  ``remote_address``,
        when given, is what ``%a`` shows instead of the transport's peer: the
        server passes the client named by a trusted proxy's forwarding header
        (``trusted_proxies``).  A failure while formatting is logged, never
        raised: logging must not break a request.
        """
        check = self._is_enabled_for
        if check is not None and not check(logging.INFO):
            return
        if remote_address is not None:
            # %a is the only atom that reads the transport.
            transport = _KnownPeer(remote_address)
        try:
            values = []
            extra: dict[str, Any] = {}
            for key, sub_key, fn in self._atoms:
                value = fn(message, environ, response, transport, time)
                values.append(value)
                if sub_key is None:
                    extra[key] = value
                else:
                    group = extra.get(key)
                    if group is None:
                        group = extra[key] = {}
                    group[sub_key] = value
            self.logger.info(self._log_format % tuple(values), extra=extra)
        except Exception:
            self.logger.exception("Error in logging")
