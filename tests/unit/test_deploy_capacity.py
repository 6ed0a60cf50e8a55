"""At deploy, before anything changes: each node's real memory against what will run on it."""

from __future__ import annotations

import pytest

from contract import Cluster
from roles import tasks
from roles.engine import capacity
from roles.engine.connection import RunResult
from roles.errors import ConfigError
from tests.unit.test_contract_inventory import cluster_json

pytestmark = pytest.mark.unit

GIB = 1024**3


class ReadOnlyNode:
    """A node that answers the memory facts and records every command it is asked to run."""

    def __init__(self, mem_total: int, cgroup: str) -> None:
        self.answer = f"{mem_total}\n{cgroup}\nmax\n"
        self.commands: list[str] = []

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> RunResult:
        self.commands.append(command)
        return RunResult(command, 0, self.answer, "")


def test_memory_is_the_smaller_of_memtotal_and_the_cgroup_limit() -> None:
    assert capacity.parse_memory_mib(f"{24 * GIB}\n{4 * GIB}\nmax\n") == 4096
    assert capacity.parse_memory_mib(f"{8 * GIB}\nmax\nmax\n") == 8192
    assert capacity.parse_memory_mib("garbage") is None


def test_a_node_too_small_for_kafka_and_the_executors_is_refused_before_any_change() -> None:
    cluster = Cluster.from_json(cluster_json(settings={"spark": {"workerMemory": "3g"}}))
    nodes = {n.name: ReadOnlyNode(24 * GIB, str(4 * GIB)) for n in cluster.nodes}
    with pytest.raises(ConfigError) as err:
        tasks.check_capacity(cluster, nodes)  # type: ignore[arg-type]
    text = str(err.value)
    assert "agent-0 (agent) has 4 GiB but needs" in text and "fastdata:spark.workerMemory" in text
    assert "fastdata:kafka.heap" in text and "nothing was changed" in text
    assert all(r.commands == [capacity.MEMORY_FACTS] for r in nodes.values()), "only the read-only facts"


def test_the_default_local_sizes_fit() -> None:
    cluster = Cluster.from_json(cluster_json())
    sizes = {"master": 3 * GIB, "agent": 4 * GIB, "publicAgent": 2 * GIB}
    nodes = {n.name: ReadOnlyNode(24 * GIB, str(sizes[n.role])) for n in cluster.nodes}
    assert tasks.check_capacity(cluster, nodes) == []  # type: ignore[arg-type]


def test_an_agent_without_a_broker_does_not_need_the_kafka_heap() -> None:
    """4 agents, kafka.brokers 3: agent-3 runs only Spark, so 3.25 GiB fits it where the brokers need
    3.75 GiB."""
    cluster = Cluster.from_json(cluster_json(agents=4, settings={"kafka": {"brokers": 3}}))
    limit = str(int(3.25 * GIB))
    nodes = {
        n.name: ReadOnlyNode(24 * GIB, limit if n.name == "agent-3" else str(4 * GIB)) for n in cluster.nodes
    }
    assert tasks.check_capacity(cluster, nodes) == []  # type: ignore[arg-type]
