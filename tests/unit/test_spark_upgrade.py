"""Spark 3.5.x patch changes on standalone, with fake node facts: each version gets its own venv (the unit
names it), `fab plan` shows which daemon moves from which version to which and in which order, and the
roll restarts the master (after stopping the client-mode processor) and then one worker at a time, each
gated on being back, never a daemon that already runs the target version (a resumed roll)."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
from pathlib import Path

import pytest

from contract import Cluster, Node
from roles.demo import systemd as demo
from roles.engine.connection import RunResult
from roles.engine.executor import Executor, Progress, plan_phases
from roles.engine.spec import DeploySpec
from roles.packages import spark
from roles.platforms import mesos
from roles.platforms.standalone import PLATFORM
from tests.mesos_cluster import mesos_spec
from tests.unit.test_engine import FakeHost, fake_artifacts, inventory_dict, spec_from

pytestmark = pytest.mark.unit


def spec_with(version: str, agents: int = 3) -> tuple[DeploySpec, Cluster]:
    d = inventory_dict(agents)
    d["settings"]["versions"]["spark"] = version
    return spec_from(d, fake_artifacts())  # type: ignore[return-value]


def test_each_version_has_its_own_venv_and_the_unit_names_it() -> None:
    spec, inv = spec_with("3.5.6")
    phases = plan_phases(PLATFORM, spec, inv)
    files = {f.path: f.content.decode() for o in phases["agents"]["agent-0"] for f in o.files}
    unit = files["/etc/systemd/system/spark-worker.service"]
    assert "ExecStart=/opt/spark/3.5.6/venv/bin/spark-class org.apache.spark.deploy.worker.Worker" in unit
    assert "Environment=PATH=/opt/spark/3.5.6/venv/bin:" in unit
    pyspark = next(o for o in phases["agents"]["agent-0"] if o.key == "pyspark")
    assert "/opt/spark/3.5.6/venv" in pyspark.name


def test_the_mesos_dispatcher_runs_the_deployed_versions_venv(tmp_path: Path) -> None:
    spec, inv = mesos_spec(tmp_path)
    app = mesos.dispatcher_app(spec, inv)
    version = spec.versions.spark
    assert app["args"][0] == f"/opt/spark/{version}/venv/bin/spark-class"
    home = f"/opt/spark/{version}/venv/lib/python3.11/site-packages/pyspark"
    assert f"spark.mesos.executor.home={home}" in app["args"]


def test_running_facts_script_reads_the_version_from_the_jvm_class_path() -> None:
    """The probe is shell: run its version-extraction part against class paths of both layouts."""
    script = spark.running_facts("spark-worker.service")
    case = script[script.index('  case "$cmd"') : script.index("  esac") + len("  esac")]
    for cmd, want in (
        (
            "java -cp /opt/spark/3.5.6/venv/lib/python3.11/site-packages/pyspark/conf/:/opt/spark/3.5.6/venv/"
            "lib/python3.11/site-packages/pyspark/jars/* -Xmx1g org.apache.spark.deploy.worker.Worker",
            "3.5.6",
        ),
        ("java -cp /opt/spark/venv/lib/python3.11/site-packages/pyspark/jars/* x", "unversioned"),
    ):
        out = subprocess.run(
            ["bash", "-c", f'cmd="{cmd}"\n{case}\necho "$v"'], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert out == want


def test_current_op_judges_version_and_unit_age() -> None:
    spec, inv = spec_with("3.5.7")
    worker = spark.current_op(spec, inv, inv.agents[1], "worker")
    master = spark.current_op(spec, inv, inv.masters[0], "master")
    assert worker.judge is not None and master.judge is not None and worker.by_restart
    old = worker.judge(RunResult("", 0, "3.5.6 100 50\n", ""))
    assert (
        not old.ok
        and old.detail == "runs Spark 3.5.6: to 3.5.7 (worker 2 of 3, one at a time after the master)"
    )
    assert "the master first" in master.judge(RunResult("", 0, "unversioned 100 50\n", "")).detail
    assert "unit changed" in worker.judge(RunResult("", 0, "3.5.7 100 200\n", "")).detail
    assert "not running" in worker.judge(RunResult("", 0, "", "")).detail
    assert worker.judge(RunResult("", 0, "3.5.7 200 100\n", "")).ok


class Daemon(FakeHost):
    """A node running Spark `version` until `systemctl restart` of its unit, then `target`; its JSON API
    answers as a healthy master (ALIVE) or a registered worker."""

    def __init__(self, node: Node, version: str, target: str, log: list[str]) -> None:
        super().__init__(node.name, handler=self.answer)
        self.node, self.version, self.target, self.log = node, version, target, log

    def answer(self, cmd: str) -> RunResult | None:
        if cmd.startswith("systemctl stop "):
            self.log.append(f"{self.node.name}: {cmd.split()[2]} stopped")
        if "systemctl restart" in cmd:
            self.log.append(f"{self.node.name}: {cmd.split()[-1].removesuffix('.service')} restarted")
            self.version = self.target
        if cmd in (spark.running_facts(spark.MASTER_UNIT), spark.running_facts(spark.WORKER_UNIT)):
            return RunResult(cmd, 0, f"{self.version} 100 50\n", "")
        if f":{spark.MASTER_UI}/json" in cmd:
            return RunResult(cmd, 0, json.dumps({"status": "ALIVE", "workers": []}), "")
        if f":{spark.WORKER_UI}/json" in cmd:
            return RunResult(cmd, 0, json.dumps({"masterurl": "spark://10.0.0.1:7077"}), "")
        return None


def run_roll(spec: DeploySpec, inv: Cluster, running: dict[str, str]) -> tuple[list[str], Executor]:
    log: list[str] = []
    hosts = {n: Daemon(inv.node(n), v, spec.versions.spark, log) for n, v in running.items()}
    plan = {
        "masters": {m.name: [spark.current_op(spec, inv, m, "master")] for m in inv.masters},
        "agents": {a.name: [spark.current_op(spec, inv, a, "worker")] for a in inv.agents},
    }
    no_gates = dataclasses.replace(PLATFORM, gates=())
    ex = Executor(no_gates, spec, inv, hosts, Progress(io.StringIO()), health_interval=0)  # type: ignore[arg-type]
    try:
        ex.run(phases=plan)
    finally:
        ex.close()
    return log, ex


def test_roll_stops_the_driver_then_master_then_one_worker_at_a_time() -> None:
    spec, inv = spec_with("3.5.7")
    running = {n.name: "3.5.6" for n in (*inv.masters, *inv.agents)}
    log, _ = run_roll(spec, inv, running)
    assert log == [
        f"master-0: {demo.UNITS['processor']} stopped",
        "master-0: spark-master restarted",
        "agent-0: spark-worker restarted",
        "agent-1: spark-worker restarted",
        "agent-2: spark-worker restarted",
    ]


def test_resumed_roll_restarts_only_the_daemons_still_on_the_old_version() -> None:
    """Interrupted after the master and agent-0: the re-run restarts agent-1 and agent-2 only."""
    spec, inv = spec_with("3.5.7")
    running = {"master-0": "3.5.7", "agent-0": "3.5.7", "agent-1": "3.5.6", "agent-2": "3.5.6"}
    log, _ = run_roll(spec, inv, running)
    assert log == ["agent-1: spark-worker restarted", "agent-2: spark-worker restarted"]


def test_an_unhealthy_worker_stops_the_roll() -> None:
    """A worker that does not register again: the roll stops there, the later workers keep serving."""
    spec, inv = spec_with("3.5.7")
    log: list[str] = []
    hosts = {n.name: Daemon(n, "3.5.6", "3.5.7", log) for n in inv.agents}
    lost = hosts["agent-0"]
    original = lost.answer

    def unregistered(cmd: str) -> RunResult | None:
        if f":{spark.WORKER_UI}/json" in cmd:
            return RunResult(cmd, 0, json.dumps({"masterurl": ""}), "")
        return original(cmd)

    lost.handler = unregistered
    handler = dataclasses.replace(PLATFORM.handlers[spark.HANDLERS["worker"]], timeout=0.01)
    platform = dataclasses.replace(
        PLATFORM, gates=(), handlers={**PLATFORM.handlers, spark.HANDLERS["worker"]: handler}
    )
    plan = {"agents": {a.name: [spark.current_op(spec, inv, a, "worker")] for a in inv.agents}}
    ex = Executor(platform, spec, inv, hosts, Progress(io.StringIO()), health_interval=0)  # type: ignore[arg-type]
    try:
        with pytest.raises(Exception, match="not registered with a master yet"):
            ex.run(phases=plan)
    finally:
        ex.close()
    assert log == ["agent-0: spark-worker restarted"]


def test_plan_shows_the_roll_in_order_and_changes_nothing() -> None:
    spec, inv = spec_with("3.5.7")
    log: list[str] = []
    hosts = {n.name: Daemon(n, "3.5.6", "3.5.7", log) for n in inv.nodes}
    out = io.StringIO()
    ex = Executor(PLATFORM, spec, inv, hosts, Progress(out), health_interval=0)  # type: ignore[arg-type]
    try:
        ex.run(dry_run=True)
    finally:
        ex.close()
    lines = [line for line in out.getvalue().splitlines() if "runs Spark 3.5.6: to 3.5.7" in line]
    assert "[master-0" in lines[0] and "the master first" in lines[0], lines
    for i, name in enumerate(("agent-0", "agent-1", "agent-2")):
        assert f"[{name}" in lines[i + 1] and f"worker {i + 1} of 3" in lines[i + 1], lines
    assert log == [], "a plan restarts nothing"


# --- the demo apps' restarts are health-gated too ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "healthy_answer", "unhealthy_answer"),
    [
        ("producer", ("/healthz", "ok", 0), ("/healthz", "", 1)),
        ("dashboard", ("/healthz", "ok", 0), ("/healthz", "", 1)),
        (
            "processor",
            (":8080/json", json.dumps({"activeapps": [{"name": "crime-processor", "state": "RUNNING"}]}), 0),
            (":8080/json", json.dumps({"activeapps": [{"name": "crime-processor", "state": "WAITING"}]}), 0),
        ),
    ],
)
def test_a_demo_app_restart_waits_for_the_app_to_be_back(
    name: str, healthy_answer: tuple[str, str, int], unhealthy_answer: tuple[str, str, int]
) -> None:
    handler = demo.handlers()[demo.HANDLERS[name]]
    assert handler.healthy is not None

    def host(answer: tuple[str, str, int], unit_state: str = "active") -> FakeHost:
        marker, text, rc = answer

        def respond(cmd: str) -> RunResult | None:
            if cmd.startswith("systemctl is-active"):
                return RunResult(cmd, 0, unit_state + "\n", "")
            if marker in cmd:
                return RunResult(cmd, rc, text, "")
            return None

        return FakeHost("master-0", handler=respond)

    assert handler.healthy(host(healthy_answer)).ok  # type: ignore[arg-type]
    assert not handler.healthy(host(unhealthy_answer)).ok  # type: ignore[arg-type]
    assert not handler.healthy(host(healthy_answer, "activating")).ok  # type: ignore[arg-type]
