"""Pieces shared by the demo apps: errors, CLI/env helpers, geohash, the InfluxDB 1.x client."""
