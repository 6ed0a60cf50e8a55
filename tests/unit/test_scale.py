"""Scaling with fake nodes: what `fab plan` shows for 3 -> 4 agents and for a drained agent, and `fab drain`
(refusals before any change, the ordered steps, the drained record)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from roles import lifecycle, tasks
from roles.engine.connection import RunResult
from roles.engine.drain import DrainRefused
from roles.engine.executor import OpResult
from roles.packages import kafka_reassign
from roles.platforms.standalone import PLATFORM
from tests.mesos_cluster import inventory_file
from tests.unit.test_engine import inventory_dict
from tests.unit.test_kafka_reassign import THREE_BROKERS

pytestmark = pytest.mark.unit


def _describe(assignment: dict[int, tuple[int, ...]], topic: str = "crimes.raw", isr: str = "2") -> str:
    head = (
        f"Topic: {topic}\tTopicId: x\tPartitionCount: {len(assignment)}\tReplicationFactor: 3\t"
        f"Configs: min.insync.replicas={isr}\n"
    )
    return head + "".join(
        f"\tTopic: {topic}\tPartition: {p}\tLeader: {r[0]}\tReplicas: {','.join(map(str, r))}\t"
        f"Isr: {','.join(map(str, r))}\n"
        for p, r in sorted(assignment.items())
    )


class Node:
    """A fake node: answers by the first fragment of `answers` its command contains; records the rest."""

    def __init__(self, name: str, answers: dict[str, str | list[str]]) -> None:
        self.name = name
        self.answers = answers
        self.commands: list[str] = []
        self.uploads: dict[str, bytes] = {}

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> RunResult:
        self.commands.append(command)
        if "@@fastdata-probe" in command:
            return RunResult(command, 1, "", "")  # no batch: every check runs on its own
        for fragment, answer in self.answers.items():
            if fragment in command:
                text = answer.pop(0) if isinstance(answer, list) and len(answer) > 1 else answer
                return RunResult(command, 0, text[0] if isinstance(text, list) else text, "")
        return RunResult(command, 0, "", "")

    def put(self, data: bytes | Path, path: str, mode: int = 0o644, owner: str = "root") -> None:
        self.uploads[path] = data if isinstance(data, bytes) else Path(data).read_bytes()

    def close(self) -> None:
        pass


def _stack(tmp_path: Path, agents: int, brokers: int) -> str:
    data = inventory_dict(agents)
    data["settings"] = {
        "demo": {"enabled": True},
        "kafka": {"brokers": brokers, "replicationFactor": 3},
        "artifacts": {"cacheDir": str(tmp_path / "cache")},
    }
    return str(inventory_file(tmp_path, data))


def _fake_cluster(
    monkeypatch: pytest.MonkeyPatch, names: list[str], answers: dict[str, dict[str, Any]]
) -> dict[str, Node]:
    nodes = {n: Node(n, answers.get(n, {})) for n in names}

    @contextmanager
    def connected(inventory: Any, progress: Any) -> Iterator[tuple[dict[str, Node], list[OpResult]]]:
        yield nodes, [OpResult(n, "ssh", f"SSH reachable: {n}", "ok", "connected") for n in nodes]

    monkeypatch.setattr(tasks, "connected", connected)
    monkeypatch.setattr(tasks, "check_capacity", lambda inventory, remotes: [])
    return nodes


NAMES = ["master-0", "agent-0", "agent-1", "agent-2", "agent-3", "public-agent-0"]
API_VERSIONS = "".join(f"10.98.0.{20 + i}:9092 (id: {i + 1} rack: null) -> (\n" for i in range(3))
MASTER_JSON = (
    '{"status": "ALIVE", "workers": ['
    + ",".join(f'{{"host": "10.98.0.{20 + i}", "state": "ALIVE"}}' for i in range(3))
    + "]}"
)


def test_plan_3_to_4_agents_lists_the_joining_node_and_the_partition_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent-3 was just created by `pulumi up`: Kafka knows brokers 1-3, the Spark master three workers."""
    kafka_node = {"BrokerApiVersionsCommand": API_VERSIONS, "--describe --topic crimes.raw": THREE_BROKERS}
    nodes = _fake_cluster(monkeypatch, NAMES, {"agent-0": kafka_node, "master-0": {"/json": MASTER_JSON}})
    out = io.StringIO()
    tasks.deploy(None, _stack(tmp_path, 4, 4), dry_run=True, out=out)
    text = out.getvalue()
    assert "agent-3 joins as Kafka broker 4; the demo topic is then spread onto it" in text
    assert "agent-3 joins as a Spark worker" in text
    balance = next(ln for ln in text.splitlines() if "topic crimes.raw spread over brokers 1,2,3,4" in ln)
    assert "would change" in balance
    assert re.search(r"4 replica\(s\) to move in \d partition\(s\)", balance), balance
    assert "crimes.raw-" in balance and "-> [" in balance
    # a dry run: nothing but reads
    for n in nodes.values():
        assert not n.uploads
        assert not [c for c in n.commands if "--execute" in c or "systemctl start" in c]


