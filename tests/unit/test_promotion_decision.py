import math

from ml_tasks.promotion import decide


def test_first_model_becomes_champion():
    d = decide("mae", {"mae": 3.0}, None)
    assert d.promote and d.reason == "no champion yet"


def test_lower_error_on_the_same_rows_promotes():
    assert decide("mae", {"mae": 0.9}, {"mae": 1.0}).promote


def test_equal_or_worse_error_keeps_the_champion():
    assert not decide("mae", {"mae": 1.0}, {"mae": 1.0}).promote
    assert not decide("mae", {"mae": 1.2}, {"mae": 1.0}).promote


def test_margin_must_be_cleared():
    assert not decide("mae", {"mae": 0.97}, {"mae": 1.0}, min_improvement=0.05).promote
    assert decide("mae", {"mae": 0.94}, {"mae": 1.0}, min_improvement=0.05).promote


def test_nan_challenger_is_never_promoted():
    assert not decide("mae", {"mae": math.nan}, None).promote
