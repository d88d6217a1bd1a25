"""The model card: one markdown page per registered version, for the registry and for people."""

from __future__ import annotations

from ml_tasks.core.spec import PipelineSpec
from ml_tasks.training.candidate import TrainedCandidate
from ml_tasks.training.plan import TrainingPlan

COLUMNS = {
    "regression": ("mae", "rmse", "wape", "mase"),
    "classification": ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "f1", "threshold"),
}
NOTES = {
    "regression": "MASE divides by the error of the strongest naive forecast of the cadence on the same rows "
    "(the best of the value one horizon ago and one seasonal period ago): below 1 beats every one.",
    "classification": "Probabilities of the positive class. F1, precision and recall are at the tuned "
    "threshold (best F1 on the backtest folds); ECE is the calibration error.",
}


def _row(name: str, r: TrainedCandidate, task: str, metric: str) -> str:
    backtest = (r.get("backtest_mean") or {}).get(metric, float("nan"))
    transform = (r.get("fit") or {}).get("transform", "none")
    return (
        f"| {name} | {transform} | {backtest:.4f} | "
        + " | ".join(f"{r['metrics'].get(k, float('nan')):.4f}" for k in COLUMNS[task])
        + " |"
    )


def _baseline_line(baseline: dict | None, chosen_by: str) -> list[str]:
    lines = [
        f"Registered: the candidate with the lowest {chosen_by}; the holdout columns are the promotion gate's "
        "evidence, not what chose it."
    ]
    if baseline:
        lines += [
            "",
            f"**Strongest baseline on the same holdout rows**: {baseline['name']}, {baseline['metric'].upper()} "
            f"{baseline['loss']:.4f}; this model's is {baseline['ratio']:.3f}x the baseline's "
            f"({'beats it' if baseline['ratio'] < 1 else 'does NOT beat it'}).",
        ]
    return lines


def render_model_card(
    spec: PipelineSpec,
    version: str,
    best: TrainedCandidate,
    results: list[TrainedCandidate],
    plan: TrainingPlan,
    failed: dict[str, str] | None = None,
    baseline: dict | None = None,
    chosen_by: str = "holdout",
) -> str:
    """Markdown: what the model is, what it learned from, how well it does and where it is weak.

    ``failed`` names the model families whose training failed (they were not compared);
    ``baseline`` compares the model with the strongest baseline on the holdout rows.
    """
    others = [r for r in results if r is not best]
    metric = spec.promotion.metric
    segments = sorted(best.get("segments", {}).items(), key=lambda kv: -kv[1])
    lines = [
        f"# {spec.name} v{version}: {best['kind']}",
        "",
        f"{spec.description}",
        "",
        f"- **Task**: {spec.task}; target `{spec.data.target}` "
        f"{'per ' + ', '.join(spec.data.keys) if spec.data.keys else '(one series)'}, {spec.features.frequency}, "
        f"{spec.features.span(spec.features.horizon)} ahead.",
        f"- **Training days**: {plan['train_dates'][0]} .. {plan['train_dates'][-1]}; "
        f"**holdout**: {plan['holdout_dates'][0]} .. {plan['holdout_dates'][-1]} (never seen in training).",
        f"- **Features**: `features/{spec.name}` partitions, "
        f"SHA-256 {plan['tags'].get('conveyor.features_sha256', '?')[:16]}...",
        f"- **Code version**: {plan['tags'].get('conveyor.code_version', '?')}; "
        f"Airflow run: {plan['tags'].get('airflow.dag_id', '-')} / {plan['tags'].get('airflow.run_id', '-')}",
        "",
        "## Candidates: backtest and holdout metrics (same rows for every candidate)",
        "",
        f"| model | target transform | backtest {metric.upper().replace('_', ' ')} | "
        + " | ".join(c.upper().replace("_", " ") for c in COLUMNS[spec.task])
        + " |",
        "|---|---|---|" + "---|" * len(COLUMNS[spec.task]),
        _row(f"**{best['kind']}** (registered)", best, spec.task, metric),
        *[_row(r["kind"], r, spec.task, metric) for r in others],
        "",
        NOTES[spec.task],
        "",
        *_baseline_line(baseline, chosen_by),
    ]
    if failed:
        lines += [
            "",
            "## Failed candidates (not compared)",
            "",
            *[f"- **{kind}**: {error[:300]}" for kind, error in sorted(failed.items())],
            "",
            "Only the families above the line were trained to the end; see the training task's log.",
        ]
    fit = best.get("fit") or {}
    if fit.get("transforms_backtest"):
        lines += [
            "",
            f"Target transforms tried (backtest {metric.upper().replace('_', ' ')}): "
            + ", ".join(f"{name} {value:.4f}" for name, value in fit["transforms_backtest"].items())
            + f"; kept: {fit.get('transform', 'none')}.",
        ]
    if "series_fit" in fit:  # the statistical family
        naive = {k.removeprefix("series_naive_"): v for k, v in fit.items() if k.startswith("series_naive_") and v}
        lines += [
            "",
            f"AutoETS fit on {fit['series_fit']} series in {fit['fit_seconds']} s "
            f"(forms, error-trend-season-damping: {fit.get('ets_forms') or '-'}); "
            + (f"the naive forecast instead for {naive}." if naive else "every series fit."),
        ]
    if fit.get("tuning"):
        t = fit["tuning"]
        lines += [
            "",
            "## Tuning (Optuna on the backtest folds)",
            "",
            f"{t['trials']} trial(s) in {t['seconds']} s ({t['completed']} finished, {t['pruned']} pruned); "
            f"kept the {t['kept']} parameters: {t['reason']}.",
        ]
        if t.get("params"):
            lines += ["", "Chosen parameters: " + ", ".join(f"`{k}={v}`" for k, v in t["params"].items()) + "."]
    if best.get("backtest_mean"):
        lines += [
            "",
            "Rolling-origin backtest before the holdout (means): "
            + ", ".join(f"{k} {v:.4f}" for k, v in best["backtest_mean"].items())
            + ".",
        ]
    if segments:
        by = spec.promotion.segment_by or spec.data.keys[0]  # segments exist only with a key
        what = "MAE" if spec.task == "regression" else "log loss"
        lines += [
            "",
            f"## Error by {by} (holdout {what}, worst first)",
            "",
            *[f"- {seg}: {value:.4f}" for seg, value in segments[:10]],
        ]
    lines += [
        "",
        "## Limits",
        "",
        "- Trained on the window above only; drift checks compare new data with a sample of it.",
        "- Promotion to `@champion` is decided separately, against the current champion on the same rows.",
    ]
    return "\n".join(lines) + "\n"
