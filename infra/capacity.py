"""Does the workload fit the machines? Checked before any resource is declared (pure: no cloud SDK).

Known sizes (vCPUs, memory) of the AWS instance types and Azure VM sizes the shipped stacks and the
defaults use, in one table; local containers have a memory limit (their size) and share the host's CPUs.
What each role needs: the platform's documented minimum (DC/OS: masters 4 cores / 32 GB, agents and
public agents 2 cores / 16 GB, dcos-mesos.md 1.5) and the memory of what runs there, from the settings
(contract.Settings): an agent holds a Kafka broker's heap, the Spark worker's executors and daemon, and
the node's own daemons; a master holds the Spark master, the demo's producer and driver, and on Mesos
ZooKeeper and Marathon. A size that is not in the table is reported and skipped, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contract.problems import Problem
from contract.schema import Cloud, Platform, Role
from infra.errors import ConfigError
from infra.spec import ClusterSpec


@dataclass(frozen=True)
class Size:
    vcpus: int
    memory_mib: int


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

# Platform minimums per role: (vCPUs, MiB). DC/OS's system requirements (dcos-mesos.md 1.5).
PLATFORM_MINIMUMS: dict[Platform, dict[Role, Size]] = {
    Platform.DCOS: {Role.MASTER: _gib(4, 32), Role.AGENT: _gib(2, 16), Role.PUBLIC_AGENT: _gib(2, 16)},
}

# Memory the settings do not name, in MiB: the OS, sshd, journald and the HDFS daemon of the node; the
# demo producer (a Python process); the demo's Spark driver (roles/demo.py --driver-memory 768m); ZooKeeper
# and Marathon on Mesos masters (roles/mesos.py ZK_HEAP, MARATHON_HEAP).
NODE_DAEMONS_MIB = 512
DEMO_PRODUCER_MIB = 256
DEMO_DRIVER_MIB = 768
MESOS_MASTER_MIB = 256 + 512

_JVM = re.compile(r"([1-9]\d*)([mMgG])")


def mib(size: str) -> int:
    """512m / 2g (JVM) or 512M / 4G (container limits) in MiB."""
    match = _JVM.fullmatch(size)
    if match is None:
        raise ValueError(f"not a size: {size!r}")
    return int(match.group(1)) * (1024 if match.group(2) in "gG" else 1)


def size_of(spec: ClusterSpec, role: Role) -> Size | None:
    size = spec.nodes.pool(role).size
    if spec.cloud is Cloud.LOCAL:
        return Size(0, mib(size))  # 0: containers share the host's CPUs, there is no limit to check
    return KNOWN_SIZES[spec.cloud].get(size)


def memory_needs(spec: ClusterSpec, role: Role) -> list[tuple[str, int]]:
    """What runs on one node of `role` and its memory in MiB, naming the setting behind each part."""
    s, k = spec.settings.spark, spec.settings.kafka
    parts: list[tuple[str, int]] = []
    if role is Role.AGENT:
        if k.brokers > 0:
            parts.append(("Kafka heap (fastdata:kafka.heap)", mib(k.heap)))
        parts.append(("Spark executors (fastdata:spark.workerMemory)", mib(s.worker_memory)))
        parts.append(("Spark worker daemon (fastdata:spark.workerHeap)", mib(s.worker_heap)))
    elif role is Role.MASTER:
        parts.append(("Spark master (fastdata:spark.masterHeap)", mib(s.master_heap)))
        if spec.settings.demo.enabled:
            parts.append(("demo producer", DEMO_PRODUCER_MIB))
            parts.append(("demo Spark driver", DEMO_DRIVER_MIB))
        if spec.platform is Platform.MESOS:
            parts.append(("ZooKeeper and Marathon", MESOS_MASTER_MIB))
    else:
        return []
    parts.append(("node daemons (OS, HDFS)", NODE_DAEMONS_MIB))
    return parts


def _gb(mib_: int) -> str:
    return f"{mib_ / 1024:.1f} GiB" if mib_ % 1024 else f"{mib_ // 1024} GiB"


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
        needs = memory_needs(spec, role)
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
