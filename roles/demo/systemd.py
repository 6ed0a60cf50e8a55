"""The crime demo on the standalone platform (DESIGN 8): systemd units, deployed when settings.demo.enabled.

Where things run:
- first public agent: InfluxDB 1.x (Debian's package) with the database and retention policy created by
  the deployment, and the dashboard on port 80 (the only ports the world reaches are the public agents');
- first broker: the topic `crimes.raw` (partitions, replication and min.insync.replicas from the spec),
  created with Kafka's own TopicCommand;
- first master: the producer, and the processor's driver: submitted in client mode to the Spark master
  (Python jobs have no cluster mode on a standalone cluster), its executors on the workers, its
  checkpoints, state and Parquet archive on HDFS. systemd restarts a failed driver; it resumes from the
  checkpoint.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from contract import Cluster, Node
from roles.demo import common
from roles.engine.connection import Remote
from roles.engine.executor import Check, Gate, Handler, Op, RemoteFor, Step
from roles.engine.ops import file_op, http_get, service_op, unit_active, unit_handler
from roles.engine.placement import FIRST_BROKER, FIRST_MASTER, FIRST_PUBLIC_AGENT, first_node
from roles.engine.spec import DeploySpec, demo_enabled
from roles.engine.templates import render
from roles.packages import spark

q = shlex.quote
UNITS = {
    "producer": "fastdata-producer.service",
    "processor": "fastdata-processor.service",
    "dashboard": "fastdata-dashboard.service",
}
HANDLERS = {name: f"restart-{name}" for name in UNITS}
# app -> (unit description, what it starts after)
DESCRIPTIONS = {
    "producer": ("fastdata demo producer (Chicago crimes -> Kafka)", "network-online.target"),
    "processor": (
        "fastdata demo processor: Spark Structured Streaming driver (executors on the workers)",
        "network-online.target spark-master.service hdfs-namenode.service",
    ),
    "dashboard": ("fastdata demo dashboard", "network-online.target influxdb.service"),
}


def app_unit_ops(node: Node, name: str, env: dict[str, str]) -> list[Op]:
    """The app `name` (`python -m apps.<name>`) as a systemd unit, running; restarted by its handler."""
    description, after = DESCRIPTIONS[name]
    text = render(
        "demo.service",
        description=description,
        after=after,
        venv=common.VENV,
        apps=common.APPS_DIR,
        state=common.STATE_DIR,
        environment="\n".join(f"Environment={k}={v}" for k, v in sorted(env.items())),
        command=f"-m apps.{name}",
        app=name,
    )
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
    return [
        *common.public_ops(spec, node, [HANDLERS["dashboard"]]),
        *app_unit_ops(node, "dashboard", common.dashboard_env(inventory)),
    ]


# --- first master: producer + processor --------------------------------------------------------------------


def plan_master(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """The producer and the processor on the first master."""
    return [
        *common.pipeline_ops(spec, node, [HANDLERS["producer"], HANDLERS["processor"]]),
        *app_unit_ops(
            node,
            "processor",
            {
                **common.processor_env(spec, inventory),
                "PYSPARK_SUBMIT_ARGS": q(common.client_submit_args(spec, inventory, node)),
            },
        ),
        *app_unit_ops(node, "producer", common.producer_env(spec, inventory)),
    ]


STEPS = (
    Step("demo", FIRST_BROKER, common.plan_topic, when=demo_enabled),
    Step("demo", FIRST_PUBLIC_AGENT, plan_public, when=demo_enabled),
    Step("demo", FIRST_MASTER, plan_master, when=demo_enabled),
)


def _answers(unit: str, url: str) -> Callable[[Remote], Check]:
    """Health after a restart: the unit active and `url` (on the node itself) answering."""

    def check(r: Remote) -> Check:
        state = unit_active(unit)(r)
        if not state.ok:
            return state
        ok = r.run(http_get(url), check=False, timeout=30).ok
        return Check(ok, f"{unit} active, {url} {'answering' if ok else 'not answering yet'}")

    return check


def _processor_running(r: Remote) -> Check:
    """Health after the processor's restart: the Spark master on this node (the first master) lists the
    application RUNNING again (its executors: the apps-healthy gate after the phase)."""
    state = unit_active(UNITS["processor"])(r)
    if not state.ok:
        return state
    out = r.run(http_get(f"http://{r.node.private_ip}:{spark.MASTER_UI}/json"), check=False, timeout=30)
    if not out.ok:
        return Check(False, f"Spark master UI on {r.node.name} not answering")
    states = [
        str(a.get("state")) for a in spark.parse_apps(out.stdout) if a.get("name") == common.PROCESSOR_APP
    ]
    return Check(
        "RUNNING" in states, f"{common.PROCESSOR_APP} on the Spark master: {states or 'not submitted'}"
    )


def handlers() -> dict[str, Handler]:
    """Each app's restart, gated on it being back: the producer's and the dashboard's /healthz answering,
    the processor RUNNING on the Spark master (one instance each: nothing to roll across)."""
    healthy = {
        "producer": _answers(UNITS["producer"], f"http://127.0.0.1:{common.PRODUCER_METRICS_PORT}/healthz"),
        "processor": _processor_running,
        "dashboard": _answers(UNITS["dashboard"], f"http://127.0.0.1:{common.DASHBOARD_PORT}/healthz"),
    }
    return {
        HANDLERS[name]: unit_handler(
            HANDLERS[name], f"demo {name} restarted", unit, healthy[name], rolling=False, timeout=240
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


def batch_job(spec: DeploySpec, inventory: Cluster, reconcile: bool) -> tuple[Node, str]:
    """The batch job over the archive, a client-mode driver on the first master like the processor
    (its own cores: spark.cores.max), optionally reconciled with the streaming counts in InfluxDB."""
    master = first_node(inventory, FIRST_MASTER)
    env = {
        "HADOOP_USER_NAME": common.hdfs.DEMO_USER,
        "PYSPARK_SUBMIT_ARGS": common.client_submit_args(spec, inventory, master),
        "PYTHONPATH": common.APPS_DIR,
    }
    flags = f"--archive-dir {q(common.archive_url(inventory))}"
    if reconcile:
        flags += f" --influx-url {q(common.influx_url(inventory))} --influx-db {common.INFLUX_DB}"
        flags += f" --influx-rp {common.INFLUX_RP}"
    command = (
        f"cd {common.APPS_DIR} && "
        + " ".join(f"{k}={q(v)}" for k, v in env.items())
        + f" {common.VENV}/bin/python -m apps.batch {flags}"
    )
    return master, command


GATES = (
    Gate("apps healthy", "demo apps healthy", probe_apps, 120, after_phase="demo"),
    Gate(
        "apps healthy",
        f"{common.PROCESSOR_APP} running on the Spark cluster, executors on at least two agents",
        spark.app_probe(common.PROCESSOR_APP, 2),
        240,
        after_phase="demo",
    ),
    common.data_gate(FIRST_MASTER),
)
CONFIGS = tuple(f"/etc/systemd/system/{u}" for u in UNITS.values())
