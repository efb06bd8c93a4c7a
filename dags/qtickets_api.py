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
from qtickets.params import MAX_SINCE_HOURS, RunParams, resolve_window

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

def build_params(datasets: list[str]) -> dict[str, Param]:
    """The trigger form of a DAG loading ``datasets``: what each field does, and only valid choices."""
    return {
        "dry_run": Param(False, type="boolean", title="Dry run",
                         description="Verify a deployment: no HTTP request, no ClickHouse write; every task "
                                     "logs 'stub mode' and succeeds."),
        "since_hours": Param(None, type=["null", "integer"], minimum=1, maximum=MAX_SINCE_HOURS,
                             title="Since hours",
                             description="Optional. Also load the last N hours (a whole number, 1 or more) "
                                         "ending at the run's end, even if already loaded. Empty: only what "
                                         "is not loaded yet. 45000 reads the whole history."),
        "datasets": Param(None, type=["array", "null"], uniqueItems=True,
                          items={"type": "string", "enum": list(datasets)},
                          # `examples` is what makes the trigger form render a multi-select of the names.
                          examples=list(datasets), title="Datasets",
                          description="Optional. Empty: every dataset, each when its cadence says it is due. "
                                      "Pick some to load only those (a picked snapshot dataset loads even if "
                                      "its cadence says it is not due); the others end as skipped."),
        "fixtures_dir": Param(None, type=["null", "string"], title="Fixtures folder",
                              description="Optional. Folder of saved API responses to replay instead of calling "
                                          "the API, relative to the deployment's [qtickets] fixtures_root "
                                          "(replay is off when that is unset)."),
    }


PARAMS = build_params(list(DATASETS))


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


def build_dag(dag_id: str, *, schedule: Any, datasets: list[str], description: str, doc_md: str,
              deadline: timedelta = RUN_DEADLINE) -> DAG:
    """Build the pipeline DAG for ``datasets`` on ``schedule`` (wiring only; bodies live in qtickets.pipeline)."""
    with DAG(
        dag_id=dag_id,
        description=description,
        doc_md=doc_md,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        # Created paused: a new deployment is verified first (a manual run with dry_run), then unpaused.
        is_paused_upon_creation=True,
        default_args=DEFAULT_ARGS,
        params=build_params(datasets),
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


HISTORY_DOC = """
### QTickets history (`qtickets_api_history`)

The `qtickets_api` pipeline on **daily** intervals, for loading long ranges with
`airflow backfill create --dag-id qtickets_api_history --from-date … --to-date …` (unpause it first: a
backfill of a paused DAG stays queued). It loads only `orders` (by `updated_at`, one day per run, plus
anything the coverage ledger says was never read) and `events` (a snapshot of the present: skipped for
past days), then rebuilds the facts for the months touched, runs the checks and records the run in
`meta_job_runs`.

**Params** (trigger form): `dry_run`, `since_hours`, `datasets` (`orders`, `events`), `fixtures_dir`, as
in `qtickets_api`. The facts are published through the same one-slot pool `qtickets_publish` as
`qtickets_api`, so the two DAGs never rebuild at once.
"""

qtickets_api = build_dag(
    "qtickets_api",
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    datasets=list(DATASETS),
    description="QTickets API → ClickHouse every 15 minutes",
    doc_md=__doc__,
)

qtickets_api_history = build_dag(
    "qtickets_api_history",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    datasets=["orders", "events"],
    description="Backfill companion: orders by day, for `airflow backfill create` over long ranges",
    doc_md=HISTORY_DOC,
    deadline=timedelta(hours=6),
)
