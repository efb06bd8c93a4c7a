"""Connection helpers: optional connections (a feature is on when its connection exists) and extras."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

if TYPE_CHECKING:
    from airflow.sdk import Connection


def optional_connection(conn_id: str) -> Connection | None:
    """The connection ``conn_id``, or ``None`` when it is not defined anywhere."""
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def extra_flag(value: Any, default: bool) -> bool:
    """A true/false connection extra as typed in the UI or JSON (``"false"`` is false, not a truthy string).

    :raises ValueError: the value is neither (the caller names the connection and the extra).
    """
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {value!r}")
