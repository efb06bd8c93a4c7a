"""Shows the warehouse knows: which ones the per-show datasets (inventory, barcodes) read."""

from __future__ import annotations

from typing import Any

from qtickets.warehouse.paths import QUERIES_DIR


def upcoming_shows(ch: Any) -> list[tuple[int, int]]:
    """``(show_id, event_id)`` of the staged shows that have not ended (``queries/upcoming_shows.sql``)."""
    rows = ch.run_sql_file(QUERIES_DIR / "upcoming_shows.sql")
    return [(int(show_id), int(event_id)) for show_id, event_id in rows]
