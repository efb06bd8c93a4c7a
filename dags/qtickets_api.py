# Over 300 lines: mostly doc_md text every task shows in the UI; the wiring itself is ~150 lines.
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

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    Param,
    TaskGroup,
    TriggerRule,
    get_current_context,
    task,
)

from qtickets import pipeline
from qtickets.datasets import DATASETS
from qtickets.notifications import deadline_alert, on_dag_failure, on_task_failure
from qtickets.params import MAX_SINCE_HOURS, RunParams, resolve_window

log = logging.getLogger(__name__)

POOL = "qtickets_api"
#: XCom key of a skipped load's stats (a skipped task has no return value).
SKIPPED_KEY = "skipped"
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
    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))
    return resolve_window(params, data_interval_start=context.get("data_interval_start"),
                          data_interval_end=context.get("data_interval_end"),
                          run_after=getattr(dag_run, "run_after", None), manual=run_type == "manual")


@contextmanager
def _errors_to_xcom(context: dict[str, Any]) -> Iterator[None]:
    # The vendor's status, code and request id must reach meta_job_runs, which record_run writes from
    # XCom: a failing task leaves them there before re-raising.
    try:
        yield
    except Exception as exc:
        context["ti"].xcom_push(key="error", value=pipeline.error_details(exc))
        raise


def _skip(context: dict[str, Any], reason: str, stats: dict[str, Any] | None = None, *,
          logged: bool = False) -> None:
    """End the task as *skipped* with ``reason``: logged first (Airflow itself prints the reason only
    inside the folded "Post Execute" group), and ``stats`` kept under XCom key ``skipped``."""
    from airflow.sdk.exceptions import AirflowSkipException

    if not logged:
        log.info("Skipped: %s", reason)
    if stats is not None:
        context["ti"].xcom_push(key=SKIPPED_KEY, value=stats)
    raise AirflowSkipException(reason)


def _task_states(context: dict[str, Any]) -> dict[str, str]:
    ti, dag_run = context["ti"], context["dag_run"]
    states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id]).get(dag_run.run_id, {})
    return {t: str(getattr(s, "value", s)) for t, s in states.items()}


def _load_results(context: dict[str, Any], load_ids: list[str],
                  states: dict[str, str] | None = None) -> dict[str, dict[str, Any] | None]:
    """Each load's stats: its return value when it succeeded, its ``skipped`` XCom when it was skipped,
    None when it failed or never ran (nothing is pulled from those: no "XCom not found" in the log)."""
    ti = context["ti"]
    states = _task_states(context) if states is None else states
    key = {"success": "return_value", "skipped": SKIPPED_KEY}
    return {t: ti.xcom_pull(task_ids=t, key=key[states[t]], default=None) if states.get(t) in key else None
            for t in load_ids}


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def _load_doc(name: str) -> str:
    ds = DATASETS[name]
    when = ("every run: the coverage ledger says what is not read yet (ADR 0006)" if ds.mode == "incremental"
            else f"when its cadence ({_duration(ds.cadence)}) is due, or when named in `datasets`")
    after = f" Runs after `load_{', load_'.join(ds.depends_on)}` (reads the shows it loaded)." if ds.depends_on else ""
    return (f"**Reads** `{ds.reads}` ({ds.mode}), {when}.  \n"
            f"**Writes** {', '.join(f'`{t}`' for t in ds.tables)} and a row in `meta_dataset_loads`.{after}  \n"
            "**Skips** (with the reason as the first log line) when `datasets` names others, when not due, or "
            "when its source is absent (partners connection, replay files).")


DOC_SCHEMA = ("**Reads** `include/sql/schema`. **Writes** the pending migrations to the ClickHouse database "
              "(creates tables, never drops data). Never skips (dry run: logs 'stub mode').")
DOC_FACTS = ("**Reads** the staging tables for the months the loads touched (and any month whose facts "
             "disagree with staging). **Writes** `dim_events`, `fact_qtickets_sales_daily` (+ UTM), "
             "`fact_qtickets_inventory_latest`, swapped in only after its audits pass. **Skips** when no load "
             "of this run loaded anything.")
DOC_CHECKS = ("**Reads** the facts, staging and `meta_coverage`. **Writes** nothing; fails the run on a "
              "data-quality violation, a hole in the orders coverage or stale facts. **Skips** when "
              "`rebuild_facts` skipped.")
