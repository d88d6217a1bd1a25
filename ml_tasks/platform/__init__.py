"""Running Conveyor: the `conveyor` CLI, the embedded stack, the Airflow client, scaffolding.

Owns `cli` (every `conveyor` command), `stack` (the embedded Airflow + MLflow processes),
`airflow_client` (Airflow's REST API with token renewal), `scaffold` (`conveyor new-pipeline`),
`spec_check` (`conveyor validate`) and `demo_loop` (the demo loop run through Airflow). It may
import every stage; no stage imports it.
"""
