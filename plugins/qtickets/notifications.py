"""Alerting for the ``qtickets_api`` DAG: failure callbacks, a deadline notifier and channel fan-out.

Channels are switched on by the presence of their Airflow connection, so a deployment chooses its
channels without a code change:

=========  ==========================  =====================================================
channel    conn id                     fields
=========  ==========================  =====================================================
telegram   qtickets_alerts_telegram    password = bot token, host = chat id,
                                       extra ``base_url`` (optional, self-hosted Bot API)
slack      qtickets_alerts_slack       conn type ``slackwebhook``: host + password = webhook
email      qtickets_alerts_smtp        conn type ``smtp``; extra ``to`` (comma-separated),
                                       ``from_email``
=========  ==========================  =====================================================

A missing connection silently disables its channel; a channel that fails logs a WARNING and never
stops the others or raises into the task. Every message, and every delivery error logged, goes through
:func:`qtickets.redaction.redact` (registered secrets in any encoding, Airflow's masker, and patterns
for bearer tokens, bot tokens, webhook paths and ``password=``/``token=`` values); each channel's
secrets (bot token, webhook path, SMTP password) are registered when its connection is read.

One failure, one message: tasks alert from ``on_failure_callback`` (Airflow calls it only after the
last retry); the DAG-level callback stays quiet when the run failed because of a task whose own
callback already alerted (``reason == "task_failure"``) and speaks for the other reasons
(``timed_out``, ``all_tasks_deadlocked``) — see ``docs/alerting.md``.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import AsyncCallback, BaseHook, BaseNotifier, DeadlineAlert, DeadlineReference

from qtickets.connections import optional_connection
from qtickets.exceptions import DataQualityError, QticketsApiError, StaleDataError
from qtickets.redaction import redact, register_connection, register_secret

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

MAX_ERROR_CHARS = 300
MAX_MESSAGE_CHARS = 3500  # Telegram caps a message at 4096 characters
SEND_TIMEOUT_S = 10
DEADLINE_ALERT_NAME = "qtickets_run_deadline"

_DAG_FAILURE_REASONS = {
    "timed_out": "the run exceeded its dagrun_timeout",
    "all_tasks_deadlocked": "tasks are deadlocked: nothing left can be scheduled",
    "task_failure": "a task failed",
}

def _register_channel(conn: Connection | None) -> Connection | None:
    """Register a channel connection's secrets: password (bot token, webhook path or URL, SMTP password)
    and, for a full webhook URL, the path after ``/services/`` on its own."""
    if conn is not None:
        register_connection(conn)
        for value in (conn.password, conn.host):
            if isinstance(value, str) and "/services/" in value:
                register_secret(value.split("/services/", 1)[1].strip("/"))
    return conn


@dataclass(frozen=True)
class Alert:
    """A rendered alert: one subject line and a plain-text body (already redacted)."""

    subject: str
    text: str


# --------------------------------------------------------------------------------------------- messages


def _first_line(value: str, limit: int = MAX_ERROR_CHARS) -> str:
    line = next((part.strip() for part in str(value).splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _vendor_error(exc: BaseException | None) -> QticketsApiError | None:
    """Find a vendor error in the exception or its cause/context chain."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, QticketsApiError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def describe_error(exc: BaseException | str | None) -> list[str]:
    """Lines describing an error: ``Type: first line`` and, for vendor errors, status/code/request id."""
    if exc is None:
        return ["Error: no exception was captured (killed, timed out or marked failed from outside)"]
    if isinstance(exc, str):
        return [f"Error: {_first_line(exc)}"]
    lines = [f"Error: {type(exc).__name__}: {_first_line(str(exc))}"]
    vendor = _vendor_error(exc)
    if vendor is not None:
        fields = {"http_status": vendor.status, "error_code": vendor.code, "request_id": vendor.request_id}
        shown = " | ".join(f"{k}: {v}" for k, v in fields.items() if v not in (None, ""))
        if shown:
            lines.append(shown)
    return lines


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from an object or a mapping without letting a broken property raise."""
    try:
        if isinstance(obj, Mapping):
            return obj.get(name, default)
        return getattr(obj, name, default)
    except Exception:
        return default


def _task_label(ti: Any) -> str:
    task_id = _get(ti, "task_id", "?")
    map_index = _get(ti, "map_index", -1)
    if isinstance(map_index, int) and map_index >= 0:
        rendered = _get(ti, "rendered_map_index")
        task_id += f"[{rendered}]" if rendered else f"[{map_index}]"
    return task_id


def _finish(subject: str, lines: list[str]) -> Alert:
    text = redact("\n".join(line for line in lines if line))
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return Alert(subject=redact(subject), text=text)


def _headline(exc: Any) -> str:
    if isinstance(exc, StaleDataError):
        return "Data is stale (freshness or coverage check failed)"
    if isinstance(exc, DataQualityError):
        return "Data-quality check failed (nothing was published)"
    return "Task failed"


def build_task_failure_alert(context: Mapping[str, Any]) -> Alert:
    """Render the message for a task that failed after its last retry."""
    ti = context.get("ti") or context.get("task_instance")
    exc = context.get("exception")
    dag_id = _get(ti, "dag_id") or _get(context.get("dag"), "dag_id", "?")
    run_id = context.get("run_id") or _get(ti, "run_id", "?")
    task = _task_label(ti)
    try_number = _get(ti, "try_number")
    headline = _headline(exc)
    lines = [
        f"[{dag_id}] {headline}",
        f"DAG: {dag_id}",
        f"Run: {run_id}",
        f"Task: {task}" + (f" (attempt {try_number})" if try_number else ""),
        *describe_error(exc),
        f"Log: {_get(ti, 'log_url')}" if _get(ti, "log_url") else "",
    ]
    return _finish(f"[Airflow] {dag_id}: {task} - {headline.lower()}", lines)


def build_dag_failure_alert(context: Mapping[str, Any]) -> Alert:
    """Render the message for a DAG run that failed for a reason no task alert explains."""
    reason = context.get("reason") or "unknown"
    ti = context.get("ti") or context.get("task_instance")
    dag_id = _get(context.get("dag"), "dag_id") or _get(ti, "dag_id", "?")
    run_id = context.get("run_id") or _get(ti, "run_id", "?")
    why = _DAG_FAILURE_REASONS.get(reason, reason)
    lines = [
        f"[{dag_id}] DAG run failed: {why}",
        f"DAG: {dag_id}",
        f"Run: {run_id}",
        f"Reason: {reason}",
        f"Task: {_task_label(ti)}" if ti is not None else "",
        f"Log: {_get(ti, 'log_url')}" if _get(ti, "log_url") else "",
    ]
    return _finish(f"[Airflow] {dag_id}: run failed ({reason})", lines)


def _ui_run_url(dag_id: str, run_id: str) -> str:
    from airflow.sdk.configuration import conf

    base_url = conf.get("api", "base_url", fallback="http://localhost:8080/")
    return f"{base_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}"


def build_deadline_alert(context: Mapping[str, Any], note: str = "") -> Alert:
    """Render the message for a missed Deadline Alert (context = ``{"dag_run": {...}, "deadline": {...}}``)."""
    dag_run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    dag_id = str(_get(dag_run, "dag_id", "?"))
    run_id = str(_get(dag_run, "dag_run_id") or _get(dag_run, "run_id") or "?")
    lines = [
        f"[{dag_id}] Run missed its deadline",
        f"DAG: {dag_id}",
        f"Run: {run_id}",
        f"Deadline: {_get(deadline, 'deadline_time', '?')}",
        f"Queued at: {_get(dag_run, 'queued_at')}" if _get(dag_run, "queued_at") else "",
        f"State: {_get(dag_run, 'state')}" if _get(dag_run, "state") else "",
        note,
        f"Run: {_ui_run_url(dag_id, run_id)}" if run_id != "?" else "",
    ]
    return _finish(f"[Airflow] {dag_id}: run missed its deadline", lines)


# --------------------------------------------------------------------------------------------- channels


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


# --------------------------------------------------------------------------------------------- callbacks


def on_task_failure(context: Mapping[str, Any]) -> None:
    """Task ``on_failure_callback``: Airflow calls it once, after the last retry. Never raises."""
    try:
        alert = build_task_failure_alert(context)
        send_alert(alert.text, subject=alert.subject)
    except Exception:
        log.warning("Task failure alert could not be built or sent", exc_info=True)


def _is_our_task_callback(callback: Any) -> bool:
    return callback is on_task_failure or (
        getattr(callback, "__module__", None) == __name__
        and getattr(callback, "__qualname__", None) == on_task_failure.__qualname__
    )


def task_alerts_on_failure(task: Any) -> bool:
    """Whether ``task`` sends its own failure alert (has :func:`on_task_failure` as a callback)."""
    callbacks = _get(task, "on_failure_callback")
    if callbacks is None:  # mapped operators keep it in partial_kwargs
        callbacks = (_get(task, "partial_kwargs") or {}).get("on_failure_callback")
    if callable(callbacks):
        callbacks = [callbacks]
    if isinstance(callbacks, list | tuple):
        return any(_is_our_task_callback(cb) for cb in callbacks)
    # Serialized operators only know *that* a callback exists, not which one.
    return bool(_get(task, "has_on_failure_callback", False))


def dag_failure_already_notified(context: Mapping[str, Any]) -> bool:
    """True when the run failed because of a task whose own failure callback already alerted."""
    if context.get("reason") != "task_failure":
        return False
    ti = context.get("ti") or context.get("task_instance")
    task = context.get("task") or _get(ti, "task")
    return task is not None and task_alerts_on_failure(task)


def on_dag_failure(context: Mapping[str, Any]) -> None:
    """DAG ``on_failure_callback`` (a plain function: apache/airflow#64649). Alerts only unexplained failures."""
    try:
        if dag_failure_already_notified(context):
            log.info("DAG failure already reported by the failed task's own alert; not sending another")
            return
        alert = build_dag_failure_alert(context)
        send_alert(alert.text, subject=alert.subject)
    except Exception:
        log.warning("DAG failure alert could not be built or sent", exc_info=True)


class TelegramNotifier(BaseNotifier):
    """Send ``text`` to Telegram through ``TelegramHook`` (the telegram provider ships no notifier).

    :param text: message (templated); sent as plain text after :func:`qtickets.redaction.redact`.
    :param telegram_conn_id: connection with the bot token (password) and chat id (host).
    :param chat_id: overrides the connection's chat id.
    """

    template_fields = ("text", "telegram_conn_id", "chat_id")

    def __init__(
        self,
        *,
        text: str,
        telegram_conn_id: str = TELEGRAM_CONN_ID,
        chat_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.text = text
        self.telegram_conn_id = telegram_conn_id
        self.chat_id = chat_id

    def notify(self, context: Any) -> None:
        """Send synchronously (worker, dag-processor, executor callback)."""
        conn = BaseHook.get_connection(self.telegram_conn_id)
        hook = _telegram_hook(self.telegram_conn_id, conn, chat_id=self.chat_id)
        hook.send_message({"text": redact(self.text)[:MAX_MESSAGE_CHARS], "parse_mode": None})

    async def async_notify(self, context: Any) -> None:
        """Send from the triggerer: the sync hook runs in a thread (its comms bridge to the loop)."""
        await asyncio.to_thread(self.notify, context)


class QticketsDeadlineNotifier(BaseNotifier):
    """Deadline Alert callback: tells every configured channel that a run is late.

    Use as ``AsyncCallback(QticketsDeadlineNotifier, kwargs={"note": "..."})`` (runs in the triggerer).
    The deadline context is only ``{"dag_run": {...}, "deadline": {"id", "deadline_time"}}``.

    :param note: extra line for the message (templated, e.g. ``{{ dag_run.dag_id }}``).
    """

    template_fields = ("note",)

    def __init__(self, *, note: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.note = note
        self.sent: list[str] = []

    def notify(self, context: Any) -> None:
        """Fan the deadline message out to the configured channels (never raises)."""
        alert = build_deadline_alert(context, self.note)
        self.sent = send_alert(alert.text, subject=alert.subject)

    async def async_notify(self, context: Any) -> None:
        """Async entry point used by ``AsyncCallback`` in the triggerer."""
        await asyncio.to_thread(self.notify, context)


def deadline_alert(interval: timedelta) -> DeadlineAlert:
    """The DAG's Deadline Alert: a run still unfinished ``interval`` after it was queued is reported."""
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        raise ValueError(f"deadline interval must be a positive timedelta, got {interval!r}")
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(
            QticketsDeadlineNotifier,
            kwargs={"note": f"Runs must finish within {interval} of being queued."},
        ),
        name=DEADLINE_ALERT_NAME,
    )
