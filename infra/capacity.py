"""Does the workload fit the machines? Checked before any resource is declared (pure: no cloud SDK).

Known sizes (vCPUs, memory) of the AWS instance types and Azure VM sizes the shipped stacks and the
defaults use, in one table; local containers have a memory limit (their size) and share the host's CPUs.
What each role needs: the platform's documented minimum (DC/OS: masters 4 cores / 32 GB, agents and
public agents 2 cores / 16 GB, docs/reference/dcos-mesos.md 1.5) and the memory of what runs there, from the
settings
(contract.Settings): an agent holds a Kafka broker's heap, the Spark worker's executors and daemon, and
the node's own daemons; a master holds the Spark master, the demo's producer and driver, and on Mesos
ZooKeeper and Marathon. A size that is not in the table is reported and skipped, never guessed.
"""

from __future__ import annotations

from contract.capacity import Size, memory_needs, mib
from contract.capacity import gb as _gb
from contract.problems import Problem
from contract.schema import Cloud, Platform, Role
from infra.errors import ConfigError
from infra.spec import ClusterSpec


def _gib(vcpus: int, gib: int) -> Size:
    return Size(vcpus, gib * 1024)


# Published by AWS (EC2 instance types) and Microsoft (Azure VM sizes).
KNOWN_SIZES: dict[Cloud, dict[str, Size]] = {
    Cloud.AWS: {
        "t3.medium": _gib(2, 4),
        "t3.large": _gib(2, 8),
        "t3.xlarge": _gib(4, 16),
        "m5.large": _gib(2, 8),
        "m5.xlarge": _gib(4, 16),
        "m5.2xlarge": _gib(8, 32),
        "m5.4xlarge": _gib(16, 64),
        "r5.xlarge": _gib(4, 32),
        "r5.2xlarge": _gib(8, 64),
    },
    Cloud.AZURE: {
        "Standard_B2ms": _gib(2, 8),
        "Standard_D2s_v3": _gib(2, 8),
        "Standard_D4s_v3": _gib(4, 16),
        "Standard_D8s_v3": _gib(8, 32),
        "Standard_D16s_v3": _gib(16, 64),
        "Standard_E4s_v3": _gib(4, 32),
        "Standard_E8s_v3": _gib(8, 64),
    },
}

# Platform minimums per role: (vCPUs, MiB). DC/OS's system requirements (docs/reference/dcos-mesos.md 1.5).
PLATFORM_MINIMUMS: dict[Platform, dict[Role, Size]] = {
    Platform.DCOS: {Role.MASTER: _gib(4, 32), Role.AGENT: _gib(2, 16), Role.PUBLIC_AGENT: _gib(2, 16)},
}


def size_of(spec: ClusterSpec, role: Role) -> Size | None:
    size = spec.nodes.pool(role).size
    if spec.cloud is Cloud.LOCAL:
        return Size(0, mib(size))  # 0: containers share the host's CPUs, there is no limit to check
    return KNOWN_SIZES[spec.cloud].get(size)


def check_capacity(spec: ClusterSpec) -> list[str]:
    """Raise ConfigError naming the role, the need and the key to change when a role's size cannot hold
    what runs on it; return notes about sizes that could not be checked (not in KNOWN_SIZES)."""
    problems: list[Problem] = []
    notes: list[str] = []
    for role in (Role.BOOTSTRAP, Role.MASTER, Role.AGENT, Role.PUBLIC_AGENT):
        pool = spec.nodes.pool(role)
        if pool.count == 0:
            continue
        key = f"fastdata:nodes.{role.value}.size"
        size = size_of(spec, role)
        if size is None:
            notes.append(
                f"{key} {pool.size} is not in infra/capacity.py KNOWN_SIZES: its CPU and memory were not "
                "checked against what runs on it"
            )
            continue
        minimum = PLATFORM_MINIMUMS.get(spec.platform, {}).get(role)
        too_small = minimum is not None and (
            size.vcpus < minimum.vcpus or size.memory_mib < minimum.memory_mib
        )
        if minimum is not None and too_small and spec.cloud is not Cloud.LOCAL:
            problems.append(
                Problem(
                    key,
                    f"{pool.size} has {size.vcpus} vCPUs / {_gb(size.memory_mib)}, but a {spec.platform} "
                    f"{role.value} needs at least {minimum.vcpus} vCPUs / {_gb(minimum.memory_mib)}; "
                    "choose a bigger size",
                )
            )
        needs = memory_needs(spec.settings, spec.platform, role)
        total = sum(m for _, m in needs)
        if needs and total > size.memory_mib:
            parts = " + ".join(f"{what} {_gb(m)}" for what, m in needs)
            problems.append(
                Problem(
                    key,
                    f"{pool.size} has {_gb(size.memory_mib)}, but a {role.value} needs {_gb(total)} "
                    f"({parts}); choose a bigger {key} or lower the settings named",
                )
            )
    if problems:
        raise ConfigError(problems)
    return notes
