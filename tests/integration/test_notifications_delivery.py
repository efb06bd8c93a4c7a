"""Alert delivery over real loopback sockets: fake Slack webhook, fake SMTP server, fake Telegram Bot API.

The fakes are stdlib servers on ephemeral 127.0.0.1 ports; the real provider hooks (SlackWebhookHook,
SmtpHook, TelegramHook over python-telegram-bot) talk to them. ``fake_slack`` is reused by the DAG
end-to-end tests: it sets ``AIRFLOW_CONN_QTICKETS_ALERTS_SLACK`` and collects the posted JSON bodies.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from qtickets import notifications as n
from qtickets.exceptions import QticketsTransientError
from tests.fakes import SLACK_TOKEN, TELEGRAM_TOKEN, FakeHttpEndpoint, FakeSmtp, body_text

pytestmark = pytest.mark.integration

@pytest.fixture(autouse=True)
def _no_alert_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test with all channels off, whatever the developer's shell exports."""
    for conn_id in n.CHANNEL_CONN_IDS.values():
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)



def _failed_task_context(exc: BaseException, task: Any = None) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="qtickets_api", run_id="scheduled__2026-11-22T12:00:00+00:00",
                         task_id="load_orders", map_index=-1, try_number=4,
                         log_url="http://airflow.local/dags/qtickets_api/runs/r1/tasks/load_orders", task=task)
    return {"ti": ti, "task_instance": ti, "exception": exc, "run_id": ti.run_id, "task": task}


# ------------------------------------------------------------------------------------------------ tests


def test_slack_delivers_exactly_one_post_with_the_text(fake_slack: FakeHttpEndpoint) -> None:
    sent = n.send_alert("orders load failed\nsecond line", subject="subject")

    assert sent == ["slack"]
    assert fake_slack.messages == [{"text": "orders load failed\nsecond line"}]
    assert fake_slack.paths == [f"/services/{SLACK_TOKEN}"]


def test_smtp_delivers_one_mail_to_every_recipient(fake_smtp: FakeSmtp) -> None:
    sent = n.send_alert("a <b> & c", subject="[Airflow] qtickets_api failed")

    assert sent == ["email"]
    assert len(fake_smtp.messages) == 1
    mail = fake_smtp.messages[0]
    assert mail["from"] == "airflow@example.com"
    assert mail["rcpt"] == ["oncall@example.com", "data@example.com"]
    assert mail["message"]["Subject"] == "[Airflow] qtickets_api failed"
    assert "a &lt;b&gt; &amp; c" in body_text(mail["message"])


def test_telegram_delivers_plain_text_to_the_chat(fake_telegram: FakeHttpEndpoint) -> None:
    sent = n.send_alert("load <orders> failed", subject="s")

    assert sent == ["telegram"]
    assert fake_telegram.paths == [f"/bot{TELEGRAM_TOKEN}/sendMessage"]
    [params] = fake_telegram.messages
    assert params["text"] == "load <orders> failed"
    assert str(params["chat_id"]).strip('"') == "-100123"
    assert "parse_mode" not in params  # plain text: "<" in an error cannot break Telegram's HTML parser


def test_every_channel_gets_the_task_failure_once(
    fake_slack: FakeHttpEndpoint, fake_smtp: FakeSmtp, fake_telegram: FakeHttpEndpoint
) -> None:
    exc = QticketsTransientError("GET /orders failed after 5 attempts", status=503, code="UNKNOWN_ERROR")
    n.on_task_failure(_failed_task_context(exc))

    texts = [fake_slack.messages[0]["text"], fake_telegram.messages[0]["text"],
             body_text(fake_smtp.messages[0]["message"])]
    assert (len(fake_slack.messages), len(fake_telegram.messages), len(fake_smtp.messages)) == (1, 1, 1)
    for text in texts:
        assert "load_orders" in text and "http_status: 503" in text


def test_a_failing_channel_does_not_stop_the_others(
    fake_slack: FakeHttpEndpoint, fake_smtp: FakeSmtp, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Telegram connection without a chat id: the hook refuses to send (a real failure, no network).
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_ALERTS_TELEGRAM",
                       json.dumps({"conn_type": "telegram", "password": TELEGRAM_TOKEN}))

    sent = n.send_alert("freshness check failed", subject="stale")

    assert sent == ["slack", "email"]
    assert len(fake_slack.messages) == 1 and len(fake_smtp.messages) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("telegram failed" in w and "chat_id" in w for w in warnings)
    assert not any(TELEGRAM_TOKEN in r.getMessage() for r in caplog.records)


def test_dag_failure_explained_by_a_task_alert_sends_one_message(fake_slack: FakeHttpEndpoint) -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    with DAG("qtickets_api", schedule=None):
        load_orders = EmptyOperator(task_id="load_orders", on_failure_callback=n.on_task_failure)
    ctx = _failed_task_context(RuntimeError("boom"), task=load_orders)

    n.on_task_failure(ctx)
    n.on_dag_failure({**ctx, "reason": "task_failure"})

    assert len(fake_slack.messages) == 1
    assert "RuntimeError: boom" in fake_slack.messages[0]["text"]


def test_dag_timeout_sends_its_own_message(fake_slack: FakeHttpEndpoint) -> None:
    n.on_dag_failure({"run_id": "manual__1", "reason": "timed_out", "dag": SimpleNamespace(dag_id="qtickets_api")})

    [message] = fake_slack.messages
    assert "dagrun_timeout" in message["text"] and "manual__1" in message["text"]


def test_deadline_notifier_through_the_triggerer_callback(fake_slack: FakeHttpEndpoint) -> None:
    """Run the real ``CallbackTrigger`` the triggerer uses, with the serialized DeadlineAlert callback."""
    from airflow.triggers.callback import CallbackTrigger

    callback = n.deadline_alert(timedelta(minutes=45)).callback.serialize()
    context = {
        "dag_run": {"dag_id": "qtickets_api", "dag_run_id": "scheduled__2026-11-22T12:00:00+00:00",
                    "state": "running", "queued_at": "2026-11-22T12:00:01+00:00"},
        "deadline": {"id": "0195", "deadline_time": "2026-11-22T12:45:01+00:00"},
    }
    trigger = CallbackTrigger(callback_path=callback["path"], callback_kwargs={**callback["kwargs"], "context": context})

    async def run() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(run())

    assert events[-1]["state"] == "success", events
    [message] = fake_slack.messages
    assert "missed its deadline" in message["text"]
    assert "2026-11-22T12:45:01+00:00" in message["text"]
    assert "0:45:00" in message["text"]
