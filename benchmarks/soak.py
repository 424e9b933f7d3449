"""Soak: one llserver process under wrk for a long time; errors and memory.

    python benchmarks/soak.py                      # 600 s, the issue #5 run
    python benchmarks/soak.py --duration 60        # a shorter one
    python benchmarks/soak.py --tracemalloc 25     # to find what grows

The runner starts a server process (this file with ``--serve``; the
seed-style hello handler on ``GET /``, ``POST /upload`` reading a 64 KiB body
whole, ``GET /stream`` streaming 256 KiB chunked in 16 awaited writes) bound
to 127.0.0.1, checks its three answers, then loads it with wrk and
``soak_mix.lua`` (8 hello, 1 upload, 1 stream in every 10 requests of a
connection, every answer's body checked) in rounds: a warm-up round, then
rounds of ``--round`` seconds until ``--duration`` seconds of load in all.
Meanwhile it samples the server's resident memory (VmRSS of
/proc/<pid>/status) every ``--sample`` seconds.

Memory is compared idle against idle: RSS two seconds after the warm-up
round ended against RSS two seconds after the last round ended (the same
state: no connection open, the allocator warm).  Medians of the samples
under load (the first 30 s after the warm-up, the last 30 s) are reported
too, with a least-squares slope of all post-warm-up samples.  At both idle
points the server also reports (SIGUSR1) how many protocol objects are alive
after a full collection, its open connections and tasks, and with
``--tracemalloc N`` its traced Python heap and the allocation sites that grew
in between (tracing slows the server several times and its own tables add
to the RSS, so judge memory growth on a run without it).

Verdict: PASS when wrk saw no error (connect, read, write, timeout,
non-2xx), every body was right, the server wrote nothing to stderr, and the
idle RSS grew by less than 5 %.  The result goes to
benchmarks/results/soak-<date>.json (``--json`` to change).  Every wait is
bounded; the server is stopped by its process id (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import http.client
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "soak_mix.lua"

HELLO = b"<h1>It Works!</h1>"
UPLOAD_SIZE = 64 * 1024
STREAM_CHUNK = b"s" * (16 * 1024)
STREAM_CHUNKS = 16
STREAM_SIZE = len(STREAM_CHUNK) * STREAM_CHUNKS

GROWTH_LIMIT_PCT = 5.0
READY_TIMEOUT = 30.0  # seconds for the server to print its port
STOP_TIMEOUT = 5.0  # seconds after SIGTERM before SIGKILL
IDLE_PAUSE = 2.0  # seconds between the end of a round and an idle sample
PROBE_TIMEOUT = 30.0  # seconds for the server to answer a probe
LOAD_WINDOW = 30.0  # seconds of samples for the under-load medians


# ------------------------------------------------------------------ server


def serve(args: argparse.Namespace) -> None:
    """The server process: prints ``PORT <n>`` once listening."""
    import asyncio
    import gc
    import tracemalloc
    import weakref

    if args.tracemalloc:
        tracemalloc.start(args.tracemalloc)
    try:
        import llserver
    except ImportError:  # not installed: the checkout this file lives in
        sys.path.insert(0, str(ROOT))
        import llserver
    import llserver.server

    Response = llserver.Response
    live: weakref.WeakSet[Any] = weakref.WeakSet()
    counts = {"made": 0, "lost": 0}

    class SoakHandler(llserver.server.ServerHttpProtocol):
        def connection_made(self, transport: Any) -> None:
            counts["made"] += 1
            live.add(self)
            super().connection_made(transport)

        def connection_lost(self, exc: Optional[BaseException]) -> None:
            counts["lost"] += 1
            super().connection_lost(exc)

        async def handle_request(self, message: Any, payload: Any) -> None:
            path = message.path
            if path == "/":
                response = Response(self.writer, 200, http_version=message.version)
                response.add_header("Content-Type", "text/html")
                response.add_header("Content-Length", "18")
                response.send_headers()
                response.write(HELLO)
                await response.write_eof()
            elif path == "/upload":
                body = await payload.read()
                reply = b"%d" % len(body)
                response = Response(self.writer, 200, http_version=message.version)
                response.add_header("Content-Type", "text/plain")
                response.add_header("Content-Length", str(len(reply)))
                response.send_headers()
                response.write(reply)
                await response.write_eof()
            elif path == "/stream":
                response = Response(self.writer, 200, http_version=message.version)
                response.add_header("Content-Type", "application/octet-stream")
                response.send_headers()  # no length: chunked on HTTP/1.1
                for _ in range(STREAM_CHUNKS):
                    await response.write(STREAM_CHUNK, drain=True)
                await response.write_eof()
            else:
                response = Response(self.writer, 404, http_version=message.version)
                response.add_header("Content-Length", "0")
                response.send_headers()
                await response.write_eof()

    if args.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(SoakHandler, "127.0.0.1", args.port))
    # The first snapshot waits on disk, not in memory: kept in the process
    # it would count in the RSS measured at the end.
    first_snapshot = args.probe_file + ".snapshot"
    malloc_stats()  # what the probe loads is loaded before its first call

    def probe() -> None:
        gc.collect()
        report: Dict[str, Any] = {
            "time": time.time(),
            "live_protocols": len(live),
            "open_connections": counts["made"] - counts["lost"],
            "connections_made": counts["made"],
            "tasks": len(asyncio.all_tasks(loop)),
            "gc_objects": len(gc.get_objects()),
            "modules": len(sys.modules),
            "llserver": llserver.__file__,
        }
        report.update(malloc_stats())
        if tracemalloc.is_tracing():
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            traced, peak = tracemalloc.get_traced_memory()
            report["traced_kib"] = traced // 1024
            if not os.path.exists(first_snapshot):
                snap.dump(first_snapshot)
            else:
                grown = snap.compare_to(tracemalloc.Snapshot.load(first_snapshot), "traceback")[:25]
                report["grown"] = [
                    {
                        "size_diff_kib": round(s.size_diff / 1024, 1),
                        "count_diff": s.count_diff,
                        "traceback": [f"{f.filename}:{f.lineno}" for f in s.traceback][-8:],
                    }
                    for s in grown
                ]
            del snap
        with open(args.probe_file, "a") as f:
            f.write(json.dumps(report) + "\n")

    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGUSR1, probe)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


def malloc_stats() -> Dict[str, int]:
    """glibc's view of the C heap (mallinfo2): bytes in use and free in its
    arenas, and in blocks it mmap'ed.  Memory that grows here but not in the
    Python heap is C memory (the parser's arenas, cffi, libraries) or
    fragmentation; empty where glibc is not the allocator."""

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    try:
        libc = ctypes.CDLL(None)
        func = libc.mallinfo2
    except (OSError, AttributeError):
        return {}
    func.restype = MallInfo2
    info = func()
    return {
        "malloc_arena_kib": info.arena // 1024,
        "malloc_in_use_kib": info.uordblks // 1024,
        "malloc_free_kib": info.fordblks // 1024,
        "malloc_mmapped_kib": info.hblkhd // 1024,
    }


# ------------------------------------------------------------------ runner


def read_status(pid: int) -> Dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0])  # kB
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler(threading.Thread):
    """VmRSS of the server every ``period`` seconds, tagged with the phase."""

    def __init__(self, pid: int, period: float, t0: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.period, self.t0 = pid, period, t0
        self.phase = "start"
        self.samples: List[List[Any]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.period):
            try:
                rss = read_status(self.pid)["VmRSS"]
            except (OSError, KeyError):
                return
            self.samples.append([round(time.monotonic() - self.t0, 1), rss, self.phase])


class Server:
    def __init__(self, args: argparse.Namespace, workdir: str) -> None:
        self.probe_file = os.path.join(workdir, "probes.jsonl")
        self.log_path = os.path.join(workdir, "server.log")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", "--port", "0",
               "--probe-file", self.probe_file, "--loop", args.loop]
        if args.tracemalloc:
            cmd += ["--tracemalloc", str(args.tracemalloc)]
        env = dict(os.environ)
        origin = llserver_origin()
        if origin is not None:  # the server imports the same llserver as this runner
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(Path(origin).parent.parent), env.get("PYTHONPATH")) if p
            )
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=self.log,
            start_new_session=True,
        )
        self.port = self._read_port()
        self.probes_read = 0

    def _read_port(self) -> int:
        deadline = time.monotonic() + READY_TIMEOUT
        line = b""
        assert self.proc.stdout is not None
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                byte = os.read(self.proc.stdout.fileno(), 1)
                if not byte:
                    break
                line += byte
        if not line.startswith(b"PORT "):
            self.stop()
            raise SystemExit(f"server did not start: {line!r}, see {self.log_path}")
        return int(line.split()[1])

    def probe(self) -> Dict[str, Any]:
        """Ask the server for its counts (SIGUSR1); wait for its line."""
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + PROBE_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with open(self.probe_file) as f:
                    lines = f.read().split("\n")[:-1]  # whole lines only
            except FileNotFoundError:
                lines = []
            if len(lines) > self.probes_read:
                self.probes_read += 1
                return json.loads(lines[self.probes_read - 1])
            time.sleep(0.2)
        return {"error": "no answer to the probe"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
        self.log.close()


def llserver_origin() -> Optional[str]:
    import importlib.util

    try:
        spec = importlib.util.find_spec("llserver")
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None else None


def check_answers(port: int) -> None:
    """The three routes answer what the wrk script checks."""
    for method, path, body, want in (
        ("GET", "/", None, HELLO),
        ("POST", "/upload", b"x" * UPLOAD_SIZE, b"%d" % UPLOAD_SIZE),
        ("GET", "/stream", None, STREAM_CHUNK * STREAM_CHUNKS),
    ):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            got = resp.read()
        finally:
            conn.close()
        if resp.status != 200 or got != want:
            raise SystemExit(f"{method} {path}: {resp.status}, {len(got)} bytes: wrong answer")


def run_wrk(args: argparse.Namespace, port: int, seconds: int, label: str) -> Dict[str, Any]:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s",
           f"--timeout={args.wrk_timeout}s", "-s", str(LUA), f"http://127.0.0.1:{port}/"]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        out, rc = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out, rc = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), -1
    result: Dict[str, Any] = {"label": label, "seconds": seconds, "rc": rc,
                              "wall": round(time.monotonic() - started, 1)}
    for line in out.splitlines():
        if line.startswith("SOAK "):
            result.update(json.loads(line[5:]))
            break
    else:
        result["failed"] = f"no summary from wrk (rc {rc}): {out[-500:]!r}"
    return result


ERROR_KINDS = ("connect", "read", "write", "timeout", "status", "bad")


def median_between(samples: List[List[Any]], start: float, end: float) -> Optional[float]:
    values = [s[1] for s in samples if start <= s[0] < end and s[2].startswith("round")]
    return statistics.median(values) if values else None


def slope_kib_per_min(samples: List[List[Any]]) -> Optional[float]:
    points = [(s[0], s[1]) for s in samples if s[2].startswith("round")]
    if len(points) < 3:
        return None
    mx = statistics.fmean(p[0] for p in points)
    my = statistics.fmean(p[1] for p in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    if not den:
        return None
    return 60 * sum((x - mx) * (y - my) for x, y in points) / den


def sources_digest() -> str:
    """sha256 of the llserver sources the server was started from (the
    checkout may change under a long run)."""
    import hashlib

    origin = llserver_origin()
    package = Path(origin).parent if origin else ROOT / "llserver"
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def git_describe() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "llserver"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + (" (llserver/ modified)" if dirty else "")


def soak(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    if not os.path.exists("/proc/self/status"):
        raise SystemExit("Linux only: memory is read from /proc")
    if args.duration <= args.warmup:
        raise SystemExit("--duration must be longer than --warmup")
    workdir = tempfile.mkdtemp(prefix="llserver-soak-")
    git = git_describe()  # what the server is started from
    server = Server(args, workdir)
    digest = sources_digest()
    pid = server.proc.pid
    t0 = time.monotonic()
    sampler = Sampler(pid, args.sample, t0)
    sampler.start()
    rounds: List[Dict[str, Any]] = []
    idle: Dict[str, Any] = {}
    try:
        check_answers(server.port)
        cpu0 = cpu_seconds(pid)
        print(f"soak: server pid {pid} on 127.0.0.1:{server.port}, {args.duration} s of wrk "
              f"-t{args.threads} -c{args.connections} (warm-up {args.warmup} s)", flush=True)
        sampler.phase = "warmup"
        rounds.append(run_wrk(args, server.port, args.warmup, "warmup"))
        print(f"  warm-up: {rounds[-1].get('requests')} requests", flush=True)
        sampler.phase = "idle"
        time.sleep(IDLE_PAUSE)
        idle["after_warmup"] = {"t": round(time.monotonic() - t0, 1), **read_status(pid)}
        idle["after_warmup"]["probe"] = server.probe()
        warm_end = time.monotonic() - t0
        left = args.duration - args.warmup
        n = 0
        while left > 0:
            n += 1
            seconds = min(args.round, left)
            sampler.phase = f"round{n}"
            rounds.append(run_wrk(args, server.port, seconds, f"round{n}"))
            sampler.phase = "between"
            left -= seconds
            r = rounds[-1]
            print(f"  round {n}: {r.get('requests')} requests, "
                  f"errors {sum(r.get(k, 0) for k in ERROR_KINDS)}, "
                  f"RSS {read_status(pid)['VmRSS']} kB", flush=True)
        load_end = time.monotonic() - t0
        sampler.phase = "idle"
        time.sleep(IDLE_PAUSE)
        idle["end"] = {"t": round(time.monotonic() - t0, 1), **read_status(pid)}
        idle["end"]["probe"] = server.probe()
        cpu = cpu_seconds(pid) - cpu0
    finally:
        sampler.stopped.set()
        sampler.join(5)
        server.stop()
    with open(server.log_path, "rb") as f:
        server_output = f.read().decode("utf-8", "replace")

    totals = {k: sum(r.get(k, 0) for r in rounds) for k in ("requests", "hello", "upload", "stream")}
    errors = {k: sum(r.get(k, 0) for r in rounds) for k in ERROR_KINDS}
    errors["wrk_failed"] = sum(1 for r in rounds if "failed" in r)
    errors["server_output_lines"] = len(server_output.splitlines())
    error_total = sum(errors.values())
    rss_warm = idle["after_warmup"]["VmRSS"]
    rss_end = idle["end"]["VmRSS"]
    growth = 100.0 * (rss_end - rss_warm) / rss_warm
    samples = sampler.samples
    load_first = median_between(samples, warm_end, warm_end + LOAD_WINDOW)
    load_last = median_between(samples, load_end - LOAD_WINDOW, load_end)
    reasons = []
    if error_total:
        reasons.append(f"{error_total} errors")
    if growth >= GROWTH_LIMIT_PCT:
        reasons.append(f"RSS grew {growth:.1f} % (limit {GROWTH_LIMIT_PCT} %)")
    verdict = "FAIL" if reasons else "PASS"
    now = datetime.datetime.now()
    result = {
        "date": now.isoformat(timespec="seconds"),
        "verdict": verdict,
        "reasons": reasons,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "loop": args.loop,
        "llserver": llserver_origin() or str(ROOT / "llserver"),
        "git": git,
        "llserver_sources_sha256": digest,
        "machine": {"cpus": os.cpu_count(), "loadavg_end": os.getloadavg()},
        "config": {k: getattr(args, k) for k in ("duration", "warmup", "round", "sample",
                                                 "threads", "connections", "wrk_timeout",
                                                 "tracemalloc")},
        "requests": totals,
        "requests_per_s": round(totals["requests"] / max(1e-9, args.duration), 1),
        "server_cpu_s": round(cpu, 1),
        "server_cpu_us_per_request": round(1e6 * cpu / max(1, totals["requests"]), 1),
        "errors": errors,
        "error_total": error_total,
        "rss_kib": {
            "after_warmup_idle": rss_warm,
            "end_idle": rss_end,
            "growth_pct": round(growth, 2),
            "under_load_first_30s_median": load_first,
            "under_load_last_30s_median": load_last,
            "slope_kib_per_min": None if slope_kib_per_min(samples) is None
            else round(slope_kib_per_min(samples), 1),
            "peak_hwm": idle["end"].get("VmHWM"),
        },
        "idle": idle,
        "server_output": server_output[-4000:],
        "rounds": rounds,
        "samples": samples,
    }
    path = Path(args.json) if args.json else HERE / "results" / f"soak-{now.date()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")

    rk = result["rss_kib"]
    print(f"\nsoak {verdict} ({', '.join(reasons) or '0 errors, RSS growth < 5 %'})")
    print(f"  requests   {totals['requests']} in {args.duration} s "
          f"({result['requests_per_s']}/s; hello {totals['hello']}, upload {totals['upload']}, "
          f"stream {totals['stream']}); server CPU {result['server_cpu_us_per_request']} us/request")
    print("  errors     " + ", ".join(f"{k} {v}" for k, v in errors.items()))
    print(f"  RSS idle   after warm-up {rss_warm} kB, at the end {rss_end} kB: {growth:+.2f} %")
    print(f"  RSS load   first 30 s median {rk['under_load_first_30s_median']} kB, last 30 s "
          f"median {rk['under_load_last_30s_median']} kB, slope {rk['slope_kib_per_min']} kB/min, "
          f"peak {rk['peak_hwm']} kB")
    for name in ("after_warmup", "end"):
        p = idle[name]["probe"]
        print(f"  {name:12} live protocols {p.get('live_protocols')}, open connections "
              f"{p.get('open_connections')}, tasks {p.get('tasks')}, gc objects {p.get('gc_objects')} "
              f"({p.get('modules')} modules), "
              f"C heap in use {p.get('malloc_in_use_kib')} KiB, free {p.get('malloc_free_kib')} KiB, "
              f"mmapped {p.get('malloc_mmapped_kib')} KiB")
    if args.tracemalloc:
        print(f"  traced     Python heap after warm-up {idle['after_warmup']['probe'].get('traced_kib')} "
              f"KiB, at the end {idle['end']['probe'].get('traced_kib')} KiB (tracemalloc's own "
              "tables are in the RSS: judge growth on a run without it)")
    grown = idle["end"]["probe"].get("grown")
    if grown:
        print("  tracemalloc: allocation sites grown since the warm-up")
        for g in grown[:10]:
            print(f"    {g['size_diff_kib']:+9.1f} KiB {g['count_diff']:+7d}  {g['traceback'][-1]}")
    print(f"  result     {path}")
    return 0 if verdict == "PASS" else 1


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--duration", type=int, default=600, help="seconds of load in all (600)")
    cli.add_argument("--warmup", type=int, default=30, help="seconds of the warm-up round (30)")
    cli.add_argument("--round", type=int, default=60, help="seconds per wrk round (60)")
    cli.add_argument("--sample", type=float, default=2.0, help="seconds between RSS samples (2)")
    cli.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    cli.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    cli.add_argument("--wrk-timeout", type=int, default=10, help="wrk's per-request timeout, s (10)")
    cli.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    cli.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                     help="trace the server's allocations, FRAMES deep, and report what grew")
    cli.add_argument("--json", help="where to write the result (results/soak-<date>.json)")
    cli.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    cli.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    cli.add_argument("--probe-file", help=argparse.SUPPRESS)
    args = cli.parse_args()
    if args.serve:
        serve(args)
        return
    sys.exit(soak(args))


if __name__ == "__main__":
    main()
