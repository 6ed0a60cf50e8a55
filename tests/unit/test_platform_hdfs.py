"""HDFS on the Mesos platforms, through `fab render` and `fab plan` (no node is changed): mesos runs the
standalone platform's systemd units (NameNode on master-0, a DataNode per private agent), dcos installs
the DC/OS `hdfs` package through the package API and points the Spark package and the processor at it;
`fab batch` there (a client-mode driver on agent-0 over the archive on that HDFS)."""

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


# --- `fab batch` on the Mesos platforms ---------------------------------------------------------------------


def test_the_batch_job_is_a_client_mode_driver_on_agent_0_against_mesos(tmp_path: Path) -> None:
    """mesos: the Mesos master through ZooKeeper, libmesos from the supplied package, our NameNode."""
    from roles.platforms import mesos
    from tests.mesos_cluster import mesos_spec

    spec, inv = mesos_spec(tmp_path, masters=3, agents=3, demo=True)
    assert mesos.PLATFORM.batch_job is not None
    node, command = mesos.PLATFORM.batch_job(spec, inv, True)
    assert node.name == "agent-0"
    assert (
        "--master mesos://zk://10.98.0.11:2181,10.98.0.12:2181,10.98.0.13:2181/mesos --deploy-mode client"
        in (command)
    )
    assert "--conf spark.cores.max=2" in command and "--conf spark.mesos.executor.home=" in command
    assert "MESOS_NATIVE_JAVA_LIBRARY=/opt/mesos/1.11.0/usr/lib/libmesos-1.11.0.so" in command
    assert "LIBPROCESS_IP=10.98.0.21" in command
    assert command.endswith(
        "-m apps.batch --archive-dir hdfs://10.98.0.11:8020/fastdata/archive/crimes --influx-url "
        "http://10.98.0.81:8086 --influx-db crimes --influx-rp demo"
    )


def test_the_dcos_batch_job_fetches_the_hdfs_packages_client_config(tmp_path: Path) -> None:
    from roles.platforms import dcos
    from tests.dcos_cluster import dcos_spec

    spec, inv = dcos_spec(tmp_path, masters=1, agents=3, demo=True)
    assert dcos.PLATFORM.batch_job is not None
    node, command = dcos.PLATFORM.batch_job(spec, inv, False)
    assert node.name == "agent-0"
    assert command.startswith(
        "mkdir -p /opt/fastdata/hadoop-conf && curl -fsS -o /opt/fastdata/hadoop-conf/hdfs-site.xml "
        "http://api.hdfs.marathon.l4lb.thisdcos.directory/v1/endpoints/hdfs-site.xml"
    )
    assert "export HADOOP_CONF_DIR=/opt/fastdata/hadoop-conf && cd /opt/fastdata/apps" in command
    assert "MESOS_NATIVE_JAVA_LIBRARY=/opt/mesosphere/lib/libmesos.so" in command
    assert command.endswith("-m apps.batch --archive-dir hdfs://hdfs/fastdata/archive/crimes")
