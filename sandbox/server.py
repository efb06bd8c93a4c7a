# Over 300 lines: every vendor route of the double in one class, next to the filter cache the routes share.
"""A real HTTP double of the QTickets REST and Partners APIs, served on a loopback port.

Routes, envelopes, page sizes, error bodies and quirks follow ``shared/reference/qtickets-api.md``.
Documented choices where the vendor is unknown: a malformed filter gets HTTP 400 ``VALIDATION_ERROR``;
an unknown filter/sort column gets the vendor's 503 ``UNKNOWN_ERROR`` (what filtered calls got live);
a POST to a list endpoint is served like the GET ("compat POST fallback") unless ``compat_post`` is off,
in which case it gets that same 503.
"""

from __future__ import annotations

import bisect
import heapq
import json
import logging
import re
import threading
import time
from base64 import b64encode
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import orjson

from sandbox import builders, catalog
from sandbox.config import SandboxConfig
from sandbox.data import SandboxData
from sandbox.faults import Faults, RequestLog, RequestRecord
from sandbox.filters import Collection, FilterError, UnknownColumnError, run_query
from sandbox.model import PAID_STATES

log = logging.getLogger(__name__)

PAGE_SIZES = {"orders": 50, "events": 10, "clients": 100, "discounts": 100, "promo-codes": 500}
RESOURCE_NAMES = {"orders": "Order", "events": "Event", "clients": "Client", "discounts": "Discount",
                  "promo-codes": "PromoCode"}
FILTER_PARAMS = ("where", "orderBy", "page", "select", "flat", "context", "filter")
SEAT_FIELDS = ("id", "root_id", "name", "zone_id", "zone_root_id", "short_seat_id", "admission", "row", "place",
               "max_quantity", "free_quantity", "ordered_quantity", "available", "disabled", "ordered",
               "payed_quantity", "in_basket_quantity", "price", "currency_id", "related_seats", "multiprice_name",
               "multiprice_code", "spread.partner_id", "spread.users", "spread.client_groups", "spread.client_emails",
               "spread.agents", "color_theme_id", "coords")
BARCODE_FIELDS = ("barcode", "admission", "price", "seat_name", "zone_name", "row", "place", "client_name",
                  "client_surname", "client_middlename")
UNKNOWN_ERROR = {"error": "Unknown error", "status": 503, "code": "UNKNOWN_ERROR", "info": []}
_PAD = "".join(f"<li><a href=\"https://qtickets.ru/event/{k}\">Мероприятие {k}</a></li>\n" for k in range(150))
NOT_FOUND_HTML = (
    "<!DOCTYPE html>\n<html lang=\"ru\"><head><meta charset=\"utf-8\">"
    "<title>Страница не найдена 404 – Qtickets</title></head>\n<body><h1>404</h1>"
    f"<p>Страница не найдена</p><ul>\n{_PAD}</ul></body></html>\n"
).encode()


