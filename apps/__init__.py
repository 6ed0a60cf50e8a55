"""fastdata demo applications: the Chicago-crime replay producer, the Spark processor and the dashboard.

Each app is runnable as ``python -m apps.<name> --help``; shared pieces (errors, config helpers,
geohash, the InfluxDB client) live in :mod:`apps.common`.
"""
