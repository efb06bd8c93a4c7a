"""raise_for_failed: data-quality failures are final, freshness-only failures are retryable."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from qtickets.exceptions import DataQualityError, StaleDataError
from qtickets.warehouse.checks import CHECKS, CheckResult, raise_for_failed


def result(name: str, *violations: tuple) -> CheckResult:
    return CheckResult(name, CHECKS.get(name, "coverage"), list(violations))


FRESH_FAIL = [result("orders_coverage", ("orders", "never")),
              result("facts_freshness", ("fact_qtickets_sales_daily", "2025-11-10 09:00:00"))]
NEGATIVE = result("negative_amounts", ("stg_qtickets_api_tickets_raw", "30", "ticket_amount=-10000.00"))


def test_all_passed_raises_nothing() -> None:
    raise_for_failed([result("negative_amounts"), result("facts_freshness")])
    raise_for_failed([])


def test_only_freshness_failures_are_retryable() -> None:
    with pytest.raises(StaleDataError) as caught:
        raise_for_failed([result("negative_amounts"), *FRESH_FAIL])
    err = caught.value
    assert isinstance(err, AirflowException) and not isinstance(err, AirflowFailException | DataQualityError)
    assert err.failed == ("orders_coverage", "facts_freshness")
    assert "stale" in str(err) and "orders_coverage" in str(err) and "facts_freshness" in str(err)


def test_negative_amount_is_a_final_data_quality_error_listing_every_failure() -> None:
    with pytest.raises(DataQualityError) as caught:
        raise_for_failed([*FRESH_FAIL, NEGATIVE])
    err = caught.value
    assert isinstance(err, AirflowFailException), "Airflow must not retry: a retry cannot change the data"
    assert err.failed == ("orders_coverage", "facts_freshness", "negative_amounts")
    message = str(err)
    assert message.startswith("3 data-quality check(s) failed:")
    for name in ("orders_coverage", "facts_freshness", "negative_amounts"):
        assert f"- {name}: " in message
    assert "'30'" in message and "vendor" in message and "re-run" in message


def test_errors_keep_their_message_without_keywords() -> None:
    assert str(DataQualityError("boom")) == "boom" and DataQualityError("boom").failed == ()
    assert str(StaleDataError("old")) == "old"
