"""The one redactor (``qtickets.redaction``) and the places that must use it: the hooks' errors (echoed
tokens, malformed tokens and URLs, request ids, envelope errors), the run records and the XCom error
dict. The whole DAG against hostile peers is ``tests/dags/test_secrets_drill.py``."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus

import pytest
import requests
import requests_mock

from qtickets import redaction
from qtickets.exceptions import (
    QticketsApiError,
    QticketsAuthError,
    QticketsConfigError,
    QticketsResponseError,
)
from qtickets.hooks.qtickets import QticketsHook
from qtickets.redaction import redact, redact_data, register_secret, safe_request_id

SECRET = "unit-SECRET/tok+en=4d5e6f708192"
BASE = "https://qt.test/api/rest/v1"


@pytest.fixture(autouse=True)
def _registered() -> None:
    register_secret(SECRET)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "leak",
    [
        pytest.param(SECRET, id="raw"),
        pytest.param(f"Authorization: Bearer {SECRET}", id="header value"),
        pytest.param(json.dumps({"echo": SECRET}).replace("/", "\\/"), id="json slash-escaped"),
        pytest.param("".join(f"\\u{ord(c):04x}" for c in SECRET), id="json unicode-escaped"),
        pytest.param("".join(f"\\u{ord(c):04X}" if i % 2 else c for i, c in enumerate(SECRET)), id="json mixed"),
        pytest.param(quote(SECRET, safe=""), id="quote"),
        pytest.param(re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(SECRET, safe="")),
                     id="quote lower-case hex"),
        pytest.param(quote_plus(f"Bearer {SECRET}"), id="quote_plus"),
        pytest.param(f"next=https%3A%2F%2Fx%2F%3Ftoken%3D{quote(SECRET, safe='')}", id="url in a url"),
        pytest.param(_b64(SECRET), id="base64"),
        pytest.param(_b64(f"Bearer {SECRET}"), id="base64 bearer"),
        pytest.param(_b64(f"etl:{SECRET}"), id="base64 basic auth"),
        pytest.param(base64.urlsafe_b64encode(f"xy{SECRET}".encode()).decode().rstrip("="), id="base64 url-safe"),
        pytest.param(repr(f"Bearer {SECRET}"), id="repr"),
    ],
)
def test_every_form_of_a_registered_secret_is_redacted(leak: str) -> None:
    text = redact(f"before {leak} after")

    assert text.startswith("before ") and text.endswith(" after") and "***" in text
    # Nothing that decodes back to the secret is left.
    assert SECRET not in text and quote(SECRET, safe="") not in text
    assert "4d5e6f708192" not in text


def test_a_secret_pasted_across_lines_is_redacted_whole_and_line_by_line() -> None:
    token = "first-half-abc123\nsecond-half-def456"
    register_secret(token)

    header = f"Bearer {token}"
    message = str(requests.exceptions.InvalidHeader(
        f"Invalid return character or leading space in header: Authorization: {header!r}"))
    assert "half" not in redact(message)
    assert redact("line: first-half-abc123") == "line: ***"
    assert redact("line: second-half-def456") == "line: ***"


def test_short_and_common_values_are_not_registered() -> None:
    for value in ("abc", "false", "True", None, "", 12345):
        register_secret(value)

    assert redact("abc is false, True or 12345") == "abc is false, True or 12345"


def test_airflows_masker_knows_the_secret_and_its_encoded_forms() -> None:
    from airflow.sdk.log import _secrets_masker

    masker = _secrets_masker()
    for form in (SECRET, quote(SECRET, safe=""), quote_plus(SECRET), SECRET.replace("/", "\\/"),
                 _b64(f"Bearer {SECRET}")):
        assert form not in str(masker.redact(f"log line {form}")), form


def test_shapes_are_masked_without_registration_and_ordinary_text_is_kept() -> None:
    text = redact("https://hooks.slack.com/services/T1/B2/abcdef postgresql://u:pw@db/x password=hunter2 "
                  "api_key: 'k3y' Authorization: Bearer abcdefghijklmnop1234")

    for leaked in ("abcdef", "pw@", "hunter2", "k3y", "abcdefghijklmnop1234"):
        assert leaked not in text
    ordinary = ("connection 'qtickets_default' has no API token: set the Password field | request_id=req-42 | "
                "duplicate key: (1, 2)")
    assert redact(ordinary) == ordinary


def test_redact_data_walks_xcom_values() -> None:
    value = {"message": f"x {SECRET}", "nested": [SECRET, 3, None, (SECRET,)], "http_status": 403}

    assert redact_data(value) == {"message": "x ***", "nested": ["***", 3, None, ("***",)], "http_status": 403}


@pytest.mark.parametrize("value, kept", [("req-42", True), ("3f2a:9c.1_x", True), (f"Bearer {SECRET}", False),
                                         (SECRET, False), ("a" * 129, False), ("id with space", False),
                                         ("", False), (None, False)])
def test_request_ids_are_kept_only_when_they_look_like_ids(value, kept) -> None:
    assert safe_request_id(value) == (value if kept else None)


def test_registration_is_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    secrets = [f"thread-secret-{n:04d}-xyz" for n in range(16)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(register_secret, secrets))

    assert redact(" ".join(secrets)) == " ".join(["***"] * 16)


# ------------------------------------------------------------------------------------------------ hooks


def _hook(monkeypatch: pytest.MonkeyPatch, password: str = SECRET, host: str = BASE, **extra) -> QticketsHook:
    conn = {"conn_type": "qtickets", "host": host, "password": password,
            "extra": {"max_retries": 1, "backoff_base": 0, **extra}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_DEFAULT", json.dumps(conn))
    return QticketsHook(sleep=lambda s: None)


def _everything(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), json.dumps(getattr(exc, "as_dict", dict)(), default=str)]
    return "\n".join(parts)


def test_a_token_echoed_in_the_request_id_header_is_not_a_request_id(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch)
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/orders", status_code=503, headers={"X-Request-ID": f"Bearer {SECRET}"},
              json={"error": "Unknown error", "status": 503})
        with pytest.raises(QticketsApiError) as info:
            hook.request_json("GET", "orders")
        m.get(f"{BASE}/events", status_code=403, headers={"X-Request-ID": "req-7f3a"}, json={"error": "no"})
        with pytest.raises(QticketsAuthError) as auth:
            hook.request_json("GET", "events")

    assert info.value.request_id is None and SECRET not in _everything(info.value)
    assert auth.value.request_id == "req-7f3a"


@pytest.mark.parametrize("body", [
    pytest.param(json.dumps({"error": f"bad token {SECRET}"}).replace("/", "\\/"), id="json"),
    pytest.param(f"error=bad&token={quote_plus(SECRET)}", id="urlencoded"),
    pytest.param("x" * 500 + SECRET + "y" * 500, id="secret across the preview's cut"),
])
def test_echoed_tokens_never_reach_the_error(monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    hook = _hook(monkeypatch)
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/orders", status_code=403, text=body)
        with pytest.raises(QticketsAuthError) as info:
            hook.request_json("GET", "orders")

    text = _everything(info.value)
    assert "4d5e6f708192" not in text and "4d5e6f70" not in text


@pytest.mark.parametrize("password, problem", [("first-line-0123\nsecond-line-4567", "a line break"),
                                               ("tok3n-part1 with-space-0123", "a space or tab"),
                                               ("tokén-0123456789", "a non-ASCII character")])
def test_a_malformed_token_is_a_config_error_that_names_no_value(monkeypatch: pytest.MonkeyPatch, password: str,
                                                                 problem: str) -> None:
    hook = _hook(monkeypatch, password=password)
    with requests_mock.Mocker() as m, pytest.raises(QticketsConfigError) as info:
        hook.request_json("GET", "orders")

    assert m.call_count == 0
    assert problem in str(info.value) and "Password field" in str(info.value)
    for piece in password.split():
        assert piece not in str(info.value)


def test_requests_errors_that_quote_the_header_are_config_errors_without_their_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch)
    raw = requests.exceptions.InvalidHeader(f"Invalid header value b'Bearer {SECRET}\\n'")
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/orders", exc=raw)
        with pytest.raises(QticketsConfigError) as info:
            hook.request_json("GET", "orders")

    assert "InvalidHeader" in str(info.value) and "token" in str(info.value)
    assert SECRET not in _everything(info.value) and "Bearer" not in str(info.value)
    assert info.value.__suppress_context__ and info.value.__cause__ is None  # no traceback quotes it


@pytest.mark.parametrize("host", ["https://user:pa ss@qt.test/api", "ftp://qt.test/api", "https://qt.test:port/api",
                                  "https://qt.test/api\n/v1"])
def test_a_malformed_base_url_is_a_config_error_that_does_not_quote_it(monkeypatch: pytest.MonkeyPatch,
                                                                       host: str) -> None:
    hook = _hook(monkeypatch, host=host)
    with pytest.raises(QticketsConfigError, match="Host field is not a valid http") as info:
        hook.request_json("GET", "orders")

    assert host not in str(info.value) and "qt.test" not in str(info.value)


def test_an_unreadable_paging_names_its_fields_and_types_never_its_values(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch)
    buyer = {"id": 1, "client": {"email": "ivan@example.ru", "phone": "+79001234567", "name": "Иван"},
             "payment_url": "https://qtickets.ru/pay/abc", "cancel_url": "https://qtickets.ru/cancel-order/x/y",
             "payment_card_number": "400000******1234"}
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/orders", json={"data": [buyer], "paging": {"perPage": 50, "total": buyer}})
        with pytest.raises(QticketsResponseError) as info:
            list(hook.iter_pages("orders"))

    text = _everything(info.value)
    assert "total: dict" in text and "perPage: int" in text
    for value in ("ivan@example.ru", "79001234567", "Иван", "qtickets.ru/pay", "cancel-order", "1234"):
        assert value not in text, value


def test_run_records_and_the_xcom_error_dict_are_redacted() -> None:
    from qtickets.pipeline import error_details
    from qtickets.warehouse.runs import RUN_COLUMNS, RunRecord

    exc = QticketsAuthError(f"refused {SECRET}", status=401, request_id=SECRET,
                            body_preview=quote(SECRET, safe=""))
    details = error_details(exc)
    assert SECRET not in json.dumps(details) and details["request_id"] is None
    assert "4d5e6f708192" not in json.dumps(error_details(RuntimeError(f"x {SECRET}")))

    now = datetime(2026, 11, 30, tzinfo=UTC)
    record = RunRecord(job="j", run_id="r", status="failed", started_at=now, finished_at=now,
                       message={"note": SECRET}, error_code=SECRET, request_id=f"Bearer {SECRET}",
                       error_message=f"{'x' * 1990}{SECRET}")
    row = dict(zip(RUN_COLUMNS, record.as_row(), strict=True))
    assert "4d5e6f70" not in json.dumps(row, default=str)
    assert row["request_id"] == ""


def test_registry_is_process_wide() -> None:
    assert redaction.contains_secret(f"..{SECRET}..")
