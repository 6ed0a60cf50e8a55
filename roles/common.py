"""What every platform shares: base packages on each node, and the artifact server.

The artifact server (DESIGN 3.4): the control machine pushes every artifact once, over SSH, to one
node (the bootstrap node when there is one, else the first master), which serves them over HTTP on the
private network; the other nodes fetch from it (roles/ops.artifact_op).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from roles.engine import Handler, Op, Planner, Settings, Step
from roles.inventory import Inventory, Node
from roles.ops import (
    ARTIFACT_DIR,
    ArtifactServer,
    apt_op,
    artifact_op,
    directory_op,
    file_op,
    restart_unit,
    service_op,
    unit_active,
)
from roles.templates import render

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


def prerequisites(java_roles: Collection[str]) -> Planner:
    """The prerequisites planner of a platform whose JVMs run on `java_roles`."""

    def plan_prerequisites(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
        return base_ops(node, java=node.role in java_roles)

    return plan_prerequisites


def artifact_server(inventory: Inventory) -> ArtifactServer | None:
    """The bootstrap node if there is one, else the first master; None for a cluster without either."""
    seeds = inventory.by_role("bootstrap") or inventory.masters
    if not seeds:
        return None
    return ArtifactServer(seeds[0].name, seeds[0].private_ip)


def source(settings: Mapping[str, Any], node: Node) -> ArtifactServer | None:
    """Where `node` gets artifacts from: None (pushed over SSH) on the server itself."""
    server: ArtifactServer | None = settings.get("artifactServer")
    return None if server is None or server.node == node.name else server


def plan_artifact_server(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    server: ArtifactServer | None = settings.get("artifactServer")
    if server is None or server.node != node.name:
        return []
    arts = settings.get("artifactFiles") or {}
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


def steps(java_roles: Collection[str]) -> tuple[Step, ...]:
    return (
        Step("prerequisites", ("master", "agent", "publicAgent", "bootstrap"), prerequisites(java_roles)),
        Step("bootstrap", ("bootstrap", "master"), plan_artifact_server),
    )


def handlers() -> dict[str, Handler]:
    return {
        SERVER_HANDLER: Handler(
            SERVER_HANDLER, "artifact server restarted", restart_unit(SERVER_UNIT), unit_active(SERVER_UNIT)
        ),
    }
