"""When a short day counts as still arriving, and until when the daily DAG waits for it."""

from datetime import UTC, date, datetime

from ml_tasks.data.expectations import GateResult
from ml_tasks.data.release import arrival_deadline, still_arriving


def _result(*expectations: str) -> GateResult:
    return GateResult(
        success=not expectations,
        suite="demand_raw",
        statistics={},
        failures=[{"expectation": e, "target": "table"} for e in expectations],
    )


def test_only_a_shortfall_of_rows_or_series_is_still_arriving():
    assert still_arriving(_result("expect_table_row_count_to_be_between"))
    assert still_arriving(
        _result("expect_table_row_count_to_be_between", "expect_column_unique_value_count_to_be_between")
    )
    assert not still_arriving(_result("expect_table_row_count_to_be_between", "expect_column_values_to_be_between"))
    assert not still_arriving(_result())  # passed: nothing to wait for


def test_the_wait_ends_at_the_pipelines_deadline_after_the_day(demand_spec):
    assert demand_spec.features.deadline_hours is None
    assert arrival_deadline(demand_spec, date(2026, 3, 1)) == datetime(2026, 3, 2, 6, tzinfo=UTC)
    spec = demand_spec.model_copy(update={"features": demand_spec.features.model_copy(update={"deadline_hours": 2.5})})
    assert arrival_deadline(spec, date(2026, 3, 1)) == datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
