# Over 300 lines: the build -> audit -> partition-swap publish and the three rebuilds on it share private helpers.
"""Fact and dimension rebuilds: write into scratch tables, audit them, publish by partition swap.

Why: the original aggregated only the rows of one load window and overwrote whole days with them
(partial-day overwrite), and its views summed ReplacingMergeTree rows without FINAL (double
counting). Here every affected month is recomputed from the *deduplicated* staging tables into
per-call scratch tables, which are **audited before anything is published** (``include/sql/audits``:
negative amounts, duplicate keys, reconciliation with staging). Only a build that passes every audit
is swapped in with ``ALTER TABLE ... REPLACE PARTITION``, so readers see either the old month or the
new, audited one. A failing audit leaves the published tables untouched, drops the scratch tables,
records a ``failed`` row in ``meta_dataset_loads`` and raises :class:`DataQualityError` naming the
audit, the table and the offending ticket/order ids. Loading a window twice, overlapping windows and
a refund days after payment all end in the same facts.

On a replicated cluster (ADR 0008) the scratch tables stay local to the replica the task is connected to
(never replicated, never ``ON CLUSTER``: :func:`_create_scratch`), and the partition swap is replicated by
ClickHouse itself: ``REPLACE``/``DROP PARTITION`` and ``TRUNCATE`` of a ``Replicated*`` table go through
Keeper's replication log, and the other replicas fetch the new parts from this one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from qtickets.exceptions import DataQualityError
from qtickets.timeutil import MSK, utcnow
from qtickets.warehouse.cluster import local_engine
from qtickets.warehouse.paths import FACTS_DIR, SQL_DIR
from qtickets.warehouse.runs import DatasetLoad, record_dataset_load
from qtickets.warehouse.sales_months import staging_mark as staging_mark_of

log = logging.getLogger(__name__)

AUDITS_DIR = SQL_DIR / "audits"

SALES_DAILY = "fact_qtickets_sales_daily"
SALES_UTM_DAILY = "fact_qtickets_sales_utm_daily"
DIM_EVENTS = "dim_events"
INVENTORY_LATEST = "fact_qtickets_inventory_latest"

#: How many ids / examples of one audit finding go into an error message.
SAMPLE_IDS = 10
#: Builds tried when only reconciliation audits failed: a load of another run that writes staging
#: between the build and its audit makes them disagree for a moment; a second build settles it.
RECONCILE_ATTEMPTS = 2

_FIX_DATA = ("Fix the values at the vendor (QTickets) so the next load brings corrected versions, or correct "
             "the staging rows (insert a corrected version with a higher _ver), then re-run the DAG: the next "
             "run rebuilds these months (months_out_of_sync).")


# --------------------------------------------------------------------------------------------- audits
@dataclass(frozen=True)
class Audit:
    """One pre-publish audit: ``include/sql/audits/<name>.sql`` returns one row per offending source.

    :param retry_build: the audit can fail because staging moved between the build and the audit
        (reconciliation); the build is then tried again once before the failure counts.
    """

    name: str
    description: str
    remedy: str
    retry_build: bool = False

    @property
    def path(self) -> Path:
        return AUDITS_DIR / f"{self.name}.sql"


@dataclass(frozen=True)
class AuditFinding:
    """What one audit found in one source (see ``include/sql/audits/README.md`` for the columns)."""

    audit: Audit
    source: str
    violations: int
    ticket_ids: tuple[int, ...] = ()
    order_ids: tuple[int, ...] = ()
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [f"audit {self.audit.name} ({self.audit.description}) on {self.source}: "
                 f"{self.violations} offending row(s)"]
        for what, ids in (("ticket ids", self.ticket_ids), ("order ids", self.order_ids)):
            if ids:
                shown = ", ".join(str(i) for i in ids[:SAMPLE_IDS])
                parts.append(f"{what}: {shown}" + (f" (first {SAMPLE_IDS})" if len(ids) >= SAMPLE_IDS else ""))
        if self.examples:
            parts.append("e.g. " + "; ".join(self.examples[:2]))
        return "; ".join(parts)


SALES_AUDITS: tuple[Audit, ...] = (
    Audit("sales_negative_amounts", "money amounts below zero in the rebuilt months", _FIX_DATA),
    Audit("sales_duplicate_keys", "keys the rebuild would count twice",
          "A staging ticket in two partitions means its order's created_at changed: delete the stale version "
          "(ALTER TABLE stg_qtickets_api_tickets_raw DELETE WHERE ticket_id = <id> AND _partition_id = '<old>'), "
          "then re-run. Repeated keys in a scratch fact are a bug of include/sql/facts: fix it, then re-run."),
    Audit("sales_reconcile", "scratch facts disagree with deduplicated staging (tickets, revenue, refunds per "
          "month)", "The build SQL (include/sql/facts/sales_*.sql) disagrees with staging: fix it, then re-run. "
          "If staging was being loaded heavily during the rebuild, simply re-run.", retry_build=True),
)
DIM_EVENTS_AUDITS: tuple[Audit, ...] = (
    Audit("dim_events_duplicate_keys", "more than one row per event_id",
          "A bug of include/sql/facts/dim_events.sql (a join that fans out): fix it, then re-run."),
    Audit("dim_events_reconcile", "scratch events differ from deduplicated staging events",
          "A bug of include/sql/facts/dim_events.sql, or events loaded during the rebuild: fix it or re-run.",
          retry_build=True),
)
INVENTORY_AUDITS: tuple[Audit, ...] = (
    Audit("inventory_duplicate_keys", "more than one row per show_id",
          "A bug of include/sql/facts/inventory_latest.sql (a join that fans out): fix it, then re-run."),
    Audit("inventory_reconcile", "scratch shows or latest snapshot differ from staging",
          "A bug of include/sql/facts/inventory_latest.sql, or inventory loaded during the rebuild: fix it or "
          "re-run.", retry_build=True),
)


def run_audits(ch: Any, audits: Iterable[Audit], params: Mapping[str, Any] | None,
               scratches: Mapping[str, str]) -> list[AuditFinding]:
    """Run ``audits`` against the scratch tables named in ``scratches`` (identifier -> table name, e.g.
    ``{"utm_scratch": "fact_..._build_1a2b"}``); returns every finding (empty: all passed)."""
    findings = []
    for audit in audits:
        for source, violations, ticket_ids, order_ids, examples in ch.run_sql_file(audit.path, params, **scratches):
            findings.append(AuditFinding(audit, str(source), int(violations), tuple(int(i) for i in ticket_ids),
                                         tuple(int(i) for i in order_ids), tuple(str(e) for e in examples)))
    return findings


def _audit_error(what: str, tables: Sequence[str], findings: Sequence[AuditFinding]) -> DataQualityError:
    names = sorted({f.audit.name for f in findings})
    lines = [f"{what} NOT published: the scratch build failed {len(names)} audit(s) ({', '.join(names)}). "
             f"The published {', '.join(tables)} are unchanged; the scratch tables were dropped."]
    lines += [f"- {finding}" for finding in findings]
    remedies = dict.fromkeys(f.audit.remedy for f in findings)
    lines += [f"What to do: {remedy}" for remedy in remedies]
    return DataQualityError("\n".join(lines), failed=names)


# --------------------------------------------------------------------------------------------- publish
@dataclass(frozen=True)
class Build:
    """One table of a rebuild: ``sql`` fills the scratch copy of ``table``; in the build and audit SQL
    the scratch is ``{{ target }}`` (its own build) and ``{{ <alias> }}`` (every build and audit)."""

    table: str
    sql: Path
    alias: str


def _partition_rows(ch: Any, scratch: str) -> dict[str, int]:
    return {str(pid): int(n) for pid, n in ch.fetch_all(
        "SELECT _partition_id, count() FROM {{ db }}.{{ scratch }} GROUP BY _partition_id", scratch=scratch)}


def _swap_in(ch: Any, table: str, scratch: str, built: Mapping[str, int], partition_ids: Sequence[str] | None) -> None:
    """Replace ``partition_ids`` of ``table`` with the scratch's (a listed partition the build left
    empty is dropped); ``None``: the table is unpartitioned (``REPLACE PARTITION tuple()``)."""
    if partition_ids is None:
        # Newer servers refuse to replace from an empty source; an empty build empties the table.
        if built:
            ch.execute("ALTER TABLE {{ db }}.{{ target }} REPLACE PARTITION tuple() FROM {{ db }}.{{ scratch }}",
                       target=table, scratch=scratch)
        else:
            ch.execute("TRUNCATE TABLE {{ db }}.{{ target }}", target=table)
        return
    for pid in partition_ids:
        if built.get(pid):
            ch.execute("ALTER TABLE {{ db }}.{{ target }} REPLACE PARTITION ID %(pid)s FROM {{ db }}.{{ scratch }}",
                       {"pid": pid}, target=table, scratch=scratch)
        else:
            ch.execute("ALTER TABLE {{ db }}.{{ target }} DROP PARTITION ID %(pid)s", {"pid": pid}, target=table)


def _create_scratch(ch: Any, scratch: str, target: str) -> None:
    """An empty copy of ``target`` on this server only.

    ``CREATE TABLE scratch AS target`` copies the engine with its arguments: for a replicated fact that is
    its Keeper path, so the scratch would join the fact's replication group (and be dropped from it). A
    replicated target's scratch gets the same engine family, keys and settings without Keeper instead.
    """
    rows = ch.fetch_all("SELECT engine_full FROM system.tables WHERE database = '{{ db }}' AND name = '{{ target }}'",
                        target=target)
    engine = local_engine(str(rows[0][0])) if rows else None
    if engine is None:
        ch.execute("CREATE TABLE {{ db }}.{{ scratch }} AS {{ db }}.{{ target }}", scratch=scratch, target=target)
    else:
        ch.execute(f"CREATE TABLE {{{{ db }}}}.{{{{ scratch }}}} AS {{{{ db }}}}.{{{{ target }}}} ENGINE = {engine}",
                   scratch=scratch, target=target)


def _drop(ch: Any, scratch: str) -> None:
    try:
        ch.execute("DROP TABLE IF EXISTS {{ db }}.{{ scratch }}", scratch=scratch)
    except Exception:  # noqa: BLE001 - never mask the build error; the scratch name is unique anyway
        log.warning("Could not drop scratch table %s; drop it by hand", scratch, exc_info=True)


def _build_once(ch: Any, builds: Sequence[Build], params: Mapping[str, Any] | None, audits: Sequence[Audit],
                scratches: dict[str, str]) -> tuple[dict[str, dict[str, int]], list[AuditFinding]]:
    """Create, fill and audit the scratch tables; ``scratches`` (table -> scratch name) is filled as
    they are created, so the caller drops them whatever fails. Returns partition row counts per table
    and the audit findings."""
    names: dict[str, str] = {}
    for b in builds:
        scratch = f"{b.table}__build_{uuid.uuid4().hex[:12]}"
        scratches[b.table] = names[b.alias] = scratch
        _create_scratch(ch, scratch, b.table)
    for b in builds:
        ch.run_sql_file(b.sql, params, **names, target=scratches[b.table])
    built = {b.table: _partition_rows(ch, scratches[b.table]) for b in builds}
    return built, run_audits(ch, audits, params, names)


def build_audit_publish(
    ch: Any,
    builds: Sequence[Build],
    params: Mapping[str, Any] | None,
    partition_ids: Sequence[str] | None,
    audits: Sequence[Audit] = (),
    *,
    what: str = "Rebuild",
    on_published: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Write → audit → publish: build every table of ``builds`` (in order) into its own scratch table,
    run ``audits`` on the scratch tables, and only when all pass swap the partitions in, table by
    table (``on_published(table, rows)`` after each). Scratch tables are always dropped.

    :param partition_ids: partitions to replace (``"202511"``); ``None`` for unpartitioned tables.
    :raises DataQualityError: an audit failed; nothing was published.
    :returns: rows built per table.
    """
    attempts = RECONCILE_ATTEMPTS if any(a.retry_build for a in audits) else 1
    for attempt in range(1, attempts + 1):
        scratches: dict[str, str] = {}
        try:
            built, findings = _build_once(ch, builds, params, audits, scratches)
            if not findings:
                rows = {}
                for b in builds:
                    _swap_in(ch, b.table, scratches[b.table], built[b.table], partition_ids)
                    rows[b.table] = sum(built[b.table].values())
                    if on_published:
                        on_published(b.table, rows[b.table])
                return rows
            if attempt < attempts and all(f.audit.retry_build for f in findings):
                log.warning("%s: reconciliation audit(s) failed on attempt %d, building again (staging may have "
                            "changed during the build): %s", what, attempt, "; ".join(map(str, findings)))
                continue
            raise _audit_error(what, [b.table for b in builds], findings)
        finally:
            for scratch in scratches.values():
                _drop(ch, scratch)
    raise AssertionError("unreachable")  # pragma: no cover


