"""Spark from the pip-installed pyspark: on standalone the master on the master node and a worker per
agent (systemd units, their restart handlers and the workers gate declared here); on mesos the same
install on every agent runs the dispatcher, drivers and executors.

A Spark patch version change (3.5.x -> 3.5.y) rolls on standalone: the new version is installed next to
the old one (/opt/spark/<version>/venv), the master is restarted first (the masters phase), then the
workers one at a time (the agents phase), each restart gated on the daemon being back (the master ALIVE,
the worker registered with it). A restarted master kills the executors of applications it does not know,
so the client-mode drivers on the master node (`drivers`: the demo's processor) are stopped before it
restarts and started again by their own step after the workers rolled: they resume from their HDFS
checkpoints. Each daemon's running version is read from its JVM, so an interrupted roll resumes with the
daemons still on the old version and never restarts one already on the new one."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence

from contract import Cluster, Node
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Gate, Handler, Op, RemoteFor
from roles.engine.ops import (
    ARTIFACT_DIR,
    artifact_op,
    directory_op,
    file_op,
    http_get,
    marker_op,
    parse_running,
    probed,
    restart_unit,
    service_op,
    source,
    unpack_op,
    user_op,
)
from roles.engine.placement import EVERY_AGENT, FIRST_MASTER, first_node
from roles.engine.spec import DeploySpec
from roles.engine.templates import render

# One venv per Spark version, side by side (as Kafka's jars): installing a new patch release never touches
# the files a running daemon uses; the unit names its version's venv, so a version change rewrites the
# unit and queues the (rolling) restart.
SPARK_ROOT = "/opt/spark"
CONNECTOR_DIR = "/opt/spark/kafka-connector"
MASTER_PORT = 7077
MASTER_UI = 8080
WORKER_UI = 8081
MASTER_UNIT = "spark-master.service"
WORKER_UNIT = "spark-worker.service"


def venv(version: str) -> str:
    return f"{SPARK_ROOT}/{version}/venv"


def spark_class(version: str) -> str:
    return f"{venv(version)}/bin/spark-class"


def spark_home(version: str) -> str:
    """SPARK_HOME inside the pip-installed pyspark (Debian 12's Python is 3.11)."""
    return f"{venv(version)}/lib/python3.11/site-packages/pyspark"


def master_url(inventory: Cluster) -> str:
    return ",".join(f"spark://{m.private_ip}:{MASTER_PORT}" for m in inventory.masters)


def pyspark_op(spec: DeploySpec, node: Node, notify: Sequence[str]) -> Op:
    """pyspark (and py4j) installed into a venv from the pushed wheels: no index, works air-gapped."""
    wheels = [spec.artifact("py4j"), spec.artifact("pyspark")]
    want = ",".join(w.sha256 for w in wheels)
    env = venv(spec.versions.spark)
    marker = f"{env}/.fastdata-wheels"

    def apply(r: Remote) -> None:
        paths = " ".join(shlex.quote(f"{ARTIFACT_DIR}/{w.filename}") for w in wheels)
        r.run(
            f"test -x {env}/bin/pip || python3 -m venv {env}; "
            f"{env}/bin/pip install -q --no-index --no-deps --force-reinstall {paths} && "
            f"echo {want} > {marker}",
            timeout=900,
        )

    return marker_op(
        "pyspark",
        f"pyspark {spec.versions.spark} installed in {env} on {node.name}",
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
        spark_class=spark_class(spec.versions.spark),
        venv=venv(spec.versions.spark),
        main_class=main_class,
        args=args,
    )


UNITS = {"master": MASTER_UNIT, "worker": WORKER_UNIT}
HANDLERS = {what: f"restart-spark-{what}" for what in UNITS}


def running_facts(unit: str) -> str:
    """Shell: `<version> <started> <unit changed>` of the daemon's running JVM (epoch seconds; the version
    from the venv on its class path: "unversioned" for the single venv of fastdata before side-by-side
    installs), or nothing when it is not running. spark-class execs java, so MainPID is the JVM."""
    script = r"""pid=$(systemctl show -p MainPID --value @UNIT@ 2>/dev/null)
if [ -n "$pid" ] && [ "$pid" != 0 ] && [ -r /proc/$pid/cmdline ]; then
  cmd=$(tr '\0' ' ' < /proc/$pid/cmdline)
  start=$(( $(date +%s) - $(ps -o etimes= -p "$pid") ))
  changed=$(stat -c %Y /etc/systemd/system/@UNIT@ 2>/dev/null || echo 0)
  case "$cmd" in
    *@ROOT@/venv/*) v=unversioned ;;
    *) v=$(echo "$cmd" | sed -n 's|.*@ROOT@/\([^/: ]*\)/venv/.*|\1|p') ;;
  esac
  echo "${v:-unknown} $start $changed"
fi"""
    return script.replace("@UNIT@", unit).replace("@ROOT@", SPARK_ROOT)


def rolling_step(inventory: Cluster, node: Node, what: str) -> str:
    if what == "master":
        return "the master first"
    workers = EVERY_AGENT.select(inventory)
    i = next(i for i, n in enumerate(workers) if n.name == node.name)
    return f"worker {i + 1} of {len(workers)}, one at a time after the master"


def current_op(spec: DeploySpec, inventory: Cluster, node: Node, what: str) -> Op:
    """The running daemon is the deployed one: the target version's venv, started after its unit last
    changed. Otherwise its restart (rolling, health-gated) is queued. Read from the node on every run: a
    roll interrupted halfway re-queues only the daemons still on the old version."""
    target = spec.versions.spark
    unit = UNITS[what]

    def judge(res: RunResult) -> Check:
        running = parse_running(res.stdout)
        if running is None:
            return Check(False, f"Spark {what} not running: restart queued")
        version, started, changed = running
        if version != target:
            return Check(False, f"runs Spark {version}: to {target} ({rolling_step(inventory, node, what)})")
        if changed > started:
            return Check(False, "its unit changed after it started: restart queued")
        return Check(True, f"runs Spark {target}, started after its unit last changed")

    def apply(r: Remote) -> None:  # by_restart: the handler restarts it
        raise AssertionError("by_restart ops are applied by their handler")

    return probed(
        f"spark-{what}-current",
        f"Spark {what} {node.name} runs {target} with its current unit",
        running_facts(unit),
        judge,
        apply,
        notify=(HANDLERS[what],),
        by_restart=True,
    )


def _daemon_ops(
    spec: DeploySpec,
    inventory: Cluster,
    node: Node,
    what: str,
    main_class: str,
    args: str,
    heap: str,
) -> list[Op]:
    """A Spark daemon (master or worker) as a systemd unit: pyspark installed, unit rendered, running, and
    running the deployed version (else restarted in turn)."""
    handler = HANDLERS[what]
    unit_name = UNITS[what]
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
        current_op(spec, inventory, node, what),
    ]


