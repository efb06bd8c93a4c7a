"""Time helpers shared by the hook, the row mappers and the pipeline.

The vendor writes instants with a ``+03:00`` offset; the warehouse stores ``DateTime('Europe/Moscow')``
fed with epoch seconds (the fast path of both engines).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

#: The vendor's and the warehouse's zone: its IANA name (for ClickHouse DDL and sessions) and the zone.
MSK_NAME = "Europe/Moscow"
MSK = ZoneInfo(MSK_NAME)
_MSK_FIXED = timezone(timedelta(hours=3))


def parse_ts(value: str | None) -> datetime | None:
    """Parse a vendor timestamp into an aware datetime.

    ``None`` and ``""`` give ``None``. A value without an offset is read as Moscow time (the vendor's
    zone), never as UTC. A date-only value is midnight Moscow time.

    :raises ValueError: the value is not an ISO-8601 date or timestamp.
    """
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=MSK)
    return parsed


@lru_cache(maxsize=4096)
def _epoch_of_text(value: str) -> int:
    """Epoch seconds of a non-empty vendor timestamp text; remembered, since an order's times recur on its
    baskets (deletion) and in its row version (``updated_at``)."""
    return int(parse_ts(value).timestamp())


def to_epoch(value: str | datetime | None) -> int | None:
    """Epoch seconds of a vendor timestamp (or aware datetime); ``None`` stays ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return _epoch_of_text(value)
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: attach a time zone first")
    return int(value.timestamp())


def make_ver(updated_at: str | datetime | None, fetched_at: datetime) -> int:
    """Row version for ``ReplacingMergeTree(_ver)``.

    Vendor ``updated_at`` in the high 32 bits, fetch time in the low 32 bits: a later vendor update
    always wins, and for an unchanged record the later read wins. Re-reading an old window therefore
    never replaces newer data.
    """
    fetched = int(fetched_at.timestamp())
    updated = to_epoch(updated_at)
    return ((updated if updated is not None else fetched) << 32) | (fetched & 0xFFFFFFFF)


def format_api_ts(value: datetime) -> str:
    """Format an instant for a vendor filter: extended offset form in Moscow time (``+03:00``)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: attach a time zone first")
    return value.astimezone(_MSK_FIXED).isoformat(timespec="seconds")


def msk_date(value: str | datetime | None) -> date | None:
    """Calendar date in Moscow of a vendor timestamp."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = parse_ts(value)
    return value.astimezone(MSK).date()


def utcnow() -> datetime:
    """Aware current time (one place to freeze in tests)."""
    return datetime.now(UTC)
