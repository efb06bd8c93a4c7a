"""Where dataset records come from: the live API, or saved responses replayed from a folder.

Both satisfy ``qtickets.datasets.Source``. Dry runs use no source at all (nothing is requested).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from qtickets.exceptions import QticketsConfigError, QticketsFilterIgnoredError
from qtickets.timeutil import format_api_ts
from qtickets.warehouse.paths import QUERIES_DIR

if TYPE_CHECKING:
    from qtickets.datasets import Page, Window
    from qtickets.hooks.clickhouse import ClickHouseHook
    from qtickets.hooks.qtickets import QticketsHook, QticketsPartnersHook

log = logging.getLogger(__name__)

PARTNER_REQUESTS_VARIABLE = "qtickets_partner_find_requests"
#: Airflow config option naming the folder replays may read (``[qtickets] fixtures_root``, or the
#: environment variable ``AIRFLOW__QTICKETS__FIXTURES_ROOT``); unset = replay is disabled.
FIXTURES_ROOT_SECTION, FIXTURES_ROOT_KEY = "qtickets", "fixtures_root"
FIXTURES_ROOT_ENV = "AIRFLOW__QTICKETS__FIXTURES_ROOT"
#: Saved responses each dataset replays, relative to ``fixtures_dir`` (``*``: any show id / page).
FIXTURE_FILES: dict[str, tuple[str, ...]] = {
    "orders": ("orders.json", "orders/page-*.json"),
    "events": ("events.json", "events/page-*.json"),
    "clients": ("clients.json", "clients/page-*.json"),
    "discounts": ("discounts.json", "discounts/page-*.json"),
    "promo_codes": ("promo-codes.json", "promo-codes/page-*.json"),
    "price_shades": ("color-themes.json", "color-themes/page-*.json"),
    "inventory": ("shows/*/seats.json",),
    "barcodes": ("shows/*/barcodes.json",),
    "partner_tickets": ("partners/tickets_find.json",),
}


def fixtures_root() -> Path | None:
    """The folder the deployment lets replays read (``[qtickets] fixtures_root``), ``None`` when unset."""
    from airflow.sdk.configuration import conf

    value = (conf.get(FIXTURES_ROOT_SECTION, FIXTURES_ROOT_KEY, fallback="") or "").strip()
    return Path(value).expanduser() if value else None


def resolve_fixtures_dir(fixtures_dir: str | Path, root: str | Path | None) -> tuple[Path, Path]:
    """``(folder, root)``, both resolved (symlinks followed), the folder inside the root.

    ``fixtures_dir`` is taken relative to the root (an absolute path must lie inside it too).

    :raises QticketsConfigError: no root is configured (replay disabled), the folder resolves outside
        the root (``..``, another absolute path, a symlink out of it), or it is not a folder.
    """
    if root is None or str(root).strip() == "":
        raise QticketsConfigError(
            f"fixtures_dir {str(fixtures_dir)!r} was given but replay is disabled on this deployment: no replay "
            f"root is configured. To allow replays, set the Airflow option [{FIXTURES_ROOT_SECTION}] "
            f"{FIXTURES_ROOT_KEY} (environment variable {FIXTURES_ROOT_ENV}) on the workers to the folder that "
            "holds saved responses, then pass fixtures_dir relative to it; or leave fixtures_dir empty for live data"
        )
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise QticketsConfigError(
            f"the replay root {base} ([{FIXTURES_ROOT_SECTION}] {FIXTURES_ROOT_KEY}) is not a folder on this "
            "worker; create it or fix the setting"
        )
    folder = (base / fixtures_dir).resolve()
    if not folder.is_relative_to(base):
        raise QticketsConfigError(
            f"fixtures_dir {str(fixtures_dir)!r} resolves to {folder}, outside the replay root {base} "
            f"([{FIXTURES_ROOT_SECTION}] {FIXTURES_ROOT_KEY}); replays read only folders inside it: pass a "
            "path relative to the root"
        )
    if not folder.is_dir():
        raise QticketsConfigError(
            f"fixtures_dir {folder} is not a folder; pass the folder holding saved responses "
            "(e.g. orders.json, events.json), relative to the replay root, or leave the param empty for live data"
        )
    return folder, base


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
        from qtickets.pagination import WindowGuard

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
    """Replays saved vendor responses from a folder inside the deployment's replay root.

    A response is looked up by its API path: ``GET /orders`` → ``orders.json`` (one page, a bare list,
    or a list of pages) or ``orders/page-*.json``; ``GET /shows/7/seats`` → ``shows/7/seats.json``;
    Partners ``tickets/find`` → ``partners/tickets_find.json`` (see :data:`FIXTURE_FILES`). A response
    the load needs but the folder lacks fails the load, naming the files looked for. Every file read
    must resolve inside the root (a symlink out of it is refused). Records of incremental datasets get
    the same window check as live ones.

    :param fixtures_dir: the ``fixtures_dir`` param, relative to ``root``.
    :param root: the replay root (:func:`fixtures_root`); ``None`` means replay is disabled.
    :raises QticketsConfigError: see :func:`resolve_fixtures_dir`.
    """

    def __init__(self, fixtures_dir: str | Path, ch: ClickHouseHook | None = None, *,
                 root: str | Path | None) -> None:
        self.folder, self.root = resolve_fixtures_dir(fixtures_dir, root)
        self.ch = ch

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise QticketsConfigError(
                f"fixture {path} resolves to {resolved}, outside the replay root {self.root}: replays read only "
                "files inside it (replace the link by the file itself)"
            )
        return resolved

    def files_for(self, dataset: str) -> list[Path]:
        """The saved responses present for ``dataset`` (empty: the folder has none of them)."""
        return [p for pattern in FIXTURE_FILES[dataset] for p in sorted(self.folder.glob(pattern)) if p.is_file()]

    @staticmethod
    def looked_for(dataset: str) -> str:
        """The files a dataset replays, for messages."""
        return " or ".join(FIXTURE_FILES[dataset])

    def _load(self, relative: str) -> Any:
        path = self.folder / f"{relative}.json"
        if path.is_file():
            return orjson.loads(self._inside(path).read_bytes())
        pages = sorted((self.folder / relative).glob("page-*.json")) if (self.folder / relative).is_dir() else []
        if pages:
            return [orjson.loads(self._inside(p).read_bytes()) for p in pages]
        raise QticketsConfigError(
            f"fixtures_dir {self.folder} has no saved response for {relative}: looked for {relative}.json and "
            f"{relative}/page-*.json. Add it (an empty list [] if the API returned nothing) or run without "
            "this dataset"
        )

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
        pages = [page for page in self._pages(self._load(endpoint)) if page]
        if guard_column and window:
            # Every page is checked before any is yielded: a bad record fails the load with nothing loaded.
            from qtickets.pagination import WindowGuard

            guard = WindowGuard(guard_column, window.start, window.end)
            for number, page in enumerate(pages, 1):
                outside = guard.first_outside(page)
                if outside is not None:
                    record, value = outside
                    raise QticketsFilterIgnoredError(
                        f"replayed /{endpoint} from fixtures_dir {self.folder}: page {number} holds record "
                        f"id={record.get('id') if isinstance(record, dict) else None!r} with {guard_column}="
                        f"{value!r}, outside this run's window [{format_api_ts(window.start)}, "
                        f"{format_api_ts(window.end)}). Replayed records get the same window check as live "
                        "ones; nothing was loaded. Run with since_hours (or a data interval) covering them, "
                        "or remove them from the fixture."
                    )
        yield from pages

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
