"""Spark from the pip-installed pyspark: on standalone the master on the master node and a worker per
agent (systemd units, their restart handlers and the workers gate declared here); on mesos the same
install on every agent runs the dispatcher, drivers and executors."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence

from contract import Cluster, Node
from roles.engine.connection import Remote
from roles.engine.executor import Check, Gate, Handler, Op, RemoteFor
from roles.engine.ops import (
    ARTIFACT_DIR,
    artifact_op,
    directory_op,
    file_op,
    http_get,
    marker_op,
    service_op,
    source,
    unit_handler,
    unpack_op,
    user_op,
)
from roles.engine.placement import FIRST_MASTER, first_node
from roles.engine.spec import DeploySpec
from roles.engine.templates import render

VENV = "/opt/spark/venv"
SPARK_CLASS = f"{VENV}/bin/spark-class"
CONNECTOR_DIR = "/opt/spark/kafka-connector"
MASTER_PORT = 7077
MASTER_UI = 8080
WORKER_UI = 8081
MASTER_UNIT = "spark-master.service"
WORKER_UNIT = "spark-worker.service"


def master_url(inventory: Cluster) -> str:
    return ",".join(f"spark://{m.private_ip}:{MASTER_PORT}" for m in inventory.masters)


def pyspark_op(spec: DeploySpec, node: Node, notify: Sequence[str]) -> Op:
    """pyspark (and py4j) installed into a venv from the pushed wheels: no index, works air-gapped."""
    wheels = [spec.artifact("py4j"), spec.artifact("pyspark")]
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
        f"pyspark {spec.versions.spark} installed in {VENV} on {node.name}",
        marker,
        want,
        "pyspark",
        apply,
        notify=notify,
    )


def install_ops(spec: DeploySpec, node: Node, notify: Sequence[str]) -> list[Op]:
    """pyspark in its venv, from the pushed wheels; `notify`: the restarts to queue when it changes."""
    src = source(spec, node)
    return [
        user_op("spark-user", "spark", "/var/lib/spark"),
        directory_op("spark-home", "/var/lib/spark", owner="spark", mode=0o750),
        directory_op("spark-work", "/var/lib/spark/work", owner="spark", mode=0o750),
        artifact_op("py4j-artifact", spec.artifact("py4j"), src),
        artifact_op("pyspark-artifact", spec.artifact("pyspark"), src),
        pyspark_op(spec, node, notify),
    ]


def unit_text(spec: DeploySpec, node: Node, what: str, main_class: str, args: str, heap: str) -> str:
    return render(
        "spark.service",
        version=spec.versions.spark,
        what=what,
        daemon_heap=heap,
        ip=node.private_ip,
        spark_class=SPARK_CLASS,
        venv=VENV,
        main_class=main_class,
        args=args,
    )


def _daemon_ops(
    spec: DeploySpec, node: Node, what: str, unit_name: str, main_class: str, args: str, heap: str
) -> list[Op]:
    """A Spark daemon (master or worker) as a systemd unit: pyspark installed, unit rendered, running."""
    handler = f"restart-spark-{what}"
    return [
        *install_ops(spec, node, [handler]),
        file_op(
            f"spark-{what}-unit",
            f"Spark {what} unit on {node.name}",
            f"/etc/systemd/system/{unit_name}",
            unit_text(spec, node, what, main_class, args, heap),
            notify=[handler],
        ),
        service_op(
            f"spark-{what}-running", unit_name, f"Spark {what} {node.name} running", satisfies=[handler]
        ),
    ]


def plan_master(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    args = f"--host {node.private_ip} --port {MASTER_PORT} --webui-port {MASTER_UI}"
    return _daemon_ops(
        spec,
        node,
        "master",
        MASTER_UNIT,
        "org.apache.spark.deploy.master.Master",
        args,
        spec.spark.master_heap,
    )


def plan_worker(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    s = spec.spark
    args = (
        f"--host {node.private_ip} --webui-port {WORKER_UI} --cores {s.worker_cores} "
        f"--memory {s.worker_memory} --work-dir /var/lib/spark/work {master_url(inventory)}"
    )
    return _daemon_ops(
        spec, node, "worker", WORKER_UNIT, "org.apache.spark.deploy.worker.Worker", args, s.worker_heap
    )


def plan_install(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """pyspark on a node where Spark runs without a unit of its own (mesos: dispatcher, drivers, executors
    find SPARK_HOME there)."""
    return install_ops(spec, node, ())


def plan_connector(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """The Spark Kafka connector jars where drivers and executors run (the demo's processor)."""
    art = spec.artifact("spark-kafka")
    return [
        artifact_op("spark-kafka-artifact", art, source(spec, node)),
        unpack_op("spark-kafka-jars", art, CONNECTOR_DIR),
    ]


def parse_master_json(text: str) -> tuple[str, list[str]]:
    """(master status, addresses of ALIVE workers) from the master's :8080/json."""
    data = json.loads(text)
    alive = [w.get("host", "?") for w in data.get("workers", []) if w.get("state") == "ALIVE"]
    return str(data.get("status", "UNKNOWN")), alive


def probe_workers(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    master = first_node(inventory, FIRST_MASTER)
    r = remote_for(master)
    url = f"http://{master.private_ip}:{MASTER_UI}/json"
    out = r.run(http_get(url), check=False, timeout=30)
    if not out.ok:
        return Check(False, f"master UI {url} not answering")
    status, alive = parse_master_json(out.stdout)
    want = {a.private_ip for a in inventory.agents}
    if status != "ALIVE" or not want <= set(alive):
        return Check(False, f"master {status}, workers alive {sorted(alive)}, want {sorted(want)}")
    return Check(True, f"master ALIVE, {len(alive)} workers registered")


def parse_apps(text: str) -> list[dict[str, object]]:
    """The master's :8080/json activeapps (id, name, state, cores, ...)."""
    return list(json.loads(text).get("activeapps") or [])


def parse_worker_executors(text: str) -> list[str]:
    """The app ids of the executors running on one worker, from its :8081/json."""
    return [str(e.get("appid", "")) for e in json.loads(text).get("executors") or []]


def running_app(
    inventory: Cluster, remote_for: RemoteFor, name: str
) -> tuple[dict[str, object] | None, dict[str, int], str]:
    """(the RUNNING application called `name` or None, executors per worker host, a problem or "").

    The master lists applications but not where their executors are: each worker's JSON says."""
    master = first_node(inventory, FIRST_MASTER)
    r = remote_for(master)
    out = r.run(http_get(f"http://{master.private_ip}:{MASTER_UI}/json"), check=False, timeout=30)
    if not out.ok:
        return None, {}, f"master UI on {master.name}:{MASTER_UI} not answering"
    apps = [a for a in parse_apps(out.stdout) if a.get("name") == name]
    app = next((a for a in apps if a.get("state") == "RUNNING"), None)
    if app is None:
        states = ", ".join(str(a.get("state")) for a in apps) or "not submitted"
        return None, {}, f"application {name} on the Spark master: {states}"
    hosts: dict[str, int] = {}
    for worker in inventory.agents:
        res = r.run(http_get(f"http://{worker.private_ip}:{WORKER_UI}/json"), check=False, timeout=30)
        if res.ok:
            n = parse_worker_executors(res.stdout).count(str(app.get("id")))
            if n:
                hosts[worker.name] = n
    return app, hosts, ""


def app_probe(name: str, min_hosts: int) -> Callable[[DeploySpec, Cluster, RemoteFor], Check]:
    """The gate: `name` RUNNING on the standalone master, with executors on at least `min_hosts` agents
    (or on every agent when there are fewer)."""

    def probe(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
        app, hosts, problem = running_app(inventory, remote_for, name)
        if app is None:
            return Check(False, problem)
        staying = [a for a in inventory.agents if a.name not in spec.drained]
        want = min(min_hosts, len(staying), spec.spark.executor_count(len(staying)))
        where = ", ".join(f"{h} ({n})" for h, n in sorted(hosts.items())) or "none yet"
        if len(hosts) < want:
            return Check(
                False, f"{name} {app.get('id')} RUNNING, executors on {where}; want >= {want} agents"
            )
        return Check(True, f"{name} {app.get('id')} RUNNING, executors on {where}")

    return probe


def handlers() -> dict[str, Handler]:
    """The standalone daemons' restarts: the master alone, the workers all at once."""
    return {
        f"restart-spark-{what}": unit_handler(
            f"restart-spark-{what}", f"Spark {what} restarted", unit, rolling=rolling
        )
        for what, unit, rolling in (("master", MASTER_UNIT, True), ("worker", WORKER_UNIT, False))
    }


def gates(layer: str, after_phase: str) -> tuple[Gate, ...]:
    return (Gate(layer, "all Spark workers registered", probe_workers, 120, after_phase=after_phase),)
