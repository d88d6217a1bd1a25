"""Airflow's REST API as Conveyor uses it: the client, and the event that re-runs re-landed days."""
