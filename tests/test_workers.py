"""``python -m llserver --workers N``: real supervisor and worker processes on
127.0.0.1, real clients.

Every server is started on port 0 in a temporary directory (outside the
checkout, so the child imports the same llserver as this test run), every
wait is bounded, and only the processes this module started (and the
workers they reported) are signalled, by PID."""

from __future__ import annotations

import ast
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest

import llserver

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="workers are tested on Linux (fork, /proc)"
)

#: The application the workers serve: answers with the worker's PID, so a
#: test sees which process served it.
APP_MODULE = "llserver_test_app"
APP_SOURCE = '''
import asyncio
import os

import llserver
from llserver.server import ServerHttpProtocol

_crash = os.environ.get("LLSERVER_TEST_CRASH_FILE")
if _crash and os.path.exists(_crash):
    raise RuntimeError("failing on purpose: " + _crash + " exists")


class PidHandler(ServerHttpProtocol):
    """/: the PID; /slow: head and b"start;" at once, the rest after a
    second; /loop: the event loop's module."""

    async def handle_request(self, message, payload):
        pid = str(os.getpid()).encode()
        response = llserver.Response(self.writer, 200, http_version=message.version)
        if message.path == "/slow":
            body = b"start;end;" + pid
            response.add_header("Content-Length", str(len(body)))
            response.send_headers()
            response.write(b"start;")
            await asyncio.sleep(1.0)
            response.write(body[len(b"start;"):])
            await response.write_eof()
            return
        if message.path == "/loop":
            body = type(asyncio.get_running_loop()).__module__.encode()
        else:
            body = pid
        response.add_header("Content-Length", str(len(body)))
        response.send_headers()
        response.write(body)
        await response.write_eof()


def factory():
    return PidHandler()
'''

HOST = "127.0.0.1"


def pid_alive(pid: int) -> bool:
    """Running (not exited, not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_until(predicate, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class Proc:
    """A server process of ours; output goes to files (no pipe can fill)."""

    def __init__(self, argv: List[str], cwd: Path, env: Dict[str, str], name: str) -> None:
        self.out_path = cwd / f"{name}.out"
        self.err_path = cwd / f"{name}.err"
        self.seen_pids: Set[int] = set()  # workers it told us about
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=str(cwd), env=env
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for(self, pattern: str, stream: str = "out", timeout: float = 20.0) -> re.Match:
        found: List[re.Match] = []

        def check() -> bool:
            m = re.search(pattern, self.out() if stream == "out" else self.err())
            if m:
                found.append(m)
            return bool(m) or self.proc.poll() is not None

        wait_until(check, timeout, 0.02)
        assert found, f"no {pattern!r} in {stream}:\n{self.out()}\n{self.err()}"
        return found[0]

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        # Workers stop by themselves once the supervisor is gone; any that
        # would not are killed, by the PIDs they reported, if the PID is
        # still a fork of ours (same command line), not a reused one.
        wait_until(lambda: not any(pid_alive(p) for p in self.seen_pids), 10)
        for pid in self.seen_pids:
            if pid_alive(pid) and self._is_ours(pid):
                os.kill(pid, signal.SIGKILL)

    def _is_ours(self, pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            return False
        return cmdline.split(b"\0")[1:-1] == [os.fsencode(a) for a in self.proc.args[1:]]


def child_env(app_dir: Path) -> Dict[str, str]:
    """The child imports this run's llserver (installed or in-tree) and the
    test application."""
    pkg_parent = str(Path(llserver.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [pkg_parent, str(app_dir), os.environ.get("PYTHONPATH")])
    )
    env.pop("LLSERVER_TEST_CRASH_FILE", None)
    return env


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / f"{APP_MODULE}.py").write_text(APP_SOURCE)
    return tmp_path


@pytest.fixture
def launch(app_dir: Path) -> Iterator:
    """``launch(*args, env=None)`` runs ``python -m llserver *args`` and
    returns ``(proc, port)`` once it prints ``serving on``."""
    started: List[Proc] = []

    def start(*args: str, env: Optional[Dict[str, str]] = None) -> Tuple[Proc, int]:
        proc = Proc(
            [sys.executable, "-m", "llserver", "--host", HOST, "--port", "0", *args],
            app_dir,
            env or child_env(app_dir),
            f"server{len(started)}",
        )
        started.append(proc)
        m = proc.wait_for(r"serving on (.*)\n")
        address = ast.literal_eval(m.group(1).strip())
        assert address[0] == HOST
        return proc, address[1]

    yield start
    for proc in started:
        proc.cleanup()


def get(
    port: int, path: str = "/", context: Optional[ssl.SSLContext] = None, proc: Optional[Proc] = None
) -> Tuple[int, bytes]:
    if context is not None:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            HOST, port, timeout=10, context=context
        )
    else:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if proc is not None and path == "/" and body.isdigit():
        proc.seen_pids.add(int(body))
    return resp.status, body


def collect_pids(port: int, proc: Proc, want: int, attempts: int = 200, **kw) -> Set[int]:
    """PIDs answering on fresh connections, until ``want`` distinct ones
    (each connection lands on a worker by the kernel's hash)."""
    pids: Set[int] = set()
    for _ in range(attempts):
        status, body = get(port, proc=proc, **kw)
        assert status == 200, body
        pids.add(int(body))
        if len(pids) >= want:
            break
    return pids


# ------------------------------------------------------------------- tests


def test_two_workers_answer_and_a_killed_worker_is_replaced(launch):
    proc, port = launch(f"{APP_MODULE}:factory", "--workers", "2")
    first = collect_pids(port, proc, 2)
    assert len(first) == 2 and proc.pid not in first
    assert all(pid_alive(p) for p in first)

    victim, survivor = sorted(first)
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(victim), 5)
    # The port keeps serving, with no failed request, and a new worker
    # takes the dead one's place.
    replacement: Set[int] = set()
    deadline = time.monotonic() + 10
    while not replacement and time.monotonic() < deadline:
        status, body = get(port, proc=proc)
        assert status == 200
        replacement = {int(body)} - first
    assert replacement, "no new worker answered within 10 s"
    assert pid_alive(survivor)
    assert f"worker {victim} exited (signal SIGKILL); restarting" in proc.err()

    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert wait_until(lambda: not any(pid_alive(p) for p in proc.seen_pids), 5)


