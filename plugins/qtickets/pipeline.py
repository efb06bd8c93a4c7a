"""Task bodies of the ``qtickets_api`` DAG: the DAG file only wires these.

Each function is an ordinary Python function taking validated params, so it can be read and tested
without Airflow's scheduler. Results returned to XCom are small dicts of counts and bounds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from qtickets.datasets import DATASETS, Window
from qtickets.exceptions import DataQualityError
from qtickets.params import RunParams
from qtickets.timeutil import utcnow

log = logging.getLogger(__name__)

JOB_NAME = "qtickets_api"
CLICKHOUSE_CONN_ID = "clickhouse_default"
FRESHNESS_MAX_AGE = timedelta(hours=2)
STUB_MODE = "dry run: stub mode - no HTTP request and no ClickHouse write is made"


def _clickhouse():
    from qtickets.hooks.clickhouse import ClickHouseHook

    return ClickHouseHook(clickhouse_conn_id=CLICKHOUSE_CONN_ID)


def _dry_run(task: str, **result: Any) -> dict[str, Any]:
    """What every task does in a dry run: say so, touch nothing."""
    log.info("%s: %s", task, STUB_MODE)
    return {"status": "dry_run", **result}


def loaded(loads: Iterable[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The load results (``load_dataset``'s XCom) of the datasets that did load (not skipped, not failed)."""
    return [s for s in loads if s and s.get("status") == "loaded"]


def bootstrap_schema(params: RunParams) -> dict[str, Any]:
    """Apply pending schema migrations (idempotent; never drops data)."""
    if params.dry_run:
        return _dry_run("bootstrap_schema", applied=[])
    from qtickets import warehouse

    with _clickhouse() as ch:
        applied = warehouse.apply_migrations(ch)
        log.info("Schema of database %s is current; applied now: %s", ch.database, applied or "nothing")
        return {"status": "ok", "database": ch.database, "applied": applied}


def _uses_coverage(ds: Any, params: RunParams) -> bool:
    """Incremental live loads read and record coverage (ADR 0006); replayed fixtures are not a reading
    of the vendor's timeline, so they neither use nor add it."""
    return ds.mode == "incremental" and not params.fixtures_dir


def _load_windows(ds: Any, ch: Any, params: RunParams, window: Window, now: datetime,
                  run_id: str) -> list[Window]:
    """The windows to read: from coverage when the load uses it, else the run's window."""
    if not _uses_coverage(ds, params):
        return [window]
    from qtickets.coverage import LOOKBACK, plan_windows
    from qtickets.warehouse.coverage import covered_by_run, read_coverage

    return plan_windows(read_coverage(ch, ds.name, now - LOOKBACK), window, now=now,
                        done=covered_by_run(ch, ds.name, run_id))


#: What :func:`_pages_and_ends` yields after a window's last page.
_END_OF_WINDOW: Any = object()


def _pages_and_ends(ds: Any, apis: Any, windows: list[Window]) -> Iterator[Any]:
    """The pages of every window in turn, each window's followed by :data:`_END_OF_WINDOW`."""
    for chunk in windows:
        yield from ds.fetch(apis, chunk)
        yield _END_OF_WINDOW


def _next_chunk(chunks: Iterator[Window], name: str, ds: Any) -> Window | None:
    chunk = next(chunks, None)
    if chunk is not None:
        log.info("Loading %s (%s, %s) for window %s .. %s", name, ds.mode, ds.reads, chunk.start.isoformat(),
                 chunk.end.isoformat())
    return chunk


