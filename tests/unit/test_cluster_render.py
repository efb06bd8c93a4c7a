"""Cluster DDL rendering (ADR 0008): ON CLUSTER on every DDL statement, Replicated* engines with Keeper paths,
local (non-replicated) scratch engines; the hook's ``cluster`` extra. Pure: no engine needed (the
statements are parsed by the embedded engine in tests/integration/warehouse/test_cluster_ddl.py)."""

from __future__ import annotations

import json

import pytest

from qtickets.exceptions import ClickHouseConfigError, ClickHouseQueryError
from qtickets.warehouse.cluster import local_engine, render_for_cluster
from qtickets.warehouse.migrations import bootstrap_statements, migration_files, migration_statements

PATH = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"


@pytest.mark.parametrize(("statement", "rendered"), [
    ("CREATE TABLE IF NOT EXISTS {{ db }}.t\n(a UInt64, _ver UInt64)\nENGINE = ReplacingMergeTree(_ver)\nORDER BY a",
     "CREATE TABLE IF NOT EXISTS {{ db }}.t ON CLUSTER 'prod'\n(a UInt64, _ver UInt64)\n"
     f"ENGINE = ReplicatedReplacingMergeTree({PATH}, _ver)\nORDER BY a"),
    ("CREATE TABLE IF NOT EXISTS {{ db }}.f (d Date) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY d",
     f"CREATE TABLE IF NOT EXISTS {{{{ db }}}}.f ON CLUSTER 'prod' (d Date) ENGINE = ReplicatedMergeTree({PATH}) "
     "PARTITION BY toYYYYMM(d) ORDER BY d"),
    ("CREATE TABLE db.s (x UInt8, v UInt8) ENGINE = SummingMergeTree() ORDER BY x",
     f"CREATE TABLE db.s ON CLUSTER 'prod' (x UInt8, v UInt8) ENGINE = ReplicatedSummingMergeTree({PATH}) ORDER BY x"),
    ("CREATE TABLE db.m (x UInt8) ENGINE = Memory", "CREATE TABLE db.m ON CLUSTER 'prod' (x UInt8) ENGINE = Memory"),
    ("CREATE DATABASE IF NOT EXISTS {{ db }}", "CREATE DATABASE IF NOT EXISTS {{ db }} ON CLUSTER 'prod'"),
    ("CREATE OR REPLACE VIEW {{ db }}.v AS\nSELECT 1", "CREATE OR REPLACE VIEW {{ db }}.v ON CLUSTER 'prod' AS\nSELECT 1"),
    ("create materialized view if not exists db.mv to db.t as select 1",
     "create materialized view if not exists db.mv ON CLUSTER 'prod' to db.t as select 1"),
    ("ALTER TABLE {{ db }}.t ADD COLUMN IF NOT EXISTS k UInt16 DEFAULT 1",
     "ALTER TABLE {{ db }}.t ON CLUSTER 'prod' ADD COLUMN IF NOT EXISTS k UInt16 DEFAULT 1"),
    ("DROP TABLE IF EXISTS {{ db }}.old", "DROP TABLE IF EXISTS {{ db }}.old ON CLUSTER 'prod'"),
    ("DROP VIEW db.v", "DROP VIEW db.v ON CLUSTER 'prod'"),
    ("TRUNCATE TABLE {{ db }}.t", "TRUNCATE TABLE {{ db }}.t ON CLUSTER 'prod'"),
    ("RENAME TABLE {{ db }}.a TO {{ db }}.b", "RENAME TABLE {{ db }}.a TO {{ db }}.b ON CLUSTER 'prod'"),
    ("EXCHANGE TABLES db.a AND db.b", "EXCHANGE TABLES db.a AND db.b ON CLUSTER 'prod'"),
    ("INSERT INTO {{ db }}.t SELECT * FROM {{ db }}.u", "INSERT INTO {{ db }}.t SELECT * FROM {{ db }}.u"),
    ("OPTIMIZE TABLE {{ db }}.t FINAL", "OPTIMIZE TABLE {{ db }}.t FINAL"),
])
def test_statements_get_on_cluster_and_replicated_engines(statement: str, rendered: str) -> None:
    assert render_for_cluster(statement, "prod") == rendered


def test_an_engine_already_replicated_is_left_alone() -> None:
    sql = f"CREATE TABLE db.r (x UInt8) ENGINE = ReplicatedMergeTree({PATH}) ORDER BY x"
    assert render_for_cluster(sql, "prod") == sql.replace("db.r", "db.r ON CLUSTER 'prod'")


