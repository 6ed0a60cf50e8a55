"""Prerequisites every node gets, whatever the platform: Java, Python venv support, base tools."""

from __future__ import annotations

from roles.engine import Op, Settings
from roles.inventory import Inventory, Node
from roles.ops import apt_op, directory_op

# openjdk-17: the only JDK in Debian 12; fits Kafka 3.9 and Spark 3.5. python3-venv: pyspark's venv.
BASE_PACKAGES = ("openjdk-17-jre-headless", "python3", "python3-venv", "procps", "ca-certificates")


def plan_prerequisites(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    return [
        apt_op("base-packages", BASE_PACKAGES, name=f"Java 17 + Python venv installed on {node.name}"),
        directory_op("artifact-dir", "/opt/fastdata/artifacts"),
    ]