def load_dataset(name: str, *, params: RunParams, window: Window, run_id: str,
                 now: datetime | None = None) -> dict[str, Any]:
    """Stream one dataset from its source into its staging tables; return small stats for XCom."""
    ds = DATASETS[name]
    stats: dict[str, Any] = {"dataset": name, "window": window.as_dict(), "rows": {}, "requests": 0,
                             "retries": 0, "pages": 0, "sales_months": []}
    # Every skip reason is the first line the task logs (the DAG then ends the task as skipped).
    if params.datasets and name not in params.datasets:
        reason = f"not selected: this run loads only {', '.join(params.datasets)} (param 'datasets')"
        log.info("Skipping %s: %s", name, reason)
        return {**stats, "status": "skipped", "reason": reason}
    if params.dry_run:
        return {**stats, **_dry_run(f"load_{name}")}
    from qtickets import gc_scope, read_ahead, warehouse
    from qtickets.apis import open_apis
    from qtickets.cadence import is_due
    from qtickets.pii import PiiPolicy
    from qtickets.rows.common import MapContext
    from qtickets.warehouse.buffer import RowBuffer
    from qtickets.warehouse.coverage import record_coverage

    now = now or utcnow()
    with _clickhouse() as ch:
        last_success = warehouse.last_dataset_load(ch, name) if ds.mode == "snapshot" else None
        due, reason = is_due(ds, params, window, now, last_success)
        if not due:
            log.info("Skipping %s: %s", name, reason)
            return {**stats, "status": "skipped", "reason": reason}
        apis, why_not = open_apis(ds, params, ch)
        if apis is None:
            log.info("Skipping %s: %s", name, why_not)
            return {**stats, "status": "skipped", "reason": why_not}
        # The hook's own (cached) connection; a missing hash key fails the load before anything is read.
        ctx = MapContext(fetched_at=now, pii=PiiPolicy.from_extra(ch.connection.extra_dejson))
        months = warehouse.AffectedMonths(ds, ch)
        buffer = RowBuffer(ch, dict(ds.columns), before_insert=months.before_insert)
        records, written = 0, {}
        windows = _load_windows(ds, ch, params, window, now, run_id)
        if not windows:
            log.info("Nothing left to read for %s: coverage already holds %s .. %s (an earlier attempt of this "
                     "task read it)", name, window.start.isoformat(), window.end.isoformat())
        items = _pages_and_ends(ds, apis, windows)
        if len(windows) > 1:  # the next window's requests overlap this one's last pages, flush and coverage
            items = read_ahead.in_background(items, ahead=2 * apis.rest.settings.concurrency)
        chunks = iter(windows)
        try:
            with gc_scope.bulk_load():
                chunk = _next_chunk(chunks, name, ds)
                for page in items:
                    if page is not _END_OF_WINDOW:
                        records += len(page)
                        months.add_page(page)
                        buffer.add(ds.map(page, ctx))
                        continue
                    written = buffer.flush()
                    if _uses_coverage(ds, params):
                        # Only now are the chunk's rows in staging: a failure before this line leaves it
                        # uncovered, and the next run (or this task's retry) reads it again.
                        record_coverage(ch, name, chunk, run_id)
                    chunk = _next_chunk(chunks, name, ds)
        finally:
            items.close()  # stops the reader of the next window when this one failed
        span = Window(windows[0].start, windows[-1].end) if windows else window
        stats.update(apis.stats(), status="loaded", records=records, rows=written, window=span.as_dict(),
                     chunks=len(windows), sales_months=months.months())
        warehouse.record_dataset_load(ch, warehouse.DatasetLoad(
            dataset=name, run_id=run_id, started_at=now, finished_at=utcnow(), window_start=span.start,
            window_end=span.end, status="success", rows=sum(written.values()), pages=stats["pages"],
            requests=stats["requests"], retries=stats["retries"]))
        log.info("Loaded %s: %s records -> %s (requests=%s, retries=%s)", name, records, written or "no rows",
                 stats["requests"], stats["retries"])
        return stats


def rebuild_facts(loads: Iterable[dict[str, Any] | None], params: RunParams,
                  run_id: str | None = None) -> dict[str, Any]:
    """Rebuild dim_events, the sales facts for every month the loads touched, and inventory_latest.

    Months whose facts disagree with staging are rebuilt as well (with a warning): a run that loaded but
    failed before this task leaves such months behind, and without this every later run would fail the
    reconciliation check until someone rebuilt them by hand.
    """
    if params.dry_run:
        return _dry_run("rebuild_facts")
    dates = sorted({date.fromisoformat(f"{m}-01") for s in loaded(loads) for m in s.get("sales_months", [])})
    from qtickets import warehouse

    with _clickhouse() as ch:
        # The mark first: months found in sync below are in sync as of this mark (run_checks relies on it).
        mark = warehouse.staging_mark(ch)
        behind = sorted(warehouse.months_out_of_sync(ch) - set(dates))
        if behind:
            log.warning("Sales facts disagreed with staging for %d month(s) no load of this run touched (%s): "
                        "an earlier run loaded data but did not rebuild them; rebuilding them now",
                        len(behind), ", ".join(f"{d:%Y-%m}" for d in behind))
            dates = sorted({*dates, *behind})
        # Each rebuild publishes only what passed its own audits; one that fails does not hold back the
        # others (a bad ticket amount must not freeze the inventory numbers). The run then fails once,
        # naming every audit that failed.
        blocked: list[DataQualityError] = []
        sales: dict[str, Any] = {}
        for rebuild in (lambda: warehouse.rebuild_dim_events(ch, run_id=run_id),
                        lambda: sales.update(warehouse.rebuild_sales_facts(ch, dates, run_id=run_id, staging_mark=mark)),
                        lambda: warehouse.rebuild_inventory_latest(ch, run_id=run_id)):
            try:
                rebuild()
            except DataQualityError as exc:
                blocked.append(exc)
    if blocked:
        if len(blocked) == 1:
            raise blocked[0]
        raise DataQualityError("\n".join(str(exc) for exc in blocked),
                               failed=[name for exc in blocked for name in exc.failed])
    log.info("Facts rebuilt: dim_events, inventory_latest, sales for %d month(s) %s", len(dates),
             f"{dates[0]:%Y-%m}..{dates[-1]:%Y-%m}" if dates else "")
    return {"status": "ok", "sales_months": len(dates), "months_caught_up": [f"{d:%Y-%m}" for d in behind],
            "sales": sales}


