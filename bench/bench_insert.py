"""Insert-path benchmark of ClickHouseHook: synthetic ticket-like rows into chDB and a 18.16 server.

    .venv/bin/python bench/bench_insert.py [--rows 1000000] [--batches 10000,50000] [--engines chdb,server]

Every configuration runs in its own child process (chDB allows one folder per process, and peak RSS
is then per configuration). Rows are ~20 columns: 6 ids, 3 DateTime as epoch ints, 4 Decimal money as
str, 5 LowCardinality strings, a seat, a quantity, a ~600-byte payload_json and ``_ver`` — the shapes
the row mappers emit. Prints a table of rows/s and peak RSS (client; server peak for the server).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _harness import run_child, use_clickhouse

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = (
    "order_id", "ticket_id", "event_id", "show_id", "client_id", "promo_id",
    "created_at", "paid_at", "updated_at",
    "price", "discount", "service_fee", "ticket_amount",
    "currency", "status", "channel", "payment_method", "city",
    "seat_id", "quantity", "payload_json", "_ver",
)
DDL = """
CREATE TABLE IF NOT EXISTS {{ db }}.bench_tickets (
    order_id UInt64, ticket_id UInt64, event_id UInt64, show_id UInt64, client_id UInt64, promo_id UInt64,
    created_at DateTime('Europe/Moscow'), paid_at DateTime('Europe/Moscow'), updated_at DateTime('Europe/Moscow'),
    price Decimal(12, 2), discount Decimal(12, 2), service_fee Decimal(12, 2), ticket_amount Decimal(12, 2),
    currency LowCardinality(String), status LowCardinality(String), channel LowCardinality(String),
    payment_method LowCardinality(String), city LowCardinality(String),
    seat_id String, quantity UInt16, payload_json String, _ver UInt64
) ENGINE = ReplacingMergeTree(_ver) PARTITION BY toYYYYMM(created_at) ORDER BY (order_id, ticket_id)
"""
_BASE_TS = 1_772_323_200  # 2026-03-01 03:00 MSK


def _payloads(n: int = 512) -> list[str]:
    out = []
    for i in range(n):
        doc = {"id": i, "event": {"name": f"Концерт №{i}", "venue": "Большой зал", "city": "Москва"},
               "seat": {"row": i % 30, "place": i % 50, "zone": "Партер"},
               "customer": {"email_hash": f"{i:064x}", "phone_hash": f"{i * 7:064x}"},
               "utm": {"source": "vk", "medium": "cpc", "campaign": f"autumn-{i % 9}"},
               "price": "1826.00", "discount": "0.00", "comment": "х" * 40}
        out.append(json.dumps(doc, ensure_ascii=False))
    return out


def synthetic_rows(n: int) -> Iterator[tuple]:
    """Ticket-like rows, generated lazily (the generator itself is measured separately)."""
    payloads = _payloads()
    statuses, channels = ("paid", "refunded", "reserved"), ("web", "widget", "box_office", "partner")
    methods, cities = ("card", "sbp", "cash"), ("Москва", "Казань", "Санкт-Петербург", "Самара")
    for i in range(n):
        ts = _BASE_TS + (i % 2_000_000)
        yield (i // 3, i, i % 500, i % 5000, i % 100_000, i % 50,
               ts, ts + 60, ts + 120,
               f"{1000 + i % 900}.00", "0.00", f"{i % 90}.50", f"{1000 + i % 900}.00",
               "RUB", statuses[i % 3], channels[i % 4], methods[i % 3], cities[i % 4],
               f"r{i % 30}-p{i % 50}", 1, payloads[i % len(payloads)], (ts << 32) | ts)


def child(engine: str, batch: int, rows: int, folder: str, port: int) -> dict:
    """Run one configuration in this (child) process and return its numbers."""
    use_clickhouse(engine, "bench", folder, port)
    from qtickets.hooks.clickhouse import ClickHouseHook

    with ClickHouseHook(batch_size=batch) as hook:
        hook.execute(DDL)
        hook.execute("TRUNCATE TABLE {{ db }}.bench_tickets")
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        written = hook.insert("bench_tickets", COLUMNS, synthetic_rows(rows))
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
        counted = hook.fetch_all("SELECT count() FROM {{ db }}.bench_tickets")[0][0]
    return {"engine": engine, "batch": batch, "rows": written, "counted": counted, "seconds": seconds, "cpu": cpu,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _generator_rate(rows: int) -> float:
    started = time.perf_counter()
    for _ in synthetic_rows(rows):
        pass
    return rows / (time.perf_counter() - started)



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batches", default="10000,50000")
    parser.add_argument("--engines", default="chdb,server")
    parser.add_argument("--child", nargs=4, metavar=("ENGINE", "BATCH", "FOLDER", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, batch, folder, port = args.child
        print(json.dumps(child(engine, int(batch), args.rows, folder, int(port))))
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-insert-"))
    port = 19_655
    engines = args.engines.split(",")
    results = []
    print(f"generator alone: {_generator_rate(min(args.rows, 200_000)):,.0f} rows/s")
    for engine in engines:
        for batch in (int(b) for b in args.batches.split(",")):
            argv = ["--rows", str(args.rows), "--child", engine, str(batch), str(work / f"chdb-{batch}"), str(port)]
            results.append(run_child(__file__, engine, argv, work / f"server-{batch}", port))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(rows/s is wall clock; client CPU s counts this process's threads, chDB's engine included)")
    print(f"\n{'engine':8} {'batch':>7} {'rows':>9} {'seconds':>8} {'rows/s':>9} {'client CPU s':>13} "
          f"{'client RSS MB':>14} {'server RSS MB':>14}")
    for r in results:
        server = f"{r['server_mb']:.0f}" if r["server_mb"] else "-"
        print(f"{r['engine']:8} {r['batch']:>7} {r['counted']:>9} {r['seconds']:>8.2f} "
              f"{r['rows'] / r['seconds']:>9,.0f} {r['cpu']:>13.2f} {r['rss_mb']:>14.0f} {server:>14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
