"""Every statement a cluster runs (ADR 0008), parsed by the real ClickHouse engine (chDB 26.9).

chDB has no Keeper and no cluster, so the statements cannot run here; ``SELECT formatQuery(...)`` parses
each one without executing it (a syntax error fails the test), and the formatted text must keep the
cluster clause and the replicated engine. The scratch tables' local engine is checked for real: a scratch
made with it accepts the partition swap into the published fact table.
"""

from __future__ import annotations

import re

import pytest

from qtickets.exceptions import ClickHouseQueryError
from qtickets.hooks._ch_sql import render_identifiers
from qtickets.warehouse.cluster import local_engine, render_for_cluster
from qtickets.warehouse.facts import SALES_DAILY
from qtickets.warehouse.migrations import bootstrap_statements, migration_files, migration_statements

pytestmark = pytest.mark.integration

CLUSTER = "qtickets_cluster"
KEEPER = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"


def _format(ch, sql: str) -> str:
    """The engine's own rendering of ``sql`` (parsed, not executed)."""
    return ch.fetch_all("SELECT formatQuery(%(q)s)", {"q": render_identifiers(sql, {"db": "zakaz"})})[0][0]


def _cluster_statements() -> list[str]:
    statements = bootstrap_statements(CLUSTER)
    for path in migration_files():
        statements += migration_statements(path, CLUSTER)
    return statements


def test_every_cluster_migration_statement_parses(ch) -> None:
    statements = _cluster_statements()
    assert len(statements) == 32  # 2 bootstrap + 18 tables, 4 views, 8 ALTERs
    replicated = 0
    for sql in statements:
        formatted = _format(ch, sql)
        assert f"ON CLUSTER {CLUSTER}" in formatted, formatted[:200]
        if re.match(r"\s*CREATE TABLE", formatted):
            replicated += 1
            assert re.search(r"ENGINE = Replicated\w*MergeTree\(" + re.escape(KEEPER), formatted), formatted
    assert replicated == 19  # schema_migrations + 18 tables of the migrations


def test_the_formatter_rejects_what_does_not_parse(ch) -> None:
    """The check above can fail: a statement broken by the renderer is a syntax error."""
    broken = render_for_cluster("CREATE TABLE {{ db }}.t (a UInt64) ENGINE = MergeTree ORDER BY a", CLUSTER)
    with pytest.raises(ClickHouseQueryError, match="Syntax error"):
        _format(ch, broken.replace("ON CLUSTER", "ON CLUSTERS"))


def test_publish_statements_on_a_cluster_parse(ch) -> None:
    """What the fact rebuild runs on a cluster: a local scratch, swaps into the replicated facts (no ON
    CLUSTER: Keeper replicates them), and the drop of the scratch."""
    engine_full = ch.fetch_all("SELECT engine_full FROM system.tables WHERE database = %(d)s AND name = %(t)s",
                               {"d": ch.database, "t": SALES_DAILY})[0][0]
    replicated = engine_full.replace("MergeTree", f"ReplicatedMergeTree({KEEPER})", 1)
    local = local_engine(replicated)
    assert local is not None and local.startswith("MergeTree() PARTITION BY toYYYYMM(sales_date)")
    for sql in (
        f"CREATE TABLE {{{{ db }}}}.scratch AS {{{{ db }}}}.{SALES_DAILY} ENGINE = {local}",
        f"ALTER TABLE {{{{ db }}}}.{SALES_DAILY} REPLACE PARTITION ID '202511' FROM {{{{ db }}}}.scratch",
        f"ALTER TABLE {{{{ db }}}}.{SALES_DAILY} DROP PARTITION ID '202511'",
        "ALTER TABLE {{ db }}.dim_events REPLACE PARTITION tuple() FROM {{ db }}.scratch",
        "TRUNCATE TABLE {{ db }}.dim_events",
    ):
        assert "CLUSTER" not in _format(ch, sql)


def test_a_scratch_with_the_local_engine_swaps_into_the_fact_table(ch) -> None:
    """The engine derived from a replicated fact's engine_full makes a scratch that REPLACE PARTITION
    accepts (same structure, partition key, sorting key, settings)."""
    engine_full = ch.fetch_all("SELECT engine_full FROM system.tables WHERE database = %(d)s AND name = %(t)s",
                               {"d": ch.database, "t": SALES_DAILY})[0][0]
    local = local_engine(engine_full.replace("MergeTree", f"ReplicatedMergeTree({KEEPER})", 1))
    ch.execute(f"CREATE TABLE {{{{ db }}}}.scratch_local AS {{{{ db }}}}.{SALES_DAILY} ENGINE = {local}")
    ch.execute("INSERT INTO {{ db }}.scratch_local SELECT toDate('2025-11-03'), 7, 'Москва', 2, 300, 0, 0, 1, now()")
    ch.execute(f"ALTER TABLE {{{{ db }}}}.{SALES_DAILY} REPLACE PARTITION ID '202511' FROM {{{{ db }}}}.scratch_local")
    assert ch.fetch_all(f"SELECT event_id, tickets_sold FROM {{{{ db }}}}.{SALES_DAILY}") == [(7, 2)]


def test_apply_migrations_on_a_cluster_sends_only_pending_ddl_on_cluster(embedded_clickhouse, tmp_path) -> None:
    """Through the real migration path: with nothing pending a cluster run sends no ON CLUSTER statement
    (chDB has no cluster, so one would fail); a pending migration is sent ON CLUSTER, replicated."""
    import shutil

    from qtickets.hooks.clickhouse import ClickHouseHook
    from qtickets.warehouse import apply_migrations
    from qtickets.warehouse.paths import SCHEMA_DIR

    class OnCluster(ClickHouseHook):
        cluster = CLUSTER  # the extra's value; chDB itself refuses extra 'cluster' with 'embedded_path'

    folder = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, folder)
    with ClickHouseHook(clickhouse_conn_id=embedded_clickhouse) as plain:
        assert len(apply_migrations(plain, folder)) == len(migration_files())
    with OnCluster(clickhouse_conn_id=embedded_clickhouse) as hook:
        assert apply_migrations(hook, folder) == []
        (folder / "900_extra.sql").write_text(
            "CREATE TABLE IF NOT EXISTS {{ db }}.extra (x UInt8) ENGINE = MergeTree ORDER BY x;\n")
        with pytest.raises(ClickHouseQueryError) as caught:
            apply_migrations(hook, folder)
    assert CLUSTER in str(caught.value)
