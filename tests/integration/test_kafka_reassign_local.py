"""Scale out and drain against real Kafka brokers (the default version) on this machine, no containers:
brokers 1-3 run the KRaft quorum, broker 4 joins later as a broker only. The product's balance op
spreads the demo topic onto broker 4 (it leads a partition and holds replicas, throttles cleared
afterwards); `fab drain`'s Kafka step moves everything off it again; a drain that would break the
replication factor is refused; and no record is lost on the way (the end offsets stay what was produced).

Each broker listens on its own loopback address (127.0.0.41-44), as the inventory's private IPs, so the
product's commands (kafka.tool, bootstrap servers) run unchanged through a Remote that runs on this host.
About 3 minutes on the 2-core reference machine; four JVMs of 256 MB heap.
"""

from __future__ import annotations

import dataclasses
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import Cluster
from contract.schema import DEFAULT_VERSIONS
from roles import lifecycle
from roles.engine.drain import DrainRefused
from roles.engine.executor import Platform
from roles.engine.spec import DeploySpec
from roles.packages import kafka, kafka_reassign
from tests.local_kafka import kafka_libs, loopback_cluster, start_broker, stop_all, wait_listening
from tests.mesos_cluster import LocalRemote

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NET = "127.0.0.4"  # broker i on 127.0.0.4i
CLUSTER_ID = "fastdata-it-scale-kafk"[:22]
TOPIC = "crimes.raw"
RECORDS = 3000


VERSION = DEFAULT_VERSIONS["kafka"]


def _properties(i: int, data: Path) -> str:
    ip = f"{NET}{i}"
    voters = ",".join(f"{n}@{NET}{n}:{kafka.CONTROLLER_PORT}" for n in (1, 2, 3))
    controller = i <= 3
    listeners = f"PLAINTEXT://{ip}:{kafka.CLIENT_PORT}" + (
        f",CONTROLLER://{ip}:{kafka.CONTROLLER_PORT}" if controller else ""
    )
    return "\n".join(
        [
            f"process.roles={'broker,controller' if controller else 'broker'}",
            f"node.id={i}",
            f"controller.quorum.voters={voters}",
            f"listeners={listeners}",
            f"advertised.listeners=PLAINTEXT://{ip}:{kafka.CLIENT_PORT}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data}",
            "offsets.topic.replication.factor=3",
            "transaction.state.log.replication.factor=3",
            "transaction.state.log.min.isr=2",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


class Brokers:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.libs_root = root / "opt"  # as kafka.LIBS_ROOT: one directory per version
        self.libs = self.libs_root / VERSION
        self.libs.mkdir(parents=True)
        with tarfile.open(kafka_libs(VERSION)) as tar:
            tar.extractall(self.libs, filter="data")
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, i: int) -> None:
        conf = self.root / f"server-{i}.properties"
        conf.write_text(_properties(i, self.root / f"data-{i}"))
        cp = f"{self.libs}/*"
        subprocess.run(
            [
                "java",
                "-Xmx128m",
                "-cp",
                cp,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                CLUSTER_ID,
                "-c",
                str(conf),
            ],
            check=True,
            capture_output=True,
        )
        self.procs[i] = start_broker(cp, conf, self.root / f"broker-{i}.log")

    def wait_listening(self, i: int, timeout: float = 180) -> None:
        wait_listening(self.procs[i], f"{NET}{i}", self.root / f"broker-{i}.log", timeout)

    def stop(self) -> None:
        stop_all(self.procs.values())


def _cluster(root: Path, libs: Path) -> tuple[DeploySpec, Cluster]:
    return loopback_cluster(NET, 4, VERSION)


def _tool(spec: DeploySpec, inv: Cluster, main: str, args: str) -> str:
    r = LocalRemote(inv.brokers[0])
    out = r.run(
        kafka.tool(spec, main, f"--bootstrap-server {kafka.bootstrap_servers(inv)} {args}"), timeout=120
    )
    assert out.ok, out.stderr[-1000:]
    return out.stdout


def _end_offsets(spec: DeploySpec, inv: Cluster) -> int:
    out = _tool(spec, inv, "org.apache.kafka.tools.GetOffsetShell", f"--topic {TOPIC}")
    return sum(int(line.rsplit(":", 1)[1]) for line in out.split() if line.count(":") == 2)


@pytest.fixture(scope="module")
def brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokers]:
    b = Brokers(tmp_path_factory.mktemp("kafka"))
    try:
        for i in (1, 2, 3):
            b.start(i)
        for i in (1, 2, 3):
            b.wait_listening(i)
        yield b
    finally:
        b.stop()


