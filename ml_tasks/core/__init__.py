"""The core every stage stands on: the one settings object, pipeline specs, the lake, polling.

Owns `settings` (ConveyorSettings: every knob, read from the environment), `spec` (a pipeline's
YAML spec, parsed and checked), `lake` (raw / features / predictions zones and their day
partitions, local or S3), `tracking` (the connection to MLflow's tracking server and the
experiments runs go to) and `polling` (one `wait_until` for everything that waits).
Imports nothing else from `ml_tasks`.
"""
