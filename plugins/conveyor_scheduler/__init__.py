"""Airflow's embedded scheduler as Conveyor starts it (``python -m conveyor_scheduler.preloaded``).

Airflow-side code, kept out of ``ml_tasks`` (whose task logic never imports Airflow) and out of
``conveyor_plugin`` (which every Airflow process loads, and which imports Conveyor's own code:
the scheduler must fork its tasks before any of that is imported). Importing this package
imports nothing.
"""
