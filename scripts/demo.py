"""The demo: sandbox QTickets API → the real ``qtickets_api`` DAG → embedded ClickHouse → a summary.

    .venv/bin/python scripts/demo.py [--orders 20000] [--keep]         # one end-to-end run, then a summary
    .venv/bin/python scripts/demo.py standalone [--orders 20000]        # same set-up, Airflow UI on :8080

Everything lives under ``.local/`` in the checkout (Airflow home, the embedded ClickHouse folder).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"
HOME = LOCAL / "airflow-home"
CHDB = LOCAL / "chdb"
DATABASE = "zakaz"
SANDBOX_TOKEN = "sandbox-token"
SANDBOX_PARTNER_KEY = "sandbox-partner-key"
# The demo loads the sandbox's whole history in one manual run (the same param a user passes to load
# an organiser's history): 6 years.
DEMO_SINCE_HOURS = 24 * 365 * 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox(orders: int, latency_ms: int = 0) -> tuple[subprocess.Popen, str]:
    """Start ``python -m sandbox`` on a free loopback port; wait until it answers."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port), "--orders", str(orders),
         "--seed", "42", "--latency-ms", str(latency_ms)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"sandbox exited early: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            req = urllib.request.Request(f"{base}/api/rest/v1/color-themes",
                                         headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"})
            with urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("sandbox did not answer within 120 s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def configure_environment(base: str) -> None:
    """Airflow settings and connections, as environment variables (read before Airflow is imported)."""
    os.environ.update({
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW_CONN_QTICKETS_DEFAULT": json.dumps({
            "conn_type": "qtickets", "host": f"{base}/api/rest/v1", "password": SANDBOX_TOKEN,
            "extra": {"timeout": 30, "concurrency": 4}}),
        "AIRFLOW_CONN_QTICKETS_PARTNERS_DEFAULT": json.dumps({
            "conn_type": "qtickets_partners", "host": f"{base}/api/partners/v1", "password": SANDBOX_PARTNER_KEY}),
        "AIRFLOW_CONN_CLICKHOUSE_DEFAULT": json.dumps({
            "conn_type": "qtickets_clickhouse", "schema": DATABASE,
            "extra": {"embedded_path": str(CHDB), "pii_hash_key": "demo-only-key"}}),
        "AIRFLOW_VAR_QTICKETS_PARTNER_FIND_REQUESTS": json.dumps([{"filter": {}}]),
    })


def run_dag() -> bool:
    """Run the real DAG once through Airflow (``dag.test``), deadline detached for this in-process run only."""
    from airflow.models import DagBag
    from airflow.utils import db

    db.resetdb()
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag("qtickets_api")
    # Airflow 3.3.2's dag.test() crashes on DAGs with deadline= after the tasks ran (see README,
    # troubleshooting); scheduled runs keep the Deadline Alert.
    dag.deadline = None
    run = dag.test(logical_date=None, run_conf={"since_hours": DEMO_SINCE_HOURS})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    print(f"\nDAG run {run.run_id}: {run.state}")
    for task_id, state in sorted(states.items()):
        print(f"  {task_id:<30} {state}")
    return str(run.state) == "success"


def print_summary() -> None:
    from qtickets.hooks.clickhouse import ClickHouseHook

    with ClickHouseHook(clickhouse_conn_id="clickhouse_default") as ch:
        tables = ch.fetch_all(
            "SELECT name FROM system.tables WHERE database = %(db)s AND engine NOT LIKE '%%View' "
            "AND name NOT LIKE '%%\\_\\_%%' ORDER BY name", {"db": ch.database})
        print(f"\nRows per table in {ch.database} (deduplicated):")
        for (name,) in tables:
            final = " FINAL" if name.startswith("stg_") else ""
            (count,) = ch.fetch_all(f"SELECT count() FROM {{{{ db }}}}.{{{{ t }}}}{final}", t=name)[0]
            print(f"  {name:<40} {count:>10}")
        print("\nv_sales_14d (top 10 by revenue):")
        rows = ch.fetch_all("SELECT * FROM {{ db }}.v_sales_14d ORDER BY revenue DESC LIMIT 10")
        for row in rows:
            print("  " + " | ".join(str(v) for v in row))
        print("\nmeta_job_runs (latest):")
        rows = ch.fetch_all("SELECT job, run_id, status, rows_processed, started_at, finished_at, message "
                            "FROM {{ db }}.meta_job_runs FINAL ORDER BY finished_at DESC LIMIT 1")
        for row in rows:
            print("  " + "\n  ".join(f"{k}: {v}" for k, v in zip(
                ("job", "run_id", "status", "rows_processed", "started_at", "finished_at", "message"), row,
                strict=True)))


def demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if not args.keep:
        shutil.rmtree(CHDB, ignore_errors=True)
    LOCAL.mkdir(exist_ok=True)
    proc, base = start_sandbox(args.orders)
    print(f"Sandbox QTickets API on {base} with {args.orders} orders (seed 42)")
    try:
        configure_environment(base)
        dag_started = time.monotonic()
        ok = run_dag()
        dag_seconds = time.monotonic() - dag_started
        print_summary()
    finally:
        stop(proc)
    print(f"\nDAG run {dag_seconds:.1f} s; demo total {time.monotonic() - started:.1f} s. "
          f"Embedded ClickHouse data: {CHDB}")
    return 0 if ok else 1


UI_URL = "http://127.0.0.1:8080"
PASSWORDS = HOME / "simple_auth_manager_passwords.json.generated"


def _is_quiet(line: str) -> bool:
    """A line of `airflow standalone` the terminal does not need: the API server's per-request access log
    (thousands of lines while clicking around), unless the request failed on the server side."""
    return "[http.access]" in line and "status_code=5" not in line


def _relay(stream, out=sys.stdout) -> None:
    for line in iter(stream.readline, ""):
        if not _is_quiet(line):
            out.write(line)
            out.flush()


def _wait_healthy(af: subprocess.Popen, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and af.poll() is None:
        try:
            with urllib.request.urlopen(f"{UI_URL}/api/v2/monitor/health", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def _stop_group(af: subprocess.Popen) -> None:
    """Stop every component: SIGINT to the whole group, then SIGTERM (the parent `standalone` process can
    outlive its components on SIGINT alone), then SIGKILL."""
    for sig, wait in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(af.pid, sig)
        except ProcessLookupError:
            return
        try:
            af.wait(timeout=wait)
            # the parent is gone; its components may still be exiting: give them the same signal
            os.killpg(af.pid, sig)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def standalone(args: argparse.Namespace) -> int:
    import threading

    LOCAL.mkdir(exist_ok=True)
    proc, base = start_sandbox(args.orders)
    configure_environment(base)
    print(f"Sandbox QTickets API on {base}. Starting `airflow standalone` (the API server's access log is "
          "left out of this terminal)...", flush=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    # `airflow standalone` starts its components as `airflow ...` through PATH: put the venv first.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    af = None
    try:
        subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([airflow, "pools", "set", "qtickets_api", "4", "QTickets vendor API"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([airflow, "pools", "set", "qtickets_publish", "1", "One fact rebuild at a time"],
                       check=True, stdout=subprocess.DEVNULL)
        af = subprocess.Popen([airflow, "standalone"], start_new_session=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, bufsize=1)
        threading.Thread(target=_relay, args=(af.stdout,), daemon=True).start()
        if _wait_healthy(af):
            time.sleep(5)  # after standalone's own start-up lines: the login is the last thing shown
            print(LOGIN_BANNER.format(url=UI_URL, passwords=PASSWORDS), flush=True)
        return af.wait()
    except KeyboardInterrupt:
        print("\nStopping Airflow (every component) and the sandbox...", flush=True)
        return 0
    finally:
        if af is not None:
            _stop_group(af)
        stop(proc)


LOGIN_BANNER = """
================================================================================================
Airflow UI: {url}
  Login: user "admin"; the password is in {passwords}
  Connections qtickets_default, qtickets_partners_default and clickhouse_default come from
  environment variables (AIRFLOW_CONN_*) set by this script: Admin -> Connections lists only
  connections stored in the metadata DB, so it looks empty. They work all the same.
  Trigger qtickets_api (dry run first). The trigger dialog ticks "Unpause qtickets_api on trigger"
  by default, and unpausing also starts the 15-minute schedule (a paused DAG's run stays queued):
  pause the DAG again (the switch by its name) if you wanted only that run.
  Ctrl-C stops every Airflow component and the sandbox.
================================================================================================
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=["run", "standalone"], default="run")
    parser.add_argument("--orders", type=int, default=20000, help="sandbox scale (orders)")
    parser.add_argument("--keep", action="store_true", help="keep the embedded ClickHouse data of earlier runs")
    args = parser.parse_args()
    return standalone(args) if args.mode == "standalone" else demo(args)


if __name__ == "__main__":
    sys.exit(main())
