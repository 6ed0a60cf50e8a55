"""Kafka in KRaft mode (3.9.x or 4.x): a broker on each of the first settings.kafka.brokers agents; the
first settings.kafka.controllers of them are also KRaft controllers (a fixed set: adding or removing agents
changes brokers only). New clusters use a dynamic quorum (KIP-853: controller.quorum.bootstrap.servers,
storage formatted with --initial-controllers; a controller re-created with an empty disk re-joins with a new
directory id: storage_op, voter_op); clusters formatted with a static quorum keep it
(settings.kafka.quorum: static). Its restart handler, gates, upgrade guard and metadata finalization are
declared here once; the standalone platform runs brokers as systemd units, the mesos platform as Marathon
apps. Version rules: roles/packages/kafka_upgrade.py."""

from __future__ import annotations

import base64
import json
import re
import shlex
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from contract import Cluster, Node
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Gate, Handler, Op, RemoteFor, gate_group
from roles.engine.ops import (
    artifact_op,
    directory_op,
    file_op,
    parse_running,
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
from roles.packages import kafka_upgrade as upgrade

CLIENT_PORT = 9092
CONTROLLER_PORT = 9093
DATA_DIR = "/var/lib/kafka/data"
CONFIG = "/etc/kafka/server.properties"
UNIT = "kafka.service"
HANDLER = "restart-kafka"
RUN_AS_KAFKA = "runuser -u kafka -- "  # storage is formatted as the broker's user (it owns DATA_DIR)


LIBS_ROOT = "/opt/kafka"  # one directory per version, side by side: /opt/kafka/<version>
LOG4J_CONFIG = "/etc/kafka/log4j.properties"  # 3.x brokers (reload4j)
LOG4J2_CONFIG = "/etc/kafka/log4j2.properties"  # 4.x brokers (Log4j 2)
TOOLS_LOG4J_CONFIG = "/etc/kafka/log4j-tools.properties"
TOOLS_LOG4J2_CONFIG = "/etc/kafka/log4j2-tools.properties"


def libs_dir(spec: DeploySpec) -> str:
    return f"{LIBS_ROOT}/{spec.versions.kafka}"


def is_4x(version: str) -> bool:
    return upgrade.major(version) >= 4


def node_id(node: Node) -> int:
    return node.index + 1


# --- who is what (the scale-out/drain work relies on these names) ----------------------------------------


def brokers(inventory: Cluster) -> list[Node]:
    """The agents that run a broker: the first settings.kafka.brokers agents."""
    return inventory.brokers


def controllers(inventory: Cluster) -> list[Node]:
    """The brokers that are also KRaft controllers: the first settings.kafka.controllers brokers."""
    return inventory.controllers


def broker_only(inventory: Cluster) -> list[Node]:
    """The brokers that are not controllers (process.roles=broker)."""
    ids = {n.name for n in inventory.controllers}
    return [n for n in inventory.brokers if n.name not in ids]


def is_controller(inventory: Cluster, node: Node) -> bool:
    return any(n.name == node.name for n in inventory.controllers)


def process_roles(inventory: Cluster, node: Node) -> str:
    return "broker,controller" if is_controller(inventory, node) else "broker"


def rolling_order(inventory: Cluster) -> list[Node]:
    """The order nodes restart in when Kafka's version changes: the KRaft controllers first, then the
    other brokers (Confluent's KRaft upgrade order, https://docs.confluent.io/operator/current/co-upgrading.html;
    Apache's upgrade notes only say "one at a time"), each in node-id order. Controllers are the first
    brokers, so this is also the inventory order, which is the order the executor runs rolling restarts in."""
    return [*controllers(inventory), *broker_only(inventory)]


# --- tool class names that moved in 4.0 (the Scala kafka.admin.* commands became Java tools) -------------


def config_command(spec: DeploySpec) -> str:
    if is_4x(spec.versions.kafka):
        return "org.apache.kafka.tools.ConfigCommand"
    return "kafka.admin.ConfigCommand"


def broker_api_versions_command(version: str) -> str:
    if is_4x(version):
        return "org.apache.kafka.tools.BrokerApiVersionsCommand"
    return "kafka.admin.BrokerApiVersionsCommand"


def cluster_id(inventory: Cluster) -> str:
    """Stable per cluster name: re-running never needs state, and two clusters never share an id."""
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"fastdata:{inventory.name}").bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def voters(inventory: Cluster) -> str:
    """controller.quorum.voters of a static quorum: the controllers."""
    return ",".join(f"{node_id(a)}@{a.private_ip}:{CONTROLLER_PORT}" for a in controllers(inventory))


def controller_bootstrap(inventory: Cluster) -> str:
    """controller.quorum.bootstrap.servers of a dynamic quorum (KIP-853)."""
    return ",".join(f"{a.private_ip}:{CONTROLLER_PORT}" for a in controllers(inventory))


