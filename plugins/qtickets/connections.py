"""Optional Airflow connections: a feature is on when its connection exists."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
