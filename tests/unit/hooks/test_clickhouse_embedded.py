"""ClickHouseHook on the embedded engine (real chDB, the one folder of this pytest process)."""

from __future__ import annotations

import fcntl
import os
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from qtickets.exceptions import ClickHouseConfigError, ClickHouseQueryError
from qtickets.hooks import _chdb
from qtickets.hooks.clickhouse import ClickHouseHook
from qtickets.timeutil import to_epoch
from tests.clickhouse_cases import MSK, SALES_COLUMNS, TABLE_DDL, TYPES_ROW, TYPES_SQL

pytestmark = pytest.mark.integration
TS = to_epoch("2026-03-01T10:00:00+03:00")


@pytest.fixture
def hook(embedded_clickhouse: str):
    with ClickHouseHook(clickhouse_conn_id=embedded_clickhouse, batch_size=3) as h:
        yield h


def test_embedded_mode_uses_the_connection_schema(hook: ClickHouseHook, ch_database: str, chdb_dir) -> None:
    assert hook.is_embedded is True
    assert hook.database == ch_database
    assert hook.fetch_all("SELECT currentDatabase()") == [(ch_database,)]
    assert hook.get_uri() == f"chdb://{chdb_dir}/{ch_database}"


def test_select_returns_typed_python_values(hook: ClickHouseHook) -> None:
    (row,) = hook.fetch_all(TYPES_SQL)
    assert row == TYPES_ROW
    assert isinstance(row[0], int) and isinstance(row[2], Decimal)
    assert row[7].tzinfo == MSK and row[7].utcoffset() == timedelta(hours=3)


def test_big_ints_and_decimals_keep_every_digit(hook: ClickHouseHook) -> None:
    got = hook.fetch_all("SELECT toUInt64('18446744073709551615'), toDecimal128('12345678901234567890.1234', 4)")
    assert got == [(18446744073709551615, Decimal("12345678901234567890.1234"))]


def test_values_are_escaped_not_formatted(hook: ClickHouseHook) -> None:
    nasty = "it's \\ a\n'); DROP DATABASE x; --"
    assert hook.fetch_all("SELECT %(s)s, %(n)s, %(d)s", {"s": nasty, "n": 5, "d": date(2026, 1, 2)}) == [
        (nasty, 5, "2026-01-02")
    ]


def test_insert_streams_in_batches(hook: ClickHouseHook) -> None:
    hook.execute(TABLE_DDL)
    seen_before_row: dict[int, int] = {}

    def rows():
        for i in range(1, 11):
            if i in (4, 7):  # the previous batch of 3 must already be in the table
                seen_before_row[i] = hook.fetch_all("SELECT count() FROM {{ db }}.sales")[0][0]
            yield (i, TS + i, f"{i}.50", "Москва" if i % 2 else "Казань", None if i % 3 else f"n{i}",
                   date(2026, 3, 1), 1)

    assert hook.insert("sales", SALES_COLUMNS, rows()) == 10
    assert seen_before_row == {4: 3, 7: 6}
    got = hook.fetch_all("SELECT * FROM {{ db }}.sales ORDER BY id")
    assert got[0] == (1, datetime(2026, 3, 1, 10, 0, 1, tzinfo=MSK), Decimal("1.50"), "Москва", None,
                      date(2026, 3, 1), 1)
    assert got[2][4] == "n3"
    assert sum((r[2] for r in got), Decimal(0)) == Decimal("60.00")


def test_insert_accepts_decimal_and_aware_datetime(hook: ClickHouseHook) -> None:
    hook.execute(TABLE_DDL)
    aware = datetime(2026, 3, 1, 7, 0, tzinfo=ZoneInfo("UTC"))
    hook.insert("sales", SALES_COLUMNS, [(1, aware, Decimal("2.05"), "a", None, date(2026, 3, 1), 1)])
    assert hook.fetch_all("SELECT created_at, amount FROM {{ db }}.sales") == [
        (datetime(2026, 3, 1, 10, 0, tzinfo=MSK), Decimal("2.05"))
    ]


