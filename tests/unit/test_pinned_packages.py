"""versions.zookeeper / versions.influxdb and demo.retention are states the checks hold nodes to, not
just names: another installed version, or another retention, is not converged."""

from __future__ import annotations

import json

import pytest

from contract import Node, Role
from roles.engine.connection import RunResult
from roles.engine.ops import apt_op
from roles.packages.influxdb import database_op, influx_duration

pytestmark = pytest.mark.unit

NODE = Node("public-agent-0", Role.PUBLIC_AGENT, "10.98.0.80", None, 0)


def judge(op, stdout: str):  # type: ignore[no-untyped-def]
    assert op.judge is not None and op.probe is not None
    return op.judge(RunResult(op.probe, 0, stdout, ""))


def test_a_pinned_package_at_another_version_is_not_converged() -> None:
    op = apt_op("influxdb-package", ("influxdb", "curl"), versions={"influxdb": "1.6.7"})
    assert "${Version}" in (op.probe or "")
    ok = "influxdb install ok installed 1.6.7~rc0-1+b13\ncurl install ok installed 7.88.1-10\n"
    other = "influxdb install ok installed 1.8.10-1\ncurl install ok installed 7.88.1-10\n"
    assert judge(op, ok).ok
    state = judge(op, other)
    assert not state.ok and "influxdb 1.8.10-1 (wanted 1.6.7)" in state.detail
    assert not judge(op, "curl install ok installed 7.88.1-10\n").ok


def test_an_unpinned_apt_op_ignores_versions() -> None:
    op = apt_op("base", ("curl",))
    assert "${Version}" not in (op.probe or "")
    assert judge(op, "curl install ok installed\n").ok


def _policies(duration: str) -> str:
    return json.dumps({"results": [{"series": [{"columns": ["name", "duration", "default"],
                                                "values": [["demo", duration, True]]}]}]})  # fmt: skip


def test_the_retention_policy_must_keep_the_configured_duration() -> None:
    op = database_op(NODE, "crimes", "demo", "7d", "true")
    assert influx_duration("7d") == "168h0m0s" and influx_duration("INF") == "0s"
    assert judge(op, _policies("168h0m0s")).ok
    state = judge(op, _policies("336h0m0s"))
    assert not state.ok and "wanted 168h0m0s" in state.detail
    assert not judge(op, "garbage").ok
