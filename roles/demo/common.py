"""What the demo needs on every platform (DESIGN 8): the apps tree and its venv, InfluxDB and its
database, the topic, the apps' environment, and the end-to-end data probe. roles/demo/systemd.py runs the
apps as systemd units (standalone), roles/demo/marathon.py as Marathon apps (mesos, dcos).

Code and dependencies come from the artifact cache: the apps tar built from this checkout and a tar of
wheels for the nodes' Python, installed with `pip --no-index` (no node downloads anything).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from contract import Cluster, Node
from roles.artifacts import DEMO_PACKAGES
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Gate, Op, RemoteFor
from roles.engine.ops import ARTIFACT_DIR, artifact_op, directory_op, marker_op, probed, source, unpack_op
from roles.engine.placement import FIRST_PUBLIC_AGENT, Placement, first_node
from roles.engine.spec import DeploySpec
from roles.packages import hdfs, influxdb, kafka, spark

q = shlex.quote
APPS_DIR = "/opt/fastdata/apps"
WHEELS_DIR = "/opt/fastdata/wheels"
VENV = "/opt/fastdata/venv"
STATE_DIR = "/var/lib/fastdata"
TOPIC = "crimes.raw"
INFLUX_DB = "crimes"
INFLUX_RP = "demo"
DASHBOARD_PORT = 80
PRODUCER_METRICS_PORT = 9108  # 8080 is the Spark master's UI on the same node (standalone)


def influx_url(inventory: Cluster) -> str:
    return f"http://{first_node(inventory, FIRST_PUBLIC_AGENT).private_ip}:{influxdb.PORT}"


def dashboard_url(inventory: Cluster) -> str:
    return f"http://{first_node(inventory, FIRST_PUBLIC_AGENT).private_ip}:{DASHBOARD_PORT}"


def apps_ops(spec: DeploySpec, node: Node, notify: list[str], with_pyspark: bool) -> list[Op]:
    """The apps tree and a venv with their dependencies (and pyspark where the processor runs)."""
    src = source(spec, node)
    wheels = [spec.artifact("demo-wheels")]
    if with_pyspark:
        wheels += [spec.artifact("py4j"), spec.artifact("pyspark")]
    # the packages are part of the marker: a changed list re-installs even from the same wheels
    want = ",".join(w.sha256 for w in wheels) + ";" + ",".join(DEMO_PACKAGES)
    marker = f"{VENV}/.fastdata-wheels"

    def install(r: Remote) -> None:
        extra = " ".join(q(f"{ARTIFACT_DIR}/{w.filename}") for w in wheels[1:])
        r.run(
            f"test -x {VENV}/bin/pip || python3 -m venv {VENV}; "
            f"{VENV}/bin/pip install -q --no-index --find-links {WHEELS_DIR} {' '.join(DEMO_PACKAGES)} "
            f"{extra} && "
            f"echo {q(want)} > {marker}",
            timeout=900,
        )

    ops = [
        artifact_op("demo-wheels-artifact", wheels[0], src),
        unpack_op("demo-wheels", wheels[0], WHEELS_DIR),
    ]
    if with_pyspark:  # the Spark planners push these to masters and agents already; same keys, same files
        ops += [
            artifact_op("py4j-artifact", wheels[1], src),
            artifact_op("pyspark-artifact", wheels[2], src),
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
        artifact_op("demo-apps-artifact", spec.artifact("demo-apps"), src),
        unpack_op("demo-apps", spec.artifact("demo-apps"), APPS_DIR, notify=notify),
        directory_op("demo-state", STATE_DIR, owner="root", mode=0o755),
    ]
    return ops


# --- public agent: InfluxDB + dashboard -------------------------------------------------------------------


def dashboard_env(inventory: Cluster) -> dict[str, str]:
    """The dashboard runs beside InfluxDB on the first public agent (a unit, or a pinned Marathon app)."""
    return {
        "INFLUX_URL": f"http://127.0.0.1:{influxdb.PORT}",
        "INFLUX_DB": INFLUX_DB,
        "DASHBOARD_PORT": str(DASHBOARD_PORT),
        "DASHBOARD_STATIC_DIR": f"{APPS_DIR}/apps/dashboard/web",
    }


def public_ops(spec: DeploySpec, node: Node, notify: list[str]) -> list[Op]:
    """InfluxDB with its database, and the apps tree the dashboard runs from (`notify`: its restart)."""
    ensure = (
        f"cd {APPS_DIR} && INFLUX_URL=http://127.0.0.1:{influxdb.PORT} INFLUX_DB={INFLUX_DB} "
        f"INFLUX_RP={INFLUX_RP} INFLUX_RETENTION={q(spec.demo.retention)} {VENV}/bin/python -m "
        "apps.common.influx ensure-db"
    )
    return [
        *influxdb.install_ops(node, spec.versions.influxdb),
        *apps_ops(spec, node, notify, with_pyspark=False),
        influxdb.database_op(node, INFLUX_DB, INFLUX_RP, spec.demo.retention, ensure),
    ]


# --- the topic (on the first broker) ------------------------------------------------------------------------


def parse_topic_head(line: str) -> tuple[str, str]:
    """(PartitionCount, ReplicationFactor) from TopicCommand --describe's first line ("" when absent)."""

    def field(name: str) -> str:
        m = re.search(rf"{name}:\s*(\d+)", line)
        return m.group(1) if m else ""

    return field("PartitionCount"), field("ReplicationFactor")


