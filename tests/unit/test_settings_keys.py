"""Every declared setting changes something: for each key the roles read, changing it changes the plan
(the ops, their checks, or the files they render) of the platform it applies to. A key that is declared
and validated but ignored fails here. (Keys only the Pulumi program reads are in
tests/infra/test_config_keys.py.)"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contract.settings import Settings
from roles import tasks
from roles.engine.executor import plan_phases
from tests.dcos_cluster import dcos_inventory, installer_settings
from tests.mesos_cluster import _tar, inventory_file, mesos_inventory, package_settings
from tests.unit.test_engine import inventory_dict

pytestmark = pytest.mark.unit


def fingerprint(path: Path) -> str:
    """Everything the plan of an inventory file says: per host and phase, each op's key, name and
    read-only check, and the bytes of every file it writes."""
    cluster, spec, platform = tasks.load(None, str(path))
    h = hashlib.sha256()
    for phase, by_host in plan_phases(platform, spec, cluster).items():
        for host, ops in sorted(by_host.items()):
            for op in ops:
                h.update(f"{phase}|{host}|{op.key}|{op.name}|{op.probe}\n".encode())
                for f in op.files:
                    h.update(f.path.encode() + b"\0" + f.content + b"\0" + str(f.mode).encode())
    return h.hexdigest()


def standalone(root: Path) -> dict[str, Any]:
    data = inventory_dict(4)
    data["settings"] = {"demo": {"enabled": True}, "kafka": {"brokers": 3}}
    return data


def mesos(root: Path) -> dict[str, Any]:
    return mesos_inventory(1, 3, demo=True, artifacts=package_settings(root / "packages"))


def dcos(root: Path) -> dict[str, Any]:
    return dcos_inventory(1, 3, artifacts=installer_settings(root / "installer"))


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    section, _, name = key.partition(".")
    data["settings"].setdefault(section, {})[name] = value


def _other_tar(root: Path, key: str) -> Callable[[dict[str, Any]], None]:
    """A different (valid) package for a source/sha pair."""

    def change(data: dict[str, Any]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        if key == "mesos":
            members = {
                "usr/sbin/mesos-master": b"2",
                "usr/sbin/mesos-agent": b"2",
                "usr/lib/libmesos.so": b"",
            }
        else:
            members = {"marathon-1.11.24-x/bin/marathon": b"2"}
        got = _tar(root / f"{key}-other.tar.gz", members, gz=True)
        _set(data, f"artifacts.{key}PackageSource", got["source"])
        _set(data, f"artifacts.{key}PackageSha256", got["sha256"])

    return change


def _other_installer(root: Path) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        other = installer_settings(root)
        path = Path(other["dcosInstallerUrl"].removeprefix("file://"))
        path.write_bytes(path.read_bytes() + b"\n# another build\n")
        _set(data, "artifacts.dcosInstallerUrl", path.as_uri())
        _set(data, "artifacts.dcosInstallerSha256", hashlib.sha256(path.read_bytes()).hexdigest())

    return change


def _value(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: _set(data, key, value)


# key -> (the platform it applies to, the change); every settings leaf the contract declares is listed
# (test_every_settings_key_is_covered keeps this table complete).
Change = Callable[[dict[str, Any]], None]
CHANGES: dict[str, tuple[Callable[[Path], dict[str, Any]], Callable[[Path], Change]]] = {
    "versions.kafka": (standalone, lambda r: _value("versions.kafka", "4.3.1")),
    "versions.spark": (standalone, lambda r: _value("versions.spark", "3.5.6")),
    "versions.dcos": (dcos, lambda r: _value("versions.dcos", "2.2.0")),
    "versions.mesos": (mesos, lambda r: _value("versions.mesos", "1.11.1")),
    "versions.marathon": (mesos, lambda r: _value("versions.marathon", "1.11.25")),
    "versions.zookeeper": (mesos, lambda r: _value("versions.zookeeper", "3.9.1")),
    "versions.influxdb": (standalone, lambda r: _value("versions.influxdb", "1.8.10")),
    "versions.hadoop": (standalone, lambda r: _value("versions.hadoop", "3.4.2")),
    "kafka.brokers": (standalone, lambda r: _value("kafka.brokers", 4)),
    "kafka.controllers": (standalone, lambda r: _value("kafka.controllers", 1)),
    "kafka.quorum": (standalone, lambda r: _value("kafka.quorum", "static")),
    "kafka.replicationFactor": (standalone, lambda r: _value("kafka.replicationFactor", 2)),
    "kafka.minInsyncReplicas": (standalone, lambda r: _value("kafka.minInsyncReplicas", 1)),
    "kafka.partitions": (standalone, lambda r: _value("kafka.partitions", 12)),
    "kafka.heap": (standalone, lambda r: _value("kafka.heap", "1g")),
    "spark.masterHeap": (standalone, lambda r: _value("spark.masterHeap", "640m")),
    "spark.workerHeap": (standalone, lambda r: _value("spark.workerHeap", "384m")),
    "spark.workerMemory": (standalone, lambda r: _value("spark.workerMemory", "3g")),
    "spark.workerCores": (standalone, lambda r: _value("spark.workerCores", 1)),
    "spark.executors": (standalone, lambda r: _value("spark.executors", 3)),
    "spark.executorsPerAgent": (standalone, lambda r: _value("spark.executorsPerAgent", 1)),
    "spark.executorCores": (standalone, lambda r: _value("spark.executorCores", 2)),
    "spark.executorMemory": (standalone, lambda r: _value("spark.executorMemory", "640m")),
    "spark.driverMemory": (standalone, lambda r: _value("spark.driverMemory", "1g")),
    "hdfs.namenodeHeap": (standalone, lambda r: _value("hdfs.namenodeHeap", "640m")),
    "hdfs.datanodeHeap": (standalone, lambda r: _value("hdfs.datanodeHeap", "256m")),
    "demo.enabled": (standalone, lambda r: _value("demo.enabled", False)),
    "demo.dataset": (standalone, lambda r: _value("demo.dataset", "data/other.csv")),
    "demo.speedup": (standalone, lambda r: _value("demo.speedup", 30.0)),
    "demo.maxEventsPerSecond": (standalone, lambda r: _value("demo.maxEventsPerSecond", 250)),
    "demo.retention": (standalone, lambda r: _value("demo.retention", "2w")),
    "dcos.resolvers": (dcos, lambda r: _value("dcos.resolvers", ["10.0.0.2"])),
    "dcos.config": (dcos, lambda r: _value("dcos.config", {"dns_search": "example.internal"})),
    "dcos.packageVersions": (dcos, lambda r: _value("dcos.packageVersions", {"kafka": "2.9.0-2.4.0"})),
    "artifacts.dcosInstallerUrl": (dcos, lambda r: _other_installer(r / "other-installer")),
    "artifacts.dcosInstallerSha256": (dcos, lambda r: _other_installer(r / "other-installer")),
    "artifacts.mesosPackageSource": (mesos, lambda r: _other_tar(r / "other", "mesos")),
    "artifacts.mesosPackageSha256": (mesos, lambda r: _other_tar(r / "other", "mesos")),
    "artifacts.marathonPackageSource": (mesos, lambda r: _other_tar(r / "other", "marathon")),
    "artifacts.marathonPackageSha256": (mesos, lambda r: _other_tar(r / "other", "marathon")),
}  # fmt: skip
# Read by the Pulumi program, not the roles (tests/infra/test_config_keys.py), or where the control
# machine keeps its files (the cache directory: what is in it changes the plan, not where it is).
NOT_IN_THE_PLAN = {"publicPorts", "artifacts.cacheDir"}


def _settings_keys() -> set[str]:
    from contract import Cluster
    from tests.unit.test_contract_inventory import cluster_json

    out = Cluster.from_json(cluster_json()).settings.to_json()
    assert isinstance(Cluster.from_json(cluster_json()).settings, Settings)
    return {
        f"{s}.{k}" if isinstance(v, dict) else s
        for s, v in out.items()
        for k in (v if isinstance(v, dict) else [s])
    }


def test_every_settings_key_is_covered() -> None:
    assert _settings_keys() == set(CHANGES) | NOT_IN_THE_PLAN


@pytest.mark.parametrize("key", sorted(CHANGES))
def test_changing_the_key_changes_the_plan(key: str, tmp_path: Path) -> None:
    make, change = CHANGES[key]
    base = make(tmp_path)
    base["settings"].setdefault("artifacts", {}).setdefault("cacheDir", str(tmp_path / "cache"))
    changed = copy.deepcopy(base)
    change(tmp_path)(changed)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before = fingerprint(inventory_file(tmp_path / "a", base))
    after = fingerprint(inventory_file(tmp_path / "b", changed))
    assert before != after, f"settings.{key} changed but the plan did not: the key is ignored"
