# Over 300 lines: one policy class whose key tables must sit beside the hashing and scrubbing that read them.
"""Personal-data policy: keyed hashes of e-mails, phones and barcodes, and payload scrubbing.

Why: buyer e-mails, phones, names, card fragments, ticket download/cancel links and barcodes are
personal data or credentials. By default (``mode="hash"``) the warehouse keeps only a keyed hash of
e-mail/phone/barcode -- joins and distinct counts still work -- and strips everything else from
``payload_json``. ``mode="clear"`` keeps them for organisations that need them.

Capability URLs (``pdf_url``, ``passbook_url``, ``gpass_url``, ``payment_url``, ``cancel_url``) and
card fragments (``payment_card_number``) are removed in **both** modes: they grant access (download a
ticket, cancel an order) and no report needs them.

Hash: ``HMAC-SHA256(key, normalised value)``, hex, truncated to :data:`HASH_HEX_CHARS` (32 hex chars =
128 bits: collision-free at any realistic number of buyers, half the storage of the full digest).
Normalisation: e-mail trimmed and lower-cased; phone reduced to its digits (``+7 (900) 1-23`` and
``79001 23`` hash alike; a leading ``8`` is *not* rewritten to ``7``); barcode trimmed. Without a key
the hash can be reversed by brute force over the phone/e-mail space (a Russian mobile number in seconds),
so hash mode refuses to run without the ClickHouse connection extra ``pii_hash_key`` (a secret) unless
the connection says ``pii_allow_unkeyed: true`` (demos). ``pii_key_version`` (default 1) numbers the key;
it is stored next to the hashes so rows hashed with an older key can be told apart after a rotation.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from qtickets.exceptions import QticketsConfigError

log = logging.getLogger(__name__)

HASH_HEX_CHARS = 32
MODES = ("hash", "clear")
#: ``pii_key_version`` bounds (a ``UInt16`` column in staging).
MAX_KEY_VERSION = 65535
#: How to make a key, quoted by the error when hash mode has none.
KEY_RECIPE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})

#: Removed from every payload in every mode: capability URLs and card fragments.
ALWAYS_DROP = frozenset(
    {"pdf_url", "passbook_url", "gpass_url", "payment_url", "cancel_url", "payment_card_number"}
)
#: Keys whose value is an e-mail / phone / barcode: replaced by the keyed hash in hash mode.
EMAIL_KEYS = frozenset({"email", "client_email"})
PHONE_KEYS = frozenset({"phone", "client_phone"})
BARCODE_KEYS = frozenset({"barcode"})
#: Keys dropped in hash mode wherever they appear: names and free text typed by the buyer.
PERSON_KEYS = frozenset(
    {
        "client_name", "client_surname", "client_middlename", "surname", "middlename",
        "first_name", "last_name", "username", "vk_id", "facebook_id", "telegram_user",
        "organization_name", "legal_name", "work_position", "inn", "kpp", "comment", "fields",
    }
)
#: Objects that describe a person: inside them ``name`` is a person's name, elsewhere (event, seat,
#: discount) it is organiser data and is kept.
PERSON_CONTAINERS = frozenset({"client", "details", "telegram_user"})


def normalise_email(value: str) -> str:
    """Trimmed, lower-cased e-mail."""
    return value.strip().lower()


_NON_DIGITS = re.compile(r"\D+")
_CONTAINERS = frozenset({dict, list})
#: Bound of each raw-value hash cache: a buyer's e-mail/phone repeats on the order and on every ticket of
#: it, so recent values are what hits; a larger cache only holds more memory for a whole history
#: (ADR 0011: at 1 << 16 the three caches held ~60 MB of a load task).
CACHE_SIZE = 1 << 12
_SHA256_BLOCK = 64
#: Record shapes (key tuple + drop set) whose scrub plan :class:`PiiPolicy` remembers.
PLAN_CACHE_SIZE = 256


def normalise_phone(value: str) -> str:
    """Digits of a phone number only (the usual ``+79001234567`` and bare digits skip the regex)."""
    if value.isdecimal():  # str.isdecimal is the Unicode class Nd, exactly what \d matches
        return value
    if value[:1] == "+" and value[1:].isdecimal():
        return value[1:]
    return _NON_DIGITS.sub("", value)


def normalise_barcode(value: str) -> str:
    """Trimmed barcode."""
    return value.strip()


@dataclass(frozen=True)
class PiiPolicy:
    """How personal data lands in the warehouse.

    :param mode: ``"hash"`` (default) keeps keyed hashes only; ``"clear"`` keeps values as sent.
    :param key: HMAC key (the connection extra ``pii_hash_key``); empty means unkeyed hashes (only
        :meth:`from_settings` refuses that: the constructor stays usable in tests and mappers).
    :param key_version: number of the key (``pii_key_version``), stored with the hashes.
    """

    mode: Literal["hash", "clear"] = "hash"
    key: bytes = field(default=b"", repr=False)  # a secret: never in logs
    key_version: int = 1
    _hash: Callable[[str], str] = field(init=False, repr=False, compare=False)
    _email: Callable[[str], str] = field(init=False, repr=False, compare=False)
    _phone: Callable[[str], str] = field(init=False, repr=False, compare=False)
    _barcode: Callable[[str], str] = field(init=False, repr=False, compare=False)
    _drop: frozenset[str] = field(init=False, repr=False, compare=False)
    _person_drop: frozenset[str] = field(init=False, repr=False, compare=False)
    _hashers: dict[str, Callable[[Any], Any]] = field(init=False, repr=False, compare=False)
    _order_drop: frozenset[str] = field(init=False, repr=False, compare=False)
    _plans: dict[tuple[tuple[str, ...], frozenset[str]], tuple[tuple[str, ...], tuple[str, ...]]] = field(
        init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise QticketsConfigError(
                f"invalid personal-data mode {self.mode!r}: set the clickhouse connection extra "
                f"'pii_mode' to one of {', '.join(MODES)}"
            )
        if not isinstance(self.key, bytes):
            raise QticketsConfigError("PiiPolicy.key must be bytes; use PiiPolicy.from_settings for text keys")
        if type(self.key_version) is not int or not 1 <= self.key_version <= MAX_KEY_VERSION:
            raise QticketsConfigError(
                f"invalid pii_key_version {self.key_version!r}: set the clickhouse connection extra "
                f"'pii_key_version' to a whole number from 1 to {MAX_KEY_VERSION}"
            )
        _hash = _hmac_hex(self.key)
        object.__setattr__(self, "_hash", _hash)

        # Caches keyed by the raw value (one C-level lookup on a hit; one HMAC per distinct value).
        def _email(raw: str) -> str:
            return _hash(normalise_email(raw))

        def _phone(raw: str) -> str:
            digits = normalise_phone(raw)
            return _hash(digits) if digits else ""

        def _barcode(raw: str) -> str:
            return _hash(normalise_barcode(raw))

        for name, fn in (("_email", _email), ("_phone", _phone), ("_barcode", _barcode)):
            object.__setattr__(self, name, lru_cache(maxsize=CACHE_SIZE)(fn))
        # Key tables of the scrubber (set operations on dict keys run in C: the ticket hot path).
        drop = set(ALWAYS_DROP)
        hashers: dict[str, Callable[[Any], Any]] = {}
        if self.mode == "hash":
            drop |= PERSON_KEYS
            hashers.update(dict.fromkeys(EMAIL_KEYS, _value_hasher(self._email)))
            hashers.update(dict.fromkeys(PHONE_KEYS, _value_hasher(self._phone)))
            hashers.update(dict.fromkeys(BARCODE_KEYS, self.hash_barcode))
        object.__setattr__(self, "_drop", frozenset(drop))
        object.__setattr__(self, "_person_drop", frozenset(drop | {"name"}) if self.mode == "hash" else frozenset(drop))
        object.__setattr__(self, "_hashers", hashers)
        object.__setattr__(self, "_order_drop", frozenset(drop | {"baskets"}))

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> PiiPolicy:
        """The policy the ClickHouse connection's extras set (``pii_mode``, ``pii_hash_key``,
        ``pii_allow_unkeyed``, ``pii_key_version``).

        :raises QticketsConfigError: hash mode without ``pii_hash_key`` (and without ``pii_allow_unkeyed``).
        """
        return cls.from_settings(extra.get("pii_mode") or "hash", extra.get("pii_hash_key") or "",
                                 allow_unkeyed=extra.get("pii_allow_unkeyed", False),
                                 key_version=extra.get("pii_key_version"))

    @classmethod
    def from_settings(cls, mode: str | None, key: str | bytes | None, *, allow_unkeyed: Any = False,
                      key_version: Any = None) -> PiiPolicy:
        """Build the policy from the clickhouse connection extras.

        :param mode: ``pii_mode`` extra (``None``/``""`` means ``"hash"``).
        :param key: ``pii_hash_key`` extra.
        :param allow_unkeyed: ``pii_allow_unkeyed`` extra: hash mode without a key is accepted (with a
            warning) only when this is true.
        :param key_version: ``pii_key_version`` extra (``None``/``""`` means 1).
        :raises QticketsConfigError: hash mode without a key and without ``pii_allow_unkeyed``, or a bad value.
        """
        mode = (mode or "hash").strip().lower()
        raw = key.encode() if isinstance(key, str) else (key or b"")
        policy = cls(mode=mode, key=raw, key_version=_key_version(key_version))  # type: ignore[arg-type]
        if policy.mode == "hash" and not raw:
            if not _flag(allow_unkeyed, "pii_allow_unkeyed"):
                raise QticketsConfigError(
                    "personal data is in hash mode (clickhouse connection extra 'pii_mode', default 'hash') but "
                    "the extra 'pii_hash_key' is empty: unkeyed hashes of phones and e-mails are reversed by brute "
                    "force in seconds, so nothing is loaded. Set 'pii_hash_key' to a long random secret, e.g. the "
                    f"output of {KEY_RECIPE}, and keep it (a new key breaks joins with older rows; README, "
                    "'Personal data'). Only for demos and tests: set 'pii_allow_unkeyed' to true."
                )
            log.warning(
                "Personal data is hashed WITHOUT a key (pii_allow_unkeyed is true): the hashes of e-mails and "
                "phones can be reversed by brute force. Set the clickhouse connection extra 'pii_hash_key'."
            )
        return policy

    @property
    def hashing(self) -> bool:
        """True when personal values must not be stored in clear."""
        return self.mode == "hash"

    # -- hashes (computed in both modes so joins work the same way) -------------------------------

    def hash_email(self, value: str | None) -> str:
        """Keyed hash of an e-mail ('' for no value)."""
        return self._email(value) if value else ""

    def hash_phone(self, value: str | None) -> str:
        """Keyed hash of a phone number ('' for no value or no digits)."""
        return self._phone(value) if value else ""

    def hash_barcode(self, value: str | None) -> str:
        """Keyed hash of a barcode ('' for no value)."""
        if value is None or value == "":
            return ""
        return self._barcode(value if type(value) is str else str(value))

    def clear(self, value: Any) -> str:
        """The value in clear mode, '' in hash mode (for the clear-text columns)."""
        if not self.hashing and value is not None:
            return str(value)
        return ""

    # -- payload scrubbing ---------------------------------------------------------------------

    def scrub(self, obj: Any, *, person: bool = False) -> Any:
        """Copy of a vendor object with secrets removed and, in hash mode, personal data hashed/dropped."""
        if isinstance(obj, dict):
            return self._scrub_dict(obj, person)
        if isinstance(obj, list):
            return [self.scrub(item, person=person) for item in obj]
        return obj

    def _scrub_top(self, obj: dict, person: bool, drop: frozenset[str] | None = None) -> dict:
        """Copy of ``obj`` with this level's keys dropped/hashed; nested values are NOT scrubbed yet.

        ``drop`` overrides the key set removed at this level. The vendor sends records of few shapes (the
        same keys in the same order), so which keys stay and which are hashed is worked out once per shape
        and drop set (:meth:`_plan`); a record then costs one comprehension over the keys it keeps.
        """
        if drop is None:
            drop = self._person_drop if person else self._drop
        shape = (tuple(obj), drop)
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plan(shape)
        kept, hashed = plan
        out = {k: obj[k] for k in kept}
        for k in hashed:
            v = out[k]
            out[k] = None if v is None else self._hashers[k](v)
        return out

    def _plan(self, shape: tuple[tuple[str, ...], frozenset[str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The keys a record of ``shape`` keeps (in its order) and those of them that are hashed; remembered
        for :data:`PLAN_CACHE_SIZE` shapes (then forgotten all at once: odd shapes cannot grow memory)."""
        keys, drop = shape
        kept = tuple(k for k in keys if k not in drop)
        plan = kept, tuple(k for k in kept if k in self._hashers)
        if len(self._plans) >= PLAN_CACHE_SIZE:
            self._plans.clear()
        self._plans[shape] = plan
        return plan

    def _scrub_dict(self, obj: dict, person: bool, drop: frozenset[str] | None = None) -> dict:
        out = self._scrub_top(obj, person, drop)
        for k, v in out.items():
            if v:
                t = type(v)
                if t is dict:
                    out[k] = self._scrub_dict(v, person or k in PERSON_CONTAINERS)
                elif t is list:
                    out[k] = self.scrub(v, person=person or k in PERSON_CONTAINERS)
        return out


