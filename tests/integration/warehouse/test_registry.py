"""The dataset registry, the schema and the DAG agree: every table a dataset fills exists with the columns
its rows carry, every staging table belongs to exactly one dataset, and the DAG has one load per dataset
(``tests/dags/test_dag_integrity.py`` checks the task ids against the same registry)."""

from __future__ import annotations

import pytest

from qtickets.datasets import DATASETS

pytestmark = pytest.mark.integration


def _columns(ch) -> dict[str, list[str]]:
    rows = ch.fetch_all("SELECT table, name FROM system.columns WHERE database = %(d)s ORDER BY table, position",
                        {"d": ch.database})
    out: dict[str, list[str]] = {}
    for table, name in rows:
        out.setdefault(table, []).append(name)
    return out


def test_every_dataset_table_exists_with_the_columns_its_rows_carry(ch):
    schema = _columns(ch)
    for ds in DATASETS.values():
        assert ds.tables, ds.name
        for table, columns in ds.columns.items():
            assert table in schema, f"{ds.name}: table {table} is in no migration"
            missing = [c for c in columns if c not in schema[table]]
            assert not missing, f"{ds.name}: {table} lacks columns {missing}"


def test_every_staging_table_belongs_to_exactly_one_dataset(ch):
    staging = {t for t in _columns(ch) if t.startswith("stg_qtickets_api_")}
    owners = [t for ds in DATASETS.values() for t in ds.tables]
    assert sorted(owners) == sorted(set(owners)), "a table is filled by two datasets"
    assert set(owners) == staging


def test_sales_and_dependencies_name_what_exists():
    for ds in DATASETS.values():
        assert set(ds.depends_on) <= set(DATASETS), ds.name
        if ds.sales is not None:
            assert ds.sales.key in ds.columns[ds.sales.table], ds.name
    assert [ds.name for ds in DATASETS.values() if ds.sales] == ["orders"]
