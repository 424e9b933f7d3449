"""End-to-end HTTP serving, llserver against the anchors, side by side in one run.

    python benchmarks/e2e.py [--quick] [--rounds N] [--json out.json]

What is measured (issue #6, "The benchmark"): each target is a real server
process serving one of five scenarios to wrk over loopback.  The server runs
pinned to CPU 0 (``taskset -c 0``), wrk (``-t1 -c64``) pinned to CPU 1; a
fresh server process serves every measurement.  Per run: requests/s and
errors as wrk counts them (socket errors, non-2xx), the server's CPU time per
request (utime+stime of its process tree from /proc, before and after the
timed wrk run, divided by wrk's completed requests), its CPU share of the run
(100% = one core saturated: below that the server waited on the client), and
its peak RSS (VmHWM at the end of the run, largest process of the tree).

Targets: llserver with the seed-style handler of examples/basic_server.py on
the stdlib loop and on uvloop; aiohttp 3.x's low-level ``web.Server``;
uvicorn with httptools and with zttp, each on asyncio and on uvloop; granian
(RSGI, one worker, one runtime thread); and a raw asyncio Protocol that
answers with canned bytes (the ceiling).  The apps are in e2e_servers/.

Scenarios: hello (GET /, keep-alive); pipelined (16 GET / per write);
upload (POST /upload of 64 KiB, read whole by the handler); stream (GET
/stream, a 1 MiB response written as 16 x 64 KiB); close (GET / with
``Connection: close``, a new connection per request).

Method: rounds are interleaved (every scenario x target once per round, in
the same order), after an untimed wrk warm-up against the same process; the
report gives medians with min-max, ratios to the fastest anchor and to the
raw ceiling, and the issue's targets as met or not met (reported, never
asserted).  Before each measurement the runner checks the server's answer on
the scenario's path.  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
APPS = HERE / "e2e_servers"
LUA = HERE / "e2e_wrk"

sys.path.insert(0, str(APPS))
from bodies import HELLO, STREAM_SIZE, UPLOAD_SIZE  # noqa: E402

sys.path.pop(0)

# A PyPy interpreter with llserver installed (its own build of the extension),
# for the PyPy figures beside CPython's; the target is skipped without it.
PYPY = os.environ.get("LLSERVER_BENCH_PYPY", "")

SERVER_CPU = "0"  # taskset CPU lists
CLIENT_CPU = "1"
CONNECTIONS = 64
WRK_TIMEOUT = "5s"  # wrk's per-request timeout (counted as a timeout error)
READY_TIMEOUT = 30.0  # seconds for a fresh server to answer its first request
STOP_TIMEOUT = 5.0  # seconds after SIGTERM before SIGKILL
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# Targets of issue #6 (same-run ratios; reported, never asserted).
TARGETS = [
    # (scenario, anchor, minimum ratio of llserver's req/s to the anchor's)
    ("hello", "aiohttp", 1.8),
    ("hello", "granian-rsgi", 1.25),
    ("hello", "raw-asyncio", 0.5),
    ("pipelined", "aiohttp", 5.0),
    ("upload", "aiohttp", 1.5),
]
RSS_ANCHOR = "uvicorn-httptools"  # llserver's peak RSS must not exceed it (same loop)

# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


class Scenario:
    def __init__(self, key: str, title: str, path: str, wrk_args: Sequence[str], probe: Dict[str, Any]) -> None:
        self.key = key
        self.title = title
        self.path = path
        self.wrk_args = list(wrk_args)
        self.probe = probe  # method, body, headers, expected body length, close


SCENARIOS = [
    Scenario("hello", "hello: GET / on kept-alive connections (18-byte text/html body)", "/", [],
             {"method": "GET", "length": len(HELLO), "body": HELLO}),
    Scenario("pipelined", "pipelined: 16 GET / per write on kept-alive connections", "/",
             ["-s", str(LUA / "pipeline.lua")],
             {"method": "GET", "length": len(HELLO), "body": HELLO}),
    Scenario("upload", "upload: POST /upload of 64 KiB, read whole by the handler", "/upload",
             ["-s", str(LUA / "upload.lua")],
             {"method": "POST", "upload": UPLOAD_SIZE, "body": b"%d" % UPLOAD_SIZE}),
    Scenario("stream", "stream: GET /stream, 1 MiB written as 16 x 64 KiB (Content-Length)", "/stream",
             [], {"method": "GET", "length": STREAM_SIZE}),
    Scenario("close", "close: GET / with Connection: close (a new connection per request)", "/",
             ["-H", "Connection: close"],
             {"method": "GET", "length": len(HELLO), "body": HELLO, "close": True}),
]

# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------


class Target:
    """One server configuration; ``argv(port)`` starts it (before taskset)."""

    def __init__(self, key: str, kind: str, argv: Any, needs: Sequence[str], note: str,
                 python: Optional[str] = None) -> None:
        self.key = key
        self.kind = kind  # "llserver", "anchor" or "ceiling"
        self._argv = argv
        self.needs = list(needs)  # import names that must be present
        self.note = note
        self.skip: Optional[str] = None
        self.python = sys.executable if python is None else python  # checks its imports

    def argv(self, port: int) -> List[str]:
        return [str(a) for a in self._argv(port)]


def _uvicorn(http: str, loop: str) -> Any:
    return lambda port: [
        sys.executable, "-m", "uvicorn", "asgi_app:app", "--app-dir", APPS,
        "--host", "127.0.0.1", "--port", port, "--http", http, "--loop", loop,
        "--lifespan", "off", "--no-access-log", "--log-level", "warning",
    ]


def make_targets() -> List[Target]:
    py = sys.executable
    return [
        Target("llserver-asyncio", "llserver",
               lambda port: [py, APPS / "llserver_app.py", "--port", port, "--loop", "asyncio"],
               ["llserver"], "seed-style handler, stdlib asyncio loop"),
        Target("llserver-uvloop", "llserver",
               lambda port: [py, APPS / "llserver_app.py", "--port", port, "--loop", "uvloop"],
               ["llserver", "uvloop"], "seed-style handler, uvloop"),
        Target("llserver-pypy", "llserver",
               lambda port: [PYPY, APPS / "llserver_app.py", "--port", port, "--loop", "asyncio"],
               ["llserver"], "seed-style handler, PyPy (LLSERVER_BENCH_PYPY), stdlib asyncio loop",
               python=PYPY),
        Target("aiohttp", "anchor",
               lambda port: [py, APPS / "aiohttp_app.py", "--port", port],
               ["aiohttp"], "aiohttp.web.Server (low level), stdlib asyncio loop"),
        Target("uvicorn-httptools", "anchor", _uvicorn("httptools", "asyncio"),
               ["uvicorn", "httptools"], "ASGI app, --http httptools --loop asyncio"),
        Target("uvicorn-httptools-uvloop", "anchor", _uvicorn("httptools", "uvloop"),
               ["uvicorn", "httptools", "uvloop"], "ASGI app, --http httptools --loop uvloop"),
        Target("uvicorn-zttp", "anchor", _uvicorn("zttp", "asyncio"),
               ["uvicorn", "zttp"], "ASGI app, --http zttp --loop asyncio"),
        Target("uvicorn-zttp-uvloop", "anchor", _uvicorn("zttp", "uvloop"),
               ["uvicorn", "zttp", "uvloop"], "ASGI app, --http zttp --loop uvloop"),
        Target("granian-rsgi", "anchor",
               lambda port: [
                   py, "-m", "granian", "--interface", "rsgi", "--host", "127.0.0.1",
                   "--port", port, "--workers", 1, "--runtime-threads", 1,
                   "--blocking-threads", 1, "--runtime-mode", "st", "--loop", "uvloop",
                   "--http", 1, "--no-ws", "--log-level", "warning", "rsgi_app:app",
               ],
               ["granian", "uvloop"],
               "RSGI app, 1 worker process, 1 runtime thread (st), uvloop, HTTP/1 only"),
        Target("raw-asyncio", "ceiling",
               lambda port: [py, APPS / "raw_app.py", "--port", port],
               [], "canned bytes per \\r\\n\\r\\n, stdlib asyncio loop"),
    ]


def _importable(name: str, python: str = sys.executable) -> Optional[str]:
    """None when ``name`` imports in a fresh interpreter like the servers', else why not."""
    code = f"import {name}"
    if name == "llserver" and python == sys.executable:
        # The app falls back to the checkout, so does this check (not on
        # another interpreter: the checkout's extension is this one's).
        code = (f"import sys\ntry:\n import llserver\nexcept ImportError:\n"
                f" sys.path.insert(0, {str(ROOT)!r})\n import llserver")
    try:
        r = subprocess.run([python, "-c", code], capture_output=True, text=True,
                           timeout=60, cwd=str(APPS))
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if r.returncode == 0:
        return None
    lines = r.stderr.strip().splitlines()
    return lines[-1] if lines else f"import {name} failed"