DOC_RECORD = ("**Reads** every task's state, result and error. **Writes** the run's row in `meta_job_runs` "
              "(per-dataset counts, skip reasons, the first error). Always runs; never skips.")
DOC_FINISH = ("The run's verdict: fails (upstream_failed) when a load, `rebuild_facts` or `run_checks` failed; "
              "succeeds when they succeeded or were skipped.")


def build_dag(dag_id: str, *, schedule: Any, datasets: list[str], description: str, doc_md: str | None = None,
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

        @task(doc_md=DOC_SCHEMA)
        def bootstrap_schema() -> dict[str, Any]:
            context, params = _run_context()
            with _errors_to_xcom(context):
                return pipeline.bootstrap_schema(params)

        # NONE_FAILED: a dataset skipped by its cadence (events, hourly) does not skip the ones that read
        # its staging data (inventory, every run); a failed one still stops them (upstream_failed).
        @task(pool=POOL, trigger_rule=TriggerRule.NONE_FAILED)
        def load(dataset: str) -> dict[str, Any]:
            context, params = _run_context()
            with _errors_to_xcom(context):
                result = pipeline.load_dataset(dataset, params=params, window=_window(context, params),
                                               run_id=context["run_id"])
            if result.get("status") == "skipped":
                # pipeline.load_dataset logged the reason as its first line; the task ends *skipped*, and
                # its stats (with the reason) go where record_run finds them: a skipped task has no
                # return value.
                _skip(context, f"{dataset}: {result.get('reason')}", result, logged=True)
            return result

        @task(trigger_rule=TriggerRule.ALL_DONE, pool=PUBLISH_POOL, doc_md=DOC_FACTS)
        def rebuild_facts() -> dict[str, Any]:
            context, params = _run_context()
            loads = list(_load_results(context, load_ids).values())
            if not params.dry_run and not pipeline.loaded(loads):
                _skip(context, "no dataset was loaded in this run; the facts are left as they are")
            with _errors_to_xcom(context):
                return pipeline.rebuild_facts(loads, params, run_id=context["run_id"])

        @task(doc_md=DOC_CHECKS)
        def run_checks() -> dict[str, Any]:
            context, params = _run_context()
            with _errors_to_xcom(context):
                return pipeline.run_checks(params, _window(context, params))

        @task(trigger_rule=TriggerRule.ALL_DONE, doc_md=DOC_RECORD)
        def record_run() -> dict[str, Any]:
            context, params = _run_context()
            ti, dag_run = context["ti"], context["dag_run"]
            task_ids = [t for t in dag.task_ids if t not in {ti.task_id, "finish"}]
            states = _task_states(context)
            # Only a failed task can have left an error; pulling from the others would log "XCom not found".
            errors = {t: e for t in task_ids if states.get(t) == "failed"
                      and (e := ti.xcom_pull(task_ids=t, key="error", default=None))}
            return pipeline.record_run(
                params=params, run_id=dag_run.run_id, dag_id=dag_run.dag_id,
                run_type=str(getattr(dag_run.run_type, "value", dag_run.run_type)),
                window=_window(context, params), started_at=getattr(dag_run, "start_date", None),
                loads=list(_load_results(context, load_ids, states).values()),
                task_states={t: str(states.get(t)) for t in task_ids}, errors=errors)

        schema = bootstrap_schema()
        with TaskGroup("loads", tooltip="One task per dataset: vendor API -> staging tables") as loads_group:
            loads = {name: load.override(task_id=f"load_{name}", doc_md=_load_doc(name))(name)
                     for name in datasets}
            for name, load_task in loads.items():
                for upstream in [loads[d] for d in DATASETS[name].depends_on if d in loads]:
                    upstream >> load_task
        load_ids = [t.operator.task_id for t in loads.values()]
        schema >> loads_group
        facts = rebuild_facts()
        checks = run_checks()
        list(loads.values()) >> facts >> checks
        # `finish` carries the run's verdict: it fails (upstream_failed) when any load, the facts or the
        # checks failed, so the DAG run is marked failed even though record_run always succeeds; skipped
        # loads, facts or checks (nothing due, nothing loaded) leave it, and the run, successful.
        finish = EmptyOperator(task_id="finish", trigger_rule=TriggerRule.NONE_FAILED, doc_md=DOC_FINISH)
        [*loads.values(), facts, checks] >> finish
        recorded = record_run()
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