def replace_partitions(
    ch: Any, table: str, sql_path: Path, params: dict[str, Any] | None, partition_ids: Sequence[str] | None,
    audits: Sequence[Audit] = (),
) -> int:
    """Build ``table``'s rows with ``sql_path`` into a scratch copy, audit it and swap partitions in
    (one-table :func:`build_audit_publish`; the scratch is ``{{ target }}`` and ``{{ scratch }}``).

    :param partition_ids: partitions to replace (``"202511"``); ``None`` for an unpartitioned table
        (``REPLACE PARTITION tuple()``). A listed partition the build left empty is dropped.
    :returns: rows built.
    """
    return build_audit_publish(ch, [Build(table, sql_path, "scratch")], params, partition_ids, audits)[table]


def _record(ch: Any, table: str, rows: int, started: datetime, run_id: str | None, status: str = "success",
            staging_mark: int = 0) -> None:
    record_dataset_load(
        ch,
        DatasetLoad(dataset=table, run_id=run_id or uuid.uuid4().hex, status=status, started_at=started,
                    finished_at=utcnow(), rows=rows, staging_mark=staging_mark),
    )


def _record_failed(ch: Any, tables: Iterable[str], started: datetime, run_id: str | None) -> None:
    """Best effort: a failed rebuild is visible in ``meta_dataset_loads``, but recording it never masks
    the error that failed it (the warehouse may be what is down)."""
    for table in tables:
        try:
            _record(ch, table, 0, started, run_id, status="failed")
        except Exception:  # noqa: BLE001
            log.warning("Could not record the failed rebuild of %s", table, exc_info=True)


