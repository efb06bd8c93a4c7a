"""Helpers shared by the row mappers: typed conversions of vendor values.

Conventions (docs/internals.md): timestamps -> epoch seconds, money -> ``str`` (never float: the
driver truncates floats into Decimal), ids -> ``int`` (UInt64), flags -> 0/1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from qtickets.pii import PiiPolicy
from qtickets.timeutil import make_ver, to_epoch

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
EMPTY_UTM = ("", "", "", "", "")


@dataclass(frozen=True)
class MapContext:
    """What every mapper needs besides the records.

    :param fetched_at: aware instant the page was read (``_loaded_at`` and the low half of ``_ver``).
    :param pii: personal-data policy.
    """

    fetched_at: datetime
    pii: PiiPolicy = field(default_factory=PiiPolicy)

    def __post_init__(self) -> None:
        if self.fetched_at.tzinfo is None:
            raise ValueError("MapContext.fetched_at must be timezone-aware (use qtickets.timeutil.utcnow())")

    @property
    def loaded_at(self) -> int:
        """Epoch seconds of the fetch (``_loaded_at``)."""
        return int(self.fetched_at.timestamp())

    def ver(self, updated_at: str | datetime | None) -> int:
        """``_ver`` of a record (see :func:`qtickets.timeutil.make_ver`)."""
        return make_ver(updated_at, self.fetched_at)


def money(value: Any) -> str:
    """Vendor amount -> decimal text (``None``/'' -> ``"0"``).

    :raises ValueError: the value is not a number.
    """
    if value is None or value == "":
        return "0"
    t = type(value)
    if t is int:
        return str(value)
    if t is float:
        text = repr(value)
        if "e" in text or "inf" in text or "nan" in text:
            return _decimal_text(value)
        return text
    if t is bool:
        raise ValueError(f"money value is a boolean ({value!r}); expected a number")
    return _decimal_text(value)


def _decimal_text(value: Any) -> str:
    try:
        dec = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a money amount: {value!r}") from exc
    if not dec.is_finite():
        raise ValueError(f"not a finite money amount: {value!r}")
    return format(dec, "f")


def flag(value: Any) -> int:
    """Vendor bool / 0/1 / "0"/"1"/"true" -> 0 or 1."""
    if value is None or value is False or value == 0 or value == "":
        return 0
    if value is True or value == 1:
        return 1
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("1", "true", "yes"):
            return 1
        if low in ("0", "false", "no"):
            return 0
    raise ValueError(f"not a boolean flag: {value!r}")


def uint(value: Any, *, name: str = "value") -> int:
    """Required non-negative integer id/count.

    :raises ValueError: missing or not an integer.
    """
    if type(value) is int and value >= 0:
        return value
    if value is None or value == "" or isinstance(value, bool):
        raise ValueError(f"{name} is missing or not an integer: {value!r}")
    try:
        out = int(str(value).strip())
    except ValueError as exc:
        raise ValueError(f"{name} is not an integer: {value!r}") from exc
    if out < 0:
        raise ValueError(f"{name} is negative: {value!r}")
    return out


def opt_uint(value: Any, *, name: str = "value") -> int | None:
    """Optional id: ``None``/'' stay ``None``."""
    if value is None or value == "":
        return None
    return uint(value, name=name)


def count(value: Any) -> int:
    """Counter that may be missing or '' (seat maps): -> int, missing -> 0."""
    if type(value) is int:
        return value
    if value is None or value == "" or isinstance(value, bool):
        return int(bool(value))
    try:
        return int(float(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a counter: {value!r}") from exc


def ts(value: Any) -> int | None:
    """Vendor timestamp -> epoch seconds (``None`` stays ``None``)."""
    return to_epoch(value)


def text(value: Any) -> str:
    """Optional text -> str ('' for missing)."""
    if value is None:
        return ""
    return value if type(value) is str else str(value)


def utm(value: Any) -> tuple[str, str, str, str, str]:
    """The five UTM values from ``utm`` that is ``[]`` when empty or an object when present."""
    if not value or not isinstance(value, dict):
        return EMPTY_UTM
    get = value.get
    return tuple(text(get(k)) for k in UTM_KEYS)  # type: ignore[return-value]



def dumps(obj: Any) -> str:
    """Compact JSON text for ``payload_json`` (non-str keys and odd values tolerated)."""
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def ids_of(items: Any) -> list[int]:
    """Ids of a list of ``{id: ...}`` objects (events/shows lists on discounts)."""
    if not isinstance(items, list):
        return []
    return [uint(item["id"], name="id") for item in items if isinstance(item, dict) and item.get("id") is not None]
