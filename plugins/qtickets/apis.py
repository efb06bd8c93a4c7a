"""What a dataset reads through: the hooks of one load, live or replayed, and the wiring that picks them.

:func:`open_apis` is the one place that decides, per dataset and run, between the live API, saved
responses (``fixtures_dir``) and a skip (the Partners connection or its search requests are absent).
Datasets then call the hooks directly (``apis.rest.iter_pages(...)``): replay happens at the hooks'
network seam (:class:`~qtickets.replay.Replay`), not in a layer of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from qtickets.exceptions import QticketsConfigError

if TYPE_CHECKING:
    from qtickets.datasets import Dataset
    from qtickets.hooks.clickhouse import ClickHouseHook
    from qtickets.hooks.qtickets import QticketsHook, QticketsPartnersHook
    from qtickets.params import RunParams

log = logging.getLogger(__name__)

QTICKETS_CONN_ID = "qtickets_default"
PARTNERS_CONN_ID = "qtickets_partners_default"
PARTNER_REQUESTS_VARIABLE = "qtickets_partner_find_requests"
#: Request counters summed over the hooks of a load (gap_*: id gaps re-read, ADR 0006).
STAT_KEYS = ("requests", "retries", "pages", "gap_reads", "gap_records")


@dataclass(frozen=True)
class Apis:
    """The hooks one dataset load reads through, and the warehouse it may consult (show ids)."""

    rest: QticketsHook
    warehouse: ClickHouseHook | None = None
    partners: QticketsPartnersHook | None = None
    partner_requests: tuple[dict, ...] = ()

    def upcoming_shows(self) -> list[tuple[int, int]]:
        """``(show_id, event_id)`` of the shows staging knows that have not ended."""
        from qtickets.warehouse.shows import upcoming_shows

        return upcoming_shows(self.warehouse) if self.warehouse is not None else []

    def stats(self) -> dict[str, int]:
        """Request counters of every hook of this load."""
        hooks = [h for h in (self.rest, self.partners) if h is not None]
        return {key: sum(int(getattr(h.stats, key, 0)) for h in hooks) for key in STAT_KEYS}


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


def _replayed(ds: Dataset, params: RunParams, ch: ClickHouseHook | None) -> tuple[Apis | None, str | None]:
    from qtickets.hooks.qtickets import QticketsHook, QticketsPartnersHook
    from qtickets.replay import Replay, fixtures_root

    replay = Replay(params.fixtures_dir, root=fixtures_root())
    if not replay.files_for(ds.name):
        looked = (f"fixtures_dir {replay.folder} holds no saved response for {ds.name} (looked for "
                  f"{replay.looked_for(ds.name)})")
        if ds.name in params.datasets:
            raise QticketsConfigError(f"{looked}; it is named in the run's 'datasets': add the files or leave it out")
        return None, f"{looked}; not named in 'datasets'"
    log.info("Replaying saved responses from %s (no HTTP request)", replay.folder)
    return Apis(
        rest=QticketsHook(qtickets_conn_id=QTICKETS_CONN_ID, replay=replay), warehouse=ch,
        partners=QticketsPartnersHook(qtickets_partners_conn_id=PARTNERS_CONN_ID, replay=replay),
        partner_requests=({"filter": {}},) if replay.has_partner_tickets() else (),
    ), None


def open_apis(ds: Dataset, params: RunParams, ch: ClickHouseHook | None) -> tuple[Apis | None, str | None]:
    """``(apis, None)`` to load ``ds`` with, or ``(None, why it is skipped)``.

    :raises QticketsConfigError: replay is asked for but not allowed here, or a dataset named in
        ``datasets`` has no saved response; the partner search requests are malformed.
    """
    from qtickets.hooks.qtickets import QticketsHook, QticketsPartnersHook

    if params.fixtures_dir:
        return _replayed(ds, params, ch)
    rest = QticketsHook(qtickets_conn_id=QTICKETS_CONN_ID)
    if ds.api != "partners":
        return Apis(rest=rest, warehouse=ch), None
    from airflow.sdk import Variable

    from qtickets.connections import optional_connection

    if optional_connection(PARTNERS_CONN_ID) is None:
        return None, (f"connection {PARTNERS_CONN_ID} is not defined; the Partners API needs a key issued "
                      "by QTickets support - add the connection to load partner tickets")
    requests = parse_partner_requests(Variable.get(PARTNER_REQUESTS_VARIABLE, default=None))
    if not requests:
        return None, f"Variable {PARTNER_REQUESTS_VARIABLE} holds no search requests"
    return Apis(rest=rest, warehouse=ch, partners=QticketsPartnersHook(qtickets_partners_conn_id=PARTNERS_CONN_ID),
                partner_requests=tuple(requests)), None
