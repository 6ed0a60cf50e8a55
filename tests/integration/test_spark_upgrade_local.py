"""Rolling upgrades on real LXC nodes with the demo running: a throw-away local stack (1 master, 3 agents,
1 public agent) deployed with Spark 3.5.3, Kafka 3.9.1 and the demo producing at a steady rate.

First Spark:
`versions.spark` changed to the default 3.5.x, `pulumi up`, `fab plan` and `fab deploy`. The master
restarts first (the processor's driver stopped before it), then the workers one at a time, each gated on
being back; the processor is resubmitted and resumes from its HDFS checkpoint. Afterwards every daemon and
the driver run the new version, and every event in Kafka was counted exactly once (the end offsets of the
topic = the sum of the counts in InfluxDB, the probe's events included on both sides).

Then Kafka, on the same cluster: `versions.kafka` 3.9.1 -> the default 4.x with the demo running and a
second producer of numbered events (acks=all) plus a watcher of partition leaders. `fab plan` names every
broker's step; `fab deploy` is killed right after the first broker's restart and re-run, which restarts
only the brokers still on 3.9.1. No partition is ever without a leader, every acknowledged numbered event
is in its topic exactly once, every broker runs 4.x with metadata.version final, the demo kept counting,
and every demo event in Kafka was counted exactly once. (The static-quorum upgrade and its migration to
a dynamic quorum: test_kafka_upgrade_local.py.)

Stack, bridge and subnet come from FASTDATA_IT_SPARK_* (defaults it-spark-upgrade / fdspk0 /
10.98.43.0/24) so that sessions sharing a machine never collide."""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from contract import Cluster
from contract.schema import DEFAULT_VERSIONS
from roles import tasks
from roles.demo import common as demo_common
from roles.demo import systemd as demo
from roles.engine import inventory as inv_mod
from roles.engine.executor import Progress
from roles.packages import kafka, kafka_upgrade, spark
from tests.cluster import pulumi, throwaway_stack, write_stack_file
from tests.helpers import ROOT, report, run
from tests.integration import test_kafka_upgrade_local as kafka_it

pytestmark = pytest.mark.integration
STACK = os.environ.get("FASTDATA_IT_SPARK_STACK", "it-spark-upgrade")
BRIDGE = os.environ.get("FASTDATA_IT_SPARK_BRIDGE", "fdspk0")
SUBNET = os.environ.get("FASTDATA_IT_SPARK_SUBNET", "10.98.43.0/24")
OLD = "3.5.3"
NEW = DEFAULT_VERSIONS["spark"]
KAFKA_OLD = "3.9.1"
KAFKA_NEW = DEFAULT_VERSIONS["kafka"]
RATE = 50  # the producer's events per second


def overrides(spark_version: str, kafka_version: str) -> dict[str, Any]:
    return {
        "local": {"bridge": BRIDGE, "subnet": SUBNET},
        "demo": {"enabled": True, "speedup": 1200, "maxEventsPerSecond": RATE},
        "versions": {"spark": spark_version, "kafka": kafka_version},
    }


# Module-scoped: the Kafka upgrade continues on the cluster the Spark upgrade left (one deploy for both).
@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    for spark_version, kafka_version in ((OLD, KAFKA_OLD), (NEW, KAFKA_NEW)):
        run(
            [
                str(ROOT / "scripts" / "fetch-artifacts.sh"),
                *("--spark", spark_version, "--kafka", kafka_version),
            ],
            timeout=1800,
        )
    with throwaway_stack(STACK, overrides(OLD, KAFKA_OLD)):
        yield inv_mod.load_stack(STACK)


def counted(cluster: Cluster) -> int:
    """Every event the processor counted (all types, the probe's included)."""
    resp = requests.get(
        f"{demo_common.influx_url(cluster)}/query",
        params={"db": demo_common.INFLUX_DB, "q": 'SELECT sum("count") FROM crime_counts'},
        timeout=10,
    )
    resp.raise_for_status()
    series = resp.json()["results"][0].get("series") or []
    return int(series[0]["values"][0][1]) if series else 0


