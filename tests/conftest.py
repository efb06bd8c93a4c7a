"""Shared test set-up.

Airflow reads its configuration at import time, so the environment is prepared here, before any test
module imports Airflow. chDB allows one data folder per process: every test in a pytest process uses
the same folder (``chdb_dir``) and isolates itself with its own database (``ch_database``).
"""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CAPTURES = SHARED / "fixtures" / "qtickets-captures"

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="qtickets-airflow-home-"))
if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist workers inherit the controller's environment, this module's settings included: each
    # worker needs its own home and metadata DB (one worker's resetdb would wipe another's runs)
    os.environ.pop("AIRFLOW_HOME", None)
    os.environ.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME}/airflow.db")

pytest_plugins = ["sandbox.pytest_plugin", "tests.fakes"]


@pytest.fixture(scope="session")
def captures_dir() -> Path:
    """The anonymised real vendor responses in ``../shared`` (contract tests skip when absent)."""
    if not CAPTURES.is_dir():
        pytest.skip(f"vendor captures not found at {CAPTURES}")
    return CAPTURES


#: The ``pii_hash_key`` of the test connections (not a secret).
TEST_PII_HASH_KEY = "test-pii-hash-key"


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one embedded ClickHouse folder of this pytest process."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def ch_database(chdb_dir: Path) -> Iterator[str]:
    """A database name no other test uses; dropped from the process's chDB folder afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    drop_embedded_database(chdb_dir, name)


def drop_embedded_database(folder: Path, name: str) -> None:
    """Drop a test's database from the shared chDB folder.

    chDB loads the metadata of every database in the folder whenever a session opens, and every task of
    an in-process DAG run opens one: with the databases of earlier tests left behind, an open took 2.8 s
    (120 databases) instead of 0.05 s, and DAG tests late in a session ran several times slower.
    """
    from qtickets.hooks import _chdb

    if not (folder / "metadata").is_dir():
        return  # chDB never opened this folder
    try:
        entry = _chdb.acquire(str(folder), 30)
    except Exception as exc:  # cleanup only: a test that left the folder to someone else keeps its database
        warnings.warn(f"could not drop test database {name} from {folder}: {exc}", stacklevel=2)
        return
    try:
        entry.session.query(f"DROP DATABASE IF EXISTS `{name}` SYNC")
    finally:
        _chdb.release(entry)


@pytest.fixture
def embedded_clickhouse(monkeypatch: pytest.MonkeyPatch, chdb_dir: Path, ch_database: str) -> str:
    """Point ``clickhouse_default`` at the embedded engine with a fresh database; returns the conn id.

    The connection carries a hash key, as production must (hash mode refuses to load without one).
    """
    import json

    conn = {"conn_type": "qtickets_clickhouse", "schema": ch_database,
            "extra": {"embedded_path": str(chdb_dir), "pii_hash_key": TEST_PII_HASH_KEY}}
    monkeypatch.setenv("AIRFLOW_CONN_CLICKHOUSE_DEFAULT", json.dumps(conn))
    return "clickhouse_default"
