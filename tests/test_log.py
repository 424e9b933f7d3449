"""AccessLogger and the llserver loggers (acceptance checklist §J, items 110-112).

These drive ``AccessLogger.log`` with stand-in message, response and transport
objects; the same lines over a real socket are checked with the server.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections import namedtuple
from types import SimpleNamespace
from unittest import mock

import pytest
from multidict import CIMultiDict

from llserver import log
from llserver.log import LOG_FORMAT, AccessLogger

# The shape of the request message the server hands over (api-spec §3).
Message = namedtuple(
    "Message",
    ["method", "path", "version", "headers", "raw_headers", "should_close", "compression"],
)
Version = namedtuple("Version", ["major", "minor"])

JAN_1_1843 = calendar.timegm((1843, 1, 1, 0, 0, 0))


class FakeTransport:
    def __init__(self, peername):
        self._extra = {"peername": peername}

    def get_extra_info(self, name, default=None):
        return self._extra.get(name, default)


def make_message(method="GET", path="/path", version=(1, 1), headers=None):
    return Message(method, path, Version(*version), CIMultiDict(headers or {}), [], False, None)


def make_response(status=200, body_length=42, output_length=123, headers=None):
    return SimpleNamespace(
        status=status,
        body_length=body_length,
        output_length=output_length,
        headers=CIMultiDict(headers or {}),
    )


@pytest.fixture
def frozen(monkeypatch):
    """Freeze %t at 1843-01-01 00:00:00 UTC and %P at pid 42."""
    monkeypatch.setattr(log, "clock", lambda: float(JAN_1_1843))
    monkeypatch.setattr(log.os, "getpid", lambda: 42)


def test_loggers_have_llserver_names():
    assert log.access_logger.name == "llserver.access"
    assert log.server_logger.name == "llserver.server"
    assert log.internal_logger.name == "llserver.internal"


def test_default_format_uses_referer_not_the_1_1_typo():
    assert LOG_FORMAT == '%a %l %u %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"'


def test_default_format_logs_one_combined_info_line(caplog):
    caplog.set_level(logging.INFO, logger="llserver.access")
    AccessLogger(log.access_logger).log(
        make_message(path="/x"),
        None,
        make_response(status=404, body_length=15),
        FakeTransport(("127.0.0.1", 54321)),
        0.01,
    )
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.name == "llserver.access"
    assert record.levelno == logging.INFO
    assert re.fullmatch(
        r"127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "
        r'"GET /x HTTP/1\.1" 404 15 "-" "-"',
        record.getMessage(),
    )


def test_default_format_takes_referer_and_user_agent_from_the_request(caplog, frozen):
    caplog.set_level(logging.INFO, logger="llserver.access")
    message = make_message(
        path="/x", headers={"Referer": "http://a.example/", "User-Agent": "curl/8.0"}
    )
    AccessLogger(log.access_logger).log(
        message,
        None,
        make_response(status=404, body_length=15),
        FakeTransport(("::1", 1, 0, 0)),
        0.0,
    )
    assert caplog.records[0].getMessage() == (
        '::1 - - [01/Jan/1843:00:00:00 +0000] "GET /x HTTP/1.1" 404 15 '
        '"http://a.example/" "curl/8.0"'
    )


def test_every_simple_atom_with_frozen_clock_and_pid(frozen):
    logger = mock.Mock()
    access_logger = AccessLogger(logger, "%a %t %P %l %u %r %s %b %O %T %Tf %D")
    access_logger.log(
        make_message(), None, make_response(), FakeTransport(("127.0.0.2", 1234)), 3.1415926
    )
    logger.info.assert_called_once_with(
        "127.0.0.2 [01/Jan/1843:00:00:00 +0000] <42> - - GET /path HTTP/1.1 "
        "200 42 123 3 3.141593 3141593",
        extra={
            "remote_address": "127.0.0.2",
            "request_time": "[01/Jan/1843:00:00:00 +0000]",
            "process_id": "<42>",
            "first_request_line": "GET /path HTTP/1.1",
            "response_status": 200,
            "response_size": 42,
            "bytes_sent": 123,
            "request_time_seconds": 3,
            "request_time_frac": "3.141593",
            "request_time_micro": 3141593,
        },
    )
    logger.exception.assert_not_called()


def test_percent_t_is_the_time_of_logging_not_the_request_duration(monkeypatch):
    logger = mock.Mock()
    access_logger = AccessLogger(logger, "%t")
    stamp = calendar.timegm((2026, 11, 24, 23, 3, 44))
    monkeypatch.setattr(log, "clock", lambda: stamp + 0.75)
    access_logger.log(None, None, None, None, 1000.0)
    monkeypatch.setattr(log, "clock", lambda: stamp + 1.0)
    access_logger.log(None, None, None, None, 1000.0)
    lines = [c.args[0] for c in logger.info.call_args_list]
    assert lines == ["[24/Nov/2026:23:03:44 +0000]", "[24/Nov/2026:23:03:45 +0000]"]


def test_percent_t_month_names_are_english_whatever_the_locale(monkeypatch):
    logger = mock.Mock()
    access_logger = AccessLogger(logger, "%t")
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    for number, name in enumerate(months, start=1):
        stamp = calendar.timegm((2024, number, 9, 8, 7, 6))
        monkeypatch.setattr(log, "clock", lambda stamp=stamp: float(stamp))
        access_logger.log(None, None, None, None, 0.0)
        assert logger.info.call_args.args[0] == f"[09/{name}/2024:08:07:06 +0000]"


def test_header_response_header_and_environ_atoms():
    logger = mock.Mock()
    access_logger = AccessLogger(logger, "%{User-Agent}i %{Content-Length}o %{SPAM}e %{None}i")
    access_logger.log(
        make_message(headers={"User-Agent": "Mock/1.0"}),
        {"SPAM": "EGGS"},
        make_response(headers={"Content-Length": 123}),
        FakeTransport(("127.0.0.2", 1234)),
        0.0,
    )
    logger.info.assert_called_once_with(
        "Mock/1.0 123 EGGS -",
        extra={
            # 1.1 kept only the last %{...}i; each atom now keeps its entry.
            "request_header": {"User-Agent": "Mock/1.0", "None": "-"},
            "response_header": {"Content-Length": 123},
            "environ": {"SPAM": "EGGS"},
        },
    )


def test_request_header_lookup_is_case_insensitive():
    logger = mock.Mock()
    AccessLogger(logger, "%{user-agent}i").log(
        make_message(headers={"User-Agent": "Mock/1.0"}), None, make_response(), None, 0.0
    )
    assert logger.info.call_args.args[0] == "Mock/1.0"


def test_missing_message_gives_dash_request_line_and_no_headers(monkeypatch):
    monkeypatch.delenv("FOOBAR", raising=False)
    logger = mock.Mock()
    AccessLogger(logger, "%r %{FOOBAR}i %{FOOBAR}e").log(
        None, None, make_response(), FakeTransport(("127.0.0.2", 1)), 0.0
    )
    assert logger.info.call_args.args[0] == "- (no headers) -"


def test_environ_atom_falls_back_to_os_environ_without_an_environ(monkeypatch):
    monkeypatch.setenv("LLSERVER_TEST_VAR", "from-os")
    logger = mock.Mock()
    access_logger = AccessLogger(logger, "%{LLSERVER_TEST_VAR}e")
    access_logger.log(None, None, None, None, 0.0)
    assert logger.info.call_args.args[0] == "from-os"
    # A mapping that is passed is used as it is, without the fallback.
    access_logger.log(None, {}, None, None, 0.0)
    assert logger.info.call_args.args[0] == "-"


@pytest.mark.parametrize(
    ("transport", "expected"),
    [
        (None, "-"),
        (FakeTransport(""), ""),  # AF_UNIX client socket
        (FakeTransport("/run/app.sock"), "/run/app.sock"),
        (FakeTransport(("127.0.0.2", 80)), "127.0.0.2"),
        (FakeTransport(("::1", 80, 0, 0)), "::1"),
        (FakeTransport(None), "-"),
    ],
)
def test_remote_address(transport, expected):
    logger = mock.Mock()
    AccessLogger(logger, "%a").log(make_message(), None, make_response(), transport, 0.0)
    logger.info.assert_called_once_with(expected, extra={"remote_address": expected})


def test_missing_response_and_time_render_as_dash():
    logger = mock.Mock()
    AccessLogger(logger, "%s %b %O %{ETag}o %T %Tf %D").log(make_message(), None, None, None, None)
    assert logger.info.call_args.args[0] == "- - - - - - -"


def test_formatting_error_is_reported_not_raised(caplog):
    class Exploding:
        headers = CIMultiDict()
        body_length = output_length = 0

        @property
        def status(self):
            raise RuntimeError("boom")

    logger = mock.Mock()
    AccessLogger(logger, "%s").log(make_message(), None, Exploding(), None, 0.0)
    logger.info.assert_not_called()
    logger.exception.assert_called_once_with("Error in logging")

    caplog.set_level(logging.INFO, logger="llserver.access")
    AccessLogger(log.access_logger, "%s").log(make_message(), None, Exploding(), None, 0.0)
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "Error in logging"
    assert record.exc_info[0] is RuntimeError


def test_naive_percent_percent_and_unknown_atoms_are_kept(frozen):
    logger = mock.Mock()
    access_logger = AccessLogger(logger, '%T {%{SPAM}e} "%{ETag}o" %X {X} %%P')
    # The same %-template aiohttp 1.1 compiled this format to.
    assert access_logger._log_format == '%s {%s} "%s" %%X {X} %%%s'
    access_logger.log(make_message(), {"SPAM": "EGGS"}, make_response(), None, 3.1415)
    assert logger.info.call_args.args[0] == '3 {EGGS} "-" %X {X} %<42>'


def test_literal_percent_signs_pass_through():
    logger = mock.Mock()
    AccessLogger(logger, "100%% done %").log(None, None, None, None, 0.0)
    logger.info.assert_called_once_with("100%% done %", extra={})


def test_compiled_format_is_cached_per_format_string():
    fmt = "%a %{X-Cache-Test}i"
    first = AccessLogger(mock.Mock(), fmt)
    second = AccessLogger(mock.Mock(), fmt)
    assert fmt in AccessLogger._FORMAT_CACHE
    assert first._atoms is second._atoms
    assert AccessLogger(mock.Mock(), fmt + " ")._atoms is not first._atoms


def test_nothing_is_computed_when_info_is_disabled():
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"read {name!r} although access logging is off")

    logger = logging.getLogger("llserver.test.disabled")
    logger.setLevel(logging.WARNING)
    access_logger = AccessLogger(logger)
    assert access_logger.enabled is False
    with mock.patch.object(logger, "exception") as exception:
        access_logger.log(Untouchable(), None, Untouchable(), Untouchable(), 0.0)
    exception.assert_not_called()

    logger.setLevel(logging.INFO)
    assert access_logger.enabled is True


def test_logger_without_is_enabled_for_is_treated_as_enabled():
    class Minimal:
        def __init__(self):
            self.lines = []

        def info(self, line, extra):
            self.lines.append(line)

        def exception(self, msg):  # pragma: no cover - must not happen
            raise AssertionError(msg)

    logger = Minimal()
    access_logger = AccessLogger(logger, "%r")
    assert access_logger.enabled is True
    access_logger.log(make_message(), None, make_response(), None, 0.0)
    assert logger.lines == ["GET /path HTTP/1.1"]
