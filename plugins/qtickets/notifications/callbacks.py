"""Airflow callbacks of the ``qtickets_api`` DAG: task and DAG ``on_failure_callback`` and the Deadline Alert.

One failure, one message: tasks alert from ``on_failure_callback`` (Airflow calls it only after the last
retry); the DAG-level callback stays quiet when a task's own callback already alerted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk import AsyncCallback, BaseNotifier, DeadlineAlert, DeadlineReference

from qtickets.notifications.channels import send_alert
from qtickets.notifications.messages import (
    _get,
    build_dag_failure_alert,
    build_deadline_alert,
    build_task_failure_alert,
)

log = logging.getLogger(__name__)

DEADLINE_ALERT_NAME = "qtickets_run_deadline"
#: The notifier's public dotted path (re-exported by :mod:`qtickets.notifications`): serialized DAGs keep
#: it, and the triggerer imports it, so it does not change when the class moves between modules.
DEADLINE_NOTIFIER_PATH = "qtickets.notifications.QticketsDeadlineNotifier"


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
        """Fan the deadline message out to the configured channels (never raises).

        A run that already *failed* is not reported again: Airflow prunes a run's deadlines only when it
        succeeds, so the deadline of a failed run still fires later, after its failure alert went out.
        """
        dag_run = context.get("dag_run") if isinstance(context, Mapping) else None
        state = dag_run.get("state") if isinstance(dag_run, Mapping) else getattr(dag_run, "state", None)
        if str(getattr(state, "value", state) or "").lower() == "failed":
            log.info("Deadline passed for a run that had already failed (its failure alert covers it); "
                     "not sending a deadline alert")
            return
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
            DEADLINE_NOTIFIER_PATH,
            kwargs={"note": f"Runs must finish within {interval} of being queued."},
        ),
        name=DEADLINE_ALERT_NAME,
    )
