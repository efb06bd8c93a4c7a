"""The dataset registry: one declarative entry per QTickets dataset.

The DAG builds one load task per entry; ``qtickets.pipeline`` runs an entry. An entry says where the
data comes from (REST or Partners API), whether it is read incrementally (a time window on
``updated_at``) or as a snapshot, how often it is worth re-reading, how it is fetched (a function of
the load's hooks and window), and how a page of vendor records becomes rows of which staging tables
(its rows module: ``COLUMNS`` and a ``map_*`` function).

Adding a plain paged list endpoint: a rows module, a migration creating its table, and an entry here
with ``fetch=whole_list("<endpoint>")``; a non-list endpoint adds one hook method and a fetch that
calls it. ``tests/unit/test_datasets.py`` proves the registry, the schema and the DAG agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from qtickets.rows import (
    barcodes,
    clients,
    discounts,
    events,
    inventory,
    orders,
    partner_tickets,
    price_shades,
    promo_codes,
)
from qtickets.timeutil import format_api_ts
from qtickets.window import Window

if TYPE_CHECKING:
    from qtickets.apis import Apis
    from qtickets.rows.common import MapContext

__all__ = ["DATASETS", "Dataset", "Page", "Sales", "Window"]

Page = list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Sales:
    """How records of a dataset with sales change the sales facts (ADR 0003: rebuilt by whole month).

    :param dates: Moscow payment days a page of records touches.
    :param table: the staging table whose earlier versions may hold other payment months.
    :param key: its business key column (order id).
    """

    dates: Callable[[Page], set[date]]
    table: str
    key: str


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """One dataset: where it comes from, how it is read and where it lands.

    :param name: short name used in task ids, params and run records.
    :param api: ``rest`` or ``partners`` (the latter is skipped when its connection is absent).
    :param mode: ``incremental`` (window on ``updated_at``) or ``snapshot`` (everything, each time it is due).
    :param cadence: how often a snapshot is worth re-reading; incremental datasets run every interval.
    :param reads: the vendor endpoint, for docs and logs.
    :param fetch: ``(apis, window) -> pages of vendor records``. An incremental dataset's fetch may run in a
        background thread (a history read in several windows, ``qtickets.read_ahead``) while the task inserts:
        it must read only the vendor APIs, never ``apis.warehouse`` (a ClickHouse client is not thread-safe).
    :param columns: staging table -> column order of the mapped row tuples (the rows module's ``COLUMNS``).
    :param map: ``(records, ctx) -> {table: rows}`` (the rows module's ``map_*``).
    :param sales: set for a dataset whose records carry sales.
    :param depends_on: datasets whose staging data this one reads (shows for inventory and barcodes).
    """

    name: str
    api: Literal["rest", "partners"]
    mode: Literal["incremental", "snapshot"]
    cadence: timedelta
    reads: str
    fetch: Callable[[Apis, Window], Iterator[Page]]
    columns: Mapping[str, tuple[str, ...]]
    map: Callable[[Page, MapContext], dict[str, list[tuple]]]
    sales: Sales | None = None
    depends_on: tuple[str, ...] = ()

    @property
    def tables(self) -> tuple[str, ...]:
        """Staging tables it fills."""
        return tuple(self.columns)


def _fetch_orders(apis: Apis, window: Window) -> Iterator[Page]:
    # Orders are read by updated_at, not payed_at: later payments, cancellations and refunds of old
    # orders change updated_at, so they are picked up; the original loader filtered on payed_at and
    # never saw a refund.
    yield from apis.rest.iter_pages("orders", window=window, window_column="updated_at", order_by={"id": "asc"})


def whole_list(endpoint: str) -> Callable[[Apis, Window], Iterator[Page]]:
    """Fetch of a plain paged list endpoint, all of it (soft-deleted records too, so deletions arrive)."""

    def fetch(apis: Apis, window: Window) -> Iterator[Page]:
        yield from apis.rest.iter_pages(endpoint, order_by={"id": "asc"})

    return fetch


def _fetch_color_themes(apis: Apis, window: Window) -> Iterator[Page]:
    yield apis.rest.get_color_themes()


def _fetch_inventory(apis: Apis, window: Window) -> Iterator[Page]:
    snapshot_ts = format_api_ts(window.end)
    for show_id, event_id in apis.upcoming_shows():
        seats = apis.rest.get_show_seats(show_id)
        yield [{"show_id": show_id, "event_id": event_id, "snapshot_ts": snapshot_ts, "seats": seats}]


def _fetch_barcodes(apis: Apis, window: Window) -> Iterator[Page]:
    for show_id, event_id in apis.upcoming_shows():
        records = apis.rest.get_show_barcodes(show_id)
        if records:
            yield [{**record, "show_id": show_id, "event_id": event_id} for record in records]


def _fetch_partner_tickets(apis: Apis, window: Window) -> Iterator[Page]:
    if apis.partners is None:
        return
    for request in apis.partner_requests:
        records = apis.partners.find_tickets(request["filter"], event_id=request.get("event_id"),
                                             show_id=request.get("show_id"))
        if records:
            yield [{**record, "_request": {k: v for k, v in request.items() if k != "filter"}}
                   for record in records]


_MIN = timedelta(minutes=1)
_HOUR = 60 * _MIN

DATASETS: dict[str, Dataset] = {
    ds.name: ds
    for ds in (
        Dataset(name="orders", api="rest", mode="incremental", cadence=0 * _MIN, reads="GET /orders",
                fetch=_fetch_orders, columns=orders.COLUMNS, map=orders.map_orders,
                sales=Sales(dates=orders.sales_dates, table=orders.ORDERS_TABLE, key="order_id")),
        Dataset(name="events", api="rest", mode="snapshot", cadence=_HOUR, reads="GET /events",
                fetch=whole_list("events"), columns=events.COLUMNS, map=events.map_events),
        Dataset(name="inventory", api="rest", mode="snapshot", cadence=15 * _MIN, reads="GET /shows/{id}/seats",
                fetch=_fetch_inventory, columns=inventory.COLUMNS, map=inventory.map_inventory,
                depends_on=("events",)),
        Dataset(name="clients", api="rest", mode="snapshot", cadence=24 * _HOUR, reads="GET /clients",
                fetch=whole_list("clients"), columns=clients.COLUMNS, map=clients.map_clients),
        Dataset(name="price_shades", api="rest", mode="snapshot", cadence=24 * _HOUR, reads="GET /color-themes",
                fetch=_fetch_color_themes, columns=price_shades.COLUMNS, map=price_shades.map_price_shades),
        Dataset(name="discounts", api="rest", mode="snapshot", cadence=6 * _HOUR, reads="GET /discounts",
                fetch=whole_list("discounts"), columns=discounts.COLUMNS, map=discounts.map_discounts),
        Dataset(name="promo_codes", api="rest", mode="snapshot", cadence=6 * _HOUR, reads="GET /promo-codes",
                fetch=whole_list("promo-codes"), columns=promo_codes.COLUMNS, map=promo_codes.map_promo_codes),
        Dataset(name="barcodes", api="rest", mode="snapshot", cadence=_HOUR, reads="GET /shows/{id}/barcodes",
                fetch=_fetch_barcodes, columns=barcodes.COLUMNS, map=barcodes.map_barcodes,
                depends_on=("events",)),
        Dataset(name="partner_tickets", api="partners", mode="snapshot", cadence=_HOUR,
                reads="POST tickets/find (Partners API)", fetch=_fetch_partner_tickets,
                columns=partner_tickets.COLUMNS, map=partner_tickets.map_partner_tickets),
    )
}
