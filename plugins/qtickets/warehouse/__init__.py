"""Warehouse side of the loader: schema migrations, fact rebuilds, data-quality checks, run records.

Every function takes a :class:`qtickets.hooks.clickhouse.ClickHouseHook` (or anything with its
``execute``/``fetch_all``/``run_sql_file``/``insert`` API) as its first argument; SQL lives in
``include/sql``.
"""

from __future__ import annotations

from qtickets.warehouse.checks import CheckResult, raise_for_failed, run_checks
from qtickets.warehouse.facts import (
    Audit,
    AuditFinding,
    build_audit_publish,
    rebuild_dim_events,
    rebuild_inventory_latest,
    rebuild_sales_facts,
    run_audits,
)
from qtickets.warehouse.migrations import apply_migrations, migration_files
from qtickets.warehouse.paths import SQL_DIR
from qtickets.warehouse.runs import DatasetLoad, RunRecord, last_dataset_load, record_dataset_load, record_run
from qtickets.warehouse.sales_months import (
    AffectedMonths,
    months_out_of_sync,
    staging_changed_since_publish,
    staging_mark,
    stored_sales_months,
)

__all__ = [
    "SQL_DIR",
    "Audit",
    "AffectedMonths",
    "AuditFinding",
    "CheckResult",
    "DatasetLoad",
    "RunRecord",
    "apply_migrations",
    "build_audit_publish",
    "last_dataset_load",
    "migration_files",
    "months_out_of_sync",
    "raise_for_failed",
    "rebuild_dim_events",
    "rebuild_inventory_latest",
    "rebuild_sales_facts",
    "record_dataset_load",
    "record_run",
    "run_audits",
    "run_checks",
    "staging_changed_since_publish",
    "staging_mark",
    "stored_sales_months",
]
