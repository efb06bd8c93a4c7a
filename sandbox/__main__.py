"""Run the sandbox from a shell: ``python -m sandbox --port 8765 --orders 2000 --seed 42``."""

from __future__ import annotations

import argparse
import logging
import resource
import signal
import threading
from pathlib import Path

from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sandbox", description="Local double of the QTickets API.")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default 8765)")
    p.add_argument("--orders", type=int, default=2000, help="number of synthetic orders (default 2000)")
    p.add_argument("--seed", type=int, default=42, help="data seed (default 42)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    p.add_argument("--response-ms", type=float, default=0.0,
                   help="least time from a request's arrival to its answer, the server's own work included")
    p.add_argument("--error-rate", type=float, default=0.0, help="probability of a 503 per request")
    p.add_argument("--ignore-filters", action="store_true", help="serve unfiltered data, like the real API did")
    p.add_argument("--no-compat-post", action="store_true", help="answer POST on list endpoints with 503")
    p.add_argument("--churn-every-pages", type=int, default=0, metavar="N",
                   help="after every N-th /orders list page, move the lowest-id order already served out of "
                        "a past window (updated_at = now); 0 = off (default)")
    p.add_argument("--ready-file", type=Path, help="write the base URL here once listening")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = SandboxConfig(orders=args.orders, seed=args.seed, host=args.host, port=args.port,
                               latency_ms=args.latency_ms, response_ms=args.response_ms, error_rate=args.error_rate,
                               ignore_filters=args.ignore_filters, compat_post=not args.no_compat_post)
    except ValueError as exc:
        raise SystemExit(f"bad option: {exc}") from exc
    if args.churn_every_pages < 0:
        raise SystemExit(f"bad option: --churn-every-pages must be >= 0, got {args.churn_every_pages}")
    server = SandboxServer(config)
    server.faults.churn_orders(every_pages=args.churn_every_pages)
    server.start()
    if args.ready_file:  # written atomically, before the banner, so either signal means "listening"
        tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
        tmp.write_text(server.url + "\n")
        tmp.replace(args.ready_file)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"QTickets sandbox: {server.data.order_count} orders built in {server.build_seconds:.2f}s, "
          f"max RSS {rss_mb:.0f} MB", flush=True)
    print(f"REST API:     {server.rest_url}   (Authorization: Bearer {server.token})", flush=True)
    print(f"Partners API: {server.partners_url}   (Authorization: Bearer {server.partner_key})", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    print("QTickets sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