def run_checks(params: RunParams, window: Window, now: datetime | None = None) -> dict[str, Any]:
    """Run the data-quality checks; raise ``DataQualityError`` listing every violation."""
    if params.dry_run:
        return _dry_run("run_checks")
    from qtickets import warehouse

    now = now or utcnow()
    # Freshness compares the newest data with the wall clock: meaningful for a run of the present,
    # not for a backfill of last year, nor for a replay of saved responses (it reads no vendor timeline
    # and records no coverage, so it can neither make the data fresh nor be blamed for it being stale).
    check_freshness = window.end >= now - FRESHNESS_MAX_AGE and not params.fixtures_dir
    with _clickhouse() as ch:
        results = warehouse.run_checks(ch, now=now, max_age=FRESHNESS_MAX_AGE, check_freshness=check_freshness,
                                       coverage_until=window.end)
    pending = sorted({row[0] for r in results for row in r.pending})
    if pending:
        log.warning("Sales facts of %d month(s) (%s) wait for the next rebuild: staging changed after the latest "
                    "published rebuild read it (a load of an overlapping run landed since)",
                    len(pending), ", ".join(map(str, pending)))
    warehouse.raise_for_failed(results)
    return {"status": "ok", "checks": [r.name for r in results], "freshness_checked": check_freshness,
            "pending_months": pending}


def record_run(*, params: RunParams, run_id: str, dag_id: str, run_type: str, window: Window | None,
               started_at: datetime | None, loads: Iterable[dict[str, Any] | None],
               task_states: dict[str, str], errors: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Write the run's row into ``meta_job_runs`` (whatever happened upstream)."""
    failed = sorted(t for t, s in task_states.items() if s in {"failed", "upstream_failed"})
    status = "failed" if failed else "success"
    per_dataset = {s["dataset"]: {"status": s.get("status"), "rows": sum(s.get("rows", {}).values()),
                                  "requests": s.get("requests", 0), "retries": s.get("retries", 0),
                                  "gap_reads": s.get("gap_reads", 0),
                                  **({"reason": s["reason"]} if s.get("reason") else {})}
                   for s in loads if s}
    if params.dry_run:
        return _dry_run(f"record_run (would record status={status})", run_status=status)
    first_error = next((errors[t] for t in failed if t in errors), None) or next(iter(errors.values()), None) or {}
    from qtickets import warehouse

    record = warehouse.RunRecord(
        job=JOB_NAME, run_id=run_id, dag_id=dag_id, run_type=run_type,
        started_at=started_at or utcnow(), finished_at=utcnow(), status=status,
        rows_processed=sum(d["rows"] for d in per_dataset.values()),
        message={"datasets": per_dataset, "failed_tasks": failed, "dry_run": False},
        window_start=window.start if window else None, window_end=window.end if window else None,
        http_status=first_error.get("http_status"), error_code=first_error.get("error_code") or "",
        request_id=first_error.get("request_id") or "", error_message=first_error.get("message") or "",
        failed_tasks=failed,
    )
    with _clickhouse() as ch:
        warehouse.record_run(ch, record)
    log.info("Recorded run %s: status=%s rows=%s failed=%s", run_id, status, record.rows_processed, failed)
    return {"status": status, "failed_tasks": failed}


def error_details(exc: BaseException) -> dict[str, Any]:
    """What XCom, ``meta_job_runs`` and alerts keep of an exception: :func:`qtickets.exceptions.error_fields`."""
    from qtickets.exceptions import error_fields

    return error_fields(exc)
