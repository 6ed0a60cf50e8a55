"""InfluxDB 1.x from Debian's package (the demo's time series store, on the first public agent)."""

from __future__ import annotations

import shlex

from contract import Node
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Op
from roles.engine.ops import apt_op, probed, service_op

q = shlex.quote

PORT = 8086
UNIT = "influxdb.service"


def install_ops(node: Node) -> list[Op]:
    """The package (with curl, which the database op and the gates talk HTTP with), running."""
    return [
        apt_op("influxdb-package", ("influxdb", "curl"), name=f"InfluxDB installed on {node.name}"),
        service_op("influxdb-running", UNIT, f"InfluxDB running on {node.name}"),
    ]


def database_op(node: Node, database: str, policy: str, ensure: str) -> Op:
    """`database` with retention policy `policy` present; `ensure` is the command that creates both once
    InfluxDB answers (the apps' own client, apps/common/influx.py)."""
    query = f"SHOW RETENTION POLICIES ON {database}"
    probe = f"curl -sfG http://127.0.0.1:{PORT}/query --data-urlencode {q('q=' + query)} 2>/dev/null || true"

    def judge(res: RunResult) -> Check:
        text = res.stdout
        if f'"{policy}"' not in text:
            return Check(False, f"database {database} / retention policy {policy} missing")
        return Check(True, f"database {database} with retention policy {policy} present")

    def apply(r: Remote) -> None:
        r.run(
            f"for i in $(seq 30); do curl -sf http://127.0.0.1:{PORT}/ping && break; sleep 1; done; {ensure}",
            timeout=120,
        )

    return probed("influx-database", f"InfluxDB database {database} on {node.name}", probe, judge, apply)
