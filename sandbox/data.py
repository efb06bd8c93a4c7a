# Over 300 lines: one dataset class whose generation and mutations write the same compact columns.
"""Seeded synthetic QTickets dataset, memory-light enough for the real scale (~126 000 orders).

Orders and tickets ("baskets") live as compact per-row ``array`` columns (timestamps as epoch seconds,
state codes, event/show/zone indexes). The full order JSON is built only when a page is served, from
those columns plus a per-order RNG seeded by ``(seed, order index)`` (see :mod:`sandbox.builders`, which
reads this class; events and discounts come from :mod:`sandbox.catalog`).

Mutations (``touch_orders``, ``refund_order``, ``pay_order``, ``cancel_order``, ``add_orders``) write
into the same columns, never into a cache of built dicts. A mutated order is therefore served
consistently by ``/orders``, ``/orders/{id}``, the seat counters and the barcodes: there is nothing to
invalidate except the filter-result cache, which is keyed by ``version`` (bumped by every mutation).
The per-order RNG only draws cosmetic values (names, UTM, hashes) in a fixed order, so a mutation never
shifts another order's values.
"""

from __future__ import annotations

import bisect
import random
import threading
from array import array
from datetime import datetime
from typing import Any

from sandbox import catalog
from sandbox.fakes import ADMISSION_ZONES, CITIES, EVENT_TITLES, MSK_OFFSET, SEATED_ZONE, SITES, mix
from sandbox.model import (
    CANCELLED,
    FULL_REFUND,
    PAID,
    PAID_STATES,
    PART_REFUND,
    PENDING,
    Event,
    Show,
    Zone,
)

START = int(datetime(2021, 5, 18, 9, 0, tzinfo=MSK_OFFSET).timestamp())
DAY = 86400
ORDER_ID_BASE, ORDER_ID_STEP = 1614202, 13
BASKET_ID_BASE, BASKET_ID_STEP = 12361332, 3
CLIENT_ID_BASE, CLIENT_ID_STEP = 1265, 11
EVENT_ID_BASE, EVENT_ID_STEP = 24089, 7
SHOW_ID_BASE, SHOW_ID_STEP = 152887, 5
RECENT_PER_DAY = 576  # ~6 orders per 15 minutes in the most recent stretch


def to_epoch(at: datetime | str | int | float) -> int:
    """Epoch seconds of an aware datetime, an ISO string (naive = Moscow) or a number."""
    if isinstance(at, int | float):
        return int(at)
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: pass an aware datetime (e.g. with tzinfo=UTC)")
    return int(at.timestamp())


