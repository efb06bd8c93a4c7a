"""Replay of saved vendor responses (the ``fixtures_dir`` param): the hooks' network seam, answered from files.

A :class:`Replay` given to a hook (``QticketsHook(replay=...)``) answers each request the hook would send
with a saved response, so everything after the transport (envelope checks, paging, the window guard,
mapping) is the live code. Only folders inside the deployment's replay root may be read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import requests

from qtickets.exceptions import QticketsConfigError
from qtickets.hooks._http import HookSettings

log = logging.getLogger(__name__)

#: Stands for the base URL of a replayed API (never requested).
REPLAY_BASE = "https://replay.invalid"
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



def _pages(payload: Any) -> Iterator[list[dict]]:
    """The record lists of a saved list response: an envelope, a bare list, or a list of envelopes."""
    if payload is None:
        return
    if isinstance(payload, dict):
        data = payload.get("data", [])
        yield list(data.values()) if isinstance(data, dict) else list(data)
    elif isinstance(payload, list) and payload and all(isinstance(p, dict) and "data" in p for p in payload):
        for page in payload:
            yield from _pages(page)
    elif isinstance(payload, list):
        yield payload
    else:
        raise QticketsConfigError(f"fixture holds {type(payload).__name__}; expected an API envelope or a list")


def _response(url: str, payload: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.url = url
    response.headers["Content-Type"] = "application/json"
    response._content = orjson.dumps(payload)  # noqa: SLF001 - how a Response is built without a socket
    return response


class Replay:
    """Saved vendor responses in a folder inside the deployment's replay root, served to the hooks.

    A response is looked up by its API path: ``GET /orders`` → ``orders.json`` (one page, a bare list,
    or a list of pages) or ``orders/page-*.json``, served as one unpaged list; ``GET /shows/7/seats`` →
    ``shows/7/seats.json``; Partners ``tickets/find`` → ``partners/tickets_find.json`` (see
    :data:`FIXTURE_FILES`). A response the load needs but the folder lacks fails the load, naming the
    files looked for. Every file read must resolve inside the root (a symlink out of it is refused).

    :param fixtures_dir: the ``fixtures_dir`` param, relative to ``root``.
    :param root: the replay root (:func:`fixtures_root`); ``None`` means replay is disabled.
    :raises QticketsConfigError: see :func:`resolve_fixtures_dir`.
    """

    def __init__(self, fixtures_dir: str | Path, *, root: str | Path | None) -> None:
        self.folder, self.root = resolve_fixtures_dir(fixtures_dir, root)

    def settings(self, conn_id: str, api: str) -> HookSettings:
        """What a hook replaying ``api`` runs with: defaults, one request at a time, no secret."""
        return HookSettings(conn_id=conn_id, base_url=f"{REPLAY_BASE}/{api}", token="", concurrency=1)

    def files_for(self, dataset: str) -> list[Path]:
        """The saved responses present for ``dataset`` (empty: the folder has none of them)."""
        return [p for pattern in FIXTURE_FILES[dataset] for p in sorted(self.folder.glob(pattern)) if p.is_file()]

    @staticmethod
    def looked_for(dataset: str) -> str:
        """The files a dataset replays, for messages."""
        return " or ".join(FIXTURE_FILES[dataset])

    def has_partner_tickets(self) -> bool:
        return (self.folder / "partners" / "tickets_find.json").is_file()

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise QticketsConfigError(
                f"fixture {path} resolves to {resolved}, outside the replay root {self.root}: replays read only "
                "files inside it (replace the link by the file itself)"
            )
        return resolved

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

    def _answer(self, api: str, path: str, page: int) -> Any:
        if api == "partners":
            payload = self._load("partners/tickets_find")
            result = payload.get("result") if isinstance(payload, dict) else payload
            return {"status": "success", "result": list(result or [])}
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == "shows" and parts[2] == "seats":
            payload = self._load(path)
            data = payload.get("data", payload) if isinstance(payload, dict) else {}
            return {"data": data if isinstance(data, dict) else {}}
        if len(parts) == 3 and parts[0] == "shows" and parts[2] == "barcodes":
            payload = self._load(path)
            return payload if isinstance(payload, list) else []
        # A list endpoint: every saved page as one unpaged list on page 1 (the guard sees them all before
        # any is loaded), nothing after it.
        records = [r for p in _pages(self._load(path)) for r in p] if page <= 1 else []
        return {"data": records}

    def send(self, api: str, method: str, url: str, *, params: dict[str, Any] | None, body: Any) -> requests.Response:
        """The saved response to the request a hook of ``api`` would have sent."""
        path = url.removeprefix(f"{REPLAY_BASE}/{api}").strip("/")
        filters = body or params  # the page number travels in the JSON body or the query string
        page = int(filters.get("page") or 1) if isinstance(filters, dict) else 1
        log.info("Replaying %s %s from %s", method, path, self.folder)
        return _response(url, self._answer(api, path, page))