def _flag(value: Any, name: str) -> bool:
    """A boolean connection extra (JSON true/false, or text such as "true"/"0")."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise QticketsConfigError(f"invalid {name} {value!r}: set the clickhouse connection extra to true or false")


def _key_version(value: Any) -> int:
    """``pii_key_version`` as an int (unset -> 1); range checked by :class:`PiiPolicy`."""
    if value is None or value == "":
        return 1
    if isinstance(value, bool):
        raise QticketsConfigError(f"invalid pii_key_version {value!r}: expected a whole number from 1 to "
                                  f"{MAX_KEY_VERSION}")
    if isinstance(value, float) and value.is_integer():  # the connection form's number field
        return int(value)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise QticketsConfigError(f"invalid pii_key_version {value!r}: expected a whole number from 1 to "
                                  f"{MAX_KEY_VERSION}") from None
    return number


def _value_hasher(cached: Callable[[str], str]) -> Callable[[Any], str | None]:
    """Scrubber hash of an e-mail/phone value: a text is hashed ('' stays ''), anything else -> None."""

    def hash_value(value: Any) -> str | None:
        if isinstance(value, str):
            return cached(value) if value else ""
        return None

    return hash_value


def _hmac_hex(key: bytes) -> Callable[[str], str]:
    """``HMAC-SHA256(key, value)`` as :data:`HASH_HEX_CHARS` hex chars (RFC 2104, same digest as
    :func:`hmac.digest`), with the keyed inner/outer SHA-256 states computed once: each value then
    costs two compressions instead of four (about 3x faster than ``hmac.digest``)."""
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner_copy = hashlib.sha256(bytes(b ^ 0x36 for b in key)).copy
    outer_copy = hashlib.sha256(bytes(b ^ 0x5C for b in key)).copy

    def hmac_hex(normalised: str) -> str:
        inner = inner_copy()
        inner.update(normalised.encode())
        outer = outer_copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:HASH_HEX_CHARS]

    return hmac_hex


def scrub_order(order: dict, policy: PiiPolicy) -> dict:
    """Order without its baskets (they are stored per ticket), scrubbed."""
    return policy._scrub_dict(order, False, policy._order_drop)


def scrub_basket(basket: dict, policy: PiiPolicy, *, without: frozenset[str] = frozenset()) -> dict:
    """One basket (ticket) scrubbed, without its keys in ``without``; nested related baskets are scrubbed too."""
    return policy._scrub_dict(basket, False, policy._drop | without if without else None)


def scrub_client(client: dict, policy: PiiPolicy) -> dict:
    """A buyer record: in hash mode only ids and hashes remain."""
    return policy._scrub_dict(client, True)


def scrub_record(record: dict, policy: PiiPolicy) -> dict:
    """Any other vendor record (barcode, partner ticket...)."""
    return policy._scrub_dict(record, False)
