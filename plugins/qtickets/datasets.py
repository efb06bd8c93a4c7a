"""The dataset registry: one declarative entry per QTickets dataset.

The DAG builds one load task per entry; ``qtickets.pipeline`` runs an entry. An entry says where the
data comes from (REST or Partners API), whether it is read incrementally (a time window on
``updated_at``) or as a snapshot, how often it is worth re-reading, which staging tables it fills and
how a page of vendor records becomes rows.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from qtickets.timeutil import format_api_ts

if TYPE_CHECKING:
    from qtickets.rows.common import MapContext

Page = list[dict[str, Any]]


@dataclass(frozen=True)
class Window:
    """Half-open load window ``[start, end)`` of aware datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.start >= self.end:
            raise ValueError(f"empty window: start {self.start.isoformat()} is not before end {self.end.isoformat()}")

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


class Source(Protocol):
    """What a dataset needs to read from: the live API (``qtickets.sources.LiveSource``) or saved files."""

    def iter_pages(
        self, endpoint: str, *, where: list[dict] | None = None, order_by: dict | None = None,
        window: Window | None = None, guard_column: str | None = None,
    ) -> Iterator[Page]: ...

    def show_seats(self, show_id: int) -> dict[str, dict]: ...

    def show_barcodes(self, show_id: int) -> list[dict]: ...

    def color_themes(self) -> list[dict]: ...

    def partner_tickets(self, request: dict) -> list[dict]: ...

    def upcoming_shows(self) -> list[tuple[int, int]]: ...

    def partner_requests(self) -> list[dict]: ...


@dataclass(frozen=True)
class Dataset:
    """One dataset: where it comes from, how it is read and where it lands.

    :param name: short name used in task ids, params and run records.
    :param api: ``rest`` or ``partners`` (the latter is skipped when its connection is absent).
    :param mode: ``incremental`` (window on ``updated_at``) or ``snapshot`` (everything, each time it is due).
    :param cadence: how often a snapshot is worth re-reading; incremental datasets run every interval.
    :param tables: staging tables it fills.
    :param key: the business key of its main table (ReplacingMergeTree ORDER BY).
    :param fetch: ``(source, window) -> pages of vendor records``.
    :param mapper: dotted name of ``rows`` function ``(records, ctx) -> {table: rows}``.
    :param depends_on: datasets whose staging data this one reads (shows for inventory and barcodes).
    """

    name: str
    api: Literal["rest", "partners"]
    mode: Literal["incremental", "snapshot"]
    cadence: timedelta
    tables: tuple[str, ...]
    key: tuple[str, ...]
    fetch: Callable[[Source, Window], Iterator[Page]]
    mapper: str
    endpoint: str
    depends_on: tuple[str, ...] = ()

    def _rows_module(self) -> Any:
        return importlib.import_module(self.mapper.rsplit(".", 1)[0])

    def columns(self) -> dict[str, tuple[str, ...]]:
        """Column order of the row tuples, per staging table."""
        return self._rows_module().COLUMNS

    def map(self, records: Page, ctx: MapContext) -> dict[str, list[tuple]]:
        """Map one page of vendor records to staging rows."""
        return getattr(self._rows_module(), self.mapper.rsplit(".", 1)[1])(records, ctx)

    @property
    def has_sales(self) -> bool:
        """True when its records carry sales (its rows module defines ``sales_dates``)."""
        return hasattr(self._rows_module(), "sales_dates")

    def sales_dates(self, records: Page) -> set[date]:
        """Moscow payment days whose sales facts these records can change (none for reference data)."""
        days = getattr(self._rows_module(), "sales_dates", None)
        return days(records) if days is not None else set()


def _fetch_orders(source: Source, window: Window) -> Iterator[Page]:
    # Orders are read by updated_at, not payed_at: later payments, cancellations and refunds of old
    # orders change updated_at, so they are picked up; the original loader filtered on payed_at and
    # never saw a refund.
    where = [
        {"column": "updated_at", "operator": ">=", "value": format_api_ts(window.start)},
        {"column": "updated_at", "operator": "<", "value": format_api_ts(window.end)},
    ]
    yield from source.iter_pages("orders", where=where, order_by={"id": "asc"}, window=window,
                                 guard_column="updated_at")


