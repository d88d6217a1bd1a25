"""The promotion gate as a pure function, on synthetic per-row errors."""

import numpy as np
import pytest

from ml_tasks.registry.gate import GateConfig, decide, paired_bootstrap

RNG = np.random.default_rng(0)
N_CLUSTERS, PER = 200, 24
CLUSTERS = np.repeat(np.arange(N_CLUSTERS), PER)
SEGMENTS = np.repeat(np.arange(N_CLUSTERS) % 5, PER)
Y = RNG.poisson(5, N_CLUSTERS * PER).astype(float)


def _pred(noise, bias=0.0, seed=1):
    rng = np.random.default_rng(seed)
    cluster_effect = rng.normal(0, noise, N_CLUSTERS)[CLUSTERS]  # correlated within a cluster
    return np.clip(Y + bias + cluster_effect + rng.normal(0, noise, len(Y)), 0, None)


def _decide(challenger, champion, cfg=GateConfig(thresholds={"mase": 1.0}), metrics=None, **kw):
    return decide(cfg, metrics or {"mae": 1.0, "mase": 0.7}, Y, challenger, champion, CLUSTERS, SEGMENTS, **kw)


def test_first_model_needs_only_the_thresholds():
    assert decide(GateConfig(thresholds={"mase": 1.0}), {"mase": 0.8}).promote
    bad = decide(GateConfig(thresholds={"mase": 1.0}), {"mase": 1.2})
    assert not bad.promote and "thresholds" in bad.reason


def test_a_challenger_better_by_noise_alone_is_not_promoted():
    champion, challenger = _pred(1.0, seed=1), _pred(1.0, seed=2)  # same quality, different noise
    d = _decide(challenger, champion)
    assert not d.promote and "not shown better" in d.reason
    boot = d.checks["paired_bootstrap"]
    assert boot["ci_low"] < 0 < boot["ci_high"]


def test_a_clearly_better_challenger_is_promoted_with_its_numbers():
    d = _decide(_pred(0.5, seed=2), _pred(1.5, seed=1))
    assert d.promote and not d.forced
    assert d.checks["paired_bootstrap"]["ci_high"] < 0 and d.checks["guardrails"]["regressed"] == {}


def test_a_segment_that_regresses_blocks_promotion():
    challenger = _pred(0.5, seed=2)
    champion = _pred(1.5, seed=1)
    hurt = SEGMENTS == 3
    challenger[hurt] = challenger[hurt] + 3.0  # much worse for one store, better overall
    d = _decide(challenger, champion, cfg=GateConfig(thresholds={}, guardrail_tolerance=0.15))
    assert not d.promote and "guardrail" in d.reason and "3" in d.checks["guardrails"]["regressed"]


def test_non_inferiority_accepts_an_equal_model_within_the_margin():
    champion, challenger = _pred(1.0, seed=1), _pred(1.0, seed=2)
    cfg = GateConfig(thresholds={}, mode="non_inferiority", margin=0.10)
    assert _decide(challenger, champion, cfg=cfg).promote


def test_force_promotes_and_is_recorded_as_forced():
    d = _decide(_pred(1.0, seed=2), _pred(1.0, seed=1), force=True)
    assert d.promote and d.forced and d.reason.startswith("FORCED")


def test_bootstrap_is_reproducible_and_resamples_clusters():
    diff = RNG.normal(0, 1, len(Y))
    a = paired_bootstrap(diff, CLUSTERS, 500, 0.95, seed=7)
    b = paired_bootstrap(diff, CLUSTERS, 500, 0.95, seed=7)
    assert a == b and a[1] < a[0] < a[2]
    per_row = paired_bootstrap(diff, np.arange(len(diff)), 500, 0.95, seed=7)
    correlated = diff + np.repeat(RNG.normal(0, 1, N_CLUSTERS), PER)
    wide = paired_bootstrap(correlated, CLUSTERS, 500, 0.95, seed=7)
    narrow = paired_bootstrap(correlated, np.arange(len(diff)), 500, 0.95, seed=7)
    assert (wide[2] - wide[1]) > 2 * (narrow[2] - narrow[1])  # clustered errors widen the interval
    assert per_row[2] - per_row[1] > 0


