"""Alert channels: Telegram, Slack and e-mail (SMTP), each on when its Airflow connection exists.

:func:`send_alert` fans one message out to every configured channel and never raises; a channel's
secrets (bot token, webhook path, SMTP password) are registered with :mod:`qtickets.redaction` when its
connection is read, before the text is redacted and sent.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qtickets.connections import optional_connection
from qtickets.redaction import redact, register_webhook_connection

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

TELEGRAM_CONN_ID = "qtickets_alerts_telegram"
SLACK_CONN_ID = "qtickets_alerts_slack"
SMTP_CONN_ID = "qtickets_alerts_smtp"
CHANNEL_CONN_IDS: dict[str, str] = {
    "telegram": TELEGRAM_CONN_ID,
    "slack": SLACK_CONN_ID,
    "email": SMTP_CONN_ID,
}

SEND_TIMEOUT_S = 10


def _register_channel(conn: Connection | None) -> Connection | None:
    """Register a channel connection's secrets (:func:`qtickets.redaction.register_webhook_connection`)."""
    register_webhook_connection(conn)
    return conn


def configured_channels() -> list[str]:
    """Names of the channels whose connection exists, in send order."""
    return [name for name, conn_id in CHANNEL_CONN_IDS.items()
            if _register_channel(optional_connection(conn_id)) is not None]


def _timeout(conn: Connection) -> int:
    try:
        return int(conn.extra_dejson.get("timeout", SEND_TIMEOUT_S))
    except (TypeError, ValueError):
        return SEND_TIMEOUT_S


def _telegram_hook(conn_id: str, conn: Connection, chat_id: str | None = None) -> Any:
    import telegram
    from airflow.providers.telegram.hooks.telegram import TelegramHook

    _register_channel(conn)
    hook = TelegramHook(telegram_conn_id=conn_id, chat_id=chat_id)
    base_url = conn.extra_dejson.get("base_url")
    if base_url:  # self-hosted Bot API server (and local fakes in tests)
        hook.connection = telegram.Bot(hook.token, base_url=base_url)
    return hook


def _send_telegram(conn: Connection, subject: str, text: str) -> None:
    hook = _telegram_hook(conn.conn_id, conn)
    # parse_mode=None: plain text, so "<" or "&" in an error message cannot break Telegram's HTML parser.
    hook.send_message({"text": text, "parse_mode": None})


def _send_slack(conn: Connection, subject: str, text: str) -> None:
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    hook = SlackWebhookHook(slack_webhook_conn_id=conn.conn_id, timeout=_timeout(conn))
    hook.send_text(text)


def _recipients(conn: Connection) -> list[str]:
    raw = conn.extra_dejson.get("to") or ""
    recipients = [part.strip() for part in str(raw).split(",") if part.strip()]
    if not recipients:
        raise ValueError(
            f"Connection {conn.conn_id!r} has no recipients: set extra 'to' to a comma-separated list of addresses"
        )
    return recipients


def _send_email(conn: Connection, subject: str, text: str) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    recipients = _recipients(conn)
    with SmtpHook(smtp_conn_id=conn.conn_id) as smtp:
        smtp.send_email_smtp(
            to=recipients,
            subject=subject,
            html_content=f"<pre>{html.escape(text)}</pre>",
            from_email=conn.extra_dejson.get("from_email"),
        )


_SENDERS: dict[str, Callable[[Connection, str, str], None]] = {
    "telegram": _send_telegram,
    "slack": _send_slack,
    "email": _send_email,
}


def send_alert(text: str, *, subject: str) -> list[str]:
    """Send ``text`` to every configured channel; return the channels that accepted it.

    Never raises: a missing connection disables its channel (INFO), a failing channel logs a WARNING.
    """
    # Every channel's connection is read (and its secrets registered) before the text is redacted.
    conns: dict[str, Connection] = {}
    for name, conn_id in CHANNEL_CONN_IDS.items():
        try:
            conn = _register_channel(optional_connection(conn_id))
        except Exception as exc:
            log.warning("Alert channel %s: cannot read connection %s: %s", name, conn_id, redact(repr(exc)))
            continue
        if conn is None:
            log.info("Alert channel %s is off: connection %s is not defined", name, conn_id)
            continue
        conns[name] = conn
    text, subject = redact(text), redact(subject)
    sent: list[str] = []
    attempted = 0
    for name, conn in conns.items():
        conn_id = CHANNEL_CONN_IDS[name]
        attempted += 1
        try:
            _SENDERS[name](conn, subject, text)
        except Exception as exc:
            log.warning(
                "Alert channel %s failed to send (%s): %s",
                name,
                conn_id,
                redact(f"{type(exc).__name__}: {exc}"),
            )
            continue
        sent.append(name)
    if not attempted:
        log.info("Alert not delivered to any channel (none configured): %s", subject)
    elif not sent:
        log.warning("Alert not delivered to any channel (all %d failed): %s", attempted, subject)
    return sent