def test_replacing_merge_tree_final_keeps_the_latest_version(hook: ClickHouseHook) -> None:
    hook.execute(TABLE_DDL)
    hook.insert("sales", SALES_COLUMNS, [(1, TS, "100.00", "a", "old", date(2026, 3, 1), 1),
                                         (2, TS, "5.00", "a", None, date(2026, 3, 1), 1)])
    hook.insert("sales", SALES_COLUMNS, [(1, TS, "80.00", "a", "new", date(2026, 3, 1), 2)])
    assert hook.fetch_all("SELECT id, amount, note FROM {{ db }}.sales FINAL ORDER BY id") == [
        (1, Decimal("80.00"), "new"), (2, Decimal("5.00"), None)
    ]


def test_run_sql_file_runs_every_statement(hook: ClickHouseHook, tmp_path) -> None:
    sql = tmp_path / "m.sql"
    sql.write_text(
        "-- a migration; the ; in this comment is ignored\n"
        "CREATE TABLE {{ db }}.k (id UInt64, s String) ENGINE = MergeTree ORDER BY id;\n"
        "INSERT INTO {{ db }}.k SELECT number, 'a;b' FROM numbers(%(n)s);\n"
        "SELECT count(), any(s) FROM {{ db }}.{{ tbl }} -- last one\n",
        encoding="utf-8",
    )
    assert hook.run_sql_file(sql, {"n": 5}, tbl="k") == [(5, "a;b")]


@pytest.mark.parametrize(
    ("sql", "code"),
    [("SELEC 1", "code 62 SYNTAX_ERROR"), ("SELECT * FROM {{ db }}.nope", "code 60 UNKNOWN_TABLE"),
     ("SELECT nope FROM system.one", "code 47"), ("SELECT 1 SETTINGS no_such_setting = 1", "code 115")],
)
def test_bad_statements_are_query_errors(hook: ClickHouseHook, sql: str, code: str) -> None:
    with pytest.raises(ClickHouseQueryError) as info:
        hook.fetch_all(sql)
    assert code in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_rows_are_rejected_with_a_clear_error(hook: ClickHouseHook) -> None:
    hook.execute(TABLE_DDL)
    with pytest.raises(ClickHouseQueryError, match="float"):
        hook.insert("sales", SALES_COLUMNS, [(1, TS, 1.05, "a", None, date(2026, 3, 1), 1)])
    with pytest.raises(ClickHouseQueryError, match="naive datetime"):
        hook.insert("sales", SALES_COLUMNS, [(1, datetime(2026, 3, 1), "1", "a", None, date(2026, 3, 1), 1)])
    with pytest.raises(ClickHouseQueryError, match="7 columns"):
        hook.insert("sales", SALES_COLUMNS, [(1, TS)])
    with pytest.raises(ClickHouseQueryError, match="code"):
        hook.insert("sales", SALES_COLUMNS, [("abc", TS, "1", "a", None, date(2026, 3, 1), 1)])
    with pytest.raises(ClickHouseQueryError, match="cannot insert"):  # a later row of the batch is short
        hook.insert("sales", SALES_COLUMNS, [(1, TS, "1", "a", None, date(2026, 3, 1), 1), (2, TS)])
    with pytest.raises(ClickHouseQueryError, match="no column"):
        hook.insert("sales", ("id", "nope"), [(1, 2)])
    with pytest.raises(ClickHouseQueryError, match="does not exist"):
        hook.insert("missing", ("id",), [(1,)])
    assert hook.fetch_all("SELECT count() FROM {{ db }}.sales") == [(0,)]


