"""Getting data in and keeping it good: landing, Great Expectations gates, quarantine, backfill.

Owns `landing` (raw files into day partitions), `expectations` (loading and running GE suites),
`gates` (the raw and features gates for one day, calibrated null shares), `range_gates` (the
same gates over many days in one pass), `quarantine`, `backfill` (features for a range of days
through the Spark job and the gates), `suite_profile` (a raw suite from sample data) and
`leakage` (inputs that are the target in disguise).
"""