def test_plan_with_a_drained_agent_lists_it_leaving_and_plans_nothing_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent-3 (broker 4) was drained: plan says it leaves, puts no op on it, and the topic stays on 1-3."""
    api = API_VERSIONS + "10.98.0.23:9092 (id: 4 rack: null) -> (\n"
    kafka_node = {"BrokerApiVersionsCommand": api, "--describe --topic crimes.raw": THREE_BROKERS}
    marker = lifecycle.marker_text(inventory_node("agent-3"), ["moved"], 0)
    nodes = _fake_cluster(
        monkeypatch, NAMES, {"agent-0": kafka_node, "agent-3": {lifecycle.DRAINED_MARKER: marker}}
    )
    out = io.StringIO()
    tasks.deploy(None, _stack(tmp_path, 4, 4), dry_run=True, out=out)
    text = out.getvalue()
    assert "agent-3 is drained and leaves: no ops run on it; lower fastdata:nodes.agent.count" in text
    assert "joins" not in text
    assert not re.search(r"\[agent-3\s*\]", text), "no op results on the drained node"
    assert "topic crimes.raw balanced: brokers 1,2,3 hold 6,6,6 replicas and lead 2,2,2" in text
    assert [c for c in nodes["agent-3"].commands if "kafka" in c] == []


def inventory_node(name: str) -> Any:
    from contract import Cluster

    return Cluster.from_json(inventory_dict(4)).node(name)


# --- fab drain --------------------------------------------------------------------------------------------


def test_drain_is_refused_naming_the_topic_and_the_numbers_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3 brokers, RF 3: without agent-2 two brokers remain, fewer than the replication factor."""
    monkeypatch.setattr(kafka_reassign, "controller_ids", lambda inventory: set())
    nodes = _fake_cluster(monkeypatch, NAMES[:4] + NAMES[5:], {"agent-0": {"--describe": THREE_BROKERS}})
    with pytest.raises(DrainRefused) as err:
        tasks.drain(None, _stack(tmp_path, 3, 3), "agent-2", out=io.StringIO())
    assert str(err.value).startswith(
        "cannot drain agent-2; nothing was changed:\n- topic crimes.raw has replication factor 3 but only 2 "
        "broker(s) would remain without agent-2 (1, 2)\n"
    )
    assert "HDFS keeps 3 replicas of every block" in str(err.value)  # every reason at once
    for n in nodes.values():
        assert not n.uploads and not [c for c in n.commands if "--execute" in c or "systemctl" in c]


