"""What a feature table is, free of pyspark and torch: column names and roles, and its reader.

Owns `columns` (calendar, lag, window and categorical names from a spec; the pipeline's feature
module and how many days of history a day needs) and `store` (reading published feature
partitions and fingerprinting them). The Spark job that builds the tables lives in
`spark_jobs`; a training pod learns the names from here without pyspark.
"""