def test_scale_out_then_drain_with_real_brokers(
    brokers: Brokers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka, "LIBS_ROOT", str(brokers.libs_root))
    monkeypatch.setattr(kafka_reassign, "WORK_DIR", str(tmp_path / "reassign"))
    monkeypatch.setattr(
        kafka_reassign, "controller_ids", lambda inventory: {1, 2, 3}
    )  # this cluster's voters
    monkeypatch.setattr(lifecycle, "DRAINED_MARKER", str(tmp_path / "drained"))
    spec, inv = _cluster(tmp_path, brokers.libs)
    three = dataclasses.replace(spec, drained=frozenset({"agent-3"}))  # before broker 4 exists
    _tool(
        spec,
        dataclasses.replace(inv, nodes=tuple(n for n in inv.nodes if n.name != "agent-3")),
        "org.apache.kafka.tools.TopicCommand",
        f"--create --topic {TOPIC} --partitions 6 --replication-factor 3 --config min.insync.replicas=2",
    )
    bootstrap3 = ",".join(f"{NET}{i}:{kafka.CLIENT_PORT}" for i in (1, 2, 3))
    subprocess.run(
        [
            "java",
            "-Xmx128m",
            "-cp",
            f"{brokers.libs}/*",
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            TOPIC,
            "--num-records",
            str(RECORDS),
            "--record-size",
            "200",
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={bootstrap3}",
            "acks=all",
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    broker0 = LocalRemote(inv.brokers[0])
    assert kafka_reassign.balance_op(three, inv, inv.brokers[0], TOPIC).check(broker0).ok, "balanced on 1-3"

    # 3 -> 4: broker 4 joins; deploy's balance op spreads the topic onto it
    brokers.start(4)
    brokers.wait_listening(4)
    op = kafka_reassign.balance_op(spec, inv, inv.brokers[0], TOPIC)
    before = op.check(broker0)
    assert not before.ok and "onto brokers 1,2,3,4" in before.detail, before.detail
    op.apply(broker0)
    after = op.check(broker0)
    assert after.ok, after.detail
    state = kafka_reassign.describe(broker0, spec, inv, TOPIC)[TOPIC]
    assert sum(4 in p.replicas for p in state.partitions) >= 4
    assert any(p.leader == 4 for p in state.partitions), "broker 4 leads a partition"
    assert all(p.in_sync for p in state.partitions)
    throttles = _tool(spec, inv, kafka.config_command(spec), "--describe --entity-type brokers --all")
    assert "replication.throttled.rate=10485760" not in throttles, "--verify cleared the throttles"
    assert _end_offsets(spec, inv) == RECORDS

    # 4 -> 3: drain agent-3 (broker 4)
    remotes = {n.name: LocalRemote(n) for n in inv.nodes}
    platform = Platform("test", steps=(), drain=(kafka_reassign.DRAIN_BROKER,))
    lines: list[str] = []
    [summary] = lifecycle.drain(platform, spec, inv, "agent-3", remotes, lines.append)
    assert summary.startswith("broker 4 holds no replica") and "all in sync" in summary
    state = kafka_reassign.describe(broker0, spec, inv)
    assert not [p for t in state.values() for p in t.partitions if 4 in p.replicas]
    assert lifecycle.is_drained(inv.node("agent-3"), Path(lifecycle.DRAINED_MARKER).read_text())
    assert _end_offsets(spec, inv) == RECORDS

    # three brokers left for RF 3: draining another is refused, naming the topic and the numbers (with
    # the controllers moved elsewhere, else it is refused as a controller first)
    monkeypatch.setattr(kafka_reassign, "controller_ids", lambda inventory: set())
    with pytest.raises(
        DrainRefused,
        match=r"topic crimes.raw has replication factor 3 but only 2 broker\(s\) would remain "
        r"without agent-2 \(1, 2\)",
    ):
        lifecycle.drain(platform, spec, inv, "agent-2", remotes, lines.append)
