"""Spark Structured Streaming job: crimes.raw -> windowed counts per type and per geohash cell -> InfluxDB."""
