"""Personal-data policy: hashing, scrubbing, settings, and a scan of every mapped row of the capture."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime

import pytest

from qtickets.exceptions import QticketsConfigError
from qtickets.pii import HASH_HEX_CHARS, PERSON_CONTAINERS, PiiPolicy, scrub_basket, scrub_client, scrub_order
from qtickets.rows import barcodes, clients, orders, partner_tickets
from qtickets.rows.common import MapContext
from tests.unit.rows.conftest import load

FETCHED = datetime(2025, 11, 7, 12, 0, tzinfo=UTC)


def test_invalid_mode_is_a_clear_config_error():
    with pytest.raises(QticketsConfigError, match="pii_mode"):
        PiiPolicy.from_settings("plain", "k")


def test_key_never_in_repr():
    assert "topsecret" not in repr(PiiPolicy.from_settings("hash", "topsecret"))
    assert "topsecret" not in repr(MapContext(FETCHED, PiiPolicy("hash", b"topsecret")))


@pytest.mark.parametrize("key", [None, "", b""])
def test_hash_mode_without_a_key_is_refused_saying_what_to_set(key):
    with pytest.raises(QticketsConfigError) as err:
        PiiPolicy.from_settings(None, key)
    message = str(err.value)
    assert "pii_hash_key" in message and "secrets.token_urlsafe(32)" in message
    assert "pii_allow_unkeyed" in message and "brute force" in message


@pytest.mark.parametrize("allow", [False, "false", "0", None])
def test_unkeyed_is_refused_unless_explicitly_allowed(allow):
    with pytest.raises(QticketsConfigError, match="pii_hash_key"):
        PiiPolicy.from_settings("hash", "", allow_unkeyed=allow)


@pytest.mark.parametrize("allow", [True, "true", " Yes ", "1"])
def test_unkeyed_hash_mode_when_allowed_warns(caplog, allow):
    with caplog.at_level(logging.WARNING, logger="qtickets.pii"):
        policy = PiiPolicy.from_settings(None, None, allow_unkeyed=allow)
    assert policy.mode == "hash" and policy.key == b""
    assert "pii_hash_key" in caplog.text and "brute force" in caplog.text


def test_allow_unkeyed_must_be_a_boolean():
    with pytest.raises(QticketsConfigError, match="pii_allow_unkeyed"):
        PiiPolicy.from_settings("hash", "", allow_unkeyed="sometimes")


def test_clear_mode_needs_no_key():
    assert PiiPolicy.from_settings("clear", None).mode == "clear"


@pytest.mark.parametrize(("raw", "expected"), [(None, 1), ("", 1), (1, 1), ("2", 2), (3.0, 3), (65535, 65535)])
def test_key_version_defaults_to_one(raw, expected):
    assert PiiPolicy.from_settings("hash", "k", key_version=raw).key_version == expected


@pytest.mark.parametrize("raw", [0, -1, 65536, "two", 1.5, True])
def test_bad_key_version_is_a_config_error(raw):
    with pytest.raises(QticketsConfigError, match="pii_key_version"):
        PiiPolicy.from_settings("hash", "k", key_version=raw)


def test_key_version_is_stored_with_every_hash(captures_dir):
    # Every staging table with a hash column records which key made it.
    for module, table in ((orders, orders.ORDERS_TABLE), (orders, orders.TICKETS_TABLE),
                          (clients, clients.CLIENTS_TABLE), (barcodes, barcodes.BARCODES_TABLE),
                          (partner_tickets, partner_tickets.PARTNER_TICKETS_TABLE)):
        assert "pii_key_version" in module.COLUMNS[table], table
    ctx = MapContext(FETCHED, PiiPolicy("hash", b"k", key_version=7))
    out = orders.map_orders(load(captures_dir, "orders_page1.json"), ctx)
    for table in (orders.ORDERS_TABLE, orders.TICKETS_TABLE):
        at = orders.COLUMNS[table].index("pii_key_version")
        assert out[table] and {row[at] for row in out[table]} == {7}
    for module, table, record in ((clients, clients.CLIENTS_TABLE, {"id": 1, "email": "a@b.c"}),
                                  (barcodes, barcodes.BARCODES_TABLE, {"show_id": 1, "barcode": "1"}),
                                  (partner_tickets, partner_tickets.PARTNER_TICKETS_TABLE, {"id": 1})):
        (row,) = getattr(module, f"map_{module.__name__.rsplit('.', 1)[1]}")([record], ctx)[table]
        assert row[module.COLUMNS[table].index("pii_key_version")] == 7


@pytest.mark.parametrize(("mode", "key"), [("hash", "secret"), ("clear", None), (" CLEAR ", "")])
def test_no_warning_when_keyed_or_clear(caplog, mode, key):
    with caplog.at_level(logging.WARNING, logger="qtickets.pii"):
        PiiPolicy.from_settings(mode, key)
    assert caplog.text == ""


def test_hash_is_truncated_hmac_of_normalised_value():
    policy = PiiPolicy("hash", b"secret")
    expected = hmac.new(b"secret", b"buyer@example.com", hashlib.sha256).hexdigest()[:HASH_HEX_CHARS]
    assert policy.hash_email("  Buyer@Example.COM ") == expected
    assert len(expected) == 32
    assert policy.hash_phone("+7 (900) 123-45-67") == policy.hash_phone("79001234567")
    assert policy.hash_barcode(" 871495495233 ") == policy.hash_barcode(871495495233)
    assert PiiPolicy("hash", b"other").hash_email("buyer@example.com") != expected
    assert policy.hash_email(None) == policy.hash_phone("") == policy.hash_phone("---") == policy.hash_barcode(None) == ""


def test_capability_urls_and_card_dropped_even_in_clear_mode():
    policy = PiiPolicy("clear")
    o = {"id": 1, "payment_url": "u1", "cancel_url": "u2", "payment_card_number": "4000**1",
         "client": {"email": "a@b.c"}, "baskets": [{"id": 2}]}
    b = {"id": 2, "pdf_url": "u3", "passbook_url": "u4", "gpass_url": "u5", "client_email": "a@b.c",
         "related_baskets": [{"id": 3, "pdf_url": "u6"}]}
    assert scrub_order(o, policy) == {"id": 1, "client": {"email": "a@b.c"}}
    assert scrub_basket(b, policy) == {"id": 2, "client_email": "a@b.c", "related_baskets": [{"id": 3}]}


def test_hash_mode_hashes_contacts_and_drops_names_but_keeps_organiser_names():
    policy = PiiPolicy("hash", b"k")
    client = {"id": 1, "email": "A@b.c", "details": {"id": 2, "name": "Пётр", "surname": "С", "phone": "+7900",
                                                    "vk_id": "id1", "telegram_user": {"username": "p"}}}
    assert scrub_client(client, policy) == {
        "id": 1, "email": policy.hash_email("a@b.c"), "details": {"id": 2, "phone": policy.hash_phone("7900")},
    }
    b = {"id": 5, "seat_name": "Партер", "client_name": "Иван", "barcode": "123", "comment": "call me",
         "inn": "7700", "services": [{"name": "Парковка"}]}
    assert scrub_basket(b, policy) == {
        "id": 5, "seat_name": "Партер", "barcode": policy.hash_barcode("123"), "services": [{"name": "Парковка"}],
    }


def _capture_pii_values(records: list[dict]) -> set[str]:
    """Every e-mail, phone, name, URL, barcode and card value in the orders capture."""
    values: set[str] = set()
    for o in records:
        client = o.get("client") or {}
        details = client.get("details") or {}
        values.update(str(v) for v in (client.get("email"), details.get("phone"), details.get("name"),
                                       details.get("surname"), o.get("payment_url"), o.get("cancel_url"),
                                       o.get("payment_card_number")) if v)
        for b in o["baskets"]:
            values.update(str(b[k]) for k in ("client_email", "client_phone", "client_name", "client_surname",
                                              "barcode", "pdf_url", "passbook_url") if b.get(k))
    return values


def _all_text(rows_by_table: dict[str, list[tuple]]) -> list[str]:
    return [str(v) for rows in rows_by_table.values() for row in rows for v in row if v is not None]


def test_no_pii_from_the_capture_survives_hash_mode(captures_dir):
    records = load(captures_dir, "orders_page1.json")
    secrets = _capture_pii_values(records)
    assert len(secrets) > 200  # the scan is not vacuous
    out = orders.map_orders(records, MapContext(FETCHED, PiiPolicy("hash", b"k")))
    texts = _all_text(out)
    leaked = sorted(s for s in secrets if any(s in t for t in texts))
    assert leaked == []


def test_clear_mode_keeps_contacts_but_never_urls_or_cards(captures_dir):
    records = load(captures_dir, "orders_page1.json")
    out = orders.map_orders(records, MapContext(FETCHED, PiiPolicy("clear")))
    blob = "\n".join(_all_text(out))
    first = records[0]
    assert first["client"]["email"] in blob and first["baskets"][0]["barcode"] in blob
    for o in records:
        for value in (o["payment_url"], o["cancel_url"], o["payment_card_number"]):
            assert not value or value not in blob
        for b in o["baskets"]:
            assert not b["pdf_url"] or b["pdf_url"] not in blob


def test_clients_capture_hash_vs_clear(captures_dir):
    records = load(captures_dir, "clients_page1.json")
    secrets = {str(v) for r in records for v in (r["email"], r["details"].get("phone"), r["details"].get("name"),
                                                  r["details"].get("surname")) if v}
    hashed = _all_text(clients.map_clients(records, MapContext(FETCHED, PiiPolicy("hash", b"k"))))
    assert [s for s in secrets if any(s in t for t in hashed)] == []
    clear_rows = clients.map_clients(records, MapContext(FETCHED, PiiPolicy("clear")))[clients.CLIENTS_TABLE]
    cols = clients.COLUMNS[clients.CLIENTS_TABLE]
    first = dict(zip(cols, clear_rows[0], strict=True))
    assert first["email"] == records[0]["email"] and first["first_name"] == records[0]["details"]["name"]
    assert first["email_hash"] == PiiPolicy("clear").hash_email(records[0]["email"])


def test_barcodes_and_partner_tickets_hash_mode():
    policy = PiiPolicy("hash", b"k")
    ctx = MapContext(FETCHED, policy)
    bc = barcodes.map_barcodes([{"show_id": 1, "event_id": 2, "barcode": "871495495233", "price": 500,
                                 "seat_name": "Танцпол", "client_name": "Анна"}], ctx)
    pt = partner_tickets.map_partner_tickets([{"id": 9, "paid": 1, "barcode": "999111", "client_email": "x@y.z",
                                               "client_phone": "+7 901", "client_surname": "Петрова",
                                               "price": "100.50"}], ctx)
    texts = _all_text(bc) + _all_text(pt)
    for secret in ("871495495233", "999111", "x@y.z", "Анна", "Петрова"):
        assert not any(secret in t for t in texts), secret
    row = dict(zip(barcodes.COLUMNS[barcodes.BARCODES_TABLE], bc[barcodes.BARCODES_TABLE][0], strict=True))
    assert row["barcode_hash"] == policy.hash_barcode("871495495233") and row["barcode"] == ""
    clear = barcodes.map_barcodes([{"show_id": 1, "barcode": "871495495233"}], MapContext(FETCHED, PiiPolicy("clear")))
    assert clear[barcodes.BARCODES_TABLE][0][1] == "871495495233"


@pytest.mark.parametrize("key", [b"", b"k", b"x" * 63, b"x" * 64, b"y" * 65, bytes(range(256)) * 2])
def test_precomputed_hmac_equals_stdlib_hmac_for_any_key_length(key):
    policy = PiiPolicy("hash", key)
    for value in ("871495495233", "Ёлка-2025", "a" * 200, " "):
        want = hmac.new(key, value.strip().encode(), hashlib.sha256).hexdigest()[:HASH_HEX_CHARS]
        assert policy.hash_barcode(value) == want


def test_hash_caches_are_bounded():
    from qtickets.pii import CACHE_SIZE

    policy = PiiPolicy("hash", b"k")
    for i in range(CACHE_SIZE + 100):
        policy.hash_barcode(str(i))
    info = policy._barcode.cache_info()
    assert info.maxsize == CACHE_SIZE and info.currsize == CACHE_SIZE
    assert policy.hash_barcode("5") == hmac.new(b"k", b"5", hashlib.sha256).hexdigest()[:HASH_HEX_CHARS]


def test_scrub_order_drops_baskets_without_touching_the_input():
    policy = PiiPolicy("hash", b"k")
    o = {"id": 1, "baskets": [{"id": 2, "client_email": "a@b.c"}], "client": {"email": "a@b.c", "name": "Пётр"},
         "cancel_url": "u", "comment": "call me"}
    before = repr(o)
    assert scrub_order(o, policy) == {"id": 1, "client": {"email": policy.hash_email("a@b.c")}}
    assert repr(o) == before
    assert scrub_order(o, PiiPolicy("clear")) == {"id": 1, "client": {"email": "a@b.c", "name": "Пётр"},
                                                  "comment": "call me"}


def _plain_scrub(obj, policy: PiiPolicy, person: bool = False, drop: frozenset[str] | None = None):
    """The scrub rule written plainly (one key at a time), to hold the planned scrubber to it."""
    if isinstance(obj, list):
        return [_plain_scrub(item, policy, person) for item in obj]
    if not isinstance(obj, dict):
        return obj
    if drop is None:
        drop = policy._person_drop if person else policy._drop
    out = {}
    for key, value in obj.items():
        if key in drop:
            continue
        if key in policy._hashers:
            value = None if value is None else policy._hashers[key](value)
        elif value and type(value) in (dict, list):
            value = _plain_scrub(value, policy, person or key in PERSON_CONTAINERS)
        out[key] = value
    return out


@pytest.mark.parametrize("mode", ["hash", "clear"])
def test_planned_scrub_equals_the_plain_rule_key_order_included(mode):
    policy = PiiPolicy(mode, b"k")
    nested = {"client": {"name": "Анна", "email": "A@b.c", "details": {"phone": "+7 900", "name": "x"}},
              "related_baskets": [{"barcode": "123", "pdf_url": "u", "id": 9}], "phone": 79001234567,
              "email": None, "name": "Event", "fields": [{"a": 1}], "utm": []}
    records = [nested, dict(reversed(nested.items())), {"id": 1}, {}, {"barcode": 42, "inn": "7700"},
               *({f"k{i}": i, "email": f"{i}@x.ru"} for i in range(3))]
    for record in records:
        for person in (False, True):
            assert list(policy._scrub_dict(record, person).items()) == list(_plain_scrub(record, policy, person).items())
        without = orders.ticket_payload_without(policy)
        got = scrub_basket(record, policy, without=without)
        assert list(got.items()) == list(_plain_scrub(record, policy, drop=policy._drop | without).items())


def test_scrub_plans_are_bounded_and_still_right_after_a_reset():
    from qtickets.pii import PLAN_CACHE_SIZE

    policy = PiiPolicy("hash", b"k")
    shapes = [{f"key{i}": i, "email": "a@b.c", "pdf_url": "u"} for i in range(PLAN_CACHE_SIZE + 10)]
    for record in shapes:
        assert policy._scrub_dict(record, False) == _plain_scrub(record, policy)
    assert len(policy._plans) <= PLAN_CACHE_SIZE
    assert policy._scrub_dict(shapes[0], False) == _plain_scrub(shapes[0], policy)


@pytest.mark.parametrize("value", ["+79001234567", "79001234567", "+7 (900) 123-45-67", "8-900-123", "+", "",
                                   "++7900", "+٣٤٥", "٣٤٥", "+7\u00b2", "tel:+7900", " +7900"])
def test_phone_fast_paths_normalise_like_the_regex(value):
    import re

    from qtickets.pii import normalise_phone

    assert normalise_phone(value) == re.sub(r"\D+", "", value)