def _rebuild(ch: Any, builds: Sequence[Build], params: dict[str, Any] | None, partitions: Sequence[str] | None,
             audits: Sequence[Audit], run_id: str | None, what: str, staging_mark: int = 0) -> dict[str, int]:
    """:func:`build_audit_publish` and one ``meta_dataset_loads`` row per table: ``success`` when
    published (with the staging mark the build read), ``failed`` otherwise (audit failure or any error)."""
    started = utcnow()
    published: set[str] = set()

    def on_published(table: str, rows: int) -> None:
        published.add(table)
        _record(ch, table, rows, started, run_id, staging_mark=staging_mark)

    try:
        return build_audit_publish(ch, builds, params, partitions, audits, what=what, on_published=on_published)
    except Exception:
        _record_failed(ch, [b.table for b in builds if b.table not in published], started, run_id)
        raise


# --------------------------------------------------------------------------------------------- public API
def _month_of(value: date) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass dates or aware datetimes")
        value = value.astimezone(MSK).date()
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {type(value).__name__} {value!r}")
    return value.year * 100 + value.month


SALES_BUILDS = (
    # The UTM scratch first: the daily scratch is summed from it (one place for the revenue rule).
    Build(SALES_UTM_DAILY, FACTS_DIR / "sales_utm_daily.sql", "utm_scratch"),
    Build(SALES_DAILY, FACTS_DIR / "sales_daily.sql", "daily_scratch"),
)


