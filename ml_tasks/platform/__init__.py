"""Running Conveyor: the `conveyor` CLI, the embedded stack, the Airflow client, scaffolding.

Owns `cli` (every `conveyor` command), `stack` (the embedded Airflow + MLflow processes),
`supervisor` (starts again a stack service that died), `airflow_command` (`conveyor airflow ...`),
`airflow_client` (Airflow's REST API with token renewal), `scaffold` (`conveyor new-pipeline`),
`spec_check` (`conveyor validate`), `demo_loop` (the demo loop run through Airflow), and the soak
run (`make soak`): its runner (`soak`), seeded plan (`soak_plan`), faults (`soak_faults`) and
end-of-day invariants (`soak_invariants`). It may import every stage; no stage imports it.
"""
