"""The mesos gates and Marathon app ops against the contract doubles running as local processes.

Each node of a 3-master, 3-agent, 1-public-agent inventory gets its own loopback address (127.0.0.11...),
and the doubles run with exactly the flags the planners render; the product's probes run their real
commands (curl, bash /dev/tcp) through a Remote that executes on this machine. ZooKeeper itself is real
on the nodes; here a few lines answer its `srvr` four-letter word so the doubles see an ensemble.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socketserver
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contract import Node
from roles.demo import marathon as demo_marathon
from roles.demo import mesos_job
from roles.engine.executor import Check, Op, plan_phases, wait_for
from roles.errors import OperationError
from roles.packages import marathon, mesos_api, spark_dispatcher, zookeeper
from roles.platforms import mesos
from tests.mesos_cluster import DOUBLES, LocalRemote, flags_of, mesos_spec, with_kafka

pytestmark = [pytest.mark.unit, pytest.mark.double]
NET = "127.0.0"


class ZooKeeperSrvr:
    """Answers `srvr` on ip:2181 like a ZooKeeper member in `mode` (and counts as up for the doubles)."""

    def __init__(self, ip: str, mode: str) -> None:
        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                if self.rfile.read(4) == b"srvr":
                    self.wfile.write(
                        f"Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.1/3\nMode: {mode}\n"
                        "Node count: 5\n".encode()
                    )

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer((ip, zookeeper.CLIENT_PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Cluster:
    def __init__(self, root: Path) -> None:
        self.spec, self.inv = mesos_spec(root, masters=3, agents=3, net=NET, demo=True)
        self.plan = plan_phases(mesos.PLATFORM, self.spec, self.inv)
        self.submissions = root / "submissions"  # the submitting node's records, shared by the tests
        self.libmesos = root / "libmesos.so"
        self.libmesos.write_bytes(b"")
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.zk = {
            m.name: ZooKeeperSrvr(m.private_ip, "leader" if m.index == 0 else "follower")
            for m in self.inv.masters
        }

    def flags(self, node: Node, daemon: str) -> list[str]:
        path = mesos.FLAGS_FILES[daemon]
        phase = "masters" if node.role == "master" else "agents"
        text = next(f.content for op in self.plan[phase][node.name] for f in op.files if f.path == path)
        return flags_of(text.decode())

    def start(self, node: Node, daemon: str) -> None:
        program = {
            "master": "mesos-master",
            "agent": "mesos-agent",
            "marathon": "marathon",
            "dispatcher": "spark_dispatcher_double.py",
        }[daemon]
        env = {"PATH": "/usr/bin:/bin", "MESOS_NATIVE_JAVA_LIBRARY": str(self.libmesos)}
        # the dispatcher double gets the Marathon app's arguments (what spark-class is run with)
        args = mesos.dispatcher_app(self.spec, self.inv)["args"][1:] if daemon == "dispatcher" else None
        proc = subprocess.Popen(
            [str(DOUBLES / program), *(args if args is not None else self.flags(node, daemon))],
            env=env,
            text=True,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "listening" in line, f"{program} on {node.name} did not start: {line}{proc.stderr.read()}"
        self.procs[f"{daemon}:{node.name}"] = proc

    def stop(self, key: str) -> None:
        proc = self.procs.pop(key)
        proc.terminate()
        proc.wait(10)

    def remote_for(self, node: Node) -> LocalRemote:
        return LocalRemote(node)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("mesos"))
    try:
        for m in c.inv.masters:
            c.start(m, "master")
        for a in [*c.inv.agents, *c.inv.public_agents]:
            c.start(a, "agent")
        c.start(c.inv.masters[0], "marathon")
        c.start(c.inv.agents[0], "dispatcher")
        yield c
    finally:
        for key in list(c.procs):
            c.stop(key)
        for zk in c.zk.values():
            zk.stop()


def probe(c: Cluster, fn: Callable[..., Check], want: bool = True, timeout: float = 10) -> Check:
    """The gate as `fab status` runs it, retried until it reaches `want` (registrations take ~0.5 s)."""
    state = wait_for(lambda: _flip(fn(c.spec, c.inv, c.remote_for), want), timeout, 0.2)
    return _flip(state, want)


def _flip(state: Check, want: bool) -> Check:
    return state if want else Check(not state.ok, state.detail)


def test_platform_gates_pass_on_a_healthy_cluster(cluster: Cluster) -> None:
    zk = probe(cluster, zookeeper.probe_zookeeper)
    assert zk == Check(True, "quorum formed: 127.0.0.11 leader, 127.0.0.12 follower, 127.0.0.13 follower")
    assert probe(cluster, mesos_api.probe_mesos_leader) == Check(
        True, "leader master@127.0.0.11:5050, 3 master(s)"
    )
    agents = probe(cluster, mesos.probe_agents)
    assert agents.ok and agents.detail == "4 agents registered with master@127.0.0.11:5050"
    marathon_state = probe(cluster, marathon.probe_marathon_leader)
    assert marathon_state.ok and marathon_state.detail.startswith("leader 127.0.0.11:8080, framework ")


def _client_ops(cluster: Cluster, apps: list[dict[str, Any]]) -> list[Any]:
    master = cluster.inv.masters[0]
    return [op for app in apps for op in marathon.app_ops(cluster.inv, master, app, update_timeout=10)]


def deployed(cluster: Cluster, apps_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package apps in Marathon whatever ran before, so each test also passes alone (a no-op after
    the test that asserts on deploying them)."""
    monkeypatch.setattr(marathon, "APPS_DIR", str(apps_dir))
    remote = cluster.remote_for(cluster.inv.masters[0])
    for op in _client_ops(cluster, mesos.package_apps(cluster.spec, cluster.inv)):
        if not op.check(remote).ok:
            op.apply(remote)
    assert probe(cluster, marathon.apps_probe(mesos.package_apps)).ok, "the package apps never got healthy"


