"""Fake alert endpoints over real loopback sockets: Slack webhook, SMTP, Telegram Bot API.

Registered as a pytest plugin in tests/conftest.py, so any test (alerting or a whole DAG run) can
assert what was delivered.
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_string
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

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


def body_text(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    return "".join(
        part.get_payload(decode=True).decode() for part in parts if part.get_content_maintype() == "text"
    )


# --------------------------------------------------------------------------------------------- fixtures



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
