"""The retrain decision: signals, backfills, absorption by an active run, cooldown."""

from datetime import UTC, datetime, timedelta

from ml_tasks.monitoring.retrain_policy import decide_retrain

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
COOLDOWN = timedelta(hours=24)
ALL = ["data_drift", "prediction_drift", "performance_decay"]


def verdict(data=False, prediction=False, decay=False):
    return {
        "dt": "2026-11-20",
        "champion_version": "3",
        "report_uri": "http://127.0.0.1:5000/#/x",
        "signals": {
            "data_drift": {"detected": data, "summary": "share 0.71 vs 0.5"},
            "prediction_drift": {"detected": prediction, "summary": "wasserstein 0.2 vs 0.1"},
            "performance_decay": {"detected": decay, "summary": "mae x1.4"},
        },
    }


def test_no_signal_no_request():
    d = decide_retrain(verdict(), ALL, NOW, None, 0, COOLDOWN)
    assert (d["fire"], d["outcome"]) == (False, "none") and "share 0.71 vs 0.5" in d["reason"]


def test_a_signal_fires_with_its_evidence():
    d = decide_retrain(verdict(data=True, decay=True), ALL, NOW, NOW - timedelta(days=3), 0, COOLDOWN)
    assert d["fire"] and d["outcome"] == "fired" and d["signals"] == ["data_drift", "performance_decay"]
    assert set(d["evidence"]["signals"]) == {"data_drift", "performance_decay"}
    assert d["evidence"]["champion_version"] == "3"


def test_signals_the_spec_does_not_retrain_on_are_ignored():
    d = decide_retrain(verdict(prediction=True), ["data_drift", "performance_decay"], NOW, None, 0, COOLDOWN)
    assert not d["fire"] and d["outcome"] == "none"


def test_an_active_training_run_absorbs_the_request():
    d = decide_retrain(verdict(data=True), ALL, NOW, None, 1, COOLDOWN)
    assert (d["fire"], d["outcome"]) == (False, "suppressed") and "absorbed by 1 training run" in d["reason"]


def test_backfill_runs_report_but_never_request():
    d = decide_retrain(verdict(data=True), ALL, NOW, None, 0, COOLDOWN, backfill=True)
    assert (d["fire"], d["outcome"]) == (False, "suppressed") and "backfill" in d["reason"]


def test_three_detections_inside_one_cooldown_window_make_one_request():
    last, fired = None, []
    for hours in (0, 5, 20):  # three drifted checks within 24 h
        now = NOW + timedelta(hours=hours)
        d = decide_retrain(verdict(data=True), ALL, now, last, 0, COOLDOWN)
        if d["fire"]:
            last = now
        fired.append(d["outcome"])
    assert fired == ["fired", "suppressed", "suppressed"]
    later = decide_retrain(verdict(data=True), ALL, NOW + timedelta(hours=25), last, 0, COOLDOWN)
    assert later["fire"]  # the next window may request again
