"""A KRaft controller lost with its disk and replaced, against real Kafka brokers (the default version) on
this machine, no containers: three combined broker+controller nodes formatted as the product formats a new
dynamic quorum (kafka.storage_op: --initial-controllers, the derived directory ids), records produced, then
controller 3 killed and its data directory wiped - what a re-created LXC container or VM looks like to
`fab deploy`. The product's ops then run for it as deploy runs them: `fab plan`'s view first (the storage op
and the voter op, dry run), then the storage op (which asks the other controllers and formats with
--no-initial-controllers: a new random directory id), the broker started, and the voter op (caught up,
remove-controller of the old directory id, add-controller). Afterwards the quorum has three voters, node 3
with its new directory id and the old one gone; every record is still there and producing works.

Each node listens on its own loopback address (127.0.0.61-63), as the inventory's private IPs, so the
product's commands run unchanged through a Remote that runs on this host; the paths the product hard-codes
(/opt/kafka, /etc/kafka, /var/lib/kafka/data) are module constants pointed at a temporary directory, per
node while that node's ops run. About 3 minutes on the 2-core reference machine; three broker JVMs of
256 MB heap (and short-lived tool JVMs).
"""

from __future__ import annotations

import io
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import Cluster, Node
from contract.schema import DEFAULT_VERSIONS
from roles.engine.executor import Executor, Platform, Progress
from roles.engine.spec import DeploySpec
from roles.engine.templates import render
from roles.packages import kafka
from tests.local_kafka import kafka_libs, loopback_cluster, start_broker, stop_all, wait_listening
from tests.mesos_cluster import LocalRemote

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NET = "127.0.0.6"  # node i (node id i) on 127.0.0.6i
TOPIC = "it.replace"
RECORDS = 2000
MORE = 500
VERSION = DEFAULT_VERSIONS["kafka"]


def _cluster() -> tuple[DeploySpec, Cluster]:
    return loopback_cluster(NET, 3, VERSION)


class Nodes:
    """Three nodes' config files, data directories and broker processes under one temporary root."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.mp = monkeypatch
        self.libs_root = root / "opt"  # as kafka.LIBS_ROOT: one directory per version
        libs = self.libs_root / VERSION
        libs.mkdir(parents=True)
        with tarfile.open(kafka_libs(VERSION)) as tar:
            tar.extractall(libs, filter="data")
        self.cp = f"{libs}/*"
        tools_log = root / "log4j2-tools.properties"  # the product's CLI logging config (warnings to stderr)
        tools_log.write_text(render("kafka-log4j2.properties", level="WARN", target="SYSTEM_ERR"))
        monkeypatch.setattr(kafka, "LIBS_ROOT", str(self.libs_root))
        monkeypatch.setattr(kafka, "TOOLS_LOG4J2_CONFIG", str(tools_log))
        monkeypatch.setattr(kafka, "RUN_AS_KAFKA", "")  # the test runs as whoever runs pytest
        monkeypatch.setattr(kafka, "POLL", 2.0)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def data(self, i: int) -> Path:
        return self.root / f"data-{i}"

    def config(self, i: int) -> Path:
        return self.root / f"server-{i}.properties"

    def on(self, i: int) -> None:
        """The product's paths for node i: its data directory and its server.properties."""
        self.mp.setattr(kafka, "DATA_DIR", str(self.data(i)))
        self.mp.setattr(kafka, "CONFIG", str(self.config(i)))

    def start(self, i: int) -> None:
        self.procs[i] = start_broker(self.cp, self.config(i), self.root / f"broker-{i}.log")

    def kill(self, i: int) -> None:
        """The node is lost: no clean shutdown."""
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(30)

    def wait_listening(self, i: int, timeout: float = 180) -> None:
        wait_listening(self.procs[i], f"{NET}{i}", self.root / f"broker-{i}.log", timeout)

    def stop(self) -> None:
        stop_all(self.procs.values())


@pytest.fixture
def nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Nodes]:
    n = Nodes(tmp_path, monkeypatch)
    try:
        yield n
    finally:
        n.stop()


def _tool(spec: DeploySpec, node: Node, main: str, args: str, timeout: float = 120) -> str:
    out = LocalRemote(node).run(kafka.tool(spec, main, args), check=False, timeout=timeout)
    assert out.ok, f"{main} {args}: exit {out.exit_code}: {out.stderr[-1500:]}"
    return out.stdout


def _status(spec: DeploySpec, inv: Cluster, node: Node) -> str:
    """describe --status of the quorum, asked of the other controllers (as the product asks)."""
    return _tool(
        spec,
        node,
        kafka.QUORUM_COMMAND,
        f"--bootstrap-controller {kafka.controller_endpoints(kafka.other_controllers(inv, node))} "
        "describe --status",
    )