def test_the_cluster_macro_is_accepted() -> None:
    assert render_for_cluster("DROP TABLE db.t", "{cluster}") == "DROP TABLE db.t ON CLUSTER '{cluster}'"


@pytest.mark.parametrize("statement", [
    "GRANT SELECT ON db.* TO reader",
    "CREATE USER etl IDENTIFIED BY 'x'",
    "DETACH TABLE db.t",
])
def test_unknown_ddl_is_refused_rather_than_run_on_one_host(statement: str) -> None:
    with pytest.raises(ClickHouseQueryError, match="cannot run this migration statement on a cluster"):
        render_for_cluster(statement, "prod")


def test_a_migration_that_names_a_cluster_itself_is_refused() -> None:
    with pytest.raises(ClickHouseQueryError, match="already names a cluster"):
        render_for_cluster("DROP TABLE db.t ON CLUSTER other", "prod")


@pytest.mark.parametrize("name", ["", "a b", "x'; DROP TABLE t; --", None, 5])
def test_bad_cluster_names_are_config_errors(name: object) -> None:
    with pytest.raises(ClickHouseConfigError, match="extra 'cluster'"):
        render_for_cluster("DROP TABLE db.t", name)  # type: ignore[arg-type]


def test_every_migration_statement_renders_and_every_table_is_replicated() -> None:
    """All shipped migrations, as a cluster runs them: each DDL names the cluster, each table is Replicated*,
    and nothing but the cluster clause and the engine changed."""
    creates = 0
    for path in migration_files():
        plain = migration_statements(path)
        clustered = migration_statements(path, "prod")
        assert len(plain) == len(clustered)
        for before, after in zip(plain, clustered, strict=True):
            assert "ON CLUSTER 'prod'" in after, after[:80]
            if before.lstrip().upper().startswith("CREATE TABLE"):
                creates += 1
                assert "ENGINE = Replicated" in after and PATH in after, after
                # Only the cluster clause and the engine arguments were added.
                undone = after.replace(" ON CLUSTER 'prod'", "").replace(f"{PATH}, ", "").replace(f"({PATH})", "")
                assert undone.replace("ENGINE = Replicated", "ENGINE = ") == before
    assert creates == 18  # 11 staging, 4 facts and dimensions, meta_job_runs, meta_dataset_loads, meta_coverage
    boot = bootstrap_statements("prod")
    assert boot[0] == "CREATE DATABASE IF NOT EXISTS {{ db }} ON CLUSTER 'prod'"
    assert "schema_migrations ON CLUSTER 'prod'" in boot[1]
    assert f"ENGINE = ReplicatedReplacingMergeTree({PATH}, applied_at)" in boot[1]


@pytest.mark.parametrize(("engine_full", "local"), [
    ("ReplicatedMergeTree('/clickhouse/tables/{shard}/zakaz/fact_qtickets_sales_daily', '{replica}') PARTITION BY "
     "toYYYYMM(sales_date) ORDER BY (sales_date, event_id, city) SETTINGS index_granularity = 8192",
     "MergeTree() PARTITION BY toYYYYMM(sales_date) ORDER BY (sales_date, event_id, city) SETTINGS "
     "index_granularity = 8192"),
    ("ReplicatedReplacingMergeTree('/clickhouse/tables/01/zakaz/t', 'ch-1', _ver) ORDER BY a",
     "ReplacingMergeTree(_ver) ORDER BY a"),
    ("MergeTree ORDER BY event_id SETTINGS index_granularity = 8192", None),
])
def test_scratch_tables_of_replicated_facts_get_a_local_engine(engine_full: str, local: str | None) -> None:
    assert local_engine(engine_full) == local


def _hook(monkeypatch: pytest.MonkeyPatch, conn: dict):
    from qtickets.hooks.clickhouse import ClickHouseHook

    monkeypatch.setenv("AIRFLOW_CONN_CH_CLUSTER", json.dumps(conn))
    return ClickHouseHook(clickhouse_conn_id="ch_cluster")


def test_the_cluster_extra_reaches_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch, {"conn_type": "qtickets_clickhouse", "host": "ch", "extra": {"cluster": "{cluster}"}})
    assert hook.cluster == "{cluster}"
    assert _hook(monkeypatch, {"conn_type": "qtickets_clickhouse", "host": "ch"}).cluster is None


def test_cluster_and_embedded_exclude_each_other(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    hook = _hook(monkeypatch, {"conn_type": "qtickets_clickhouse",
                               "extra": {"cluster": "prod", "embedded_path": str(tmp_path)}})
    with pytest.raises(ClickHouseConfigError, match="'cluster' and 'embedded_path' exclude each other"):
        _ = hook.cluster
