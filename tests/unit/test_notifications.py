"""Alert messages, secret scrubbing, channel enablement, DAG-level dedup and the deadline alert shape.

Delivery over sockets is in ``tests/integration/test_notifications_delivery.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from qtickets import notifications as n
from qtickets.exceptions import (
    DataQualityError,
    QticketsApiError,
    QticketsAuthError,
    QticketsTransientError,
    StaleDataError,
)
from qtickets.redaction import redact

RUN_ID = "scheduled__2026-11-22T12:00:00+00:00"
LOG_URL = "http://airflow.local/dags/qtickets_api/runs/scheduled__2026/tasks/load_orders?try_number=4"


@pytest.fixture(autouse=True)
def _no_alert_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    for conn_id in n.CHANNEL_CONN_IDS.values():
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)


def _ti(**overrides: Any) -> SimpleNamespace:
    fields = {"dag_id": "qtickets_api", "run_id": RUN_ID, "task_id": "load_orders", "map_index": -1,
              "try_number": 4, "log_url": LOG_URL, "task": None}
    return SimpleNamespace(**{**fields, **overrides})


def _context(exc: Any, **ti_overrides: Any) -> dict[str, Any]:
    ti = _ti(**ti_overrides)
    return {"ti": ti, "task_instance": ti, "exception": exc, "run_id": ti.run_id}


# ------------------------------------------------------------------------------------------- messages


def test_task_failure_message_names_dag_run_task_error_and_log() -> None:
    alert = n.build_task_failure_alert(_context(ValueError("bad row in page 3\nTraceback detail")))

    lines = alert.text.splitlines()
    assert "DAG: qtickets_api" in lines
    assert f"Run: {RUN_ID}" in lines
    assert "Task: load_orders (attempt 4)" in lines
    assert "Error: ValueError: bad row in page 3" in lines
    assert f"Log: {LOG_URL}" in lines
    assert "Traceback detail" not in alert.text  # first line only
    assert alert.subject == "[Airflow] qtickets_api: load_orders - task failed"


def test_vendor_error_fields_are_included_even_when_wrapped() -> None:
    vendor = QticketsTransientError("GET /orders: 503 after 5 attempts", status=503, code="UNKNOWN_ERROR",
                                    request_id="req-42")
    try:
        try:
            raise vendor
        except QticketsApiError as inner:
            raise RuntimeError("load_orders gave up") from inner
    except RuntimeError as outer:
        alert = n.build_task_failure_alert(_context(outer))

    assert "http_status: 503 | error_code: UNKNOWN_ERROR | request_id: req-42" in alert.text.splitlines()


def test_long_error_line_is_truncated() -> None:
    alert = n.build_task_failure_alert(_context(RuntimeError("x" * 5000)))

    [error] = [line for line in alert.text.splitlines() if line.startswith("Error:")]
    assert len(error) <= len("Error: RuntimeError: ") + n.MAX_ERROR_CHARS
    assert error.endswith("…")


def test_mapped_task_is_named_by_its_rendered_map_index() -> None:
    alert = n.build_task_failure_alert(_context(RuntimeError("x"), map_index=2, rendered_map_index="orders"))

    assert "Task: load_orders[orders] (attempt 4)" in alert.text


def test_missing_exception_is_explained() -> None:
    alert = n.build_task_failure_alert(_context(None))

    assert "no exception was captured" in alert.text


@pytest.mark.parametrize(
    ("error", "message", "headline"),
    [(StaleDataError, "orders_coverage: hole 2026-11-30 10:00:00 UTC .. 2026-11-30 11:00:00 UTC",
      "Data is stale (freshness or coverage check failed)"),
     (DataQualityError, "2 duplicate keys in stg_orders", "Data-quality check failed (nothing was published)")],
)
def test_data_quality_failures_get_their_own_headline(error: type, message: str, headline: str) -> None:
    alert = n.build_task_failure_alert(_context(error(message), task_id="run_checks"))

    assert alert.text.splitlines()[0] == f"[qtickets_api] {headline}"
    assert message in alert.text


# ---------------------------------------------------------------------------------------------- secrets


def test_tokens_in_exception_text_are_masked() -> None:
    exc = QticketsAuthError(
        "403 from https://qtickets.ru/api/rest/v1/orders?token=abc123SECRET&page=2 "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payloadSECRET.sig password=hunter2secret "
        "api_key: 'k3yS3CRET'",
        status=403,
    )
    alert = n.build_task_failure_alert(_context(exc))

    for secret in ("abc123SECRET", "payloadSECRET", "hunter2secret", "k3yS3CRET"):
        assert secret not in alert.text
    assert "token=***" in alert.text and "http_status: 403" in alert.text


def test_values_known_to_airflows_masker_are_masked() -> None:
    from airflow.sdk.log import mask_secret

    mask_secret("organiser-token-7f3a9c")
    alert = n.build_task_failure_alert(_context(RuntimeError("request with organiser-token-7f3a9c refused")))

    assert "organiser-token-7f3a9c" not in alert.text
    assert "***" in alert.text


@pytest.mark.parametrize(
    "text",
    [
        "posting to https://hooks.slack.com/services/T000/B000/XXXXsecretpath failed",
        "bot 123456789:AAHsecretsecretsecretsecretsecret12 refused",
        "postgresql://airflow:dbSECRETpw@postgres/airflow unreachable",
    ],
)
def test_scrub_masks_webhooks_bot_tokens_and_url_passwords(text: str) -> None:
    scrubbed = redact(text)

    assert "secret" not in scrubbed.lower()


def test_scrub_keeps_ordinary_text() -> None:
    text = "Error: QticketsTransientError: GET /orders 503 | http_status: 503 | request_id: req-42"

    assert redact(text) == text


# ---------------------------------------------------------------------------------------------- channels


def test_no_connection_means_no_channel(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=n.__name__)

    assert n.configured_channels() == []
    assert n.send_alert("text", subject="s") == []
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert [line for line in info if "is off" in line] == [
        f"Alert channel {name} is off: connection {conn_id} is not defined"
        for name, conn_id in n.CHANNEL_CONN_IDS.items()
    ]
    assert info[-1] == "Alert not delivered to any channel (none configured): s"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_channels_are_enabled_by_their_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_ALERTS_SLACK",
                       json.dumps({"conn_type": "slackwebhook", "password": "T/B/X"}))
    assert n.configured_channels() == ["slack"]

    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_ALERTS_TELEGRAM",
                       json.dumps({"conn_type": "telegram", "host": "-1", "password": "1:x"}))
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_ALERTS_SMTP", json.dumps({"conn_type": "smtp", "host": "mail"}))
    assert n.configured_channels() == ["telegram", "slack", "email"]


def test_email_without_recipients_fails_with_a_clear_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_ALERTS_SMTP",
                       json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "password": "smtpSECRETpw"}))

    assert n.send_alert("text", subject="s") == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("extra 'to'" in w for w in warnings)
    assert not any("smtpSECRETpw" in r.getMessage() for r in caplog.records)


def test_callbacks_never_raise_into_the_task() -> None:
    n.on_task_failure({})  # nothing usable in the context
    n.on_dag_failure({"reason": object()})


# ------------------------------------------------------------------------------------------- DAG dedup


def _tasks() -> tuple[Any, Any]:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    with DAG("qtickets_api", schedule=None, default_args={"on_failure_callback": n.on_task_failure}):
        load_orders = EmptyOperator(task_id="load_orders")
        legacy = EmptyOperator(task_id="legacy", on_failure_callback=[])
    return load_orders, legacy


def test_task_failure_already_alerted_by_the_task_is_not_repeated() -> None:
    alerting, _ = _tasks()

    assert n.dag_failure_already_notified({"reason": "task_failure", "ti": _ti(task=alerting)})


@pytest.mark.parametrize("reason", ["timed_out", "all_tasks_deadlocked", None])
def test_other_dag_failure_reasons_alert(reason: str | None) -> None:
    alerting, _ = _tasks()

    assert not n.dag_failure_already_notified({"reason": reason, "ti": _ti(task=alerting)})


def test_task_failure_of_a_task_without_our_callback_alerts_at_dag_level() -> None:
    _, silent = _tasks()

    assert not n.dag_failure_already_notified({"reason": "task_failure", "ti": _ti(task=silent)})


def test_serialized_tasks_are_judged_by_their_callback_flag() -> None:
    """The dag-processor and dag.test may hand over a deserialized task that only knows *that* it has one."""
    from airflow.serialization.serialized_objects import DagSerialization

    load_orders, legacy = _tasks()
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(load_orders.dag))

    assert n.task_alerts_on_failure(serialized.get_task("load_orders"))
    assert not n.task_alerts_on_failure(serialized.get_task("legacy"))


def test_on_dag_failure_skips_sending_when_explained(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=n.__name__)
    alerting, _ = _tasks()

    n.on_dag_failure({"reason": "task_failure", "ti": _ti(task=alerting), "run_id": RUN_ID})
    assert [r.getMessage() for r in caplog.records] == [
        "DAG failure already reported by the failed task's own alert; not sending another"
    ]

    caplog.clear()
    n.on_dag_failure({"reason": "timed_out", "ti": _ti(task=alerting), "run_id": RUN_ID})
    assert any("is off" in r.getMessage() for r in caplog.records)  # it tried the channels


def test_dag_failure_message_explains_the_reason() -> None:
    alert = n.build_dag_failure_alert(
        {"reason": "timed_out", "run_id": RUN_ID, "dag": SimpleNamespace(dag_id="qtickets_api"),
         "ti": _ti(task_id="load_events")}
    )

    assert alert.text.splitlines()[0] == "[qtickets_api] DAG run failed: the run exceeded its dagrun_timeout"
    assert f"Run: {RUN_ID}" in alert.text and "Task: load_events" in alert.text
    assert alert.subject == "[Airflow] qtickets_api: run failed (timed_out)"


# ---------------------------------------------------------------------------------------------- deadline

DEADLINE_CONTEXT = {
    "dag_run": {"dag_id": "qtickets_api", "dag_run_id": "manual__2026-11-22T11:17:06+00:00",
                "state": "running", "queued_at": "2026-11-22T11:17:06.561081+00:00"},
    "deadline": {"id": "01966d3c-0000-7000-8000-000000000001",
                 "deadline_time": "2026-11-22 11:17:16.561081+00:00"},
}


def _run_async(coro) -> None:
    """Await ``coro`` on a fresh loop in its own thread: an earlier test (Playwright's sync API) may leave an
    event loop running in this thread, where ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


def test_deadline_message_uses_the_deadline_context() -> None:
    alert = n.build_deadline_alert(DEADLINE_CONTEXT, note="Runs must finish within 0:45:00")

    lines = alert.text.splitlines()
    assert lines[0] == "[qtickets_api] Run missed its deadline"
    assert "Run: manual__2026-11-22T11:17:06+00:00" in lines
    assert "Deadline: 2026-11-22 11:17:16.561081+00:00" in lines
    assert "Runs must finish within 0:45:00" in lines
    assert any(line.endswith("/dags/qtickets_api/runs/manual__2026-11-22T11%3A17%3A06%2B00%3A00") for line in lines)
    assert alert.subject == "[Airflow] qtickets_api: run missed its deadline"


def test_deadline_notifier_async_notify_renders_its_note(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=n.__name__)
    notifier = n.QticketsDeadlineNotifier(note="late: {{ dag_run.dag_id }}", context=dict(DEADLINE_CONTEXT))

    async def run() -> None:
        await notifier

    _run_async(run())

    assert notifier.note == "late: qtickets_api"
    assert notifier.sent == []  # no channel configured
    assert any("Alert not delivered" in r.getMessage() and "qtickets_api" in r.getMessage()
               for r in caplog.records)


def test_deadline_of_a_run_that_already_failed_sends_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=n.__name__)
    failed = {**DEADLINE_CONTEXT, "dag_run": {**DEADLINE_CONTEXT["dag_run"], "state": "failed"}}
    notifier = n.QticketsDeadlineNotifier(note="late", context=failed)

    async def run() -> None:
        await notifier

    _run_async(run())

    messages = [r.getMessage() for r in caplog.records]
    assert any("had already failed" in m for m in messages)
    assert not any("Alert not delivered" in m for m in messages)  # no send was even attempted
    assert notifier.sent == []


def test_deadline_alert_shape_and_serialized_callback() -> None:
    from airflow.sdk import AsyncCallback, DeadlineReference

    alert = n.deadline_alert(timedelta(minutes=45))

    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == timedelta(minutes=45)
    assert alert.name == n.DEADLINE_ALERT_NAME
    assert isinstance(alert.callback, AsyncCallback)
    serialized = alert.callback.serialize()
    assert serialized["path"] == "qtickets.notifications.QticketsDeadlineNotifier"
    assert serialized["kwargs"] == {"note": "Runs must finish within 0:45:00 of being queued."}


@pytest.mark.parametrize("interval", [timedelta(0), timedelta(minutes=-5), 45])
def test_deadline_alert_rejects_bad_intervals(interval: Any) -> None:
    with pytest.raises(ValueError, match="positive timedelta"):
        n.deadline_alert(interval)