class SandboxData:
    """The dataset of one sandbox: generated once from ``(orders, seed, now)``, then mutated by tests."""

    def __init__(self, orders: int = 2000, seed: int = 42, now: datetime | None = None) -> None:
        if orders < 1:
            raise ValueError(f"orders must be >= 1, got {orders}")
        self.seed = seed
        self.now = to_epoch(now) if now is not None else to_epoch(datetime.now(MSK_OFFSET))
        self.lock = threading.RLock()
        self.version = 0
        #: basket id -> fields served instead of the built ones (``corrupt_basket``: a vendor sending a bad value).
        self.bad_values: dict[int, dict[str, Any]] = {}
        self._rng = random.Random(seed)
        self._mut_rng = random.Random(seed + 1)
        # order columns
        self.o_created, self.o_updated = array("q"), array("q")
        self.o_payed_at, self.o_deleted, self.o_refunded = array("q"), array("q"), array("q")  # 0 = null
        self.o_state, self.o_nb = array("b"), array("b")
        self.o_event, self.o_client, self.o_promo, self.o_first = array("l"), array("l"), array("l"), array("l")
        # basket columns
        self.b_order, self.b_show, self.b_seat, self.b_disc = array("l"), array("l"), array("l"), array("l")
        self.b_zone, self.b_refunded = array("b"), array("b")
        self.n_clients = max(20, int(orders * 0.74))
        self.events: list[Event] = []
        self.shows: list[Show] = []
        self._make_events(max(12, orders // 500))
        self.show_by_id = {s.id: s for s in self.shows}
        self.event_by_id = {e.id: e for e in self.events}
        self._event_starts = [e.sale_start for e in self.events]
        self.discounts, self.promo_codes, self.discount_pct, self.promo_discount = catalog.make_discounts(
            self.events, self.shows, self.seed, self.now)
        for created in self._order_times(orders):
            self._append_order(created, self._rng, recent=created > self.now - 1800)
        self._size_zones()
        self._events_json: list[dict[str, Any]] | None = None

    # ---------------------------------------------------------------- generation
    def _order_times(self, n: int) -> list[int]:
        """Sorted creation times: density growing over the years, plus a dense recent stretch."""
        rng = self._rng
        recent = min(n // 4, 2 * RECENT_PER_DAY)
        recent_span = max(recent * DAY // RECENT_PER_DAY, 1)
        old_end = self.now - recent_span
        old = [START + int((old_end - START) * rng.random() ** 0.5) for _ in range(n - recent)]
        new = [self.now - recent_span + int(recent_span * rng.random()) for _ in range(recent)]
        return sorted(old + new)

    def _make_events(self, n: int) -> None:
        rng = self._rng
        step = (self.now - START) / n
        price_id = 541247
        for i in range(n):
            sale_start = int(START + i * step - 10 * DAY)
            window = int(max(3 * step, 45 * DAY) + rng.random() * 30 * DAY)
            # every city (and so every time zone) appears among the first events, then at random
            city = CITIES[(i + 1) % len(CITIES)] if i < len(CITIES) else CITIES[rng.randrange(len(CITIES))]
            ev = Event(idx=i, id=EVENT_ID_BASE + i * EVENT_ID_STEP, name=f"{EVENT_TITLES[i % len(EVENT_TITLES)]} №{i + 1}",
                       city=city, site=rng.randrange(len(SITES)), sale_start=sale_start,
                       last_start=sale_start + window, created=sale_start - 3 * DAY, updated=sale_start,
                       deleted_at=None, is_active=1)
            k = rng.randint(1, 4)
            starts = sorted(sale_start + window // 2 + int(rng.random() * window / 2) for _ in range(k - 1))
            for start in [*starts, ev.last_start]:
                start -= start % 1800
                n_prices = rng.randint(2, 4)
                prices = []
                for _ in range(n_prices):
                    prices.append((price_id, rng.choice((390, 490, 590, 990, 1500, 2500)), str(rng.randint(1, 15))))
                    price_id += 1
                seated = rng.random() < 0.5
                zones = []
                for p in range(n_prices):
                    if p == 0 and seated:
                        zones.append(Zone(SEATED_ZONE[0], SEATED_ZONE[1], p, admission=False))
                    else:
                        slug, title = ADMISSION_ZONES[p % len(ADMISSION_ZONES)]
                        zones.append(Zone(slug, title, p, admission=True))
                show = Show(idx=len(self.shows), id=SHOW_ID_BASE + len(self.shows) * SHOW_ID_STEP, event_idx=i,
                            start=start, finish=start + 2 * 3600, sale_start=None if rng.random() < 0.5 else sale_start,
                            created=ev.created, updated=ev.updated, prices=prices, zones=zones)
                ev.shows.append(show.idx)
                self.shows.append(show)
            ev.last_start = self.shows[ev.shows[-1]].start
            if ev.last_start < self.now:
                ev.is_active = 0
                if rng.random() < 0.15 or i == 1:
                    ev.deleted_at = min(ev.last_start + rng.randint(1, 60) * DAY, self.now - 60)
                    ev.updated = ev.deleted_at
            self.events.append(ev)

    def _pick_show(self, t: int, rng: random.Random) -> Show:
        """A show on sale at ``t`` (an event whose sales opened and whose last show is still ahead)."""
        pos = bisect.bisect_right(self._event_starts, t)
        candidates = [e for e in self.events[max(0, pos - 12):pos] if e.last_start > t]
        event = rng.choice(candidates) if candidates else self.events[max(0, pos - 1)]
        ahead = [self.shows[s] for s in event.shows if self.shows[s].start > t]
        return rng.choice(ahead) if ahead else self.shows[event.shows[-1]]

    @staticmethod
    def _roll_state(rng: random.Random, nb: int, recent: bool) -> int:
        roll = rng.random()
        if recent and roll < 0.3:
            return PENDING
        if roll < 0.2:
            return CANCELLED
        if roll < 0.23:
            return PART_REFUND if nb > 1 else FULL_REFUND
        return FULL_REFUND if roll < 0.25 else PAID

    def _timeline(self, rng: random.Random, created: int, state: int) -> tuple[int, int, int, int, int]:
        """(state, updated, payed_at, deleted, refunded) for an order; events after ``now`` did not happen."""
        payed_at = created + rng.randint(4, 300)
        updated = payed_at + rng.randint(1, 10)
        if rng.random() < 0.12:
            updated = payed_at + rng.randint(3600, 10 * DAY)
        deleted = created + rng.randint(600, DAY)
        refunded = payed_at + rng.randint(DAY, 30 * DAY)
        if state == CANCELLED and deleted >= self.now:
            state = PENDING
        if state in (PART_REFUND, FULL_REFUND) and refunded >= self.now:
            state = PAID
        if state == CANCELLED:
            payed_at, updated, refunded = 0, deleted, 0
        elif state == PENDING:
            payed_at, deleted, refunded, updated = 0, 0, 0, created + rng.randint(0, 5)
        elif state == PAID:
            deleted, refunded = 0, 0
        else:
            deleted, updated = 0, refunded
        cap = max(self.now, created)
        return state, min(updated, cap), min(payed_at, cap), min(deleted, cap), min(refunded, cap)

    def _append_order(self, created: int, rng: random.Random, *, recent: bool = False,
                      state: int | None = None) -> int:
        """Append one order (and its baskets) to the columns; returns its index."""
        i = len(self.o_created)
        show = self._pick_show(created, rng)
        nb = rng.choices((1, 2, 3, 4), weights=(40, 40, 12, 8))[0]
        rolled = self._roll_state(rng, nb, recent)
        state = rolled if state is None else state
        promo = rng.randrange(len(self.promo_codes)) if rng.random() < 0.45 else -1
        pct = self.discount_pct[self.promo_discount[promo]] if promo >= 0 else 0
        state, updated, payed_at, deleted, refunded = self._timeline(rng, created, state)
        self.o_created.append(created)
        self.o_updated.append(updated)
        self.o_payed_at.append(payed_at)
        self.o_deleted.append(deleted)
        self.o_refunded.append(refunded)
        self.o_state.append(state)
        self.o_nb.append(nb)
        self.o_event.append(show.event_idx)
        self.o_client.append(rng.randrange(self.n_clients))
        self.o_promo.append(promo)
        self.o_first.append(len(self.b_order))
        refund_mask = [1] * nb if state == FULL_REFUND else [0] * nb
        if state == PART_REFUND:
            refund_mask[rng.randrange(nb)] = 1
        for k in range(nb):
            self._append_basket(i, show, rng, pct, refund_mask[k])
        return i

    def _append_basket(self, i: int, show: Show, rng: random.Random, pct: int, refunded: int) -> None:
        zone_pos = rng.randrange(len(show.zones))
        zone = show.zones[zone_pos]
        seat = -1
        if not zone.admission:
            if zone.capacity and show.next_seat >= zone.capacity:  # seated zone full: sell admission
                zone_pos = next(p for p, z in enumerate(show.zones) if z.admission)
                zone = show.zones[zone_pos]
            else:
                seat = show.next_seat
                show.next_seat += 1
        price = show.prices[zone.price_pos][1]
        show.baskets.append(len(self.b_order))
        self.b_order.append(i)
        self.b_show.append(show.idx)
        self.b_zone.append(zone_pos)
        self.b_seat.append(seat)
        self.b_disc.append(round(price * pct / 100))
        self.b_refunded.append(refunded)
        if zone.admission and zone.capacity and self._zone_count(show, zone_pos) > zone.capacity:
            zone.capacity += 50

    def _zone_count(self, show: Show, zone_pos: int) -> int:
        return sum(1 for j in show.baskets if self.b_zone[j] == zone_pos)

    def _size_zones(self) -> None:
        """Give every zone a capacity above what was sold, so free_quantity stays >= 0."""
        for show in self.shows:
            counts = [0] * len(show.zones)
            for j in show.baskets:
                counts[self.b_zone[j]] += 1
            for pos, zone in enumerate(show.zones):
                if zone.admission:
                    zone.capacity = max(50, (int(counts[pos] * 1.3) // 10 + 2) * 10)
                else:
                    rows = max(3, (show.next_seat * 3 // 2) // zone.places_per_row + 1)
                    zone.capacity = rows * zone.places_per_row

    # ---------------------------------------------------------------- ids and lookups
    @property
    def order_count(self) -> int:
        return len(self.o_created)

    def order_id(self, i: int) -> int:
        return ORDER_ID_BASE + i * ORDER_ID_STEP + mix(self.seed, 1, i) % ORDER_ID_STEP

    def order_index(self, order_id: int) -> int | None:
        """Index of an order id, ``None`` when the id does not exist."""
        i = (order_id - ORDER_ID_BASE) // ORDER_ID_STEP
        if 0 <= i < self.order_count and self.order_id(i) == order_id:
            return i
        return None

    def basket_id(self, j: int) -> int:
        return BASKET_ID_BASE + j * BASKET_ID_STEP + mix(self.seed, 2, j) % BASKET_ID_STEP

    def client_id(self, c: int) -> int:
        return CLIENT_ID_BASE + c * CLIENT_ID_STEP + mix(self.seed, 3, c) % CLIENT_ID_STEP

    def client_index(self, client_id: int) -> int | None:
        c = (client_id - CLIENT_ID_BASE) // CLIENT_ID_STEP
        if 0 <= c < self.n_clients and self.client_id(c) == client_id:
            return c
        return None

    def basket_range(self, i: int) -> range:
        return range(self.o_first[i], self.o_first[i] + self.o_nb[i])

    def order_amounts(self, i: int) -> tuple[int, int]:
        """(price, original_price) of an order, summed over its tickets without building the JSON."""
        price = orig = 0
        for j in self.basket_range(i):
            show = self.shows[self.b_show[j]]
            full = show.prices[show.zones[self.b_zone[j]].price_pos][1]
            orig += full
            price += full - self.b_disc[j]
        return price, orig

    def events_json(self) -> list[dict[str, Any]]:
        """Every event as served by ``/events`` (built once; events are not mutated)."""
        if self._events_json is None:
            self._events_json = [catalog.event_json(e, self.shows, self.seed) for e in self.events]
        return self._events_json

    def basket_sold(self, j: int) -> bool:
        """A paid, not refunded, not cancelled ticket (what ``payed_quantity`` counts)."""
        return self.o_state[self.b_order[j]] in PAID_STATES and not self.b_refunded[j]

    # ---------------------------------------------------------------- mutations
    def _bump(self) -> None:
        self.version += 1

    def _require(self, order_id: int) -> int:
        i = self.order_index(order_id)
        if i is None:
            raise KeyError(f"order {order_id} does not exist in the sandbox (ids come from data.order_id(i))")
        return i

    def touch_orders(self, n: int, at: datetime | str | int, *, order_ids: list[int] | None = None) -> list[int]:
        """Set ``updated_at = at`` on ``n`` orders last updated before ``at`` (a vendor-side change).

        Picks them with a seeded RNG unless ``order_ids`` is given; returns the ids touched.
        """
        ts = to_epoch(at)
        with self.lock:
            if order_ids is None:
                eligible = [i for i in range(self.order_count) if self.o_updated[i] <= ts]
                if n > len(eligible):
                    raise ValueError(f"only {len(eligible)} orders have updated_at <= {at}; cannot touch {n}")
                picked = sorted(self._mut_rng.sample(eligible, n))
            else:
                picked = [self._require(oid) for oid in order_ids]
            for i in picked:
                if self.o_updated[i] > ts:
                    raise ValueError(f"order {self.order_id(i)} already has updated_at after {at}; "
                                     "updated_at only moves forward")
                self.o_updated[i] = ts
            self._bump()
            return [self.order_id(i) for i in picked]

    def refund_order(self, order_id: int, at: datetime | str | int) -> None:
        """Refund every ticket of a paid order at ``at`` (refunded_at/amount set, updated_at = at)."""
        ts = to_epoch(at)
        with self.lock:
            i = self._require(order_id)
            if self.o_state[i] == FULL_REFUND:
                raise ValueError(f"order {order_id} is already fully refunded")
            if self.o_state[i] not in PAID_STATES:
                raise ValueError(f"order {order_id} is not paid; only paid orders can be refunded")
            if ts < self.o_payed_at[i]:
                raise ValueError(f"refund time {at} precedes the payment of order {order_id}")
            for j in self.basket_range(i):
                self.b_refunded[j] = 1
            self.o_state[i], self.o_refunded[i], self.o_updated[i] = FULL_REFUND, ts, ts
            self._bump()

    def pay_order(self, order_id: int, at: datetime | str | int) -> None:
        """Mark a pending or cancelled order paid at ``at`` (its tickets become active again)."""
        ts = to_epoch(at)
        with self.lock:
            i = self._require(order_id)
            if self.o_state[i] not in (PENDING, CANCELLED):
                raise ValueError(f"order {order_id} is already paid")
            if ts < self.o_created[i]:
                raise ValueError(f"payment time {at} precedes the creation of order {order_id}")
            self.o_state[i], self.o_payed_at[i], self.o_deleted[i], self.o_updated[i] = PAID, ts, 0, ts
            self._bump()

    def move_payment(self, order_id: int, payed_at: datetime | str | int, at: datetime | str | int) -> None:
        """The vendor corrects the payment time of a paid order to ``payed_at`` (seen with deferred
        payments confirmed later); the order's ``updated_at`` becomes ``at``."""
        ts, updated = to_epoch(payed_at), to_epoch(at)
        with self.lock:
            i = self._require(order_id)
            if self.o_state[i] not in PAID_STATES:
                raise ValueError(f"order {order_id} is not paid; only a paid order has a payment time to move")
            if ts < self.o_created[i]:
                raise ValueError(f"payment time {payed_at} precedes the creation of order {order_id}")
            self.o_payed_at[i], self.o_updated[i] = ts, updated
            self._bump()

    def cancel_order(self, order_id: int, at: datetime | str | int) -> None:
        """Cancel a pending (unpaid) order at ``at``: order and tickets get ``deleted_at``."""
        ts = to_epoch(at)
        with self.lock:
            i = self._require(order_id)
            if self.o_state[i] != PENDING:
                raise ValueError(f"order {order_id} is not pending; only unpaid orders can be cancelled")
            self.o_state[i], self.o_deleted[i], self.o_updated[i] = CANCELLED, ts, ts
            self._bump()

    def corrupt_basket(self, basket_id: int, at: datetime | str | int, **fields: Any) -> None:
        """The vendor starts serving bad values on one ticket (``ticket_amount=-10000`` ...) from ``at``
        on: the fields override what the basket would hold, and its order's ``updated_at`` becomes ``at``."""
        ts = to_epoch(at)
        with self.lock:
            j = next((j for j in range(len(self.b_order)) if self.basket_id(j) == basket_id), None)
            if j is None:
                raise KeyError(f"basket {basket_id} does not exist in the sandbox")
            i = self.b_order[j]
            if self.o_updated[i] > ts:
                raise ValueError(f"order {self.order_id(i)} already has updated_at after {at}")
            self.bad_values[basket_id] = {**self.bad_values.get(basket_id, {}), **fields}
            self.o_updated[i] = ts
            self._bump()

    def add_orders(self, n: int, at: datetime | str | int, *, paid: bool = True) -> list[int]:
        """Append ``n`` new orders created (and, when ``paid``, paid) at ``at``; returns their ids."""
        ts = to_epoch(at)
        with self.lock:
            added = []
            for _ in range(n):
                i = self._append_order(ts, self._mut_rng, state=PAID if paid else PENDING)
                self.o_payed_at[i] = ts if paid else 0
                self.o_updated[i] = ts
                added.append(self.order_id(i))
            self._bump()
            return added

    def state_counts(self) -> dict[int, int]:
        """Orders per state code (see :mod:`sandbox.model`)."""
        counts: dict[int, int] = {}
        for s in self.o_state:
            counts[s] = counts.get(s, 0) + 1
        return counts
