"""InfluxDB 1.x from Debian's package (the demo's time series store, on the first public agent)."""

from __future__ import annotations

import json
import shlex

from contract import Node
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Op
from roles.engine.ops import apt_op, probed, service_op

q = shlex.quote

PORT = 8086
UNIT = "influxdb.service"


def install_ops(node: Node, version: str) -> list[Op]:
    """The package at settings.versions.influxdb (with curl, which the database op and the gates talk HTTP
    with), running."""
    return [
        apt_op(
            "influxdb-package",
            ("influxdb", "curl"),
            name=f"InfluxDB {version} installed on {node.name}",
            versions={"influxdb": version},
        ),
        service_op("influxdb-running", UNIT, f"InfluxDB running on {node.name}"),
    ]


_SECONDS = {"h": 3600, "d": 86400, "w": 604800}


def influx_duration(retention: str) -> str:
    """How InfluxDB reports a retention DURATION (7d -> 168h0m0s; INF -> 0s)."""
    if retention == "INF":
        return "0s"
    hours = int(retention[:-1]) * _SECONDS[retention[-1]] // 3600
    return f"{hours}h0m0s"


def retention_of(text: str, policy: str) -> str | None:
    """The duration of `policy` in a SHOW RETENTION POLICIES answer (InfluxDB 1.x JSON), or None."""
    try:
        series = json.loads(text)["results"][0]["series"][0]
        columns = series["columns"]
        for row in series["values"]:
            entry = dict(zip(columns, row, strict=False))
            if entry.get("name") == policy:
                return str(entry.get("duration"))
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return None


def database_op(node: Node, database: str, policy: str, retention: str, ensure: str) -> Op:
    """`database` with retention policy `policy` of `retention` (settings.demo.retention); `ensure` is the
    command that creates or alters both once InfluxDB answers (the apps' own client,
    apps/common/influx.py)."""
    query = f"SHOW RETENTION POLICIES ON {database}"
    probe = f"curl -sfG http://127.0.0.1:{PORT}/query --data-urlencode {q('q=' + query)} 2>/dev/null || true"
    want = influx_duration(retention)

    def judge(res: RunResult) -> Check:
        have = retention_of(res.stdout, policy)
        if have is None:
            return Check(False, f"database {database} / retention policy {policy} missing")
        if have != want:
            return Check(False, f"retention policy {policy} keeps {have}, wanted {want} ({retention})")
        return Check(True, f"database {database} with retention policy {policy} ({retention}) present")

    def apply(r: Remote) -> None:
        r.run(
            f"for i in $(seq 30); do curl -sf http://127.0.0.1:{PORT}/ping && break; sleep 1; done; {ensure}",
            timeout=120,
        )

    name = f"InfluxDB database {database} (retention {retention}) on {node.name}"
    return probed("influx-database", name, probe, judge, apply)
