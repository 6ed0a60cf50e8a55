"""The crime demo on the standalone platform (DESIGN 8): systemd units, deployed when settings.demo.enabled.

Where things run:
- public agent: InfluxDB 1.x (Debian's package) with the database and retention policy created by the
  deployment, and the dashboard on port 80 (the only ports the world reaches are the public agents');
- first agent: the topic `crimes.raw` (partitions and replication from the spec, min.insync.replicas 2
  with 3+ brokers), created with Kafka's own TopicCommand;
- master: the producer and the processor. The processor runs Spark in local mode on the master: its
  streaming state and checkpoints need one filesystem, and the standalone layout has no shared one.

Code and dependencies come from the artifact cache: the apps tar built from this checkout and a tar of
wheels for the nodes' Python, installed with `pip --no-index` (no node downloads anything).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from roles import common, kafka, spark
from roles.connection import Remote, RunResult
from roles.engine import Check, Gate, Handler, Op, Settings, Step
from roles.inventory import Inventory, Node
from roles.ops import (
    ARTIFACT_DIR,
    apt_op,
    artifact_op,
    directory_op,
    file_op,
    marker_op,
    probed,
    restart_unit,
    service_op,
    unit_active,
    unpack_op,
)
from roles.templates import render

q = shlex.quote
APPS_DIR = "/opt/fastdata/apps"
WHEELS_DIR = "/opt/fastdata/wheels"
VENV = "/opt/fastdata/venv"
STATE_DIR = "/var/lib/fastdata"
TOPIC = "crimes.raw"
INFLUX_PORT = 8086
INFLUX_DB = "crimes"
INFLUX_RP = "demo"
DASHBOARD_PORT = 80
PRODUCER_METRICS_PORT = 9108  # 8080 is the Spark master's UI on the same node
UNITS = {
    "producer": "fastdata-producer.service",
    "processor": "fastdata-processor.service",
    "dashboard": "fastdata-dashboard.service",
}
HANDLERS = {name: f"restart-{name}" for name in UNITS}


def enabled(settings: Settings) -> bool:
    return bool((settings.get("demo") or {}).get("enabled", False))


def influx_url(inventory: Inventory) -> str:
    return f"http://{inventory.public_agents[0].private_ip}:{INFLUX_PORT}"


def dashboard_url(inventory: Inventory) -> str:
    return f"http://{inventory.public_agents[0].private_ip}:{DASHBOARD_PORT}"


def _apps_ops(settings: Settings, node: Node, notify: list[str], with_pyspark: bool) -> list[Op]:
    """The apps tree and a venv with their dependencies (and pyspark where the processor runs)."""
    arts = settings["artifactFiles"]
    src = common.source(settings, node)
    wheels = [arts["demo-wheels"]] + ([arts["py4j"], arts["pyspark"]] if with_pyspark else [])
    want = ",".join(w.sha256 for w in wheels)
    marker = f"{VENV}/.fastdata-wheels"

    def install(r: Remote) -> None:
        extra = " ".join(q(f"{ARTIFACT_DIR}/{w.filename}") for w in wheels[1:])
        r.run(
            f"test -x {VENV}/bin/pip || python3 -m venv {VENV}; "
            f"{VENV}/bin/pip install -q --no-index --find-links {WHEELS_DIR} confluent-kafka requests "
            f"{extra} && "
            f"echo {want} > {marker}",
            timeout=900,
        )

    ops = [
        artifact_op("demo-wheels-artifact", arts["demo-wheels"], src),
        unpack_op("demo-wheels", arts["demo-wheels"], WHEELS_DIR),
    ]
    if with_pyspark:  # the Spark planners push these to masters and agents already; same keys, same files
        ops += [
            artifact_op("py4j-artifact", arts["py4j"], src),
            artifact_op("pyspark-artifact", arts["pyspark"], src),
        ]
    ops += [
        marker_op(
            "demo-venv",
            f"demo apps' Python dependencies installed in {VENV} on {node.name}",
            marker,
            want,
            "demo venv",
            install,
            notify=notify,
        ),
        artifact_op("demo-apps-artifact", arts["demo-apps"], src),
        unpack_op("demo-apps", arts["demo-apps"], APPS_DIR, notify=notify),
        directory_op("demo-state", STATE_DIR, owner="root", mode=0o755),
    ]
    return ops


def _unit(name: str, description: str, after: str, command: str, env: dict[str, str]) -> str:
    return render(
        "demo.service",
        description=description,
        after=after,
        venv=VENV,
        apps=APPS_DIR,
        state=STATE_DIR,
        environment="\n".join(f"Environment={k}={v}" for k, v in sorted(env.items())),
        command=command,
        app=name,
    )


def _unit_ops(node: Node, name: str, text: str) -> list[Op]:
    unit = UNITS[name]
    return [
        file_op(
            f"{name}-unit",
            f"{name} unit on {node.name}",
            f"/etc/systemd/system/{unit}",
            text,
            notify=[HANDLERS[name]],
        ),
        service_op(
            f"{name}-running", unit, f"demo {name} running on {node.name}", satisfies=[HANDLERS[name]]
        ),
    ]


# --- public agent: InfluxDB + dashboard -------------------------------------------------------------------


def _database_op(node: Node, retention: str) -> Op:
    query = f"SHOW RETENTION POLICIES ON {INFLUX_DB}"
    probe = (
        f"curl -sfG http://127.0.0.1:{INFLUX_PORT}/query --data-urlencode {q('q=' + query)} "
        "2>/dev/null || true"
    )

    def judge(res: RunResult) -> Check:
        text = res.stdout
        if f'"{INFLUX_RP}"' not in text:
            return Check(False, f"database {INFLUX_DB} / retention policy {INFLUX_RP} missing")
        return Check(True, f"database {INFLUX_DB} with retention policy {INFLUX_RP} present")

    def apply(r: Remote) -> None:
        r.run(
            f"for i in $(seq 30); do curl -sf http://127.0.0.1:{INFLUX_PORT}/ping && break; sleep 1; done; "
            f"cd {APPS_DIR} && INFLUX_URL=http://127.0.0.1:{INFLUX_PORT} INFLUX_DB={INFLUX_DB} "
            f"INFLUX_RP={INFLUX_RP} INFLUX_RETENTION={q(retention)} {VENV}/bin/python -m apps.common.influx "
            "ensure-db",
            timeout=120,
        )

    return probed("influx-database", f"InfluxDB database {INFLUX_DB} on {node.name}", probe, judge, apply)


def dashboard_env(inventory: Inventory) -> dict[str, str]:
    """The dashboard runs beside InfluxDB on the first public agent (a unit, or a pinned Marathon app)."""
    return {
        "INFLUX_URL": f"http://127.0.0.1:{INFLUX_PORT}",
        "INFLUX_DB": INFLUX_DB,
        "DASHBOARD_PORT": str(DASHBOARD_PORT),
        "DASHBOARD_STATIC_DIR": f"{APPS_DIR}/apps/dashboard/web",
    }


def public_ops(settings: Settings, node: Node, notify: list[str]) -> list[Op]:
    """InfluxDB with its database, and the apps tree the dashboard runs from (`notify`: its restart)."""
    return [
        apt_op("influxdb-package", ("influxdb", "curl"), name=f"InfluxDB installed on {node.name}"),
        service_op("influxdb-running", "influxdb.service", f"InfluxDB running on {node.name}"),
        *_apps_ops(settings, node, notify, with_pyspark=False),
        _database_op(node, str(settings["demo"].get("retention", "7d"))),
    ]


def plan_public(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    if not enabled(settings) or node != inventory.public_agents[0]:
        return []
    dashboard = _unit(
        "dashboard",
        "fastdata demo dashboard",
        "network-online.target influxdb.service",
        "-m apps.dashboard",
        dashboard_env(inventory),
    )
    return [
        *public_ops(settings, node, [HANDLERS["dashboard"]]),
        *_unit_ops(node, "dashboard", dashboard),
    ]


# --- first agent: the topic ------------------------------------------------------------------------------


def parse_topic_head(line: str) -> tuple[str, str]:
    """(PartitionCount, ReplicationFactor) from TopicCommand --describe's first line ("" when absent)."""

    def field(name: str) -> str:
        m = re.search(rf"{name}:\s*(\d+)", line)
        return m.group(1) if m else ""

    return field("PartitionCount"), field("ReplicationFactor")


