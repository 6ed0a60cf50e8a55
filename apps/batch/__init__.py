"""The demo's batch job: totals over the processor's Parquet archive on HDFS (python -m apps.batch)."""
