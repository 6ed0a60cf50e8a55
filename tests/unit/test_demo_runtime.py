"""Before anything changes: can the nodes the demo goes to run it (Python 3.11 and apt)? DC/OS 2.2's nodes
(CentOS 7, Python 3.6) cannot: `fab plan` and `fab deploy` refuse, naming the nodes' OS and the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from roles import tasks
from roles.demo import runtime
from roles.engine import capacity
from roles.engine.connection import RunResult
from roles.errors import ConfigError
from roles.platforms import dcos, mesos
from tests.dcos_cluster import dcos_inventory, dcos_spec, installer_settings
from tests.mesos_cluster import inventory_file

pytestmark = pytest.mark.unit

GIB = 1024**3
CENTOS = "CentOS Linux 7 (Core)\n3.6.8\nnone\n"
DEBIAN = "Debian GNU/Linux 12 (bookworm)\n3.11.2\n/usr/bin/apt-get\n"


class ReadOnlyNode:
    """Answers the memory and runtime facts; records every command (a plan must run only these)."""

    def __init__(self, name: str, facts: str) -> None:
        self.name, self.facts = name, facts
        self.commands: list[str] = []

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> RunResult:
        self.commands.append(command)
        if command == capacity.MEMORY_FACTS:
            return RunResult(command, 0, f"{64 * GIB}\nmax\nmax\n", "")
        if command == runtime.FACTS:
            return RunResult(command, 0, self.facts, "")
        if command.startswith(("cat /opt/mesosphere/etc/dcos-version.json", "pid=$(systemctl show")):
            return RunResult(command, 0, "", "")  # the upgrade preflight's read-only facts: nothing installed
        raise AssertionError(f"{self.name}: a command beyond the read-only facts ran: {command[:80]}")

    def close(self) -> None:
        pass


def test_facts_are_parsed_and_judged() -> None:
    centos, debian = runtime.parse_facts(CENTOS), runtime.parse_facts(DEBIAN)
    assert centos == runtime.Runtime("CentOS Linux 7 (Core)", (3, 6, 8), False) and not centos.runs_demo
    assert debian is not None and debian.runs_demo
    assert runtime.parse_facts("Alpine\nnone\nnone\n") == runtime.Runtime("Alpine", None, False)
    assert runtime.parse_facts("") is None


def plan_with(tmp_path: Path, facts: dict[str, str], demo: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`fab plan` on a dcos inventory whose nodes answer `facts` (default CentOS 7)."""
    data = dcos_inventory(3, 3, demo=demo, artifacts=installer_settings(tmp_path))
    inv_file = inventory_file(tmp_path, data)
    nodes = {n["name"]: ReadOnlyNode(n["name"], facts.get(n["name"], CENTOS)) for n in data["nodes"]}
    monkeypatch.setattr(tasks, "connect_all", lambda inventory, progress: (nodes, []))
    return inv_file, nodes


def test_plan_refuses_the_demo_on_centos_7_naming_the_os_and_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv_file, nodes = plan_with(tmp_path, {}, True, monkeypatch)
    for dry_run in (True, False):
        with pytest.raises(ConfigError) as info:
            tasks.deploy(None, str(inv_file), dry_run=dry_run)
        msg = str(info.value)
        assert msg.startswith("the demo cannot run on these nodes (nothing was changed on any node):\n")
        for name in ("agent-0", "agent-1", "agent-2", "public-agent-0"):
            assert f"- {name}: CentOS Linux 7 (Core), Python 3.6.8, no apt" in msg
        assert "master-0" not in msg and "bootstrap-0" not in msg, "only the demo's nodes are asked"
        assert "Set fastdata:demo.enabled to false" in msg
    asked = {name for name, n in nodes.items() if runtime.FACTS in n.commands}
    assert asked == {"agent-0", "agent-1", "agent-2", "public-agent-0"}


def test_the_demo_disabled_or_nodes_with_python_3_11_pass_the_preflight(tmp_path: Path) -> None:
    """The platforms' preflight itself: Debian 12 nodes pass; with the demo off their OS is not even read
    (the upgrade preflight still reads the installed DC/OS version)."""
    spec, inv = dcos_spec(tmp_path / "on", masters=1, agents=2, demo=True)
    debian = {n.name: ReadOnlyNode(n.name, DEBIAN) for n in inv.nodes}
    assert dcos.PLATFORM.preflight is not None and mesos.PLATFORM.preflight is not None
    assert dcos.PLATFORM.preflight(spec, inv, debian) == []  # type: ignore[arg-type]
    off, inv_off = dcos_spec(tmp_path / "off", masters=1, agents=2, demo=False)
    centos = {n.name: ReadOnlyNode(n.name, CENTOS) for n in inv_off.nodes}
    assert dcos.PLATFORM.preflight(off, inv_off, centos) == []  # type: ignore[arg-type]
    assert not [c for n in centos.values() for c in n.commands if c == runtime.FACTS], "not read, demo off"


def test_unreadable_facts_are_a_note_not_a_refusal(tmp_path: Path) -> None:
    spec, _ = dcos_spec(tmp_path, masters=1, agents=1, demo=True)
    notes = runtime.check(spec, {"agent-0": None})
    assert notes == ["agent-0: its OS and Python could not be read; not checked"]
