"""ClickHouseHook over the native protocol against a real ClickHouse server on loopback."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from clickhouse_driver import Client

from qtickets.exceptions import ClickHouseConfigError, ClickHouseQueryError, ClickHouseRetryableError
from qtickets.hooks.clickhouse import ClickHouseHook
from qtickets.timeutil import to_epoch
from tests.clickhouse_cases import MSK, SALES_COLUMNS, TABLE_DDL, TYPES_ROW, TYPES_SQL

from .conftest import ETL_PASSWORD, ETL_USER, start_server

pytestmark = [pytest.mark.integration, pytest.mark.server]


def _hook(**kwargs: object) -> ClickHouseHook:
    return ClickHouseHook(**kwargs)


def test_connects_and_creates_its_database(server_conn: str, server_db: str) -> None:
    with _hook(clickhouse_conn_id=server_conn) as hook:
        assert hook.is_embedded is False
        assert hook.fetch_all("SELECT currentDatabase()") == [(server_db,)]
        assert hook.fetch_all("SELECT name FROM system.databases WHERE name = %(n)s", {"n": server_db}) == [
            (server_db,)
        ]


def test_select_returns_the_same_python_types_as_embedded(server_conn: str) -> None:
    with _hook(clickhouse_conn_id=server_conn) as hook:
        (row,) = hook.fetch_all(TYPES_SQL)
    assert row == TYPES_ROW
    assert isinstance(row[2], Decimal)
    assert row[4].tzinfo == MSK and row[7].tzinfo == MSK
    assert row[7].utcoffset() == timedelta(hours=3)


def test_typed_batch_insert_round_trips(server_conn: str) -> None:
    created = to_epoch("2026-03-01T10:00:00+03:00")
    rows = (
        (i, created + i, f"{i}.50", "Москва" if i % 2 else "Казань", None if i % 3 else f"n{i}",
         date(2026, 3, 1), 1)
        for i in range(1, 11)
    )
    with _hook(clickhouse_conn_id=server_conn, batch_size=3) as hook:
        hook.execute(TABLE_DDL)
        assert hook.insert("sales", SALES_COLUMNS, rows) == 10
        got = hook.fetch_all("SELECT * FROM {{ db }}.sales ORDER BY id")
        parts = hook.fetch_all(
            "SELECT count() FROM system.parts WHERE database = %(db)s AND table = 'sales' AND active",
            {"db": hook.database},
        )
    assert len(got) == 10
    assert got[0] == (1, datetime(2026, 3, 1, 10, 0, 1, tzinfo=MSK), Decimal("1.50"), "Москва", None,
                      date(2026, 3, 1), 1)
    assert got[2][4] == "n3"
    assert sum((r[2] for r in got), Decimal(0)) == Decimal("60.00")
    assert parts[0][0] >= 4  # 10 rows in batches of 3 -> 4 inserts (merges may only lower it later)


def test_replacing_merge_tree_final_keeps_the_latest_version(server_conn: str) -> None:
    ts = to_epoch("2026-03-01T10:00:00+03:00")
    with _hook(clickhouse_conn_id=server_conn) as hook:
        hook.execute(TABLE_DDL)
        hook.insert("sales", SALES_COLUMNS, [(1, ts, "100.00", "a", "old", date(2026, 3, 1), 1),
                                             (2, ts, "5.00", "a", None, date(2026, 3, 1), 1)])
        hook.insert("sales", SALES_COLUMNS, [(1, ts, "80.00", "a", "new", date(2026, 3, 1), 2)])
        assert hook.fetch_all("SELECT count() FROM {{ db }}.sales")[0][0] == 3
        final = hook.fetch_all("SELECT id, amount, note FROM {{ db }}.sales FINAL ORDER BY id")
    assert final == [(1, Decimal("80.00"), "new"), (2, Decimal("5.00"), None)]


def test_run_sql_file_runs_every_statement(server_conn: str, tmp_path) -> None:
    sql = tmp_path / "m.sql"
    sql.write_text(
        "-- a migration; the ; in this comment is ignored\n"
        "CREATE TABLE {{ db }}.k (id UInt64, s String) ENGINE = MergeTree ORDER BY id;\n"
        "INSERT INTO {{ db }}.k SELECT number, 'a;b' FROM system.numbers LIMIT %(n)s;\n"
        "SELECT count(), any(s) FROM {{ db }}.{{ tbl }} -- last one\n",
        encoding="utf-8",
    )
    with _hook(clickhouse_conn_id=server_conn) as hook:
        assert hook.run_sql_file(sql, {"n": 5}, tbl="k") == [(5, "a;b")]


@pytest.mark.parametrize(
    ("sql", "code"),
    [("SELEC 1", "code 62"), ("SELECT * FROM {{ db }}.nope", "code 60"), ("SELECT nope FROM system.one", "code 47")],
)
def test_bad_statements_are_query_errors_with_code_and_first_line(server_conn: str, sql: str, code: str) -> None:
    with _hook(clickhouse_conn_id=server_conn) as hook, pytest.raises(ClickHouseQueryError) as info:
        hook.fetch_all(sql)
    text = str(info.value)
    assert code in text
    assert "Stack trace" not in text and "libclickhouse" not in text
    assert "\n" not in text
    assert ETL_PASSWORD not in text


def test_type_mismatch_in_insert_is_a_query_error(server_conn: str) -> None:
    ts = to_epoch("2026-03-01T10:00:00+03:00")
    with _hook(clickhouse_conn_id=server_conn) as hook:
        hook.execute(TABLE_DDL)
        with pytest.raises(ClickHouseQueryError, match="53"):
            hook.insert("sales", SALES_COLUMNS, [("abc", ts, "1.00", "a", None, date(2026, 3, 1), 1)])
        with pytest.raises(ClickHouseQueryError, match="float"):
            hook.insert("sales", SALES_COLUMNS, [(1, ts, 1.05, "a", None, date(2026, 3, 1), 1)])
        # the connection is still usable after client-side errors
        assert hook.fetch_all("SELECT count() FROM {{ db }}.sales") == [(0,)]


def test_wrong_password_is_a_config_error_without_the_password(
    monkeypatch: pytest.MonkeyPatch, clickhouse_server, server_db: str
) -> None:
    wrong = "not-the-pw-8f3a1"
    monkeypatch.setenv("AIRFLOW_CONN_CH_BAD", clickhouse_server.conn_json(server_db, password=wrong))
    with _hook(clickhouse_conn_id="ch_bad") as hook, pytest.raises(ClickHouseConfigError) as info:
        hook.fetch_all("SELECT 1")
    assert "193" in str(info.value) or "516" in str(info.value)
    assert wrong not in str(info.value)


def test_missing_database_without_create_grant_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, clickhouse_server, server_db: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CH_RO", clickhouse_server.conn_json(server_db, login="readonly", password=""))
    with _hook(clickhouse_conn_id="ch_ro") as hook, pytest.raises(ClickHouseConfigError) as info:
        hook.fetch_all("SELECT 1")
    assert f"database {server_db} does not exist" in str(info.value)
    assert "may not create it" in str(info.value)


def test_max_execution_time_is_a_retryable_timeout(monkeypatch: pytest.MonkeyPatch, clickhouse_server,
                                                   server_db: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CH_SLOW", clickhouse_server.conn_json(
        server_db, settings={"max_execution_time": 1}))
    started = time.monotonic()
    with _hook(clickhouse_conn_id="ch_slow") as hook, pytest.raises(ClickHouseRetryableError, match="159"):
        hook.fetch_all("SELECT count() FROM system.numbers")
    assert time.monotonic() - started < 15


def test_send_receive_timeout_bounds_a_stuck_query(monkeypatch: pytest.MonkeyPatch, clickhouse_server,
                                                   server_db: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CH_STUCK", clickhouse_server.conn_json(server_db, send_receive_timeout=1))
    started = time.monotonic()
    with _hook(clickhouse_conn_id="ch_stuck") as hook:
        with pytest.raises(ClickHouseRetryableError):
            hook.fetch_all("SELECT sleep(3)")
        elapsed = time.monotonic() - started
        assert hook.fetch_all("SELECT 1") == [(1,)]  # reconnects after the timeout
    assert elapsed < 2.9


def test_query_id_is_passed_to_the_server(server_conn: str) -> None:
    with _hook(clickhouse_conn_id=server_conn, query_id="dag x/task:1") as hook:
        hook.fetch_all("SELECT 1")
        got = hook.fetch_all("SELECT query_id FROM system.processes WHERE query LIKE '%marker_q1%'")
    assert got == [("dag_x_task_1-2",)]


def test_common_sql_operator_path_uses_this_hook(server_conn: str) -> None:
    from airflow.providers.common.sql.hooks.handlers import fetch_all_handler
    from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(server_conn).get_hook()
    assert isinstance(hook, ClickHouseHook)
    assert hook.run("SELECT 40 + %(n)s", parameters={"n": 2}, handler=fetch_all_handler) == [(42,)]
    op = SQLExecuteQueryOperator(task_id="op", conn_id=server_conn, sql="SELECT number FROM system.numbers LIMIT 3")
    assert op.execute(context={}) == [(0,), (1,), (2,)]


def test_server_killed_mid_query_is_retryable(monkeypatch: pytest.MonkeyPatch, tmp_path, server_db: str) -> None:
    server = start_server(tmp_path / "doomed")
    try:
        monkeypatch.setenv("AIRFLOW_CONN_CH_DOOMED", server.conn_json(
            server_db, send_receive_timeout=30, settings={"max_execution_time": 30}))
        hook = _hook(clickhouse_conn_id="ch_doomed", query_id="doomed")
        assert hook.fetch_all("SELECT 1") == [(1,)]
        outcome: dict[str, BaseException] = {}

        def long_query() -> None:
            try:
                hook.fetch_all("SELECT count() FROM system.numbers")
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                outcome["error"] = exc

        worker = threading.Thread(target=long_query)
        worker.start()
        watcher = Client("127.0.0.1", port=server.port, user=ETL_USER, password=ETL_PASSWORD)
        deadline = time.monotonic() + 20
        while not watcher.execute("SELECT count() FROM system.processes WHERE query_id = 'doomed-2'")[0][0]:
            assert time.monotonic() < deadline, "the long query never showed up in system.processes"
        watcher.disconnect()
        os.kill(int((server.directory / "server.pid").read_text()), signal.SIGKILL)
        worker.join(timeout=30)
        assert not worker.is_alive()
        assert isinstance(outcome.get("error"), ClickHouseRetryableError), outcome
        with pytest.raises(ClickHouseRetryableError):
            hook.fetch_all("SELECT 1")  # still down: connection refused
        hook.close()
    finally:
        server.script("stop")



def test_query_id_comes_from_the_task_context(server_conn: str) -> None:
    from types import SimpleNamespace

    from airflow.sdk.execution_time.context import set_current_context

    ti = SimpleNamespace(dag_id="qtickets_api", task_id="load", run_id="manual__2026-11-22T10:00:00+00:00",
                         try_number=2)
    with set_current_context({"ti": ti}), _hook(clickhouse_conn_id=server_conn) as hook:
        got = hook.fetch_all("SELECT query_id FROM system.processes WHERE query LIKE '%marker_q2%'")
    assert got == [("qtickets_api-load-manual__2026-11-22T10_00_00_00_00-2-1",)]


def test_a_connection_made_with_the_official_providers_form_runs_at_the_native_port(
        monkeypatch: pytest.MonkeyPatch, clickhouse_server, server_db: str) -> None:
    """ADR 0009: type ``clickhouse`` and the official form's extras, with the native port: queries and
    inserts work; ``session_settings`` reach the server."""
    import json

    monkeypatch.setenv("AIRFLOW_CONN_CLICKHOUSE_DEFAULT", json.dumps({
        "conn_type": "clickhouse", "host": "127.0.0.1", "port": clickhouse_server.port, "login": ETL_USER,
        "password": ETL_PASSWORD, "schema": server_db,
        "extra": {"secure": False, "verify": True, "connect_timeout": 5, "send_receive_timeout": 20,
                  "compress": True, "client_name": "airflow", "session_settings": {"max_threads": 1}}}))
    with _hook() as hook:
        hook.execute(TABLE_DDL)
        assert hook.insert("sales", SALES_COLUMNS, [(1, to_epoch("2026-03-01T10:00:00+03:00"), "2.50", "Москва",
                                                     None, date(2026, 3, 1), 1)]) == 1
        assert hook.fetch_all("SELECT count(), sum(amount) FROM {{ db }}.sales") == [(1, Decimal("2.50"))]
        assert hook.fetch_all("SELECT value FROM system.settings WHERE name = 'max_threads'") == [("1",)]
