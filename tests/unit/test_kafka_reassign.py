"""Reassignment logic with fake tool output: parsing, balanced targets, minimal moves, the balance op."""

from __future__ import annotations

import dataclasses
import json
from itertools import combinations

import pytest

from roles.engine.connection import RunResult
from roles.errors import OperationError
from roles.packages import kafka_reassign as kr
from tests.unit.test_engine import FakeHost, spec_for

pytestmark = pytest.mark.unit

# TopicCommand --describe of Kafka 3.9 (tab separated; Elr fields are 3.9's).
THREE_BROKERS = (
    "Topic: crimes.raw\tTopicId: 9bQy2oCnR3yBvE_vDZh1rA\tPartitionCount: 6\tReplicationFactor: 3\t"
    "Configs: min.insync.replicas=2,segment.bytes=1073741824\n"
    + "".join(
        f"\tTopic: crimes.raw\tPartition: {p}\tLeader: {r[0]}\tReplicas: {','.join(map(str, r))}\t"
        f"Isr: {','.join(map(str, r))}\tElr: \tLastKnownElr: \n"
        for p, r in enumerate([(1, 2, 3), (2, 3, 1), (3, 1, 2), (1, 3, 2), (2, 1, 3), (3, 2, 1)])
    )
)
MOVING = (
    "Topic: t\tTopicId: x\tPartitionCount: 1\tReplicationFactor: 3\tConfigs: \n"
    "\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 4,1,2,3\tIsr: 1,2,3\t"
    "Adding Replicas: 4\tRemoving Replicas: 3\tElr: \tLastKnownElr: \n"
)


def test_parse_describe_reads_heads_partitions_and_reassignments() -> None:
    topics = kr.parse_describe(THREE_BROKERS + MOVING)
    raw = topics["crimes.raw"]
    assert raw.replication_factor == 3 and raw.min_insync_replicas == 2
    assert raw.assignment[1] == (2, 3, 1) and raw.partitions[1].leader == 2
    assert all(p.in_sync for p in raw.partitions)
    moving = topics["t"].partitions[0]
    assert moving.adding == (4,) and moving.removing == (3,) and not moving.in_sync
    assert topics["t"].min_insync_replicas is None


def test_parse_describe_offline_leader() -> None:
    text = (
        "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n"
        "\tTopic: t\tPartition: 0\tLeader: none\tReplicas: 3\tIsr: \n"
    )
    p = kr.parse_describe(text)["t"].partitions[0]
    assert p.leader is None and p.isr == () and not p.in_sync


def _check_balanced(a: kr.Assignment, brokers: list[int]) -> None:
    reps = kr.replica_counts(a, brokers)
    leads = kr.leader_counts(a, brokers)
    assert set(reps) == set(brokers), f"replicas outside the brokers: {reps}"
    assert max(reps.values()) - min(reps.values()) <= 1, reps
    assert max(leads.values()) - min(leads.values()) <= 1, leads
    for r in a.values():
        assert len(set(r)) == len(r)


def test_scale_out_3_to_4_moves_few_replicas_and_gives_broker_4_a_leader() -> None:
    current = kr.parse_describe(THREE_BROKERS)["crimes.raw"].assignment
    target = kr.balanced_assignment(current, [1, 2, 3, 4])
    _check_balanced(target, [1, 2, 3, 4])
    assert kr.leader_counts(target, [1, 2, 3, 4])[4] >= 1
    assert kr.replica_counts(target, [1, 2, 3, 4])[4] >= 4
    todo = kr.moves("crimes.raw", current, target)
    # 18 replicas over 4 brokers: broker 4 takes 4 of them, nothing else moves
    assert sum(len(set(m.after) - set(m.before)) for m in todo) == 4
    assert all(len(r) == 3 for r in target.values())


def test_a_balanced_topic_plans_nothing() -> None:
    current = kr.parse_describe(THREE_BROKERS)["crimes.raw"].assignment
    assert kr.balanced_assignment(current, [1, 2, 3]) == current
    once = kr.balanced_assignment(current, [1, 2, 3, 4])
    assert kr.balanced_assignment(once, [1, 2, 3, 4]) == once