def plan_master(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    args = f"--host {node.private_ip} --port {MASTER_PORT} --webui-port {MASTER_UI}"
    return _daemon_ops(
        spec,
        inventory,
        node,
        "master",
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
        spec, inventory, node, "worker", "org.apache.spark.deploy.worker.Worker", args, s.worker_heap
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


def parse_worker_master(text: str) -> str:
    """The master a worker is registered with, from its :8081/json ("" until it registered)."""
    return str(json.loads(text).get("masterurl") or "")


def master_alive(r: Remote) -> Check:
    """The restarted master's health: its JSON API answers ALIVE."""
    out = r.run(http_get(f"http://{r.node.private_ip}:{MASTER_UI}/json"), check=False, timeout=30)
    if not out.ok:
        return Check(False, f"master UI on {r.node.name}:{MASTER_UI} not answering")
    status, alive = parse_master_json(out.stdout)
    return Check(status == "ALIVE", f"master {status}, {len(alive)} workers registered")


def worker_registered(r: Remote) -> Check:
    """The restarted worker's health: registered with a master again (its executors get rescheduled)."""
    out = r.run(http_get(f"http://{r.node.private_ip}:{WORKER_UI}/json"), check=False, timeout=30)
    if not out.ok:
        return Check(False, f"worker UI on {r.node.name}:{WORKER_UI} not answering")
    master = parse_worker_master(out.stdout)
    return Check(bool(master), f"registered with {master}" if master else "not registered with a master yet")


def handlers(drivers: Sequence[str] = ()) -> dict[str, Handler]:
    """The standalone daemons' restarts, rolling and health-gated: each master until ALIVE, then each worker
    until registered again. `drivers`: units of client-mode drivers on the master nodes, stopped before a
    master restarts (their steps start them again, from their checkpoints)."""
    restart_master = restart_unit(MASTER_UNIT)

    def master(r: Remote) -> None:
        for unit in drivers:
            r.run(f"systemctl stop {shlex.quote(unit)} 2>/dev/null || true", timeout=180)
        restart_master(r)

    return {
        HANDLERS["master"]: Handler(
            HANDLERS["master"], "Spark master restarted (rolling)", master, master_alive, True, 180
        ),
        HANDLERS["worker"]: Handler(
            HANDLERS["worker"],
            "Spark worker restarted (rolling)",
            restart_unit(WORKER_UNIT),
            worker_registered,
            True,
            180,
        ),
    }


def gates(layer: str, after_phase: str) -> tuple[Gate, ...]:
    return (Gate(layer, "all Spark workers registered", probe_workers, 120, after_phase=after_phase),)