class Reply:
    """What a route returns: status, a JSON-able payload (or raw bytes) and extra headers."""

    def __init__(self, status: int, payload: Any = None, *, raw: bytes | None = None,
                 content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
        self.status, self.payload, self.raw = status, payload, raw
        self.content_type, self.headers = content_type, headers or {}

    def body(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.payload)


class BadRequest(Exception):
    """The request cannot be read (malformed JSON, bad select): answered with HTTP 400."""


def _not_found(resource: str, raw_id: str) -> Reply:
    rid = int(raw_id) if raw_id.isdigit() else 0
    return Reply(404, {"error": f"Resource \"{resource}\" not found", "status": 404, "code": "RESOURCE_NOT_FOUND",
                       "info": {"id": rid, "resource": resource}})


def _html_404() -> Reply:
    return Reply(404, raw=NOT_FOUND_HTML, content_type="text/html; charset=UTF-8")


class SandboxServer:
    """The sandbox: dataset + fault knobs + request log + a threaded HTTP server.

    ``start()`` binds (port 0 = ephemeral) and serves in a daemon thread; ``stop()`` shuts it down.
    """

    def __init__(self, config: SandboxConfig | None = None, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config or SandboxConfig()
        cfg = self.config
        started = time.perf_counter()
        self.data = SandboxData(orders=cfg.orders, seed=cfg.seed, now=cfg.now)
        self.build_seconds = time.perf_counter() - started
        self.faults = Faults(latency_ms=cfg.latency_ms, response_ms=cfg.response_ms, error_rate=cfg.error_rate,
                             ignore_filters=cfg.ignore_filters, compat_post=cfg.compat_post, seed=cfg.seed,
                             sleep=sleep)
        self.log = RequestLog()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._cache: dict[tuple, list[int]] = {}
        self._collections = self._make_collections()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        handler = type("BoundHandler", (_Handler,), {"sandbox": self})
        self._httpd = ThreadingHTTPServer((self.config.host, self.config.port), handler)
        self._httpd.daemon_threads = True
        # A short poll interval keeps stop() fast (the fixtures start a server per test).
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="qtickets-sandbox", daemon=True)
        self._thread.start()
        log.info("QTickets sandbox listening on %s (%s orders)", self.url, self.data.order_count)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd, self._thread = None, None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ public helpers
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not started; call start() first")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{self.url}/api/rest/v1"

    @property
    def partners_url(self) -> str:
        return f"{self.url}/api/partners/v1"

    @property
    def token(self) -> str:
        return self.config.token

    @property
    def partner_key(self) -> str:
        return self.config.partner_key

    @property
    def requests(self) -> list[RequestRecord]:
        return self.log.snapshot()

    def reset_log(self) -> None:
        self.log.clear()

    # ------------------------------------------------------------------ collections
    def _make_collections(self) -> dict[str, Collection]:
        d = self.data
        order_cols = frozenset(builders.order_json(d, 0))
        orders = Collection(
            "Order", lambda: d.order_count, lambda i: builders.order_json(d, i), order_cols,
            index={
                "id": d.order_id, "created_at": lambda i: d.o_created[i], "updated_at": lambda i: d.o_updated[i],
                "payed": lambda i: int(d.o_state[i] in PAID_STATES), "payed_at": lambda i: d.o_payed_at[i] or None,
                "deleted_at": lambda i: d.o_deleted[i] or None, "event_id": lambda i: d.events[d.o_event[i]].id,
                "client_id": lambda i: d.client_id(d.o_client[i]),
                "price": lambda i: d.order_amounts(i)[0], "original_price": lambda i: d.order_amounts(i)[1],
                "promo_code_id": lambda i: d.promo_codes[d.o_promo[i]]["id"] if d.o_promo[i] >= 0 else None,
                "discount_id": lambda i: (d.discounts[d.promo_discount[d.o_promo[i]]]["id"]
                                          if d.o_promo[i] >= 0 else None),
            })
        clients = Collection("Client", lambda: d.n_clients, lambda c: builders.client_json(d, c),
                             frozenset(builders.client_json(d, 0)), index={"id": d.client_id})

        def static(name: str, items: Callable[[], list[dict]]) -> Collection:
            return Collection(name, lambda: len(items()), lambda i: items()[i], frozenset(items()[0]))

        return {"orders": orders, "clients": clients, "events": static("Event", d.events_json),
                "discounts": static("Discount", lambda: d.discounts),
                "promo-codes": static("PromoCode", lambda: d.promo_codes)}

    def query(self, resource: str, where: Any, order_by: Any) -> list[int]:
        """Matching positions, cached per (filter, data version) so paging a result is cheap."""
        with self.data.lock:
            key = (resource, json.dumps(where, sort_keys=True), json.dumps(order_by, sort_keys=True),
                   self.data.version)
            hit = self._cache.get(key)
            if hit is None:
                derived = self._id_range(resource, where, order_by)
                if derived is not None:
                    return derived  # not cached: cheap, and keyset reads would evict the listings
                hit = run_query(self._collections[resource], where, order_by)
                if len(self._cache) > 64:
                    self._cache.clear()
                self._cache[key] = hit
            return hit

    def _id_range(self, resource: str, where: Any, order_by: Any) -> list[int] | None:
        """Orders matching a listing plus ``id`` bounds, cut by bisect from the listing without them.

        Only for ``orderBy`` id asc (or none, which is position order = id order) and integer bounds
        (``>``, ``>=``, ``<``, ``<=``); ``None`` otherwise. Keyset reads (``id > last id``) then cost a
        bisect of the cached listing instead of a scan of every order (~1.5 s at 126 000 orders).
        """
        if resource != "orders" or not isinstance(where, list) or order_by not in (None, {"id": "asc"}):
            return None
        bounds = [c for c in where if isinstance(c, dict) and c.get("column") == "id"]
        if not bounds or any(str(c.get("operator", "=")).lower() not in ("<", ">", "<=", ">=")
                             or type(c.get("value")) is not int for c in bounds):
            return None
        base = self.query(resource, [c for c in where if c not in bounds], order_by)
        lo, hi, key = 0, len(base), self.data.order_id
        for c in bounds:
            op, value = str(c["operator"]).lower(), c["value"]
            if op == ">":
                lo = max(lo, bisect.bisect_right(base, value, key=key))
            elif op == ">=":
                lo = max(lo, bisect.bisect_left(base, value, key=key))
            elif op == "<":
                hi = min(hi, bisect.bisect_left(base, value, key=key))
            else:
                hi = min(hi, bisect.bisect_right(base, value, key=key))
        return base[lo:hi] if lo < hi else []

    def _carry_cache(self, old_version: int, touched: list[int]) -> None:
        """After ``touched`` orders changed only their ``updated_at``, move the cached order listings of
        ``old_version`` to the new version by re-testing just those orders (not every order).

        A listing sorted on ``updated_at``, or one that a touched order newly joins, is dropped instead
        (recomputed on its next read). Caller holds ``data.lock``.
        """
        coll = self._collections["orders"]
        view = Collection(coll.name, lambda: len(touched), lambda j: coll.build(touched[j]), coll.columns,
                          index={name: (lambda j, get=get: get(touched[j])) for name, get in coll.index.items()})
        for key in [k for k in self._cache if k[0] == "orders" and k[3] == old_version]:
            hit = self._cache.pop(key)
            resource, where, order_by, _ = key
            if "updated_at" in order_by:
                continue
            still = {touched[j] for j in run_query(view, json.loads(where), None)}
            if still - set(hit):
                continue
            gone = set(touched) - still
            self._cache[(resource, where, order_by, self.data.version)] = (
                [p for p in hit if p not in gone] if gone else hit)

    # ------------------------------------------------------------------ routes
    def list_page(self, resource: str, params: dict[str, Any], method: str) -> Reply:
        if method == "POST" and not self.faults.compat_post:
            return Reply(503, UNKNOWN_ERROR)
        where, order_by = params.get("where"), params.get("orderBy")
        if self.faults.ignore_filters:
            where, order_by = None, None
        try:
            page = max(1, int(params.get("page") or 1))
        except (TypeError, ValueError):
            page = 1
        try:
            positions = self.query(resource, where, order_by)
        except UnknownColumnError:
            return Reply(503, UNKNOWN_ERROR)
        except FilterError as exc:
            raise BadRequest(str(exc)) from exc
        per = PAGE_SIZES[resource]
        coll = self._collections[resource]
        with self.data.lock:
            rows = [coll.build(i) for i in positions[(page - 1) * per: page * per]]
        if resource == "orders" and self.faults.churn_every_pages > 0:
            # The page is built: changing orders now is "after this page was served".
            listing = json.dumps([[c for c in where if not (isinstance(c, dict) and c.get("column") == "id")]
                                  if isinstance(where, list) else where, order_by], sort_keys=True, default=str)
            self.faults.churn_after_page(f"/api/rest/v1/{resource}", listing, [r["id"] for r in rows],
                                         self._churn_change)
        return Reply(200, {"data": rows, "paging": {"perPage": per, "currentPage": page, "total": len(positions)}})

    def _churn_change(self, served: list[int], n: int) -> list[int]:
        """Pop up to ``n`` served order ids (lowest first) still updated before ``now``; touch them to ``now``."""
        d = self.data
        picked: list[int] = []
        with d.lock:
            while served and len(picked) < n:
                order_id = heapq.heappop(served)
                i = d.order_index(order_id)
                if i is not None and d.o_updated[i] < d.now and order_id not in picked:
                    picked.append(order_id)
            if picked:
                old_version = d.version
                d.touch_orders(len(picked), d.now, order_ids=picked)
                self._carry_cache(old_version, [d.order_index(order_id) for order_id in picked])
        return picked

    def single(self, resource: str, raw_id: str) -> Reply:
        d = self.data
        rid = int(raw_id) if raw_id.isdigit() else 0
        with d.lock:
            if resource == "orders":
                i = d.order_index(rid)
                item = builders.order_json(d, i, single=True) if i is not None else None
            elif resource == "clients":
                c = d.client_index(rid)
                item = builders.client_json(d, c) if c is not None else None
            else:
                items = d.events_json() if resource == "events" else d.discounts
                item = next((x for x in items if x["id"] == rid), None)
        if item is None:
            return _not_found(RESOURCE_NAMES[resource], raw_id)
        return Reply(200, {"data": item})

    def show_seats(self, raw_id: str, params: dict[str, Any]) -> Reply:
        show = self.data.show_by_id.get(int(raw_id)) if raw_id.isdigit() else None
        if show is None:
            return _not_found("Show", raw_id)
        select = _select(params.get("select"), SEAT_FIELDS, None)
        with self.data.lock:
            seats = list(builders.seats(self.data, show).values())
        if params.get("where") and not self.faults.ignore_filters:
            coll = Collection("Seat", lambda: len(seats), lambda i: seats[i], frozenset(SEAT_FIELDS))
            try:
                seats = [seats[i] for i in run_query(coll, params["where"], None)]
            except FilterError as exc:
                raise BadRequest(str(exc)) from exc
        if _truthy(params.get("flat")):
            fields = select or SEAT_FIELDS
            return Reply(200, {"data": {s["id"]: {f: s[f] for f in fields} for s in seats}})
        zones: dict[str, Any] = {}
        for s in seats:
            zone = zones.setdefault(s["zone_id"], {"zone_id": s["zone_id"], "name": s["name"] if s["admission"]
                                                   else s["name"].split(",")[0], "description": "", "seats": {}})
            entry = {"seat_id": s["id"], "admission": s["admission"]}
            entry.update({f: s[f] for f in select or ()})
            zone["seats"][s["short_seat_id"]] = entry
        return Reply(200, {"data": zones})

    def show_barcodes(self, raw_id: str, params: dict[str, Any]) -> Reply:
        show = self.data.show_by_id.get(int(raw_id)) if raw_id.isdigit() else None
        if show is None:
            return _not_found("Show", raw_id)
        fields = _select(params.get("select"), BARCODE_FIELDS, ("barcode", "price", "seat_name"))
        with self.data.lock:
            rows = builders.barcodes(self.data, show)
        return Reply(200, [{f: r[f] for f in fields} for r in rows])

    def partners_find(self, event_raw: str | None, show_raw: str | None, params: dict[str, Any]) -> Reply:
        d = self.data
        event_idx = show_idx = None
        if event_raw is not None:
            ev = d.event_by_id.get(int(event_raw)) if event_raw.isdigit() else None
            if ev is None:
                return Reply(200, {"status": "error", "code": "EVENT_NOT_FOUND", "message": "Event not found"})
            event_idx = ev.idx
            if show_raw is not None:
                show = d.show_by_id.get(int(show_raw)) if show_raw.isdigit() else None
                if show is None or show.event_idx != ev.idx:
                    return Reply(200, {"status": "error", "code": "EVENT_NOT_FOUND", "message": "Show not found"})
                show_idx = show.idx
        flt = params.get("filter") or {}
        allowed = ("external_order_id", "external_id", "barcode", "id")
        if not isinstance(flt, dict) or set(flt) - set(allowed):
            return Reply(200, {"status": "error", "code": "VALIDATION_ERROR",
                               "message": f"filter must be an object with keys among {list(allowed)}"})
        with d.lock:
            tickets = builders.partner_tickets(d, event_idx, show_idx)
        for key, want in flt.items():
            wanted = {str(w) for w in (want if isinstance(want, list) else [want])}
            tickets = [t for t in tickets if str(t[key]) in wanted]
        return Reply(200, {"status": "success", "result": tickets})

    def route(self, method: str, path: str, params: dict[str, Any], authorization: str | None) -> Reply:
        """Dispatch one request (auth, then the route); unknown routes get the vendor's HTML 404."""
        if path.startswith("/api/partners/v1/"):
            m = re.fullmatch(r"/api/partners/v1/tickets/find(?:/([^/]+))?(?:/([^/]+))?/?", path)
            if m is None or method not in ("GET", "POST"):
                return _html_404()
            if authorization != f"Bearer {self.partner_key}":
                return Reply(200, {"status": "error", "code": "WRONG_AUTHORIZATION", "message": "Wrong authorization"})
            return self.partners_find(m.group(1), m.group(2), params)
        m = re.fullmatch(r"/api/rest/v1/([a-z-]+)(?:/([^/]+))?(?:/([a-z]+))?/?", path)
        if m is None or method not in ("GET", "POST"):
            return _html_404()
        resource, ident, sub = m.groups()
        handler: Callable[[], Reply] | None = None
        if resource in PAGE_SIZES and ident is None:
            handler = lambda: self.list_page(resource, params, method)  # noqa: E731
        elif resource in ("orders", "clients", "events", "discounts") and ident and sub is None and method == "GET":
            handler = lambda: self.single(resource, ident)  # noqa: E731
        elif resource == "color-themes" and ident is None and method == "GET":
            handler = lambda: Reply(200, {"data": catalog.color_themes()})  # noqa: E731
        elif resource == "shows" and ident and sub == "seats" and method == "GET":
            handler = lambda: self.show_seats(ident, params)  # noqa: E731
        elif resource == "shows" and ident and sub == "barcodes" and method == "GET":
            handler = lambda: self.show_barcodes(ident, params)  # noqa: E731
        if handler is None:
            return _html_404()
        if authorization != f"Bearer {self.token}":
            return Reply(403, {"error": "Authorization error: invalid or missing token", "status": 403})
        return handler()


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true")) or value == 1


def _select(value: Any, allowed: tuple[str, ...], default: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"'select' must be a list of field names, got {value!r}")
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise BadRequest(f"unknown select fields {unknown}; allowed: {list(allowed)}")
    return tuple(value)


def _echo_auth(into: str, status: int, path: str, auth: str) -> Reply:
    """An error answer that echoes the request's ``Authorization`` value (see ``Faults.echo_auth_next``)."""
    partners = path.startswith("/api/partners/")
    if partners:
        status = 200

    def error(text: str) -> dict[str, Any]:
        if partners:
            return {"status": "error", "code": "WRONG_AUTHORIZATION", "message": text}
        return {"error": text, "status": status, "code": "UNKNOWN_ERROR" if status >= 500 else "AUTH_ERROR"}

    if into == "header":
        return Reply(status, error("Authorization error"), headers={"X-Request-ID": auth})
    if into == "json":  # PHP's json_encode: "/" written as "\/"
        text = orjson.dumps(error(f"Authorization error: {auth} is not valid")).decode().replace("/", "\\/")
        return Reply(status, raw=text.encode())
    if into == "base64":
        return Reply(status, error(f"Authorization error: credentials {b64encode(auth.encode()).decode()}"))
    form = f"error=invalid_token&authorization={quote_plus(auth)}&seen={quote(auth, safe='')}"
    return Reply(status, raw=form.encode(), content_type="application/x-www-form-urlencoded")


class _Handler(BaseHTTPRequestHandler):
    """Per-connection handler; ``sandbox`` is bound by :meth:`SandboxServer.start`."""

    sandbox: SandboxServer
    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.14.1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("sandbox: " + format, *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_params(self, query: dict[str, str]) -> tuple[dict[str, Any], str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"request body is not valid JSON: {exc}") from exc
        params: dict[str, Any] = {}
        in_query = [k for k in FILTER_PARAMS if k in query]
        for key in in_query:
            value = query[key]
            if key in ("where", "orderBy", "select", "filter"):
                try:
                    value = orjson.loads(value)
                except orjson.JSONDecodeError as exc:
                    raise BadRequest(f"query parameter {key!r} is not valid JSON: {exc}") from exc
            params[key] = value
        if isinstance(body, dict):
            params.update(body)
        transport = {(True, True): "both", (True, False): "body", (False, True): "query"}.get(
            (isinstance(body, dict) and bool(body), bool(in_query)), "none")
        return params, transport, body

    def _handle(self) -> None:
        arrived = time.monotonic()
        sb = self.sandbox
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        rec = RequestRecord(method=self.command, path=split.path, query=query, transport="none", body=None)
        auth = self.headers.get("Authorization")
        rec.authorized = auth in (f"Bearer {sb.token}", f"Bearer {sb.partner_key}")
        try:
            params, rec.transport, rec.body = self._read_params(query)
            reply = self._faulted(rec) or sb.route(self.command, split.path, params, auth)
        except BadRequest as exc:
            reply = Reply(400, {"error": str(exc), "status": 400, "code": "VALIDATION_ERROR", "info": []})
        except Exception:  # a sandbox bug must still answer, like the vendor's generic 503
            log.exception("sandbox failed on %s %s", self.command, split.path)
            reply = Reply(503, UNKNOWN_ERROR)
        if (reply.status == 200 and isinstance(reply.payload, dict) and isinstance(reply.payload.get("paging"), dict)
                and reply.payload.get("data") and sb.faults.take(split.path, kinds=("bad_paging",))):
            reply.payload = {**reply.payload, "paging": {**reply.payload["paging"], "total": reply.payload["data"][0]}}
            rec.fault = "bad_paging"
        body = reply.body()
        if reply.status == 200 and reply.raw is None and sb.faults.take(split.path, kinds=("truncate",)):
            body, rec.fault = body[: len(body) // 2], "truncate"
        rec.status = reply.status
        sb.log.add(rec)
        sb.faults.hold(arrived)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _faulted(self, rec: RequestRecord) -> Reply | None:
        faults = self.sandbox.faults
        faults.delay()
        item = faults.take(rec.path, kinds=("fail", "rate_limit", "html", "echo_auth"))
        if item is not None:
            rec.fault = item.kind
            if item.kind == "echo_auth":
                return _echo_auth(item.into, item.status, rec.path, self.headers.get("Authorization") or "")
            if item.kind == "rate_limit":
                return Reply(429, {"error": "Too Many Attempts.", "status": 429},
                             headers={"Retry-After": str(item.retry_after)})
            if item.kind == "html":
                return Reply(item.status, raw=NOT_FOUND_HTML, content_type="text/html; charset=UTF-8")
            if item.status in (500, 503):
                return Reply(item.status, {**UNKNOWN_ERROR, "status": item.status})
            return Reply(item.status, raw=f"<html><head><title>{item.status} Error</title></head><body><center>"
                         f"<h1>{item.status} Error</h1></center><hr><center>nginx/1.14.1</center></body></html>"
                         .encode(), content_type="text/html")
        if faults.random_failure():
            rec.fault = "error_rate"
            return Reply(503, UNKNOWN_ERROR)
        return None
