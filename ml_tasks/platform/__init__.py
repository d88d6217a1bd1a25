"""Running Conveyor, by what each part does. It may import every stage; no stage imports it.

Owns:

- `cli`: every `conveyor` command (`app`), grouped by what they act on (`data_commands`,
  `spec_commands`, `registry_commands`, `airflow_command`), `conveyor validate` (`spec_check`) and the demo loop.
- `stack`: the embedded stack's processes (`environment`: what runs, with which environment;
  `lifecycle`: up, down, status), the `supervisor` that starts again a service that died, and
  `task_slots` (tasks at once, threads each).
- `airflow_api`: Airflow's REST API with token renewal (`client`) and the re-landed-days event
  (`relanding`).
- `scaffold`: `conveyor new-pipeline` (`pipeline`), the sample it reads (`sample`) and the files
  it writes (`templates`).

The soak harness that drives the platform night after night is the top-level `soak` package,
which the product never imports.
"""
