"""Alert text: what a task failure, an unexplained DAG-run failure and a missed deadline say.

Every message is built here and passed through :func:`qtickets.redaction.redact` before it leaves
(:class:`Alert` holds redacted text); the channels in :mod:`qtickets.notifications.channels` send it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from qtickets.exceptions import DataQualityError, QticketsApiError, StaleDataError, error_fields
from qtickets.redaction import first_line, redact

MAX_ERROR_CHARS = 300
MAX_MESSAGE_CHARS = 3500  # Telegram caps a message at 4096 characters

_DAG_FAILURE_REASONS = {
    "timed_out": "the run exceeded its dagrun_timeout",
    "all_tasks_deadlocked": "tasks are deadlocked: nothing left can be scheduled",
    "task_failure": "a task failed",
}


@dataclass(frozen=True)
class Alert:
    """A rendered alert: one subject line and a plain-text body (already redacted)."""

    subject: str
    text: str


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
        return [f"Error: {first_line(exc, MAX_ERROR_CHARS)}"]
    lines = [f"Error: {type(exc).__name__}: {first_line(str(exc), MAX_ERROR_CHARS)}"]
    vendor = _vendor_error(exc)
    if vendor is not None:
        fields = error_fields(vendor)
        shown = " | ".join(f"{k}: {fields[k]}" for k in ("http_status", "error_code", "request_id")
                           if fields[k] not in (None, ""))
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
