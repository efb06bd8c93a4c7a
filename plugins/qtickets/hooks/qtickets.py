"""Hook for the QTickets REST API (organiser token): paged lists, seats, barcodes, colour themes.

Transport, settings and retries are :class:`~qtickets.hooks._api.QticketsApiHook`'s; this module holds
what the REST API's endpoints look like. The Partners API is :mod:`qtickets.hooks.partners`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from qtickets.exceptions import QticketsError, QticketsTransientError
from qtickets.hooks._api import QticketsApiHook, _api_value, _json_text, _plain_query_value, log
from qtickets.hooks._http import RequestStats, sanitize_url
from qtickets.hooks.partners import QticketsPartnersHook
from qtickets.pagination import Page, WindowGuard, iterate_pages
from qtickets.window import Window

if TYPE_CHECKING:
    from qtickets.replay import Replay

__all__ = ["QticketsHook", "QticketsPartnersHook", "RequestStats", "WindowGuard"]

#: Seat counters requested from ``shows/{id}/seats`` (without ``select`` the API returns no counters).
SEAT_COUNTER_FIELDS = (
    "id", "zone_id", "admission", "max_quantity", "free_quantity", "ordered_quantity", "payed_quantity",
    "in_basket_quantity", "available", "disabled", "price", "color_theme_id",
)



class QticketsHook(QticketsApiHook):
    """Read the QTickets REST API v1 with the organiser token of an Airflow connection.

    Connection: Host = base URL (``https://qtickets.ru/api/rest/v1``), Password = API token. Extras
    (settings, never headers): ``timeout`` (60), ``connect_timeout`` (10), ``retry_budget`` (600 s per
    request, 0-86400), ``max_retries`` (unset: no count cap), ``backoff_base`` (1.0), ``backoff_max`` (30),
    ``concurrency`` (4, 1-16), ``filter_transport`` (``get_body`` | ``get_query``), ``post_fallback`` (false).

    :param qtickets_conn_id: Airflow connection id.
    :param sleep: function used to wait between retries (inject a no-op in tests).
    :param clock: monotonic clock, in seconds, that measures a request's retry budget (inject a fake in tests).
    :param replay: answer from saved responses (:class:`~qtickets.replay.Replay`) instead of the network.
    """

    conn_name_attr = "qtickets_conn_id"
    default_conn_name = "qtickets_default"
    conn_type = "qtickets"
    hook_name = "QTickets REST API"
    api = "rest"

    def __init__(
        self,
        *,
        qtickets_conn_id: str = default_conn_name,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        replay: Replay | None = None,
    ) -> None:
        super().__init__(qtickets_conn_id, sleep=sleep, clock=clock, replay=replay)
        self.qtickets_conn_id = qtickets_conn_id

    # -- lists -------------------------------------------------------------------------------

    def _filters(self, where: list[dict] | None, order_by: dict | None, extra: dict | None) -> dict[str, Any]:
        filters: dict[str, Any] = dict(_api_value(extra or {}))
        if where is not None:
            filters["where"] = _api_value(where)
        if order_by is not None:
            filters["orderBy"] = order_by
        return filters

    def _get_filtered(
        self, endpoint: str, filters: dict[str, Any], *, page: int | None = None, list_request: bool = False
    ) -> Any:
        """GET with filters in the configured transport; optional POST fallback after 5xx storms.

        The fallback is for list requests only: on other routes POST creates things (barcodes ...).
        """
        if self.settings.filter_transport == "get_query":
            params = {k: v if _plain_query_value(v) else _json_text(v) for k, v in filters.items()}
            send = lambda: self._request("GET", endpoint, params=params, page=page)  # noqa: E731
        else:
            send = lambda: self._request("GET", endpoint, body=filters or None, page=page)  # noqa: E731
        try:
            return send()
        except QticketsTransientError as exc:
            if not (list_request and self.settings.post_fallback and exc.status is not None and exc.status >= 500):
                raise
            self.stats.add("post_fallbacks")
            log.warning(
                "QTickets GET %s kept failing (HTTP %s); post_fallback is on, re-sending as POST",
                endpoint, exc.status,
            )
            return self._request("POST", endpoint, body=filters, page=page)

    def _fetch_page(self, endpoint: str, filters: dict[str, Any], number: int) -> Page:
        payload = self._get_filtered(endpoint, {**filters, "page": number}, page=number, list_request=True)
        self.stats.add("pages")
        if isinstance(payload, list):
            return Page(number, payload, has_paging=False)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise self._envelope_error(
                endpoint, f"/{endpoint} page {number}: expected {{'data': [...], 'paging': {{...}}}}, got "
                f"{type(payload).__name__} with keys {sorted(payload)[:10] if isinstance(payload, dict) else '-'}",
                payload,
            )
        paging = payload.get("paging")
        if not isinstance(paging, dict):
            return Page(number, data, has_paging=False)
        try:
            per_page = int(paging["perPage"]) if paging.get("perPage") else None
            total = int(paging["total"]) if paging.get("total") is not None else None
        except (TypeError, ValueError):
            # Names and types only: the values are the vendor's (a record where a number belongs would
            # put buyers' personal data into the error).
            shape = ", ".join(f"{k}: {type(v).__name__}" for k, v in list(paging.items())[:10]
                              if isinstance(k, str) and len(k) <= 40)
            raise self._envelope_error(
                endpoint, f"/{endpoint} page {number}: unreadable paging ({shape}); perPage and total must be "
                "whole numbers", payload
            ) from None
        return Page(number, data, per_page=per_page, total=total)

    def iter_pages(
        self,
        endpoint: str,
        *,
        window: Window | None = None,
        window_column: str = "updated_at",
        order_by: dict | None = None,
        where: list[dict] | None = None,
        extra: dict | None = None,
    ) -> Iterator[list[dict]]:
        """Yield each page's records (records seen on an earlier page dropped), in page order.

        With ``window`` the listing is filtered to ``window_column`` in ``[start, end)`` and every record is
        checked against the same window (:class:`~qtickets.pagination.WindowGuard`): the window's one shape
        becomes both the vendor's ``where`` and the guard here, nowhere else.
        With ``order_by={"id": "asc"}`` records that slid onto a page already read (the set changed
        while it was paged) are re-read by id afterwards, and an envelope without ``total`` is read
        keyset-style (see :func:`qtickets.pagination.iterate_pages`); ``stats.gap_reads`` and
        ``stats.gap_records`` count those re-reads.

        :param endpoint: list endpoint, e.g. ``orders``.
        :param window: the load window (``None``: the whole listing).
        :param window_column: the record field the window applies to.
        :param order_by: e.g. ``{"id": "asc"}``.
        :param where: more vendor conditions ``[{"column", "operator", "value"}]``; datetimes are formatted.
        :param extra: more filter keys sent with every page.
        :raises QticketsFilterIgnoredError: a record falls outside the window.
        :raises QticketsPaginationError: the API repeats pages, pages run past their bound, or it
            ignores the ``id`` conditions of a keyset read.
        """
        guard = None
        if window is not None:
            guard = WindowGuard(window_column, window,
                                replayed_from=str(self.replay.folder) if self.replay is not None else None)
            where = [*guard.where(), *(where or ())]
        filters = self._filters(where, order_by, extra)

        def fetch_between(after_id: int, before_id: int | None, number: int) -> Page:
            """The listing restricted to ``after_id < id < before_id``: its first page, labelled ``number``."""
            keyset = [*filters.get("where", ()), {"column": "id", "operator": ">", "value": after_id}]
            if before_id is not None:
                keyset.append({"column": "id", "operator": "<", "value": before_id})
            page = self._fetch_page(endpoint, {**filters, "where": keyset}, 1)
            return Page(number, page.records, per_page=page.per_page, total=page.total,
                        has_paging=page.has_paging)

        by_id_asc = isinstance(order_by, dict) and [(k, str(v).lower()) for k, v in order_by.items()] == [
            ("id", "asc")]
        yield from iterate_pages(
            lambda number: self._fetch_page(endpoint, filters, number),
            endpoint=endpoint.strip("/"),
            concurrency=self.settings.concurrency,
            guard=guard,
            fetch_between=fetch_between if by_id_asc else None,
            count=self.stats.add,
        )

    # -- helpers -----------------------------------------------------------------------------

    def get_show_seats(self, show_id: int) -> dict[str, dict]:
        """Flat seat map of a show with the inventory counters (``select`` + ``flat``)."""
        endpoint = f"shows/{int(show_id)}/seats"
        payload = self._get_filtered(endpoint, {"select": list(SEAT_COUNTER_FIELDS), "flat": True})
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(data, list) and not data:
            return {}  # PHP encodes an empty map as []
        if not isinstance(data, dict):
            raise self._envelope_error(
                endpoint, f"/{endpoint}: expected {{'data': {{seat_id: {{...}}}}}}, got {type(data).__name__}",
                payload,
            )
        return data

    def get_show_barcodes(self, show_id: int) -> list[dict]:
        """Barcodes current at the moment for a show (the API returns a bare array)."""
        endpoint = f"shows/{int(show_id)}/barcodes"
        payload = self._request("GET", endpoint)
        if isinstance(payload, dict) and isinstance(payload.get("data"), list):
            return payload["data"]
        if not isinstance(payload, list):
            raise self._envelope_error(
                endpoint, f"/{endpoint}: expected a JSON array, got {type(payload).__name__}", payload
            )
        return payload

    def get_color_themes(self) -> list[dict]:
        """Price colour themes (``/color-themes``, a single unpaged list)."""
        return [record for page in self.iter_pages("color-themes") for record in page]

    def test_connection(self) -> tuple[bool, str]:
        """Check host and token with one cheap read (``GET /color-themes``)."""
        try:
            themes = self._request("GET", "color-themes")
        except QticketsError as exc:
            return False, str(exc)
        count = len(themes.get("data") or []) if isinstance(themes, dict) else len(themes or [])
        return True, f"Connected to {sanitize_url(self.settings.base_url)}: {count} colour themes"
