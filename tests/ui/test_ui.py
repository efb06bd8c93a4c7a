"""What a new user sees in the Airflow UI, in a real browser: headless Debian Chromium driven by
Playwright against ``airflow standalone`` running the pipeline DAG (see ``conftest.py``).

Screenshots land in the pytest tmp dir (their paths are printed; ``-s`` shows them).
"""

from __future__ import annotations

import json

import pytest

from qtickets.datasets import DATASETS
from tests.ui.conftest import dag_runs, task_states

pytestmark = [pytest.mark.ui, pytest.mark.integration]

DAG_ID = "qtickets_api"


def _expect():
    from playwright.sync_api import expect

    return expect


def _open_trigger_form(airflow_ui, page):
    page.goto(f"{airflow_ui.url}/dags/{DAG_ID}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    _expect()(dialog.get_by_text("Run Parameters")).to_be_visible()
    return dialog


@pytest.fixture(scope="module")
def dry_run(airflow_ui, chromium):
    """A dry run of the orders dataset, triggered from the form as a user would; returns its run id."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        dialog = _open_trigger_form(airflow_ui, page)
        dialog.get_by_role("combobox", name="Select one or multiple values").click()
        options = page.get_by_role("option")
        _expect()(options.first).to_be_visible()
        offered = options.all_inner_texts()
        airflow_ui.shot(page, "trigger-form-datasets")
        page.get_by_role("option", name="orders", exact=True).click()
        dialog.get_by_text(f"Trigger Dag - {DAG_ID}").click()  # closes the menu (Escape would close the dialog)
        dialog.locator('[id="switch:element_dry_run"]').click()
        airflow_ui.shot(page, "trigger-form-filled")
        dialog.get_by_role("button", name="Trigger").last.click()
        airflow_ui.wait("the triggered run exists", lambda: dag_runs(airflow_ui, DAG_ID))
        airflow_ui.wait("the triggered run finished",
                        lambda: dag_runs(airflow_ui, DAG_ID)[0][2] in ("success", "failed"), 150)
    finally:
        context.close()
    (run_id, run_type, state, conf), = dag_runs(airflow_ui, DAG_ID)
    return {"run_id": run_id, "run_type": run_type, "state": state, "conf": json.loads(conf) if conf else {},
            "offered": offered}


def test_trigger_form_offers_the_dataset_names(dry_run):
    assert dry_run["offered"] == list(DATASETS)


def test_dry_run_triggered_from_the_form_succeeds(airflow_ui, dry_run):
    assert dry_run["run_type"] == "manual"
    assert dry_run["conf"]["dry_run"] is True and dry_run["conf"]["datasets"] == ["orders"], dry_run["conf"]
    states = task_states(airflow_ui, dry_run["run_id"])
    assert dry_run["state"] == "success", states
    assert states["loads.load_orders"] == "success" and states["finish"] == "success", states


def test_a_dataset_not_selected_shows_as_skipped_with_its_reason_first_in_the_log(airflow_ui, dry_run, page):
    assert task_states(airflow_ui, dry_run["run_id"])["loads.load_clients"] == "skipped"
    page.goto(f"{airflow_ui.url}/dags/{DAG_ID}/runs/{dry_run['run_id']}/tasks/loads.load_clients")
    _expect()(page.get_by_text("Skipped", exact=True).first).to_be_visible()
    reason = page.get_by_text("Skipping clients: not selected", exact=False).first
    _expect()(reason).to_be_visible(timeout=60_000)
    airflow_ui.shot(page, "skipped-task")
    log = page.inner_text("body")
    after_pre_execute = log[log.index("Pre Execute"):]
    first_line = next(line for line in after_pre_execute.splitlines()[1:] if "INFO" in line or "ERROR" in line)
    assert "Skipping clients: not selected" in first_line, after_pre_execute[:500]


def test_the_graph_shows_the_loads_group_collapsed(airflow_ui, dry_run, page):
    page.goto(f"{airflow_ui.url}/dags/{DAG_ID}/runs/{dry_run['run_id']}")
    page.get_by_role("button", name="Show Graph (Press g)").click()
    graph = page.locator(".react-flow")
    _expect()(graph.get_by_text("Task Group").first).to_be_visible()
    _expect()(graph.get_by_text("loads", exact=True).first).to_be_visible()
    _expect()(graph.get_by_text(f"+ {len(DATASETS)} Tasks").first).to_be_visible()
    for task_id in ("bootstrap_schema", "rebuild_facts", "run_checks", "finish", "record_run"):
        _expect()(graph.get_by_text(task_id, exact=True).first).to_be_visible()
    assert graph.get_by_text("load_orders", exact=False).count() == 0, "the group is collapsed by default"
    airflow_ui.shot(page, "graph")


def test_the_clickhouse_connection_form_has_the_embedded_folder_field(airflow_ui, page):
    page.goto(f"{airflow_ui.url}/connections")
    page.get_by_role("button", name="Add Connection").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox").first.click()
    page.keyboard.type("ClickHouse")
    # ADR 0009: the official provider's "ClickHouse" (HTTP) is a type of its own next to ours.
    _expect()(page.get_by_role("option", name="ClickHouse", exact=True)).to_be_visible()
    page.get_by_role("option", name="ClickHouse (native or embedded)").click()
    dialog.get_by_text("Extra Fields", exact=True).click()
    _expect()(dialog.get_by_text("Embedded folder (chDB)").first).to_be_visible()
    _expect()(dialog.get_by_text("Verify the server certificate").first).to_be_visible()
    _expect()(dialog.get_by_text("Cluster (ON CLUSTER)").first).to_be_visible()
    assert dialog.get_by_text("Client kwargs (JSON)").count() == 0, "no field of the official form in ours"
    airflow_ui.shot(page, "clickhouse-connection-form")
