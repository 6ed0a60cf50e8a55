"""The demo's processor as a cluster-mode Spark job under a MesosClusterDispatcher (mesos: the dispatcher
the platform runs as a Marathon app; dcos: the Spark package's), never a local process (DESIGN 3.3).

What `spark-submit --master mesos://<dispatcher>:7077 --deploy-mode cluster --supervise` would send,
posted by roles/packages/spark_dispatcher.py from the first master:
- appResource: a two-line entry point (runs `apps.processor`) on the artifact server, a URL every agent
  fetches (the Mesos fetcher runs on the driver's agent, which has nothing of the submitting node);
- the driver and the executors run Spark from the demo venv every private agent has (`--supervise` may
  relaunch the driver on any of them): `spark.mesos.executor.home`, `spark.pyspark.python`; the apps tree
  is on their PYTHONPATH (driver: `spark.mesos.driverEnv.*`, executors: `spark.executorEnv.*`);
- the processor's own settings as its environment (roles/demo/common.py: Kafka, InfluxDB, checkpoints
  and archive on HDFS), the sizes from settings.spark as on standalone (common.job_conf: executors,
  cores, memory, `spark.cores.max` = executors x executorCores) and the driver's memory;
- `spark.mesos.driver.labels` carries the sha256 of what the driver runs from on the agents (apps, wheels,
  connector jars), so a changed apps bundle changes the job definition and the job is resubmitted.

The batch job (`fab batch`) runs in client mode instead (see `batch_job`).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from contract import Cluster, Node
from roles.demo import common
from roles.engine.executor import Gate, Op, Step
from roles.engine.ops import ARTIFACT_DIR, directory_op, file_op
from roles.engine.placement import ARTIFACT_SERVER, FIRST_MASTER
from roles.engine.spec import DeploySpec, demo_enabled
from roles.errors import ArtifactMissing
from roles.packages import spark_dispatcher
from roles.packages.marathon import node_digest
from roles.packages.spark_dispatcher import Dispatcher, Job

q = shlex.quote
APP_NAME = "crime-processor"  # the processor's appName, hence its Mesos framework name
JOBS_PATH = "jobs"  # under the artifact server's directory
ENTRY_POINT = f"{JOBS_PATH}/{APP_NAME}.py"
# The demo venv (roles/demo/common.py) holds pyspark and the apps' dependencies; Debian 12's Python 3.11.
SPARK_HOME = f"{common.VENV}/lib/python3.11/site-packages/pyspark"
PYTHON = f"{common.VENV}/bin/python"
CLIENT = FIRST_MASTER  # submits, and reads the submission record in the gate

ENTRY_TEXT = """\
# Rendered by fastdata (roles/demo/mesos_job.py): the demo processor's entry point as a cluster-mode
# Spark job. The dispatcher's agent fetches this file; the apps tree and its venv are on every agent.
import runpy

