"""Running Conveyor: the `conveyor` CLI, the embedded stack, the Airflow client, scaffolding.

Owns `cli` (every `conveyor` command), `stack` (the embedded Airflow + MLflow processes),
`airflow_client` (Airflow's REST API with token renewal), `scaffold` (`conveyor new-pipeline`),
`spec_check` (`conveyor validate`), `demo_loop` (the demo loop run through Airflow), and the soak
run's seeded plan (`soak_plan`) and end-of-day invariants (`soak_invariants`). It may
import every stage; no stage imports it.
"""
