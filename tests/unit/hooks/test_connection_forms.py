"""The connection forms (provider ``conn-fields``) offer every setting the README documents, each with
help, and a form saved with empty fields (explicit nulls in the extra) means the defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qtickets import get_provider_info

README = Path(__file__).resolve().parents[3] / "README.md"


def _documented_extras() -> dict[str, set[str]]:
    """conn type -> the extras the README's Connections table names."""
    section = README.read_text().split("## Connections", 1)[1].split("\n## ", 1)[0]
    found: dict[str, set[str]] = {}
    conn_type = None
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or cells[0] in {"conn id", "---"}:
            continue
        if cells[1]:
            conn_type = cells[1].strip("`")
        if conn_type in {"qtickets", "qtickets_partners", "qtickets_clickhouse"} and cells[2].startswith("extra"):
            found.setdefault(conn_type, set()).update(re.findall(r"`(\w+)`", cells[2]))
    return found


def test_every_documented_setting_is_a_form_field_with_help():
    forms = {c["connection-type"]: c["conn-fields"] for c in get_provider_info()["connection-types"]}
    documented = _documented_extras()
    assert {"verify", "settings", "sync_request_timeout", "secure", "compression"} <= documented["qtickets_clickhouse"]
    assert "post_fallback" in documented["qtickets"] and "concurrency" in documented["qtickets_partners"]
    for conn_type, extras in documented.items():
        assert extras <= set(forms[conn_type]), (conn_type, extras - set(forms[conn_type]))
        for name, field in forms[conn_type].items():
            assert field.get("description", "").strip(), f"{conn_type}.{name} has no help text"
            assert "null" in field["schema"]["type"], f"{conn_type}.{name}: an empty field must be allowed"


def test_post_fallback_help_warns_that_post_creates_records():
    forms = {c["connection-type"]: c["conn-fields"] for c in get_provider_info()["connection-types"]}
    help_text = forms["qtickets"]["post_fallback"]["description"]
    assert "/clients" in help_text and "/events" in help_text and "creates records" in help_text


def _nulls(conn_type: str) -> dict[str, None]:
    forms = {c["connection-type"]: c["conn-fields"] for c in get_provider_info()["connection-types"]}
    return dict.fromkeys(forms[conn_type])


def test_a_form_saved_with_empty_fields_means_the_defaults(monkeypatch: pytest.MonkeyPatch):
    from qtickets.hooks.clickhouse import ClickHouseHook
    from qtickets.hooks.qtickets import QticketsHook

    monkeypatch.setenv("AIRFLOW_CONN_CH_NULLS", json.dumps({
        "conn_type": "qtickets_clickhouse", "host": "ch.internal", "schema": "zakaz", "extra": _nulls("qtickets_clickhouse")}))
    kwargs = ClickHouseHook(clickhouse_conn_id="ch_nulls")._client_kwargs()
    assert (kwargs["secure"], kwargs["verify"], kwargs["settings"], "compression" in kwargs) == (False, True, {}, False)
    assert (kwargs["connect_timeout"], kwargs["send_receive_timeout"], kwargs["sync_request_timeout"]) == (10, 120, 5)
    assert not ClickHouseHook(clickhouse_conn_id="ch_nulls").is_embedded

    monkeypatch.setenv("AIRFLOW_CONN_QT_NULLS", json.dumps({
        "conn_type": "qtickets", "host": "https://qtickets.ru/api/rest/v1", "password": "t0ken",
        "extra": _nulls("qtickets")}))
    s = QticketsHook(qtickets_conn_id="qt_nulls").settings
    assert (s.read_timeout, s.connect_timeout, s.max_retries, s.concurrency) == (60, 10, None, 4)
    assert (s.filter_transport, s.post_fallback) == ("get_body", False)


def test_clickhouse_test_connection_checks_the_database(embedded_clickhouse, ch_database):
    from qtickets.hooks.clickhouse import ClickHouseHook

    ok, message = ClickHouseHook(clickhouse_conn_id=embedded_clickhouse).test_connection()
    assert ok, message
    assert ch_database in message and "exists" in message
