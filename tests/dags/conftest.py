"""Fixtures for tests that load or run the DAG through Airflow itself."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh Airflow metadata DB (sqlite in the session's AIRFLOW_HOME)."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.models import DagBag

    return DagBag(dag_folder=str(DAGS))


def runnable(dagbag, dag_id: str = "qtickets_api"):
    """The production DAG made runnable in-process: no task retries, deadline detached.

    Airflow 3.3.2's ``dag.test()`` crashes after the tasks ran on any DAG with ``deadline=`` (see the
    README); the production DAG keeps its Deadline Alert, only this in-process copy drops it.
    """
    import copy

    dag = copy.deepcopy(dagbag.get_dag(dag_id))
    dag.deadline = None
    for task in dag.tasks:
        task.retries = 0
    return dag


@pytest.fixture
def sandbox():
    """A fresh sandbox per test whose clock is the real one.

    The DAG reads the wall clock (windows of manual runs, upcoming shows, freshness), so the vendor's
    data must be "recent" in real time here, unlike the fixed-clock sandbox of the hook tests.
    """
    from sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(orders=300, seed=11)) as server:
        yield server


DEFAULT_CONF = {"dry_run": False, "since_hours": None, "datasets": [], "fixtures_dir": None}


def conf(**overrides):
    """A complete run conf: every param explicit.

    In Airflow 3.3.2, ``process_params`` writes a run's conf into Param objects shared with later
    in-process runs (``dag.test()`` twice in one process: the second run sees the first one's
    ``since_hours``). Worker processes start fresh, so scheduled runs are not affected; in-process
    test runs pass every param explicitly.
    """
    return {**DEFAULT_CONF, **overrides}
