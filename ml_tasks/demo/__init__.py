"""Demo data: generators for the demand and churn pipelines and seeding a fresh stack with them.

Owns `demand_data` (hourly store x item demand, optionally messy), `churn_data` (daily
subscriber activity with a delayed label) and `seed` (landing and feature-building the demo's
history so a fresh stack can train at once).
"""
