"""Alert delivery over real loopback sockets: fake Slack webhook, fake SMTP server, fake Telegram Bot API.

The fakes are stdlib servers on ephemeral 127.0.0.1 ports; the real provider hooks (SlackWebhookHook,
SmtpHook, TelegramHook over python-telegram-bot) talk to them. ``fake_slack`` is reused by the DAG
end-to-end tests: it sets ``AIRFLOW_CONN_QTICKETS_ALERTS_SLACK`` and collects the posted JSON bodies.
"""

from __future__ import annotations

import asyncio
import json
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_string
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest

from qtickets import notifications as n
from qtickets.exceptions import QticketsTransientError

pytestmark = pytest.mark.integration

SLACK_TOKEN = "T000/B000/XXXXslacksecret"
TELEGRAM_TOKEN = "123456789:AAH-fake-telegram-bot-token-0123456789"


# ------------------------------------------------------------------------------------------------ fakes


@dataclass
class FakeHttpEndpoint:
    """A recording HTTP server; ``messages`` holds every JSON/form body received, in order."""

    server: ThreadingHTTPServer
    messages: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _start_http(reply: Any) -> FakeHttpEndpoint:
    """Start a loopback HTTP server answering every POST with ``reply(body) -> (status, bytes, ctype)``."""
    endpoint: FakeHttpEndpoint

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if "json" in (self.headers.get("Content-Type") or ""):
                body = json.loads(raw)
            else:
                body = {k: v[0] for k, v in parse_qs(raw).items()}
            endpoint.paths.append(self.path)
            endpoint.messages.append(body)
            status, payload, ctype = reply(body)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint = FakeHttpEndpoint(server)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return endpoint


def _telegram_reply(body: dict[str, Any]) -> tuple[int, bytes, str]:
    message = {"message_id": 1, "date": 0, "chat": {"id": int(body.get("chat_id", 0)), "type": "group"},
               "text": body.get("text", "")}
    return 200, json.dumps({"ok": True, "result": message}).encode(), "application/json"


@dataclass
class FakeSmtp:
    """A minimal SMTP server (stdlib socketserver): records each message's envelope and parsed body."""

    server: socketserver.ThreadingTCPServer
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _start_smtp() -> FakeSmtp:
    fake: FakeSmtp

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write((line + "\r\n").encode())

        def handle(self) -> None:
            envelope: dict[str, Any] = {"rcpt": []}
            self.reply("220 fake-smtp ready")
            while line := self.rfile.readline().decode():
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    self.reply("250 fake-smtp")
                elif verb == "MAIL":
                    envelope["from"] = line.split(":", 1)[1].strip().strip("<>")
                    self.reply("250 OK")
                elif verb == "RCPT":
                    envelope["rcpt"].append(line.split(":", 1)[1].strip().strip("<>"))
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    data = []
                    while (chunk := self.rfile.readline().decode()) not in (".\r\n", ""):
                        data.append(chunk[1:] if chunk.startswith("..") else chunk)
                    fake.messages.append({**envelope, "message": message_from_string("".join(data))})
                    envelope = {"rcpt": []}
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("250 OK")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake = FakeSmtp(server)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return fake


def _body_text(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    return "".join(
        part.get_payload(decode=True).decode() for part in parts if part.get_content_maintype() == "text"
    )


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _no_alert_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test with all channels off, whatever the developer's shell exports."""
    for conn_id in n.CHANNEL_CONN_IDS.values():
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)


@pytest.fixture
def fake_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHttpEndpoint]:
    """Fake Slack incoming webhook; ``qtickets_alerts_slack`` points at it. ``.messages`` = JSON bodies."""
    endpoint = _start_http(lambda body: (200, b"ok", "text/plain"))
    conn = {"conn_type": "slackwebhook", "host": f"{endpoint.url}/services", "password": SLACK_TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_ALERTS_SLACK", json.dumps(conn))
    yield endpoint
    endpoint.close()


@pytest.fixture
def fake_smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSmtp]:
    """Fake SMTP server; ``qtickets_alerts_smtp`` points at it (plain SMTP, no TLS)."""
    fake = _start_smtp()
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": fake.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "airflow@example.com",
                  "to": "oncall@example.com, data@example.com", "timeout": 5, "retry_limit": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_ALERTS_SMTP", json.dumps(conn))
    yield fake
    fake.close()


@pytest.fixture
def fake_telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHttpEndpoint]:
    """Fake Telegram Bot API (connection extra ``base_url``); ``.messages`` = sendMessage parameters."""
    endpoint = _start_http(_telegram_reply)
    conn = {"conn_type": "telegram", "host": "-100123", "password": TELEGRAM_TOKEN,
            "extra": {"base_url": f"{endpoint.url}/bot"}}
    monkeypatch.setenv("AIRFLOW_CONN_QTICKETS_ALERTS_TELEGRAM", json.dumps(conn))
    yield endpoint
    endpoint.close()


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
    assert "a &lt;b&gt; &amp; c" in _body_text(mail["message"])


def test_telegram_delivers_plain_text_to_the_chat(fake_telegram: FakeHttpEndpoint) -> None:
    sent = n.send_alert("load <orders> failed", subject="s")

    assert sent == ["telegram"]
    assert fake_telegram.paths == [f"/bot{TELEGRAM_TOKEN}/sendMessage"]
    [params] = fake_telegram.messages
    assert params["text"] == "load <orders> failed"
    assert str(params["chat_id"]).strip('"') == "-100123"
    assert "parse_mode" not in params  # plain text: "<" in an error cannot break Telegram's HTML parser


def test_telegram_notifier_sends_rendered_text(fake_telegram: FakeHttpEndpoint) -> None:
    notifier = n.TelegramNotifier(text="Task {{ ti.task_id }} failed")
    notifier({"ti": SimpleNamespace(task_id="load_orders")})

    assert [m["text"] for m in fake_telegram.messages] == ["Task load_orders failed"]


def test_every_channel_gets_the_task_failure_once(
    fake_slack: FakeHttpEndpoint, fake_smtp: FakeSmtp, fake_telegram: FakeHttpEndpoint
) -> None:
    exc = QticketsTransientError("GET /orders failed after 5 attempts", status=503, code="UNKNOWN_ERROR")
    n.on_task_failure(_failed_task_context(exc))

    texts = [fake_slack.messages[0]["text"], fake_telegram.messages[0]["text"],
             _body_text(fake_smtp.messages[0]["message"])]
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
