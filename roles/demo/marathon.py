"""The crime demo as Marathon apps (mesos and dcos): the producer and the processor pinned to the first
agent, the dashboard to the first public agent beside InfluxDB, each from the files the node steps put
there (roles/demo/common.py); the definitions are submitted from the first master."""

from __future__ import annotations

from collections.abc import Mapping

from contract import Cluster, Node
from roles.artifacts import Artifact
from roles.demo import common
from roles.engine.executor import Gate, Op, Step
from roles.engine.placement import FIRST_AGENT, FIRST_MASTER, FIRST_PUBLIC_AGENT, first_node
from roles.engine.spec import DeploySpec, demo_enabled
from roles.packages.marathon import App, apps_gate, apps_planner, health_check, node_digest, pinned_app

PIPELINE = FIRST_AGENT  # where the producer and the processor run (and the data probe)


def task_env(env: Mapping[str, str]) -> dict[str, str]:
    """The systemd units' environment (common.service) for a Marathon task, which starts in its sandbox."""
    return {
        **env,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": common.APPS_DIR,
        "PATH": f"{common.VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }


def demo_apps(spec: DeploySpec, inventory: Cluster) -> list[App]:
    """Producer and processor on the first agent, the dashboard on the first public agent (beside
    InfluxDB); the same environment the standalone units get (roles/demo/systemd.py)."""
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
        ("processor", agent, 1.0, 1536, (), None, common.processor_env(spec, inventory), pipeline),
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
    """What the producer and the processor run from, on their node."""
    return common.pipeline_ops(spec, node, [])


def plan_public_node(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """InfluxDB and what the dashboard runs from, on the first public agent."""
    return common.public_ops(spec, node, [])


plan_demo_apps = apps_planner(demo_apps)
APPS_STEP = Step("demo", FIRST_MASTER, plan_demo_apps, when=demo_enabled)


def gates(apps_timeout: float) -> tuple[Gate, ...]:
    return (
        apps_gate("apps healthy", "demo", "demo apps healthy", demo_apps, apps_timeout),
        common.data_gate(PIPELINE),
    )
