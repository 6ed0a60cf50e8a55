"""A rolling Kafka upgrade of a static-quorum cluster on real LXC nodes (1 master, 3 agents, the demo off):
deployed with Kafka 3.9.1 and `kafka.quorum: static`, a producer writing numbered events at a steady
rate; `versions.kafka` changed to the default 4.x and `fab deploy` run again; then the documented
migration to a dynamic quorum. Throughout, no partition is offline and every acknowledged event is in the
topic exactly once. The helpers here (Traffic, consumed, interrupted_deploy) also serve the upgrade of a
dynamic-quorum cluster with the demo running, interrupted and resumed: test_spark_upgrade_local.py.

Stack, bridge and subnet come from FASTDATA_IT_UPGRADE_* (defaults it-kafka-upgrade / fdkup0 /
10.98.42.0/24) so that sessions sharing a machine never collide."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract import Cluster
from contract.schema import DEFAULT_VERSIONS
from roles import tasks
from roles.engine import inventory as inv_mod
from roles.engine.executor import Progress
from roles.packages import kafka, kafka_upgrade
from tests.cluster import pulumi, throwaway_stack, write_stack_file
from tests.helpers import project_env, report, run

pytestmark = pytest.mark.integration
STACK = os.environ.get("FASTDATA_IT_UPGRADE_STACK", "it-kafka-upgrade")
BRIDGE = os.environ.get("FASTDATA_IT_UPGRADE_BRIDGE", "fdkup0")
SUBNET = os.environ.get("FASTDATA_IT_UPGRADE_SUBNET", "10.98.42.0/24")
STATIC_STACK = f"{STACK}-static"
ROOT = Path(__file__).resolve().parents[2]
OLD = "3.9.1"
NEW = DEFAULT_VERSIONS["kafka"]
TOPIC = "it.upgrade"
RATE = 50  # events per second, steady


def overrides(version: str, quorum: str = "dynamic") -> dict[str, Any]:
    return {
        "kafka": {"quorum": quorum},
        "local": {"bridge": BRIDGE, "subnet": SUBNET},
        "demo": {"enabled": False},
        "nodes": {
            "master": {"count": 1, "size": "3G"},
            "agent": {"count": 3, "size": "4G"},
            "publicAgent": {"count": 0, "size": "2G"},
        },
        "versions": {"kafka": version},
    }


def fetch_both() -> None:
    for version in (OLD, NEW):
        run([str(ROOT / "scripts" / "fetch-artifacts.sh"), "--kafka", version], timeout=1800)


@pytest.fixture
def static_cluster() -> Iterator[Cluster]:
    """A cluster as fastdata formatted them before KIP-853: every broker a controller, static voters."""
    fetch_both()
    with throwaway_stack(STATIC_STACK, overrides(OLD, "static")):
        yield inv_mod.load_stack(STATIC_STACK)


class Traffic:
    """A producer of numbered events (acks=all, idempotent) at RATE/s and a watcher of partition leaders,
    both until stop(); what was acknowledged and any moment a partition had no leader are recorded."""

    def __init__(self, servers: str) -> None:
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient

        self.servers = servers
        self.producer = Producer(
            {"bootstrap.servers": servers, "acks": "all", "enable.idempotence": True, "linger.ms": 5}
        )
        self.admin = AdminClient({"bootstrap.servers": servers})
        self.acked: set[int] = set()
        self.errors: list[str] = []
        self.offline: list[str] = []
        self.sent = 0
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.produce), threading.Thread(target=self.watch)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(120)
        assert self.producer.flush(120) == 0, "events still unacknowledged after 120 s"

    def produce(self) -> None:
        def delivered(err: Any, msg: Any) -> None:
            if err is None:
                self.acked.add(int(msg.value()))
            else:
                self.errors.append(str(err))

        t0 = time.monotonic()
        while not self.stopping.is_set():
            due = int((time.monotonic() - t0) * RATE)
            while self.sent < due:
                self.producer.produce(TOPIC, str(self.sent).encode(), on_delivery=delivered)
                self.sent += 1
            self.producer.poll(0.05)

    def watch(self) -> None:
        while not self.stopping.is_set():
            try:
                meta = self.admin.list_topics(TOPIC, timeout=10).topics[TOPIC]
                down = [p for p, part in meta.partitions.items() if part.leader < 0]
                if down:
                    self.offline.append(f"{time.strftime('%H:%M:%S')} partitions {down} without leader")
            except Exception as exc:  # noqa: BLE001 - a metadata timeout is recorded, not fatal
                self.offline.append(f"{time.strftime('%H:%M:%S')} metadata unavailable: {exc}")
            time.sleep(1)


def consumed(servers: str, want: int) -> list[int]:
    from confluent_kafka import Consumer

    c = Consumer(
        {"bootstrap.servers": servers, "group.id": f"it-{time.time()}", "auto.offset.reset": "earliest"}
    )
    c.subscribe([TOPIC])
    got: list[int] = []
    idle = time.monotonic()
    while len(got) < want and time.monotonic() - idle < 60:
        m = c.poll(1)
        if m is not None and m.error() is None:
            got.append(int(m.value()))
            idle = time.monotonic()
    c.close()
    return got


def running_versions(cluster: Cluster) -> dict[str, str | None]:
    remotes, _ = tasks.connect_all(cluster, Progress(quiet=True))
    try:
        out = {}
        for node in kafka.brokers(cluster):
            running = kafka.parse_running(remotes[node.name].run(kafka.RUNNING_FACTS).stdout)
            out[node.name] = running[0] if running else None
        return out
    finally:
        for r in remotes.values():
            r.close()


def interrupted_deploy(stack: str, after: str) -> str:
    """`fab deploy` killed (SIGKILL, the whole process group: like a control machine that died) right
    after it printed the rolling restart of `after`. Returns its output."""
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "fab"), "deploy", "--stack", stack],
        cwd=ROOT,
        env=project_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if f"[{after}" in line and "Kafka broker restarted (rolling)" in line:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(60)
    return "".join(lines)


def features_of(cluster: Cluster) -> dict[str, str]:
    remotes, _ = tasks.connect_all(cluster, Progress(quiet=True))
    try:
        out = (
            remotes[kafka.brokers(cluster)[0].name]
            .run(
                kafka.tool_at(
                    NEW,
                    kafka.FEATURE_COMMAND,
                    f"--bootstrap-server {kafka.bootstrap_servers(cluster)} describe",
                )
            )
            .stdout
        )
        return kafka_upgrade.parse_finalized(out)
    finally:
        for r in remotes.values():
            r.close()


def test_static_quorum_upgrade_then_migration_to_dynamic(static_cluster: Cluster) -> None:
    """An existing static-quorum cluster (kafka.quorum: static) keeps working through 3.9.1 -> 4.x: the
    finalization leaves kraft.version at 0 (KAFKA-21426). Then the documented migration (Kafka >= 4.1):
    kraft.version=1 with kafka-features, the voter line replaced on every node, kafka.quorum: dynamic,
    deploy - which rolls every broker - and the quorum is dynamic. Traffic flows and reconciles throughout."""
    from confluent_kafka.admin import AdminClient, NewTopic

    cluster = static_cluster
    assert not tasks.deploy(STATIC_STACK, None).failures
    servers = kafka.bootstrap_servers(cluster)
    admin = AdminClient({"bootstrap.servers": servers})
    admin.create_topics([NewTopic(TOPIC, 6, 3, config={"min.insync.replicas": "2"})])[TOPIC].result(60)
    traffic = Traffic(servers)
    traffic.start()
    try:
        write_stack_file(STATIC_STACK, overrides(NEW, "static"))
        pulumi(STATIC_STACK, "up", "--yes", "--skip-preview")
        t0 = time.monotonic()
        assert not tasks.deploy(STATIC_STACK, None).failures
        upgrade_seconds = time.monotonic() - t0
        upgraded = inv_mod.load_stack(STATIC_STACK)
        after = features_of(upgraded)
        assert after["metadata.version"].startswith(kafka_upgrade.release(NEW) + "-"), after
        assert after.get("kraft.version") == "0", f"the finalization must not flip the quorum: {after}"

        # the migration, as docs/contracts.md gives it
        remotes, _ = tasks.connect_all(upgraded, Progress(quiet=True))
        try:
            first = remotes[kafka.brokers(upgraded)[0].name]
            first.run(
                kafka.tool_at(
                    NEW,
                    kafka.FEATURE_COMMAND,
                    f"--bootstrap-server {servers} upgrade --feature kraft.version=1",
                ),
                timeout=120,
            )
            line = f"controller.quorum.bootstrap.servers={kafka.controller_bootstrap(upgraded)}"
            for node in kafka.brokers(upgraded):
                remotes[node.name].run(f"sed -i 's|^controller.quorum.voters=.*|{line}|' {kafka.CONFIG}")
        finally:
            for r in remotes.values():
                r.close()
        assert features_of(upgraded).get("kraft.version") == "1"
        write_stack_file(STATIC_STACK, overrides(NEW, "dynamic"))
        pulumi(STATIC_STACK, "up", "--yes", "--skip-preview")
        migrated = tasks.deploy(STATIC_STACK, None)
        assert not migrated.failures
        restarts = [r.host for r in migrated.results if r.key == f"restart:{kafka.HANDLER}"]
        assert restarts == [n.name for n in kafka.rolling_order(upgraded)], "every broker rolled once"
        time.sleep(20)
    finally:
        traffic.stop()
    report(
        f"static-quorum cluster {OLD} -> {NEW}: `fab deploy` {upgrade_seconds:.0f}s, kraft.version stayed 0; "
        f"then migrated to a dynamic quorum; {traffic.sent} events at {RATE}/s throughout"
    )
    assert traffic.offline == [], traffic.offline[:10]
    assert traffic.errors == [], traffic.errors[:10]
    got = consumed(servers, traffic.sent)
    assert len(got) == len(set(got)) == traffic.sent == len(traffic.acked)
    assert tasks.deploy(STATIC_STACK, None).changes == 0