def topic_op(settings: Settings, inventory: Inventory, node: Node) -> Op:
    k = settings["kafka"]
    partitions, rf, min_isr = k["partitions"], k["replicationFactor"], k["minInsyncReplicas"]
    bootstrap = kafka.bootstrap_servers(inventory)
    describe = kafka.tool(
        settings,
        "org.apache.kafka.tools.TopicCommand",
        f"--bootstrap-server {bootstrap} --describe --topic {TOPIC}",
    )

    def judge(res: RunResult) -> Check:
        head = next((ln for ln in res.stdout.splitlines() if ln.startswith("Topic:")), "")
        if not head:
            return Check(False, f"topic {TOPIC} missing")
        have = parse_topic_head(head)
        if have != (str(partitions), str(rf)):
            return Check(
                False, f"topic {TOPIC} has {have[0]} partitions x RF {have[1]}, want {partitions} x {rf}"
            )
        if f"min.insync.replicas={min_isr}" not in head:
            return Check(False, f"topic {TOPIC}: min.insync.replicas is not {min_isr}")
        return Check(True, f"topic {TOPIC}: {partitions} partitions, RF {rf}, min ISR {min_isr}")

    def apply(r: Remote) -> None:
        current = judge(r.run(describe, check=False, timeout=60))
        if "missing" in current.detail:
            r.run(
                kafka.tool(
                    settings,
                    "org.apache.kafka.tools.TopicCommand",
                    f"--bootstrap-server {bootstrap} --create --if-not-exists --topic {TOPIC} "
                    f"--partitions {partitions} --replication-factor {rf} "
                    f"--config min.insync.replicas={min_isr}",
                ),
                timeout=60,
            )
            return
        # Kafka can add partitions and change configs in place; fewer partitions or another RF would
        # need a new topic, which loses data: say so instead of doing it.
        r.run(
            kafka.tool(
                settings,
                "org.apache.kafka.tools.TopicCommand",
                f"--bootstrap-server {bootstrap} --alter --topic {TOPIC} --partitions {partitions}",
            )
            + " || true",
            timeout=60,
        )
        r.run(
            kafka.tool(
                settings,
                "kafka.admin.ConfigCommand",
                f"--bootstrap-server {bootstrap} --alter --entity-type topics --entity-name {TOPIC} "
                f"--add-config min.insync.replicas={min_isr}",
            ),
            timeout=60,
        )

    return probed("demo-topic", f"topic {TOPIC} ({partitions} partitions, RF {rf})", describe, judge, apply)


