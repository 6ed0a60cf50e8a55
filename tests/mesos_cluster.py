"""Test helpers for the mesos platform: inventories, user-supplied packages built from the contract
doubles, a resolved spec, and a Remote that runs commands on this machine (for the doubles' HTTP)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shlex
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

from contract import Cluster, Node
from roles.artifacts import Artifact, ArtifactCache, bundle_names
from roles.engine.connection import RunResult
from roles.engine.executor import Platform
from roles.engine.inventory import parse_inventory
from roles.engine.spec import DeploySpec, Supplied, resolve, with_artifacts
from roles.platforms import mesos
from tests.unit.test_engine import HOST_KEY, inventory_dict

DOUBLES = Path(__file__).resolve().parent / "doubles"


def doubles() -> tuple[ModuleType, ModuleType]:
    """The doubles as modules (they are stdlib-only scripts in tests/doubles/)."""
    if str(DOUBLES) not in sys.path:
        sys.path.insert(0, str(DOUBLES))
    import marathon_double
    import mesos_double

    return mesos_double, marathon_double


def mesos_inventory(
    masters: int = 3,
    agents: int = 3,
    net: str = "10.98.0",
    demo: bool = False,
    artifacts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An inventory as the cloud programs export it: masters .11+, agents .21+, public agents .81+."""
    nodes = [
        {"name": f"master-{i}", "role": "master", "privateIp": f"{net}.{11 + i}", "publicIp": None}
        for i in range(masters)
    ]
    nodes += [
        {"name": f"agent-{i}", "role": "agent", "privateIp": f"{net}.{21 + i}", "publicIp": None}
        for i in range(agents)
    ]
    nodes += [{"name": "public-agent-0", "role": "publicAgent", "privateIp": f"{net}.81", "publicIp": None}]
    data = inventory_dict()  # the standalone tests' inventory, with mesos nodes and settings
    data.update(name="fastdata-mesos", platform="mesos", nodes=nodes)
    data["ssh"]["knownHosts"] = "\n".join(f"{n['privateIp']} ssh-ed25519 {HOST_KEY}" for n in nodes)
    data["endpoints"] = {"masters": [n["privateIp"] for n in nodes if n["role"] == "master"]}
    data["settings"] = {
        "versions": {"kafka": "3.9.1", "spark": "3.5.7", "mesos": "1.11.0", "marathon": "1.11.24"},
        "kafka": {"replicationFactor": min(3, agents)},
        "demo": {"enabled": demo},
        "artifacts": artifacts or {},
    }
    return data


