"""Pure helpers of the ClickHouse hook: templating, splitting, error mapping, type conversion."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from clickhouse_driver import errors

from qtickets.exceptions import ClickHouseConfigError, ClickHouseQueryError, ClickHouseRetryableError
from qtickets.hooks._ch_errors import classify, first_line
from qtickets.hooks._ch_sql import (
    iter_query_ids,
    qualify_table,
    reject_inline_values,
    render_identifiers,
    split_statements,
    substitute_params,
)
from qtickets.hooks._ch_types import json_converter, normalize_driver_rows

MSK = ZoneInfo("Europe/Moscow")
STACK_18 = (
    "Code: 60.\nDB::Exception: Table sales.nope doesn't exist.. Stack trace:\n\n"
    "0. /lib/x86_64-linux-gnu/libclickhouse.so.18.16(StackTrace::StackTrace()+0x16) [0x7f]\n"
)


def test_split_statements_on_semicolon_at_line_end_ignoring_comments() -> None:
    sql = (
        "-- header; with a semicolon\n"
        "CREATE TABLE a (s String DEFAULT 'x;y') ENGINE = Memory;\n"
        "\n"
        "INSERT INTO a SELECT '--not a comment' ; -- trailing comment\n"
        "SELECT 1; SELECT 2\n"
        "-- only a comment;\n"
    )
    assert split_statements(sql) == [
        "CREATE TABLE a (s String DEFAULT 'x;y') ENGINE = Memory",
        "INSERT INTO a SELECT '--not a comment'",
        "SELECT 1; SELECT 2",
    ]
    assert split_statements("-- nothing\n\n") == []


def test_render_identifiers_validates_names_and_values() -> None:
    assert render_identifiers("SELECT * FROM {{db}}.{{ t }}", {"db": "zakaz", "t": "stg_x"}) == (
        "SELECT * FROM zakaz.stg_x"
    )
    for bad in ("a b", "1abc", "x;DROP", "", "a.b", None):
        with pytest.raises(ClickHouseQueryError, match="invalid"):
            render_identifiers("{{ t }}", {"t": bad})
    with pytest.raises(ClickHouseQueryError, match="only"):
        render_identifiers("{{ t | upper }}", {"t": "x"})


def test_qualify_table() -> None:
    assert qualify_table("t", "zakaz") == "zakaz.t"
    assert qualify_table("other.t", "zakaz") == "other.t"
    with pytest.raises(ClickHouseQueryError):
        qualify_table("a.b.c", "zakaz")


def test_substitute_params_uses_the_driver_escaper() -> None:
    got = substitute_params(
        "SELECT %(s)s, %(n)s, %(d)s, %(dt)s, %(ids)s, %(none)s, %(dec)s",
        {"s": "o'k\\", "n": 3, "d": date(2026, 1, 2), "dt": datetime(2026, 1, 2, 0, 0, tzinfo=ZoneInfo("UTC")),
         "ids": (1, 2), "none": None, "dec": Decimal("1.50")},
    )
    assert got == "SELECT 'o\\'k\\\\', 3, '2026-01-02', '2026-01-02 03:00:00', (1, 2), NULL, 1.50"
    assert substitute_params("SELECT '100%'", None) == "SELECT '100%'"
    with pytest.raises(ClickHouseQueryError, match="has no value"):
        substitute_params("SELECT %(x)s", {"y": 1})


def test_query_ids_are_sanitised_and_numbered() -> None:
    ids = iter_query_ids("qtickets_api-load.orders-manual__2026-11-22T10:00:00+00:00-1")
    assert next(ids) == "qtickets_api-load.orders-manual__2026-11-22T10_00_00_00_00-1-1"
    assert next(ids).endswith("-1-2")
    assert next(iter_query_ids(None)) is None


@pytest.mark.parametrize(
    ("exc", "kind", "text"),
    [
        (errors.ServerException("DB::Exception: Table sales.nope doesn't exist.. Stack trace:\n0. x", code=60),
         ClickHouseQueryError, "code 60: Table sales.nope doesn't exist."),
        (errors.ServerException("DB::Exception: Timeout exceeded: elapsed 3.0 seconds", code=159),
         ClickHouseRetryableError, "code 159"),
        (errors.ServerException("DB::Exception: Too many simultaneous queries", code=202),
         ClickHouseRetryableError, "code 202"),
        (errors.ServerException("DB::Exception: Wrong password for user etl", code=193),
         ClickHouseConfigError, "code 193"),
        (errors.NetworkError("Connection refused (127.0.0.1:1)"), ClickHouseRetryableError, "Connection refused"),
        (errors.SocketTimeoutError("Code: 209. timed out"), ClickHouseRetryableError, "209"),
        (TimeoutError("timed out"), ClickHouseRetryableError, "TimeoutError"),
        (EOFError("Unexpected EOF while reading bytes"), ClickHouseRetryableError, "EOF"),
        (ConnectionResetError(104, "Connection reset by peer"), ClickHouseRetryableError, "reset"),
        (RuntimeError("Code: 62. DB::Exception: Syntax error: failed at position 1. (SYNTAX_ERROR)"),
         ClickHouseQueryError, "code 62 SYNTAX_ERROR"),
        (RuntimeError("Code: 115. DB::Exception: Unknown setting foo. (UNKNOWN_SETTING)"),
         ClickHouseQueryError, "code 115 UNKNOWN_SETTING"),
        (RuntimeError("Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)"),
         ClickHouseRetryableError, "code 241"),
        (AttributeError("'NoneType' object has no attribute 'encode'"), ClickHouseQueryError, "NoneType"),
    ],
)
def test_classify(exc: BaseException, kind: type, text: str) -> None:
    err = classify(exc, where="h:9000")
    assert type(err) is kind
    assert text in str(err) and "h:9000" in str(err)
    assert "\n" not in str(err)


def test_first_line_drops_the_18_16_stack_trace_and_secrets() -> None:
    assert first_line(STACK_18) == "Table sales.nope doesn't exist."
    err = classify(RuntimeError("Code: 516. DB::Exception: bad password hunter2 for etl. (AUTHENTICATION_FAILED)"),
                   where="h", secrets=("hunter2", None))
    assert isinstance(err, ClickHouseConfigError)
    assert "hunter2" not in str(err) and "***" in str(err)
    assert len(first_line("x" * 5000)) < 500


def test_json_converter_covers_nested_types() -> None:
    assert json_converter("Nullable(Decimal(12, 2))")("1.10") == Decimal("1.10")
    assert json_converter("Nullable(Decimal(12, 2))")(None) is None
    assert json_converter("Array(Nullable(DateTime('UTC')))")(["2026-01-01 00:00:00", None]) == [
        datetime(2026, 1, 1, 3, 0, tzinfo=MSK), None
    ]
    assert json_converter("Tuple(a UInt64, b Decimal(9, 2))")(["5", "1.5"]) == (5, Decimal("1.5"))
    assert json_converter("Map(String, Int64)")({"a": "-3"}) == {"a": -3}
    assert json_converter("LowCardinality(Nullable(String))")("x") == "x"
    assert json_converter("UUID")("00000000-0000-0000-0000-000000000001") == UUID(int=1)
    assert json_converter("DateTime64(3, 'Europe/Moscow')")("2026-01-01 10:00:00.123") == datetime(
        2026, 1, 1, 10, 0, 0, 123000, tzinfo=MSK)
    assert json_converter("DateTime")("2026-01-01 10:00:00").tzinfo == MSK


def test_normalize_driver_rows_makes_naive_server_datetimes_aware() -> None:
    rows = [(datetime(2026, 1, 1, 7, 0), [datetime(2026, 1, 1, 7, 0)], 1)]
    got = normalize_driver_rows(rows, ["DateTime", "Array(DateTime)", "UInt8"], "UTC")
    assert got == [(datetime(2026, 1, 1, 10, 0, tzinfo=MSK), [datetime(2026, 1, 1, 10, 0, tzinfo=MSK)], 1)]
    assert got[0][0].tzinfo == MSK


def test_inline_insert_values_is_refused_but_insert_select_is_not() -> None:
    for sql in ("INSERT INTO t VALUES (1, 'x')", "  insert into db.t (a, b)\n values\n(1, 2)"):
        with pytest.raises(ClickHouseQueryError, match="hook.insert"):
            reject_inline_values(sql)
    reject_inline_values("INSERT INTO t SELECT * FROM s WHERE note = 'VALUES (1)'")
    reject_inline_values("SELECT 'INSERT INTO t VALUES (1)'")


@pytest.mark.parametrize(("extra", "secure", "verify"), [
    ({}, False, True),
    ({"secure": "false", "verify": "false"}, False, False),  # as typed in the UI: a string, not a truthy one
    ({"secure": True, "verify": "yes"}, True, True),
    ({"secure": "1", "verify": 0}, True, False),
])
def test_tls_flags_are_parsed_not_truthy(monkeypatch: pytest.MonkeyPatch, extra: dict, secure: bool,
                                         verify: bool) -> None:
    import json

    from qtickets.hooks.clickhouse import ClickHouseHook

    monkeypatch.setenv("AIRFLOW_CONN_CH_TLS", json.dumps({"conn_type": "qtickets_clickhouse", "host": "ch", "extra": extra}))
    kwargs = ClickHouseHook(clickhouse_conn_id="ch_tls")._client_kwargs()
    assert (kwargs["secure"], kwargs["verify"]) == (secure, verify)


def test_tls_flag_that_is_not_a_boolean_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from qtickets.hooks.clickhouse import ClickHouseHook

    monkeypatch.setenv("AIRFLOW_CONN_CH_TLS", json.dumps({"conn_type": "qtickets_clickhouse", "extra": {"secure": "maybe"}}))
    with pytest.raises(ClickHouseConfigError, match="'secure' must be true or false, got 'maybe'"):
        ClickHouseHook(clickhouse_conn_id="ch_tls")._client_kwargs()
