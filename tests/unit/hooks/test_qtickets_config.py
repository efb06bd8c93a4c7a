"""QticketsHook configuration: connection parsing, session, headers, config errors."""

from __future__ import annotations

import json

import pytest
import requests_mock

from qtickets import __version__
from qtickets.exceptions import QticketsConfigError
from qtickets.hooks._http import settings_from_connection
from qtickets.hooks.qtickets import QticketsHook, QticketsPartnersHook

TOKEN = "s3cret-token-0123456789"
BASE = "https://qt.test/api/rest/v1"


def _set_conn(monkeypatch: pytest.MonkeyPatch, name: str = "QTICKETS_DEFAULT", **fields) -> None:
    conn = {"conn_type": "qtickets", "host": BASE, "password": TOKEN, **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(conn))


def test_init_does_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_QTICKETS_DEFAULT", raising=False)
    hook = QticketsHook()  # the connection does not exist: must not matter until first use
    assert hook.qtickets_conn_id == "qtickets_default"
    with pytest.raises(QticketsConfigError, match="qtickets_default.*not defined"):
        _ = hook.settings


def test_class_attributes() -> None:
    assert (QticketsHook.conn_name_attr, QticketsHook.default_conn_name, QticketsHook.conn_type) == (
        "qtickets_conn_id", "qtickets_default", "qtickets")
    assert (QticketsPartnersHook.conn_name_attr, QticketsPartnersHook.default_conn_name,
            QticketsPartnersHook.conn_type) == (
        "qtickets_partners_conn_id", "qtickets_partners_default", "qtickets_partners")
    assert QticketsPartnersHook().qtickets_partners_conn_id == "qtickets_partners_default"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch)
    s = QticketsHook().settings
    assert (s.base_url, s.timeout, s.retry_budget, s.max_retries, s.backoff_base, s.backoff_max) == (
        BASE, (10.0, 60.0), 600.0, None, 1.0, 30.0)  # the budget bounds retries; no count cap
    assert (s.concurrency, s.filter_transport, s.post_fallback) == (4, "get_body", False)


def test_all_arguments_from_string_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"timeout": "7.5", "connect_timeout": "3", "max_retries": "2", "backoff_base": "0.5",
             "backoff_max": "4", "concurrency": "99", "filter_transport": "GET_QUERY", "post_fallback": "true",
             "retry_budget": "90"}
    _set_conn(monkeypatch, extra=extra)
    s = QticketsHook().settings
    assert s.timeout == (3.0, 7.5)
    assert (s.retry_budget, s.max_retries, s.backoff_base, s.backoff_max) == (90.0, 2, 0.5, 4.0)
    assert s.concurrency == 16  # clamped
    assert (s.filter_transport, s.post_fallback) == ("get_query", True)


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        pytest.param("http://127.0.0.1:8765/api/rest/v1/", None, None, "http://127.0.0.1:8765/api/rest/v1",
                     id="full URL in host, trailing slash dropped"),
        pytest.param("qtickets.ru/api/rest/v1", None, None, "https://qtickets.ru/api/rest/v1",
                     id="no scheme defaults to https"),
        pytest.param("127.0.0.1/api", "http", 8080, "http://127.0.0.1:8080/api", id="schema and port"),
    ],
)
def test_base_url(host: str, schema: str | None, port: int | None, expected: str) -> None:
    s = settings_from_connection("c", host=host, schema=schema, port=port, password="t", extra={})
    assert s.base_url == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"password": None}, r"'qtickets_default' has no API token: set the Password", id="no token"),
        pytest.param({"password": "   "}, r"has no API token", id="blank token"),
        pytest.param({"host": None}, r"'qtickets_default' has no host: set the Host", id="no host"),
        pytest.param({"host": "qt.test", "schema": "api/v1"}, r"schema 'api/v1' is not a URL scheme",
                     id="schema is a path"),
        pytest.param({"extra": {"timeout": "soon"}}, r"extra 'timeout' must be a number", id="bad timeout"),
        pytest.param({"extra": {"filter_transport": "post"}}, r"filter_transport='post' is not one of",
                     id="bad transport"),
        pytest.param({"extra": {"post_fallback": "maybe"}}, r"'post_fallback' must be true or false",
                     id="bad bool"),
        pytest.param({"extra": {"retry_budget": -1}}, r"'retry_budget'=-1 is out of range \[0, 86400",
                     id="negative budget"),
        pytest.param({"extra": {"retry_budget": 86401}}, r"'retry_budget'=86401 is out of range",
                     id="budget over a day"),
        pytest.param({"extra": {"retry_budget": "ten minutes"}}, r"extra 'retry_budget' must be a number",
                     id="budget not a number"),
        pytest.param({"extra": {"max_retries": -1}}, r"'max_retries'=-1 is out of range", id="negative cap"),
        pytest.param({"extra": {"max_retries": 2.5}}, r"'max_retries' must be a whole number", id="fractional cap"),
    ],
)
def test_config_errors(monkeypatch: pytest.MonkeyPatch, fields: dict, message: str) -> None:
    _set_conn(monkeypatch, **fields)
    hook = QticketsHook()
    with requests_mock.Mocker() as m:
        with pytest.raises(QticketsConfigError, match=message):
            hook.request_json("GET", "orders")
        assert m.call_count == 0  # never a request with "Bearer " and nothing after it


