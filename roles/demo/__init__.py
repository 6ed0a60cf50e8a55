"""The crime demo: what every platform needs (common), as systemd units (standalone), as Marathon apps
(mesos, dcos)."""