def _wait_quorum(spec: DeploySpec, inv: Cluster, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        res = LocalRemote(inv.brokers[0]).run(
            kafka.tool(
                spec,
                kafka.QUORUM_COMMAND,
                f"--bootstrap-controller {kafka.controller_bootstrap(inv)} describe --status",
            ),
            check=False,
            timeout=120,
        )
        text = res.stdout
        if kafka.quorum_check(3, text).ok:
            return text
        time.sleep(3)
    raise AssertionError(f"no quorum of 3 voters with a leader: {text[-1000:]}")


def _produce(spec: DeploySpec, inv: Cluster, records: int) -> None:
    _tool(
        spec,
        inv.brokers[0],
        "org.apache.kafka.tools.ProducerPerformance",
        f"--topic {TOPIC} --num-records {records} --record-size 200 --throughput -1 "
        f"--producer-props bootstrap.servers={kafka.bootstrap_servers(inv)} acks=all",
        timeout=180,
    )


def _end_offsets(spec: DeploySpec, inv: Cluster) -> int:
    out = _tool(
        spec,
        inv.brokers[0],
        "org.apache.kafka.tools.GetOffsetShell",
        f"--bootstrap-server {kafka.bootstrap_servers(inv)} --topic {TOPIC}",
    )
    return sum(int(line.rsplit(":", 1)[1]) for line in out.split() if line.count(":") == 2)


def _consumed(spec: DeploySpec, inv: Cluster, want: int) -> int:
    out = _tool(
        spec,
        inv.brokers[0],
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        f"--bootstrap-server {kafka.bootstrap_servers(inv)} --topic {TOPIC} --from-beginning "
        f"--max-messages {want} --timeout-ms 60000",
        timeout=180,
    )
    return len(out.splitlines())


def test_lost_controller_rejoins_with_a_new_directory_id(nodes: Nodes) -> None:
    spec, inv = _cluster()
    agents = inv.brokers
    assert [kafka.node_id(a) for a in kafka.controllers(inv)] == [1, 2, 3]
    initial = {kafka.node_id(a): kafka.directory_id(inv, a) for a in agents}

    # a new cluster, formatted and started as deploy does it: no other controller runs yet, so each is
    # formatted with --initial-controllers and the derived directory id
    for i, node in enumerate(agents, 1):
        nodes.on(i)
        nodes.config(i).write_text(kafka.server_properties(spec, inv, node))
        storage = kafka.storage_op(spec, inv, node)
        assert "no other controller runs" in storage.check(LocalRemote(node)).detail
        storage.apply(LocalRemote(node))
        meta = kafka.parse_meta_properties((nodes.data(i) / "meta.properties").read_text())
        assert meta["directory.id"] == initial[i]
    for i in (1, 2, 3):
        nodes.start(i)
    for i in (1, 2, 3):
        nodes.wait_listening(i)
    _wait_quorum(spec, inv)
    for i, node in enumerate(agents, 1):
        nodes.on(i)
        member = kafka.voter_op(spec, inv, node).check(LocalRemote(node))
        assert member.ok and "an initial voter" in member.detail, member.detail
    _tool(
        spec,
        agents[0],
        "org.apache.kafka.tools.TopicCommand",
        f"--bootstrap-server {kafka.bootstrap_servers(inv)} --create --topic {TOPIC} --partitions 6 "
        "--replication-factor 3 --config min.insync.replicas=2",
    )
    _produce(spec, inv, RECORDS)
    assert _end_offsets(spec, inv) == RECORDS

    # controller 3 is lost with its disk; its node comes back empty (same name, address and config)
    nodes.kill(3)
    lost = agents[2]
    for child in sorted(nodes.data(3).rglob("*"), reverse=True):
        child.unlink() if not child.is_dir() else child.rmdir()
    nodes.on(3)
    remote = LocalRemote(lost)

    # `fab plan`: both ops would change, and say how
    plan_out = io.StringIO()
    ex = Executor(Platform("test", steps=()), spec, inv, {lost.name: remote}, Progress(plan_out))
    try:
        ops = [kafka.storage_op(spec, inv, lost), kafka.voter_op(spec, inv, lost)]
        ex.run(dry_run=True, phases={"agents": {lost.name: ops}})
    finally:
        ex.close()
    plan = plan_out.getvalue()
    print(plan)
    assert "storage not formatted while the controllers at 127.0.0.61, 127.0.0.62 run" in plan, plan
    assert (
        f"agent-2 re-joins the KRaft quorum as controller 3 (new directory id; the old voter {initial[3]} "
        "removed)" in plan
    ), plan

    # `fab deploy`: the storage op asks the quorum and formats for a re-join: a new random directory id
    storage = kafka.storage_op(spec, inv, lost)
    storage.apply(remote)
    assert storage.check(remote).ok
    meta = kafka.parse_meta_properties((nodes.data(3) / "meta.properties").read_text())
    new_id = meta["directory.id"]
    assert new_id != initial[3] and meta["node.id"] == "3"
    nodes.start(3)  # the service op
    nodes.wait_listening(3)
    voter = kafka.voter_op(spec, inv, lost)
    before = voter.check(remote)
    assert not before.ok and f"new directory id {new_id}; the old voter {initial[3]} removed" in before.detail
    t0 = time.monotonic()
    voter.apply(remote)
    after = voter.check(remote)
    assert after.ok and after.detail == f"a voter with directory id {new_id}", after.detail
    print(f"re-joined in {time.monotonic() - t0:.0f}s")

    status = _status(spec, inv, agents[0])
    voters = kafka.parse_voters(status)
    assert voters is not None and sorted(voters, key=lambda v: v.node_id) == [
        kafka.Voter(1, initial[1]),
        kafka.Voter(2, initial[2]),
        kafka.Voter(3, new_id),
    ], status
    assert kafka.quorum_check(3, status).ok, status

    # a second deploy changes nothing
    assert kafka.storage_op(spec, inv, lost).check(remote).ok
    assert kafka.voter_op(spec, inv, lost).check(remote).ok

    # every record is still there, and producing works with node 3 back
    assert _end_offsets(spec, inv) == RECORDS
    _produce(spec, inv, MORE)
    assert _end_offsets(spec, inv) == RECORDS + MORE
    assert _consumed(spec, inv, RECORDS + MORE) == RECORDS + MORE
