"""Benchmark: fetch every order from the sandbox with QticketsHook at several concurrency levels.

The sandbox runs in its own process (its memory is not the client's); each concurrency level runs in
a fresh child process, so the peak RSS printed is the client's own (``resource.getrusage`` in the
child: Airflow import + hook + pagination). Prints one table row per level::

    .venv/bin/python bench/bench_fetch_orders.py                       # 126 000 orders, 150 ms, c=1,2,4,8
    .venv/bin/python bench/bench_fetch_orders.py --concurrency 2,4,8
    .venv/bin/python bench/bench_fetch_orders.py --orders 20000 --concurrency 1

ideal = pages x latency / concurrency (pure server wait); ratio = wall / ideal (target <= 1.25 at c=4).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(concurrency: int) -> None:
    """Fetch every order through the hook (connection from the environment); print a JSON result."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    from qtickets.hooks.qtickets import QticketsHook

    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hook = QticketsHook()
    _ = hook.settings  # connection lookup is not part of the fetch time
    records = 0
    started = time.perf_counter()
    for page in hook.iter_pages("orders", order_by={"id": "asc"}):
        records += len(page)
    wall = time.perf_counter() - started
    stats = hook.stats.as_dict()
    print(json.dumps({
        "concurrency": hook.settings.concurrency, "records": records, "pages": stats["pages"],
        "requests": stats["requests"], "retries": stats["retries"], "wall": wall,
        "baseline_mb": baseline_mb, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def _start_sandbox(orders: int, latency_ms: float, seed: int) -> tuple[subprocess.Popen, str]:
    ready = Path(tempfile.mkdtemp(prefix="qt-bench-")) / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--orders", str(orders), "--seed", str(seed),
         "--latency-ms", str(latency_ms), "--ready-file", str(ready)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"},
    )
    deadline = time.monotonic() + 600
    while not ready.exists() or not ready.read_text().strip():
        if proc.poll() is not None:
            raise SystemExit(f"sandbox exited with code {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            proc.terminate()
            raise SystemExit("sandbox did not become ready within 600 s")
        time.sleep(0.2)
    return proc, ready.read_text().strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=126_000)
    p.add_argument("--latency-ms", type=float, default=150.0)
    p.add_argument("--concurrency", default="1,2,4,8", help="comma-separated levels (default 1,2,4,8)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        _child(args.child)
        return 0
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    proc, url = _start_sandbox(args.orders, args.latency_ms, args.seed)
    try:
        print(f"sandbox {url}: {args.orders} orders, {args.latency_ms:.0f} ms latency per request", flush=True)
        header = (f"{'conc':>4} {'records':>8} {'pages':>6} {'requests':>8} {'wall s':>8} {'ideal s':>8} "
                  f"{'ratio':>6} {'base MB':>8} {'peak MB':>8}")
        print(header, flush=True)
        for level in levels:
            conn = {"conn_type": "qtickets", "host": f"{url}/api/rest/v1", "password": "sandbox-token",
                    "extra": {"concurrency": level, "timeout": 30}}
            env = {**os.environ, "AIRFLOW_CONN_QTICKETS_DEFAULT": json.dumps(conn),
                   "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}", "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
            out = subprocess.run([sys.executable, __file__, "--child", str(level)], env=env, cwd=ROOT,
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"child for concurrency {level} failed with code {out.returncode}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            ideal = r["pages"] * args.latency_ms / 1000 / r["concurrency"]
            print(f"{r['concurrency']:>4} {r['records']:>8} {r['pages']:>6} {r['requests']:>8} {r['wall']:>8.1f} "
                  f"{ideal:>8.1f} {r['wall'] / ideal:>6.2f} {r['baseline_mb']:>8.0f} {r['peak_mb']:>8.0f}",
                  flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