def test_sighup_replaces_every_worker_with_new_processes(launch):
    proc, port = launch(f"{APP_MODULE}:factory", "--workers", "2")
    old = collect_pids(port, proc, 2)
    assert len(old) == 2
    proc.signal(signal.SIGHUP)
    # New workers start first; each old one stops once its successor listens.
    assert wait_until(lambda: not any(pid_alive(p) for p in old), 15), proc.err()
    assert proc.err().count("replaces worker") == 2
    new = collect_pids(port, proc, 2)
    assert len(new) == 2 and not (new & old)
    assert proc.proc.poll() is None
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def slow_request_through_sigterm(proc, port):
    """Send GET /slow, send SIGTERM once its handler is sleeping, read until
    the server closes.  Returns (bytes received, time of the signal)."""
    with socket.create_connection((HOST, port), timeout=10) as client:
        client.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while b"start;" not in received:  # the handler is sleeping now
            chunk = client.recv(65536)
            assert chunk, received
            received += chunk
        stopped_at = time.monotonic()
        proc.signal(signal.SIGTERM)
        while True:
            chunk = client.recv(65536)
            if not chunk:
                break
            received += chunk
    return received, stopped_at


def test_sigterm_lets_a_request_in_flight_finish_then_everything_exits(launch):
    proc, port = launch(f"{APP_MODULE}:factory", "--workers", "2", "--graceful-timeout", "10")
    workers = collect_pids(port, proc, 2)
    received, stopped_at = slow_request_through_sigterm(proc, port)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), received
    assert re.search(rb"(?i)content-length: (\d+)", head).group(1) == str(len(body)).encode()
    assert body.startswith(b"start;end;") and int(body[len(b"start;end;"):]) in workers
    assert proc.wait(15) == 0
    assert time.monotonic() - stopped_at < 8
    assert not any(pid_alive(p) for p in workers)
    with pytest.raises(OSError):
        socket.create_connection((HOST, port), timeout=2).close()


