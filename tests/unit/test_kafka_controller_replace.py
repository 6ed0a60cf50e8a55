"""A controller re-created with an empty disk (issue 12): how storage_op decides the format flags from what
the other controllers answer, and how voter_op judges and restores the quorum's membership - fed the
output real Kafka 4.4.0 printed (captured from the integration test's brokers), no JVM."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract import Cluster, Node
from roles.engine.connection import RunResult
from roles.engine.executor import batch_probe_script, plan_phases
from roles.errors import OperationError
from roles.packages import kafka
from roles.platforms import mesos
from roles.platforms.standalone import PLATFORM
from tests.mesos_cluster import mesos_spec
from tests.unit.test_engine import FakeHost
from tests.unit.test_kafka_upgrade import spec_with

pytestmark = pytest.mark.unit

D1, D2, D3 = "1cGOLZCVU4C5VUfasKhdiA", "AR8fryUNUti71H-yAxKmNA", "nUXPf4RnXrOzyO6RvnaLZw"
NEW = "RL5wAwatT2CqqleDi06-pQ"


def status(voters: list[tuple[int, str]], leader: int = 1, observers: str = "[]") -> str:
    """`kafka-metadata-quorum describe --status` as 4.4.0 prints it."""
    items = ", ".join(
        f'{{"id": {i}, "directoryId": "{d}", "endpoints": ["CONTROLLER://10.98.0.{19 + i}:9093"]}}'
        for i, d in voters
    )
    return (
        "ClusterId:              KOgixKzWXdiUcw8oLcFwvg\n"
        f"LeaderId:               {leader}\nLeaderEpoch:            1\nHighWatermark:          319\n"
        "MaxFollowerLag:         223\nMaxFollowerLagTimeMs:   105350\n"
        f"CurrentVoters:          [{items}]\nCurrentObservers:       {observers}\n"
    )


# describe --replication on 4.4.0 with node 3 re-formatted and running as an observer, caught up
REPLICATION = (
    "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\t"
    "Status  \t\n"
    f"1     \t{D1}\t330         \t0  \t1796153195809     \t1796153195809        \tLeader  \t\n"
    f"2     \t{D2}\t330         \t0  \t1796153195789     \t1796153195789        \tFollower\t\n"
    f"3     \t{D3}\t96          \t234\t1796153085559     \t1796153085079        \tFollower\t\n"
    f"3     \t{NEW}\t330         \t0  \t1796153195789     \t1796153195789        \tObserver\t\n"
)
# no leader: what the tool prints when the controllers listen but cannot answer
NO_LEADER = (
    "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment. "
    "Call: describeMetadataQuorum\n"
)


def facts(listening: tuple[str, ...], text: str = "") -> kafka.QuorumFacts:
    return kafka.QuorumFacts(listening, text)


def probe_output(listening: tuple[str, ...], text: str) -> str:
    return "".join(f"listening={ip}\n" for ip in listening) + f"{kafka.QUORUM_MARK}\n{text}"


def cluster() -> tuple[kafka.DeploySpec, Cluster, Node]:
    spec, inv = spec_with("4.4.0")
    return spec, inv, inv.agents[2]  # node id 3


# --- parsing ---------------------------------------------------------------------------------------------


def test_parse_voters_and_leader_from_describe_status() -> None:
    text = status([(1, D1), (2, D2), (3, D3)], observers=f'[{{"id": 3, "directoryId": "{NEW}"}}]')
    assert kafka.parse_voters(text) == [kafka.Voter(1, D1), kafka.Voter(2, D2), kafka.Voter(3, D3)]
    assert facts((), text).leader == 1
    assert kafka.parse_voters("CurrentVoters:          [1, 2, 3]\n") == [
        kafka.Voter(1, None),
        kafka.Voter(2, None),
        kafka.Voter(3, None),
    ]
    assert kafka.parse_voters(NO_LEADER) is None
    assert kafka.parse_voters("") is None and facts((), "").leader is None


def test_parse_replication_rows() -> None:
    rows = kafka.parse_replication(REPLICATION)
    assert [(r.node_id, r.directory_id, r.lag, r.status) for r in rows] == [
        (1, D1, 0, "Leader"),
        (2, D2, 0, "Follower"),
        (3, D3, 234, "Follower"),
        (3, NEW, 0, "Observer"),
    ]
    assert kafka.parse_replication(NO_LEADER) == []


def test_parse_probe_sections() -> None:
    f = kafka.parse_quorum_facts(probe_output(("10.98.0.20",), status([(1, D1)])))
    assert f.listening == ("10.98.0.20",) and f.voters == [kafka.Voter(1, D1)]
    meta, rest = kafka.parse_voter_probe(f"node.id=3\ndirectory.id={NEW}\n{kafka.META_MARK}\n")
    assert "directory.id" in meta and rest == kafka.QuorumFacts((), "")


# --- the format decision --------------------------------------------------------------------------------


def test_format_decision() -> None:
    """A quorum that answers: re-join. Nobody listening: a new cluster (or a first deploy stopped before
    any controller started). Listening without a leader: not decided."""
    assert kafka.format_decision(facts(("10.98.0.20",), status([(1, D1), (2, D2), (3, D3)]))) == "join"
    assert kafka.format_decision(facts(())) == "initial"
    assert kafka.format_decision(facts(("10.98.0.20",), NO_LEADER)) == "unknown"
    assert kafka.format_decision(facts(("10.98.0.20",), "")) == "unknown"  # no tools on the node yet


def test_format_flags_of_a_joining_controller() -> None:
    spec, inv, node = cluster()
    assert kafka.format_flags(spec, inv, node, joining=True) == " --no-initial-controllers"
    assert kafka.format_flags(spec, inv, node).startswith(" --initial-controllers 1@10.98.0.20:9093:")
    assert kafka.rejoins_by_format(spec, inv, node)
    static, sinv = spec_with("4.4.0", quorum="static")
    assert kafka.format_flags(static, sinv, sinv.agents[2], joining=True) == ""
    assert not kafka.rejoins_by_format(static, sinv, sinv.agents[2])
    one, oinv = spec_with("4.4.0", agents=1, replicationFactor=1)
    assert not kafka.rejoins_by_format(one, oinv, oinv.agents[0]), "a single controller has no quorum"
    four, finv = spec_with("4.4.0", agents=4, brokers=4)
    assert not kafka.rejoins_by_format(four, finv, finv.agents[3]), "a broker only"


def storage_host(node: Node, answer: str) -> FakeHost:
    """An unformatted node whose quorum probe prints `answer`."""

    def handler(cmd: str) -> RunResult | None:
        if kafka.QUORUM_MARK in cmd:
            return RunResult(cmd, 0, answer, "")
        return None

    return FakeHost(node.name, handler=handler)


def format_command(host: FakeHost) -> str:
    return next(c for c in host.commands if "StorageTool format" in c)


def test_storage_op_formats_a_rejoining_controller_with_a_new_directory_id() -> None:
    spec, inv, node = cluster()
    op = kafka.storage_op(spec, inv, node)
    host = storage_host(node, probe_output(("10.98.0.20", "10.98.0.21"), status([(1, D1), (2, D2), (3, D3)])))
    op.apply(host)
    assert format_command(host).endswith(" --no-initial-controllers")
    probe = next(c for c in host.commands if kafka.QUORUM_MARK in c)
    assert "--bootstrap-controller 10.98.0.20:9093,10.98.0.21:9093 describe --status" in probe
    assert "10.98.0.22" not in probe, "asks the other controllers only"

    fresh = storage_host(node, probe_output((), ""))  # a new cluster: nobody listens
    kafka.storage_op(spec, inv, node).apply(fresh)
    assert format_command(fresh).endswith(f" --initial-controllers {kafka.initial_controllers(inv)}")


def test_storage_op_refuses_when_controllers_listen_without_a_leader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka, "QUORUM_WAIT", 0.0)
    spec, inv, node = cluster()
    host = storage_host(node, probe_output(("10.98.0.20",), NO_LEADER))
    with pytest.raises(
        OperationError,
        match=r"agent-2: its storage is not formatted and the controllers at 10\.98\.0\.20 accept "
        r"connections, but no quorum leader answered",
    ) as err:
        kafka.storage_op(spec, inv, node).apply(host)
    assert "Nothing was formatted" in str(err.value) and "--initial-controllers 1@" in str(err.value)
    assert not [c for c in host.commands if "StorageTool format" in c]


def test_storage_op_plan_says_how_it_will_format() -> None:
    spec, inv, node = cluster()
    op = kafka.storage_op(spec, inv, node)
    assert op.judge is not None and op.probe is not None
    listening = op.judge(RunResult("", 0, f"{kafka.LISTEN_MARK}\nlistening=10.98.0.20\n", ""))
    assert not listening.ok and "while the controllers at 10.98.0.20 run: formatted with --no-initial" in (
        listening.detail
    )
    nobody = op.judge(RunResult("", 0, f"{kafka.LISTEN_MARK}\n", ""))
    assert "no other controller runs: formatted with --initial-controllers" in nobody.detail
    cid = kafka.cluster_id(inv)
    assert op.judge(RunResult("", 0, f"cluster.id={cid}\nnode.id=3\ndirectory.id={NEW}\n", "")).ok
    assert "java" not in op.probe, "the plan-time probe starts no JVM"


# --- membership -------------------------------------------------------------------------------------------


def test_membership_of_an_initial_controller_needs_no_jvm() -> None:
    spec, inv, node = cluster()
    initial = kafka.directory_id(inv, node)
    op = kafka.voter_op(spec, inv, node)
    assert op.probe is not None and f"grep -qx 'directory.id={initial}'" in op.probe
    assert batch_probe_script([op.probe])  # batchable: one shell command
    assert op.judge is not None
    state = op.judge(RunResult("", 0, f"node.id=3\ndirectory.id={initial}\n{kafka.META_MARK}\n", ""))
    assert state.ok and f"an initial voter (directory id {initial}" in state.detail


def test_membership_says_what_plan_will_do() -> None:
    """`fab plan` on the re-created node: before the format (with or without Kafka tools on it yet), after
    the format (an observer), half way (old voter removed), done."""
    spec, inv, node = cluster()
    three = status([(1, D1), (2, D2), (3, D3)])
    others = ("10.98.0.20", "10.98.0.21")
    fresh = kafka.membership(spec, inv, node, "", facts(others, three))
    assert not fresh.ok and fresh.detail == (
        "storage not formatted while the controllers at 10.98.0.20, 10.98.0.21 run: agent-2 re-joins the "
        f"KRaft quorum as controller 3 (new directory id; the old voter {D3} removed)"
    )
    no_tools = kafka.membership(spec, inv, node, "", facts(others, ""))
    assert "(new directory id; the old voter of node 3 removed)" in no_tools.detail
    new_cluster = kafka.membership(spec, inv, node, "", facts(()))
    assert "an initial voter of a new quorum" in new_cluster.detail

    meta = f"node.id=3\ndirectory.id={NEW}\n"
    observer = kafka.membership(spec, inv, node, meta, facts(others, three))
    assert observer == kafka.Check(
        False,
        f"agent-2 re-joins the KRaft quorum as controller 3 (new directory id {NEW}; the old voter {D3} "
        "removed)",
    )
    halfway = kafka.membership(spec, inv, node, meta, facts(others, status([(1, D1), (2, D2)])))
    assert not halfway.ok and halfway.detail.endswith(f"(new directory id {NEW})")
    done = kafka.membership(spec, inv, node, meta, facts(others, status([(1, D1), (2, D2), (3, NEW)])))
    assert done == kafka.Check(True, f"a voter with directory id {NEW}")
    silent = kafka.membership(spec, inv, node, meta, facts(others, NO_LEADER))
    assert not silent.ok and "no quorum leader answered" in silent.detail


def test_voters_of_no_controller_are_reported_and_left_alone() -> None:
    spec, inv, node = cluster()
    meta = f"node.id=3\ndirectory.id={NEW}\n"
    text = status([(1, D1), (2, D2), (3, NEW), (7, "x7xxxxxxxxxxxxxxxxxxxx")])
    state = kafka.membership(spec, inv, node, meta, facts(("10.98.0.20",), text))
    assert state.ok and "voter(s) 7 are no controller of the spec: left alone" in state.detail
    assert kafka.rejoin_steps(3, NEW, facts((), text)) == ([], False)


def test_rejoin_steps_remove_the_old_directory_then_add() -> None:
    three = facts((), status([(1, D1), (2, D2), (3, D3)]))
    assert kafka.rejoin_steps(3, NEW, three) == ([kafka.Voter(3, D3)], True)
    assert kafka.rejoin_steps(3, NEW, facts((), status([(1, D1), (2, D2)]))) == ([], True)
    assert kafka.rejoin_steps(3, NEW, facts((), status([(1, D1), (2, D2), (3, NEW)]))) == ([], False)
    with pytest.raises(OperationError, match="another process runs with this node id"):
        kafka.rejoin_steps(3, NEW, facts((), status([(1, D1), (2, D2), (3, D3)], leader=3)))
    with pytest.raises(OperationError, match="no quorum leader answered"):
        kafka.rejoin_steps(3, NEW, facts((), NO_LEADER))


class Quorum:
    """The other controllers as the re-created node's tools see them: the voter set changes with each
    remove-controller / add-controller the node runs; Kafka's refusal of a duplicate node id included."""

    def __init__(self, lag: list[int]) -> None:
        self.voters = [(1, D1), (2, D2), (3, D3)]
        self.lag = lag  # the observer's lag at each describe --replication
        self.log: list[str] = []

    def __call__(self, cmd: str) -> RunResult | None:
        if "meta.properties" in cmd and kafka.QUORUM_MARK not in cmd:
            return RunResult(cmd, 0, f"node.id=3\ndirectory.id={NEW}\n", "")
        if "describe --replication" in cmd:
            lag = self.lag.pop(0) if len(self.lag) > 1 else self.lag[0]
            return RunResult(
                cmd,
                0,
                REPLICATION.replace(
                    "330         \t0  \t1796153195789     \t1796153195789        \tObserver",
                    f"330         \t{lag}  \t1796153195789     \t1796153195789        \tObserver",
                ),
                "",
            )
        if "describe --status" in cmd:
            answer = probe_output(("10.98.0.20", "10.98.0.21"), status(self.voters))
            if kafka.META_MARK in cmd:  # voter_op's probe: meta.properties first
                answer = f"node.id=3\ndirectory.id={NEW}\n{kafka.META_MARK}\n{answer}"
            return RunResult(cmd, 0, answer, "")
        if "remove-controller" in cmd:
            self.log.append(cmd.split("remove-controller ", 1)[1])
            self.voters = [(i, d) for i, d in self.voters if f"--controller-directory-id {d}" not in cmd]
            return RunResult(cmd, 0, "Removed KRaft controller", "")
        if "add-controller" in cmd:
            self.log.append("add-controller " + cmd.split("--command-config ", 1)[1].split()[0])
            if any(i == 3 for i, _ in self.voters):
                return RunResult(cmd, 1, "", "DuplicateVoterException")
            self.voters.append((3, NEW))
            return RunResult(cmd, 0, "Added controller 3", "")
        return None


