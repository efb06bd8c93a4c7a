"""A running ``airflow standalone`` with the pipeline DAG, and headless Debian Chromium driven by Playwright.

Nothing here downloads a browser: Playwright launches ``/usr/bin/chromium`` (Debian's package). Without it
(or without Playwright) the browser tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.dags.test_scheduler import _airflow, _free_port, _rows, _standalone, _wait, sqlite_url

CHROMIUM = "/usr/bin/chromium"
# As this machine's notes require: no sandbox as root, no GPU, no background traffic to Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
# The production DAG under its own id, built by the same build_dag; only the schedule is dropped, so that
# unpausing it (the trigger dialog does by default) starts no scheduled run beside the test's runs.
UI_DAGS = f'''
# Airflow DAG file for the browser tests: the production DAG, without its schedule.
import sys

from airflow.sdk.definitions._internal.contextmanager import DagContext

sys.path.insert(0, {str(ROOT / "dags")!r})
import qtickets_api as production
from qtickets.datasets import DATASETS

DagContext.autoregistered_dags.clear()  # the scheduled originals the import built: not this file's DAGs

qtickets_api = production.build_dag("qtickets_api", schedule=None, datasets=list(DATASETS),
                                    description="browser-test copy", doc_md=production.__doc__)
qtickets_api_history = production.build_dag("qtickets_api_history", schedule=None,
                                            datasets=["orders", "events"], description="browser-test copy",
                                            doc_md=production.HISTORY_DOC)
'''


def _browser_missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@pytest.fixture(scope="package")  # closed after tests/ui: Playwright's sync API keeps an event loop running until then
def chromium():
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"browser tests need Chromium and Playwright in CI: {missing}")
        pytest.skip(missing)
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Airflow:
    """The running standalone: its URL, environment and log."""

    def __init__(self, url: str, env: dict[str, str], log: Path, shots: Path):
        self.url, self.env, self.log, self.shots = url, env, log, shots

    def rows(self, sql: str, *args: object) -> list[tuple]:
        return _rows(self.env, sql, *args)

    def wait(self, what: str, ready, timeout: float = 120) -> None:
        _wait(what, ready, self.log, timeout)

    def shot(self, page, name: str) -> Path:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory, chromium) -> Iterator[Airflow]:
    tmp = tmp_path_factory.mktemp("ui")
    home, dags, shots = tmp / "airflow-home", tmp / "dags", tmp / "screenshots"
    dags.mkdir()
    shots.mkdir()
    (dags / "qtickets_ui.py").write_text(UI_DAGS)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",  # no login page in the way
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlite_url(home),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
    })
    _airflow(env, "db", "migrate")
    _airflow(env, "pools", "set", "qtickets_api", "4", "QTickets vendor API")
    _airflow(env, "pools", "set", "qtickets_publish", "1", "One fact rebuild at a time")
    log = tmp / "standalone.log"
    with _standalone(env, log):
        url = f"http://127.0.0.1:{port}"
        import requests

        def healthy() -> bool:
            try:
                return requests.get(f"{url}/api/v2/monitor/health", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        _wait("the API server answered", healthy, log, 120)
        yield Airflow(url, env, log, shots)
    shutil.rmtree(home / "logs", ignore_errors=True)


@pytest.fixture
def page(chromium, airflow_ui):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def dag_runs(airflow: Airflow, dag_id: str) -> list[tuple]:
    return airflow.rows("SELECT run_id, run_type, state, conf FROM dag_run WHERE dag_id = ? ORDER BY id", dag_id)


def task_states(airflow: Airflow, run_id: str) -> dict[str, str]:
    return dict(airflow.rows("SELECT task_id, state FROM task_instance WHERE run_id = ?", run_id))


__all__ = ["Airflow", "dag_runs", "task_states", "json"]
