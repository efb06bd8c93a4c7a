"""Catching up after an outage, and a flaky vendor: requests, wall time and peak RSS of one DAG run.

    .venv/bin/python bench/bench_catchup.py [--orders 20000] [--latency-ms 150] [--outages 1h,24h,7d]

For each outage length X: a history load ending X ago, then the next scheduled run, which reads from
where coverage ends (ADR 0006). Then a full-history run against a vendor answering 503 to two requests
in three. The real ``qtickets_api`` DAG through ``dag.test()``, an in-process sandbox over loopback and
a temporary embedded ClickHouse folder (one database per scenario). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

HISTORY_HOURS = 24 * 365 * 7
PARAMS = {"dry_run": False, "since_hours": None, "datasets": ["orders"], "fixtures_dir": None}
UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1)}


class PeakRss:
    """Samples this process's RSS every 50 ms while in the ``with`` block."""

    def __enter__(self) -> PeakRss:
        import psutil

        self._proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--outages", default="1h,24h,7d")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qtickets-bench-catchup-"))
    os.environ.update({
        "AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    })
    from airflow.models import DagBag
    from airflow.utils import db

    from sandbox import SandboxConfig, SandboxServer

    db.resetdb()
    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("qtickets_api")
    dag.deadline = None  # Airflow 3.3.2 dag.test() crashes with deadline= (README, troubleshooting)
    for task in dag.tasks:
        task.retries = 0

    server = SandboxServer(SandboxConfig(orders=args.orders, seed=42, latency_ms=args.latency_ms)).start()

    def use(database: str) -> None:
        os.environ["AIRFLOW_CONN_QTICKETS_DEFAULT"] = json.dumps(
            {"conn_type": "qtickets", "host": server.rest_url, "password": server.token,
             "extra": {"concurrency": 4, "backoff_base": 0.05, "backoff_max": 0.5}})
        os.environ["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"] = json.dumps(
            {"conn_type": "qtickets_clickhouse", "schema": database,
             "extra": {"embedded_path": str(work / "chdb"), "pii_hash_key": "bench"}})

    def run(logical_date: datetime | None, **conf) -> tuple[str, float, int, int, int]:
        server.reset_log()
        with PeakRss() as rss:
            t = time.perf_counter()
            state = str(dag.test(logical_date=logical_date, run_after=logical_date, run_conf={**PARAMS, **conf}).state)
            elapsed = time.perf_counter() - t
        orders = [r for r in server.requests if "/orders" in r.path]
        return state, elapsed, len(orders), sum(1 for r in orders if r.status == 200), rss.peak

    now = datetime.now(UTC)
    current = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    rows = []
    for i, label in enumerate(args.outages.split(",")):
        outage = int(label[:-1]) * UNITS[label[-1]]
        use(f"catchup_{i}")
        history = run(current - outage, since_hours=HISTORY_HOURS)
        catchup = run(current)
        rows.append((label, history, catchup))

    use("flaky")
    server.faults.error_rate = 2 / 3
    flaky = run(None, since_hours=HISTORY_HOURS)
    server.faults.error_rate = 0.0
    server.stop()

    print(f"\nqtickets_api, orders only, {args.orders}-order sandbox, latency {args.latency_ms} ms, concurrency 4, "
          "embedded ClickHouse\n")
    print("| run | state | wall time | /orders requests (200) | peak RSS |\n|---|---|---|---|---|")
    for label, history, catchup in rows:
        for name, (state, secs, reqs, ok, peak) in ((f"history load ending {label} ago", history),
                                                    (f"next scheduled run after a {label} outage", catchup)):
            print(f"| {name} | {state} | {secs:.1f} s | {reqs} ({ok}) | {peak / 2**20:.0f} MB |")
    state, secs, reqs, ok, peak = flaky
    print(f"| full history, 2 of 3 requests answer 503 | {state} | {secs:.1f} s | {reqs} ({ok}) | {peak / 2**20:.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
