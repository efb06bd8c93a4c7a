"""Where dataset records come from: the live API, or saved responses replayed from a folder.

Both satisfy ``qtickets.datasets.Source``. Dry runs use no source at all (nothing is requested).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from qtickets.exceptions import QticketsConfigError
from qtickets.warehouse.paths import QUERIES_DIR

if TYPE_CHECKING:
    from qtickets.datasets import Page, Window
    from qtickets.hooks.clickhouse import ClickHouseHook
    from qtickets.hooks.qtickets import QticketsHook, QticketsPartnersHook

log = logging.getLogger(__name__)

PARTNER_REQUESTS_VARIABLE = "qtickets_partner_find_requests"


def _upcoming_shows(ch: ClickHouseHook) -> list[tuple[int, int]]:
    rows = ch.run_sql_file(QUERIES_DIR / "upcoming_shows.sql")
    return [(int(show_id), int(event_id)) for show_id, event_id in rows]


def parse_partner_requests(raw: Any) -> list[dict]:
    """Validate the Partners search requests (a JSON list of ``{"filter": {...}, "event_id"?, "show_id"?}``).

    :raises QticketsConfigError: the value is not such a list.
    """
    if raw in (None, "", []):
        return []
    if isinstance(raw, str | bytes):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise QticketsConfigError(
                f"Variable {PARTNER_REQUESTS_VARIABLE} is not valid JSON ({exc}); expected a list like "
                '[{"filter": {"external_order_id": "A-1"}, "event_id": 12}]'
            ) from exc
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(r, dict) and isinstance(r.get("filter"), dict) for r in raw):
        raise QticketsConfigError(
            f"Variable {PARTNER_REQUESTS_VARIABLE} must be a JSON list of objects with a 'filter' object, "
            'e.g. [{"filter": {"external_order_id": "A-1"}, "event_id": 12}]'
        )
    return raw


class LiveSource:
    """Reads from the QTickets API through the hooks; show ids come from the warehouse's shows staging."""

    def __init__(self, hook: QticketsHook, ch: ClickHouseHook, *,
                 partners: QticketsPartnersHook | None = None, partner_requests: list[dict] | None = None) -> None:
        self.hook = hook
        self.ch = ch
        self.partners = partners
        self._partner_requests = partner_requests or []

    def iter_pages(self, endpoint: str, *, where: list[dict] | None = None, order_by: dict | None = None,
                   window: Window | None = None, guard_column: str | None = None) -> Iterator[Page]:
        from qtickets.hooks.qtickets import WindowGuard

        guard = WindowGuard(guard_column, window.start, window.end) if guard_column and window else None
        yield from self.hook.iter_pages(endpoint, where=where, order_by=order_by, guard=guard)

    def show_seats(self, show_id: int) -> dict[str, dict]:
        return self.hook.get_show_seats(show_id)

    def show_barcodes(self, show_id: int) -> list[dict]:
        return self.hook.get_show_barcodes(show_id)

    def color_themes(self) -> list[dict]:
        return self.hook.get_color_themes()

    def partner_tickets(self, request: dict) -> list[dict]:
        if self.partners is None:
            return []
        return self.partners.find_tickets(request["filter"], event_id=request.get("event_id"),
                                          show_id=request.get("show_id"))

    def upcoming_shows(self) -> list[tuple[int, int]]:
        return _upcoming_shows(self.ch)

    def partner_requests(self) -> list[dict]:
        return self._partner_requests


class FixtureSource:
    """Replays saved vendor responses from a folder, for offline debugging.

    A response is looked up by its API path: ``GET /orders`` → ``orders.json`` (one page, a bare list,
    or a list of pages) or ``orders/page-*.json``; ``GET /shows/7/seats`` → ``shows/7/seats.json``;
    Partners ``tickets/find`` → ``partners/tickets_find.json``. A missing file means the endpoint
    returned nothing; the run log says which file it looked for.
    """

    def __init__(self, folder: str | Path, ch: ClickHouseHook | None = None) -> None:
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise QticketsConfigError(
                f"fixtures_dir {self.folder} is not a folder; pass the folder holding saved responses "
                "(e.g. orders.json, events.json) or leave the param empty for live data"
            )
        self.ch = ch

    def _load(self, relative: str) -> Any:
        path = self.folder / f"{relative}.json"
        if path.is_file():
            return orjson.loads(path.read_bytes())
        pages = sorted((self.folder / relative).glob("page-*.json")) if (self.folder / relative).is_dir() else []
        if pages:
            return [orjson.loads(p.read_bytes()) for p in pages]
        log.warning("No fixture for %s (looked for %s); treating it as empty", relative, path)
        return None

    @staticmethod
    def _pages(payload: Any) -> Iterator[Page]:
        if payload is None:
            return
        if isinstance(payload, dict):
            data = payload.get("data", [])
            yield list(data.values()) if isinstance(data, dict) else list(data)
        elif isinstance(payload, list) and payload and all(isinstance(p, dict) and "data" in p for p in payload):
            for page in payload:
                yield from FixtureSource._pages(page)
        elif isinstance(payload, list):
            yield payload
        else:
            raise QticketsConfigError(f"fixture holds {type(payload).__name__}; expected an API envelope or a list")

    def iter_pages(self, endpoint: str, *, where: list[dict] | None = None, order_by: dict | None = None,
                   window: Window | None = None, guard_column: str | None = None) -> Iterator[Page]:
        for page in self._pages(self._load(endpoint)):
            if page:
                yield page

    def show_seats(self, show_id: int) -> dict[str, dict]:
        payload = self._load(f"shows/{show_id}/seats")
        if isinstance(payload, dict):
            data = payload.get("data", payload)
            return data if isinstance(data, dict) else {}
        return {}

    def show_barcodes(self, show_id: int) -> list[dict]:
        payload = self._load(f"shows/{show_id}/barcodes")
        return payload if isinstance(payload, list) else []

    def color_themes(self) -> list[dict]:
        return [record for page in self._pages(self._load("color-themes")) for record in page]

    def partner_tickets(self, request: dict) -> list[dict]:
        payload = self._load("partners/tickets_find")
        if isinstance(payload, dict):
            return list(payload.get("result") or [])
        return payload or []

    def upcoming_shows(self) -> list[tuple[int, int]]:
        return _upcoming_shows(self.ch) if self.ch is not None else []

    def partner_requests(self) -> list[dict]:
        return [{"filter": {}}] if (self.folder / "partners" / "tickets_find.json").is_file() else []
