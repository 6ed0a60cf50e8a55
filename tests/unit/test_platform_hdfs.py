"""HDFS on the Mesos platforms, through `fab render` and `fab plan` (no node is changed): mesos runs the
standalone platform's systemd units (NameNode on master-0, a DataNode per private agent), dcos installs
the DC/OS `hdfs` package through the package API and points the Spark package and the processor at it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from roles import tasks
from roles.engine.connection import RunResult
from tests.dcos_cluster import dcos_inventory, installer_settings
from tests.mesos_cluster import inventory_file, mesos_inventory, package_settings

pytestmark = [pytest.mark.unit, pytest.mark.double]


def rendered(tmp_path: Path, data: dict[str, Any]) -> Path:
    out = tmp_path / "out"
    tasks.render(None, str(inventory_file(tmp_path, data)), out)
    return out


def test_mesos_render_shows_the_namenode_on_master_0_and_a_datanode_per_agent(tmp_path: Path) -> None:
    out = rendered(tmp_path, mesos_inventory(3, 3, demo=True, artifacts=package_settings(tmp_path / "p")))
    assert (out / "master-0/etc/systemd/system/hdfs-namenode.service").is_file()
    assert not (out / "master-1/etc/systemd/system/hdfs-namenode.service").exists()
    for agent in ("agent-0", "agent-1", "agent-2"):
        site = (out / agent / "etc/hadoop/hdfs-site.xml").read_text()
        assert "<name>dfs.replication</name><value>3</value>" in site
        assert (out / agent / "etc/systemd/system/hdfs-datanode.service").is_file()
    assert not (out / "public-agent-0/etc/hadoop").exists(), "no DataNode on public agents"
    core = (out / "master-0/etc/hadoop/core-site.xml").read_text()
    assert "<name>fs.defaultFS</name><value>hdfs://10.98.0.11:8020</value>" in core
    operations = (out / "master-0/OPERATIONS.txt").read_text()
    assert "masters\thdfs-namenode-running\tHDFS NameNode on master-0" in operations
    assert "packages\thdfs-demo-tree\tHDFS /fastdata for the demo's jobs" in operations
    request = json.loads((out / "master-0/etc/fastdata/spark/processor.json").read_text())
    env = {k: v for k, v in request["sparkProperties"].items() if k.startswith("spark.mesos.driverEnv.")}
    assert (
        env["spark.mesos.driverEnv.CHECKPOINT_DIR"] == "hdfs://10.98.0.11:8020/fastdata/checkpoints/processor"
    )
    assert env["spark.mesos.driverEnv.ARCHIVE_DIR"] == "hdfs://10.98.0.11:8020/fastdata/archive/crimes"


def test_dcos_render_shows_the_hdfs_package_request_and_spark_pointed_at_it(tmp_path: Path) -> None:
    out = rendered(tmp_path, dcos_inventory(3, 3, demo=True, artifacts=installer_settings(tmp_path / "i")))
    packages = out / "master-0/etc/fastdata/dcos/packages"
    assert json.loads((packages / "hdfs.json").read_text()) == {
        "packageName": "hdfs",
        "packageVersion": "2.8.0-3.2.1",
        "options": {
            "service": {"name": "hdfs"},
            "name_node": {"mem": 1024},
            "data_node": {"count": 3, "mem": 768},
            "hdfs": {"permissions_enabled": False},
        },
    }
    spark = json.loads((packages / "spark.json").read_text())["options"]
    assert spark["hdfs"] == {"config-url": "http://api.hdfs.marathon.l4lb.thisdcos.directory/v1/endpoints"}
    assert not list(out.glob("*/etc/hadoop")), "DC/OS' HDFS is the package's, no units of ours"
    ops = (out / "master-0/OPERATIONS.txt").read_text().splitlines()
    order = [line.split("\t")[1] for line in ops if line.startswith("packages\tpackage:")]
    assert order == ["package:hdfs", "package:kafka", "package:spark"], "HDFS before Spark, which uses it"
    request = json.loads((out / "master-0/etc/fastdata/spark/processor.json").read_text())
    assert request["sparkProperties"]["spark.mesos.driverEnv.CHECKPOINT_DIR"] == (
        "hdfs://hdfs/fastdata/checkpoints/processor"
    )


class BlankNode:
    """A node with nothing installed: every probe finds nothing (plan only reads)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: list[str] = []

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> RunResult:
        self.commands.append(command)
        if command.startswith("(. /etc/os-release"):  # the demo preflight: a Debian 12 node
            return RunResult(command, 0, "Debian GNU/Linux 12 (bookworm)\n3.11.2\n/usr/bin/apt-get\n", "")
        return RunResult(command, 1, "", "")

    def close(self) -> None:
        pass


def planned(tmp_path: Path, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    nodes = {n["name"]: BlankNode(n["name"]) for n in data["nodes"]}
    monkeypatch.setattr(tasks, "connect_all", lambda inventory, progress: (nodes, []))
    report = tasks.deploy(None, str(inventory_file(tmp_path, data)), dry_run=True, out=io.StringIO())
    return [f"{r.host}: {r.name}" for r in report.results if r.status == "would-change"]


def test_mesos_plan_shows_the_hdfs_daemons_it_would_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = planned(tmp_path, mesos_inventory(1, 2, artifacts=package_settings(tmp_path / "p")), monkeypatch)
    assert "master-0: HDFS NameNode on master-0" in lines
    assert "agent-0: HDFS DataNode on agent-0" in lines and "agent-1: HDFS DataNode on agent-1" in lines
    assert not [line for line in lines if line.startswith("public-agent-0: HDFS")]


def test_dcos_plan_shows_the_hdfs_package_it_would_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = planned(tmp_path, dcos_inventory(1, 3, artifacts=installer_settings(tmp_path / "i")), monkeypatch)
    assert "master-0: DC/OS package hdfs installed" in lines
    assert "master-0: hdfs install request (options)" in lines
