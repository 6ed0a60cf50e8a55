"""`fab deploy` of the standalone platform onto real LXC nodes: a throw-away local stack (tests/cluster.py)
with its own bridge and subnet, the demo disabled (the e2e tier covers it)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import Cluster
from roles import tasks
from roles.engine import inventory as inv_mod
from roles.packages import kafka
from tests.cluster import inventory as stack_inventory
from tests.cluster import throwaway_stack
from tests.helpers import report, run

pytestmark = pytest.mark.integration
# Overridable so that sessions sharing a machine never share a stack, bridge or subnet.
STACK = os.environ.get("FASTDATA_IT_STACK", "it-standalone")
BRIDGE = os.environ.get("FASTDATA_IT_BRIDGE", "fdit2")
SUBNET = os.environ.get("FASTDATA_IT_SUBNET", "10.98.9.0/24")
PREFIX = SUBNET.rsplit(".", 1)[0]  # 10.98.9
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Nodes up (not yet deployed): the first test deploys them. The artifact cache is filled first
    (idempotent; on a fresh machine this downloads Kafka, the connector and pyspark)."""
    run([str(ROOT / "scripts" / "fetch-artifacts.sh")], timeout=1800)
    with throwaway_stack(STACK, {"local": {"bridge": BRIDGE, "subnet": SUBNET}, "demo": {"enabled": False}}):
        yield inv_mod.load_stack(STACK)