def test_identifiers_are_validated(hook: ClickHouseHook) -> None:
    with pytest.raises(ClickHouseQueryError, match="invalid"):
        hook.fetch_all("SELECT * FROM {{ db }}.{{ t }}", t="x; DROP TABLE y")
    with pytest.raises(ClickHouseQueryError, match="no identifier 'other'"):
        hook.fetch_all("SELECT * FROM {{ other }}")
    with pytest.raises(ClickHouseQueryError, match="invalid"):
        hook.insert("sales`", ("id",), [(1,)])


def test_hooks_share_one_session_and_close_frees_the_folder(embedded_clickhouse: str, chdb_dir) -> None:
    first = ClickHouseHook(clickhouse_conn_id=embedded_clickhouse)
    second = ClickHouseHook(clickhouse_conn_id=embedded_clickhouse)
    first.execute("CREATE TABLE {{ db }}.shared (id UInt64) ENGINE = MergeTree ORDER BY id")
    first.insert("shared", ("id",), [(1,)])
    assert second.fetch_all("SELECT count() FROM {{ db }}.shared") == [(1,)]
    entry = first._entry
    assert entry is second._entry and entry.refs >= 2
    assert open(_chdb.lock_path(str(chdb_dir))).read().strip() == str(os.getpid())
    first.close()
    assert second.fetch_all("SELECT count() FROM {{ db }}.shared") == [(1,)]
    second.close()
    assert str(chdb_dir) not in _chdb._registry
    fd = os.open(_chdb.lock_path(str(chdb_dir)), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no BlockingIOError
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def test_a_second_folder_in_this_process_is_refused(
    hook: ClickHouseHook, monkeypatch: pytest.MonkeyPatch, tmp_path, chdb_dir
) -> None:
    hook.fetch_all("SELECT 1")  # the process folder is open
    other = tmp_path / "other-folder"
    monkeypatch.setenv("AIRFLOW_CONN_CH_OTHER", f'{{"conn_type": "qtickets_clickhouse", "extra": {{"embedded_path": "{other}"}}}}')
    with pytest.raises(ClickHouseConfigError) as info:
        ClickHouseHook(clickhouse_conn_id="ch_other").fetch_all("SELECT 1")
    assert str(other) in str(info.value) and str(chdb_dir) in str(info.value)
    assert not other.exists()


def test_common_sql_operators_work_on_embedded(embedded_clickhouse: str) -> None:
    from airflow.providers.common.sql.hooks.handlers import fetch_all_handler
    from airflow.providers.common.sql.operators.sql import SQLCheckOperator, SQLExecuteQueryOperator
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(embedded_clickhouse).get_hook()
    assert isinstance(hook, ClickHouseHook)
    hook.run("CREATE TABLE t (id UInt64) ENGINE = MergeTree ORDER BY id")
    hook.run("INSERT INTO t SELECT number FROM numbers(%(n)s)", parameters={"n": 4})
    assert hook.run("SELECT count(), sum(id) FROM t", handler=fetch_all_handler) == [(4, 6)]
    assert hook.last_description[0][0] == "count()"
    op = SQLExecuteQueryOperator(task_id="op", conn_id=embedded_clickhouse, sql="SELECT id FROM t ORDER BY id LIMIT 2")
    assert op.execute(context={}) == [(0,), (1,)]
    SQLCheckOperator(task_id="ok", conn_id=embedded_clickhouse, sql="SELECT count() FROM t").execute(context={})
    with pytest.raises(Exception, match="Test failed"):
        SQLCheckOperator(task_id="bad", conn_id=embedded_clickhouse,
                         sql="SELECT count() FROM t WHERE id > 100").execute(context={})


def test_no_io_in_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CH_LAZY", '{"conn_type": "qtickets_clickhouse", "host": "127.0.0.1", "port": 1}')
    hook = ClickHouseHook(clickhouse_conn_id="ch_lazy", query_id="abc")
    assert hook._client_obj is None and hook._entry is None
    assert hook.database == "zakaz" and hook.is_embedded is False
    hook.close()
