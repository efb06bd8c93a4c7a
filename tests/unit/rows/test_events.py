"""Events and shows mapping: city names (never a repr), time zones, trimmed payloads."""

from __future__ import annotations

from datetime import datetime

import orjson

from qtickets.rows.events import COLUMNS, EVENTS_TABLE, SHOWS_TABLE, map_events
from tests.unit.rows.conftest import load


def rows(out, table):
    return [dict(zip(COLUMNS[table], r, strict=True)) for r in out[table]]


def test_capture_events_and_shows(captures_dir, ctx):
    records = load(captures_dir, "events_page1.json")
    out = map_events(records, ctx)
    events, shows = rows(out, EVENTS_TABLE), rows(out, SHOWS_TABLE)
    assert len(events) == 10
    assert len(shows) == sum(len(e["shows"]) for e in records)
    first = events[0]
    assert (first["city"], first["city_timezone"], first["city_id"]) == ("Томск", "Asia/Krasnoyarsk", 24)
    assert all("{" not in e["city"] for e in events)
    assert sum(e["deleted_at"] is not None for e in events) == 2
    for e in events:
        payload = orjson.loads(e["payload_json"])
        assert "description" not in payload and "shows" not in payload and payload["id"] == e["event_id"]
    for s in shows:
        assert "scheme_properties" not in orjson.loads(s["payload_json"])
        assert type(s["show_id"]) is int and type(s["start_date"]) is int
    s0 = shows[0]
    assert (s0["min_price"], s0["max_price"], s0["prices_count"]) == ("390", "590", 4)


def test_novosibirsk_event_times(ctx):
    ev = {
        "id": 7, "name": "Концерт", "is_active": 1, "city_id": 3,
        "city": {"id": 3, "name": "Новосибирск", "timezone": "Asia/Novosibirsk"},
        "created_at": "2025-10-01T10:00:00+03:00", "updated_at": "2025-10-02T10:00:00+03:00", "deleted_at": None,
        "shows": [{"id": 70, "is_active": 1, "start_date": "2025-12-01T23:30:00+03:00",
                   "finish_date": "2025-12-02T02:00:00+07:00", "sale_start_date": None, "prices": [],
                   "min_price": None, "max_price": None, "updated_at": None, "created_at": None}],
    }
    out = map_events([ev], ctx)
    event = rows(out, EVENTS_TABLE)[0]
    show = rows(out, SHOWS_TABLE)[0]
    assert event["city"] == "Новосибирск" and event["city_timezone"] == "Asia/Novosibirsk"
    # 23:30 Moscow is 03:30 next day in Novosibirsk; the column stores the instant.
    assert show["start_date"] == int(datetime.fromisoformat("2025-12-01T20:30:00+00:00").timestamp())
    assert show["finish_date"] == int(datetime.fromisoformat("2025-12-01T19:00:00+00:00").timestamp())
    assert show["min_price"] is None and show["sale_start_date"] is None
    assert show["_ver"] == ctx.ver(None)  # no updated_at: fetch time


def test_event_without_city_object(ctx):
    out = map_events([{"id": 1, "name": "x", "city": None, "shows": None}], ctx)
    event = rows(out, EVENTS_TABLE)[0]
    assert (event["city"], event["city_timezone"], event["shows_count"]) == ("", "", 0)
