"""Test helpers for the dcos platform: inventories with a bootstrap node, the installer double as the
user-supplied installer, a resolved spec, and the doubles as modules."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from contract import Cluster
from roles.engine.spec import DeploySpec
from roles.platforms import dcos
from tests.mesos_cluster import DOUBLES, HOST_KEY, mesos_inventory, supplied_spec


def doubles() -> tuple[ModuleType, ModuleType]:
    """The installer double and the cluster double as modules (stdlib-only scripts in tests/doubles/)."""
    if str(DOUBLES) not in sys.path:
        sys.path.insert(0, str(DOUBLES))
    import dcos_cluster_double
    import dcos_installer_double

    return dcos_installer_double, dcos_cluster_double


def installer_settings(root: Path) -> dict[str, Any]:
    """settings.artifacts as a user writes them, for an installer that is the generate-config double."""
    root.mkdir(parents=True, exist_ok=True)
    installer = root / "dcos_generate_config.sh"
    installer.write_bytes((DOUBLES / "dcos_installer_double.py").read_bytes())
    return {
        "dcosInstallerUrl": installer.as_uri(),
        "dcosInstallerSha256": hashlib.sha256(installer.read_bytes()).hexdigest(),
        "cacheDir": str(root / "cache"),
    }


def dcos_inventory(
    masters: int = 3,
    agents: int = 3,
    net: str = "10.98.0",
    demo: bool = False,
    artifacts: dict[str, Any] | None = None,
    cloud: str = "local",
    dcos_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The mesos tests' inventory plus bootstrap-0 at .5, platform dcos."""
    data = mesos_inventory(masters, agents, net, demo, artifacts)
    bootstrap = {"name": "bootstrap-0", "role": "bootstrap", "privateIp": f"{net}.5", "publicIp": None}
    data.update(name="fastdata-dcos", platform="dcos", cloud=cloud, nodes=[bootstrap, *data["nodes"]])
    data["ssh"]["knownHosts"] = "\n".join(f"{n['privateIp']} ssh-ed25519 {HOST_KEY}" for n in data["nodes"])
    data["settings"]["versions"]["dcos"] = "2.2.1"
    if dcos_settings is not None:
        data["settings"]["dcos"] = dcos_settings
    return data


def dcos_spec(
    root: Path,
    masters: int = 3,
    agents: int = 3,
    net: str = "10.98.0",
    demo: bool = False,
    cloud: str = "local",
) -> tuple[DeploySpec, Cluster]:
    """A resolved spec as `fab deploy` builds it: defaults, the cached bundles, the supplied installer."""
    data = dcos_inventory(masters, agents, net, demo, installer_settings(root), cloud)
    spec, inv = supplied_spec(dcos.PLATFORM, data, demo)
    dcos.validate(spec, inv)
    return spec, inv
