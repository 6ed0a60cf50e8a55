"""Mesos and Marathon version changes (issue 13 item 5): shown by `fab plan` node by node, refused when
they go backwards, rolled by the platform's own restart handlers - mesos-masters one at a time, then the
Marathons, then the agents one at a time, each health-gated - and resumable. The Mesos double refuses an
agent newer than the masters, so an out-of-order upgrade stops at that agent. The DC/OS rollout's order
through the executor is at the end (its procedure against the doubles: tests/unit/test_dcos_gates.py)."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from contract import Node
from roles import tasks
from roles.engine.connection import RunResult
from roles.engine.executor import Check, DeployFailed, Executor, Platform, Progress, Step, wait_for
from roles.engine.placement import EVERY_AGENT_AND_PUBLIC_AGENT, EVERY_MASTER
from roles.errors import ConfigError
from roles.platforms import dcos, mesos
from tests.dcos_cluster import dcos_spec
from tests.mesos_cluster import DOUBLES, inventory_file, mesos_inventory, mesos_spec, package_settings

pytestmark = [pytest.mark.unit, pytest.mark.double]
BINARY = {"master": "mesos/{v}/usr/sbin/mesos-master", "agent": "mesos/{v}/usr/sbin/mesos-agent"}
BINARY["marathon"] = "marathon/{v}/marathon-{v}-b1ae5b5f1/bin/marathon"


class RunningNode:
    """A node whose Mesos daemons run `running[daemon]`; a restart starts the version its unit names
    (`want`); health endpoints answer as healthy ones do. Records the restarts."""

    def __init__(self, node: Node, running: dict[str, str], want: dict[str, str], log: list[str]) -> None:
        self.node, self.running, self.want, self.log = node, running, want, log

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> RunResult:
        for daemon, unit in mesos.UNITS.items():
            if f"systemctl restart {unit}" in command:
                self.log.append(f"{daemon}@{self.node.name}")
                self.running[daemon] = self.want[mesos.PACKAGE_OF[daemon]]
                return RunResult(command, 0, "", "")
            if f"--value {unit}" in command and daemon in self.running:
                v = self.running[daemon]
                return RunResult(command, 0, f"/usr/bin/python3 /opt/{BINARY[daemon].format(v=v)} --x=1 ", "")
        if "metrics/snapshot" in command:
            return RunResult(command, 0, json.dumps({"slave/registered": 1}) + "\n@@fastdata-http 200", "")
        if command.startswith("curl"):
            return RunResult(command, 0, "ok\n@@fastdata-http 200", "")
        return RunResult(command, 0, "", "")

    def close(self) -> None:
        pass


def cluster_at(
    tmp_path: Path, mesos_v: str, marathon_v: str
) -> tuple[Any, Any, dict[str, RunningNode], list[str]]:
    """A 3-master, 2-agent (+ public agent) spec wanting mesos_v/marathon_v, nodes running 1.11.0/1.11.24."""
    spec, inv = mesos_spec(tmp_path, masters=3, agents=2)
    versions = dataclasses.replace(spec.versions, mesos=mesos_v, marathon=marathon_v)
    spec = dataclasses.replace(spec, settings=dataclasses.replace(spec.settings, versions=versions))
    log: list[str] = []
    want = {"mesos": mesos_v, "marathon": marathon_v}
    nodes = {}
    for n in inv.nodes:
        running = {"master": "1.11.0", "marathon": "1.11.24"} if n.role == "master" else {"agent": "1.11.0"}
        nodes[n.name] = RunningNode(n, running, want, log)
    return spec, inv, nodes, log


def version_only_platform() -> Platform:
    """The mesos platform's version ops and restart handlers alone (the other ops are tested elsewhere)."""

    def masters(spec: Any, inv: Any, node: Node) -> list[Any]:
        return [
            mesos.version_op(spec, node, "master", "mesos-master"),
            mesos.version_op(spec, node, "marathon", "marathon"),
        ]

    def agents(spec: Any, inv: Any, node: Node) -> list[Any]:
        return [mesos.version_op(spec, node, "agent", "mesos-agent")]

    return dataclasses.replace(
        mesos.PLATFORM,
        steps=(Step("masters", EVERY_MASTER, masters), Step("agents", EVERY_AGENT_AND_PUBLIC_AGENT, agents)),
        gates=(),
    )


