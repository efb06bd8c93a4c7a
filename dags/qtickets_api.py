"""
### QTickets → ClickHouse (`qtickets_api`)

Every 15 minutes: apply pending schema migrations, load each QTickets dataset into its
`stg_qtickets_api_*_raw` staging table (orders incrementally by `updated_at`, reference data when its
cadence says so), rebuild `dim_events`, `fact_qtickets_sales_daily` (+ UTM) and
`fact_qtickets_inventory_latest` for the days the loads touched, run data-quality checks, and record the
run in `meta_job_runs` whatever happened.

**Params** (trigger form): `dry_run` (no HTTP, no ClickHouse write), `since_hours` (override the window;
e.g. 45000 loads the whole history in one run), `datasets` (subset; a named snapshot dataset is loaded
even if its cadence says it is not due), `fixtures_dir` (replay saved responses from a folder under the
deployment's `[qtickets] fixtures_root`; replay is off when that is unset).

**Connections**: `qtickets_default`, `qtickets_partners_default` (optional), `clickhouse_default`
(server, or extra `embedded_path` for the embedded engine). Alerts go to whichever of
`qtickets_alerts_telegram`, `qtickets_alerts_slack`, `qtickets_alerts_smtp` exist.

`qtickets_api_history` is the same pipeline on daily intervals for `airflow backfill create` over long
ranges (orders; events are snapshots). Both DAGs are created paused; a backfill runs only while its DAG
is unpaused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TriggerRule, get_current_context, task

from qtickets import pipeline
from qtickets.datasets import DATASETS
from qtickets.notifications import deadline_alert, on_dag_failure, on_task_failure
from qtickets.params import RunParams, resolve_window

POOL = "qtickets_api"
# One slot, shared by every DAG built here: two runs (a backfill and a scheduled run, or qtickets_api
# and qtickets_api_history) never rebuild the same facts at once, so a rebuild started before another
# run loaded a refund cannot publish over that run's newer build (ADR 0006).
PUBLISH_POOL = "qtickets_publish"
START_DATE = datetime(2026, 11, 1, tzinfo=UTC)
RUN_DEADLINE = timedelta(minutes=30)

DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=45),
    "on_failure_callback": on_task_failure,
}

PARAMS = {
    "dry_run": Param(False, type="boolean",
                     description="Verify a deployment: no HTTP request, no ClickHouse write, logs 'stub mode'."),
    "since_hours": Param(None, type=["null", "integer"], minimum=1,
                         description="Load the last N hours (ending at the run's interval end) instead of the "
                                     "data interval. 45000 reads the whole history."),
    "datasets": Param([], type="array", items={"type": "string", "enum": list(DATASETS)},
                      description="Datasets to load (empty = all). A named dataset ignores its cadence."),
    "fixtures_dir": Param(None, type=["null", "string"],
                          description="Folder of saved API responses to replay instead of calling the API, "
                                      "relative to the deployment's [qtickets] fixtures_root (replay is off "
                                      "when that is unset)."),
}


def _run_context() -> tuple[dict[str, Any], RunParams]:
    context = get_current_context()
    return context, RunParams.from_mapping(context["params"])


def _window(context: dict[str, Any], params: RunParams):
    dag_run = context["dag_run"]
    return resolve_window(params, data_interval_start=context.get("data_interval_start"),
                          data_interval_end=context.get("data_interval_end"),
                          run_after=getattr(dag_run, "run_after", None))


@contextmanager
def _errors_to_xcom(context: dict[str, Any]) -> Iterator[None]:
    # The vendor's status, code and request id must reach meta_job_runs, which record_run writes from
    # XCom: a failing task leaves them there before re-raising.
    try:
        yield
    except Exception as exc:
        context["ti"].xcom_push(key="error", value=pipeline.error_details(exc))
        raise


def build_dag(dag_id: str, *, schedule: Any, datasets: list[str], description: str,
              deadline: timedelta = RUN_DEADLINE) -> DAG:
    """Build the pipeline DAG for ``datasets`` on ``schedule`` (wiring only; bodies live in qtickets.pipeline)."""
    with DAG(
        dag_id=dag_id,
        description=description,
        doc_md=__doc__,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        # Created paused: a new deployment is verified first (a manual run with dry_run), then unpaused.
        is_paused_upon_creation=True,
        default_args=DEFAULT_ARGS,
        params=PARAMS,
        tags=["qtickets", "clickhouse", "sales"],
        on_failure_callback=on_dag_failure,
        deadline=deadline_alert(deadline),
    ) as dag:

        @task
        def bootstrap_schema() -> dict[str, Any]:
            context, params = _run_context()
            with _errors_to_xcom(context):
                return pipeline.bootstrap_schema(params)

        @task(pool=POOL)
        def load(dataset: str) -> dict[str, Any]:
            context, params = _run_context()
            with _errors_to_xcom(context):
                return pipeline.load_dataset(dataset, params=params, window=_window(context, params),
                                             run_id=context["run_id"])

        @task(trigger_rule=TriggerRule.ALL_DONE, pool=PUBLISH_POOL)
        def rebuild_facts(loads: list[dict[str, Any] | None]) -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowSkipException

            context, params = _run_context()
            if not params.dry_run and not any(s and s.get("status") == "loaded" for s in loads):
                raise AirflowSkipException("no dataset was loaded in this run; facts are left as they are")
            with _errors_to_xcom(context):
                return pipeline.rebuild_facts(loads, params, run_id=context["run_id"])

        @task
        def run_checks() -> dict[str, Any]:
            context, params = _run_context()
            with _errors_to_xcom(context):
                return pipeline.run_checks(params, _window(context, params))

        @task(trigger_rule=TriggerRule.ALL_DONE)
        def record_run(load_task_ids: list[str]) -> dict[str, Any]:
            context, params = _run_context()
            ti, dag_run = context["ti"], context["dag_run"]
            task_ids = [t for t in dag.task_ids if t not in {ti.task_id, "finish"}]
            states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id]).get(dag_run.run_id, {})
            errors = {t: e for t in task_ids if (e := ti.xcom_pull(task_ids=t, key="error"))}
            return pipeline.record_run(
                params=params, run_id=dag_run.run_id, dag_id=dag_run.dag_id, run_type=str(getattr(dag_run.run_type, "value", dag_run.run_type)),
                window=_window(context, params), started_at=getattr(dag_run, "start_date", None),
                loads=[ti.xcom_pull(task_ids=t) for t in load_task_ids],
                task_states={t: str(states.get(t)) for t in task_ids}, errors=errors)

        schema = bootstrap_schema()
        loads = {name: load.override(task_id=f"load_{name}")(name) for name in datasets}
        for name, load_task in loads.items():
            for upstream in [loads[d] for d in DATASETS[name].depends_on if d in loads] or [schema]:
                upstream >> load_task
        facts = rebuild_facts(list(loads.values()))
        checks = run_checks()
        facts >> checks
        # `finish` carries the run's verdict: it fails (upstream_failed) when any load, the facts or the
        # checks failed, so the DAG run is marked failed even though record_run always succeeds.
        finish = EmptyOperator(task_id="finish")
        [*loads.values(), facts, checks] >> finish
        recorded = record_run([f"load_{n}" for n in datasets])
        [schema, *loads.values(), facts, checks] >> recorded
    return dag


qtickets_api = build_dag(
    "qtickets_api",
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    datasets=list(DATASETS),
    description="QTickets API → ClickHouse every 15 minutes",
)

qtickets_api_history = build_dag(
    "qtickets_api_history",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    datasets=["orders", "events"],
    description="Backfill companion: orders by day, for `airflow backfill create` over long ranges",
    deadline=timedelta(hours=6),
)
