"""What the vendor holds and what landed in the warehouse, read independently of the code under test:
the vendor's orders with plain ``requests`` and the README's revenue rule; the warehouse with SQL.
"""

from __future__ import annotations

from decimal import Decimal

import requests


def _all_orders(sandbox) -> list[dict]:
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    orders, page = [], 1
    while True:
        body = requests.get(f"{sandbox.rest_url}/orders", json={"page": page}, headers=headers, timeout=10).json()
        orders += body["data"]
        if page * body["paging"]["perPage"] >= body["paging"]["total"]:
            return orders
        page += 1


def _expected_sales(orders: list[dict]) -> tuple[int, Decimal]:
    """Tickets sold and revenue by the README's definition, straight from vendor payloads."""
    tickets, revenue = 0, Decimal(0)
    for order in orders:
        if not order["payed"] or order["deleted_at"] is not None:
            continue
        for basket in order["baskets"]:
            if basket["deleted_at"] is None and basket["refunded_at"] is None:
                tickets += 1
                revenue += Decimal(str(basket["ticket_amount"]))
    return tickets, revenue


def _query(sql: str, params: dict | None = None, **identifiers):
    from qtickets.hooks.clickhouse import ClickHouseHook

    with ClickHouseHook(clickhouse_conn_id="clickhouse_default") as ch:
        return ch.fetch_all(sql, {"db": ch.database, **(params or {})}, **identifiers)


def _staging_counts() -> dict[str, int]:
    tables = [name for (name,) in _query(
        "SELECT name FROM system.tables WHERE database = %(db)s AND name LIKE 'stg_%%'")]
    return {t: _query("SELECT count() FROM {{ db }}.{{ t }} FINAL", t=t)[0][0] for t in tables}


def _facts() -> list[tuple]:
    return _query("SELECT sales_date, event_id, city, tickets_sold, revenue FROM {{ db }}.fact_qtickets_sales_daily "
                  "ORDER BY sales_date, event_id, city")


def _result(run, task_id: str, key: str = "return_value") -> dict:
    """The return value (XCom) a task of ``run`` pushed (``key="skipped"``: a skipped load's stats)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(select(XComModel).where(
            XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id, XComModel.task_id == task_id,
            XComModel.key == key)).one()
        return XComModel.deserialize_value(row)


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