def test_plan_shows_the_upgrade_node_by_node_and_refuses_a_downgrade(tmp_path: Path) -> None:
    spec, inv, nodes, _ = cluster_at(tmp_path, "1.11.1", "1.11.25")
    assert mesos.upgrade_preflight(spec, inv, nodes) == [  # type: ignore[arg-type]
        "upgrade Mesos 1.11.0 -> 1.11.1: masters one at a time: master-0, master-1, master-2; then agents "
        "one at a time: agent-0, agent-1, public-agent-0",
        "upgrade Marathon 1.11.24 -> 1.11.25: masters (after their mesos-masters) one at a time: master-0, "
        "master-1, master-2",
    ]
    nodes["master-0"].running["master"] = "1.11.1"  # resumed: master-0 already done
    assert mesos.upgrade_preflight(spec, inv, nodes)[0].startswith(  # type: ignore[arg-type]
        "upgrade Mesos 1.11.0 -> 1.11.1: masters one at a time: master-1, master-2; then agents"
    )
    down, inv, nodes, _ = cluster_at(tmp_path / "down", "1.11.0", "1.11.23")
    with pytest.raises(ConfigError) as info:
        mesos.upgrade_preflight(down, inv, nodes)  # type: ignore[arg-type]
    assert str(info.value).startswith(
        "Marathon 1.11.23 is older than what runs (master-0 runs 1.11.24, master-1 runs 1.11.24, master-2 "
        "runs 1.11.24): downgrades are not supported (nothing was changed on any node)"
    )


def test_fab_plan_prints_the_upgrade_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = mesos_inventory(1, 1, artifacts=package_settings(tmp_path / "p"))
    data["settings"]["versions"]["mesos"] = "1.11.1"
    _, _, nodes, _ = cluster_at(tmp_path, "1.11.1", "1.11.24")
    names = {n["name"] for n in data["nodes"]}
    blank = {name: node for name, node in nodes.items() if name in names}
    monkeypatch.setattr(tasks, "connect_all", lambda inventory, progress: (blank, []))
    out = io.StringIO()
    tasks.deploy(None, str(inventory_file(tmp_path, data)), dry_run=True, out=out)
    assert (
        "  preflight: upgrade Mesos 1.11.0 -> 1.11.1: masters one at a time: master-0; then agents one at a "
        "time: agent-0, public-agent-0\n" in out.getvalue()
    )


def test_the_rollout_restarts_masters_then_marathons_then_agents_one_at_a_time(tmp_path: Path) -> None:
    """Through the executor: each restart is health-gated (one host at a time, in inventory order); a
    second run changes nothing."""
    spec, inv, nodes, log = cluster_at(tmp_path, "1.11.1", "1.11.25")
    executor = Executor(version_only_platform(), spec, inv, nodes, Progress(io.StringIO()), health_interval=0)  # type: ignore[arg-type]
    try:
        report = executor.run()
        assert log == [
            "master@master-0", "master@master-1", "master@master-2",
            "marathon@master-0", "marathon@master-1", "marathon@master-2",
            "agent@agent-0", "agent@agent-1", "agent@public-agent-0",
        ]  # fmt: skip
        assert {r.detail for r in report.results if r.key == "master-version"} == {
            "mesos-master runs 1.11.0, want 1.11.1: restart queued"
        }
        log.clear()
        assert executor.run().changes == 0 and log == []
    finally:
        executor.close()


def test_an_interrupted_rollout_resumes_without_restarting_upgraded_nodes(tmp_path: Path) -> None:
    spec, inv, nodes, log = cluster_at(tmp_path, "1.11.1", "1.11.24")
    nodes["master-0"].running["master"] = "1.11.1"  # the first run got this far
    nodes["master-1"].running["master"] = "1.11.1"
    executor = Executor(version_only_platform(), spec, inv, nodes, Progress(io.StringIO()), health_interval=0)  # type: ignore[arg-type]
    try:
        executor.run()
    finally:
        executor.close()
    assert log == ["master@master-2", "agent@agent-0", "agent@agent-1", "agent@public-agent-0"]


def test_an_unhealthy_restart_stops_the_rollout_at_that_node(tmp_path: Path) -> None:
    spec, inv, nodes, log = cluster_at(tmp_path, "1.11.1", "1.11.24")
    refusing = nodes["agent-0"]
    original = refusing.run

    def unregistered(command: str, **kw: Any) -> RunResult:
        if "metrics/snapshot" in command:
            return RunResult(command, 0, json.dumps({"slave/registered": 0}) + "\n@@fastdata-http 200", "")
        return original(command, **kw)

    refusing.run = unregistered  # type: ignore[method-assign]
    platform = version_only_platform()
    platform = dataclasses.replace(
        platform,
        handlers={
            **platform.handlers,
            "restart-agent": dataclasses.replace(platform.handlers["restart-agent"], timeout=0.2),
        },
    )
    executor = Executor(platform, spec, inv, nodes, Progress(io.StringIO()), health_interval=0)  # type: ignore[arg-type]
    try:
        with pytest.raises(DeployFailed) as info:
            executor.run()
    finally:
        executor.close()
    assert (
        "host agent-0, op 'mesos-agent restarted (rolling)': not healthy after 0s: not registered (yet)"
        in str(info.value)
    )
    assert log[-1] == "agent@agent-0", "agent-1 and the public agent are not restarted after the failure"


