"""How big is one organiser's warehouse? The numbers behind ADR 0008 (single shard, fully replicated).

    .venv/bin/python bench/bench_warehouse_size.py [--orders 126000]

Loads ``--orders`` synthetic vendor-shaped orders (``bench_warehouse.synthetic_page``: every field of the
real capture, 2-4 tickets each, hash-mode PII) into the real staging tables on chDB, rebuilds the sales
facts for every month, merges (``OPTIMIZE ... FINAL``) and prints rows, bytes on disk and uncompressed
bytes per table from ``system.parts`` (active parts). Not timed; numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
from datetime import UTC, date, datetime

import orjson
from bench_warehouse import synthetic_page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=126_000)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    folder = tempfile.mkdtemp(prefix="bench-size-")
    os.environ["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"] = json.dumps(
        {"conn_type": "qtickets_clickhouse", "schema": "bench_size", "extra": {"embedded_path": folder}})
    from qtickets.hooks.clickhouse import ClickHouseHook
    from qtickets.pii import PiiPolicy
    from qtickets.rows.common import MapContext
    from qtickets.rows.orders import COLUMNS, map_orders
    from qtickets.warehouse import apply_migrations, rebuild_sales_facts

    rng = random.Random(7)
    ctx = MapContext(fetched_at=datetime.now(UTC), pii=PiiPolicy("hash", b"bench-key"))
    months: set[date] = set()
    with ClickHouseHook() as ch:
        apply_migrations(ch)
        buffer: dict[str, list[tuple]] = {}
        for page in range((args.orders + 49) // 50):
            records = orjson.loads(synthetic_page(page, rng))["data"]
            months.update(datetime.fromisoformat(r["created_at"]).date().replace(day=1) for r in records)
            for table, rows in map_orders(records, ctx).items():
                buffer.setdefault(table, []).extend(rows)
            if page % 100 == 99 or (page + 1) * 50 >= args.orders:  # batches as the DAG inserts them
                for table, rows in buffer.items():
                    ch.insert(table, COLUMNS[table], rows)
                buffer = {}
        rebuild_sales_facts(ch, months)
        tables = [t for (t,) in ch.fetch_all(
            "SELECT name FROM system.tables WHERE database = %(db)s AND engine LIKE '%%MergeTree'", {"db": ch.database})]
        for table in tables:
            ch.execute("OPTIMIZE TABLE {{ db }}.{{ t }} FINAL", t=table)
        rows = ch.fetch_all(
            "SELECT table, sum(rows), sum(bytes_on_disk), sum(data_uncompressed_bytes) FROM system.parts "
            "WHERE database = %(db)s AND active GROUP BY table HAVING sum(rows) > 0 ORDER BY sum(bytes_on_disk) DESC",
            {"db": ch.database})
    total_disk = sum(r[2] for r in rows)
    total_raw = sum(r[3] for r in rows)
    print(f"{'table':40} {'rows':>10} {'on disk':>12} {'uncompressed':>14}")
    for table, n, disk, raw in rows:
        print(f"{table:40} {n:>10} {disk:>12,} {raw:>14,}")
    print(f"{'total':40} {'':>10} {total_disk:>12,} {total_raw:>14,}")
    print(json.dumps({"orders": args.orders, "tables": {t: {"rows": n, "bytes_on_disk": d, "uncompressed": u}
                                                        for t, n, d, u in rows},
                      "bytes_on_disk": total_disk, "uncompressed": total_raw}))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    raise SystemExit(main())