def test_drain_of_a_controller_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first three brokers are the KRaft controllers: draining one is refused with the reason."""
    _fake_cluster(monkeypatch, NAMES, {"agent-0": {"--describe": THREE_BROKERS}})
    with pytest.raises(
        DrainRefused, match=r"agent-2 runs KRaft controller 3 \(voters 1@.*Change the controller"
    ):
        tasks.drain(None, _stack(tmp_path, 4, 4), "agent-2", out=io.StringIO())


def test_drain_moves_replicas_waits_in_sync_stops_the_worker_then_marks_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka_reassign, "controller_ids", lambda inventory: {1, 2, 3})
    on_four = kafka_reassign.balanced_assignment(
        kafka_reassign.parse_describe(THREE_BROKERS)["crimes.raw"].assignment, [1, 2, 3, 4]
    )
    after = kafka_reassign.balanced_assignment(on_four, [1, 2, 3])
    broker = {
        # refusal check, plan, then the check after the move
        "--describe": [_describe(on_four), _describe(on_four), _describe(after)],
        "--verify": "Reassignment of partition crimes.raw-0 is completed.\n",
    }
    decommissioned = json.dumps(
        {
            "beans": [
                {
                    "Safemode": "",
                    "LiveNodes": json.dumps(
                        {"10.98.0.23:9866": {"xferaddr": "10.98.0.23:9866", "adminState": "Decommissioned"}}
                    ),
                }
            ]
        }
    )
    nodes = _fake_cluster(
        monkeypatch,
        NAMES,
        {
            "agent-0": broker,
            "agent-3": {"is-active": "inactive"},
            "master-0": {"NameNodeInfo": decommissioned},
        },
    )
    out = io.StringIO()
    summaries = tasks.drain(None, _stack(tmp_path, 4, 4), "agent-3", out=out)
    assert (
        summaries[0].startswith("broker 4 holds no replica: ")
        and "to brokers 1,2,3, all in sync" in summaries[0]
    )
    assert summaries[1:] == [
        "Kafka broker on agent-3 stopped and disabled (inactive)",
        "HDFS DataNode on agent-3 decommissioned and stopped",
        "Spark worker on agent-3 stopped and disabled (inactive)",
    ]
    assert any("10.98.0.23:9866" in c and "dfs.exclude" in c for c in nodes["master-0"].commands)
    cmds = nodes["agent-0"].commands
    execute = next(i for i, c in enumerate(cmds) if "--execute" in c)
    assert "--throttle" in cmds[execute] and any("--verify" in c for c in cmds[execute:])
    on_node = nodes["agent-3"].commands
    assert on_node.index("systemctl disable --now kafka.service") < on_node.index(
        "systemctl disable --now spark-worker.service"
    )
    marker = nodes["agent-3"].uploads[lifecycle.DRAINED_MARKER].decode()
    assert lifecycle.is_drained(inventory_node("agent-3"), marker)
    assert not lifecycle.is_drained(inventory_node("agent-2"), marker)
    text = out.getvalue()
    assert text.index("drain 1/4: Kafka replicas moved off the broker") < text.index(
        "drain 4/4: Spark worker"
    )
    assert "lower fastdata:nodes.agent.count and run `pulumi up`" in text


def test_the_drain_steps_are_an_ordered_list_others_extend() -> None:
    assert [s.name for s in PLATFORM.drain] == [
        "Kafka replicas moved off the broker",
        "Kafka broker stopped",
        "decommission the HDFS DataNode",
        "Spark worker stopped",
    ]


def test_scale_notes_for_a_removed_node() -> None:
    from contract import Cluster

    cluster = Cluster.from_json(inventory_dict(3))
    notes = lifecycle.scale_notes(cluster, frozenset(), {1, 2, 3, 4}, None)
    assert notes == ["Kafka broker 4 is registered but no agent of the inventory runs it (a removed node?)"]


def test_gates_expect_the_nodes_that_stay() -> None:
    from contract import Cluster

    cluster = Cluster.from_json({**inventory_dict(4), "settings": {"kafka": {"brokers": 4}}})
    stays = lifecycle.staying(cluster, frozenset({"agent-3"}))
    assert [n.name for n in stays.brokers] == ["agent-0", "agent-1", "agent-2"]
    assert [n.index for n in stays.agents] == [0, 1, 2]
    assert lifecycle.staying(cluster, frozenset()) is cluster