# --- the doubles refuse an out-of-order upgrade ----------------------------------------------------------


def double_at(tmp_path: Path, version: str) -> Path:
    """A copy of the Mesos double that is version `version` (as a package of that version holds it)."""
    path = tmp_path / f"mesos-{version}"
    text = (
        (DOUBLES / "mesos_double.py").read_text().replace('VERSION = "1.11.0"', f'VERSION = "{version}"', 1)
    )
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_the_mesos_double_refuses_an_agent_newer_than_the_master(tmp_path: Path) -> None:
    old, new = double_at(tmp_path, "1.11.0"), double_at(tmp_path, "1.11.1")
    ip = "127.0.3.11"
    procs = []

    def start(binary: Path, daemon: str, *flags: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [str(binary), f"--daemon={daemon}", *flags], text=True, stderr=subprocess.PIPE
        )
        assert proc.stderr is not None and "listening" in proc.stderr.readline()
        procs.append(proc)
        return proc

    try:
        start(old, "master", f"--ip={ip}", "--port=5050", "--work_dir=/tmp/x")
        agent = start(
            new, "agent", f"--master={ip}:5050", "--ip=127.0.3.21", "--port=5051", "--work_dir=/tmp/y"
        )
        same = start(
            old, "agent", f"--master={ip}:5050", "--ip=127.0.3.22", "--port=5051", "--work_dir=/tmp/z"
        )
        assert same is not None
        assert agent.stderr is not None
        assert (
            agent.stderr.readline().strip()
            == "Master refused registration: agent 1.11.1 is newer than master 1.11.0"
        )

        def registered(address: str) -> Check:
            out = subprocess.run(
                ["curl", "-sS", f"http://{address}/metrics/snapshot"], capture_output=True, text=True
            )
            return Check(json.loads(out.stdout)["slave/registered"] == 1, out.stdout)

        assert wait_for(lambda: registered("127.0.3.22:5051"), 5, 0.2).ok, "the same version registers"
        assert not registered("127.0.3.21:5051").ok, "the newer agent does not"
        state = json.loads(
            subprocess.run(
                ["curl", "-sS", f"http://{ip}:5050/master/state"], capture_output=True, text=True
            ).stdout
        )
        assert [s["hostname"] for s in state["slaves"]] == ["127.0.3.22"]
        assert re.fullmatch(r"1\.11\.0", state["version"])
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


# --- the DC/OS rollout order through the executor ----------------------------------------------------------


class DcosNode:
    """A DC/OS node on `version`; the upgrade handler's script moves it to `target` (and records it)."""

    def __init__(self, node: Node, version: str, target: str, log: list[str]) -> None:
        self.node, self.version, self.target, self.log = node, version, target, log
        self.before = ""

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> RunResult:
        if "dcos_node_upgrade.sh" in command:
            self.log.append(self.node.name)
            self.before, self.version = self.version, self.target
            return RunResult(command, 0, "", "")
        if ".upgraded-from" in command:  # the handler's health: the version moved
            return RunResult(command, 0, f"{self.before}\n{dcos.UPGRADE_MARK}\n{self.version}\n", "")
        if command.startswith(f"cat {dcos.VERSION_FILE}"):
            return RunResult(command, 0, json.dumps({"version": self.version}), "")
        return RunResult(command, 0, "", "")

    def close(self) -> None:
        pass


def test_the_dcos_rollout_upgrades_masters_then_agents_one_at_a_time(tmp_path: Path) -> None:
    spec, inv = dcos_spec(tmp_path, masters=3, agents=2)
    versions = dataclasses.replace(spec.versions, dcos="2.2.2")
    spec = dataclasses.replace(spec, settings=dataclasses.replace(spec.settings, versions=versions))
    log: list[str] = []
    nodes = {n.name: DcosNode(n, "2.2.1", "2.2.2", log) for n in inv.nodes}
    nodes["master-0"].version = "2.2.2"  # resumed: master-0 was upgraded by an earlier run

    def upgrade(spec: Any, inv: Any, node: Node) -> list[Any]:
        return [dcos.upgrade_op(spec, node)]

    platform = dataclasses.replace(
        dcos.PLATFORM,
        steps=(Step("masters", EVERY_MASTER, upgrade), Step("agents", EVERY_AGENT_AND_PUBLIC_AGENT, upgrade)),
        gates=(),
        validate=None,
    )
    executor = Executor(platform, spec, inv, nodes, Progress(io.StringIO()), health_interval=0)  # type: ignore[arg-type]
    try:
        executor.run()
        assert log == ["master-1", "master-2", "agent-0", "agent-1", "public-agent-0"]
        log.clear()
        assert executor.run().changes == 0 and log == []
    finally:
        executor.close()
