"""Peak RSS and CPU of ONE ``load_orders`` task body (``pipeline.load_dataset("orders")``) over real sockets.

    .venv/bin/python bench/bench_load_memory.py [--orders 20000,126000] [--engines chdb,server]
        [--latency-ms 0] [--concurrency 4] [--py-spy DIR] [--tracemalloc]

The sandbox (``sandbox.SandboxServer``, N orders) runs in this parent process; each (N, engine) runs the
task body in a fresh child process, reading the whole history (``since_hours`` = 7 years) through the
real ``QticketsHook`` (loopback HTTP, concurrency 4) into the staging tables: chDB embedded (the real
migrations) or the Debian 18.16 server through clickhouse-driver (``scripts/clickhouse-test-server.sh``;
18.16-compatible copies of the staging and meta tables: no CODEC, String for LowCardinality). The child
reports its peak RSS (``ru_maxrss``, the maximum of RSS sampled every 20 ms and of its anonymous part; see
``RssSampler``), its CPU seconds
(user + system of the whole process: chDB's insert and merge threads run in it; the server's do not,
so the server's CPU is printed beside it) and tickets per CPU-second. Baselines, each in a fresh child:
the imports of a load task (Airflow task SDK + this package), and chDB answering ``SELECT 1``.

``--py-spy DIR`` runs each child under ``py-spy record --gil`` (raw collapsed stacks in DIR: only the
thread holding the GIL, i.e. Python CPU) and prints the top functions by own and by total samples; ``--tracemalloc`` prints the peak of Python-traced memory (slower).
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from _harness import server_ddl, server_peak_mb

ROOT = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = ROOT / "scripts" / "clickhouse-test-server.sh"
HISTORY_HOURS = 24 * 365 * 7
#: The tables a load of orders touches.
LOAD_TABLES = ("stg_qtickets_api_orders_raw", "stg_qtickets_api_tickets_raw", "meta_dataset_loads", "meta_coverage")


def _rss_mb() -> tuple[float, float]:
    """``(anonymous, file-backed)`` resident MB of this process (``RssAnon``, ``RssFile`` of /proc/self/status)."""
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if line.startswith(("RssAnon", "RssFile")))
    return int(fields["RssAnon"].split()[0]) / 1024, int(fields["RssFile"].split()[0]) / 1024


class RssSampler:
    """Maximum RSS of this process sampled every 20 ms (next to ``ru_maxrss``), and of its anonymous part.

    The file-backed part is mostly chDB's 555 MB library: pages of a shared file, the same pages for every
    process that maps it, reclaimable, and more or fewer of them resident depending on the page cache
    (measured here between 314 and 336 MB right after ``import chdb`` on one machine, 264 MB on another).
    The anonymous part is what each load task adds on its own.
    """

    def __init__(self) -> None:
        self.peak = 0.0
        self.peak_anon = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            anon, file = _rss_mb()
            self.peak, self.peak_anon = max(self.peak, anon + file), max(self.peak_anon, anon)
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ----------------------------------------------------------------------------------------------- child
def _chdb_overrides() -> None:
    """``--chdb-params`` (appended to chDB's connection string: engine settings) and ``--chdb-set`` (a
    ``SET`` run on the session after the loader's own), passed through the environment."""
    params, extra_set = os.environ.get("BENCH_CHDB_PARAMS"), os.environ.get("BENCH_CHDB_SET")
    if not params and not extra_set:
        return
    from chdb import session

    from qtickets.hooks import _chdb

    original = session.Session

    class Session(original):  # type: ignore[misc, valid-type]
        def __init__(self, path: str = "", *a: object, **kw: object) -> None:
            super().__init__(f"{path}&{params}" if params else path, *a, **kw)

    session.Session = Session
    if extra_set:
        _chdb._SESSION_SETTINGS = f"{_chdb._SESSION_SETTINGS}, {extra_set}"


def _threads_cpu() -> dict[str, float]:
    """CPU seconds per thread name of this process (Python threads and chDB's own), largest first."""
    out: Counter[str] = Counter()
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[re.sub(r"[\d_-]+$", "", name) or name] += (int(fields[11]) + int(fields[12])) / tick
    return {k: round(v, 2) for k, v in out.most_common(8)}



def child(mode: str, engine: str, folder: str, port: int, tracemalloc_on: bool) -> dict:
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    if mode == "imports":
        import airflow.sdk  # noqa: F401

        import qtickets.datasets  # noqa: F401
        import qtickets.hooks.clickhouse  # noqa: F401
        import qtickets.hooks.qtickets  # noqa: F401
        import qtickets.pipeline  # noqa: F401
        return {"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if mode == "chdb-select1":
        from chdb import session

        sess = session.Session(f"{folder}?session_timezone=Europe/Moscow")
        sess.query("SELECT 1")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sess.close()
        return {"rss_mb": rss}

    if tracemalloc_on:
        import tracemalloc

        tracemalloc.start(8)
    _chdb_overrides()
    from datetime import UTC, datetime

    from qtickets import pipeline
    from qtickets.hooks.clickhouse import ClickHouseHook
    from qtickets.params import RunParams, resolve_window
    from qtickets.warehouse import apply_migrations

    with ClickHouseHook() as ch:  # schema first (not measured as part of the load)
        if engine == "chdb":
            apply_migrations(ch)
        else:
            for sql in server_ddl(LOAD_TABLES):
                ch.execute(sql)
    params = RunParams.from_mapping({"dry_run": False, "since_hours": HISTORY_HOURS, "datasets": ["orders"],
                                     "fixtures_dir": None})
    now = datetime.now(UTC)
    window = resolve_window(params, data_interval_start=None, data_interval_end=None, now=now)
    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base_anon_mb = _rss_mb()[0]
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with RssSampler() as sampler:
        stats = pipeline.load_dataset("orders", params=params, window=window, run_id="bench_load_memory", now=now)
    wall = time.perf_counter() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "records": stats.get("records"), "rows": stats.get("rows"), "pages": stats.get("pages"),
        "wall": wall, "cpu": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        "sys_cpu": cpu1.ru_stime - cpu0.ru_stime, "threads_cpu": _threads_cpu(),
        "base_mb": base_mb, "rss_mb": cpu1.ru_maxrss / 1024, "sampled_mb": sampler.peak,
        "base_anon_mb": base_anon_mb, "anon_mb": sampler.peak_anon,
    }
    if tracemalloc_on:
        import tracemalloc

        result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        top = tracemalloc.take_snapshot().statistics("lineno")[:6]
        result["traced_alive"] = [f"{s.size / 2**20:.1f} MB {s.traceback[0]}" for s in top]
        tracemalloc.stop()
    return result


# ---------------------------------------------------------------------------------------------- parent
def _server_cpu(directory: Path) -> float | None:
    try:
        pid = (directory / "server.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def top_functions(raw: Path, n: int = 5) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Top ``n`` functions by own and by total share of the load's samples in a py-spy raw file.

    Samples are per function (line numbers dropped) and only those of the load: stacks through
    ``load_dataset`` (the task body) or a page-fetch worker thread, minus imports.
    """
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any(f.startswith(("load_dataset ", "_WorkItem.run ")) for f in frames):
            continue
        if any("_find_and_load" in f for f in frames):
            continue
        frames = [re.sub(r" \((?:[^()]*/)?([^()/:]*)(?::\d+)?\)$", r" (\1)", f) for f in frames]
        samples += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            total[frame] += int(count)
    skip = ("<module>", "main ", "child ", "Thread.", "_worker ", "_WorkItem.run")
    return ([(f, c / samples) for f, c in own.most_common(n)],
            [(f, c / samples) for f, c in total.most_common() if not f.startswith(skip)][:n])


def run_child(mode: str, engine: str, work: Path, env: dict[str, str], args: argparse.Namespace,
              label: str) -> dict:
    folder = work / f"chdb-{label}"
    port = args.port
    server_dir = work / f"server-{label}"
    if engine == "server":
        subprocess.run([str(SERVER_SCRIPT), "start", str(server_dir), str(port)], check=True, capture_output=True)
    cmd = [sys.executable, __file__, "--child", mode, engine, str(folder), str(port)]
    if args.tracemalloc and mode == "load":
        cmd.append("--tracemalloc")
    raw = None
    if args.py_spy and mode == "load":
        raw = Path(args.py_spy) / f"{label}.txt"
        raw.parent.mkdir(parents=True, exist_ok=True)
        cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "--rate", "100", "--gil", "--nonblocking", "-o", str(raw),
               "--", *cmd]
    try:
        server_cpu0 = _server_cpu(server_dir) if engine == "server" else None
        out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(out.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"child {mode}/{engine} failed with code {out.returncode}")
        result = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
        if engine == "server":
            cpu1 = _server_cpu(server_dir)
            result["server_cpu"] = None if cpu1 is None or server_cpu0 is None else cpu1 - server_cpu0
            result["server_mb"] = server_peak_mb(server_dir)
        if raw is not None and raw.exists():
            result["top"] = top_functions(raw)
        return result
    finally:
        if engine == "server":
            subprocess.run([str(SERVER_SCRIPT), "stop", str(server_dir), str(port)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def report(results: list[dict], args: argparse.Namespace) -> None:
    print(f"\nOne load_orders task body, whole history, concurrency {args.concurrency}, "
          f"latency {args.latency_ms:.0f} ms (sandbox in the parent process)\n")
    print(f"{'engine':7} {'orders':>7} {'tickets':>8} {'wall s':>7} {'cpu s':>6} {'tickets/cpu-s':>13} "
          f"{'ru_maxrss MB':>12} {'sampled MB':>10} {'before load MB':>14} {'anon MB':>7} {'anon before':>11} "
          f"{'srv cpu s':>9} {'srv MB':>7}"
          + (f" {'py peak MB':>10}" if args.tracemalloc else ""))
    for r in results:
        tickets = r["rows"].get("stg_qtickets_api_tickets_raw", 0)
        srv_cpu = f"{r['server_cpu']:.1f}" if r.get("server_cpu") is not None else "-"
        srv_mb = f"{r['server_mb']:.0f}" if r.get("server_mb") else "-"
        print(f"{r['engine']:7} {r['orders']:>7} {tickets:>8} {r['wall']:>7.1f} {r['cpu']:>6.1f} "
              f"{tickets / r['cpu']:>13,.0f} {r['rss_mb']:>12.0f} {r['sampled_mb']:>10.0f} {r['base_mb']:>14.0f} "
              f"{r['anon_mb']:>7.0f} {r['base_anon_mb']:>11.0f} {srv_cpu:>9} {srv_mb:>7}" + (f" {r['traced_peak_mb']:>10.0f}" if args.tracemalloc else ""))
    for r in results:
        for line in r.get("traced_alive", []):
            print(f"  still allocated after the {r['engine']} {r['orders']} load: {line}")
    for r in results:
        if r.get("top"):
            own, total = r["top"]
            print(f"\npy-spy, {r['engine']} {r['orders']} orders: top by own samples")
            for frame, share in own:
                print(f"  {share:6.1%}  {frame}")
            print("  top by total samples (inclusive)")
            for frame, share in total:
                print(f"  {share:6.1%}  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", default="20000,126000")
    parser.add_argument("--engines", default="chdb,server")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--port", type=int, default=19_657)
    parser.add_argument("--no-baselines", dest="baselines", action="store_false")
    parser.add_argument("--py-spy", metavar="DIR", help="profile each load child with py-spy (raw stacks in DIR)")
    parser.add_argument("--tracemalloc", action="store_true", help="report the peak of Python-traced memory")
    parser.add_argument("--chdb-params", default="", help="appended to chDB's connection string, e.g. "
                        "mark_cache_size=67108864 (engine settings to try)")
    parser.add_argument("--chdb-set", default="", help="settings added to the session's SET, e.g. "
                        "max_insert_threads=1, max_block_size=8192")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "ENGINE", "FOLDER", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, engine, folder, port = args.child
        print(json.dumps(child(mode, engine, folder, int(port), args.tracemalloc)))
        return 0

    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
    from sandbox import SandboxConfig, SandboxServer

    work = Path(tempfile.mkdtemp(prefix="bench-load-memory-"))
    base_env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}", "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW_HOME": str(work / "airflow"), "BENCH_CHDB_PARAMS": args.chdb_params,
                "BENCH_CHDB_SET": args.chdb_set}
    engines = [e for e in args.engines.split(",") if e]
    if "server" in engines and not (SERVER_SCRIPT.exists() and shutil.which("clickhouse-server")):
        print("skipping server: scripts/clickhouse-test-server.sh or clickhouse-server missing")
        engines.remove("server")
    results = []
    try:
        if args.baselines:
            imports = run_child("imports", "chdb", work, base_env, args, "imports")["rss_mb"]
            select1 = run_child("chdb-select1", "chdb", work, base_env, args, "select1")["rss_mb"]
            print(f"baselines: Airflow task SDK + qtickets imports {imports:.0f} MB; chDB SELECT 1 {select1:.0f} MB "
                  "(each alone in a fresh process)", flush=True)
        for orders in (int(n) for n in args.orders.split(",")):
            built = time.perf_counter()
            server = SandboxServer(SandboxConfig(orders=orders, seed=42, latency_ms=args.latency_ms)).start()
            print(f"sandbox: {orders} orders (built in {time.perf_counter() - built:.0f} s)", flush=True)
            try:
                for engine in engines:
                    env = {**base_env, "AIRFLOW_CONN_QTICKETS_DEFAULT": json.dumps(
                        {"conn_type": "qtickets", "host": server.rest_url, "password": server.token,
                         "extra": {"concurrency": args.concurrency, "timeout": 60}})}
                    conn: dict = {"conn_type": "qtickets_clickhouse", "schema": "bench_load",
                                  "extra": {"pii_hash_key": "bench-key"}}
                    if engine == "chdb":
                        conn["extra"]["embedded_path"] = str(work / f"chdb-{orders}-{engine}")
                    else:
                        conn.update(host="127.0.0.1", port=args.port)
                        conn["extra"]["send_receive_timeout"] = 300
                    env["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"] = json.dumps(conn)
                    r = run_child("load", engine, work, env, args, f"{orders}-{engine}")
                    r.update(orders=orders, engine=engine)
                    results.append(r)
                    print(json.dumps({k: v for k, v in r.items() if k != "top"}), flush=True)
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report(results, args)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
