"""gunicorn running llserver: ``gunicorn -k llserver.worker.LLServerWorker``
as a real process on 127.0.0.1, with the test application of
test_workers.py (it answers with the worker's PID)."""

from __future__ import annotations

import asyncio
import os
import platform
import re
import signal
import ssl
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from test_workers import (
    APP_MODULE,
    APP_SOURCE,
    HOST,
    Proc,
    child_env,
    collect_pids,
    get,
    pid_alive,
    slow_request_through_sigterm,
    wait_until,
)

gunicorn_config = pytest.importorskip("gunicorn.config")

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="tested on Linux (fork, /proc)"
)

WORKER = "llserver.worker.LLServerWorker"
UVLOOP_WORKER = "llserver.worker.LLServerUVLoopWorker"


#: gunicorn's post_worker_init hook runs in a worker once it has loaded the
#: application and taken over its signals: the tests wait for this line
#: before they signal anything (a stop signal sent in the few milliseconds
#: between fork and the worker's own set-up is gunicorn's to lose).
CONFIG_SOURCE = """
import sys

def post_worker_init(worker):
    print("worker ready: %d" % worker.pid, file=sys.stderr, flush=True)
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / f"{APP_MODULE}.py").write_text(APP_SOURCE)
    (tmp_path / "gunicorn_test_conf.py").write_text(CONFIG_SOURCE)
    return tmp_path


@pytest.fixture
def gunicorn(app_dir: Path) -> Iterator:
    """``gunicorn(worker_class, *args)`` runs gunicorn on 127.0.0.1:0 and
    returns ``(proc, port)`` once it listens."""
    started: List[Proc] = []
    extra = []
    if "control_socket_disable" in gunicorn_config.Config().settings:
        extra.append("--no-control-socket")  # gunicorn >= 24 makes one in $HOME

    def start(worker: str, *args: str, workers: int = 1) -> Tuple[Proc, int]:
        env: Dict[str, str] = child_env(app_dir)
        env.pop("GUNICORN_CMD_ARGS", None)
        proc = Proc(
            [sys.executable, "-m", "gunicorn", "-c", str(app_dir / "gunicorn_test_conf.py"),
             "-k", worker, "-b", f"{HOST}:0", "-w", str(workers), *extra, *args,
             f"{APP_MODULE}:factory"],
            app_dir, env, f"gunicorn{len(started)}",
        )
        started.append(proc)
        m = proc.wait_for(r"Listening at: https?://127\.0\.0\.1:(\d+)", "err")
        assert wait_until(
            lambda: len(re.findall(r"worker ready: \d+", proc.err())) >= workers
            or proc.proc.poll() is not None,
            20,
        )
        assert proc.proc.poll() is None, proc.err()
        return proc, int(m.group(1))

    yield start
    for proc in started:
        proc.cleanup()


def worker_pids(proc: Proc) -> List[int]:
    return [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", proc.err())]


def test_serves_requests_restarts_after_max_requests_and_beats_the_timeout(gunicorn):
    proc, port = gunicorn(WORKER, "--max-requests", "3", "--max-requests-jitter", "0",
                          "--timeout", "1")
    pids = [int(get(port, proc=proc)[1]) for _ in range(4)]
    assert proc.pid not in pids
    # the third request is still answered by the first worker, which then
    # stops gracefully; gunicorn starts another
    assert pids[0] == pids[1] == pids[2] != pids[3], pids
    assert "Autorestarting worker after current request." in proc.err()
    assert wait_until(lambda: not pid_alive(pids[0]), 5)
    # An idle worker tells the arbiter it is alive: with --timeout 1 it
    # would be killed after a second of silence.
    time.sleep(2.0)
    status, body = get(port, proc=proc)
    assert status == 200 and int(body) == pids[3]
    assert "WORKER TIMEOUT" not in proc.err()
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_sigterm_lets_a_request_in_flight_finish(gunicorn):
    proc, port = gunicorn(WORKER, "--graceful-timeout", "10")
    received, stopped_at = slow_request_through_sigterm(proc, port)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), received
    assert re.search(rb"(?i)content-length: (\d+)", head).group(1) == str(len(body)).encode()
    worker = int(body[len(b"start;end;"):])
    assert body == b"start;end;%d" % worker and worker in worker_pids(proc)
    assert proc.wait(15) == 0
    assert time.monotonic() - stopped_at < 8
    assert not pid_alive(worker)


def test_ssl_from_gunicorn_settings(gunicorn, certificate):
    cert, key = certificate
    proc, port = gunicorn(WORKER, "--certfile", cert, "--keyfile", key)
    context = ssl.create_default_context(cafile=cert)
    status, body = get(port, context=context, proc=proc)
    assert status == 200 and int(body) in worker_pids(proc)
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_uvloop_worker(gunicorn):
    pytest.importorskip("uvloop")
    proc, port = gunicorn(UVLOOP_WORKER, workers=2)
    assert get(port, "/loop") == (200, b"uvloop")
    assert collect_pids(port, proc, 1) <= set(worker_pids(proc))
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


async def test_counting_factory_counts_requests_not_connections():
    """max_requests counts requests: three pipelined on one connection
    count three, each is answered, and the wrapped protocol is still freed
    by reference counting when its connection ends (CPython)."""
    import gc

    import llserver
    from llserver.worker import CountingFactory

    namespace: dict = {}
    exec(compile(APP_SOURCE, APP_MODULE, "exec"), namespace)
    seen: List[int] = []
    factory = CountingFactory(namespace["factory"], lambda: seen.append(1))
    server = await llserver.start_server(factory, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    gc.collect()
    gc.disable()
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2
                     + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.2)
        left = len(server.protocols)
    finally:
        gc.enable()
        await llserver.shutdown(server, 5)
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.endswith(str(os.getpid()).encode())
    assert len(seen) == 3
    if platform.python_implementation() == "CPython":
        assert left == 0
