"""Conveyor's task logic, free of Airflow: one package per stage, imports running one way.

    core <- features <- data <- training <- registry <- serving <- monitoring <- demo <- platform

A package imports only packages to its left (``tests/unit/test_architecture.py`` fails on a
wrong-way import or a cycle). The DAG factory (``dags/conveyor_factory``) calls into these
packages; ``spark_jobs`` holds the Spark code and imports only ``core`` and ``features``.
"""
