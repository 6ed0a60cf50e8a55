"""The crime demo on the standalone platform (DESIGN 8): systemd units, deployed when settings.demo.enabled.

Where things run:
- first public agent: InfluxDB 1.x (Debian's package) with the database and retention policy created by
  the deployment, and the dashboard on port 80 (the only ports the world reaches are the public agents');
- first broker: the topic `crimes.raw` (partitions, replication and min.insync.replicas from the spec),
  created with Kafka's own TopicCommand;
- first master: the producer and the processor. The processor runs Spark in local mode on the master: its
  streaming state and checkpoints need one filesystem, and the standalone layout has no shared one.
"""

from __future__ import annotations

from contract import Cluster, Node
from roles.demo import common
from roles.engine.executor import Check, Gate, Handler, Op, RemoteFor, Step
from roles.engine.ops import file_op, restart_unit, service_op, unit_active
from roles.engine.placement import FIRST_BROKER, FIRST_MASTER, FIRST_PUBLIC_AGENT, first_node
from roles.engine.spec import DeploySpec, demo_enabled
from roles.engine.templates import render

UNITS = {
    "producer": "fastdata-producer.service",
    "processor": "fastdata-processor.service",
    "dashboard": "fastdata-dashboard.service",
}
HANDLERS = {name: f"restart-{name}" for name in UNITS}


def _unit(name: str, description: str, after: str, command: str, env: dict[str, str]) -> str:
    return render(
        "demo.service",
        description=description,
        after=after,
        venv=common.VENV,
        apps=common.APPS_DIR,
        state=common.STATE_DIR,
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


# --- first public agent: InfluxDB + dashboard ----------------------------------------------------------


def plan_public(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """InfluxDB and the dashboard on the first public agent."""
    dashboard = _unit(
        "dashboard",
        "fastdata demo dashboard",
        "network-online.target influxdb.service",
        "-m apps.dashboard",
        common.dashboard_env(inventory),
    )
    return [
        *common.public_ops(spec, node, [HANDLERS["dashboard"]]),
        *_unit_ops(node, "dashboard", dashboard),
    ]


# --- first master: producer + processor --------------------------------------------------------------------


def plan_master(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """The producer and the processor on the first master."""
    producer = _unit(
        "producer",
        "fastdata demo producer (Chicago crimes -> Kafka)",
        "network-online.target",
        "-m apps.producer",
        common.producer_env(spec, inventory),
    )
    processor = _unit(
        "processor",
        "fastdata demo processor (Spark Structured Streaming -> InfluxDB)",
        "network-online.target",
        "-m apps.processor",
        common.processor_env(inventory),
    )
    return [
        *common.pipeline_ops(spec, node, [HANDLERS["producer"], HANDLERS["processor"]]),
        *_unit_ops(node, "processor", processor),
        *_unit_ops(node, "producer", producer),
    ]


STEPS = (
    Step("demo", FIRST_BROKER, common.plan_topic, when=demo_enabled),
    Step("demo", FIRST_PUBLIC_AGENT, plan_public, when=demo_enabled),
    Step("demo", FIRST_MASTER, plan_master, when=demo_enabled),
)


def handlers() -> dict[str, Handler]:
    return {
        HANDLERS[name]: Handler(
            HANDLERS[name], f"demo {name} restarted", restart_unit(unit), unit_active(unit), rolling=False
        )
        for name, unit in UNITS.items()
    }


# --- readiness ---------------------------------------------------------------------------------------------


def probe_apps(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    if not spec.demo.enabled:
        return Check(True, "demo disabled (settings.demo.enabled is false)")
    master = (
        remote_for(first_node(inventory, FIRST_MASTER))
        .run(
            f"systemctl is-active {UNITS['producer']} {UNITS['processor']}; "
            f"curl -sf http://127.0.0.1:{common.PRODUCER_METRICS_PORT}/healthz >/dev/null "
            "&& echo producer-healthy",
            check=False,
            timeout=30,
        )
        .stdout.split()
    )
    public = (
        remote_for(first_node(inventory, FIRST_PUBLIC_AGENT))
        .run(
            f"systemctl is-active influxdb {UNITS['dashboard']}; "
            f"curl -sf http://127.0.0.1:{common.DASHBOARD_PORT}/healthz >/dev/null && echo dashboard-healthy",
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


GATES = (
    Gate("apps healthy", "demo apps healthy", probe_apps, 120, after_phase="demo"),
    common.data_gate(FIRST_MASTER),
)
CONFIGS = tuple(f"/etc/systemd/system/{u}" for u in UNITS.values())