def topic_op(spec: DeploySpec, inventory: Cluster, node: Node) -> Op:
    k = spec.kafka
    partitions, rf, min_isr = k.partitions, k.replication_factor, k.min_insync_replicas
    bootstrap = kafka.bootstrap_servers(inventory)
    describe = kafka.tool(
        spec,
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
                    spec,
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
                spec,
                "org.apache.kafka.tools.TopicCommand",
                f"--bootstrap-server {bootstrap} --alter --topic {TOPIC} --partitions {partitions}",
            )
            + " || true",
            timeout=60,
        )
        r.run(
            kafka.tool(
                spec,
                kafka.config_command(spec),  # its class moved in Kafka 4.0
                f"--bootstrap-server {bootstrap} --alter --entity-type topics --entity-name {TOPIC} "
                f"--add-config min.insync.replicas={min_isr}",
            ),
            timeout=60,
        )

    return probed("demo-topic", f"topic {TOPIC} ({partitions} partitions, RF {rf})", describe, judge, apply)


def plan_topic(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    return [topic_op(spec, inventory, node)]


# --- producer + processor ---------------------------------------------------------------------------------


def producer_env(spec: DeploySpec, inventory: Cluster) -> dict[str, str]:
    demo = spec.demo
    dataset = demo.dataset
    data = dataset if "://" in dataset or dataset.startswith("/") else f"{APPS_DIR}/{dataset}"
    return {
        "KAFKA_BOOTSTRAP": kafka.bootstrap_servers(inventory),
        "TOPIC": TOPIC,
        "DATA_FILE": data,
        "SPEEDUP": str(demo.speedup),
        "MAX_EPS": str(demo.max_events_per_second),
        "LOOP": "true",
        "METRICS_PORT": str(PRODUCER_METRICS_PORT),
    }


PROCESSOR_APP = "crime-processor"  # the application name the Spark master lists (apps/processor)
BATCH_APP = "crime-batch"
CHECKPOINTS = f"{hdfs.DEMO_ROOT}/checkpoints/processor"
ARCHIVE = f"{hdfs.DEMO_ROOT}/archive/crimes"
# Client-mode drivers on the first master: executors connect back to these (infra/ports.py spark-driver).
DRIVER_PORT = 7078
BLOCK_MANAGER_PORT = 7079


def checkpoint_url(inventory: Cluster) -> str:
    return hdfs.namenode_url(inventory) + CHECKPOINTS


def archive_url(inventory: Cluster) -> str:
    return hdfs.namenode_url(inventory) + ARCHIVE


def processor_env(spec: DeploySpec, inventory: Cluster) -> dict[str, str]:
    """What the processor reads, whoever submits it: Kafka, InfluxDB, and its checkpoints and archive on
    HDFS (shared by the driver and the executors on the agents, and kept when any one node is lost)."""
    return {
        "KAFKA_BOOTSTRAP": kafka.bootstrap_servers(inventory),
        "TOPIC": TOPIC,
        "INFLUX_URL": influx_url(inventory),
        "INFLUX_DB": INFLUX_DB,
        "INFLUX_RP": INFLUX_RP,
        "SPARK_KAFKA_JARS": spark.CONNECTOR_DIR,
        "CHECKPOINT_DIR": checkpoint_url(inventory),
        "ARCHIVE_DIR": archive_url(inventory),
        # simple authentication: the HDFS user the driver writes as (executors: spark.executorEnv)
        "HADOOP_USER_NAME": hdfs.DEMO_USER,
    }


def executor_count(spec: DeploySpec, inventory: Cluster) -> int:
    """The demo jobs' executors: settings.spark.executors, or executorsPerAgent per agent that stays."""
    return spec.spark.executor_count(len([a for a in inventory.agents if a.name not in spec.drained]))


def job_conf(spec: DeploySpec, inventory: Cluster) -> dict[str, str]:
    """The Spark properties of the demo's jobs: executors sized by settings.spark (spark.cores.max caps
    the job at executors x executorCores, so a second job still finds cores), HDFS writes replicated
    like the cluster's own files, and the HDFS user on the executors. With spark.executorsPerAgent the
    count follows the agents that are not drained: a scale change changes the processor's unit, so
    `fab deploy` restarts it and its executors spread over the workers as they are then."""
    s = spec.spark
    return {
        "spark.executor.cores": str(s.executor_cores),
        "spark.executor.memory": s.executor_memory,
        "spark.cores.max": str(executor_count(spec, inventory) * s.executor_cores),
        "spark.hadoop.dfs.replication": str(hdfs.replication(inventory)),
        "spark.executorEnv.HADOOP_USER_NAME": hdfs.DEMO_USER,
    }


def client_submit_args(spec: DeploySpec, inventory: Cluster, driver: Node) -> str:
    """PYSPARK_SUBMIT_ARGS of a client-mode driver on `driver` submitting to the standalone master:
    `python -m apps.processor` then runs spark-submit with them. Python on a standalone cluster has no
    cluster deploy mode (docs/reference/hdfs-spark-kafka4.md B.2): the driver runs on the first master
    under systemd (restarted on failure; it resumes from its HDFS checkpoint), the executors on the
    workers, which reach the driver on fixed ports."""
    conf = {
        **job_conf(spec, inventory),
        "spark.driver.host": driver.private_ip,
        "spark.driver.bindAddress": driver.private_ip,
        "spark.driver.port": str(DRIVER_PORT),
        "spark.blockManager.port": str(BLOCK_MANAGER_PORT),
    }
    parts = [
        "--master",
        spark.master_url(inventory),
        "--deploy-mode",
        "client",
        "--driver-memory",
        spec.spark.driver_memory,
        *(f"--conf {k}={v}" for k, v in sorted(conf.items())),
        "pyspark-shell",
    ]
    return " ".join(parts)


def pipeline_ops(spec: DeploySpec, node: Node, notify: list[str]) -> list[Op]:
    """What the producer and the processor run from: apps, their venv with pyspark, a state directory."""
    return apps_ops(spec, node, notify, with_pyspark=True)


def data_probe(runs_on: Placement) -> Callable[[DeploySpec, Cluster, RemoteFor], Check]:
    """The end-to-end probe, run where the apps' venv is (`runs_on`): a marked event produced now is
    counted in InfluxDB and served by the dashboard (apps/probe.py)."""

    def probe(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
        if not spec.demo.enabled:
            return Check(True, "demo disabled (settings.demo.enabled is false)")
        out = remote_for(first_node(inventory, runs_on)).run(
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


def data_gate(runs_on: Placement) -> Gate:
    return Gate(
        "end-to-end data probe",
        "a marked event reaches InfluxDB and the dashboard",
        data_probe(runs_on),
        150,
        after_phase="demo",
    )