def in_kafka(cluster: Cluster) -> int:
    """Every event in the demo topic: the sum of its partitions' end offsets (nothing expires this soon)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": kafka.bootstrap_servers(cluster), "group.id": f"it-{time.time()}"})
    try:
        parts = c.list_topics(demo_common.TOPIC, timeout=30).topics[demo_common.TOPIC].partitions
        return sum(
            c.get_watermark_offsets(TopicPartition(demo_common.TOPIC, p), timeout=30)[1] for p in parts
        )
    finally:
        c.close()


def settle(cluster: Cluster, quiet: float = 30, timeout: float = 600) -> int:
    deadline = time.monotonic() + timeout
    last, since = counted(cluster), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(3)
        now = counted(cluster)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    raise AssertionError(f"counts still changing after {timeout:.0f}s (last total {last})")


def on_nodes(cluster: Cluster, commands: dict[str, str]) -> dict[str, str]:
    remotes, _ = tasks.connect_all(cluster, Progress(quiet=True))
    try:
        return {
            name: remotes[name].run(cmd, check=False, timeout=120).stdout for name, cmd in commands.items()
        }
    finally:
        for r in remotes.values():
            r.close()


def running_versions(cluster: Cluster) -> dict[str, str | None]:
    """The Spark version each daemon's JVM runs (read from its class path), and the driver's pyspark."""
    commands = {m.name: spark.running_facts(spark.MASTER_UNIT) for m in cluster.masters}
    commands |= {a.name: spark.running_facts(spark.WORKER_UNIT) for a in cluster.agents}
    out = {
        n: (r[0] if (r := spark.parse_running(text)) else None)
        for n, text in on_nodes(cluster, commands).items()
    }
    driver = on_nodes(
        cluster,
        {
            cluster.masters[
                0
            ].name: f"{demo_common.VENV}/bin/python -c 'import pyspark; print(pyspark.__version__)'"
        },
    )
    out["driver"] = driver[cluster.masters[0].name].strip() or None
    return out


def reconcile(cluster: Cluster) -> tuple[int, int]:
    """produced = counted: the producer stopped, the processor caught up, every event in Kafka counted
    once. Returns (events in Kafka, events counted); the producer runs again afterwards."""
    master = cluster.masters[0].name
    on_nodes(cluster, {master: f"systemctl stop {demo.UNITS['producer']}"})
    try:
        total = settle(cluster)
        events = in_kafka(cluster)
        assert total == events, f"{events} events in {demo_common.TOPIC}, {total} counted"
    finally:
        on_nodes(cluster, {master: f"systemctl start {demo.UNITS['producer']}"})
    return events, total


def kafka_versions(cluster: Cluster) -> dict[str, str | None]:
    out = on_nodes(cluster, {b.name: kafka.RUNNING_FACTS for b in kafka.brokers(cluster)})
    return {n: (r[0] if (r := kafka.parse_running(text)) else None) for n, text in out.items()}


class Flow:
    """Samples the counted total every 5 s until stop(): the longest time it stood still."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.samples: list[tuple[float, int]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.sample)

    def sample(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(requests.RequestException):
                self.samples.append((time.monotonic(), counted(self.cluster)))
            self.stopping.wait(5)

    def longest_pause(self) -> float:
        longest, since = 0.0, self.samples[0][0] if self.samples else 0.0
        for (_, a), (t, b) in zip(self.samples, self.samples[1:], strict=False):
            if b != a:
                since = t
            longest = max(longest, t - since)
        return longest


def test_spark_patch_upgrade_rolls_with_the_demo_running(cluster: Cluster) -> None:
    first = tasks.deploy(STACK, None)
    assert not first.failures
    before = running_versions(cluster)
    assert set(before.values()) == {OLD}, before

    write_stack_file(STACK, overrides(NEW, KAFKA_OLD))
    pulumi(STACK, "up", "--yes", "--skip-preview")
    upgraded = inv_mod.load_stack(STACK)
    assert upgraded.settings.versions.spark == NEW

    plan_out = io.StringIO()
    plan = tasks.deploy(STACK, None, dry_run=True, out=plan_out)
    text = plan_out.getvalue()
    master = cluster.masters[0].name
    assert f"runs Spark {OLD}: to {NEW} (the master first)" in next(
        line for line in text.splitlines() if f"[{master}" in line and "runs Spark" in line
    ), text[-3000:]
    for i, agent in enumerate(cluster.agents):
        line = next(line for line in text.splitlines() if f"[{agent.name}" in line and "runs Spark" in line)
        assert f"runs Spark {OLD}: to {NEW} (worker {i + 1} of {len(cluster.agents)}" in line, line
    assert plan.changes > 0 and running_versions(cluster) == before, "the plan changed nothing"

    flow = Flow(upgraded)
    flow.thread.start()
    t0 = time.monotonic()
    out = io.StringIO()
    try:
        result = tasks.deploy(STACK, None, out=out)
        seconds = time.monotonic() - t0
        assert not result.failures, out.getvalue()[-3000:]
        time.sleep(20)
    finally:
        flow.stopping.set()
        flow.thread.join(30)
    restarts = [r.host for r in result.results if r.key.startswith("restart:restart-spark-")]
    assert restarts == [master, *(a.name for a in cluster.agents)], out.getvalue()[-3000:]
    after = running_versions(upgraded)
    assert set(after.values()) == {NEW}, after

    events, total = reconcile(upgraded)
    report(
        f"Spark {OLD} -> {NEW} rolling upgrade (master, then {len(cluster.agents)} workers one at a time, "
        f"the processor resubmitted from its checkpoint) on the local stack: {seconds:.0f}s of `fab deploy`; "
        f"counting paused at most {flow.longest_pause():.0f}s; {events} events in Kafka = {total} counted"
    )
    again = tasks.deploy(STACK, None)
    assert again.changes == 0, [f"{r.host}: {r.name}" for r in again.results if r.status == "changed"]


def test_kafka_upgrade_interrupted_and_resumed_with_the_demo_running(cluster: Cluster) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    assert set(kafka_versions(cluster).values()) == {KAFKA_OLD}
    servers = kafka.bootstrap_servers(cluster)
    admin = AdminClient({"bootstrap.servers": servers})
    topic = kafka_it.TOPIC
    admin.create_topics([NewTopic(topic, 6, 3, config={"min.insync.replicas": "2"})])[topic].result(60)
    traffic = kafka_it.Traffic(servers)
    traffic.start()
    flow = Flow(cluster)
    flow.thread.start()
    try:
        time.sleep(10)
        write_stack_file(STACK, overrides(NEW, KAFKA_NEW))
        pulumi(STACK, "up", "--yes", "--skip-preview")
        upgraded = inv_mod.load_stack(STACK)
        assert upgraded.settings.versions.kafka == KAFKA_NEW
        order = [n.name for n in kafka.rolling_order(upgraded)]

        plan_out = io.StringIO()
        tasks.deploy(STACK, None, dry_run=True, out=plan_out)
        for i, name in enumerate(order):
            step = f"(Kafka {KAFKA_OLD} -> {KAFKA_NEW}: rolling step {i + 1} of {len(order)}"
            assert f"Kafka on {name}: version and quorum {step}" in plan_out.getvalue(), plan_out.getvalue()[
                -3000:
            ]

        t0 = time.monotonic()
        killed = kafka_it.interrupted_deploy(STACK, after=order[0])
        assert f"[{order[0]}" in killed and "Kafka broker restarted (rolling)" in killed, killed[-3000:]
        before = kafka_versions(upgraded)
        assert before[order[0]] == KAFKA_NEW, before
        still_old = [name for name in order if before[name] != KAFKA_NEW]
        out = io.StringIO()
        result = tasks.deploy(STACK, None, out=out)
        seconds = time.monotonic() - t0
        assert not result.failures, out.getvalue()[-3000:]
        restarts = [r.host for r in result.results if r.key == f"restart:{kafka.HANDLER}"]
        # the re-run restarts only brokers still on the old version, never the first; the one whose
        # restart the killed deploy had already asked systemd for may have finished it meanwhile
        assert order[0] not in restarts and set(restarts) <= set(still_old), (
            restarts,
            still_old,
            out.getvalue()[-3000:],
        )
        time.sleep(20)
    finally:
        traffic.stop()
        flow.stopping.set()
        flow.thread.join(30)
    assert traffic.offline == [], traffic.offline[:10]
    assert traffic.errors == [] and len(traffic.acked) == traffic.sent, traffic.errors[:10]
    got = kafka_it.consumed(servers, traffic.sent)
    assert len(got) == len(set(got)) == traffic.sent and set(got) == traffic.acked
    assert set(kafka_versions(upgraded).values()) == {KAFKA_NEW}
    features = kafka_it.features_of(upgraded)
    assert features["metadata.version"].startswith(kafka_upgrade.release(KAFKA_NEW) + "-"), features
    assert features.get("kraft.version") == "1", "a dynamic quorum stays at kraft.version 1"
    pause = flow.longest_pause()
    assert pause < 150, f"the demo stopped counting for {pause:.0f}s during the Kafka roll"
    events, total = reconcile(upgraded)
    report(
        f"Kafka {KAFKA_OLD} -> {KAFKA_NEW} rolling upgrade of 3 brokers with the demo running (killed after "
        f"{order[0]}, resumed; the re-run restarted {restarts}): {seconds:.0f}s of `fab deploy`; "
        f"no partition without a leader; {traffic.sent} numbered events at {kafka_it.RATE}/s exactly once; "
        f"the demo's counting paused at most {pause:.0f}s; {events} demo events in Kafka = {total} counted"
    )
    again = tasks.deploy(STACK, None)
    assert again.changes == 0, [f"{r.host}: {r.name}" for r in again.results if r.status == "changed"]
