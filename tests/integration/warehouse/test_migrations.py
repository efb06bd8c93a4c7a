"""Schema migrations on embedded ClickHouse: every file runs, reruns are no-ops, edits are refused."""

from __future__ import annotations

import shutil

import pytest

from qtickets.datasets import DATASETS
from qtickets.exceptions import ClickHouseQueryError
from qtickets.warehouse import apply_migrations, migration_files
from qtickets.warehouse.paths import SCHEMA_DIR

pytestmark = pytest.mark.integration

CONTRACT_TABLES = {
    *(table for ds in DATASETS.values() for table in ds.tables),
    "dim_events", "fact_qtickets_sales_daily", "fact_qtickets_sales_utm_daily", "fact_qtickets_inventory_latest",
    "v_sales_latest", "v_sales_14d", "meta_job_runs", "meta_dataset_loads", "schema_migrations",
    "v_barcodes_current",
}


def tables(ch) -> set[str]:
    return {r[0] for r in ch.fetch_all("SELECT name FROM system.tables WHERE database = %(d)s", {"d": ch.database})}


def test_all_contract_tables_exist_and_rerun_is_noop(ch):
    assert CONTRACT_TABLES <= tables(ch)
    assert apply_migrations(ch) == []
    recorded = ch.fetch_all("SELECT name FROM {{ db }}.schema_migrations FINAL ORDER BY name")
    assert [r[0] for r in recorded] == [p.name for p in migration_files()]


def test_staging_engines_and_partition_keys(ch):
    rows = dict(ch.fetch_all(
        "SELECT name, engine_full FROM system.tables WHERE database = %(d)s AND name LIKE 'stg%%'", {"d": ch.database}
    ))
    assert all(engine.startswith("ReplacingMergeTree(_ver)") for engine in rows.values())
    assert "PARTITION BY toYYYYMM(order_created_at)" in rows["stg_qtickets_api_tickets_raw"]
    assert "TTL snapshot_ts + toIntervalDay(400)" in rows["stg_qtickets_api_inventory_raw"]


def test_changed_migration_is_refused_and_new_one_applied(embedded_clickhouse, tmp_path):
    from qtickets.hooks.clickhouse import ClickHouseHook

    folder = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, folder)
    with ClickHouseHook(clickhouse_conn_id=embedded_clickhouse) as hook:
        assert len(apply_migrations(hook, folder)) == len(migration_files())
        (folder / "900_extra.sql").write_text(
            "CREATE TABLE IF NOT EXISTS {{ db }}.extra (x UInt8) ENGINE = MergeTree ORDER BY x;\n"
        )
        assert apply_migrations(hook, folder) == ["900_extra.sql"]
        first = sorted(folder.glob("0*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(ClickHouseQueryError, match=f"{first.name}.*changed"):
            apply_migrations(hook, folder)


def test_misnamed_or_duplicate_migration_files(tmp_path):
    (tmp_path / "001_a.sql").write_text("SELECT 1")
    (tmp_path / "001_b.sql").write_text("SELECT 1")
    with pytest.raises(ClickHouseQueryError, match="share number 001"):
        migration_files(tmp_path)
    (tmp_path / "001_b.sql").unlink()
    (tmp_path / "Bad Name.sql").write_text("SELECT 1")
    with pytest.raises(ClickHouseQueryError, match="misnamed"):
        migration_files(tmp_path)


def test_grants_name_only_existing_objects(ch):
    """roles.sql cannot run on chDB (no access management) or 18.16 (no RBAC): check what it grants on."""
    import re

    from qtickets.warehouse.paths import SQL_DIR

    text = (SQL_DIR / "grants" / "roles.sql").read_text()
    statements = [line for line in text.splitlines() if line.startswith("GRANT")]
    targets = set(re.findall(r"ON \{\{ db \}\}\.(\w+) TO", text))
    assert targets and targets <= tables(ch)
    reader = {t for t in re.findall(r"ON \{\{ db \}\}\.(\w+) TO qtickets_bi_reader", text)}
    assert not any(t.startswith("stg_") for t in reader), "BI readers never see staging (payloads, promo codes)"
    assert {"fact_qtickets_sales_daily", "v_sales_latest", "v_sales_14d", "dim_events"} <= reader
    assert any("INSERT" in s and "qtickets_etl_writer" in s for s in statements)
