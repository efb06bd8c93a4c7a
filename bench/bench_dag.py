"""DAG-level numbers: parse time, a full-history run, and an incremental run with N changed orders.

    .venv/bin/python bench/bench_dag.py [--orders 20000] [--changed 200] [--latency-ms 0]
    .venv/bin/python bench/bench_dag.py --orders 40000 --response-ms 150  # load_orders vs ideal network time

``--latency-ms`` adds a wait before the sandbox builds each answer (~18 ms for a page of 50 orders, its
threads sharing one GIL); ``--response-ms`` is a vendor answering each request in that time, its own work
included (``sandbox.faults.Faults.response_ms``), which is what the ideal network time assumes.

Runs the real ``qtickets_api`` DAG through ``dag.test()`` against the sandbox (real HTTP on loopback) and a
temporary embedded ClickHouse folder. The sandbox runs in this process and each DAG run in a child process,
as the vendor is another machine in production: an in-process sandbox would build its pages under the
loader's GIL and slow the load down by its own work. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
#: Pages read at once by the QTickets hook in this benchmark (the connection extra ``concurrency``).
CONCURRENCY = 4
ORDERS_TASK = "loads.load_orders"


def _dag():
    from airflow.models import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("qtickets_api")
    dag.deadline = None  # Airflow 3.3.2 dag.test() crashes with deadline= (README, troubleshooting)
    for task in dag.tasks:
        task.retries = 0
    return dag


def child(kwargs: dict) -> dict:
    """One ``dag.test`` in this (child) process: its wall time, state and the orders task's wall time."""
    dag = _dag()
    for key in ("logical_date", "run_after"):
        if kwargs.get(key):
            kwargs[key] = datetime.fromisoformat(kwargs[key])
    t = time.perf_counter()
    dr = dag.test(**kwargs)
    elapsed = time.perf_counter() - t
    ti = next(ti for ti in dr.get_task_instances() if ti.task_id == ORDERS_TASK)
    return {"seconds": elapsed, "state": str(dr.state), "orders_seconds": (ti.end_date - ti.start_date).total_seconds()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--changed", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--response-ms", type=float, default=0.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    if args.latency_ms and args.response_ms:
        parser.error("give --latency-ms or --response-ms, not both")
    answer_ms = args.latency_ms or args.response_ms

    work = Path(tempfile.mkdtemp(prefix="qtickets-bench-dag-"))
    os.environ.update({
        "AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    })
    from sandbox import SandboxConfig, SandboxServer

    server = SandboxServer(SandboxConfig(orders=args.orders, seed=42, latency_ms=args.latency_ms,
                                          response_ms=args.response_ms)).start()
    os.environ["AIRFLOW_CONN_QTICKETS_DEFAULT"] = json.dumps(
        {"conn_type": "qtickets", "host": server.rest_url, "password": server.token,
         "extra": {"concurrency": CONCURRENCY}})
    os.environ["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"] = json.dumps(
        {"conn_type": "qtickets_clickhouse", "schema": "zakaz",
         "extra": {"embedded_path": str(work / "chdb"), "pii_hash_key": "bench"}})

    from airflow.utils import db

    db.resetdb()
    parse = []
    for _ in range(3):
        t = time.perf_counter()
        _dag()
        parse.append(time.perf_counter() - t)

    def run(**kwargs) -> tuple[dict, Counter]:
        server.reset_log()
        out = subprocess.run([sys.executable, __file__, "--child", json.dumps(kwargs, default=str)], cwd=ROOT,
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(out.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"the DAG run failed to start or crashed (code {out.returncode})")
        result = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
        return result, Counter(r.path.split("/api/rest/v1/")[-1].split("/")[0] for r in server.requests)

    # Every param explicit: Airflow 3.3.2 carries one in-process run's conf into the next (tests/dags/conftest.py).
    params = {"dry_run": False, "since_hours": None, "datasets": [], "fixtures_dir": None}
    full, full_paths = run(logical_date=None, run_conf={**params, "since_hours": 24 * 365 * 6})

    now = datetime.now(UTC)
    boundary = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    if now - boundary < timedelta(minutes=2):  # leave the touched orders safely inside a past interval
        boundary -= timedelta(minutes=15)
    server.data.touch_orders(args.changed, boundary - timedelta(minutes=5))
    inc, inc_paths = run(logical_date=boundary, run_after=boundary, run_conf=params)  # as scheduled
    server.stop()

    timing = (f"response time {args.response_ms} ms" if args.response_ms else f"latency {args.latency_ms} ms")
    print(f"\nqtickets_api on a {args.orders}-order sandbox, {timing}, embedded ClickHouse\n")
    print("| measure | value |\n|---|---|")
    print(f"| DAG file parse (DagBag, first / warm) | {parse[0] * 1000:.0f} ms / {min(parse[1:]) * 1000:.0f} ms |")
    print(f"| full-history run ({full['state']}) | {full['seconds']:.1f} s, {sum(full_paths.values())} vendor requests |")
    if answer_ms:  # the task's wall time against its requests' answer time alone, CONCURRENCY at a time
        ideal = full_paths["orders"] * answer_ms / 1000 / CONCURRENCY
        print(f"| its {ORDERS_TASK} task: wall / ideal network time ({full_paths['orders']} requests x "
              f"{answer_ms:.0f} ms / {CONCURRENCY}) | {full['orders_seconds']:.1f} s / {ideal:.1f} s = "
              f"{full['orders_seconds'] / ideal:.2f}x |")
    print(f"| incremental run, {args.changed} changed orders ({inc['state']}) | {inc['seconds']:.1f} s, "
          f"{sum(inc_paths.values())} vendor requests: {dict(inc_paths)} |")
    return 0 if full["state"] == inc["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
