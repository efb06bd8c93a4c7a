"""The pipeline DAG under a real scheduler: ``airflow standalone`` (scheduler, LocalExecutor, triggerer,
API server) in a child process, against the sandbox API over sockets and an embedded ClickHouse folder
shared by parallel task processes.

Two things only a scheduler does are tested here, each on the production DAG built by ``build_dag``:
its Deadline Alert (``dag.test()`` cannot run a DAG with a deadline, design §8) and
``airflow backfill create`` (the README's recipe for reloading past intervals).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scripts.stack import stop_group
from tests.conftest import ROOT

pytestmark = [pytest.mark.dag, pytest.mark.integration]

LATE = "qtickets_api_deadline_probe"
BACKFILLED = "qtickets_api_backfill_probe"
# (The words "airflow" and "dag" must appear in the file: the dag-processor's safe mode skips it otherwise.)
PROBES = f'''
# Airflow DAG file: the production pipeline DAG, once with a deadline it cannot meet, once on its schedule.
import sys
from datetime import timedelta

from airflow.timetables.interval import CronDataIntervalTimetable

sys.path.insert(0, {str(ROOT / "dags")!r})
from qtickets.datasets import DATASETS
from qtickets_api import build_dag

late = build_dag({LATE!r}, schedule=None, datasets=list(DATASETS), description="deadline probe",
                 doc_md="Deadline probe of the scheduler test.", deadline=timedelta(seconds=5))
backfilled = build_dag({BACKFILLED!r}, schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
                       datasets=["orders"], description="backfill probe")
'''
TIMEOUT = 300


def sqlite_url(home: Path) -> str:
    """The metadata DB of a test's ``airflow standalone``.

    Every component and CLI call writes this one sqlite file: wait up to 60 s for its lock (the default
    5 s failed ``airflow backfill create`` with "database is locked" on a busy machine).
    """
    return f"sqlite:///{home}/airflow.db?timeout=60"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("airflow")), *args], env=env, capture_output=True,
                          text=True, timeout=180)


def _airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = _run_airflow(env, *args)
    if done.returncode != 0:
        pytest.fail(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done


def _backfill_create(env: dict[str, str], dag_id: str, *args: str, attempts: int = 3) -> None:
    """``airflow backfill create``, once more when sqlite refused it at once with "database is locked".

    That error comes without waiting for the busy timeout when a read transaction must become a write while
    the scheduler writes. Airflow then keeps the backfill row it had committed and removes it only for the
    lock errors of Postgres and MySQL (``_cleanup_partial_backfill``), so the row would block the retry;
    this does that cleanup for sqlite (test metadata DB only; production runs on Postgres).
    """
    for attempt in range(1, attempts + 1):
        done = _run_airflow(env, "backfill", "create", "--dag-id", dag_id, *args)
        if done.returncode == 0:
            return
        if "database is locked" not in done.stdout + done.stderr or attempt == attempts:
            pytest.fail(f"airflow backfill create exited {done.returncode} (attempt {attempt}):\n"
                        f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db", timeout=60) as conn:
            for (backfill_id,) in conn.execute("SELECT id FROM backfill WHERE dag_id = ?", (dag_id,)).fetchall():
                conn.execute("DELETE FROM backfill_dag_run WHERE backfill_id = ?", (backfill_id,))
                conn.execute("DELETE FROM dag_run WHERE backfill_id = ?", (backfill_id,))
                conn.execute("DELETE FROM backfill WHERE id = ?", (backfill_id,))
        time.sleep(2)


def _rows(env: dict[str, str], sql: str, *args: object) -> list[tuple]:
    """Rows of ``sql`` in the scheduler's metadata database ([] while it is not there yet)."""
    try:
        with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as conn:
            return conn.execute(sql, args).fetchall()
    except sqlite3.Error:
        return []


