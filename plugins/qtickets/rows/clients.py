"""Buyers -> ``stg_qtickets_api_clients_raw``: ids and keyed hashes; names/e-mail/phone only in clear mode."""

from __future__ import annotations

from qtickets.pii import scrub_client
from qtickets.rows.common import MapContext, dumps, uint

CLIENTS_TABLE = "stg_qtickets_api_clients_raw"

COLUMNS: dict[str, tuple[str, ...]] = {
    CLIENTS_TABLE: (
        "client_id", "email_hash", "phone_hash", "email", "phone", "first_name", "last_name", "middle_name",
        "payload_json", "_ver", "_loaded_at", "pii_key_version",
    ),
}


def map_clients(records: list[dict], ctx: MapContext) -> dict[str, list[tuple]]:
    """Clients have no ``updated_at``: ``_ver`` is the fetch time (the latest read wins)."""
    pii = ctx.pii
    ver = ctx.ver(None)
    key_version = pii.key_version
    rows: list[tuple] = []
    for rec in records:
        details = rec.get("details") if isinstance(rec.get("details"), dict) else {}
        email, phone = rec.get("email"), details.get("phone")
        rows.append(
            (
                uint(rec.get("id"), name="client id"), pii.hash_email(email), pii.hash_phone(phone),
                pii.clear(email), pii.clear(phone), pii.clear(details.get("name")),
                pii.clear(details.get("surname")), pii.clear(details.get("middlename")),
                dumps(scrub_client(rec, pii)), ver, ctx.loaded_at, key_version,
            )
        )
    return {CLIENTS_TABLE: rows}
