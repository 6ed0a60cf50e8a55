"""The Fabric side: broker count from settings.kafka.brokers, render and diagnose confined to their
directories, render replacing its output, the selected Pulumi stack, no short flags beside Fabric's -i."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fabfile
from contract import Platform as PlatformName
from roles import tasks
from roles.engine import inventory as inv
from roles.engine.connection import RunResult
from roles.engine.executor import Platform, Step
from roles.engine.ops import file_op
from roles.engine.placement import FIRST_MASTER
from roles.errors import ConfigError, InventoryError
from tests.dcos_cluster import dcos_inventory, installer_settings
from tests.mesos_cluster import inventory_file, mesos_inventory, package_settings
from tests.unit.test_engine import inventory_dict

pytestmark = pytest.mark.unit


def standalone_file(tmp_path: Path, agents: int, kafka: dict[str, int]) -> Path:
    data = inventory_dict(agents)
    data["settings"]["kafka"] = kafka
    data["settings"]["artifacts"] = {"cacheDir": str(tmp_path / "cache")}
    return inventory_file(tmp_path, data)


def test_four_agents_three_brokers_render_three_brokers_standalone(tmp_path: Path) -> None:
    """settings.kafka.brokers 3 on 4 agents: exactly agent-0..2 get a server.properties; the quorum and
    every client's bootstrap list name those three."""
    out = tmp_path / "render"
    tasks.render(None, str(standalone_file(tmp_path, 4, {"brokers": 3, "replicationFactor": 3})), out)
    configs = sorted(p.relative_to(out).parts[0] for p in out.glob("*/etc/kafka/server.properties"))
    assert configs == ["agent-0", "agent-1", "agent-2"]
    text = (out / "agent-2/etc/kafka/server.properties").read_text()
    assert "controller.quorum.bootstrap.servers=10.98.0.20:9093,10.98.0.21:9093,10.98.0.22:9093\n" in text
    assert (out / "agent-3/etc/systemd/system/spark-worker.service").is_file(), "every agent runs Spark"
    assert "\tkafka-" not in (out / "agent-3/OPERATIONS.txt").read_text(), "no broker op on agent-3"


def test_four_agents_three_brokers_mesos_and_dcos(tmp_path: Path) -> None:
    """The same on mesos (three broker apps, three agents with the broker files) and dcos (the Kafka
    package's brokers.count)."""
    data = mesos_inventory(1, 4, artifacts=package_settings(tmp_path / "m"))
    data["settings"]["kafka"] = {"brokers": 3, "replicationFactor": 3}
    (tmp_path / "m").mkdir(exist_ok=True)
    out = tmp_path / "mesos"
    tasks.render(None, str(inventory_file(tmp_path / "m", data)), out)
    apps = sorted(p.name for p in out.glob("master-0/etc/fastdata/marathon/fastdata-kafka-broker-*.json"))
    assert apps == [f"fastdata-kafka-broker-{i}.json" for i in (1, 2, 3)]
    assert len(list(out.glob("*/etc/kafka/server.properties"))) == 3

    data = dcos_inventory(1, 4, artifacts=installer_settings(tmp_path / "d"))
    data["settings"]["kafka"] = {"brokers": 3, "replicationFactor": 3}
    out = tmp_path / "dcos"
    tasks.render(None, str(inventory_file(tmp_path / "d", data)), out)
    request = json.loads((out / "master-0/etc/fastdata/dcos/packages/kafka.json").read_text())
    assert request["options"]["brokers"]["count"] == 3


def test_render_replaces_its_directory_and_refuses_a_foreign_one(tmp_path: Path) -> None:
    inv_file = standalone_file(tmp_path, 3, {})
    out = tmp_path / "render"
    first = tasks.render(None, str(inv_file), out)
    (out / "agent-0" / "stale.txt").write_text("from an older render")
    listing = (out / "master-0/OPERATIONS.txt").read_text()
    second = tasks.render(None, str(inv_file), out)
    assert sorted(first) == sorted(second) and not (out / "agent-0" / "stale.txt").exists()
    assert (out / "master-0/OPERATIONS.txt").read_text() == listing, "replaced, not appended to"
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not a render directory"):
        tasks.render(None, str(inv_file), foreign)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_render_never_writes_outside_its_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: a file path that climbs out of the node's directory is refused before anything
    is written (node names cannot: the inventory refuses them, tests/unit/test_engine.py)."""

    def planner(spec: object, cluster: object, node: object) -> list:
        return [file_op("escape", "escape", "/../../../escaped.txt", "x")]

    evil = Platform("standalone", (Step("masters", FIRST_MASTER, planner),))  # type: ignore[arg-type]
    monkeypatch.setitem(tasks.PLATFORMS, PlatformName.STANDALONE, evil)
    out = tmp_path / "a" / "render"
    with pytest.raises(ConfigError, match="refusing to write"):
        tasks.render(None, str(standalone_file(tmp_path, 3, {})), out)
    assert not list(tmp_path.rglob("escaped.txt")) and not out.exists()


def test_diagnose_never_writes_outside_its_directory(tmp_path: Path) -> None:
    cluster = inv.parse_inventory(inventory_dict())

    class Quiet:
        node = cluster.nodes[0]

        def run(self, command: str, **kw: object) -> RunResult:
            return RunResult(command, 0, "", "")

    platform = tasks.PLATFORMS[PlatformName.STANDALONE]
    root = tmp_path / "diagnose"
    with pytest.raises(ConfigError, match="refusing to write"):
        tasks.collect_diagnostics(cluster, platform, {"../../outside": Quiet()}, root)  # type: ignore[dict-item]
    assert not (tmp_path / "outside").exists()
    dest = tasks.collect_diagnostics(cluster, platform, {"master-0": Quiet()}, root)  # type: ignore[dict-item]
    assert dest.parent == root.resolve() and (dest / "master-0" / "journal.txt").is_file()


def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    binary = tmp_path / "pulumi"
    binary.write_text(f"#!/bin/sh\n{script}\n")
    binary.chmod(0o755)
    monkeypatch.setattr(inv, "_pulumi", lambda root: (str(binary), {"PATH": "/usr/bin:/bin"}))


def test_the_selected_stack_is_used_and_none_selected_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []
    monkeypatch.setattr(inv, "load_stack", lambda stack, root=None: loaded.append(stack))
    fake_pulumi(tmp_path, monkeypatch, 'test "$1 $2" = "stack --show-name" && echo dev-aws')
    inv.load(None, None)
    assert loaded == ["dev-aws"]
    fake_pulumi(tmp_path, monkeypatch, "echo 'error: no stack selected' >&2; exit 255")
    with pytest.raises(InventoryError, match=r"no Pulumi stack is selected .*error: no stack selected"):
        inv.load(None, None)
    assert fabfile._stack(None, "cluster.json") is None, "an inventory file needs no stack"


def test_task_options_have_no_short_flags() -> None:
    """Fabric's own -i is the SSH identity file: --inventory must not take it (nor any other letter)."""
    for task in (fabfile.deploy, fabfile.plan, fabfile.render, fabfile.status, fabfile.diagnose):
        assert all(len(a.names) == 1 for a in task.get_arguments()), task.name