def test_rejoin_waits_for_the_catch_up_then_removes_then_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka, "POLL", 0.0)
    spec, inv, node = cluster()
    quorum = Quorum(lag=[234, 12, 0])
    host = FakeHost(node.name, handler=quorum)
    op = kafka.voter_op(spec, inv, node)
    op.apply(host)
    assert quorum.log == [
        f"--controller-id 3 --controller-directory-id {D3}",
        f"add-controller {kafka.CONFIG}",
    ]
    assert quorum.voters == [(1, D1), (2, D2), (3, NEW)]
    replication = [c for c in host.commands if "describe --replication" in c]
    assert (
        len(replication) >= 3 and "--bootstrap-controller 10.98.0.20:9093,10.98.0.21:9093" in replication[0]
    )
    assert op.check(host).ok
    host.commands.clear()
    op.apply(host)  # idempotent: nothing left to do
    assert not [c for c in host.commands if "remove-controller" in c or "add-controller" in c]


def test_rejoin_gives_up_naming_what_it_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka, "POLL", 0.0)
    monkeypatch.setattr(kafka, "REJOIN_TIMEOUT", 0.0)
    spec, inv, node = cluster()
    quorum = Quorum(lag=[50])
    with pytest.raises(
        OperationError,
        match=r"agent-2: controller 3 did not become a voter within 0s \(controller 3 is 50 records "
        r"behind the leader\)",
    ):
        kafka.voter_op(spec, inv, node).apply(FakeHost(node.name, handler=quorum))
    assert quorum.log == [], "nothing removed before it caught up"


# --- where the op runs ----------------------------------------------------------------------------------


def test_voter_op_runs_on_controllers_after_the_broker_runs() -> None:
    spec, inv = spec_with("4.4.0", agents=4, brokers=4)
    phases = plan_phases(PLATFORM, spec, inv)
    keys = [o.key for o in phases["agents"]["agent-0"]]
    assert keys.index("kafka-storage") < keys.index("kafka-running") < keys.index("kafka-voter")
    assert "kafka-voter" not in [o.key for o in phases["agents"]["agent-3"]], "a broker only"
    static, sinv = spec_with("4.4.0", quorum="static")
    assert "kafka-voter" not in [o.key for o in plan_phases(PLATFORM, static, sinv)["agents"]["agent-0"]]


def test_mesos_runs_the_voter_op_on_its_controllers_in_the_packages_phase(tmp_path: Path) -> None:
    """On mesos the broker is a Marathon app started after the agents phase formatted its storage."""
    spec, inv = mesos_spec(tmp_path)
    phases = plan_phases(mesos.PLATFORM, spec, inv)
    for node in kafka.controllers(inv):
        assert "kafka-voter" in [o.key for o in phases["packages"][node.name]]
        assert "kafka-storage" in [o.key for o in phases["agents"][node.name]]
