"""Data-quality checks: each is one SQL file in ``include/sql/checks`` returning violation rows.

They run on the *published* tables after the rebuild, as the second line of defence: every rebuild
already audits its scratch build before publishing (``qtickets.warehouse.facts``, ``include/sql/audits``).
A failed check raises :class:`DataQualityError` (not retried: a retry cannot change the data); when
only freshness checks failed it raises the retryable :class:`StaleDataError`.

``facts_reconcile`` compares the published sales facts with live staging. Runs overlap (a backfill beside
the schedule, the history DAG beside the main one), so a load of another run may land after this run's
rebuild: months that disagree *only because staging changed after the latest published rebuild read it*
(its staging mark, ``sales_months.staging_changed_since_publish``) are ``pending`` -- the next rebuild
takes them in (``months_out_of_sync``) -- and not violations. With staging unchanged, any disagreement is
one; daily and UTM facts that disagree with each other always are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from qtickets.exceptions import DataQualityError, StaleDataError
from qtickets.warehouse.paths import CHECKS_DIR
from qtickets.warehouse.sales_months import staging_changed_since_publish

#: name -> what a violation means (the file is CHECKS_DIR / f"{name}.sql").
CHECKS: dict[str, str] = {
    "negative_amounts": "money amounts below zero in staging or facts",
    "duplicate_keys": "keys deduplication cannot collapse (staging key in two partitions, or repeated fact keys)",
    "facts_reconcile": "sales facts disagree with staging (tickets sold / revenue per month)",
    "facts_freshness": "sales facts were built too long ago",
}
#: Incremental datasets whose coverage ledger is checked (``<dataset>_coverage``, ADR 0006): a hole within
#: the lookback, coverage ending more than ``max_age`` ago, or none at all.
COVERAGE_CHECKED = ("orders",)
FRESHNESS_CHECKS = frozenset({"facts_freshness", *(f"{d}_coverage" for d in COVERAGE_CHECKED)})
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check; ``violations`` are the rows its SQL returned, ``pending`` the rows that are
    no fault yet (``facts_reconcile``: months waiting for the next rebuild)."""

    name: str
    description: str
    violations: list[tuple]
    pending: list[tuple] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations

    def __str__(self) -> str:
        if self.passed:
            return f"{self.name}: ok" + (f" ({len(self.pending)} month(s) pending a rebuild)" if self.pending else "")
        sample = "; ".join(str(row) for row in self.violations[:SAMPLE_ROWS])
        more = f" (+{len(self.violations) - SAMPLE_ROWS} more)" if len(self.violations) > SAMPLE_ROWS else ""
        return f"{self.name}: {self.description}: {sample}{more}"


def run_checks(
    ch: Any, *, now: datetime, max_age: timedelta = timedelta(hours=2), check_freshness: bool = True,
    coverage_until: datetime | None = None,
) -> list[CheckResult]:
    """Run every check and return all results (failing or not).

    :param now: aware "now" the freshness checks compare with.
    :param check_freshness: False skips the freshness checks (backfills, demos on old data).
    :param coverage_until: holes in the coverage are looked for up to here (the run's window end).
    """
    if now.tzinfo is None:
        raise ValueError("run_checks(now=...) must be an aware datetime")
    params = {"now": int(now.timestamp()), "max_age": int(max_age.total_seconds())}
    results = []
    for name, description in CHECKS.items():
        if name in FRESHNESS_CHECKS and not check_freshness:
            continue
        rows = list(ch.run_sql_file(CHECKS_DIR / f"{name}.sql", params if name in FRESHNESS_CHECKS else None))
        if name == "facts_reconcile" and rows:
            results.append(_reconcile_result(ch, name, description, rows))
        else:
            results.append(CheckResult(name, description, rows))
    if check_freshness:
        from qtickets.coverage import LOOKBACK
        from qtickets.warehouse.coverage import coverage_violations

        for dataset in COVERAGE_CHECKED:
            results.append(CheckResult(
                f"{dataset}_coverage",
                f"{dataset} coverage has a hole in the last {LOOKBACK.days} days, or ends too long ago",
                coverage_violations(ch, dataset, now=now, lookback=LOOKBACK, max_age=max_age,
                                    until=coverage_until)))
    return results


def _reconcile_result(ch: Any, name: str, description: str, rows: list[tuple]) -> CheckResult:
    """Split ``facts_reconcile`` rows (month, staging/daily/utm tickets, staging/daily/utm revenue) into
    violations and months pending a rebuild (module docstring)."""
    def facts_agree(row: tuple) -> bool:
        _month, _s_tickets, d_tickets, u_tickets, _s_revenue, d_revenue, u_revenue = row
        return d_tickets == u_tickets and d_revenue == u_revenue

    if not staging_changed_since_publish(ch):
        return CheckResult(name, description, rows)
    return CheckResult(name, description, [r for r in rows if not facts_agree(r)], [r for r in rows if facts_agree(r)])


def raise_for_failed(results: list[CheckResult]) -> None:
    """Raise when a check failed, listing every failed check (freshness included); do nothing when all
    passed.

    :raises DataQualityError: a non-freshness check failed (not retried by Airflow: fix the data).
    :raises StaleDataError: only freshness checks failed (retryable: a later attempt may find fresh data).
    """
    failed = [r for r in results if not r.passed]
    if not failed:
        return
    listing = "\n".join(f"- {r}" for r in failed)
    names = [r.name for r in failed]
    if all(r.name in FRESHNESS_CHECKS for r in failed):
        raise StaleDataError(
            f"{len(failed)} data-quality check(s) failed: data is stale (freshness only):\n{listing}\n"
            "What to do: nothing when the next load or rebuild catches up; otherwise see why the loads or the "
            "fact rebuilds of the latest runs failed.",
            failed=names,
        )
    raise DataQualityError(
        f"{len(failed)} data-quality check(s) failed:\n{listing}\n"
        "What to do: fix the offending values at the vendor (QTickets) or in staging, then re-run the DAG "
        "(months whose facts disagree with staging are rebuilt by the next run).",
        failed=names,
    )
