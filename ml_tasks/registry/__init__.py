"""The MLflow Model Registry: versions, aliases, the promotion gate, the audit trail, lineage.

Owns `client` (model names, aliases, the per-pipeline registry lock), `registration` (the best
candidate registered as a version with its model card; `RegisteredVersion`), `gate` (the
champion/challenger decision from per-row errors, pure), `promotion` (the gate run against
`@champion` and the alias moves; `GateDecision`), `audit` (every alias move recorded, history,
rollback) and `lineage` (which data and run made a version).
"""