def check_targets(targets: List[Target]) -> None:
    seen: Dict[Tuple[str, str], Optional[str]] = {}
    for t in targets:
        if not t.python:
            t.skip = "no interpreter: set LLSERVER_BENCH_PYPY to a PyPy with llserver installed"
            continue
        for name in t.needs:
            key = (t.python, name)
            if key not in seen:
                seen[key] = _importable(name, t.python)
            if seen[key] is not None:
                t.skip = f"cannot import {name}: {seen[key]}"
                break


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> List[int]:
    out: List[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def process_tree(pid: int) -> List[int]:
    """``pid`` and its descendants (granian serves from a worker process)."""
    tree, todo = [], [pid]
    while todo and len(tree) < 1000:
        p = todo.pop()
        tree.append(p)
        todo += _children(p)
    return tree


def cpu_ticks(pids: Sequence[int]) -> int:
    """utime+stime (all threads) of the live processes among ``pids``."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
    return total


def busy_ticks() -> int:
    """user+nice+system ticks of all CPUs (/proc/stat): with the server's
    and wrk's own time taken out, what other processes ran meanwhile."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[1]) + int(fields[2]) + int(fields[3])
    except (OSError, IndexError, ValueError):
        return 0


def vm_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Server:
    """A fresh server process in its own session (so its group is its own),
    pinned to SERVER_CPU; stopped by its process group id, which is its PID."""

    def __init__(self, target: Target, port: int, log_dir: Path) -> None:
        self.port = port
        self.log_path = log_dir / f"{target.key}-{port}.log"
        self.log = open(self.log_path, "wb")
        env = dict(os.environ, PYTHONPATH=str(APPS), PYTHONUNBUFFERED="1")
        env.pop("PYTHONASYNCIODEBUG", None)
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *target.argv(port)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            cwd=str(APPS), env=env, start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tree(self) -> List[int]:
        return process_tree(self.proc.pid)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def stop(self) -> None:
        pgid = self.proc.pid
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        # Whatever the leader left behind in its group (granian's worker).
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()


def probe(port: int, scenario: Scenario, timeout: float = 5.0) -> Optional[str]:
    """One request on the scenario's path; None if the answer is right, else what is wrong."""
    p = scenario.probe
    body = b"x" * p["upload"] if "upload" in p else None
    headers = {"Connection": "close"} if p.get("close") else {}
    if body is not None:
        headers["Content-Type"] = "application/octet-stream"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(p["method"], scenario.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        return f"status {resp.status}"
    if "body" in p and data != p["body"]:
        return f"body {data[:40]!r}, expected {p['body'][:40]!r}"
    if "length" in p and len(data) != p["length"]:
        return f"body of {len(data)} bytes, expected {p['length']}"
    if p.get("close") and not resp.will_close:
        return "no Connection: close in the answer to a request that asked for it"
    return None


def wait_ready(server: Server, scenario: Scenario) -> Optional[str]:
    """Poll until the server answers the scenario's probe (bounded); None or why not."""
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if not server.alive():
            return f"exited with {server.proc.returncode}: {server.log_tail()}"
        try:
            wrong = probe(server.port, scenario)
        except (OSError, http.client.HTTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
            continue
        return None if wrong is None else f"wrong answer: {wrong}"
    return f"not ready after {READY_TIMEOUT:.0f} s ({last}): {server.log_tail()}"


# ---------------------------------------------------------------------------
# wrk
# ---------------------------------------------------------------------------

_WRK_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_REQUESTS = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b")
_WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_WRK_PCT = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def run_wrk(port: int, scenario: Scenario, seconds: int) -> Dict[str, Any]:
    argv = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s",
            f"--timeout={WRK_TIMEOUT}", "--latency", *scenario.wrk_args,
            f"http://127.0.0.1:{port}{scenario.path}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"failed": f"wrk did not finish in {seconds + 60} s"}
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped meanwhile
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = r.stdout
    m_req, m_rps = _WRK_REQUESTS.search(out), _WRK_RPS.search(out)
    if r.returncode != 0 or not m_req or not m_rps:
        return {"failed": f"wrk exit {r.returncode}: {(r.stderr or out).strip()[-300:]}"}
    res: Dict[str, Any] = {
        "requests": int(m_req.group(1)),
        "wrk_seconds": float(m_req.group(2)) * _UNIT[m_req.group(3)],
        "rps": float(m_rps.group(1)),
        "client_cpu_s": client_cpu,
        "client_cpu_share": client_cpu / wall if wall > 0 else None,
        "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "non2xx": 0},
    }
    m = _WRK_ERRORS.search(out)
    if m:
        for k, v in zip(("connect", "read", "write", "timeout"), m.groups()):
            res["errors"][k] = int(v)
    m = _WRK_NON2XX.search(out)
    if m:
        res["errors"]["non2xx"] = int(m.group(1))
    for pct, val, unit in _WRK_PCT.findall(out):
        res[f"latency_p{pct}_ms"] = float(val) * _UNIT[unit] * 1e3
    return res


# ---------------------------------------------------------------------------
# One measurement
# ---------------------------------------------------------------------------


def measure(target: Target, scenario: Scenario, seconds: int, warmup: int, log_dir: Path) -> Dict[str, Any]:
    """Start a fresh server, check it, warm it, time one wrk run, stop it."""
    port = free_port()
    server = Server(target, port, log_dir)
    try:
        why = wait_ready(server, scenario)
        if why is not None:
            return {"failed": why}
        if warmup:
            w = run_wrk(port, scenario, warmup)
            if "failed" in w:
                return {"failed": f"warm-up: {w['failed']}"}
        if not server.alive():
            return {"failed": f"exited during the warm-up: {server.log_tail()}"}
        log_before = server.log_size()
        pids = server.tree()
        rss_start = max(vm_kib(p, "VmRSS") for p in pids)
        t0, c0, b0 = time.monotonic(), cpu_ticks(pids), busy_ticks()
        res = run_wrk(port, scenario, seconds)
        pids = sorted(set(pids) | set(server.tree()))
        c1, b1, t1 = cpu_ticks(pids), busy_ticks(), time.monotonic()
        if "failed" in res:
            return res
        if not server.alive():
            return {"failed": f"exited during the run: {server.log_tail()}", **res}
        cpu_s = (c1 - c0) / CLK_TCK
        res.update(
            server_cpu_s=cpu_s,
            cpu_share=cpu_s / (t1 - t0),
            other_cpu_share=max(0.0, (b1 - b0) / CLK_TCK - cpu_s - res["client_cpu_s"]) / (t1 - t0),
            us_per_request=cpu_s * 1e6 / res["requests"] if res["requests"] else None,
            peak_rss_kib=max(vm_kib(p, "VmHWM") for p in pids),
            rss_start_kib=rss_start,
            rss_end_kib=max(vm_kib(p, "VmRSS") for p in pids),
            processes=len(pids),
            log_bytes=server.log_size() - log_before,
        )
        if res["log_bytes"]:
            res["log_tail"] = server.log_tail(3)
        return res
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def _med(xs: Sequence[float]) -> Optional[float]:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(scenarios: List[Scenario], targets: List[Target],
              runs: Dict[Tuple[str, str], List[Dict[str, Any]]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"scenarios": [], "targets": []}
    medians: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for sc in scenarios:
        rows = []
        for t in targets:
            rs = runs.get((sc.key, t.key), [])
            ok = [r for r in rs if "failed" not in r]
            row: Dict[str, Any] = {"target": t.key, "kind": t.kind, "note": t.note, "runs": rs}
            if t.skip:
                row["skipped"] = t.skip
            elif not ok:
                row["skipped"] = rs[-1]["failed"] if rs else "no rounds"
            else:
                rps = [r["rps"] for r in ok]
                errors: Dict[str, int] = {}
                for r in ok:
                    for k, v in r["errors"].items():
                        errors[k] = errors.get(k, 0) + v
                row.update(
                    rps_median=_med(rps), rps_min=min(rps), rps_max=max(rps),
                    us_per_request=_med([r["us_per_request"] for r in ok]),
                    cpu_share=_med([r["cpu_share"] for r in ok]),
                    client_cpu_share=_med([r["client_cpu_share"] for r in ok]),
                    peak_rss_mib=_med([r["peak_rss_kib"] / 1024 for r in ok]),
                    peak_rss_max_mib=max(r["peak_rss_kib"] / 1024 for r in ok),
                    rss_start_mib=_med([r["rss_start_kib"] / 1024 for r in ok]),
                    latency_p99_ms=_med([r.get("latency_p99_ms") for r in ok]),
                    errors=errors, errors_total=sum(errors.values()),
                    failed_rounds=len(rs) - len(ok),
                    server_log_bytes=sum(r["log_bytes"] for r in ok),
                )
                medians[(sc.key, t.key)] = row
            rows.append(row)
        anchors = [r for r in rows if r["kind"] == "anchor" and "rps_median" in r]
        best = max(anchors, key=lambda r: r["rps_median"]) if anchors else None
        ceiling = medians.get((sc.key, "raw-asyncio"))
        for r in rows:
            if "rps_median" not in r:
                continue
            r["vs_best"] = r["rps_median"] / best["rps_median"] if best else None
            r["vs_raw"] = r["rps_median"] / ceiling["rps_median"] if ceiling else None
        out["scenarios"].append({"key": sc.key, "title": sc.title,
                                 "best_anchor": best["target"] if best else None, "results": rows})

    others = [r["other_cpu_share"] for rs in runs.values() for r in rs if "other_cpu_share" in r]
    if others:
        out["other_cpu"] = {"median": _med(others), "max": max(others),
                            "runs_over_25pct": sum(x > 0.25 for x in others), "runs": len(others)}
    llservers = [t.key for t in targets if t.kind == "llserver"]
    for sc_key, anchor, goal in TARGETS:
        for me in llservers:
            a, b = medians.get((sc_key, me)), medians.get((sc_key, anchor))
            ratio = a["rps_median"] / b["rps_median"] if a and b else None
            out["targets"].append({
                "what": f"{sc_key} req/s", "llserver": me, "anchor": anchor, "target": goal,
                "ratio": ratio, "met": None if ratio is None else ratio >= goal,
            })
    for me in llservers:
        anchor = RSS_ANCHOR + ("-uvloop" if me.endswith("uvloop") else "")
        worst = None
        for sc in scenarios:
            a, b = medians.get((sc.key, me)), medians.get((sc.key, anchor))
            if a and b:
                ratio = a["peak_rss_mib"] / b["peak_rss_mib"]
                if worst is None or ratio > worst[0]:
                    worst = (ratio, sc.key, a["peak_rss_mib"], b["peak_rss_mib"])
        out["targets"].append({
            "what": "peak RSS (worst scenario)", "llserver": me, "anchor": anchor, "target": 1.0,
            "ratio": worst[0] if worst else None, "scenario": worst[1] if worst else None,
            "rss_mib": worst[2:] if worst else None,
            "met": None if worst is None else worst[0] <= 1.0,
        })
    return out


def _k(x: float) -> str:
    return f"{x / 1000:,.1f}k" if x < 10_000 else f"{x / 1000:,.0f}k"


def _x(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.2f}x"


def print_report(summary: Dict[str, Any], meta: Dict[str, Any]) -> None:
    print(f"llserver end-to-end benchmark — {meta['date']}, {meta['python']}, {meta['cpus']} CPUs ({meta['cpu_model']})")
    print(f"{meta['rounds']} interleaved rounds; each run: fresh server on CPU {SERVER_CPU}, "
          f"wrk -t1 -c{CONNECTIONS} on CPU {CLIENT_CPU}, {meta['warmup']} s warm-up + {meta['duration']} s timed")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    print(f"llserver from {meta['llserver_origin']}")
    print(f"load average at start / end: {meta['loadavg_start']} / {meta['loadavg_end']}")
    oc = summary.get("other_cpu")
    if oc:
        print(f"other processes' CPU during the timed runs (share of one CPU): median {oc['median'] * 100:.0f}%, "
              f"max {oc['max'] * 100:.0f}%, over 25% in {oc['runs_over_25pct']} of {oc['runs']} runs")
    print("median (min-max) req/s; µs/req and CPU% = CPU time of the server's process tree "
          "per request and per second of the run; wrk% = wrk's CPU per second; "
          "RSS = peak (VmHWM, MiB) of its largest process; errors summed over rounds")
    for s in summary["scenarios"]:
        print()
        print(f"{s['title']}; ratios to the best anchor ({s['best_anchor'] or '-'}) and to raw-asyncio")
        print(f"  {'target':25} {'req/s':>7} {'(min-max)':>15} {'µs/req':>7} {'CPU%':>5} "
              f"{'wrk%':>4} {'RSS':>6} {'errors':>7} {'vs best':>7} {'vs raw':>7}")
        for r in s["results"]:
            if "skipped" in r:
                print(f"  {r['target']:25} skipped: {r['skipped']}")
                continue
            span = f"({_k(r['rps_min'])}-{_k(r['rps_max'])})"
            us = f"{r['us_per_request']:7.1f}" if r["us_per_request"] is not None else f"{'-':>7}"
            err = str(r["errors_total"]) + ("!" if r["failed_rounds"] else "")
            print(f"  {r['target']:25} {_k(r['rps_median']):>7} {span:>15} {us} "
                  f"{r['cpu_share'] * 100:5.0f} {(r['client_cpu_share'] or 0) * 100:4.0f} "
                  f"{r['peak_rss_mib']:6.1f} {err:>7} "
                  f"{_x(r['vs_best']):>7} {_x(r['vs_raw']):>7}")
        notes = []
        for r in s["results"]:
            if r.get("errors_total"):
                kinds = ", ".join(f"{k} {v}" for k, v in r["errors"].items() if v)
                notes.append(f"{r['target']}: errors {kinds}")
            if r.get("failed_rounds"):
                bad = next(x for x in r["runs"] if "failed" in x)
                notes.append(f"{r['target']}: {r['failed_rounds']} failed round(s), e.g. {bad['failed']}")
            if r.get("server_log_bytes"):
                tail = next((x["log_tail"] for x in r["runs"] if x.get("log_tail")), "")
                notes.append(f"{r['target']}: server wrote {r['server_log_bytes']} bytes of log: {tail[:200]}")
        for n in notes:
            print(f"    note: {n}")

    keys = [s["key"] for s in summary["scenarios"]]
    print()
    print("Summary, median k req/s (server CPU µs/req):")
    print(f"  {'target':25} " + " ".join(f"{k:>14}" for k in keys))
    names = [r["target"] for r in summary["scenarios"][0]["results"]] if keys else []
    for name in names:
        cells = []
        for s in summary["scenarios"]:
            r = next(x for x in s["results"] if x["target"] == name)
            if "rps_median" in r and r["us_per_request"] is not None:
                cells.append(f"{r['rps_median'] / 1000:6.1f} ({r['us_per_request']:5.1f})")
            else:
                cells.append(f"{'-':>14}")
        print(f"  {name:25} " + " ".join(f"{c:>14}" for c in cells))

    print()
    print("Targets of issue #6 (same-run ratios; reported, not asserted):")
    for t in summary["targets"]:
        if t["ratio"] is None:
            verdict = "n/a (a target is missing)"
        elif t["what"].startswith("peak RSS"):
            mine, theirs = t["rss_mib"]
            verdict = (f"{t['ratio']:.2f}x in {t['scenario']} ({mine:.1f} vs {theirs:.1f} MiB): "
                       + ("met" if t["met"] else f"NOT met, {mine - theirs:.1f} MiB over"))
        else:
            verdict = f"{t['ratio']:.2f}x: " + (
                "met" if t["met"] else f"NOT met, needs {t['target'] / t['ratio']:.2f}x more")
        rel = "<=" if t["what"].startswith("peak RSS") else ">="
        print(f"  {t['what']:26} {t['llserver']:17} {rel} {t['target']}x {t['anchor']:25} {verdict}")


# ---------------------------------------------------------------------------
# Meta
# ---------------------------------------------------------------------------


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _dist_version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "missing"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def llserver_origin() -> str:
    """The llserver the servers import: this checkout, or an installed copy
    compared file by file with the checkout's HEAD (the commit it matches
    is then known; a copy installed from an older tree says it differs)."""
    code = "import llserver; print(llserver.__file__)"
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60, cwd=str(APPS))
        where = Path(r.stdout.strip()).resolve().parent if r.returncode == 0 else ROOT / "llserver"
    except (OSError, subprocess.SubprocessError):
        where = ROOT / "llserver"

    def git(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, timeout=10)

    try:
        head = git("rev-parse", "--short", "HEAD").stdout.decode().strip() or "?"
        if where == ROOT / "llserver":
            dirty = git("status", "--porcelain", "--", "llserver", "build_ffi.py", "vendor").stdout.strip()
            return f"this checkout, git {head}{'+dirty' if dirty else ''}"
        names = git("ls-tree", "--name-only", "HEAD", "llserver/").stdout.decode().split()
        differ = [n for n in names if n.endswith(".py")
                  and git("show", f"HEAD:{n}").stdout != _read_bytes(where / Path(n).name)]
    except (OSError, subprocess.SubprocessError):
        return f"installed at {where}"
    same = f"its sources differ from git {head} in {len(differ)} files" if differ else f"same sources as git {head}"
    return f"installed at {where} ({same})"


def _read_bytes(path: Path) -> Optional[bytes]:
    try:
        return path.read_bytes()
    except OSError:
        return None


def collect_meta(args: argparse.Namespace) -> Dict[str, Any]:
    versions = {d: _dist_version(d) for d in
                ("llserver", "aiohttp", "uvicorn", "httptools", "zttp", "uvloop", "granian",
                 "cffi", "multidict")}
    try:
        versions["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True,
                                         timeout=10).stdout.split()[1]
    except (OSError, subprocess.SubprocessError, IndexError):
        versions["wrk"] = "?"
    return {
        "date": time.strftime("%Y-%m-%d"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "rounds": args.rounds,
        "duration": args.duration,
        "warmup": args.warmup,
        "connections": CONNECTIONS,
        "llserver_origin": llserver_origin(),
        "loadavg_start": args.loadavg_start,
        "loadavg_end": _loadavg(),
        "versions": versions,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


# ---------------------------------------------------------------------------


def _pick(items: List[Any], spec: Optional[str], what: str, ap: argparse.ArgumentParser) -> List[Any]:
    if not spec:
        return items
    want = [w.strip() for w in spec.split(",") if w.strip()]
    chosen = [x for x in items if any(w == x.key for w in want)]
    if not chosen:
        ap.error(f"no {what} named {spec!r}; known: {', '.join(x.key for x in items)}")
    return chosen


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds of 1 s runs, no warm-up (a smoke run)")
    ap.add_argument("--rounds", type=int, help="rounds (default 5; --quick 2)")
    ap.add_argument("--duration", type=int, help="timed seconds of wrk per run (default 5; --quick 1)")
    ap.add_argument("--warmup", type=int, help="untimed wrk seconds first, same server (default 1; --quick 0)")
    ap.add_argument("--targets", help="comma-separated target keys (default: all)")
    ap.add_argument("--scenarios", help="comma-separated scenario keys (default: all)")
    ap.add_argument("--json", metavar="PATH", help="also write every run and the summary as JSON")
    ap.add_argument("--keep-logs", metavar="DIR", help="keep the servers' output in DIR")
    args = ap.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.duration = args.duration or (1 if args.quick else 5)
    if args.warmup is None:
        args.warmup = 0 if args.quick else 1
    if not (1 <= args.rounds <= 100 and 1 <= args.duration <= 600 and 0 <= args.warmup <= 60):
        ap.error("rounds must be 1-100, duration 1-600 s, warmup 0-60 s")
    targets = _pick(make_targets(), args.targets, "target", ap)
    scenarios = _pick(SCENARIOS, args.scenarios, "scenario", ap)

    if sys.platform != "linux":
        sys.exit("e2e.py needs Linux (/proc, taskset)")
    for tool, pkg in (("wrk", "wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            print(f"{tool} not found: install it with `apt-get update && apt-get install -y {pkg}`",
                  file=sys.stderr)
            return 2
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:
        cpus = set(range(os.cpu_count() or 1))
    if not {int(SERVER_CPU), int(CLIENT_CPU)} <= cpus:
        print(f"needs CPUs {SERVER_CPU} and {CLIENT_CPU} (this process may use {sorted(cpus)})",
              file=sys.stderr)
        return 2
    args.loadavg_start = _loadavg()

    print("checking the targets' imports ...", file=sys.stderr)
    check_targets(targets)
    for t in targets:
        if t.skip:
            print(f"  {t.key}: skipped ({t.skip})", file=sys.stderr)
    live = [t for t in targets if not t.skip]
    est = len(live) * len(scenarios) * args.rounds * (args.duration + args.warmup + 1.5)
    print(f"{len(live)} targets x {len(scenarios)} scenarios x {args.rounds} rounds, "
          f"about {est / 60:.0f} min", file=sys.stderr)

    meta = collect_meta(args)
    runs: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    tmp = None
    if args.keep_logs:
        log_dir = Path(args.keep_logs)
        log_dir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="llserver-e2e-")
        log_dir = Path(tmp.name)
    try:
        for rnd in range(args.rounds):
            for sc in scenarios:
                for t in live:
                    res = measure(t, sc, args.duration, args.warmup, log_dir)
                    res["round"] = rnd
                    runs.setdefault((sc.key, t.key), []).append(res)
                    if "failed" in res:
                        line = f"FAILED: {res['failed'][:200]}"
                    else:
                        us = res["us_per_request"]
                        line = (f"{res['rps']:10,.0f} req/s  {us if us is not None else float('nan'):6.1f} µs/req  "
                                f"errors {sum(res['errors'].values())}")
                    print(f"  round {rnd + 1}/{args.rounds} {sc.key:9} {t.key:25} {line}",
                          file=sys.stderr, flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    meta["loadavg_end"] = _loadavg()
    summary = summarize(scenarios, targets, runs)
    print_report(summary, meta)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, **summary}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
