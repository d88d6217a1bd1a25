"""The human-in-the-loop step of `<pipeline>_train`: a person approves a passing challenger."""

from __future__ import annotations

APPROVAL_BODY = """\
{{% set gate = ti.xcom_pull(task_ids='gate') %}}
**{name} v{{{{ gate['version'] }}}}** would become `@champion`
{{%- if gate['gated_against'] %}}, replacing **v{{{{ gate['gated_against'] }}}}**{{% endif %}}.

The gate says: {{{{ gate['reason'] }}}}

| holdout metric | challenger | champion |
|---|---|---|
{{% for metric, value in gate['evidence']['challenger'].items() %}}| {{{{ metric }}}} | {{{{ '%.4f' % value }}}} | \
{{{{ '%.4f' % gate['evidence']['champion'][metric] if gate['evidence']['champion'] else '-' }}}} |
{{% endfor %}}

Approve to move `@champion`; Reject (or no answer within {hours:g} h) keeps the current champion.
The model card is on the version's page in the MLflow registry.
"""


def approval_task(spec):
    """Airflow's human-in-the-loop approval: the run waits in the UI's Required Actions."""
    from datetime import timedelta

    from airflow.providers.standard.operators.hitl import ApprovalOperator

    return ApprovalOperator(
        task_id="approve",
        subject=f"Promote a new {spec.name} champion?",
        body=APPROVAL_BODY.format(name=spec.name, hours=spec.promotion.approval_timeout_hours),
        defaults="Reject",
        response_timeout=timedelta(hours=spec.promotion.approval_timeout_hours),
        retries=0,
        doc_md="Waits for a person to approve or reject the challenger the gate passed (Browse > Required Actions).",
    )


def responder(approval: dict) -> str:
    """Who answered the approval, and when, as recorded with the alias move."""
    user = approval.get("responded_by_user") or {}
    who = (user.get("name") or user.get("id") or "unknown") if isinstance(user, dict) else str(user)
    return f"{who} at {approval.get('responded_at')}"
