"""Alerting for the ``qtickets_api`` DAG: failure callbacks, a deadline notifier and channel fan-out.

Three modules: :mod:`~qtickets.notifications.messages` (alert text), :mod:`~qtickets.notifications.channels`
(Telegram/Slack/SMTP delivery) and :mod:`~qtickets.notifications.callbacks` (Airflow failure callbacks and
the Deadline Alert); this package re-exports their public names, so ``qtickets.notifications.X`` keeps
working (the DAG file, docs, and the dotted path ``qtickets.notifications.QticketsDeadlineNotifier`` that
serialized DAGs and the triggerer use).

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

from qtickets.notifications.callbacks import (
    DEADLINE_ALERT_NAME,
    DEADLINE_NOTIFIER_PATH,
    QticketsDeadlineNotifier,
    dag_failure_already_notified,
    deadline_alert,
    on_dag_failure,
    on_task_failure,
    task_alerts_on_failure,
)
from qtickets.notifications.channels import (
    CHANNEL_CONN_IDS,
    SEND_TIMEOUT_S,
    SLACK_CONN_ID,
    SMTP_CONN_ID,
    TELEGRAM_CONN_ID,
    configured_channels,
    send_alert,
)
from qtickets.notifications.messages import (
    MAX_ERROR_CHARS,
    MAX_MESSAGE_CHARS,
    Alert,
    build_dag_failure_alert,
    build_deadline_alert,
    build_task_failure_alert,
    describe_error,
)

__all__ = [
    "CHANNEL_CONN_IDS",
    "DEADLINE_ALERT_NAME",
    "DEADLINE_NOTIFIER_PATH",
    "MAX_ERROR_CHARS",
    "MAX_MESSAGE_CHARS",
    "SEND_TIMEOUT_S",
    "SLACK_CONN_ID",
    "SMTP_CONN_ID",
    "TELEGRAM_CONN_ID",
    "Alert",
    "QticketsDeadlineNotifier",
    "build_dag_failure_alert",
    "build_deadline_alert",
    "build_task_failure_alert",
    "configured_channels",
    "dag_failure_already_notified",
    "deadline_alert",
    "describe_error",
    "on_dag_failure",
    "on_task_failure",
    "send_alert",
    "task_alerts_on_failure",
]