@pytest.mark.parametrize("brokers", [[1, 2, 3, 4], [1, 2, 3, 4, 5], [2, 3, 4], [1, 2, 4, 5, 6, 7]])
@pytest.mark.parametrize("partitions,rf", [(6, 3), (12, 2), (1, 1), (50, 3), (7, 3)])
def test_balanced_from_any_start(brokers: list[int], partitions: int, rf: int) -> None:
    start = {
        p: tuple(c) for p, c in zip(range(partitions), list(combinations([1, 2, 3], rf)) * 50, strict=False)
    }
    target = kr.balanced_assignment(start, brokers)
    _check_balanced(target, brokers)
    assert all(len(target[p]) == len(start[p]) for p in start)
    # as few moves as the spread allows: every replica off a removed broker, and from each broker only
    # what it holds above the largest share (ceil(replicas / brokers))
    before = kr.replica_counts(start, brokers)
    share = -(-partitions * rf // len(brokers))
    bound = sum(n if b not in brokers else max(0, n - share) for b, n in before.items())
    moved = sum(len(set(target[p]) - set(start[p])) for p in start)
    assert bound <= moved <= bound + len(brokers)


def test_drain_moves_only_what_was_on_the_drained_broker() -> None:
    start = kr.balanced_assignment(kr.parse_describe(THREE_BROKERS)["crimes.raw"].assignment, [1, 2, 3, 4])
    target = kr.balanced_assignment(start, [1, 2, 3])
    _check_balanced(target, [1, 2, 3])
    todo = kr.moves("crimes.raw", start, target)
    on_4 = sum(1 for r in start.values() if 4 in r)
    assert sum(len(set(m.after) - set(m.before)) for m in todo) == on_4


def test_too_few_brokers_for_the_replication_factor() -> None:
    with pytest.raises(kr.CannotPlace, match="3 replicas but only 2 brokers"):
        kr.balanced_assignment({0: (1, 2, 3)}, [1, 2])


def test_drain_refusal_names_topic_and_numbers() -> None:
    topics = kr.parse_describe(THREE_BROKERS)
    assert kr.drain_refusals(topics, [1, 2], "agent-2") == [
        "topic crimes.raw has replication factor 3 but only 2 broker(s) would remain without agent-2 (1, 2)"
    ]
    assert kr.drain_refusals(topics, [1, 2, 4], "agent-2") == []
    isr = dataclasses.replace(
        topics["crimes.raw"], replication_factor=1, configs={"min.insync.replicas": "3"}
    )
    isr = dataclasses.replace(isr, partitions=(kr.PartitionState(0, 1, (1,), (1,)),))
    assert "min.insync.replicas 3 but only 2 broker(s)" in kr.drain_refusals({"x": isr}, [1, 2], "agent-2")[0]


def test_moves_summary_and_plan_files() -> None:
    todo = [kr.Move("t", 0, (1, 2, 3), (4, 2, 3)), kr.Move("t", 1, (2, 4, 1), (4, 2, 1))]
    assert kr.summarize(todo) == (
        "1 replica(s) to move in 1 partition(s), 1 preferred-leader change(s): "
        "t-0 [1,2,3] -> [4,2,3]; t-1 [2,4,1] -> [4,2,1]"
    )
    plan = json.loads(kr.reassignment_json(todo))
    assert plan == {
        "version": 1,
        "partitions": [
            {"topic": "t", "partition": 0, "replicas": [4, 2, 3]},
            {"topic": "t", "partition": 1, "replicas": [4, 2, 1]},
        ],
    }
    assert json.loads(kr.reassignment_json(todo, after=False))["partitions"][0]["replicas"] == [1, 2, 3]


def test_parse_verify() -> None:
    done = kr.parse_verify(
        "Status of partition reassignment:\nReassignment of partition t-0 is completed.\n"
        "Reassignment of partition t-1 is completed.\n\nClearing broker-level throttles on brokers 1,2,3,4\n"
        "Clearing topic-level throttles on topic t\n"
    )
    assert done.done and done.completed == ("t-0", "t-1")
    busy = kr.parse_verify(
        "Reassignment of partition t-0 is completed.\nReassignment of partition t-1 is still in progress.\n"
    )
    assert not busy.done and busy.in_progress == ("t-1",)
    lost = kr.parse_verify(
        "There is no active reassignment of partition t-0, but replica set is [1] rather than [2].\n"
    )
    assert not lost.done and lost.other


# --- the balance op, with fake tool output ---------------------------------------------------------------


def _spec(agents: int = 4, drained: frozenset[str] = frozenset()):
    data_spec, inv = spec_for(agents)
    inv = dataclasses.replace(
        inv,
        settings=dataclasses.replace(
            inv.settings, kafka=dataclasses.replace(inv.settings.kafka, brokers=agents)
        ),
    )
    spec = dataclasses.replace(data_spec, settings=inv.settings, drained=drained)
    return spec, inv


def test_balance_op_plans_the_moves_onto_a_new_broker() -> None:
    spec, inv = _spec(4)
    op = kr.balance_op(spec, inv, inv.brokers[0], "crimes.raw")
    assert op.judge is not None and op.probe is not None
    state = op.judge(RunResult(op.probe, 0, THREE_BROKERS, ""))
    assert not state.ok
    assert state.detail.startswith("4 replica(s) to move") and "onto brokers 1,2,3,4" in state.detail
    assert "--describe --topic crimes.raw" in op.probe


def test_balance_op_is_ok_when_spread_and_skips_drained_brokers() -> None:
    spec, inv = _spec(4, drained=frozenset({"agent-3"}))
    op = kr.balance_op(spec, inv, inv.brokers[0], "crimes.raw")
    assert op.judge is not None
    state = op.judge(RunResult("", 0, THREE_BROKERS, ""))
    assert state.ok, state.detail
    assert state.detail == "topic crimes.raw balanced: brokers 1,2,3 hold 6,6,6 replicas and lead 2,2,2"


def test_balance_op_missing_topic_and_busy_reassignment() -> None:
    spec, inv = _spec(4)
    op = kr.balance_op(spec, inv, inv.brokers[0], "t")
    assert op.judge is not None
    assert "missing" in op.judge(RunResult("", 0, "", "")).detail
    assert "reassignment is in progress (partitions [0])" in op.judge(RunResult("", 0, MOVING, "")).detail


def test_reassign_executes_with_throttle_verifies_until_complete_then_elects() -> None:
    spec, inv = _spec(4)
    verifies = iter(
        [
            "Reassignment of partition t-0 is still in progress.\n",
            "Reassignment of partition t-0 is completed.\n"
            "Clearing broker-level throttles on brokers 1,2,3,4\n",
        ]
    )

    def handler(cmd: str) -> RunResult | None:
        if "--verify" in cmd:
            return RunResult(cmd, 0, next(verifies), "")
        return None

    host = FakeHost("agent-0", handler=handler)
    host.node = inv.brokers[0]
    slept: list[float] = []
    kr.reassign(host, spec, inv, [kr.Move("t", 0, (1, 2, 3), (4, 2, 3))], "balance-t", sleep=slept.append)
    execute = [c for c in host.commands if "--execute" in c]
    assert len(execute) == 1 and f"--throttle {kr.THROTTLE_BYTES_PER_SECOND}" in execute[0]
    assert sum("--verify" in c for c in host.commands) == 2 and slept == [kr.VERIFY_INTERVAL]
    assert "LeaderElectionCommand" in host.commands[-1] and "--election-type PREFERRED" in host.commands[-1]
    assert [u[0] for u in host.uploads] == [
        f"{kr.WORK_DIR}/balance-t.json",
        f"{kr.WORK_DIR}/balance-t.rollback.json",
        f"{kr.WORK_DIR}/balance-t.elect.json",
    ]


def test_reassign_times_out_with_what_to_do() -> None:
    spec, inv = _spec(4)
    host = FakeHost(
        "agent-0",
        handler=lambda c: RunResult(c, 0, "Reassignment of partition t-0 is still in progress.\n", "")
        if "--verify" in c
        else None,
    )
    host.node = inv.brokers[0]
    with pytest.raises(OperationError, match=r"still moving: t-0.*--cancel.*rollback"):
        kr.reassign(host, spec, inv, [kr.Move("t", 0, (1,), (4,))], "x", timeout=0, sleep=lambda s: None)
