"""What mapping order pages INSIDE ClickHouse (chDB) would cost: the floor of an SQL twin of map_orders.

    .venv/bin/python bench/bench_sql_mapping.py [--pages 1000]

The Python mapper spends ~75 µs per ticket (bench_warehouse.py). The obvious way out is to let the engine
parse and map the raw pages. This script times, on the same synthetic vendor pages, each step such an
SQL mapper cannot avoid -- one query per step over in-memory tables, no validation, no fallbacks -- and
prints µs per ticket and the ceiling their sum implies. docs/adr/0005-warehouse-throughput.md uses it.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from bench_warehouse import synthetic_page

BASKET = (
    "Tuple(id Nullable(UInt64), event_id Nullable(UInt64), show_id Nullable(UInt64), seat_id Nullable(String), "
    "seat_name Nullable(String), deleted_at Nullable(String), refunded_at Nullable(String), checked_at Nullable(String), "
    "price Nullable(Float64), original_price Nullable(Float64), discount_value Nullable(Float64), "
    "ticket_amount Nullable(Float64), service_fee_amount Nullable(Float64), refunded_amount Nullable(Float64), "
    "quantity Nullable(UInt32), client_email Nullable(String), client_phone Nullable(String), barcode Nullable(String))"
)
ORDER = (
    "Tuple(id Nullable(UInt64), uniqid Nullable(String), event_id Nullable(UInt64), client_id Nullable(UInt64), "
    "payed Nullable(Bool), payed_at Nullable(String), created_at Nullable(String), updated_at Nullable(String), "
    f"deleted_at Nullable(String), price Nullable(Float64), currency_id Nullable(String), baskets Array({BASKET}))"
)
DROP = ("pdf_url", "passbook_url", "client_name", "client_surname", "client_middlename", "organization_name",
        "legal_name", "work_position", "inn", "kpp", "comment")


def hmac(expr: str) -> str:
    """HMAC-SHA256 from the padded key blocks ipad/opad (as qtickets.pii computes it), 32 hex chars."""
    return f"substring(lower(hex(SHA256(concat(opad, SHA256(concat(ipad, {expr})))))), 1, 32)"


STEPS = (
    ("explode pages into orders", "o",
     "INSERT INTO o SELECT arrayJoin(JSONExtractArrayRaw(doc, 'data')) FROM pages"),
    ("explode orders into baskets", "b",
     "INSERT INTO b SELECT arrayJoin(JSONExtractArrayRaw(raw, 'baskets')) FROM o"),
    ("typed fields of order + baskets", None,
     f"SELECT sum(length(JSONExtract(raw, '{ORDER}').baskets)) FROM o"),
    ("3 keyed hashes per ticket", None,
     "SELECT sum(" + " + ".join(
         "length(" + hmac(f"lower(trimBoth(JSONExtractString(raw, '{k}')))") + ")"
         for k in ("client_email", "client_phone", "barcode")) + ") FROM b, key"),
    ("payload: drop keys, one level", None,
     "SELECT sum(length(concat('{', arrayStringConcat(arrayMap(kv -> concat(toJSONString(kv.1), ':', kv.2), "
     f"arrayFilter(kv -> kv.1 NOT IN {DROP!r}, JSONExtractKeysAndValuesRaw(raw))), ','), '}}'))) FROM b"),
    ("insert id + payload (ZSTD) into MergeTree", None,
     "INSERT INTO t SELECT JSONExtractUInt(raw, 'id'), raw FROM b"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000, help="50 orders, ~150 tickets each")
    args = parser.parse_args()
    from chdb import session as chdb_session

    rng = random.Random(7)
    body = b"\n".join(synthetic_page(p, rng) for p in range(args.pages))
    s = chdb_session.Session()
    s.query("CREATE DATABASE IF NOT EXISTS bench")
    s.query("USE bench")
    for ddl in ("pages (doc String)", "o (raw String)", "b (raw String)", "key (ipad String, opad String)"):
        s.query(f"CREATE TABLE {ddl} ENGINE = Memory")
    s.query("CREATE TABLE t (ticket_id UInt64, payload String CODEC(ZSTD(3))) ENGINE = MergeTree ORDER BY ticket_id")
    s.query("INSERT INTO key SELECT repeat('6', 64), repeat('\\\\', 64)")
    t0 = time.perf_counter()
    with s.send_insert("INSERT INTO pages (doc)", "JSONAsString") as ins:
        ins.append(body)
        ins.finish()
    load = time.perf_counter() - t0
    results = [("raw pages into the engine (JSONAsString)", load)]
    for label, _, sql in STEPS:
        t0 = time.perf_counter()
        s.query(sql, "CSV")
        results.append((label, time.perf_counter() - t0))
    tickets = int(s.query("SELECT count() FROM b", "CSV").bytes())
    print(f"{tickets:,} tickets in {args.pages} pages ({len(body) / 1e6:.0f} MB of vendor JSON, "
          f"{len(body) / tickets:.0f} B per ticket); chDB {s.query('SELECT version()', 'CSV').bytes().decode().strip()}")
    print(f"\n{'step':45} {'s':>7} {'µs/ticket':>10} {'tickets/s':>11}")
    total = 0.0
    for label, seconds in results:
        total += seconds
        print(f"{label:45} {seconds:>7.3f} {seconds / tickets * 1e6:>10.1f} {tickets / seconds:>11,.0f}")
    print(f"{'sum (no validation, no fallback, no orders rows)':45} {total:>7.3f} {total / tickets * 1e6:>10.1f} "
          f"{tickets / total:>11,.0f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