def test_app_ops_deploy_every_app_idempotently_and_it_gets_healthy(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PUT through the product's own ops: not there -> applied -> check holds; a re-run changes nothing;
    the Marathon double places each pinned app on its node and the apps gates pass."""
    monkeypatch.setattr(marathon, "APPS_DIR", str(tmp_path))
    remote = cluster.remote_for(cluster.inv.masters[0])
    apps = mesos.package_apps(cluster.spec, cluster.inv) + demo_marathon.demo_apps(cluster.spec, cluster.inv)
    for op in _client_ops(cluster, apps):
        before = op.check(remote)
        assert not before.ok and ("missing" in before.detail or "not in Marathon" in before.detail), before
        op.apply(remote)
        assert op.check(remote).ok, op.name
    assert all(op.check(remote).ok for op in _client_ops(cluster, apps)), "a second run changes nothing"
    assert probe(cluster, marathon.apps_probe(mesos.package_apps)) == Check(True, "4 apps healthy")
    assert probe(cluster, marathon.apps_probe(demo_marathon.demo_apps)) == Check(True, "2 apps healthy")
    hosts = {}
    for app_id in ("/fastdata/kafka/broker-2", "/fastdata/demo/dashboard"):
        out = remote.run(f"curl -sS {marathon.marathon_url(cluster.inv)}/v2/apps{app_id}").stdout
        hosts[app_id] = [t["host"] for t in json.loads(out)["app"]["tasks"]]
    assert hosts == {"/fastdata/kafka/broker-2": ["127.0.0.22"], "/fastdata/demo/dashboard": ["127.0.0.81"]}


def test_a_changed_app_is_updated_and_waited_for(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed(cluster, tmp_path, monkeypatch)
    remote = cluster.remote_for(cluster.inv.masters[0])
    spec = with_kafka(cluster.spec, partitions=12)
    file_op, app_op = marathon.app_ops(
        cluster.inv, cluster.inv.masters[0], mesos.broker_app(spec, cluster.inv, cluster.inv.agents[0])
    )
    file_op.apply(remote)
    assert app_op.check(remote).detail.startswith("app /fastdata/kafka/broker-1 differs: /labels")
    app_op.apply(remote)
    assert app_op.check(remote).ok


def test_marathon_refusal_is_reported_with_its_details(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A definition Marathon refuses fails the op with Marathon's 422 details and where the file is."""
    monkeypatch.setattr(marathon, "APPS_DIR", str(tmp_path))
    remote = cluster.remote_for(cluster.inv.masters[0])
    app = {**mesos.dispatcher_app(cluster.spec, cluster.inv), "id": "/fastdata/Spark", "cpus": 0}
    file_op, app_op = marathon.app_ops(cluster.inv, cluster.inv.masters[0], app)
    file_op.apply(remote)
    with pytest.raises(OperationError) as info:
        app_op.apply(remote)
    msg = str(info.value)
    assert msg.startswith(
        "Marathon refused app /fastdata/Spark: HTTP 422 Object is not valid (/id: '/fastdata/Spark'"
    )
    assert (
        "/cpus: got 0, expected 0.001 or more" in msg and f"{tmp_path}/fastdata-Spark.json on master-0" in msg
    )


# --- the processor submitted to the dispatcher ------------------------------------------------------------


def job_ops(cluster: Cluster, spec: Any = None) -> list[Op]:
    """The submission ops of the demo phase on master-0 (the request file, the job)."""
    phases = plan_phases(mesos.PLATFORM, spec or cluster.spec, cluster.inv)
    return [o for o in phases["demo"]["master-0"] if o.key.startswith("spark-")]


def converge(remote: LocalRemote, ops: list[Op]) -> list[str]:
    changed = []
    for op in ops:
        if not op.check(remote).ok:
            op.apply(remote)
            after = op.check(remote)
            assert after.ok, f"{op.name}: {after.detail}"
            changed.append(op.key)
    return changed


def dispatcher_call(cluster: Cluster, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    url = f"{mesos.dispatcher(cluster.inv).url}{path}"
    data = [] if body is None else ["-H", "Content-Type: application/json", "--data-binary", body]
    out = subprocess.run(
        ["curl", "-sS", "-X", method, *data, "-w", "\n%{http_code}", url], capture_output=True, text=True
    ).stdout
    text, _, status = out.rpartition("\n")
    return int(status), json.loads(text)


JOB_GATE = mesos_job.gate(mesos.PROCESSOR_JOB, 10)


def test_the_processor_is_submitted_once_and_its_executors_run_on_two_agents(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """spark-submit's CreateSubmissionRequest to the dispatcher (the Marathon app's arguments run the
    double): submitted, then a no-op; the gate finds the driver RUNNING and executors on agent-1 and
    agent-2 (the driver is on agent-0) in the Mesos leader's frameworks."""
    monkeypatch.setattr(spark_dispatcher, "SUBMISSIONS_DIR", str(cluster.submissions))
    remote = cluster.remote_for(cluster.inv.masters[0])
    assert probe(cluster, JOB_GATE.probe, want=False).detail == (
        "crime-processor was never submitted (no submission record); run fab deploy"
    )
    assert converge(remote, job_ops(cluster)) == [
        "spark-submissions-dir",
        "spark-request:processor",
        "spark-job:processor",
    ]
    assert converge(remote, job_ops(cluster)) == [], "a running driver is not submitted twice"
    state = probe(cluster, JOB_GATE.probe)
    assert re.fullmatch(
        r"driver driver-\d{14}-\d{4} RUNNING, executors on agent-1 x1, agent-2 x1", state.detail
    )
    request = json.loads((cluster.submissions / "processor.json").read_text())
    props = request["sparkProperties"]
    assert request["appResource"] == "http://127.0.0.11:8099/jobs/crime-processor.py"
    assert request["mainClass"] == "" and request["clientSparkVersion"] == "3.5.7"
    assert {k: props[k] for k in ("spark.cores.max", "spark.executor.cores", "spark.driver.memory")} == {
        "spark.cores.max": "2",
        "spark.executor.cores": "1",
        "spark.driver.memory": "768m",
    }
    assert props["spark.master"] == "mesos://127.0.0.21:7077" and props["spark.driver.supervise"] == "true"
    assert props["spark.mesos.driverEnv.CHECKPOINT_DIR"].startswith("hdfs://127.0.0.11:8020/")


def test_a_changed_job_replaces_the_driver_and_a_finished_one_is_submitted_again(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spark_dispatcher, "SUBMISSIONS_DIR", str(cluster.submissions))
    remote = cluster.remote_for(cluster.inv.masters[0])
    converge(remote, job_ops(cluster))
    first = (cluster.submissions / "processor.submission").read_text().split()[0]
    spark = dataclasses.replace(cluster.spec.spark, executors=3)
    bigger = dataclasses.replace(
        cluster.spec, settings=dataclasses.replace(cluster.spec.settings, spark=spark)
    )
    ops = job_ops(cluster, bigger)
    ops[1].apply(remote)  # the new request file
    assert (
        ops[2].check(remote).detail.startswith(f"driver {first} RUNNING (state: TASK_RUNNING) runs another")
    )
    ops[2].apply(remote)
    second = (cluster.submissions / "processor.submission").read_text().split()[0]
    assert second != first and ops[2].check(remote).ok
    assert dispatcher_call(cluster, "GET", f"/v1/submissions/status/{first}")[1]["driverState"] == "FINISHED"
    gate = mesos_job.gate(mesos.PROCESSOR_JOB, 10)
    state = wait_for(lambda: gate.probe(bigger, cluster.inv, cluster.remote_for), 10, 0.2)
    assert state.ok and state.detail.endswith("x1, agent-1 x1, agent-2 x1"), state.detail
    status, killed = dispatcher_call(cluster, "POST", f"/v1/submissions/kill/{second}")
    assert status == 200 and killed["success"] is True
    assert ops[2].check(remote) == Check(
        False, f"driver {second} FINISHED (state: TASK_KILLED): it is submitted again"
    )
    ops[2].apply(remote)
    assert ops[2].check(remote).ok


GOOD = {
    "action": "CreateSubmissionRequest",
    "clientSparkVersion": "3.5.7",
    "appResource": "http://127.0.0.11:8099/jobs/crime-processor.py",
    "mainClass": "",
    "appArgs": [],
    "environmentVariables": {},
    "sparkProperties": {"spark.app.name": "x", "spark.mesos.executor.home": "/opt/spark"},
}


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


def with_props(**props: str) -> dict[str, Any]:
    return {**GOOD, "sparkProperties": {**GOOD["sparkProperties"], **props}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            without("appResource"),
            "Malformed request: 'appResource' is missing in message CreateSubmissionRequest.",
        ),
        (without("mainClass"), "Bad request: Main class 'mainClass' is missing."),
        (without("clientSparkVersion"), "Malformed request: 'clientSparkVersion' is missing in message"),
        (without("action"), "Malformed request: The action field is missing"),
        ({**GOOD, "action": "KillSubmissionRequest"}, "Unexpected message type KillSubmissionRequest"),
        ({**GOOD, "sparkProperties": None}, "Malformed request: No Spark properties set!"),
        ({**GOOD, "sparkProperties": {"spark.driver.cores": 1}}, "sparkProperties must map names to string"),
        (
            with_props(**{"spark.driver.supervise": "yes"}),
            "Property 'spark.driver.supervise' expected boolean value: actual was 'yes'.",
        ),
        (
            with_props(**{"spark.executor.memory": "lots"}),
            "Property 'spark.executor.memory' expected memory value",
        ),
        (with_props(**{"spark.cores.max": "two"}), "Property 'spark.cores.max' expected numeric value"),
        ({**GOOD, "sparkProperties": {"spark.master": "mesos://x:7077"}}, "'spark.app.name' is missing"),
        (
            with_props(**{"spark.mesos.driver.labels": "novalue"}),
            "Malformed label in spark.mesos.driver.labels",
        ),
    ],
)
def test_the_dispatcher_double_refuses_a_malformed_submission(
    cluster: Cluster, body: dict[str, Any], message: str
) -> None:
    """As RestSubmissionServer / MesosRestServer refuse them: HTTP 400 with an ErrorResponse."""
    status, answer = dispatcher_call(cluster, "POST", "/v1/submissions/create", json.dumps(body))
    assert status == 400 and answer["action"] == "ErrorResponse"
    assert message in answer["message"], answer["message"]


def test_the_dispatcher_refusal_fails_the_op_and_bad_paths_are_400(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spark_dispatcher, "SUBMISSIONS_DIR", str(tmp_path))
    remote = cluster.remote_for(cluster.inv.masters[0])
    job = mesos_job.processor_job(cluster.spec, cluster.inv, mesos.PROCESSOR_JOB)
    bad = dataclasses.replace(job, properties={**job.properties, "spark.driver.supervise": "always"})
    ops = spark_dispatcher.submission_ops(
        cluster.spec, cluster.inv.masters[0], bad, mesos.dispatcher(cluster.inv), "x"
    )
    converge(remote, ops[:2])
    with pytest.raises(OperationError) as info:
        ops[2].apply(remote)
    assert str(info.value).startswith(
        "the Spark dispatcher at http://127.0.0.21:7077 refused crime-processor: HTTP 400 ErrorResponse: "
        "Malformed request: Property 'spark.driver.supervise' expected boolean value: actual was 'always'.; "
        f"the request is {tmp_path}/processor.json on master-0"
    )
    assert dispatcher_call(cluster, "POST", "/v2/submissions/create", "{}") == (
        400,
        {
            "action": "ErrorResponse",
            "message": "Unknown protocol version 'v2'.",
            "serverSparkVersion": "3.5.7",
        },
    )
    local = {**GOOD, "appResource": "/opt/fastdata/apps/x.py"}
    status, answer = dispatcher_call(cluster, "POST", "/v1/submissions/create", json.dumps(local))
    assert status == 200 and answer["success"] is True, "accepted: the driver fails on the agent"
    status, driver = dispatcher_call(cluster, "GET", f"/v1/submissions/status/{answer['submissionId']}")
    assert driver["driverState"] == "FINISHED" and driver["message"].startswith(
        "TASK_FAILED: Failed to fetch"
    )
    no_home = {**GOOD, "sparkProperties": {"spark.app.name": "x"}}
    answer = dispatcher_call(cluster, "POST", "/v1/submissions/create", json.dumps(no_home))[1]
    driver = dispatcher_call(cluster, "GET", f"/v1/submissions/status/{answer['submissionId']}")[1]
    # the dispatcher app's --conf spark.mesos.dispatcher.driverDefault.spark.mesos.executor.home applies
    assert driver["driverState"] == "RUNNING", driver
    assert dispatcher_call(cluster, "POST", f"/v1/submissions/kill/{answer['submissionId']}")[1]["success"]


def test_the_dispatcher_double_refuses_arguments_the_real_one_refuses() -> None:
    run = [
        str(DOUBLES / "spark_dispatcher_double.py"),
        "org.apache.spark.deploy.mesos.MesosClusterDispatcher",
    ]
    for args, why in (
        (["--master", "zk://10.0.0.1:2181/mesos"], "Must specify --master mesos://"),
        (["--master", "mesos://10.0.0.1:5050", "--conf", "spark.x"], "Spark config without '='"),
        (["--master", "mesos://10.0.0.1:5050", "--bogus", "1"], "Unrecognized option"),
    ):
        proc = subprocess.run([*run, *args], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 1 and why in proc.stderr and "Usage: MesosClusterDispatcher" in proc.stderr


def test_gates_fail_with_details_when_agents_masters_or_zookeeper_go(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs last: takes the cluster apart and expects each gate to say what is missing."""
    deployed(cluster, tmp_path, monkeypatch)
    cluster.stop("agent:agent-1")
    agents = probe(cluster, mesos.probe_agents, want=False)
    assert agents.detail.startswith(
        "agent-1 (127.0.0.22) not registered; registered: ['127.0.0.21', '127.0.0.23'"
    )
    apps = probe(cluster, marathon.apps_probe(mesos.package_apps), want=False)
    assert apps.detail == "/fastdata/kafka/broker-2: 0/1 running, 0 healthy"

    cluster.stop("master:master-1")
    cluster.stop("master:master-2")
    leader = probe(cluster, mesos_api.probe_mesos_leader, want=False)
    assert leader.detail.startswith(
        "no Mesos leader: master-0 (127.0.0.11): HTTP 503 No leader elected; master-1"
    )
    assert leader.detail.endswith("electing one needs ZooKeeper and 2 of 3 mesos-masters running (--quorum)")

    for name in ("master-1", "master-2"):
        cluster.zk.pop(name).stop()
    zk = probe(cluster, zookeeper.probe_zookeeper, want=False)
    assert zk.detail == (
        "127.0.0.11 leader, 127.0.0.12 not serving, 127.0.0.13 not serving (1 of 3 serving, a quorum needs 2)"
    )
    marathon_state = probe(cluster, marathon.probe_marathon_leader, want=False)
    assert marathon_state.detail.startswith("Marathon at http://127.0.0.11:8080 has no leader")
