"""The crime demo as Marathon apps (mesos and dcos): the producer pinned to the first agent, the
dashboard to the first public agent beside InfluxDB, each from the files the node steps put there
(roles/demo/common.py); the definitions are submitted from the first master. The processor is not a
Marathon app: it is a Spark job submitted to the platform's dispatcher (roles/demo/mesos_job.py), whose
driver and executors may run on any private agent, so every agent gets the pipeline's files."""

from __future__ import annotations

from collections.abc import Mapping

from contract import Cluster, Node
from roles.artifacts import Artifact
from roles.demo import common
from roles.engine.executor import Gate, Op, Step
from roles.engine.placement import EVERY_AGENT, FIRST_AGENT, FIRST_MASTER, FIRST_PUBLIC_AGENT, first_node
from roles.engine.spec import DeploySpec, demo_enabled
from roles.packages.marathon import App, apps_gate, apps_planner, health_check, node_digest, pinned_app

PIPELINE = FIRST_AGENT  # where the producer runs (and the data probe)
# What the processor's driver and executors run from: the dispatcher places them on any private agent.
PIPELINE_NODES = EVERY_AGENT


def task_env(env: Mapping[str, str]) -> dict[str, str]:
    """The systemd units' environment (common.service) for a Marathon task, which starts in its sandbox."""
    return {
        **env,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": common.APPS_DIR,
        "PATH": f"{common.VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }


def demo_apps(spec: DeploySpec, inventory: Cluster) -> list[App]:
    """The producer on the first agent, the dashboard on the first public agent (beside InfluxDB); the
    same environment the standalone units get (roles/demo/systemd.py)."""
    if not spec.demo.enabled:
        return []
    agent, public = first_node(inventory, PIPELINE), first_node(inventory, FIRST_PUBLIC_AGENT)
    pipeline = node_digest(common.pipeline_ops(spec, agent, []), _demo_artifacts(spec, True))
    dashboard = node_digest(common.public_ops(spec, public, []), _demo_artifacts(spec, False))
    # name, node, cpus, mem, fixed ports, health path, environment, node digest; all run as root like the
    # standalone units (the dashboard binds port 80; its unit gets CAP_NET_BIND_SERVICE instead)
    apps = (
        ("producer", agent, 0.5, 512, (("metrics", common.PRODUCER_METRICS_PORT),), "/healthz",
         common.producer_env(spec, inventory), pipeline),
        ("dashboard", public, 0.5, 256, (("http", common.DASHBOARD_PORT),), "/healthz",
         common.dashboard_env(inventory), dashboard),
    )  # fmt: skip
    return [
        pinned_app(
            f"/fastdata/demo/{name}",
            node,
            [f"{common.VENV}/bin/python", "-m", f"apps.{name}"],
            user="root",
            cpus=cpus,
            mem=mem,
            ports=ports,
            health=health_check("MESOS_HTTP", 0, path) if path else None,
            env=task_env(env),
            digest=digest,
        )
        for name, node, cpus, mem, ports, path, env, digest in apps
    ]


def _demo_artifacts(spec: DeploySpec, with_pyspark: bool) -> list[Artifact]:
    names = ["demo-wheels", "demo-apps", "spark-kafka"] + (["pyspark", "py4j"] if with_pyspark else [])
    return [spec.artifact(n) for n in names]


def plan_pipeline_node(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """What the producer and the processor's driver and executors run from, on every agent."""
    return common.pipeline_ops(spec, node, [])


def plan_public_node(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """InfluxDB and what the dashboard runs from, on the first public agent."""
    return common.public_ops(spec, node, [])


plan_demo_apps = apps_planner(demo_apps)
APPS_STEP = Step("demo", FIRST_MASTER, plan_demo_apps, when=demo_enabled)


def gates(apps_timeout: float, *jobs: Gate) -> tuple[Gate, ...]:
    """The demo apps healthy, the platform's `jobs` gates (the processor), then the end-to-end probe."""
    return (
        apps_gate("apps healthy", "demo", "demo apps healthy", demo_apps, apps_timeout),
        *jobs,
        common.data_gate(PIPELINE),
    )