def rebuild_sales_facts(ch: Any, dates: Iterable[date], *, run_id: str | None = None,
                        staging_mark: int | None = None) -> dict[str, Any]:
    """Rebuild the daily and daily-UTM sales facts for every month that contains one of ``dates``.

    Both are built into scratch tables (the daily one from the UTM scratch), audited together
    (:data:`SALES_AUDITS`) and published only when every audit passed.

    :param dates: Moscow payment dates the load touched (see ``qtickets.rows.orders.sales_dates``);
        whole months are rebuilt, which also covers late refunds within a month.
    :param run_id: recorded in ``meta_dataset_loads`` (facts freshness); a fresh id when omitted.
    :param staging_mark: :func:`~qtickets.warehouse.sales_months.staging_mark` taken before staging was
        read for this rebuild (also before choosing ``dates``); taken here when omitted. Recorded with
        the published facts so the ``facts_reconcile`` check knows whether staging changed since.
    :returns: ``{"months": [...], "fact_qtickets_sales_daily": rows, "fact_qtickets_sales_utm_daily": rows}``.
    :raises DataQualityError: an audit failed; the published facts are unchanged.
    """
    mark = staging_mark_of(ch) if staging_mark is None else staging_mark
    months = sorted({_month_of(d) for d in dates})
    result: dict[str, Any] = {"months": [str(m) for m in months], SALES_DAILY: 0, SALES_UTM_DAILY: 0}
    if not months:
        # Nothing to recompute, but the facts are as current as staging: record that (freshness).
        log.info("No sales dates to rebuild")
        now = utcnow()
        for table in (SALES_DAILY, SALES_UTM_DAILY):
            _record(ch, table, 0, now, run_id, staging_mark=mark)
        return result
    params = {"months": months, "max_month": months[-1]}
    names = [f"{m // 100}-{m % 100:02d}" for m in months]
    label = ", ".join(names) if len(names) <= 6 else f"{len(names)} months {names[0]}..{names[-1]}"
    result.update(_rebuild(ch, SALES_BUILDS, params, result["months"], SALES_AUDITS, run_id,
                           f"Sales facts for {label}", staging_mark=mark))
    log.info("Rebuilt sales facts for months %s: %s", result["months"], result)
    return result


def rebuild_dim_events(ch: Any, *, run_id: str | None = None) -> int:
    """Rebuild ``dim_events`` whole from the latest event and show versions (audited before it is
    published); returns its row count."""
    build = Build(DIM_EVENTS, FACTS_DIR / "dim_events.sql", "dim_events_scratch")
    return _rebuild(ch, [build], None, None, DIM_EVENTS_AUDITS, run_id, DIM_EVENTS)[DIM_EVENTS]


def rebuild_inventory_latest(ch: Any, *, run_id: str | None = None) -> int:
    """Rebuild ``fact_qtickets_inventory_latest`` (latest snapshot per show; audited before it is
    published); returns its row count."""
    build = Build(INVENTORY_LATEST, FACTS_DIR / "inventory_latest.sql", "inventory_scratch")
    return _rebuild(ch, [build], None, None, INVENTORY_AUDITS, run_id, INVENTORY_LATEST)[INVENTORY_LATEST]