def plan_topic(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    if not enabled(settings) or node != inventory.agents[0]:
        return []
    return [topic_op(settings, inventory, node)]


# --- master: producer + processor --------------------------------------------------------------------------


def producer_env(settings: Settings, inventory: Inventory) -> dict[str, str]:
    demo = settings["demo"]
    dataset = str(demo.get("dataset") or "data/chicago-crimes-2015-10-17_18.csv")
    data = dataset if "://" in dataset or dataset.startswith("/") else f"{APPS_DIR}/{dataset}"
    return {
        "KAFKA_BOOTSTRAP": kafka.bootstrap_servers(inventory),
        "TOPIC": TOPIC,
        "DATA_FILE": data,
        "SPEEDUP": str(demo.get("speedup", 60)),
        "MAX_EPS": str(demo.get("maxEventsPerSecond", 200)),
        "LOOP": "true",
        "METRICS_PORT": str(PRODUCER_METRICS_PORT),
    }


def processor_env(inventory: Inventory) -> dict[str, str]:
    """Spark in local mode: its streaming state and checkpoints need one filesystem (see the top)."""
    return {
        "KAFKA_BOOTSTRAP": kafka.bootstrap_servers(inventory),
        "TOPIC": TOPIC,
        "INFLUX_URL": influx_url(inventory),
        "INFLUX_DB": INFLUX_DB,
        "INFLUX_RP": INFLUX_RP,
        "SPARK_MASTER": "local[2]",
        "SPARK_KAFKA_JARS": spark.CONNECTOR_DIR,
        "CHECKPOINT_DIR": f"{STATE_DIR}/processor/checkpoints",
        "PYSPARK_SUBMIT_ARGS": q("--driver-memory 768m pyspark-shell"),
    }


def pipeline_ops(settings: Settings, node: Node, notify: list[str]) -> list[Op]:
    """What the producer and the processor run from: apps, their venv with pyspark, a state directory."""
    return _apps_ops(settings, node, notify, with_pyspark=True)


def plan_master(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    if not enabled(settings) or node != inventory.masters[0]:
        return []
    producer = _unit(
        "producer",
        "fastdata demo producer (Chicago crimes -> Kafka)",
        "network-online.target",
        "-m apps.producer",
        producer_env(settings, inventory),
    )
    processor = _unit(
        "processor",
        "fastdata demo processor (Spark Structured Streaming -> InfluxDB)",
        "network-online.target",
        "-m apps.processor",
        processor_env(inventory),
    )
    return [
        *pipeline_ops(settings, node, [HANDLERS["producer"], HANDLERS["processor"]]),
        *_unit_ops(node, "processor", processor),
        *_unit_ops(node, "producer", producer),
    ]


def steps() -> tuple[Step, ...]:
    return (
        Step("demo", ("agent",), plan_topic),
        Step("demo", ("publicAgent",), plan_public),
        Step("demo", ("master",), plan_master),
    )


def handlers() -> dict[str, Handler]:
    return {
        HANDLERS[name]: Handler(
            HANDLERS[name], f"demo {name} restarted", restart_unit(unit), unit_active(unit), rolling=False
        )
        for name, unit in UNITS.items()
    }


# --- readiness ---------------------------------------------------------------------------------------------


def _on(role: Callable[[Inventory], list[Node]]) -> Callable[[Inventory, Callable[[Node], Remote]], Remote]:
    return lambda inv, remote_for: remote_for(role(inv)[0])


def probe_apps(settings: Settings, inventory: Inventory, remote_for: Callable[[Node], Remote]) -> Check:
    if not enabled(settings):
        return Check(True, "demo disabled (settings.demo.enabled is false)")
    master = (
        remote_for(inventory.masters[0])
        .run(
            f"systemctl is-active {UNITS['producer']} {UNITS['processor']}; "
            f"curl -sf http://127.0.0.1:{PRODUCER_METRICS_PORT}/healthz >/dev/null && echo producer-healthy",
            check=False,
            timeout=30,
        )
        .stdout.split()
    )
    public = (
        remote_for(inventory.public_agents[0])
        .run(
            f"systemctl is-active influxdb {UNITS['dashboard']}; "
            f"curl -sf http://127.0.0.1:{DASHBOARD_PORT}/healthz >/dev/null && echo dashboard-healthy",
            check=False,
            timeout=30,
        )
        .stdout.split()
    )
    problems = []
    if master[:2] != ["active", "active"]:
        problems.append(f"master: producer/processor {'/'.join(master[:2])}")
    if "producer-healthy" not in master:
        problems.append("producer /healthz not answering")
    if public[:2] != ["active", "active"]:
        problems.append(f"public agent: influxdb/dashboard {'/'.join(public[:2])}")
    if "dashboard-healthy" not in public:
        problems.append("dashboard /healthz not answering (InfluxDB down?)")
    return Check(not problems, "; ".join(problems) or "producer, processor, InfluxDB and dashboard healthy")


def data_probe(runs_on: Callable[[Inventory], Node]) -> Callable[..., Check]:
    """The end-to-end probe, run where the apps' venv is (`runs_on`): a marked event produced now is
    counted in InfluxDB and served by the dashboard (apps/probe.py)."""

    def probe(settings: Settings, inventory: Inventory, remote_for: Callable[[Node], Remote]) -> Check:
        if not enabled(settings):
            return Check(True, "demo disabled (settings.demo.enabled is false)")
        out = remote_for(runs_on(inventory)).run(
            f"cd {APPS_DIR} && {VENV}/bin/python -m apps.probe "
            f"--bootstrap {kafka.bootstrap_servers(inventory)} --influx-url {influx_url(inventory)} "
            f"--dashboard-url {dashboard_url(inventory)} --timeout 100",
            check=False,
            timeout=130,
        )
        if not out.ok:
            return Check(False, (out.stderr or out.stdout).strip()[-300:] or f"probe exited {out.exit_code}")
        return Check(True, f"marked event counted and on the dashboard: {out.stdout.strip()[-200:]}")

    return probe


def data_gate(runs_on: Callable[[Inventory], Node]) -> Gate:
    return Gate(
        "end-to-end data probe",
        "a marked event reaches InfluxDB and the dashboard",
        data_probe(runs_on),
        150,
        after_phase="demo",
    )


GATES = (
    Gate("apps healthy", "demo apps healthy", probe_apps, 120, after_phase="demo"),
    data_gate(lambda inventory: inventory.masters[0]),
)
CONFIGS = tuple(f"/etc/systemd/system/{u}" for u in UNITS.values())