@pytest.mark.parametrize(
    ("extra", "budget", "cap"),
    [
        pytest.param({}, 600.0, None, id="defaults"),
        pytest.param({"retry_budget": 0, "max_retries": 0}, 0.0, 0, id="zero: no retries"),
        pytest.param({"retry_budget": 86400, "max_retries": "7"}, 86400.0, 7, id="upper budget, string cap"),
        pytest.param({"retry_budget": "", "max_retries": ""}, 600.0, None, id="blank URI extras are unset"),
        pytest.param({"max_retries": None}, 600.0, None, id="null cap"),
    ],
)
def test_retry_budget_and_cap(extra: dict, budget: float, cap: int | None) -> None:
    s = settings_from_connection("c", host=BASE, schema=None, port=None, password="t", extra=extra)
    assert (s.retry_budget, s.max_retries) == (budget, cap)


def test_config_error_also_fails_test_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, password=None)
    ok, message = QticketsHook().test_connection()
    assert not ok and "Password" in message


def test_session_is_cached_and_get_conn_returns_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch)
    hook = QticketsHook()
    assert hook.session is hook.session
    assert hook.get_conn() is hook.session


def test_headers_and_no_extra_derived_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ints and bools in extras break a plain HttpHook (InvalidHeader) and leak settings as headers.
    extra = {"timeout": 5, "connect_timeout": 2, "concurrency": 2, "post_fallback": False,
             "max_retries": 1, "X-Custom": "nope"}
    _set_conn(monkeypatch, extra=extra)
    hook = QticketsHook()
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/orders/1", json={"data": {"id": 1}})
        assert hook.request_json("GET", "orders/1") == {"data": {"id": 1}}
        sent = m.last_request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["User-Agent"] == f"qtickets-airflow/{__version__}"
    assert sent.headers["Accept"] == "application/json"
    lowered = {k.lower() for k in sent.headers}
    assert not lowered & {"timeout", "connect_timeout", "concurrency", "post_fallback", "max_retries", "x-custom"}
    assert sent.timeout == (2.0, 5.0)


def test_a_netrc_entry_for_the_vendor_does_not_replace_the_token(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # requests reads ~/.netrc on every request of a session that trusts the environment, and its Basic auth
    # would overwrite the Bearer header: the vendor would answer 401 to a valid token.
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine qt.test login someone password other-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    _set_conn(monkeypatch)
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/orders/1", json={"data": {"id": 1}})
        QticketsHook().request_json("GET", "orders/1")
        assert m.last_request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(("no_proxy", "expected"), [("", {"https": "http://proxy.test:3128"}), ("qt.test", {})])
def test_proxy_and_ca_bundle_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, no_proxy: str,
                                                           expected: dict) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "no_proxy", "NO_PROXY", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp-ca.pem")
    _set_conn(monkeypatch)
    session = QticketsHook().session
    assert session.proxies == expected
    assert session.verify == "/etc/corp-ca.pem"


def test_default_timeout_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch)
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/color-themes", json={"data": [{"id": 1, "color": "#d80000"}]})
        ok, message = QticketsHook().test_connection()
        assert m.last_request.timeout == (10.0, 60.0)
    assert ok, message
    assert "1 colour themes" in message and TOKEN not in message


def test_uri_connection_with_string_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_QT_URI", f"qtickets://:{TOKEN}@qt.test:8443/https?timeout=9&concurrency=2"
    )
    s = QticketsHook(qtickets_conn_id="qt_uri").settings
    assert s.base_url == "https://qt.test:8443"
    assert (s.read_timeout, s.concurrency) == (9.0, 2)