runpy.run_module("apps.processor", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class JobPlatform:
    """What differs between the two Mesos platforms: where the dispatcher takes submissions, where
    libmesos is on the agents (a driver is a Mesos framework), and the HDFS the checkpoints and the
    archive go to (mesos: our NameNode; dcos: the hdfs package's nameservice)."""

    dispatcher: Callable[[Cluster], Dispatcher]
    libmesos: Callable[[DeploySpec], str]
    hdfs_root: Callable[[Cluster], str]
    # the batch job's client-mode driver: the mesos:// master URL, and a shell prelude that gives it the
    # HDFS client config when the platform's HDFS needs one (dcos: the hdfs package's endpoints)
    mesos_master: Callable[[Cluster], str]
    hadoop_conf: Callable[[Cluster], str] = lambda inventory: ""


def entry_url(spec: DeploySpec) -> str:
    if spec.artifact_server is None:
        raise ArtifactMissing("the inventory has no artifact server node (a bootstrap node or a master)")
    return f"{spec.artifact_server.url}/{ENTRY_POINT}"


def driver_env(spec: DeploySpec, inventory: Cluster, platform: JobPlatform) -> dict[str, str]:
    """The processor's environment (what its systemd unit gets on standalone) for a dispatcher's driver;
    no SPARK_MASTER: the dispatcher launches the driver with `--master` its own Mesos master."""
    env = common.processor_env(spec, inventory)
    root = platform.hdfs_root(inventory)
    env.update(
        CHECKPOINT_DIR=root + common.CHECKPOINTS,
        ARCHIVE_DIR=root + common.ARCHIVE,
        PYTHONPATH=common.APPS_DIR,
        PYTHONUNBUFFERED="1",
        MESOS_NATIVE_JAVA_LIBRARY=platform.libmesos(spec),
    )
    return env


def node_config(spec: DeploySpec, node: Node) -> str:
    """sha256 of what the driver and executors run from on an agent (the same on every agent)."""
    names = ("demo-wheels", "demo-apps", "spark-kafka", "pyspark", "py4j")
    return node_digest(common.pipeline_ops(spec, node, []), [spec.artifact(n) for n in names])


def processor_job(spec: DeploySpec, inventory: Cluster, platform: JobPlatform) -> Job:
    agent = inventory.agents[0]
    properties = {
        **common.job_conf(spec, inventory),  # executors, cores, memory, HDFS replication and user
        "spark.driver.supervise": "true",
        "spark.driver.cores": "1",
        "spark.driver.memory": spec.spark.driver_memory,
        "spark.mesos.executor.home": SPARK_HOME,
        "spark.pyspark.python": PYTHON,
        "spark.executorEnv.PYTHONPATH": common.APPS_DIR,
        "spark.mesos.driver.labels": f"fastdata.node-config:{node_config(spec, agent)}",
        **{f"spark.mesos.driverEnv.{k}": v for k, v in driver_env(spec, inventory, platform).items()},
    }
    return Job(name="processor", app_name=APP_NAME, app_resource=entry_url(spec), properties=properties)


# --- steps and gates ------------------------------------------------------------------------------------


def plan_entry_point(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """The entry point published by the artifact server (the step places it there)."""
    return [
        directory_op("demo-jobs-dir", f"{ARTIFACT_DIR}/{JOBS_PATH}", mode=0o755),
        file_op(
            "demo-job-entry",
            f"{APP_NAME} entry point served at {entry_url(spec)}",
            f"{ARTIFACT_DIR}/{ENTRY_POINT}",
            ENTRY_TEXT,
        ),
    ]


def steps(platform: JobPlatform) -> tuple[Step, Step]:
    """(the entry point on the artifact server: first in the demo phase, before the submission;
    the submission from the first master: last)."""

    def plan_processor_job(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
        job = processor_job(spec, inventory, platform)
        what = f"demo processor ({common.executor_count(spec, inventory)} executors)"
        return spark_dispatcher.submission_ops(spec, node, job, platform.dispatcher(inventory), what)

    return (
        Step("demo", ARTIFACT_SERVER, plan_entry_point, when=demo_enabled),
        Step("demo", CLIENT, plan_processor_job, when=demo_enabled),
    )


def gate(platform: JobPlatform, timeout: float) -> Gate:
    return spark_dispatcher.driver_gate(
        "demo processor driver running, executors on the agents",
        CLIENT,
        lambda spec, inventory: processor_job(spec, inventory, platform),
        platform.dispatcher,
        timeout,
    )


# --- the batch job (`fab batch`) ---------------------------------------------------------------------------


def batch_job(platform: JobPlatform) -> Callable[[DeploySpec, Cluster, bool], tuple[Node, str]]:
    """`fab batch` on a Mesos platform: apps.batch as a client-mode Spark driver on the first agent
    against the platform's Mesos (its executors on the agents, Spark from the demo venv there), so its
    JSON result comes back over SSH; a cluster-mode driver's output would stay in a Mesos sandbox. The
    driver is a Mesos framework: libmesos and LIBPROCESS_IP on its host (hdfs-spark-kafka4.md B.4)."""

    def job(spec: DeploySpec, inventory: Cluster, reconcile: bool) -> tuple[Node, str]:
        agent = inventory.agents[0]
        conf = {
            **common.job_conf(spec, inventory),
            "spark.mesos.executor.home": SPARK_HOME,
            "spark.pyspark.python": PYTHON,
            "spark.executorEnv.PYTHONPATH": common.APPS_DIR,
            "spark.driver.host": agent.private_ip,
            "spark.driver.bindAddress": agent.private_ip,
        }
        submit = " ".join(
            [
                "--master",
                platform.mesos_master(inventory),
                "--deploy-mode",
                "client",
                "--driver-memory",
                spec.spark.driver_memory,
                *(f"--conf {k}={v}" for k, v in sorted(conf.items())),
                "pyspark-shell",
            ]
        )
        env = {
            "HADOOP_USER_NAME": common.hdfs.DEMO_USER,
            "PYSPARK_SUBMIT_ARGS": submit,
            "PYTHONPATH": common.APPS_DIR,
            "MESOS_NATIVE_JAVA_LIBRARY": platform.libmesos(spec),
            "LIBPROCESS_IP": agent.private_ip,
        }
        flags = f"--archive-dir {q(platform.hdfs_root(inventory) + common.ARCHIVE)}"
        if reconcile:
            flags += f" --influx-url {q(common.influx_url(inventory))} --influx-db {common.INFLUX_DB}"
            flags += f" --influx-rp {common.INFLUX_RP}"
        prelude = platform.hadoop_conf(inventory)
        command = (
            f"{prelude + ' && ' if prelude else ''}cd {common.APPS_DIR} && "
            + " ".join(f"{k}={q(v)}" for k, v in env.items())
            + f" {common.VENV}/bin/python -m apps.batch {flags}"
        )
        return agent, command

    return job
