"""Vendor timestamps to epoch seconds: the remembered text path gives what parsing gives, errors included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qtickets.timeutil import MSK, parse_ts, to_epoch


@pytest.mark.parametrize("text", ["2021-06-28T02:46:33+03:00", "2021-06-28T02:46:33Z", "2021-06-27T23:46:33+00:00",
                                  "2021-06-28T02:46:33", "2021-06-28", "2021-06-28T02:46:33.999+03:00"])
def test_text_gives_the_epoch_of_the_parsed_instant_every_time(text):
    want = int(parse_ts(text).timestamp())
    assert to_epoch(text) == want
    assert to_epoch(text) == want  # the second call is answered from memory
    assert to_epoch(parse_ts(text)) == want


def test_offsetless_text_is_moscow_time():
    assert to_epoch("2021-06-28T02:46:33") == int(datetime(2021, 6, 28, 2, 46, 33, tzinfo=MSK).timestamp())
    assert to_epoch("2021-06-28T02:46:33") == int(datetime(2021, 6, 27, 23, 46, 33, tzinfo=UTC).timestamp())


@pytest.mark.parametrize("bad", ["0000-00-00 00:00:00", "yesterday", "2021-13-01"])
def test_a_bad_text_fails_every_time(bad):
    for _ in range(2):
        with pytest.raises(ValueError, match="not an ISO-8601 timestamp"):
            to_epoch(bad)


def test_empty_and_none_stay_none_and_naive_datetimes_are_refused():
    assert to_epoch(None) is None and to_epoch("") is None
    with pytest.raises(ValueError, match="naive"):
        to_epoch(datetime(2021, 6, 28))
