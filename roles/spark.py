"""Spark standalone from the pip-installed pyspark: master on the master node, a worker per agent."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence

from roles import common
from roles.connection import Remote
from roles.engine import Check, Op, Settings
from roles.inventory import Inventory, Node
from roles.ops import (
    ARTIFACT_DIR,
    artifact_op,
    directory_op,
    file_op,
    marker_op,
    service_op,
    unpack_op,
    user_op,
)
from roles.templates import render

VENV = "/opt/spark/venv"
SPARK_CLASS = f"{VENV}/bin/spark-class"
CONNECTOR_DIR = "/opt/spark/kafka-connector"
MASTER_PORT = 7077
MASTER_UI = 8080
WORKER_UI = 8081
MASTER_UNIT = "spark-master.service"
WORKER_UNIT = "spark-worker.service"


def master_url(inventory: Inventory) -> str:
    return ",".join(f"spark://{m.private_ip}:{MASTER_PORT}" for m in inventory.masters)


def pyspark_op(settings: Settings, node: Node, notify: Sequence[str]) -> Op:
    """pyspark (and py4j) installed into a venv from the pushed wheels: no index, works air-gapped."""
    arts = settings["artifactFiles"]
    wheels = [arts["py4j"], arts["pyspark"]]
    want = ",".join(w.sha256 for w in wheels)
    marker = f"{VENV}/.fastdata-wheels"

    def apply(r: Remote) -> None:
        paths = " ".join(shlex.quote(f"{ARTIFACT_DIR}/{w.filename}") for w in wheels)
        r.run(
            f"test -x {VENV}/bin/pip || python3 -m venv {VENV}; "
            f"{VENV}/bin/pip install -q --no-index --no-deps --force-reinstall {paths} && "
            f"echo {want} > {marker}",
            timeout=900,
        )

    return marker_op(
        "pyspark",
        f"pyspark {settings['versions']['spark']} installed in {VENV} on {node.name}",
        marker,
        want,
        "pyspark",
        apply,
        notify=notify,
    )


def install_ops(settings: Settings, node: Node, notify: Sequence[str]) -> list[Op]:
    """pyspark in its venv, from the pushed wheels; `notify`: the restarts to queue when it changes."""
    arts = settings["artifactFiles"]
    src = common.source(settings, node)
    return [
        user_op("spark-user", "spark", "/var/lib/spark"),
        directory_op("spark-home", "/var/lib/spark", owner="spark", mode=0o750),
        directory_op("spark-work", "/var/lib/spark/work", owner="spark", mode=0o750),
        artifact_op("py4j-artifact", arts["py4j"], src),
        artifact_op("pyspark-artifact", arts["pyspark"], src),
        pyspark_op(settings, node, notify),
    ]


def unit_text(settings: Settings, node: Node, what: str, main_class: str, args: str, heap: str) -> str:
    return render(
        "spark.service",
        version=settings["versions"]["spark"],
        what=what,
        daemon_heap=heap,
        ip=node.private_ip,
        spark_class=SPARK_CLASS,
        venv=VENV,
        main_class=main_class,
        args=args,
    )


def _daemon_ops(
    settings: Settings, node: Node, what: str, unit_name: str, main_class: str, args: str, heap: str
) -> list[Op]:
    """A Spark daemon (master or worker) as a systemd unit: pyspark installed, unit rendered, running."""
    handler = f"restart-spark-{what}"
    return [
        *install_ops(settings, node, [handler]),
        file_op(
            f"spark-{what}-unit",
            f"Spark {what} unit on {node.name}",
            f"/etc/systemd/system/{unit_name}",
            unit_text(settings, node, what, main_class, args, heap),
            notify=[handler],
        ),
        service_op(
            f"spark-{what}-running", unit_name, f"Spark {what} {node.name} running", satisfies=[handler]
        ),
    ]


def plan_master(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    args = f"--host {node.private_ip} --port {MASTER_PORT} --webui-port {MASTER_UI}"
    return _daemon_ops(
        settings,
        node,
        "master",
        MASTER_UNIT,
        "org.apache.spark.deploy.master.Master",
        args,
        settings["spark"]["masterHeap"],
    )


def plan_worker(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    s = settings["spark"]
    args = (
        f"--host {node.private_ip} --webui-port {WORKER_UI} --cores {s['workerCores']} "
        f"--memory {s['workerMemory']} --work-dir /var/lib/spark/work {master_url(inventory)}"
    )
    return _daemon_ops(
        settings, node, "worker", WORKER_UNIT, "org.apache.spark.deploy.worker.Worker", args, s["workerHeap"]
    )


def plan_connector(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    """The Spark Kafka connector jars where drivers and executors run (the demo's processor)."""
    art = settings["artifactFiles"]["spark-kafka"]
    return [
        artifact_op("spark-kafka-artifact", art, common.source(settings, node)),
        unpack_op("spark-kafka-jars", art, CONNECTOR_DIR),
    ]


def parse_master_json(text: str) -> tuple[str, list[str]]:
    """(master status, addresses of ALIVE workers) from the master's :8080/json."""
    data = json.loads(text)
    alive = [w.get("host", "?") for w in data.get("workers", []) if w.get("state") == "ALIVE"]
    return str(data.get("status", "UNKNOWN")), alive


def probe_workers(settings: Settings, inventory: Inventory, remote_for: Callable[[Node], Remote]) -> Check:
    master = inventory.masters[0]
    r = remote_for(master)
    url = f"http://{master.private_ip}:{MASTER_UI}/json"
    out = r.run(
        'python3 -c "import urllib.request;'
        f"print(urllib.request.urlopen('{url}',timeout=5).read().decode())\"",
        check=False,
        timeout=30,
    )
    if not out.ok:
        return Check(False, f"master UI {url} not answering")
    status, alive = parse_master_json(out.stdout)
    want = {a.private_ip for a in inventory.agents}
    if status != "ALIVE" or not want <= set(alive):
        return Check(False, f"master {status}, workers alive {sorted(alive)}, want {sorted(want)}")
    return Check(True, f"master ALIVE, {len(alive)} workers registered")
