"""DAG-level numbers: parse time, a full-history run, and an incremental run with N changed orders.

    .venv/bin/python bench/bench_dag.py [--orders 20000] [--changed 200] [--latency-ms 0]

Runs the real ``qtickets_api`` DAG through ``dag.test()`` against an in-process sandbox (real HTTP on
loopback) and a temporary embedded ClickHouse folder. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--changed", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qtickets-bench-dag-"))
    os.environ.update({
        "AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    })
    from sandbox import SandboxConfig, SandboxServer

    server = SandboxServer(SandboxConfig(orders=args.orders, seed=42, latency_ms=args.latency_ms)).start()
    os.environ["AIRFLOW_CONN_QTICKETS_DEFAULT"] = json.dumps(
        {"conn_type": "qtickets", "host": server.rest_url, "password": server.token, "extra": {"concurrency": 4}})
    os.environ["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"] = json.dumps(
        {"conn_type": "qtickets_clickhouse", "schema": "zakaz",
         "extra": {"embedded_path": str(work / "chdb"), "pii_hash_key": "bench"}})

    from airflow.models import DagBag
    from airflow.utils import db

    db.resetdb()
    parse = []
    for _ in range(3):
        t = time.perf_counter()
        bag = DagBag(dag_folder=str(ROOT / "dags"))
        parse.append(time.perf_counter() - t)
    dag = bag.get_dag("qtickets_api")
    dag.deadline = None  # Airflow 3.3.2 dag.test() crashes with deadline= (README, troubleshooting)
    for task in dag.tasks:
        task.retries = 0

    def run(**kwargs) -> tuple[float, str, Counter]:
        server.reset_log()
        t = time.perf_counter()
        dr = dag.test(**kwargs)
        elapsed = time.perf_counter() - t
        paths = Counter(r.path.split("/api/rest/v1/")[-1].split("/")[0] for r in server.requests)
        return elapsed, str(dr.state), paths

    # Every param explicit: Airflow 3.3.2 carries one in-process run's conf into the next (tests/dags/conftest.py).
    params = {"dry_run": False, "since_hours": None, "datasets": [], "fixtures_dir": None}
    full_s, full_state, full_paths = run(logical_date=None, run_conf={**params, "since_hours": 24 * 365 * 6})

    now = datetime.now(UTC)
    boundary = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    if now - boundary < timedelta(minutes=2):  # leave the touched orders safely inside a past interval
        boundary -= timedelta(minutes=15)
    server.data.touch_orders(args.changed, boundary - timedelta(minutes=5))
    inc_s, inc_state, inc_paths = run(logical_date=boundary, run_after=boundary, run_conf=params)  # as scheduled
    server.stop()

    print(f"\nqtickets_api on a {args.orders}-order sandbox, latency {args.latency_ms} ms, embedded ClickHouse\n")
    print("| measure | value |\n|---|---|")
    print(f"| DAG file parse (DagBag, first / warm) | {parse[0] * 1000:.0f} ms / {min(parse[1:]) * 1000:.0f} ms |")
    print(f"| full-history run ({full_state}) | {full_s:.1f} s, {sum(full_paths.values())} vendor requests |")
    print(f"| incremental run, {args.changed} changed orders ({inc_state}) | {inc_s:.1f} s, "
          f"{sum(inc_paths.values())} vendor requests: {dict(inc_paths)} |")
    return 0 if full_state == inc_state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
