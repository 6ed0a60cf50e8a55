"""What runs on a node of each role needs, from the settings: checked against the known machine sizes
before `pulumi up` declares anything (infra/capacity.py) and against the nodes' real memory before
`fab deploy` changes anything (roles/engine/capacity.py). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.schema import Platform, Role
from contract.settings import Settings, mib


@dataclass(frozen=True)
class Size:
    vcpus: int
    memory_mib: int


# Memory the settings do not name, in MiB: the OS, sshd and journald of the node; the
# demo producer (a Python process); ZooKeeper and Marathon on Mesos masters (roles/packages/zookeeper.py
# HEAP, roles/platforms/mesos.py MARATHON_HEAP).
NODE_DAEMONS_MIB = 512
DEMO_PRODUCER_MIB = 256
MESOS_MASTER_MIB = 256 + 512


def memory_needs(
    settings: Settings, platform: Platform, role: Role, broker: bool = True
) -> list[tuple[str, int]]:
    """What runs on one node of `role` and its memory in MiB, naming the setting behind each part.
    `broker`: whether this agent runs a Kafka broker (the first kafka.brokers agents do; before the
    machines exist any agent may, so the check before `pulumi up` assumes it does)."""
    s, k = settings.spark, settings.kafka
    parts: list[tuple[str, int]] = []
    if role is Role.AGENT:
        if broker and k.brokers > 0:
            parts.append(("Kafka heap (fastdata:kafka.heap)", mib(k.heap)))
        parts.append(("Spark executors (fastdata:spark.workerMemory)", mib(s.worker_memory)))
        parts.append(("Spark worker daemon (fastdata:spark.workerHeap)", mib(s.worker_heap)))
        if platform is not Platform.DCOS:  # DC/OS runs HDFS as its package, sized by the package
            parts.append(("HDFS DataNode (fastdata:hdfs.datanodeHeap)", mib(settings.hdfs.datanode_heap)))
        if settings.demo.enabled and platform is not Platform.STANDALONE:
            # the dispatcher may (re)launch the processor's driver on any agent (--supervise)
            parts.append(("demo Spark driver (fastdata:spark.driverMemory)", mib(s.driver_memory)))
    elif role is Role.MASTER:
        parts.append(("Spark master (fastdata:spark.masterHeap)", mib(s.master_heap)))
        if platform is not Platform.DCOS:
            parts.append(("HDFS NameNode (fastdata:hdfs.namenodeHeap)", mib(settings.hdfs.namenode_heap)))
        if settings.demo.enabled and platform is Platform.STANDALONE:
            # client mode: the processor's driver beside the producer (mesos and dcos run both on agents)
            parts.append(("demo producer", DEMO_PRODUCER_MIB))
            parts.append(("demo Spark driver (fastdata:spark.driverMemory)", mib(s.driver_memory)))
        if platform is Platform.MESOS:
            parts.append(("ZooKeeper and Marathon", MESOS_MASTER_MIB))
    else:
        return []
    parts.append(("node daemons (OS, sshd, journald)", NODE_DAEMONS_MIB))
    return parts


def gb(mib_: int) -> str:
    """MiB as GiB for messages: 3 GiB, 2.5 GiB."""
    return f"{mib_ / 1024:.1f} GiB" if mib_ % 1024 else f"{mib_ // 1024} GiB"