def test_workers_stop_when_the_supervisor_is_killed(launch):
    proc, port = launch(f"{APP_MODULE}:factory", "--workers", "2")
    workers = collect_pids(port, proc, 2)
    proc.signal(signal.SIGKILL)
    proc.wait(10)
    # no orphan keeps serving: each worker sees its lifeline close
    assert wait_until(lambda: not any(pid_alive(p) for p in workers), 10)
    with pytest.raises(OSError):
        socket.create_connection((HOST, port), timeout=2).close()


def test_tls_workers(launch, certificate):
    cert, key = certificate
    proc, port = launch(
        f"{APP_MODULE}:factory", "--workers", "2", "--ssl-certfile", cert, "--ssl-keyfile", key
    )
    context = ssl.create_default_context(cafile=cert)
    pids = collect_pids(port, proc, 2, context=context)
    assert len(pids) == 2
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
        get(port)  # plain HTTP on the TLS port gets no HTTP answer
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_uvloop_workers(launch, workers):
    pytest.importorskip("uvloop")
    proc, port = launch(f"{APP_MODULE}:factory", "--workers", workers, "--uvloop")
    assert get(port, "/loop") == (200, b"uvloop")
    status, body = get(port, proc=proc)
    assert status == 200 and (int(body) == proc.pid) == (workers == "1")
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_shared_listening_socket_without_reuse_port(launch):
    proc, port = launch(f"{APP_MODULE}:factory", "--workers", "2", "--no-reuse-port")
    assert "one shared listening socket" in proc.err()
    status, body = get(port, proc=proc)
    assert status == 200
    os.kill(int(body), signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(int(body)), 5)
    # the other worker accepts from the same socket meanwhile
    for _ in range(5):
        status, other = get(port, proc=proc)
        assert status == 200 and other != body
    proc.wait_for(rf"worker {int(body)} exited.*\n.*worker \d+ listening", "err", 10)
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_one_worker_serves_in_process(launch):
    proc, port = launch(f"{APP_MODULE}:factory")
    assert get(port) == (200, str(proc.pid).encode())
    proc.signal(signal.SIGINT)
    assert proc.wait(15) == 0
    assert "Traceback" not in proc.err()


def test_workers_serve_the_demo_without_a_factory(launch):
    proc, port = launch("--workers", "2")
    assert get(port) == (200, b"<h1>It Works!</h1>")
    proc.signal(signal.SIGINT)
    assert proc.wait(15) == 0


def test_a_factory_that_cannot_load_stops_the_supervisor(app_dir):
    proc = Proc(
        [sys.executable, "-m", "llserver", "no_such_module_here:factory", "--workers", "2",
         "--host", HOST, "--port", "0"],
        app_dir, child_env(app_dir), "broken",
    )
    try:
        assert proc.wait(20) == 1
        err = proc.err()
        assert "ModuleNotFoundError" in err and "could not start" in err
        assert "serving on" not in proc.out()
    finally:
        proc.cleanup()


def test_a_crashing_worker_is_restarted_with_growing_delays(launch, app_dir):
    crash_file = app_dir / "crash"
    env = dict(child_env(app_dir), LLSERVER_TEST_CRASH_FILE=str(crash_file))
    proc, port = launch(f"{APP_MODULE}:factory", "--workers", "2", env=env)
    workers = collect_pids(port, proc, 2)
    crash_file.write_text("")  # from now on, a new worker fails to import the app
    victim = min(workers)
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)


    def delays() -> List[float]:
        return [float(d) for d in re.findall(r"restarting in ([\d.]+) s", proc.err())]

    assert wait_until(lambda: len(delays()) >= 5, 10), proc.err()
    elapsed = time.monotonic() - killed_at
    # at once after a first death, then doubling delays: not a fork loop
    assert delays()[:5] == [0.0, 0.1, 0.2, 0.4, 0.8], proc.err()
    assert elapsed >= 0.7
    assert "RuntimeError: failing on purpose" in proc.err()
    # the surviving worker serves all along
    status, body = get(port, proc=proc)
    assert status == 200 and int(body) == max(workers)
    crash_file.unlink()
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "0"], "--workers must be at least 1"),
        ([f"{APP_MODULE}:factory", "--debug"], "--debug applies to the demo handler"),
        (["no_colon"], "expected module:factory"),
        (["--ssl-keyfile", "k.pem"], "--ssl-keyfile needs --ssl-certfile"),
    ],
)
def test_command_line_errors(capsys, args, message):
    from llserver.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2 and message in capsys.readouterr().err