class _Watch(io.StringIO):
    """Deploy's progress output; sets `event` when a line starting with `marker` is printed."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker, self.event = marker, threading.Event()

    def write(self, text: str) -> int:
        if text.startswith(self.marker):
            self.event.set()
        return super().write(text)


def _link(container: str, state: str) -> None:
    """Take the host side of a container's network link down or up: the node drops off the network
    (no RST, no FIN: like a VM whose network went away), with its processes still running."""
    info = subprocess.run(["lxc-info", "-n", container], capture_output=True, text=True, check=True).stdout
    veth = next(line.split()[1] for line in info.splitlines() if line.startswith("Link:"))
    subprocess.run(["ip", "link", "set", veth, state], check=True)


def test_node_lost_mid_deploy_then_resume(cluster: Cluster, tmp_path: Path) -> None:
    """agent-2 drops off the network as the agents phase starts on fresh nodes: deploy fails naming
    agent-2 and the op it was on, keeps the other hosts' results, and collects diagnostics; once the node
    is back, a re-run converges and redoes none of the work finished before (on any host)."""
    from roles.engine.executor import DeployFailed

    victim = f"fastdata-{STACK}-agent-2"
    watch = _Watch("== agents")
    outcome: dict[str, BaseException] = {}

    def deploy() -> None:
        try:
            tasks.deploy(STACK, None, out=watch, diagnose_root=tmp_path)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which asserts on it
            outcome["error"] = exc

    t = threading.Thread(target=deploy)
    t.start()
    try:
        assert watch.event.wait(600), "the agents phase never started:\n" + watch.getvalue()[-3000:]
        _link(victim, "down")
        t.join(900)
    finally:
        _link(victim, "up")
    assert not t.is_alive()
    err = outcome.get("error")
    assert isinstance(err, DeployFailed), f"{err!r}\n{watch.getvalue()[-3000:]}"
    failed = err.report.failures
    assert {r.host for r in failed} == {"agent-2"}, err.describe()
    assert f"host agent-2, op '{failed[0].name}'" in str(err)
    # lost mid-command, or refused a new connection for the next op: either way it names the address
    assert re.match(
        rf"agent-2 \({re.escape(PREFIX)}\.22(:22)?\): (connection lost|cannot open SSH connection)",
        failed[0].detail,
    ), failed[0].detail
    assert "other hosts completed the phase: " in str(err)
    assert list(tmp_path.iterdir()), "diagnostics were collected"
    done = {(r.host, r.key) for r in err.report.results if r.status in ("changed", "ok") and r.key != "ssh"}
    assert ("agent-0", "kafka-running") in done and ("agent-1", "kafka-running") in done

    t0 = time.monotonic()
    resumed = tasks.deploy(STACK, None)
    report(f"deploy resumed after agent-2 came back: {time.monotonic() - t0:.0f}s, {resumed.changes} changes")
    assert not resumed.failures
    redone = sorted(
        f"{r.host}:{r.key}" for r in resumed.results if r.status == "changed" and (r.host, r.key) in done
    )
    assert redone == [], f"finished work was redone: {redone}"
    assert any(r.host == "agent-2" and r.status == "changed" for r in resumed.results)


def test_deploy_converges_then_noop(cluster: Cluster) -> None:
    """Deploy converges; a second run changes nothing (wall time printed); plan plans 0 changes."""
    first = tasks.deploy(STACK, None)
    assert not first.failures
    t0 = time.monotonic()
    second = tasks.deploy(STACK, None)
    report(
        f"deploy after the resumed one: {first.seconds:.0f}s ({first.changes} changes); "
        f"no-op re-run: {time.monotonic() - t0:.1f}s for {len(cluster.nodes)} nodes"
    )
    assert second.changes == 0
    assert tasks.deploy(STACK, None, dry_run=True).changes == 0


def test_kafka_runs_the_default_version_on_a_dynamic_quorum(cluster: Cluster) -> None:
    """Every broker runs the default Kafka (4.x, Log4j 2); the first kafka.controllers brokers form a
    dynamic (KIP-853) quorum whose voters carry the directory ids they were formatted with, the others
    are brokers only; the features are final for the release."""
    from contract.schema import DEFAULT_VERSIONS
    from roles.engine.executor import Progress
    from roles.packages import kafka_upgrade

    version = DEFAULT_VERSIONS["kafka"]
    remotes, _ = tasks.connect_all(cluster, Progress(quiet=True))
    try:
        for node in kafka.brokers(cluster):
            running = kafka.parse_running(remotes[node.name].run(kafka.RUNNING_FACTS).stdout)
            assert running is not None and running[0] == version, (node.name, running)
            config = remotes[node.name].run(f"cat {kafka.CONFIG}").stdout
            assert f"process.roles={kafka.process_roles(cluster, node)}\n" in config
            assert "controller.quorum.voters" not in config
        first = remotes[kafka.brokers(cluster)[0].name]
        status = first.run(
            kafka.tool_at(
                version,
                "org.apache.kafka.tools.MetadataQuorumCommand",
                f"--bootstrap-server {kafka.bootstrap_servers(cluster)} describe --status",
            )
        ).stdout
        for node in kafka.controllers(cluster):
            # The id it was formatted with: the derived one, or - for a controller formatted after the others
            # already ran (test_node_lost_mid_deploy_then_resume cuts agent-2 off before its storage) - a new
            # one it re-joined the quorum with (kafka.voter_op, remove-controller then add-controller).
            meta = kafka.parse_meta_properties(remotes[node.name].run(f"cat {kafka.meta_path()}").stdout)
            assert f'"directoryId": "{meta["directory.id"]}"' in status, (node.name, meta, status)
        assert kafka.quorum_check(len(kafka.controllers(cluster)), status).ok, status
        features = first.run(
            kafka.tool_at(
                version,
                kafka.FEATURE_COMMAND,
                f"--bootstrap-server {kafka.bootstrap_servers(cluster)} describe",
            )
        ).stdout
        level = kafka_upgrade.parse_finalized(features)["metadata.version"]
        assert level.startswith(kafka_upgrade.release(version) + "-"), features
        journal = first.run("journalctl -u kafka.service --no-pager -n 200").stdout
        assert "Kafka Server started" in journal, "the broker logs through Log4j 2 to the journal"
    finally:
        for r in remotes.values():
            r.close()


def test_topic_produce_consume_and_spark_job(cluster: Cluster) -> None:
    """RF-3 topic, a real producer + consumer (confluent-kafka), and a job on the standalone master."""
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    servers = kafka.bootstrap_servers(cluster)
    topic = f"it-{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": servers})
    admin.create_topics([NewTopic(topic, 3, 3)])[topic].result(60)
    p = Producer({"bootstrap.servers": servers, "acks": "all", "enable.idempotence": True})
    for i in range(100):
        p.produce(topic, str(i).encode())
    assert p.flush(60) == 0
    c = Consumer({"bootstrap.servers": servers, "group.id": topic, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got: set[bytes] = set()
    deadline = time.monotonic() + 60
    while len(got) < 100 and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and m.error() is None:
            got.add(m.value())
    c.close()
    assert len(got) == 100
    master = cluster.masters[0].private_ip
    job = (
        "from pyspark.sql import SparkSession;"
        f"s=SparkSession.builder.master('spark://{master}:7077').getOrCreate();"
        "print('COUNT', s.sparkContext.parallelize(range(1000), 6).sum())"
    )
    out = subprocess.run(["python", "-c", job], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert "COUNT 499500" in out.stdout, out.stderr[-2000:]


def test_status_prints_every_gate(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tasks.status(STACK, None)
    layers = [r[0] for r in rows]
    for layer in tasks.GATE_LAYERS:
        assert layer in layers
    assert all(r[2].ok for r in rows if r[0] in ("SSH reachable", "prerequisites", "platform up"))


def test_a_node_whose_host_key_changed_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    """The inventory pins another key for agent-1 (as after a re-creation nobody refreshed): deploy refuses
    that node with a message naming it and the command that re-reads keys, and touches nothing."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from roles.errors import FastdataError

    data = stack_inventory(STACK)
    victim = next(n for n in data["nodes"] if n["name"] == "agent-1")
    other = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    data["ssh"]["knownHosts"] = "\n".join(
        f"{victim['privateIp']} {other}" if line.startswith(victim["privateIp"] + " ") else line
        for line in data["ssh"]["knownHosts"].splitlines()
    )
    tampered = tmp_path / "inventory.json"
    tampered.write_text(json.dumps(data))
    with pytest.raises(FastdataError, match=r"agent-1.*host key CHANGED.*pulumi refresh && pulumi up"):
        tasks.deploy(None, str(tampered))
