"""The pipeline DAG under a real scheduler: ``airflow standalone`` (scheduler, LocalExecutor, triggerer,
API server) in a child process, against the sandbox API over sockets and an embedded ClickHouse folder
shared by parallel task processes.

This is the only place the Deadline Alert can fire (``dag.test()`` cannot run a DAG with a deadline,
design §8), so the DAG here is the production one built by ``build_dag`` with a 5-second deadline: the
run is late by construction, the triggerer must deliver exactly one message to the (fake) Slack
webhook, and the run itself must still succeed with its tasks in parallel processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.dag, pytest.mark.integration]

DAG_ID = "qtickets_api_deadline_probe"
# (The words "airflow" and "dag" must appear in the file: the dag-processor's safe mode skips it otherwise.)
PROBE = f'''
# An airflow DAG file: the production pipeline DAG with a deadline it cannot meet.
import sys
from datetime import timedelta

sys.path.insert(0, {str(ROOT / "dags")!r})
from qtickets.datasets import DATASETS
from qtickets_api import build_dag

probe = build_dag({DAG_ID!r}, schedule=None, datasets=list(DATASETS), description="deadline probe",
                  deadline=timedelta(seconds=5))
'''
RUN_TIMEOUT = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _airflow(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(Path(sys.executable).with_name("airflow")), *args], env=env, capture_output=True,
                          text=True, timeout=180)
    if check and done.returncode != 0:
        pytest.fail(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done


def _one(db: Path, sql: str) -> str | None:
    """First column of the first row of ``sql`` (bound to DAG_ID) in the scheduler's database."""
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(sql, (DAG_ID,)).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _run_state(db: Path) -> str | None:
    return _one(db, "SELECT state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1")


@pytest.fixture
def scheduler_env(tmp_path, qtickets_env, fake_slack) -> dict[str, str]:
    home, dags = tmp_path / "airflow-home", tmp_path / "dags"
    dags.mkdir()
    (dags / "deadline_probe.py").write_text(PROBE)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW_CONN_CLICKHOUSE_DEFAULT": json.dumps({
            "conn_type": "clickhouse", "schema": "scheduler_probe",
            "extra": {"embedded_path": str(tmp_path / "chdb"), "pii_hash_key": "test-key"}}),
        "AIRFLOW_VAR_QTICKETS_PARTNER_FIND_REQUESTS": json.dumps([{"filter": {}}]),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
    })
    _airflow(env, "db", "migrate")
    _airflow(env, "pools", "set", "qtickets_api", "4", "QTickets vendor API")
    return env


def test_late_run_alerts_once_through_the_triggerer_and_still_succeeds(scheduler_env, fake_slack, tmp_path):
    env = scheduler_env
    log = (tmp_path / "standalone.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), "standalone"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
        deadline = time.monotonic() + 120
        while _one(db, "SELECT dag_id FROM dag WHERE dag_id = ?") is None:  # parsed by the dag-processor yet?
            assert proc.poll() is None, (tmp_path / "standalone.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the dag-processor never parsed the probe DAG"
            time.sleep(2)
        _airflow(env, "dags", "unpause", DAG_ID)
        _airflow(env, "dags", "trigger", DAG_ID, "--conf", json.dumps({"since_hours": 24 * 365 * 7}))
        deadline = time.monotonic() + RUN_TIMEOUT
        while _run_state(db) not in ("success", "failed"):
            assert time.monotonic() < deadline, (
                f"run state {_run_state(db)!r} after {RUN_TIMEOUT} s: "
                + (tmp_path / "standalone.log").read_text()[-3000:])
            time.sleep(2)
        time.sleep(10)  # the alert fired ~5 s after queueing; a late or second message would be here by now
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()

    assert _run_state(db) == "success", (tmp_path / "standalone.log").read_text()[-3000:]
    assert len(fake_slack.messages) == 1, fake_slack.messages
    text = fake_slack.messages[0]["text"]
    assert f"[{DAG_ID}] Run missed its deadline" in text and "within 0:00:05" in text
