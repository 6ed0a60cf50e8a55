"""Live dashboard of the crime demo: a stdlib HTTP server, a JSON API over InfluxDB, a bundled front end."""