def directory_id(inventory: Cluster, node: Node) -> str:
    """The metadata log directory id of an initial controller, fixed per cluster and node so that every
    controller is formatted with the same --initial-controllers value without sharing state (Kafka's Uuid
    form: 16 bytes, URL-safe base64 without padding; no leading '-', as Kafka's own random ids)."""
    salt = 0
    while True:
        raw = uuid.uuid5(uuid.NAMESPACE_URL, f"fastdata:{inventory.name}:directory:{node_id(node)}:{salt}")
        text = base64.urlsafe_b64encode(raw.bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text
        salt += 1


def initial_controllers(inventory: Cluster) -> str:
    """`kafka-storage format --initial-controllers`: id@host:port:directoryId of every initial controller."""
    return ",".join(
        f"{node_id(a)}@{a.private_ip}:{CONTROLLER_PORT}:{directory_id(inventory, a)}"
        for a in controllers(inventory)
    )


def bootstrap_servers(inventory: Cluster) -> str:
    return ",".join(f"{a.private_ip}:{CLIENT_PORT}" for a in inventory.brokers)


# Broker configs 4.0 removed (upgrade notes 4.0.0): never rendered, and refused by a unit test.
REMOVED_IN_4 = (
    "log.message.format.version",
    "message.format.version",
    "offsets.commit.required.acks",
    "log.message.timestamp.difference.max.ms",
    "delegation.token.master.key",
    "metrics.jmx.blacklist",
    "metrics.jmx.whitelist",
    "auto.include.jmx.reporter",
)


def server_properties(spec: DeploySpec, inventory: Cluster, node: Node) -> str:
    k = spec.kafka
    controller = is_controller(inventory, node)
    if k.quorum == "static":
        quorum = f"controller.quorum.voters={voters(inventory)}"
    else:
        quorum = f"controller.quorum.bootstrap.servers={controller_bootstrap(inventory)}"
    listeners = f"PLAINTEXT://{node.private_ip}:{CLIENT_PORT}"
    if controller:
        listeners += f",CONTROLLER://{node.private_ip}:{CONTROLLER_PORT}"
    internal_replication, internal_min_isr = min(3, k.brokers), min(2, k.brokers)
    internal_4x = ""
    if is_4x(spec.versions.kafka):
        # Share groups (production-ready in 4.2) keep their state in an internal topic that defaults to 3
        # replicas / min.isr 2: with fewer brokers it must be lowered (upgrade notes 4.2.0).
        internal_4x = (
            f"share.coordinator.state.topic.replication.factor={internal_replication}\n"
            f"share.coordinator.state.topic.min.isr={internal_min_isr}\n"
        )
    return render(
        "kafka-server.properties",
        node=node.name,
        what="broker + controller" if controller else "broker",
        roles=process_roles(inventory, node),
        node_id=node_id(node),
        quorum=quorum,
        listeners=listeners,
        ip=node.private_ip,
        data_dir=DATA_DIR,
        partitions=k.partitions,
        replication=k.replication_factor,  # at most the broker count (contract/settings.py checks)
        min_isr=k.min_insync_replicas,
        # Kafka's internal topics (offsets, transactions): 3 replicas, or every broker when fewer.
        internal_replication=internal_replication,
        internal_min_isr=internal_min_isr,
        internal_4x=internal_4x,
    )


def format_flags(spec: DeploySpec, inventory: Cluster, node: Node, joining: bool = False) -> str:
    """How `kafka-storage format` is told the quorum (hdfs-spark-kafka4.md C.2).

    A static quorum is in the config. In a dynamic one a controller of a new cluster gets
    --initial-controllers (the same value on each, so one formatted later than the others - a first deploy
    interrupted before it, while no other controller runs yet - becomes the voter the others list). A
    controller `joining` a quorum that already answers (storage_op decides, see joins_existing_quorum: its
    node was re-created with an empty disk, or a first deploy stopped after the others started) gets
    --no-initial-controllers, i.e. a fresh random directory id: it starts as an observer and voter_op makes
    it a voter in place of the old directory id, as KIP-853 intends - formatted with its original id it could
    vote without the log it had and lose committed metadata. A broker-only node gets --no-initial-controllers
    on 3.9 (its docs) and no flag on 4.x (kraft.md)."""
    if spec.kafka.quorum == "static":
        return ""
    if is_controller(inventory, node):
        if joining:
            return " --no-initial-controllers"
        return f" --initial-controllers {initial_controllers(inventory)}"
    return "" if is_4x(spec.versions.kafka) else " --no-initial-controllers"


def parse_meta_properties(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def meta_path() -> str:
    return f"{DATA_DIR}/meta.properties"


def storage_op(spec: DeploySpec, inventory: Cluster, node: Node) -> Op:
    """Storage formatted once: meta.properties present with this cluster's id and this node's id. A
    controller of a dynamic quorum is formatted to re-join the quorum when another controller's quorum
    answers (format_flags, joins_existing_quorum)."""
    cid, nid = cluster_id(inventory), node_id(node)
    meta = meta_path()
    rejoinable = rejoins_by_format(spec, inventory, node)
    # Unformatted: which other controllers run (a TCP connect each, no JVM), so that `plan` can say how
    # the node will be formatted; apply asks their quorum before deciding.
    probe = f"cat {meta} 2>/dev/null || true"
    if rejoinable:
        probe = (
            f"if [ -f {meta} ]; then cat {meta}; else echo {LISTEN_MARK}; "
            f"{listening_probe(other_controllers(inventory, node))}; fi"
        )

    def judge(res: RunResult) -> Check:
        text, _, listening_text = res.stdout.partition(LISTEN_MARK)
        props = parse_meta_properties(text)
        if not props:
            if not rejoinable:
                return Check(False, "storage not formatted")
            listening = parse_listening(listening_text)
            if listening:
                return Check(
                    False,
                    f"storage not formatted while the controllers at {', '.join(listening)} run: formatted "
                    "with --no-initial-controllers (a new directory id) if their quorum answers, then it "
                    "re-joins as a voter",
                )
            return Check(
                False, "storage not formatted, no other controller runs: formatted with --initial-controllers"
            )
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
        joining = rejoinable and joins_existing_quorum(spec, inventory, node, r)
        flags = format_flags(spec, inventory, node, joining)
        r.run(
            f"{RUN_AS_KAFKA}java -Xmx256m -cp {shlex.quote(libs_dir(spec) + '/*')} "
            f"kafka.tools.StorageTool format -t {cid} -c {CONFIG}{flags}",
            timeout=120,
        )

    return probed(
        "kafka-storage",
        f"Kafka storage on {node.name} formatted (cluster {cid}, node {nid})",
        probe,
        judge,
        apply,
    )


def logging_ops(spec: DeploySpec, node: Node, notify: Sequence[str]) -> list[Op]:
    """The broker's and the CLI tools' logging config in the format the version's logging library reads:
    Log4j 1 properties through reload4j on 3.x, Log4j 2 properties on 4.x (a Log4j 1 file would only run
    through Log4j 2's limited compatibility layer, with a deprecation warning)."""
    if is_4x(spec.versions.kafka):
        broker = (LOG4J2_CONFIG, render("kafka-log4j2.properties", level="INFO", target="SYSTEM_OUT"))
        tools = (TOOLS_LOG4J2_CONFIG, render("kafka-log4j2.properties", level="WARN", target="SYSTEM_ERR"))
    else:
        broker = (LOG4J_CONFIG, render("kafka-log4j.properties", level="INFO"))
        tools = (TOOLS_LOG4J_CONFIG, TOOLS_LOG4J1)
    return [
        file_op("kafka-log4j", f"Kafka logging config on {node.name}", broker[0], broker[1], notify=notify),
        file_op("kafka-tools-log4j", "Kafka CLI logging config", tools[0], tools[1]),
    ]


def logging_flag(version: str, tools: bool = False) -> str:
    if is_4x(version):
        return f"-Dlog4j2.configurationFile={TOOLS_LOG4J2_CONFIG if tools else LOG4J2_CONFIG}"
    return f"-Dlog4j.configuration=file:{TOOLS_LOG4J_CONFIG if tools else LOG4J_CONFIG}"


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
        logging_flag(spec.versions.kafka),
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
        *logging_ops(spec, node, notify),
    ]


def plan_broker(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """A broker as a systemd unit (the standalone platform)."""
    unit = render(
        "kafka.service",
        version=spec.versions.kafka,
        what="broker + KRaft controller" if is_controller(inventory, node) else "broker",
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
        current_op(spec, inventory, node),
        # a controller re-created with an empty disk: a voter again once it caught up (KIP-853)
        *plan_voter(spec, inventory, node),
    ]


# --- what the node runs (read from the node, so an interrupted rolling restart resumes) -------------------

# `<running version> <process start epoch> <newest config mtime>`: the version from the running JVM's
# classpath (/opt/kafka/<v>/*), empty fields when the broker is not running.
RUNNING_FACTS = (
    f"pid=$(systemctl show -p MainPID --value {UNIT} 2>/dev/null); "
    'if [ -n "$pid" ] && [ "$pid" != 0 ] && [ -r /proc/$pid/cmdline ]; then '
    f"v=$(tr '\\0' '\\n' < /proc/$pid/cmdline | sed -n 's|^{LIBS_ROOT}/\\([^/]*\\)/\\*$|\\1|p' | head -1); "
    'start=$(( $(date +%s) - $(ps -o etimes= -p "$pid") )); '
    f"newest=$(stat -c %Y {CONFIG} {LOG4J_CONFIG} {LOG4J2_CONFIG} /etc/systemd/system/{UNIT} 2>/dev/null "
    "| sort -n | tail -1); "
    'echo "$v $start $newest"; fi; true'
)


def upgrade_step(inventory: Cluster, node: Node) -> str:
    order = rolling_order(inventory)
    i = next(i for i, n in enumerate(order) if n.name == node.name)
    role = "controller" if is_controller(inventory, node) else "broker"
    return f"rolling step {i + 1} of {len(order)}, {role}"


def current_op(spec: DeploySpec, inventory: Cluster, node: Node) -> Op:
    """The running broker is the deployed one: the target version's jars, started after its config files
    last changed. Otherwise its (rolling, health-gated) restart is queued. The fact is read from the node
    on every run, so a deploy interrupted halfway through a rolling upgrade re-queues exactly the brokers
    that still run the old version or config, never one already restarted."""
    target = spec.versions.kafka
    queued: set[str] = set()  # this run's queued restart (the handler runs it at the end of the phase)

    def judge(res: RunResult) -> Check:
        if node.name in queued:
            return Check(True, f"restart onto {target} queued ({upgrade_step(inventory, node)})")
        running = parse_running(res.stdout)
        if running is None:
            return Check(False, f"no broker process found: restart queued ({upgrade_step(inventory, node)})")
        version, started, newest = running
        if version != target:
            return Check(False, f"runs {version}: upgrade to {target} ({upgrade_step(inventory, node)})")
        if newest > started:
            return Check(False, "its config changed after it started: restart queued")
        return Check(True, f"runs {target}, started after its last config change")

    def apply(r: Remote) -> None:
        queued.add(node.name)

    return probed(
        "kafka-current",
        f"Kafka broker {node.name} runs {target} with its current config",
        RUNNING_FACTS,
        judge,
        apply,
        notify=(HANDLER,),
    )


# --- health (run on a broker: the brokers' addresses are private) ---------------------------------------


def tool(spec: DeploySpec, main_class: str, args: str) -> str:
    """A Kafka CLI tool of the deployed version (its jars, its logging config) on a broker."""
    return tool_at(spec.versions.kafka, main_class, args)


def tool_at(version: str, main_class: str, args: str) -> str:
    return (
        f"java -Xmx256m {logging_flag(version, tools=True)} "
        f"-cp {shlex.quote(f'{LIBS_ROOT}/{version}/*')} {main_class} {args}"
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


TOOLS_LOG4J1 = (
    "log4j.rootLogger=WARN, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\n"
    "log4j.appender.stderr.Target=System.err\n"
    "log4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n"
    "log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
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
    return quorum_check(len(controllers(inventory)), out.stdout)


def probe_brokers(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    out = _admin(spec, inventory, remote_for, broker_api_versions_command(spec.versions.kafka), "")
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


def broker_rejoined(r: Remote) -> Check:
    """Per-host health after a restart (cp-ansible's rolling pattern): the unit is active, the client port
    open, this broker registered again and no partition under-replicated - so the next broker may go down.
    Run with the tools of the version the broker now runs, against the broker itself."""
    listening = broker_listening(r)
    if not listening.ok:
        return listening
    facts = r.run(f"{RUNNING_FACTS}; sed -n 's/^node.id=//p' {CONFIG}", check=False).stdout.split()
    running = parse_running(" ".join(facts[:3]))
    nid = facts[3] if len(facts) > 3 else ""
    if running is None or not nid.isdigit():
        return Check(False, "broker process or node.id not found")
    version = running[0]
    bootstrap = f"--bootstrap-server {r.node.private_ip}:{CLIENT_PORT}"
    out = r.run(tool_at(version, broker_api_versions_command(version), bootstrap), check=False, timeout=60)
    if int(nid) not in broker_ids(out.stdout):
        return Check(False, f"broker {nid} ({version}) not registered yet")
    urp = r.run(
        tool_at(
            version,
            "org.apache.kafka.tools.TopicCommand",
            f"{bootstrap} --describe --under-replicated-partitions",
        ),
        check=False,
        timeout=60,
    )
    if not urp.ok:
        return Check(False, f"kafka-topics exit {urp.exit_code}: {(urp.stderr or urp.stdout)[-200:]}")
    lines = [x for x in urp.stdout.splitlines() if x.strip()]
    if lines:
        return Check(False, f"broker {nid} ({version}) registered, {len(lines)} partitions under-replicated")
    return Check(True, f"broker {nid} runs {version}, registered, none under-replicated")


def handler() -> Handler:
    """The broker unit's restart: rolling, one broker at a time in inventory order (controllers first,
    see rolling_order), each gated on broker_rejoined, so the quorum and the ISRs hold."""
    return unit_handler(
        HANDLER, "Kafka broker restarted (rolling)", UNIT, broker_rejoined, rolling=True, timeout=300
    )


def gates(layer: str, after_phase: str) -> tuple[Gate, ...]:
    """Kafka's readiness, on whichever platform runs the brokers: quorum, registrations, replication."""
    return gate_group(
        layer,
        after_phase,
        ("Kafka controller quorum formed", probe_quorum, 180),
        ("all Kafka brokers registered", probe_brokers, 120),
        ("no under-replicated partitions", probe_under_replicated, 180),
    )


# --- a controller re-created with an empty disk re-joins the quorum (KIP-853; hdfs-spark-kafka4.md C.2) ----

QUORUM_COMMAND = "org.apache.kafka.tools.MetadataQuorumCommand"
LISTEN_MARK = "@@fastdata-listening"
QUORUM_MARK = "@@fastdata-quorum"
META_MARK = "@@fastdata-meta"
# `describe` waits 60 s (the admin client's default.api.timeout.ms) when no leader answers: bounded below
# the executor's 120 s batch probe.
DESCRIBE_TIMEOUT = 45
QUORUM_WAIT = 90.0  # storage_op: how long other controllers may listen without a leader answering
REJOIN_TIMEOUT = 300.0  # voter_op: the new controller catching up and becoming a voter
# "Caught up" for voter_op: at most this many records behind the leader in `describe --replication`. Not 0:
# the leader appends a NoOpRecord every metadata.max.idle.interval.ms (500 ms), so a live observer is often
# a record or two behind when sampled; add-controller checks the catch-up itself (REQUEST_TIMED_OUT, retried).
CAUGHT_UP_LAG = 10
POLL = 5.0


@dataclass(frozen=True)
class Voter:
    node_id: int
    directory_id: str | None  # None when Kafka prints no directory id (a static quorum)


@dataclass(frozen=True)
class Replica:
    """A row of `kafka-metadata-quorum describe --replication`."""

    node_id: int
    directory_id: str
    log_end_offset: int
    lag: int
    status: str  # Leader, Follower or Observer


@dataclass(frozen=True)
class QuorumFacts:
    """What a controller sees of the other controllers: who accepts connections on the controller port, and
    their quorum's `describe --status` (empty when none listens or the node has no Kafka tools yet)."""

    listening: tuple[str, ...]
    status: str

    @property
    def voters(self) -> list[Voter] | None:
        return parse_voters(self.status)

    @property
    def leader(self) -> int | None:
        leader = parse_quorum_status(self.status).get("LeaderId", "")
        return int(leader) if leader.isdigit() else None


def rejoins_by_format(spec: DeploySpec, inventory: Cluster, node: Node) -> bool:
    """Whether an unformatted `node` may join an existing quorum: a controller of a dynamic quorum with other
    controllers. A static quorum's voter set cannot change (a wiped controller is formatted from its
    config again, as before KIP-853); a single controller has no quorum to join."""
    return (
        spec.kafka.quorum == "dynamic"
        and is_controller(inventory, node)
        and bool(other_controllers(inventory, node))
    )


def other_controllers(inventory: Cluster, node: Node) -> list[Node]:
    return [n for n in controllers(inventory) if n.name != node.name]


def controller_endpoints(nodes: Sequence[Node]) -> str:
    return ",".join(f"{n.private_ip}:{CONTROLLER_PORT}" for n in nodes)


def listening_probe(nodes: Sequence[Node]) -> str:
    """Shell: `listening=<ip>` for each of `nodes` whose controller port accepts a connection."""
    checks = [
        f"timeout 2 bash -c '</dev/tcp/{ip}/{CONTROLLER_PORT}' 2>/dev/null && echo listening={ip}"
        for ip in (n.private_ip for n in nodes)
    ]
    return "; ".join([*checks, "true"])


def parse_listening(text: str) -> tuple[str, ...]:
    return tuple(line.split("=", 1)[1] for line in text.split() if line.startswith("listening="))


def quorum_command(spec: DeploySpec, inventory: Cluster, node: Node, args: str) -> str:
    """kafka-metadata-quorum run on `node` against the OTHER controllers (`node` itself may be an observer,
    or not running yet), bounded by DESCRIBE_TIMEOUT."""
    bootstrap = controller_endpoints(other_controllers(inventory, node))
    return f"timeout {DESCRIBE_TIMEOUT} " + tool(
        spec, QUORUM_COMMAND, f"--bootstrap-controller {bootstrap} {args}"
    )


def quorum_probe(spec: DeploySpec, inventory: Cluster, node: Node) -> str:
    """Shell, read-only: the other controllers that listen, then (after QUORUM_MARK) their quorum's
    `describe --status` when one listens and this node has the tools (in `plan` a new node has none)."""
    return (
        f'l=$({listening_probe(other_controllers(inventory, node))}); echo "$l"; echo {QUORUM_MARK}; '
        f'if [ -n "$l" ] && [ -d {shlex.quote(libs_dir(spec))} ]; then '
        f"{quorum_command(spec, inventory, node, 'describe --status')} 2>&1; fi; true"
    )


def parse_quorum_facts(text: str) -> QuorumFacts:
    listening, _, status = text.partition(QUORUM_MARK)
    return QuorumFacts(parse_listening(listening), status.strip())


def parse_voters(text: str) -> list[Voter] | None:
    """CurrentVoters of `describe --status` (JSON objects with id and directoryId on 3.9+ and 4.x), None
    when the output has no such line (no leader answered)."""
    field = parse_quorum_status(text).get("CurrentVoters", "")
    try:
        data = json.loads(field) if field.startswith("[") else None
    except ValueError:
        return None
    if not isinstance(data, list):
        return None
    voters = []
    for item in data:
        if isinstance(item, int):
            voters.append(Voter(item, None))
        elif isinstance(item, dict) and isinstance(item.get("id"), int):
            directory = item.get("directoryId")
            voters.append(Voter(item["id"], directory if isinstance(directory, str) else None))
    return voters


def parse_replication(text: str) -> list[Replica]:
    """The rows of `describe --replication`: NodeId DirectoryId LogEndOffset Lag LastFetchTimestamp
    LastCaughtUpTimestamp Status (tab-separated on 4.4.0; the header and any log line are skipped)."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 7 and parts[0].isdigit() and all(p.lstrip("-").isdigit() for p in parts[2:4]):
            rows.append(Replica(int(parts[0]), parts[1], int(parts[2]), int(parts[3]), parts[6]))
    return rows


def format_decision(facts: QuorumFacts) -> str:
    """How an unformatted controller of a dynamic quorum is formatted: "join" when the other controllers'
    quorum answers with its voters (--no-initial-controllers: a new directory id, then voter_op), "initial"
    when no other controller accepts connections (a new cluster, or a first deploy interrupted before any
    controller started: --initial-controllers), "unknown" when one listens but no leader answered (the
    quorum is electing, or has lost its majority: formatting now could make an empty log a voter)."""
    if facts.voters:
        return "join"
    if not facts.listening:
        return "initial"
    return "unknown"


def joins_existing_quorum(spec: DeploySpec, inventory: Cluster, node: Node, r: Remote) -> bool:
    """storage_op's decision, asked of the other controllers right before formatting; waits up to
    QUORUM_WAIT while they listen without a leader, then refuses rather than guess."""
    deadline = time.monotonic() + QUORUM_WAIT
    while True:
        facts = parse_quorum_facts(
            r.run(quorum_probe(spec, inventory, node), check=False, timeout=120).stdout
        )
        decision = format_decision(facts)
        if decision != "unknown":
            return decision == "join"
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    flags = format_flags(spec, inventory, node)
    raise OperationError(
        f"{node.name}: its storage is not formatted and the controllers at {', '.join(facts.listening)} "
        f"accept connections, but no quorum leader answered `kafka-metadata-quorum describe --status` within "
        f"{QUORUM_WAIT:.0f}s ({facts.status[-300:] or 'no output'}). Nothing was formatted: as an initial "
        "controller it could vote with an empty log and lose committed metadata. If the quorum lost its "
        "majority, bring the other controllers back first, then re-run deploy. If this is a first deploy "
        "that stopped after some controllers started but before this one was formatted, format it by hand "
        f"with `{RUN_AS_KAFKA}java -cp '{libs_dir(spec)}/*' kafka.tools.StorageTool format "
        f"-t {cluster_id(inventory)} -c {CONFIG}{flags}` and re-run ({DOCS})"
    )


def rejoin_steps(nid: int, directory: str, facts: QuorumFacts) -> tuple[list[Voter], bool]:
    """(voters to remove, whether to add `nid`/`directory`) for a controller formatted with a new directory
    id. Removed first, then added: Kafka refuses add-controller while a voter with the same node id exists
    (DuplicateVoterException, checked on 4.4.0), and a stale voter of this node id is dead - its node is the
    one now running with the new directory - so removing it leaves the live voters: 3 voters with one lost
    become 2 live ones, both needed, which tolerates no further failure, the same as 3 with one lost did;
    adding then makes 3. (Add first would, where allowed, pass through 4 voters needing 3.)"""
    voters = facts.voters
    if voters is None:
        raise OperationError(
            f"no quorum leader answered describe --status: {facts.status[-300:] or 'no output'}"
        )
    stale = [v for v in voters if v.node_id == nid and v.directory_id != directory]
    if stale and facts.leader == nid:
        raise OperationError(
            f"the quorum's leader is node {nid} with directory id {stale[0].directory_id}, while this node "
            f"runs node {nid} with directory id {directory}: another process runs with this node id. Stop it "
            "(or fix node.id), then re-run deploy; nothing was changed"
        )
    return stale, Voter(nid, directory) not in voters


def membership(spec: DeploySpec, inventory: Cluster, node: Node, meta: str, facts: QuorumFacts) -> Check:
    """voter_op's judge: the controller is a voter under its own directory id, and no voter of its node id
    with another directory id is left. A controller formatted with its initial directory id is a voter from
    its format (no JVM asked); one formatted to re-join is checked against the quorum."""
    nid = node_id(node)
    initial = directory_id(inventory, node)
    directory = parse_meta_properties(meta).get("directory.id")
    if directory == initial:
        return Check(True, f"an initial voter (directory id {initial}, formatted with --initial-controllers)")
    others = [
        n for n in facts.voters or () if not any(node_id(c) == n.node_id for c in controllers(inventory))
    ]
    # Voters of nodes the spec does not make controllers (only a by-hand change makes them): left alone -
    # removing a live one would need it shut down in the right order, and the guard refuses role changes.
    note = (
        f"; voter(s) {', '.join(str(v.node_id) for v in others)} are no controller of the spec: left alone "
        f"({DOCS})"
        if others
        else ""
    )
    stale = [v for v in facts.voters or () if v.node_id == nid and v.directory_id != directory]
    old = (
        f"the old voter {stale[0].directory_id} removed" if stale else f"the old voter of node {nid} removed"
    )
    rejoin = f"{node.name} re-joins the KRaft quorum as controller {nid}"
    if directory is None:
        if not facts.listening:
            return Check(
                False, f"storage not formatted: an initial voter of a new quorum (directory id {initial})"
            )
        return Check(
            False,
            f"storage not formatted while the controllers at {', '.join(facts.listening)} run: {rejoin} "
            f"(new directory id; {old})",
        )
    if facts.voters is None:
        return Check(
            False, f"no quorum leader answered describe --status: {facts.status[-200:] or 'no output'}"
        )
    if Voter(nid, directory) in facts.voters and not stale:
        return Check(True, f"a voter with directory id {directory}{note}")
    removed = f"; {old}" if stale else ""
    return Check(False, f"{rejoin} (new directory id {directory}{removed}){note}")


def voter_probe(spec: DeploySpec, inventory: Cluster, node: Node) -> str:
    """Shell, read-only: meta.properties, then - unless it holds the initial directory id - the quorum."""
    meta = meta_path()
    initial = directory_id(inventory, node)
    return (
        f"cat {meta} 2>/dev/null; echo {META_MARK}; "
        f"grep -qx 'directory.id={initial}' {meta} 2>/dev/null || "
        f"{{ {quorum_probe(spec, inventory, node)}; }}; true"
    )


def parse_voter_probe(text: str) -> tuple[str, QuorumFacts]:
    meta, _, rest = text.partition(META_MARK)
    return meta, parse_quorum_facts(rest)


def rejoin(spec: DeploySpec, inventory: Cluster, node: Node, r: Remote) -> None:
    """voter_op's apply (Kafka's procedure, kraft.md): wait until this controller - an observer after a
    format with --no-initial-controllers - has caught up with the metadata log (`describe --replication`:
    lag at most CAUGHT_UP_LAG), remove the voter of its node id with the old directory id, then
    `add-controller` with its own server.properties as --command-config (the tool reads node.id, the
    CONTROLLER listener and the directory id from there). Each pass reads the quorum again, so an
    interrupted run resumes where it stopped."""
    nid = node_id(node)
    directory = parse_meta_properties(r.run(f"cat {meta_path()}").stdout).get("directory.id")
    if not directory:
        raise OperationError(f"{node.name}: {meta_path()} has no directory.id; re-run deploy")
    deadline = time.monotonic() + REJOIN_TIMEOUT
    while True:
        pending = rejoin_pass(spec, inventory, node, r, directory)
        if pending is None:
            return
        if time.monotonic() >= deadline:
            bootstrap = controller_endpoints(other_controllers(inventory, node))
            raise OperationError(
                f"{node.name}: controller {nid} did not become a voter within {REJOIN_TIMEOUT:.0f}s "
                f"({pending}). Check that its broker runs ({UNIT}, or its Marathon app on mesos) and what "
                "`kafka-metadata-quorum "
                f"--bootstrap-controller {bootstrap} describe --replication` shows, then re-run deploy "
                f"({DOCS})"
            )
        time.sleep(POLL)


def rejoin_pass(spec: DeploySpec, inventory: Cluster, node: Node, r: Remote, directory: str) -> str | None:
    """One step of `rejoin`: None when the controller is a voter and no stale voter is left, else what it
    waits for or the step it just ran."""
    nid = node_id(node)

    def quorum(args: str) -> RunResult:
        return r.run(quorum_command(spec, inventory, node, args), check=False, timeout=120)

    rows = parse_replication(quorum("describe --replication").stdout)
    mine = [x for x in rows if x.node_id == nid and x.directory_id == directory]
    if not mine:
        return f"controller {nid} (directory id {directory}) not in describe --replication yet"
    if mine[0].lag > CAUGHT_UP_LAG:
        return f"controller {nid} is {mine[0].lag} records behind the leader"
    facts = parse_quorum_facts(r.run(quorum_probe(spec, inventory, node), check=False, timeout=120).stdout)
    try:
        stale, add = rejoin_steps(nid, directory, facts)
    except OperationError as exc:
        raise OperationError(f"{node.name}: {exc}") from None
    if stale:
        voter = stale[0]
        res = quorum(
            f"remove-controller --controller-id {nid} --controller-directory-id {voter.directory_id}"
        )
        return f"remove-controller {nid}/{voter.directory_id}: exit {res.exit_code} {tail_of(res)}"
    if add:
        res = quorum(f"--command-config {CONFIG} add-controller")
        return f"add-controller {nid}/{directory}: exit {res.exit_code} {tail_of(res)}"
    return None


def tail_of(res: RunResult) -> str:
    return (res.stderr.strip() or res.stdout.strip())[-300:]


def voter_op(spec: DeploySpec, inventory: Cluster, node: Node) -> Op:
    """A controller of a dynamic quorum is a voter under its own directory id (after a re-join: no voter of
    its node id with the old one is left). Read-only check; apply is `rejoin`."""
    nid = node_id(node)

    def judge(res: RunResult) -> Check:
        meta, facts = parse_voter_probe(res.stdout)
        return membership(spec, inventory, node, meta, facts)

    def apply(r: Remote) -> None:
        rejoin(spec, inventory, node, r)

    return probed(
        "kafka-voter",
        f"KRaft controller {nid} on {node.name} a voter of the quorum",
        voter_probe(spec, inventory, node),
        judge,
        apply,
    )


def plan_voter(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """voter_op where a controller can re-join (rejoins_by_format), after its broker runs."""
    return [voter_op(spec, inventory, node)] if rejoins_by_format(spec, inventory, node) else []


# --- before anything changes: the version jump and the quorum the nodes already have -------------------

DOCS = "docs/contracts.md, 'Kafka versions, the KRaft quorum and upgrades'"
QUORUM_KEYS = ("process.roles", "controller.quorum.voters", "controller.quorum.bootstrap.servers")
GUARD_FACTS = (
    f"echo running=$({RUNNING_FACTS}); "
    f"echo unit=$(sed -n 's|.* -cp {LIBS_ROOT}/\\([^/ ]*\\)/\\* .*|\\1|p' /etc/systemd/system/{UNIT} "
    "2>/dev/null | head -1); "
    f"test -f {DATA_DIR}/meta.properties && echo formatted=yes; "
    f"grep -E '^({'|'.join(k.replace('.', '[.]') for k in QUORUM_KEYS)})=' {CONFIG} 2>/dev/null; true"
)


def parse_guard_facts(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def guard(spec: DeploySpec, inventory: Cluster, node: Node, facts: dict[str, str]) -> str:
    """What deploy will do to Kafka on `node`, or an OperationError when it must not touch the node: a
    version jump Kafka does not support (downgrades included), or a quorum the spec would rewrite in a way
    Kafka does not support (static <-> dynamic by config, a changed static voter list, a changed
    controller set). Pure: `facts` is GUARD_FACTS' output, parsed."""
    target = spec.versions.kafka
    running = parse_running(facts.get("running", ""))
    deployed = [v for v in (running[0] if running else "", facts.get("unit", "")) if v]
    for version in deployed:
        reason = upgrade.refusal(version, target)
        if reason:
            raise OperationError(f"{node.name}: Kafka {reason}. Nothing was changed.")
    if facts.get("formatted") == "yes":
        quorum_guard(spec, inventory, node, facts)
    have = deployed[0] if deployed else None
    if have is None:
        return f"new broker: Kafka {target}, {process_roles(inventory, node)}, {spec.kafka.quorum} quorum"
    if have != target:
        return f"Kafka {have} -> {target}: {upgrade_step(inventory, node)}, restarted once it is its turn"
    return f"runs Kafka {target} ({process_roles(inventory, node)}, {spec.kafka.quorum} quorum)"


def quorum_guard(spec: DeploySpec, inventory: Cluster, node: Node, facts: dict[str, str]) -> None:
    has_voters = "controller.quorum.voters" in facts
    static = spec.kafka.quorum == "static"
    if has_voters and not static:
        raise OperationError(
            f"{node.name}: this cluster was formatted with a static KRaft quorum "
            f"(controller.quorum.voters={facts['controller.quorum.voters']}) but settings.kafka.quorum is "
            "dynamic; a quorum's kind is fixed at format time. Set fastdata:kafka.quorum: static to keep "
            f"it, or migrate it to dynamic (Kafka 4.1 or newer only; {DOCS}). Nothing was changed."
        )
    if not has_voters and static and "controller.quorum.bootstrap.servers" in facts:
        raise OperationError(
            f"{node.name}: this cluster runs a dynamic KRaft quorum but settings.kafka.quorum is static; "
            "Kafka cannot turn a dynamic quorum back into a static one. Set fastdata:kafka.quorum: dynamic. "
            "Nothing was changed."
        )
    if static and has_voters and facts["controller.quorum.voters"] != voters(inventory):
        raise OperationError(
            f"{node.name}: its static voter list is {facts['controller.quorum.voters']}, the spec gives "
            f"{voters(inventory)}; Kafka does not support changing a static quorum by editing "
            "controller.quorum.voters. Set fastdata:kafka.controllers back to "
            f"{len(facts['controller.quorum.voters'].split(','))} (or migrate to a dynamic quorum, Kafka "
            ">= 4.1). Nothing was changed."
        )
    roles_now = facts.get("process.roles")
    if roles_now and roles_now != process_roles(inventory, node):
        raise OperationError(
            f"{node.name}: runs process.roles={roles_now}, the spec gives {process_roles(inventory, node)}; "
            "changing which nodes are KRaft controllers on a running cluster is not automated (add a "
            "controller with `kafka-metadata-quorum add-controller`, remove one with `remove-controller`, "
            f"{DOCS}). Keep fastdata:kafka.controllers as it was. Nothing was changed."
        )


def guard_op(spec: DeploySpec, inventory: Cluster, node: Node) -> Op:
    """Read-only, in the first phase: refuses the deploy (and the plan) before any node is changed."""

    def judge(res: RunResult) -> Check:
        return Check(True, guard(spec, inventory, node, parse_guard_facts(res.stdout)))

    def apply(r: Remote) -> None:  # the check never asks for a change; it holds or refuses
        raise OperationError(f"{node.name}: the Kafka guard has nothing to apply")

    return probed("kafka-guard", f"Kafka on {node.name}: version and quorum", GUARD_FACTS, judge, apply)


def plan_guard(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    return [guard_op(spec, inventory, node)]


# --- after every broker runs the new version: finalize the features --------------------------------------

FEATURE_COMMAND = "org.apache.kafka.tools.FeatureCommand"
MAPPING_MARK = "@@fastdata-features"


def finalize_op(spec: DeploySpec, inventory: Cluster, node: Node) -> Op:
    """metadata.version (and the other features of the release, kraft.version excluded: KAFKA-21426)
    finalized at the deployed 4.x release with Kafka's feature tool, as the upgrade notes' last step.
    It runs after the agents phase, whose rolling restarts put every broker on the new version; Kafka
    itself refuses a level a registered broker does not support."""
    target = spec.versions.kafka
    bootstrap = f"--bootstrap-server {bootstrap_servers(inventory)}"
    probe = (
        f"{tool(spec, FEATURE_COMMAND, f'version-mapping --release-version {upgrade.release(target)}')}; "
        f"echo {MAPPING_MARK}; {tool(spec, FEATURE_COMMAND, f'{bootstrap} describe')}"
    )

    def todo(res: RunResult) -> tuple[list[str], str]:
        mapping_text, _, describe = res.stdout.partition(MAPPING_MARK)
        mapping = upgrade.parse_version_mapping(mapping_text)
        finalized = upgrade.parse_finalized(describe)
        if not mapping or "metadata.version" not in finalized:
            raise OperationError(
                f"{node.name}: kafka-features gave no {'version mapping' if not mapping else 'describe'} "
                f"output (exit {res.exit_code}): {(res.stderr or res.stdout)[-300:]}"
            )
        return upgrade.features_to_finalize(target, mapping, finalized), finalized["metadata.version"]

    def judge(res: RunResult) -> Check:
        try:
            missing, have = todo(res)
        except OperationError as exc:
            return Check(False, str(exc))
        if missing:
            return Check(False, f"metadata.version {have}; to finalize: {', '.join(missing)}")
        return Check(True, f"metadata.version {have}, features final for {upgrade.release(target)}")

    def apply(r: Remote) -> None:
        missing, _ = todo(r.run(probe, check=False, timeout=120))
        if missing:
            flags = " ".join(f"--feature {f}" for f in missing)
            r.run(tool(spec, FEATURE_COMMAND, f"{bootstrap} upgrade {flags}"), timeout=120)

    return probed(
        "kafka-features-final",
        f"Kafka features finalized at {upgrade.release(target)} (metadata.version, kraft.version untouched)",
        probe,
        judge,
        apply,
    )


def plan_finalize(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    return [finalize_op(spec, inventory, node)] if is_4x(spec.versions.kafka) else []
