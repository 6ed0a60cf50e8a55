"""Before `fab deploy` changes anything: does what runs on each node fit the memory the node really has?

The needs are the same as before `pulumi up` (contract/capacity.py); the node's memory is read over SSH
(read-only): the smaller of MemTotal and the cgroup limit, so an LXC container's limit counts, not the
host's memory it would otherwise see.
"""

from __future__ import annotations

from collections.abc import Mapping

from contract import Cluster
from contract.capacity import gb, memory_needs
from roles.errors import ConfigError

# One line each: MemTotal (kB), the cgroup v2 limit, the cgroup v1 limit (bytes or "max").
MEMORY_FACTS = (
    "awk '/^MemTotal:/ {print $2 * 1024}' /proc/meminfo; "
    "cat /sys/fs/cgroup/memory.max 2>/dev/null || echo max; "
    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || echo max"
)


def parse_memory_mib(output: str) -> int | None:
    """The node's usable memory in MiB from MEMORY_FACTS' output, None when it cannot be read."""
    values = [int(v) for v in output.split() if v.isdigit()]
    return min(values) // (1024 * 1024) if values else None


def check(cluster: Cluster, memory_mib: Mapping[str, int | None]) -> list[str]:
    """Raise ConfigError, naming every node whose memory cannot hold what runs on it and the settings to
    change; returns notes for nodes whose memory could not be read."""
    problems: list[str] = []
    notes: list[str] = []
    brokers = {n.name for n in cluster.brokers}
    for node in cluster.nodes:
        needs = memory_needs(cluster.settings, cluster.platform, node.role, broker=node.name in brokers)
        if not needs or node.name not in memory_mib:
            continue
        have = memory_mib[node.name]
        if have is None:
            notes.append(f"{node.name}: its memory could not be read; not checked")
            continue
        total = sum(m for _, m in needs)
        if total > have:
            parts = " + ".join(f"{what} {gb(m)}" for what, m in needs)
            problems.append(
                f"- {node.name} ({node.role}) has {gb(have)} but needs {gb(total)}: {parts}; lower the "
                f"settings named or give the {node.role} nodes more memory (fastdata:nodes.{node.role}.size)"
            )
    if problems:
        raise ConfigError(
            "the workload does not fit the nodes (nothing was changed on any node):\n" + "\n".join(problems)
        )
    return notes
