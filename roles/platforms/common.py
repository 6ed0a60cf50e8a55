"""What every platform shares: base packages on each node, the artifact server, the cached bundles.

The artifact server (DESIGN 3.4): the control machine pushes every artifact once, over SSH, to one
node (the bootstrap node when there is one, else the first master), which serves them over HTTP on the
private network; the other nodes fetch from it (roles/engine/ops.artifact_op).
"""

from __future__ import annotations

from collections.abc import Collection

from contract import Cluster, Node, Role
from roles.engine.executor import Handler, Op, Planner, Step
from roles.engine.ops import (
    ARTIFACT_DIR,
    apt_op,
    artifact_op,
    directory_op,
    file_op,
    service_op,
    unit_handler,
)
from roles.engine.placement import ARTIFACT_SERVER, EVERY_NODE
from roles.engine.spec import AppsBundle, CachedBundle, DeploySpec
from roles.engine.templates import render

# python3-venv: pyspark's and the demo apps' venvs; procps: pgrep/ps for diagnose.
BASE_PACKAGES = ("python3", "python3-venv", "procps", "ca-certificates")
# openjdk-17: the only JDK in Debian 12; fits Kafka 3.9 and Spark 3.5. Installing it costs about
# 7 CPU-seconds per node (measured in a local node), so only nodes that run a JVM get it.
JAVA_PACKAGES = ("openjdk-17-jre-headless",)

SERVER_UNIT = "fastdata-artifacts.service"
SERVER_HANDLER = "restart-artifact-server"


def base_ops(node: Node, java: bool) -> list[Op]:
    """The base packages (with Java when the node runs a JVM) and the artifact directory."""
    packages = (*JAVA_PACKAGES, *BASE_PACKAGES) if java else BASE_PACKAGES
    what = "Java 17 + Python venv" if java else "Python venv"
    return [
        apt_op("base-packages", packages, name=f"{what} installed on {node.name}"),
        directory_op("artifact-dir", ARTIFACT_DIR),
    ]


def prerequisites(java_roles: Collection[Role]) -> Planner:
    """The prerequisites planner of a platform whose JVMs run on `java_roles`."""

    def plan_prerequisites(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
        return base_ops(node, java=node.role in java_roles)

    return plan_prerequisites


def plan_artifact_server(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """Every artifact seeded on the server node, and the server running (the step places it there)."""
    server = spec.artifact_server
    assert server is not None and server.node == node.name, "placed on the artifact server only"
    arts = spec.artifacts
    unit = render("fastdata-artifacts.service", directory=ARTIFACT_DIR, ip=server.address, port=server.port)
    return [
        *(artifact_op(f"seed-{name}", arts[name]) for name in sorted(arts)),
        file_op(
            "artifact-server-unit",
            f"artifact server unit on {node.name}",
            f"/etc/systemd/system/{SERVER_UNIT}",
            unit,
            notify=[SERVER_HANDLER],
        ),
        service_op(
            "artifact-server-running",
            SERVER_UNIT,
            f"artifact server on {node.name} serving {server.url}",
            satisfies=[SERVER_HANDLER],
        ),
    ]


ARTIFACT_SERVER_STEP = Step("bootstrap", ARTIFACT_SERVER, plan_artifact_server)


def steps(java_roles: Collection[Role]) -> tuple[Step, ...]:
    return (Step("prerequisites", EVERY_NODE, prerequisites(java_roles)), ARTIFACT_SERVER_STEP)


def handlers() -> dict[str, Handler]:
    return {
        SERVER_HANDLER: unit_handler(SERVER_HANDLER, "artifact server restarted", SERVER_UNIT),
    }


# The bundles ./scripts/fetch-artifacts.sh caches, which every platform's nodes get (dcos: not Kafka's jars,
# its Kafka is the DC/OS package), and the demo apps built from this checkout.
KAFKA_BUNDLE = CachedBundle("kafka")
SPARK_BUNDLES = (CachedBundle("spark-kafka"), CachedBundle("pyspark"), CachedBundle("py4j"))
HADOOP_BUNDLE = CachedBundle("hadoop")  # HDFS: standalone and mesos run it from the jars
DEMO_BUNDLES = (CachedBundle("demo-wheels"), AppsBundle())
