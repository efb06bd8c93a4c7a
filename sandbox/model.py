"""Small structural records of the synthetic dataset (events, shows, zones) and order states."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

PAID, CANCELLED, PART_REFUND, FULL_REFUND, PENDING = range(5)
PAID_STATES = (PAID, PART_REFUND, FULL_REFUND)
STATE_NAMES = {PAID: "paid", CANCELLED: "cancelled", PART_REFUND: "partly_refunded",
               FULL_REFUND: "refunded", PENDING: "pending"}


@dataclass
class Zone:
    """A price zone of a show: general admission (one seat with a quantity) or numbered seats."""

    zone_id: str
    name: str
    price_pos: int
    admission: bool
    capacity: int = 0
    places_per_row: int = 20


@dataclass
class Show:
    """One session of an event; ``baskets`` holds the global indexes of the tickets sold for it."""

    idx: int
    id: int
    event_idx: int
    start: int
    finish: int
    sale_start: int | None
    created: int
    updated: int
    prices: list[tuple[int, int, str]]  # (price id, default price, color theme id as str)
    zones: list[Zone]
    next_seat: int = 0
    baskets: array = field(default_factory=lambda: array("l"))


@dataclass
class Event:
    """An event with its city (id, name, IANA zone) and the indexes of its shows."""

    idx: int
    id: int
    name: str
    city: tuple[int, str, str]
    site: int
    sale_start: int
    last_start: int
    created: int
    updated: int
    deleted_at: int | None
    is_active: int
    shows: list[int] = field(default_factory=list)
