"""End-to-end warehouse benchmark: vendor-shaped order pages -> orjson.loads -> map_orders -> hook.insert.

    .venv/bin/python bench/bench_warehouse.py [--tickets 1000000] [--batch 50000] [--engines chdb,server]

Synthetic pages look like ``GET /orders`` pages (50 orders, ~3 baskets each, every field of the real
capture, e-mails/phones/barcodes/URLs to hash and scrub). Page generation is not timed; parsing,
mapping (hash-mode PII, payload_json) and inserting are, per phase. Rows are buffered up to ``--batch``
tickets and then inserted, so memory is bounded by the batch. chDB inserts into the real staging
tables (orders + tickets, after ``apply_migrations``); the 18.16 server (if
``scripts/clickhouse-test-server.sh`` and the binary exist) gets an 18.16-compatible copy of the
tickets table made from the migrations (``_harness.server_ddl``: no CODEC/TTL/COMMENT, String instead of
LowCardinality). Each configuration runs in its own
child process (one chDB folder per process; peak RSS per configuration).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from _harness import SERVER_SCRIPT, run_child, server_ddl, use_clickhouse

ROOT = Path(__file__).resolve().parents[1]
BASE = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
SEATS = ("Детский билет (в будни)", "Взрослый билет (в выходные)", "CENTER_PARTERRE", "Танцевальный партер")


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).replace(tzinfo=None).isoformat() + "+00:00"


def synthetic_page(page: int, rng: random.Random, per_page: int = 50) -> bytes:
    """One ``GET /orders`` page shaped like the capture (ids unique across pages)."""
    orders = []
    for i in range(per_page):
        oid = page * per_page + i + 1
        created = BASE + timedelta(minutes=oid)
        paid = rng.random() > 0.2
        n = rng.choice((2, 3, 3, 4))
        baskets = []
        for k in range(n):
            price = rng.choice((390, 490, 590, 1200, 2500))
            baskets.append({
                "id": oid * 10 + k, "series": f"88{oid}", "barcode": f"{900000000000 + oid * 10 + k}",
                "show_id": 150000 + oid % 40, "seat_id": f"zone-{k};{oid % 30}", "seat_name": SEATS[k % 4],
                "original_price": price, "ticket_original_price": price, "discount_value": 0, "price": price,
                "ticket_amount": price if paid else 0, "service_fee_amount": 0, "multiprice_code": None, "quantity": 1,
                "client_email": f"buyer{oid}@example.com", "client_phone": f"+7900{oid:07d}", "client_name": "Мария",
                "client_surname": "Попова", "client_middlename": None, "organization_name": None, "legal_name": None,
                "work_position": None, "inn": None, "kpp": None, "comment": None,
                "pdf_url": f"https://qtickets.ru/x/pdf/{oid}/{k}abcdef0123456789",
                "passbook_url": f"https://qtickets.ru/x/pb/{oid}/{k}abcdef0123456789", "related_baskets": [],
                "services": [], "checked_at": None, "created_at": _iso(created), "updated_at": _iso(created),
                "deleted_at": None if paid else _iso(created + timedelta(hours=1)), "refunded_at": None,
                "refunded_amount": None if paid else 0, "refunded_deduction_amount": None, "refunds": [],
            })
        orders.append({
            "id": oid, "uniqid": f"{oid:010x}", "payed": paid, "payed_at": _iso(created) if paid else None,
            "client_id": oid % 90000,
            "client": {"id": oid % 90000, "email": f"buyer{oid}@example.com",
                       "details": {"id": oid, "name": "Пётр", "middlename": None, "surname": "Смирнова",
                                   "phone": f"+7900{oid:07d}", "vk_id": "", "facebook_id": ""}},
            "site_id": 1356, "site": {"id": 1356, "host": "example.ru"}, "payment_id": 12133,
            "payment_type_id": "card", "payment_card_number": "400000******3303",
            "payment_url": f"https://qtickets.ru/pay/{oid:010x}",
            "cancel_url": f"https://qtickets.ru/cancel-order/{oid:010x}/b57a57e36621978f3733c47ed038e096",
            "basket_user_id": oid, "backend_user_id": None, "access_code_id": None, "discount_id": 6861,
            "promo_code_id": 168488, "reserved": False, "reserved_to": _iso(created + timedelta(days=1)),
            "reserve_extended": False, "event_id": 24089 + oid % 10, "price": sum(b["price"] for b in baskets),
            "original_price": sum(b["original_price"] for b in baskets), "currency_id": "RUB",
            "utm": {"utm_source": "yandex", "utm_medium": "cpc", "utm_campaign": "62384014"} if oid % 2 else [],
            "custom": "", "fields": [], "baskets": baskets, "refunds": [], "integrations": [],
            "created_at": _iso(created), "updated_at": _iso(created + timedelta(minutes=5)),
            "deleted_at": None if paid else _iso(created + timedelta(hours=1)),
        })
    return orjson.dumps({"data": orders, "paging": {"perPage": per_page, "currentPage": page + 1}})


def child(engine: str, tickets: int, batch: int, folder: str, port: int) -> dict:
    """Run one configuration in this process; returns its numbers."""
    use_clickhouse(engine, "bench_wh", folder, port)
    from qtickets import gc_scope
    from qtickets.hooks.clickhouse import ClickHouseHook
    from qtickets.pii import PiiPolicy
    from qtickets.rows.common import MapContext
    from qtickets.rows.orders import COLUMNS, ORDERS_TABLE, TICKETS_TABLE, map_orders
    from qtickets.warehouse import apply_migrations

    rng = random.Random(7)
    ctx = MapContext(fetched_at=datetime.now(UTC), pii=PiiPolicy("hash", b"bench-key"))
    timings = {"generate": 0.0, "parse": 0.0, "map": 0.0, "insert": 0.0}
    cpu = {"parse": 0.0, "map": 0.0, "insert": 0.0}  # process CPU seconds: robust on a shared machine
    written = {ORDERS_TABLE: 0, TICKETS_TABLE: 0}
    with ClickHouseHook(batch_size=batch) as hook:
        if engine == "chdb":
            apply_migrations(hook)
            tables = (ORDERS_TABLE, TICKETS_TABLE)
        else:
            for sql in server_ddl((TICKETS_TABLE,)):
                hook.execute(sql)
            tables = (TICKETS_TABLE,)
        for table in tables:
            hook.execute("TRUNCATE TABLE {{ db }}.{{ t }}", t=table)
        buffer: dict[str, list[tuple]] = {t: [] for t in tables}

        def flush() -> None:
            t0, c0 = time.perf_counter(), time.process_time()
            for table in tables:
                if buffer[table]:
                    written[table] += hook.insert(table, COLUMNS[table], buffer[table])
                    buffer[table] = []
            timings["insert"] += time.perf_counter() - t0
            cpu["insert"] += time.process_time() - c0

        page = 0
        with gc_scope.bulk_load():  # as load_dataset runs its page loop
            while written[TICKETS_TABLE] + len(buffer[TICKETS_TABLE]) < tickets:
                t0 = time.perf_counter()
                body = synthetic_page(page, rng)
                t1, c1 = time.perf_counter(), time.process_time()
                records = orjson.loads(body)["data"]
                t2, c2 = time.perf_counter(), time.process_time()
                mapped = map_orders(records, ctx)
                t3, c3 = time.perf_counter(), time.process_time()
                cpu["parse"] += c2 - c1
                cpu["map"] += c3 - c2
                timings["generate"] += t1 - t0
                timings["parse"] += t2 - t1
                timings["map"] += t3 - t2
                for table in tables:
                    buffer[table].extend(mapped[table])
                if len(buffer[TICKETS_TABLE]) >= batch:
                    flush()
                page += 1
            flush()
        counted = hook.fetch_all("SELECT count() FROM {{ db }}.stg_qtickets_api_tickets_raw")[0][0]
    return {"engine": engine, "batch": batch, "tickets": written[TICKETS_TABLE], "orders": written[ORDERS_TABLE],
            "counted": counted, **timings, "cpu": cpu, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--engines", default="chdb,server")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "FOLDER", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, folder, port = args.child
        print(json.dumps(child(engine, args.tickets, args.batch, folder, int(port))))
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-warehouse-"))
    port = 19_656
    results = []
    try:
        for engine in args.engines.split(","):
            if engine == "server" and not (SERVER_SCRIPT.exists() and shutil.which("clickhouse-server")):
                print("skipping server: scripts/clickhouse-test-server.sh or clickhouse-server missing")
                continue
            argv = ["--tickets", str(args.tickets), "--batch", str(args.batch), "--child", engine,
                    str(work / "chdb"), str(port)]
            results.append(run_child(__file__, engine, argv, work / "server", port))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    header = (f"{'engine':7} {'batch':>6} {'tickets':>9} {'orders':>8} {'parse s':>8} {'map s':>7} {'insert s':>8} "
              f"{'e2e s':>7} {'tickets/s':>10} {'rows/s':>9} {'map t/s':>9} {'RSS MB':>7} {'srv MB':>7}")
    print("\n" + header)
    for r in results:
        e2e = r["parse"] + r["map"] + r["insert"]
        rows = r["tickets"] + r["orders"]
        server = f"{r['server_mb']:.0f}" if r["server_mb"] else "-"
        print(f"{r['engine']:7} {r['batch']:>6} {r['counted']:>9} {r['orders']:>8} {r['parse']:>8.2f} {r['map']:>7.2f} "
              f"{r['insert']:>8.2f} {e2e:>7.2f} {r['tickets'] / e2e:>10,.0f} {rows / e2e:>9,.0f} "
              f"{r['tickets'] / r['map']:>9,.0f} {r['rss_mb']:>7.0f} {server:>7}")
    print("(e2e = parse + map + insert; page generation excluded; rows/s counts order + ticket rows)")
    print("\nCPU seconds of the loader process per phase (what an idle machine would need; chDB's insert threads"
          " run in-process, the server's do not):")
    print(f"{'engine':7} {'parse':>7} {'map':>7} {'insert':>7} {'tickets/s by CPU':>17} {'map tickets/s CPU':>18}")
    for r in results:
        c = r["cpu"]
        total = c["parse"] + c["map"] + c["insert"]
        print(f"{r['engine']:7} {c['parse']:>7.2f} {c['map']:>7.2f} {c['insert']:>7.2f} {r['tickets'] / total:>17,.0f} "
              f"{r['tickets'] / c['map']:>18,.0f}")
    print("\nTickets per second of each phase alone, by CPU time and by wall time (insert counts ticket rows;"
          " chDB also inserts the order rows in that time):")
    print(f"{'engine':7} {'parse CPU':>10} {'parse wall':>11} {'map CPU':>9} {'map wall':>9} {'insert CPU':>11} "
          f"{'insert wall':>12}")
    for r in results:
        c, n = r["cpu"], r["tickets"]
        print(f"{r['engine']:7} {n / c['parse']:>10,.0f} {n / r['parse']:>11,.0f} {n / c['map']:>9,.0f} "
              f"{n / r['map']:>9,.0f} {n / c['insert']:>11,.0f} {n / r['insert']:>12,.0f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