def _tar(path: Path, members: dict[str, bytes], gz: bool) -> dict[str, str]:
    with tarfile.open(path, "w:gz" if gz else "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return {"source": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def package_settings(root: Path, mesos_members: dict[str, bytes] | None = None) -> dict[str, Any]:
    """The settings.artifacts a user would write, for packages holding the contract doubles."""
    root.mkdir(parents=True, exist_ok=True)
    agent_double = (DOUBLES / "mesos_double.py").read_bytes()
    m = _tar(
        root / "mesos-1.11.0.tar.gz",
        mesos_members
        if mesos_members is not None
        else {
            "usr/sbin/mesos-master": agent_double,
            "usr/sbin/mesos-agent": agent_double,
            "usr/lib/libmesos-1.11.0.so": b"",
            "usr/share/doc/mesos/README": b"",
        },
        gz=True,
    )
    marathon = _tar(
        root / "marathon-1.11.24-b1ae5b5f1.tgz",
        {
            "marathon-1.11.24-b1ae5b5f1/bin/marathon": (DOUBLES / "marathon_double.py").read_bytes(),
            "marathon-1.11.24-b1ae5b5f1/lib/mesosphere.marathon.marathon-1.11.24.jar": b"",
        },
        gz=True,
    )
    return {
        "mesosPackageSource": m["source"],
        "mesosPackageSha256": m["sha256"],
        "marathonPackageSource": marathon["source"],
        "marathonPackageSha256": marathon["sha256"],
        "cacheDir": str(root / "cache"),
    }


def fake_bundles(demo: bool) -> dict[str, Artifact]:
    names = {
        "kafka": "kafka-libs-3.9.1.tar",
        "spark-kafka": "spark-kafka-3.5.7.tar",
        "pyspark": "pyspark-3.5.7-py2.py3-none-any.whl",
        "py4j": "py4j-0.10.9.7-py2.py3-none-any.whl",
        "hadoop": "hadoop-libs-3.4.3.tar",
    }
    if demo:
        names |= {"demo-wheels": "demo-wheels-0.tar", "demo-apps": "demo-apps-0.tar"}
    return {
        n: Artifact(n, Path(f"/cache/{f}"), hashlib.sha256(n.encode()).hexdigest(), 1000)
        for n, f in names.items()
    }


def inventory_file(root: Path, data: dict[str, Any]) -> Path:
    """`data` as an --inventory file, with stand-ins for the cached bundles (Kafka jars, pyspark, ...)
    in its settings.artifacts.cacheDir, so `fab render/plan/deploy` can load it."""
    cache = ArtifactCache(Path(data["settings"]["artifacts"]["cacheDir"]))
    cache.root.mkdir(parents=True, exist_ok=True)
    for logical, name in bundle_names(parse_inventory(data).settings.to_json()).items():
        (cache.root / f"{name}.bin").write_bytes(logical.encode())
        cache.record(name, cache.root / f"{name}.bin", "test stand-in")
    path = root / "cluster.json"
    path.write_text(json.dumps(data))
    return path


def supplied_spec(platform: Platform, data: dict[str, Any], demo: bool) -> tuple[DeploySpec, Cluster]:
    """The spec `fab deploy` builds for the inventory `data`: the platform's user-supplied files resolved
    through the real cache (settings.artifacts.cacheDir), stand-ins for the cached bundles."""
    inv = parse_inventory(data)
    cache = ArtifactCache(Path(inv.settings.artifacts.cache_dir or ""))
    spec = resolve(inv, [n for n in platform.artifacts if isinstance(n, Supplied)], cache)
    declared = {n.name for n in platform.artifacts}
    return with_artifacts(spec, {k: v for k, v in fake_bundles(demo).items() if k in declared}), inv


def with_kafka(spec: DeploySpec, **changes: Any) -> DeploySpec:
    """The spec with settings.kafka changed (e.g. partitions=12)."""
    kafka = dataclasses.replace(spec.kafka, **changes)
    return dataclasses.replace(spec, settings=dataclasses.replace(spec.settings, kafka=kafka))


def mesos_spec(
    root: Path, masters: int = 3, agents: int = 3, net: str = "10.98.0", demo: bool = False
) -> tuple[DeploySpec, Cluster]:
    """A resolved spec as `fab deploy` builds it: defaults, the cached bundles, the supplied packages."""
    data = mesos_inventory(masters, agents, net, demo, package_settings(root))
    return supplied_spec(mesos.PLATFORM, data, demo)


def flags_of(text: str) -> list[str]:
    """The argument list systemd passes for `$FLAGS`: the value without its quotes, split on whitespace."""
    line = next(x for x in text.splitlines() if x.startswith("FLAGS="))
    return " ".join(shlex.split(line.split("=", 1)[1])).split()


class LocalRemote:
    """A node whose commands run on this machine (the doubles listen on its loopback addresses)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> RunResult:
        proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout or 60)
        return RunResult(command, proc.returncode, proc.stdout, proc.stderr)

    def put(self, data: bytes | Path, path: str, mode: int = 0o644, owner: str = "root") -> None:
        Path(path).write_bytes(data if isinstance(data, bytes) else data.read_bytes())
        Path(path).chmod(mode)
