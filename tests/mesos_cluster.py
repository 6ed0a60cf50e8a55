"""Test helpers for the mesos platform: inventories, user-supplied packages built from the contract
doubles, a resolved spec, and a Remote that runs commands on this machine (for the doubles' HTTP)."""

from __future__ import annotations

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

from roles import mesos
from roles.artifacts import Artifact, ArtifactCache, bundle_names
from roles.connection import RunResult
from roles.inventory import Inventory, Node, parse_inventory
from roles.spec import resolve
from tests.unit.test_engine import inventory_dict

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
    data["ssh"]["knownHosts"] = "\n".join(f"{n['privateIp']} ssh-ed25519 AAAAC3Nza" for n in nodes)
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
    for logical, name in bundle_names(resolve(data["settings"], parse_inventory(data), None)).items():
        (cache.root / f"{name}.bin").write_bytes(logical.encode())
        cache.record(name, cache.root / f"{name}.bin", "test stand-in")
    path = root / "cluster.json"
    path.write_text(json.dumps(data))
    return path


def mesos_spec(
    root: Path, masters: int = 3, agents: int = 3, net: str = "10.98.0", demo: bool = False
) -> tuple[dict[str, Any], Inventory]:
    """A resolved spec as `fab deploy` builds it: defaults, the cached bundles, the supplied packages."""
    settings = package_settings(root)
    inv = parse_inventory(mesos_inventory(masters, agents, net, demo, settings))
    spec = resolve(inv.settings, inv, None)
    spec["artifactFiles"] = fake_bundles(demo)
    mesos.prepare(spec, ArtifactCache(Path(settings["cacheDir"])))
    return spec, inv


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
