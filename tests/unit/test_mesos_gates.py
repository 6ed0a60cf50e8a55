"""The mesos gates and Marathon app ops against the contract doubles running as local processes.

Each node of a 3-master, 3-agent, 1-public-agent inventory gets its own loopback address (127.0.0.11...),
and the doubles run with exactly the flags the planners render; the product's probes run their real
commands (curl, bash /dev/tcp) through a Remote that executes on this machine. ZooKeeper itself is real
on the nodes; here a few lines answer its `srvr` four-letter word so the doubles see an ensemble.
"""

from __future__ import annotations

import json
import socketserver
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contract import Node
from roles.demo import marathon as demo_marathon
from roles.engine.executor import Check, plan_phases, wait_for
from roles.errors import OperationError
from roles.packages import marathon, mesos_api, zookeeper
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
        program = {"master": "mesos-master", "agent": "mesos-agent", "marathon": "marathon"}[daemon]
        env = {"PATH": "/usr/bin:/bin", "MESOS_NATIVE_JAVA_LIBRARY": str(self.libmesos)}
        proc = subprocess.Popen(
            [str(DOUBLES / program), *self.flags(node, daemon)], env=env, text=True, stderr=subprocess.PIPE
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
    assert probe(cluster, marathon.apps_probe(demo_marathon.demo_apps)) == Check(True, "3 apps healthy")
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