def _wait(what: str, ready, log: Path, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s:\n" + log.read_text()[-3000:]
        time.sleep(2)


@contextmanager
def _standalone(env: dict[str, str], log: Path) -> Iterator[None]:
    """``airflow standalone`` until the probe DAGs are parsed; stopped (whole process group) on exit."""
    with log.open("w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), "standalone"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait("the dag-processor parsed the probe DAGs",
                  lambda: proc.poll() is None and len(_rows(env, "SELECT dag_id FROM dag")) >= 2, log, 120)
            yield
        finally:
            # The whole group: `standalone` can exit before its scheduler, api-server and workers, which
            # then kept running (and eating CPU) for the rest of the suite.
            stop_group(proc, grace=30)


def _final_runs(env: dict[str, str], dag_id: str) -> list[tuple]:
    return _rows(env, "SELECT run_type, state, data_interval_start, data_interval_end FROM dag_run "
                      "WHERE dag_id = ? ORDER BY data_interval_start", dag_id)


@pytest.fixture
def scheduler_env(tmp_path, qtickets_env, fake_slack) -> dict[str, str]:
    home, dags = tmp_path / "airflow-home", tmp_path / "dags"
    dags.mkdir()
    (dags / "probes.py").write_text(PROBES)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlite_url(home),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW_CONN_CLICKHOUSE_DEFAULT": json.dumps({
            "conn_type": "qtickets_clickhouse", "schema": "scheduler_probe",
            "extra": {"embedded_path": str(tmp_path / "chdb"), "pii_hash_key": "test-key"}}),
        "AIRFLOW_VAR_QTICKETS_PARTNER_FIND_REQUESTS": json.dumps([{"filter": {}}]),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
    })
    _airflow(env, "db", "migrate")
    _airflow(env, "pools", "set", "qtickets_api", "4", "QTickets vendor API")
    _airflow(env, "pools", "set", "qtickets_publish", "1", "One fact rebuild at a time")
    return env


def test_late_run_alerts_once_through_the_triggerer_and_still_succeeds(scheduler_env, fake_slack, tmp_path):
    env, log = scheduler_env, tmp_path / "standalone.log"
    with _standalone(env, log):
        _airflow(env, "dags", "unpause", LATE)
        _airflow(env, "dags", "trigger", LATE, "--conf", json.dumps({"since_hours": 24 * 365 * 7}))
        _wait("the late run finished", lambda: [r[1] for r in _final_runs(env, LATE)] in (["success"], ["failed"]), log)
        _wait("the deadline message arrived", lambda: fake_slack.messages, log, 60)
        time.sleep(5)  # a duplicate message would follow within seconds: give it the chance to show

    assert [r[:2] for r in _final_runs(env, LATE)] == [("manual", "success")], log.read_text()[-3000:]
    assert len(fake_slack.messages) == 1, fake_slack.messages
    text = fake_slack.messages[0]["text"]
    assert f"[{LATE}] Run missed its deadline" in text and "within 0:00:05" in text


def test_backfill_create_runs_exactly_the_requested_intervals(scheduler_env, fake_slack, tmp_path):
    env, log = scheduler_env, tmp_path / "standalone.log"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # Logical dates (interval starts) of two 15-minute intervals an hour back: clear of the run the
    # scheduler itself creates for the latest interval once the DAG is unpaused.
    second = now.replace(minute=now.minute - now.minute % 15) - timedelta(hours=1)
    first = second - timedelta(minutes=15)
    with _standalone(env, log):
        _airflow(env, "dags", "unpause", BACKFILLED)  # a paused DAG's backfill stays queued (README)
        _backfill_create(env, BACKFILLED, "--from-date", first.isoformat(), "--to-date", second.isoformat())

        def backfills_done() -> bool:
            runs = [r for r in _final_runs(env, BACKFILLED) if r[0] == "backfill"]
            return len(runs) == 2 and all(r[1] in ("success", "failed") for r in runs)

        _wait("both backfill runs finished", backfills_done, log)

    backfills = [r for r in _final_runs(env, BACKFILLED) if r[0] == "backfill"]
    assert [r[1] for r in backfills] == ["success", "success"], log.read_text()[-3000:]
    intervals = [(datetime.fromisoformat(s).replace(tzinfo=UTC), datetime.fromisoformat(e).replace(tzinfo=UTC))
                 for _, _, s, e in backfills]
    assert intervals == [(first, second), (second, second + timedelta(minutes=15))]
    assert fake_slack.messages == []
