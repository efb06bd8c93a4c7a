"""The next window's pages read in the background: order, errors, the bound, and stopping."""

from __future__ import annotations

import threading
import time

import pytest

from qtickets.read_ahead import in_background


def _wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_items_arrive_in_order_and_the_reader_starts_before_the_first_next():
    started = threading.Event()

    def pages():
        started.set()
        yield from range(20)

    reader = in_background(pages(), ahead=4)
    assert started.wait(5), "the first request must not wait for the consumer"
    assert list(reader) == list(range(20))


def test_the_generators_error_is_raised_where_the_consumer_reaches_it():
    def pages():
        yield "page 1"
        raise ConnectionError("HTTP 503 on page 2")

    reader = in_background(pages(), ahead=4)
    assert next(reader) == "page 1"
    with pytest.raises(ConnectionError, match="page 2"):
        next(reader)
    with pytest.raises(StopIteration):
        next(reader)


def test_reads_at_most_ahead_items_beyond_the_consumer():
    produced = []

    def pages():
        for i in range(100):
            produced.append(i)
            yield i

    reader = in_background(pages(), ahead=3)
    _wait_for(lambda: len(produced) >= 4)
    time.sleep(0.3)
    assert len(produced) <= 3 + 1  # three queued, one waiting to be put
    assert next(reader) == 0
    reader.close()


@pytest.mark.parametrize("consumed", [0, 2])
def test_close_stops_the_reader_and_closes_the_generator(consumed):
    closed = threading.Event()

    def pages():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    reader = in_background(pages(), ahead=2)
    for _ in range(consumed):
        next(reader)
    reader.close()
    assert closed.wait(5), "the page generator must be closed when the consumer gives up"
    with pytest.raises(StopIteration):
        next(reader)
