"""The DAG file parses, and its shape is what operators and dashboards rely on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from qtickets.datasets import DATASETS

pytestmark = pytest.mark.dag

EXPECTED_PARAMS = {"dry_run", "since_hours", "datasets", "fixtures_dir"}


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"qtickets_api", "qtickets_api_history"} <= set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_id", ["qtickets_api", "qtickets_api_history"])
def test_dag_policy(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    assert dag.tags and "qtickets" in dag.tags
    assert dag.max_active_runs == 1
    assert dag.is_paused_upon_creation is True, "a new deployment is verified (dry run) before it runs"
    assert dag.catchup is False
    assert dag.doc_md and "qtickets_api" in dag.doc_md
    assert set(dag.params.keys()) == EXPECTED_PARAMS
    assert dag.deadline, "the production DAG must keep its Deadline Alert (the SLA replacement)"
    assert dag.on_failure_callback
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.on_failure_callback, task.task_id
        assert task.execution_timeout is not None, task.task_id


def test_schedule_has_real_15_minute_intervals(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.get_dag("qtickets_api")
    # A cron *string* gives zero-length data intervals in Airflow 3; the windows need real ones.
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "*/15 * * * *"


def test_tasks_and_dependencies(dagbag):
    dag = dagbag.get_dag("qtickets_api")
    loads = {f"loads.load_{name}" for name in DATASETS}
    assert set(dag.task_ids) == loads | {"bootstrap_schema", "rebuild_facts", "run_checks", "record_run", "finish"}
    upstream = {t.task_id: t.upstream_task_ids for t in dag.tasks}
    assert upstream["loads.load_inventory"] == {"loads.load_events"}
    assert upstream["loads.load_barcodes"] == {"loads.load_events"}
    assert upstream["loads.load_orders"] == {"bootstrap_schema"}
    assert upstream["rebuild_facts"] == loads
    assert upstream["run_checks"] == {"rebuild_facts"}
    assert upstream["finish"] == loads | {"rebuild_facts", "run_checks"}
    assert upstream["record_run"] == loads | {"bootstrap_schema", "rebuild_facts", "run_checks"}
    # The run's verdict: record_run always runs; `finish` fails the run when anything upstream failed,
    # and a skipped load (not selected, not due) neither skips it nor the loads that read its data.
    assert dag.get_task("record_run").trigger_rule == "all_done"
    assert dag.get_task("finish").trigger_rule == "none_failed"
    assert set(dag.leaves) == {dag.get_task("record_run"), dag.get_task("finish")}
    for load in loads:
        assert dag.get_task(load).pool == "qtickets_api"
        assert dag.get_task(load).trigger_rule == "none_failed"


def test_loads_are_one_group_and_every_task_says_what_it_does(dagbag):
    dag = dagbag.get_dag("qtickets_api")
    group = dag.task_group_dict["loads"]
    assert {t.task_id for t in group} == {f"loads.load_{name}" for name in DATASETS}
    for task in dag.tasks:
        assert task.doc_md, task.task_id
    orders = dag.get_task("loads.load_orders").doc_md
    assert "GET /orders" in orders and "stg_qtickets_api_orders_raw" in orders and "Skips" in orders
    assert "Skips" in dag.get_task("rebuild_facts").doc_md


def test_every_dag_publishes_facts_through_one_shared_single_slot_pool(dagbag):
    """Two runs never rebuild the facts at once, whichever DAGs they belong to (ADR 0006); the pool's
    single slot is created wherever the pools are (compose init, make airflow, the scheduler test)."""
    from qtickets_api import PUBLISH_POOL

    pools = {dagbag.get_dag(d).get_task("rebuild_facts").pool for d in ("qtickets_api", "qtickets_api_history")}
    assert pools == {PUBLISH_POOL}
    root = Path(__file__).resolve().parents[2]
    for place in ("docker-compose.yaml", "scripts/demo.py", "tests/dags/test_scheduler.py"):
        text = (root / place).read_text()
        assert f"pools set {PUBLISH_POOL} 1 " in text or f'"{PUBLISH_POOL}", "1"' in text, place


def test_history_dag_reads_orders_by_day(dagbag):
    dag = dagbag.get_dag("qtickets_api_history")
    assert dag.timetable.expression == "0 0 * * *"
    assert {"loads.load_orders", "loads.load_events"} <= set(dag.task_ids)
    assert "loads.load_clients" not in dag.task_ids
    assert dag.deadline[0].interval >= timedelta(hours=1)


@pytest.mark.parametrize("dag_id", ["qtickets_api", "qtickets_api_history"])
def test_dag_serializes_with_its_deadline(dagbag, dag_id):
    # The dag-processor stores DAGs serialized; a deadline callback that cannot be serialized would
    # break the DAG in production while in-process tests (which detach the deadline) stay green.
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(dagbag.get_dag(dag_id))
    restored = DagSerialization.from_dict(data)
    assert restored.deadline, "deadline lost in serialization"
    assert "QticketsDeadlineNotifier" in str(data)


@pytest.mark.parametrize(("dag_id", "names"), [("qtickets_api", list(DATASETS)),
                                               ("qtickets_api_history", ["orders", "events"])])
def test_datasets_param_is_an_optional_multi_select_of_the_dags_own_datasets(dagbag, dag_id, names):
    # Airflow 3.3's trigger form renders a multi-select for an array whose schema has `examples`
    # (items.enum alone gives a free-text box); a type without null is shown as required.
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.get_dag(dag_id)))
    param = dag.params.get_param("datasets")
    assert set(param.schema["type"]) == {"array", "null"}
    assert param.schema["examples"] == names
    assert param.schema["items"]["enum"] == names
    assert param.value is None
    assert "Empty: every dataset" in param.description
    for name in ("dry_run", "since_hours", "fixtures_dir"):
        assert dag.params.get_param(name).description, name


def test_datasets_param_refuses_a_name_the_dag_does_not_load(dagbag):
    from airflow.sdk.definitions.param import ParamValidationError

    dag = dagbag.get_dag("qtickets_api_history")
    assert dag.params.get_param("datasets").resolve(["orders"]) == ["orders"]
    with pytest.raises(ParamValidationError):
        dag.params.get_param("datasets").resolve(["clients"])


def test_since_hours_zero_is_refused_not_rounded(dagbag):
    from airflow.sdk.definitions.param import ParamValidationError

    param = dagbag.get_dag("qtickets_api").params.get_param("since_hours")
    with pytest.raises(ParamValidationError, match="minimum"):
        param.resolve(0)
    assert param.resolve(1) == 1
    assert param.resolve(None) is None


def test_history_dag_has_its_own_doc(dagbag):
    history, main = dagbag.get_dag("qtickets_api_history"), dagbag.get_dag("qtickets_api")
    assert history.doc_md != main.doc_md
    assert "qtickets_api_history" in history.doc_md and "backfill" in history.doc_md
