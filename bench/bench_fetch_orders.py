"""Benchmark: fetch every order from the sandbox with QticketsHook at several concurrency levels.

The sandbox runs in this (parent) process; each concurrency level runs in a fresh child process, so
the peak RSS and CPU printed are the client's own (``resource.getrusage`` in the child: Airflow
import + hook + pagination). A first row at 0 ms latency and concurrency 1 ("floor") measures what
one page costs on this machine without latency (mostly the sandbox building JSON in Python). Prints one table row per level::

    .venv/bin/python bench/bench_fetch_orders.py                       # 126 000 orders, 150 ms, c=1,2,4,8
    .venv/bin/python bench/bench_fetch_orders.py --concurrency 2,4,8
    .venv/bin/python bench/bench_fetch_orders.py --orders 20000 --concurrency 1
    .venv/bin/python bench/bench_fetch_orders.py --window --concurrency 4 --no-floor     # updated_at window
    .venv/bin/python bench/bench_fetch_orders.py --window --churn-every-pages 2 --concurrency 4 --no-floor

ideal = pages x latency / concurrency (pure server wait); ratio = wall / ideal (target <= 1.25 at c=4);
adj = wall / (pages x (latency + floor per page) / concurrency); cli cpu = user + system seconds of the
client process during the fetch.

``--window`` reads ``updated_at`` in [2021-01-01, sandbox now) with the window guard (every order but
those updated exactly at now), as the DAG does; ``--churn-every-pages N`` turns on the sandbox churn
(after every N-th page, the lowest-id order already served moves out of the window), so the hook
re-reads the gaps by id. Extra columns then: ``ideal#`` = the numbered pages alone (ceil(orders in
window at start / 50) x latency / concurrency), ``ratio#`` = wall / ideal#, ``gaps`` / ``gap rec`` =
gaps re-read / records they found, ``churned`` = orders the sandbox changed, ``lost`` = orders that
stayed in the window but were not read (must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


WINDOW_START = "2021-01-01T00:00:00+03:00"


def _child(concurrency: int, window_end: str | None) -> None:
    """Fetch every order through the hook (connection from the environment); print a JSON result."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    from qtickets.hooks.qtickets import QticketsHook
    from qtickets.window import Window

    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hook = QticketsHook()
    _ = hook.settings  # connection lookup is not part of the fetch time
    records = 0
    ids: list[int] = []
    window = Window(datetime.fromisoformat(WINDOW_START), datetime.fromisoformat(window_end)) if window_end else None
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    for page in hook.iter_pages("orders", window=window, order_by={"id": "asc"}):
        records += len(page)
        ids += [r["id"] for r in page]
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    stats = hook.stats.as_dict()
    print(json.dumps({
        "concurrency": hook.settings.concurrency, "records": records, "pages": stats["pages"],
        "requests": stats["requests"], "retries": stats["retries"], "wall": wall, "cpu": cpu,
        "gap_reads": stats["gap_reads"], "gap_records": stats["gap_records"], "ids": ids,
        "baseline_mb": baseline_mb, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=126_000)
    p.add_argument("--latency-ms", type=float, default=150.0)
    p.add_argument("--response", action="store_true",
                   help="--latency-ms is the sandbox's whole answer time, its own work included (Faults.response_ms), "
                        "not a wait added before it")
    p.add_argument("--concurrency", default="1,2,4,8", help="comma-separated levels (default 1,2,4,8)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-floor", dest="floor", action="store_false",
                   help="skip the first run at 0 ms latency, concurrency 1 (measures the per-page cost)")
    p.add_argument("--window", action="store_true", help="read an updated_at window (with the guard)")
    p.add_argument("--churn-every-pages", type=int, default=0, metavar="N",
                   help="sandbox churn: after every N-th page an order already served leaves the window")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--window-end", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        _child(args.child, args.window_end)
        return 0
    if args.churn_every_pages and not args.window:
        p.error("--churn-every-pages needs --window (churn only moves orders out of a window)")
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
    from sandbox import SandboxConfig, SandboxServer
    from sandbox.data import to_epoch

    built = time.perf_counter()
    server = SandboxServer(SandboxConfig(orders=args.orders, seed=args.seed)).start()
    try:
        print(f"sandbox {server.url}: {args.orders} orders (built in {time.perf_counter() - built:.0f} s), "
              f"{args.latency_ms:.0f} ms {'answer time' if args.response else 'latency'} per request", flush=True)
        window_end = server.data.now if args.window else None
        extra_head = (f" {'ideal# s':>8} {'ratio#':>6} {'gaps':>5} {'gap rec':>7} {'churned':>7} {'lost':>5}"
                      if args.window else "")
        print(f"{'conc':>5} {'records':>8} {'pages':>6} {'requests':>8} {'wall s':>7} {'ideal s':>7} "
              f"{'ratio':>6} {'adj':>5} {'cli cpu s':>9} {'base MB':>7} {'peak MB':>7}{extra_head}", flush=True)
        runs = [(1, 0.0, "floor")] if args.floor else []
        runs += [(level, args.latency_ms, str(level)) for level in levels]
        floor_per_page = 0.0
        for level, latency, label in runs:
            if args.response:
                server.faults.response_ms = latency
            else:
                server.faults.latency_ms = latency
            in_window = _in_window(server, to_epoch(WINDOW_START), window_end) if args.window else set()
            churned_before = len(server.faults.churned_ids)
            server.faults.churn_orders(every_pages=args.churn_every_pages if label != "floor" else 0)
            r = _run_child(server, level, window_end)
            server.faults.churn_orders(every_pages=0)
            if label == "floor":
                floor_per_page = r["wall"] / r["pages"]
            ideal = r["pages"] * latency / 1000 / r["concurrency"]
            # adj: against pages x (latency + measured per-page cost at 0 ms, sequential) / concurrency
            adjusted = r["pages"] * (latency / 1000 + floor_per_page) / r["concurrency"]
            ratio = f"{r['wall'] / ideal:>6.2f}" if ideal else f"{'-':>6}"
            adj = f"{r['wall'] / adjusted:>5.2f}" if ideal and floor_per_page else f"{'-':>5}"
            print(f"{label:>5} {r['records']:>8} {r['pages']:>6} {r['requests']:>8} {r['wall']:>7.1f} "
                  f"{ideal:>7.1f} {ratio} {adj} {r['cpu']:>9.1f} {r['baseline_mb']:>7.0f} {r['peak_mb']:>7.0f}"
                  f"{_window_columns(server, r, in_window, churned_before, latency) if args.window else ''}",
                  flush=True)
    finally:
        server.stop()
    return 0


def _in_window(server: Any, lo: int, hi: int) -> set[int]:
    d = server.data
    return {d.order_id(i) for i in range(d.order_count) if lo <= d.o_updated[i] < hi}


def _window_columns(server: Any, r: dict[str, Any], in_window: set[int], churned_before: int,
                    latency: float) -> str:
    """ideal# / ratio# on the numbered pages alone, gap counters, churned orders, orders lost."""
    churned = set(server.faults.churned_ids[churned_before:])
    lost = len(in_window - churned - set(r["ids"]))
    ideal = -(-len(in_window) // 50) * latency / 1000 / r["concurrency"]
    ratio = f"{r['wall'] / ideal:>6.2f}" if ideal else f"{'-':>6}"
    return (f" {ideal:>8.1f} {ratio} {r['gap_reads']:>5} {r['gap_records']:>7} {len(churned):>7} "
            f"{lost:>5}")


def _run_child(server: Any, level: int, window_end: int | None = None) -> dict[str, Any]:
    """Run one fetch in a fresh client process; return its JSON result."""
    conn = {"conn_type": "qtickets", "host": server.rest_url, "password": server.token,
            "extra": {"concurrency": level, "timeout": 30}}
    env = {**os.environ, "AIRFLOW_CONN_QTICKETS_DEFAULT": json.dumps(conn),
           "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}", "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    window = ["--window-end", datetime.fromtimestamp(window_end, UTC).isoformat()] if window_end else []
    out = subprocess.run([sys.executable, __file__, "--child", str(level), *window], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"child for concurrency {level} failed with code {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    raise SystemExit(main())