@pytest.mark.parametrize("metric", ["mae", "rmse"])
def test_gate_works_for_each_metric(metric):
    d = _decide(_pred(0.5, seed=2), _pred(1.5, seed=1), cfg=GateConfig(metric=metric, thresholds={}))
    assert d.promote and d.checks["paired_bootstrap"]["metric"] == metric


def test_classification_thresholds_are_floors_and_the_gate_uses_log_loss():
    from ml_tasks.training.evaluation import row_loss

    cfg = GateConfig(metric="log_loss", thresholds={"roc_auc": 0.65, "ece": 0.05})
    assert decide(cfg, {"roc_auc": 0.7, "ece": 0.02}).promote
    low = decide(cfg, {"roc_auc": 0.6, "ece": 0.02})
    assert not low.promote and "roc_auc" in low.reason
    assert not decide(cfg, {"roc_auc": float("nan"), "ece": 0.0}).promote  # an undefined score never passes
    assert row_loss([1, 0], [0.9, 0.2], "log_loss") == pytest.approx([-np.log(0.9), -np.log(0.8)])
    y = (RNG.random(N_CLUSTERS * PER) < 0.1).astype(float)
    sharp = np.clip(np.where(y == 1, 0.6, 0.05) + RNG.normal(0, 0.02, len(y)), 0.01, 0.99)
    vague = np.full(len(y), 0.1)
    d = decide(cfg, {"roc_auc": 0.9, "ece": 0.01}, y, sharp, vague, CLUSTERS, SEGMENTS)
    assert d.promote and d.checks["paired_bootstrap"]["metric"] == "log_loss"


def test_an_implausibly_good_candidate_is_not_promoted_as_suspected_leakage():
    cfg = GateConfig(thresholds={"mase": 1.0})
    leaked = {"mae": 0.004, "naive_mae": 2.0, "mase": 0.002}  # 0.2% of the naive forecast's error
    first = decide(cfg, leaked)
    assert not first.promote and first.reason.startswith("suspected leakage") and "known_ahead" in first.reason
    assert first.checks["leakage"]["suspected"]
    against_champion = decide(cfg, leaked, Y, Y, _pred(1.0), CLUSTERS, SEGMENTS)
    assert not against_champion.promote and "suspected leakage" in against_champion.reason
    honest = decide(cfg, {"mae": 0.5, "naive_mae": 2.0, "mase": 0.25})
    assert honest.promote and not honest.checks["leakage"]["suspected"]


def test_a_challenger_that_does_not_beat_the_strongest_baseline_is_not_promoted():
    naive = {"name": "naive lag_24h", "metric": "mae", "loss": 1.0, "ratio": 1.04}
    d = decide(GateConfig(), {"mae": 1.04, "mase": 1.04}, baseline=naive)
    assert not d.promote and "vs naive lag_24h" in d.reason and d.checks["baseline"] == naive
    assert decide(GateConfig(), {"mae": 0.9}, baseline={**naive, "ratio": 0.9}).promote
    # A stricter spec asks for a margin: 0.97x the naive's error is not enough for baseline_ratio 0.95.
    assert not decide(GateConfig(baseline_ratio=0.95), {"mae": 0.97}, baseline={**naive, "ratio": 0.97}).promote
    # Against a champion too: better than the champion but not than the naive forecast is no promotion.
    d = _decide(_pred(0.5, seed=2), _pred(1.5, seed=1), baseline={**naive, "ratio": 1.2})
    assert not d.promote and d.checks["paired_bootstrap"]["passed"]


def test_without_a_baseline_to_compare_with_the_gate_says_so():
    d = decide(GateConfig(), {"mae": 1.0})
    assert d.promote and d.checks["baseline"] == {"note": "no baseline to compare with"}
