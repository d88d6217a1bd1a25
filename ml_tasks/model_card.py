"""The model card: one markdown page per registered version, for the registry and for people."""

from __future__ import annotations

from ml_tasks.spec import PipelineSpec


def _row(name: str, m: dict) -> str:
    return f"| {name} | " + " | ".join(f"{m.get(k, float('nan')):.4f}" for k in ("mae", "rmse", "wape", "mase")) + " |"


def render_model_card(spec: PipelineSpec, version: str, best: dict, results: list[dict], plan: dict) -> str:
    """Markdown: what the model is, what it learned from, how well it does and where it is weak."""
    others = [r for r in results if r is not best]
    segments = sorted(best.get("segments", {}).items(), key=lambda kv: -kv[1])
    lines = [
        f"# {spec.name} v{version}: {best['kind']}",
        "",
        f"{spec.description}",
        "",
        f"- **Task**: {spec.task}; target `{spec.data.target}` per {', '.join(spec.data.keys)} and hour, "
        f"forecast {spec.features.horizon_hours} h ahead.",
        f"- **Training days**: {plan['train_dates'][0]} .. {plan['train_dates'][-1]}; "
        f"**holdout**: {plan['holdout_dates'][0]} .. {plan['holdout_dates'][-1]} (never seen in training).",
        f"- **Features**: `features/{spec.name}` partitions, SHA-256 {plan['tags'].get('conveyor.features_sha256', '?')[:16]}...",
        f"- **Code version**: {plan['tags'].get('conveyor.code_version', '?')}; "
        f"Airflow run: {plan['tags'].get('airflow.dag_id', '-')} / {plan['tags'].get('airflow.run_id', '-')}",
        "",
        "## Holdout metrics (same rows for every candidate)",
        "",
        "| model | MAE | RMSE | WAPE | MASE |",
        "|---|---|---|---|---|",
        _row(f"**{best['kind']}** (registered)", best["metrics"]),
        *[_row(r["kind"], r["metrics"]) for r in others],
        "",
        "MASE divides by the error of the seasonal-naive forecast (same hour one week earlier): "
        "below 1 beats it.",
    ]
    if best.get("backtest_mean_mase") is not None:
        lines += ["", f"Rolling-origin backtest before the holdout: mean MASE {best['backtest_mean_mase']:.4f}."]
    if segments:
        lines += ["", f"## Error by {spec.data.keys[0]} (holdout MAE, worst first)", "",
                  *[f"- {seg}: {mae:.4f}" for seg, mae in segments[:10]]]
    lines += ["", "## Limits", "",
              "- Trained on the window above only; drift checks compare new data with a sample of it.",
              "- Promotion to `@champion` is decided separately, against the current champion on the same rows."]
    return "\n".join(lines) + "\n"
