"""Kafka in KRaft mode: one combined broker + controller on each of the brokers (the first
settings.kafka.brokers agents), static quorum. Its restart handler and gates are declared here once;
the standalone platform runs brokers as systemd units, the mesos platform as Marathon apps."""

from __future__ import annotations

import base64
import re
import shlex
import uuid
from collections.abc import Sequence

from contract import Cluster, Node
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Gate, Handler, Op, RemoteFor, gate_group
from roles.engine.ops import (
    artifact_op,
    directory_op,
    file_op,
    probed,
    service_op,
    source,
    unit_handler,
    unpack_op,
    user_op,
)
from roles.engine.placement import FIRST_BROKER, first_node
from roles.engine.spec import DeploySpec
from roles.engine.templates import render
from roles.errors import OperationError

CLIENT_PORT = 9092
CONTROLLER_PORT = 9093
DATA_DIR = "/var/lib/kafka/data"
CONFIG = "/etc/kafka/server.properties"
UNIT = "kafka.service"
HANDLER = "restart-kafka"


def libs_dir(spec: DeploySpec) -> str:
    return f"/opt/kafka/{spec.versions.kafka}"


def node_id(node: Node) -> int:
    return node.index + 1


def cluster_id(inventory: Cluster) -> str:
    """Stable per cluster name: re-running never needs state, and two clusters never share an id."""
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"fastdata:{inventory.name}").bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def voters(inventory: Cluster) -> str:
    return ",".join(f"{node_id(a)}@{a.private_ip}:{CONTROLLER_PORT}" for a in inventory.brokers)


def bootstrap_servers(inventory: Cluster) -> str:
    return ",".join(f"{a.private_ip}:{CLIENT_PORT}" for a in inventory.brokers)


def server_properties(spec: DeploySpec, inventory: Cluster, node: Node) -> str:
    k = spec.kafka
    return render(
        "kafka-server.properties",
        node=node.name,
        node_id=node_id(node),
        voters=voters(inventory),
        ip=node.private_ip,
        partitions=k.partitions,
        replication=k.replication_factor,  # at most the broker count (contract/settings.py checks)
        min_isr=k.min_insync_replicas,
        # Kafka's internal topics (offsets, transactions): 3 replicas, or every broker when fewer.
        internal_replication=min(3, k.brokers),
        internal_min_isr=min(2, k.brokers),
    )