def _fetch_list(endpoint: str) -> Callable[[Source, Window], Iterator[Page]]:
    def fetch(source: Source, window: Window) -> Iterator[Page]:
        # Snapshots read soft-deleted records too, so deletions reach the warehouse.
        yield from source.iter_pages(endpoint, order_by={"id": "asc"})

    return fetch


def _fetch_color_themes(source: Source, window: Window) -> Iterator[Page]:
    yield source.color_themes()


def _fetch_inventory(source: Source, window: Window) -> Iterator[Page]:
    snapshot_ts = format_api_ts(window.end)
    for show_id, event_id in source.upcoming_shows():
        seats = source.show_seats(show_id)
        yield [{"show_id": show_id, "event_id": event_id, "snapshot_ts": snapshot_ts, "seats": seats}]


def _fetch_barcodes(source: Source, window: Window) -> Iterator[Page]:
    for show_id, event_id in source.upcoming_shows():
        records = source.show_barcodes(show_id)
        if records:
            yield [{**record, "show_id": show_id, "event_id": event_id} for record in records]


def _fetch_partner_tickets(source: Source, window: Window) -> Iterator[Page]:
    for request in source.partner_requests():
        records = source.partner_tickets(request)
        if records:
            yield [{**record, "_request": {k: v for k, v in request.items() if k != "filter"}}
                   for record in records]


_MIN = timedelta(minutes=1)

DATASETS: dict[str, Dataset] = {
    ds.name: ds
    for ds in (
        Dataset("orders", "rest", "incremental", 0 * _MIN,
                ("stg_qtickets_api_orders_raw", "stg_qtickets_api_tickets_raw"), ("order_id",),
                _fetch_orders, "qtickets.rows.orders.map_orders", "GET /orders"),
        Dataset("events", "rest", "snapshot", 60 * _MIN,
                ("stg_qtickets_api_events_raw", "stg_qtickets_api_shows_raw"), ("event_id",),
                _fetch_list("events"), "qtickets.rows.events.map_events", "GET /events"),
        Dataset("inventory", "rest", "snapshot", 15 * _MIN,
                ("stg_qtickets_api_inventory_raw",), ("show_id", "snapshot_ts"),
                _fetch_inventory, "qtickets.rows.inventory.map_inventory", "GET /shows/{id}/seats",
                depends_on=("events",)),
        Dataset("clients", "rest", "snapshot", 24 * 60 * _MIN,
                ("stg_qtickets_api_clients_raw",), ("client_id",),
                _fetch_list("clients"), "qtickets.rows.clients.map_clients", "GET /clients"),
        Dataset("price_shades", "rest", "snapshot", 24 * 60 * _MIN,
                ("stg_qtickets_api_price_shades_raw",), ("shade_id",),
                _fetch_color_themes, "qtickets.rows.price_shades.map_price_shades", "GET /color-themes"),
        Dataset("discounts", "rest", "snapshot", 6 * 60 * _MIN,
                ("stg_qtickets_api_discounts_raw",), ("discount_id",),
                _fetch_list("discounts"), "qtickets.rows.discounts.map_discounts", "GET /discounts"),
        Dataset("promo_codes", "rest", "snapshot", 6 * 60 * _MIN,
                ("stg_qtickets_api_promo_codes_raw",), ("promo_code_id",),
                _fetch_list("promo-codes"), "qtickets.rows.promo_codes.map_promo_codes", "GET /promo-codes"),
        Dataset("barcodes", "rest", "snapshot", 60 * _MIN,
                ("stg_qtickets_api_barcodes_raw",), ("show_id", "barcode_hash"),
                _fetch_barcodes, "qtickets.rows.barcodes.map_barcodes", "GET /shows/{id}/barcodes",
                depends_on=("events",)),
        Dataset("partner_tickets", "partners", "snapshot", 60 * _MIN,
                ("stg_qtickets_api_partner_tickets_raw",), ("ticket_id",),
                _fetch_partner_tickets, "qtickets.rows.partner_tickets.map_partner_tickets",
                "POST tickets/find (Partners API)"),
    )
}
