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
the hash is a plain SHA-256 and can be reversed by brute force over the phone/e-mail space, so the key
belongs in the ClickHouse connection extra ``pii_hash_key`` (a secret).
"""

from __future__ import annotations

import hashlib
import hmac
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
_DROP = object()


def normalise_phone(value: str) -> str:
    """Digits of a phone number only."""
    return _NON_DIGITS.sub("", value)


def normalise_barcode(value: str) -> str:
    """Trimmed barcode."""
    return value.strip()


@dataclass(frozen=True)
class PiiPolicy:
    """How personal data lands in the warehouse.

    :param mode: ``"hash"`` (default) keeps keyed hashes only; ``"clear"`` keeps values as sent.
    :param key: HMAC key (the connection extra ``pii_hash_key``); empty means unkeyed hashes.
    """

    mode: Literal["hash", "clear"] = "hash"
    key: bytes = b""
    _hash: Callable[[str], str] = field(init=False, repr=False, compare=False)
    _actions: dict[str, Any] = field(init=False, repr=False, compare=False)
    _person_actions: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise QticketsConfigError(
                f"invalid personal-data mode {self.mode!r}: set the clickhouse connection extra "
                f"'pii_mode' to one of {', '.join(MODES)}"
            )
        if not isinstance(self.key, bytes):
            raise QticketsConfigError("PiiPolicy.key must be bytes; use PiiPolicy.from_settings for text keys")
        key = self.key

        @lru_cache(maxsize=1 << 16)
        def _hash(normalised: str) -> str:
            return hmac.digest(key, normalised.encode(), hashlib.sha256).hex()[:HASH_HEX_CHARS]

        object.__setattr__(self, "_hash", _hash)
        # Per-key action table: _DROP, or a function applied to non-null values (the hot path of
        # the ticket mapper does one dict lookup per key).
        actions: dict[str, Any] = dict.fromkeys(ALWAYS_DROP, _DROP)
        if self.mode == "hash":
            actions.update(dict.fromkeys(PERSON_KEYS, _DROP))
            actions.update(dict.fromkeys(EMAIL_KEYS, self._hash_email_value))
            actions.update(dict.fromkeys(PHONE_KEYS, self._hash_phone_value))
            actions.update(dict.fromkeys(BARCODE_KEYS, self.hash_barcode))
        person_actions = dict(actions)
        if self.mode == "hash":
            person_actions["name"] = _DROP
        object.__setattr__(self, "_actions", actions)
        object.__setattr__(self, "_person_actions", person_actions)

    @classmethod
    def from_settings(cls, mode: str | None, key: str | bytes | None) -> PiiPolicy:
        """Build the policy from connection extras; warns when hash mode has no key.

        :param mode: ``pii_mode`` extra (``None``/``""`` means ``"hash"``).
        :param key: ``pii_hash_key`` extra.
        """
        mode = (mode or "hash").strip().lower()
        raw = key.encode() if isinstance(key, str) else (key or b"")
        policy = cls(mode=mode, key=raw)  # type: ignore[arg-type]
        if policy.mode == "hash" and not raw:
            log.warning(
                "Personal data is hashed WITHOUT a key: the hashes of e-mails and phones can be reversed by "
                "brute force. Set the clickhouse connection extra 'pii_hash_key' to a long random secret."
            )
        return policy

    @property
    def hashing(self) -> bool:
        """True when personal values must not be stored in clear."""
        return self.mode == "hash"

    # -- hashes (computed in both modes so joins work the same way) -------------------------------

    def hash_email(self, value: str | None) -> str:
        """Keyed hash of an e-mail ('' for no value)."""
        return self._hash(normalise_email(value)) if value else ""

    def hash_phone(self, value: str | None) -> str:
        """Keyed hash of a phone number ('' for no value or no digits)."""
        digits = normalise_phone(value) if value else ""
        return self._hash(digits) if digits else ""

    def hash_barcode(self, value: str | None) -> str:
        """Keyed hash of a barcode ('' for no value)."""
        if value is None or value == "":
            return ""
        return self._hash(normalise_barcode(str(value)))

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

    def _hash_email_value(self, value: Any) -> str | None:
        return self.hash_email(value) if isinstance(value, str) else None

    def _hash_phone_value(self, value: Any) -> str | None:
        return self.hash_phone(value) if isinstance(value, str) else None

    def _scrub_dict(self, obj: dict, person: bool) -> dict:
        actions = self._person_actions if person else self._actions
        get = actions.get
        out: dict[str, Any] = {}
        for k, v in obj.items():
            action = get(k)
            if action is None:
                tv = type(v)
                if v and (tv is dict or tv is list):
                    out[k] = self.scrub(v, person=person or k in PERSON_CONTAINERS)
                else:
                    out[k] = v
            elif action is not _DROP:
                out[k] = None if v is None else action(v)
        return out


def scrub_order(order: dict, policy: PiiPolicy) -> dict:
    """Order without its baskets (they are stored per ticket), scrubbed."""
    return policy.scrub({k: v for k, v in order.items() if k != "baskets"})


def scrub_basket(basket: dict, policy: PiiPolicy) -> dict:
    """One basket (ticket) scrubbed; nested related baskets are scrubbed too."""
    return policy._scrub_dict(basket, False)


def scrub_client(client: dict, policy: PiiPolicy) -> dict:
    """A buyer record: in hash mode only ids and hashes remain."""
    return policy._scrub_dict(client, True)


def scrub_record(record: dict, policy: PiiPolicy) -> dict:
    """Any other vendor record (barcode, partner ticket...)."""
    return policy._scrub_dict(record, False)
