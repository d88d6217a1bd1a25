"""`conveyor new-pipeline`: a pipeline's spec, DAG file and test from a sample of its data."""