def parse_meta_properties(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def storage_op(spec: DeploySpec, inventory: Cluster, node: Node) -> Op:
    """Storage formatted once: meta.properties present with this cluster's id and this node's id."""
    cid, nid = cluster_id(inventory), node_id(node)
    meta = f"{DATA_DIR}/meta.properties"

    def judge(res: RunResult) -> Check:
        props = parse_meta_properties(res.stdout)
        if not props:
            return Check(False, "storage not formatted")
        if props.get("cluster.id") != cid or props.get("node.id") != str(nid):
            return Check(
                False, f"formatted for cluster {props.get('cluster.id')} node {props.get('node.id')}"
            )
        return Check(True, f"formatted for cluster {cid}")

    def apply(r: Remote) -> None:
        existing = parse_meta_properties(r.run(f"cat {meta} 2>/dev/null || true").stdout)
        if existing:
            # Never reformat a data directory that belongs to something else: that deletes data.
            raise OperationError(
                f"{node.name}: {DATA_DIR} is formatted for cluster {existing.get('cluster.id')} node "
                f"{existing.get('node.id')}, expected {cid} node {nid}; move it away by hand if that data "
                "is disposable, then re-run"
            )
        r.run(
            f"runuser -u kafka -- java -Xmx256m -cp {shlex.quote(libs_dir(spec) + '/*')} "
            f"kafka.tools.StorageTool format -t {cid} -c {CONFIG}",
            timeout=120,
        )

    return probed(
        "kafka-storage",
        f"Kafka storage on {node.name} formatted (cluster {cid}, node {nid})",
        f"cat {meta} 2>/dev/null || true",
        judge,
        apply,
    )


def broker_argv(spec: DeploySpec) -> list[str]:
    """The broker's command line: the systemd unit (standalone) and the Marathon app (mesos) run the same."""
    heap = spec.kafka.heap
    return [
        "/usr/bin/java",
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        "-Dkafka.logs.dir=/var/log/kafka",
        "-Dlog4j.configuration=file:/etc/kafka/log4j.properties",
        "-cp",
        f"{libs_dir(spec)}/*",
        "kafka.Kafka",
        CONFIG,
    ]


def node_ops(spec: DeploySpec, inventory: Cluster, node: Node, notify: Sequence[str]) -> list[Op]:
    """What a broker needs on its node, whoever runs it: user, directories, jars, config files.
    `notify`: the restarts to queue when the jars or a config change (the standalone systemd unit; on
    mesos the Marathon app carries a digest of these files instead, see roles/packages/marathon.py)."""
    art = spec.artifact("kafka")
    return [
        user_op("kafka-user", "kafka", "/var/lib/kafka"),
        directory_op("kafka-home", "/var/lib/kafka", owner="kafka", mode=0o750),
        directory_op("kafka-data", DATA_DIR, owner="kafka", mode=0o750),
        directory_op("kafka-logs", "/var/log/kafka", owner="kafka", mode=0o750),
        artifact_op("kafka-artifact", art, source(spec, node)),
        unpack_op("kafka-libs", art, libs_dir(spec), notify=notify),
        file_op(
            "kafka-config",
            f"Kafka config for node {node_id(node)} on {node.name}",
            CONFIG,
            server_properties(spec, inventory, node),
            notify=notify,
        ),
        file_op(
            "kafka-log4j",
            f"Kafka logging config on {node.name}",
            "/etc/kafka/log4j.properties",
            render("kafka-log4j.properties", level="INFO"),
            notify=notify,
        ),
    ]


def plan_broker(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """A broker as a systemd unit (the standalone platform)."""
    unit = render(
        "kafka.service",
        version=spec.versions.kafka,
        node_id=node_id(node),
        command=" ".join(broker_argv(spec)),
    )
    return [
        *node_ops(spec, inventory, node, [HANDLER]),
        file_op(
            "kafka-unit",
            f"Kafka systemd unit on {node.name}",
            f"/etc/systemd/system/{UNIT}",
            unit,
            notify=[HANDLER],
        ),
        storage_op(spec, inventory, node),
        service_op("kafka-running", UNIT, f"Kafka broker {node.name} running", satisfies=[HANDLER]),
    ]


def plan_tools(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """The admin tools' logging config where the gates and the demo topic run them."""
    return [tools_log4j_op()]


# --- health (run on a broker: the brokers' addresses are private) ---------------------------------------


def tool(spec: DeploySpec, main_class: str, args: str) -> str:
    return (
        f"java -Xmx256m -Dlog4j.configuration=file:/etc/kafka/log4j-tools.properties "
        f"-cp {shlex.quote(libs_dir(spec) + '/*')} {main_class} {args}"
    )


def parse_quorum_status(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def quorum_check(expected_voters: int, text: str) -> Check:
    st = parse_quorum_status(text)
    leader = st.get("LeaderId", "-1")
    voters_field = st.get("CurrentVoters", "")
    count = len(re.findall(r'"id":\s*\d+|\b\d+\b', voters_field.split("]")[0])) if voters_field else 0
    if "{" in voters_field:  # 3.9 prints [{"id": 1, ...}, ...]
        count = len(re.findall(r'"id":\s*\d+', voters_field))
    if leader in ("", "-1"):
        return Check(False, "no controller leader elected")
    if count != expected_voters:
        return Check(False, f"{count} voters, want {expected_voters}")
    return Check(True, f"leader {leader}, {count} voters")


def broker_ids(text: str) -> set[int]:
    """Broker ids from BrokerApiVersionsCommand output lines `host:9092 (id: 1 rack: null) -> (`."""
    return {int(m) for m in re.findall(r"\(id: (\d+) rack:", text)}


def tools_log4j_op() -> Op:
    return file_op(
        "kafka-tools-log4j",
        "Kafka CLI logging config",
        "/etc/kafka/log4j-tools.properties",
        "log4j.rootLogger=WARN, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stderr.Target=System.err\n"
        "log4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n\n",
    )


def _admin(
    spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor, main_class: str, args: str
) -> RunResult | Check:
    """A Kafka admin tool run on the first broker, once every broker's client port accepts connections.

    Gates poll while the brokers start; until the ports are open a shell check answers, not a JVM (each
    tool run costs about 2 CPU-seconds, which the starting brokers need on a small machine)."""
    r = remote_for(first_node(inventory, FIRST_BROKER))
    check_ports = "; ".join(
        f"timeout 2 bash -c '</dev/tcp/{a.private_ip}/{CLIENT_PORT}' 2>/dev/null || echo {a.private_ip}"
        for a in inventory.brokers
    )
    closed = r.run(check_ports, check=False, timeout=30).stdout.split()
    if closed:
        return Check(False, f"port {CLIENT_PORT} not accepting connections yet on {', '.join(closed)}")
    return r.run(
        tool(spec, main_class, f"--bootstrap-server {bootstrap_servers(inventory)} {args}"),
        check=False,
        timeout=60,
    )


def probe_quorum(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    out = _admin(
        spec, inventory, remote_for, "org.apache.kafka.tools.MetadataQuorumCommand", "describe --status"
    )
    if isinstance(out, Check):
        return out
    if not out.ok:
        return Check(
            False, f"kafka-metadata-quorum exit {out.exit_code}: {(out.stderr or out.stdout)[-200:]}"
        )
    return quorum_check(len(inventory.brokers), out.stdout)


def probe_brokers(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    out = _admin(spec, inventory, remote_for, "kafka.admin.BrokerApiVersionsCommand", "")
    if isinstance(out, Check):
        return out
    want = {node_id(a) for a in inventory.brokers}
    have = broker_ids(out.stdout)
    if have != want:
        return Check(False, f"brokers registered {sorted(have)}, want {sorted(want)}")
    return Check(True, f"{len(have)} brokers registered")


def probe_under_replicated(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    out = _admin(
        spec,
        inventory,
        remote_for,
        "org.apache.kafka.tools.TopicCommand",
        "--describe --under-replicated-partitions",
    )
    if isinstance(out, Check):
        return out
    if not out.ok:
        return Check(False, f"kafka-topics exit {out.exit_code}: {(out.stderr or out.stdout)[-200:]}")
    lines = [x for x in out.stdout.splitlines() if x.strip()]
    return Check(not lines, f"{len(lines)} under-replicated partitions" if lines else "none under-replicated")


def broker_listening(r: Remote) -> Check:
    """Per-host health after a restart: the unit is active and the client port accepts connections."""
    ip = r.node.private_ip
    state = r.run(
        f"systemctl is-active {UNIT}; timeout 2 bash -c '</dev/tcp/{ip}/{CLIENT_PORT}' && echo open",
        check=False,
    ).stdout.split()
    ok = state[:1] == ["active"] and "open" in state
    return Check(
        ok,
        f"{UNIT} {state[0] if state else '?'}, port {CLIENT_PORT} {'open' if 'open' in state else 'closed'}",
    )


def handler() -> Handler:
    """The broker unit's restart: rolling, one broker at a time, so the quorum and ISR hold."""
    return unit_handler(HANDLER, "Kafka broker restarted (rolling)", UNIT, broker_listening, rolling=True)


def gates(layer: str, after_phase: str) -> tuple[Gate, ...]:
    """Kafka's readiness, on whichever platform runs the brokers: quorum, registrations, replication."""
    return gate_group(
        layer,
        after_phase,
        ("Kafka controller quorum formed", probe_quorum, 180),
        ("all Kafka brokers registered", probe_brokers, 120),
        ("no under-replicated partitions", probe_under_replicated, 180),
    )
