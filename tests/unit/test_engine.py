"""Engine, primitives and standalone planners with fake facts: exact commands, idempotent checks."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from contract import Cluster, Node, Role
from roles.artifacts import Artifact
from roles.engine.connection import RunResult
from roles.engine.executor import (
    Check,
    DeployFailed,
    Executor,
    Handler,
    Op,
    Platform,
    Progress,
    Step,
    batch_probe_script,
    ordered_keys,
    parse_batch_probe,
    plan_phases,
)
from roles.engine.inventory import parse_inventory
from roles.engine.ops import apt_op, file_op, parse_dpkg, service_op
from roles.engine.placement import EVERY_AGENT
from roles.engine.spec import DeploySpec, artifact_server
from roles.errors import InventoryError
from roles.packages import kafka, spark
from roles.platforms.standalone import PLATFORM

pytestmark = pytest.mark.unit

# An ed25519 public key blob (32 zero bytes): the inventory checks that host keys decode.
HOST_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def inventory_dict(agents: int = 3) -> dict:
    nodes = [{"name": "master-0", "role": "master", "privateIp": "10.98.0.10", "publicIp": None}]
    nodes += [
        {"name": f"agent-{i}", "role": "agent", "privateIp": f"10.98.0.{20 + i}", "publicIp": None}
        for i in range(agents)
    ]
    nodes += [{"name": "public-agent-0", "role": "publicAgent", "privateIp": "10.98.0.80", "publicIp": None}]
    return {
        "name": "fastdata-local",
        "cloud": "local",
        "platform": "standalone",
        "ssh": {
            "user": "root",
            "port": 22,
            "privateKey": KEY,
            "knownHosts": "\n".join(f"{n['privateIp']} ssh-ed25519 {HOST_KEY}" for n in nodes),
        },
        "nodes": nodes,
        "endpoints": {"masters": ["10.98.0.10"], "publicAgents": ["10.98.0.80"]},
        "settings": {
            "versions": {"kafka": "3.9.1", "spark": "3.5.7"},
            "kafka": {"replicationFactor": min(3, agents)},
            "demo": {"enabled": False},
        },
    }


def fake_artifacts() -> dict[str, Artifact]:
    return {
        n: Artifact(n, Path(f"/cache/{f}"), hashlib.sha256(n.encode()).hexdigest(), 1000)
        for n, f in (
            ("kafka", "kafka-libs-3.9.1.tar"),
            ("spark-kafka", "spark-kafka-3.5.7.tar"),
            ("pyspark", "pyspark-3.5.7-py2.py3-none-any.whl"),
            ("py4j", "py4j-0.10.9.7-py2.py3-none-any.whl"),
            ("hadoop", "hadoop-libs-3.4.3.tar"),
        )
    }


def spec_from(data: dict, artifacts: dict[str, Artifact]) -> tuple[DeploySpec, Cluster]:
    """The spec `fab` builds for the inventory `data`, with `artifacts` standing in for the cache."""
    inv = parse_inventory(data)
    return DeploySpec(inv.settings, artifact_server(inv), artifacts), inv


def spec_for(agents: int = 3) -> tuple[DeploySpec, Cluster]:
    return spec_from(inventory_dict(agents), fake_artifacts())


class FakeHost:
    """A node as a dict of command -> RunResult (facts) and a log of every command and upload."""

    def __init__(
        self,
        name: str,
        facts: dict[str, str] | None = None,
        handler: Callable[[str], RunResult | None] | None = None,
    ) -> None:
        self.node = Node(name, Role.AGENT, "10.0.0.1", None, 0)
        self.facts = facts or {}
        self.handler = handler
        self.commands: list[str] = []
        self.uploads: list[tuple[str, bytes | Path, int]] = []

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> RunResult:
        self.commands.append(command)
        if self.handler is not None:
            r = self.handler(command)
            if r is not None:
                return r
        return RunResult(command, 0, self.facts.get(command, ""), "")

    def put(self, data: bytes | Path, path: str, mode: int = 0o644, owner: str = "root") -> None:
        self.uploads.append((path, data, mode))


# --- primitives --------------------------------------------------------------------------------------


def test_file_op_noop_when_content_mode_owner_match() -> None:
    """An up-to-date file is explained as a no-op; a different one is uploaded once."""
    op = file_op("k", "conf", "/etc/x.conf", "a=1\n", mode=0o640, owner="kafka")
    want = hashlib.sha256(b"a=1\n").hexdigest()
    assert op.judge is not None
    assert op.judge(RunResult("", 0, f"{want} 640 kafka\n", "")) == Check(True, "/etc/x.conf up to date")
    assert not op.judge(RunResult("", 0, f"{want} 644 kafka\n", "")).ok
    assert op.judge(RunResult("", 0, "", "")) == Check(False, "/etc/x.conf missing")
    host = FakeHost("h")
    op.apply(host)  # type: ignore[arg-type]
    assert host.uploads == [("/etc/x.conf", b"a=1\n", 0o640)] and host.commands == []


def test_apt_op_parses_dpkg_and_installs_only_with_one_command() -> None:
    out = "openjdk-17-jre-headless install ok installed\npython3 deinstall ok config-files\n"
    assert parse_dpkg(out, ["openjdk-17-jre-headless", "python3", "procps"]) == ["python3", "procps"]
    op = apt_op("apt", ["openjdk-17-jre-headless"])
    host = FakeHost("h")
    op.apply(host)  # type: ignore[arg-type]
    assert len(host.commands) == 1
    assert host.commands[0].endswith("install -y -qq --no-install-recommends openjdk-17-jre-headless")


def test_service_op_checks_enabled_and_active() -> None:
    op = service_op("s", "kafka.service", "Kafka running")
    assert op.judge is not None
    assert op.judge(RunResult("", 0, "enabled\nactive\n", "")).ok
    assert op.judge(RunResult("", 0, "enabled\nfailed\n", "")).detail == "kafka.service is enabled/failed"
    host = FakeHost("h")
    op.apply(host)  # type: ignore[arg-type]
    assert host.commands == ["systemctl daemon-reload && systemctl enable --now kafka.service"]


def test_batch_probe_script_round_trips_through_bash() -> None:
    """The batched probes really run in bash and their exit codes and outputs come back intact."""
    probes = ["echo hello; echo world", "exit 3", "printf 'no newline'", "cat /nonexistent"]
    out = subprocess.run(["bash", "-c", batch_probe_script(probes)], capture_output=True, text=True).stdout
    parsed = parse_batch_probe(out, probes)
    assert [(parsed[i].exit_code, parsed[i].stdout) for i in range(4)] == [
        (0, "hello\nworld"),
        (3, ""),
        (0, "no newline"),
        (1, ""),
    ]


def test_ordered_keys_respects_each_hosts_order() -> None:
    def op(k: str) -> Op:
        return Op(k, k, lambda r: Check(True, ""), lambda r: None)

    by_host = {"a": [op("x"), op("z")], "b": [op("x"), op("y"), op("z")]}
    assert ordered_keys(by_host) == ["x", "y", "z"]


# --- executor ----------------------------------------------------------------------------------------


def _counting_platform(state: dict[str, set[str]], fail_on: tuple[str, str] | None = None) -> Platform:
    def planner(settings, inv, node):  # type: ignore[no-untyped-def]
        def mk(key: str, notify: tuple[str, ...] = ()) -> Op:
            def check(r):  # type: ignore[no-untyped-def]
                return Check(key in state.setdefault(r.node.name, set()), key)

            def apply(r):  # type: ignore[no-untyped-def]
                if fail_on == (r.node.name, key):
                    from roles.engine.connection import CommandFailed

                    raise CommandFailed(r.node.name, f"install {key}", 100, "E: Unable to locate package\n")
                state.setdefault(r.node.name, set()).add(key)

            return Op(key, f"{key} on {node.name}", check, apply, notify=notify)

        return [mk("one", ("restart",)), mk("two")]

    restarts: list[str] = []
    return Platform(
        "t",
        (Step("agents", EVERY_AGENT, planner),),
        {
            "restart": Handler(
                "restart",
                "restarted",
                lambda r: restarts.append(r.node.name),
                lambda r: Check(True, ""),
                rolling=True,
            )
        },
    )


def _executor(platform: Platform, agents: int = 3) -> Executor:
    spec, inv = spec_for(agents)
    remotes = {n.name: FakeHost(n.name) for n in inv.nodes}  # type: ignore[attr-defined]
    for name, host in remotes.items():
        host.node = inv.node(name)  # type: ignore[attr-defined]
    return Executor(platform, spec, inv, remotes, Progress(quiet=True), health_interval=0)  # type: ignore[arg-type]


def test_executor_converges_then_zero_changes() -> None:
    state: dict[str, set[str]] = {}
    ex = _executor(_counting_platform(state))
    first = ex.run()
    assert first.changes == 3 * 2 + 3  # 2 ops + 1 restart per agent
    second = ex.run()
    assert second.changes == 0 and {r.status for r in second.results} == {"ok"}
    assert ex.run(dry_run=True).changes == 0
    ex.close()


def test_plan_mode_never_applies() -> None:
    state: dict[str, set[str]] = {}
    ex = _executor(_counting_platform(state))
    report = ex.run(dry_run=True)
    assert report.changes == 6 and state == {"agent-0": set(), "agent-1": set(), "agent-2": set()}
    ex.close()


def test_failure_names_host_op_command_exit_and_keeps_other_results() -> None:
    state: dict[str, set[str]] = {}
    ex = _executor(_counting_platform(state, fail_on=("agent-1", "two")))
    with pytest.raises(DeployFailed) as info:
        ex.run()
    msg = str(info.value)
    assert "host agent-1, op 'two on agent-1'" in msg
    assert "command: install two" in msg and "exit status: 100" in msg and "Unable to locate package" in msg
    assert "agent-0" in msg and "agent-2" in msg
    assert state["agent-0"] == {"one", "two"} and state["agent-1"] == {"one"}
    ex.close()


# --- inventory -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("ssh"), "ssh: must be an object"),
        (lambda d: d["ssh"].pop("knownHosts"), "ssh.knownHosts: is missing"),
        (lambda d: d["nodes"][1].update(role="worker"), "nodes[1].role: is 'worker'"),
        (lambda d: d["nodes"][2].update(privateIp="10.0.0"), "nodes[2].privateIp: is not an IP address"),
        (lambda d: d["ssh"].update(privateKey="[secret]"), "--show-secrets"),
        (
            lambda d: d["ssh"].update(knownHosts=f"10.98.0.10 ssh-ed25519 {HOST_KEY}"),
            "no host key for agent-0",
        ),
        (lambda d: d.update(platform="k8s"), "platform: is 'k8s'"),
        (lambda d: d["nodes"][1].update(name="../../x"), "nodes[1].name: must be 1-63 of a-z"),
        (lambda d: d["nodes"][1].update(name="/etc/x"), "nodes[1].name: must be 1-63 of a-z"),
    ],
)
def test_inventory_errors_name_the_field(mutate: Callable[[dict], object], message: str) -> None:
    """Every problem on one line naming its field; node names that could escape a directory included."""
    data = inventory_dict()
    mutate(data)
    with pytest.raises(InventoryError) as info:
        parse_inventory(data)
    problems = [line.strip() for line in str(info.value).splitlines() if line.strip().startswith("- ")]
    assert any(message in line for line in problems), problems
    assert "PRIVATE KEY" not in str(info.value)


def test_inventory_repr_hides_the_private_key() -> None:
    inv = parse_inventory(inventory_dict())
    assert "PRIVATE" not in repr(inv) and inv.agents[2].index == 2


# --- standalone planners --------------------------------------------------------------------------------


def test_kafka_config_quorum_and_isr() -> None:
    """A new cluster: a dynamic quorum (KIP-853) of the controllers, no static voter list."""
    spec, inv = spec_for(3)
    text = kafka.server_properties(spec, inv, inv.agents[1])  # type: ignore[attr-defined]
    assert "node.id=2\n" in text and "process.roles=broker,controller\n" in text
    assert "controller.quorum.bootstrap.servers=10.98.0.20:9093,10.98.0.21:9093,10.98.0.22:9093\n" in text
    assert "controller.quorum.voters" not in text
    assert "min.insync.replicas=2\n" in text and "default.replication.factor=3\n" in text
    assert "listeners=PLAINTEXT://10.98.0.21:9092,CONTROLLER://10.98.0.21:9093\n" in text


def test_kafka_static_quorum_keeps_its_voter_list() -> None:
    """settings.kafka.quorum static renders what clusters formatted before KIP-853 run."""
    d = inventory_dict(3)
    d["settings"]["kafka"]["quorum"] = "static"
    spec, inv = spec_from(d, fake_artifacts())
    text = kafka.server_properties(spec, inv, inv.agents[1])  # type: ignore[arg-type]
    assert "controller.quorum.voters=1@10.98.0.20:9093,2@10.98.0.21:9093,3@10.98.0.22:9093\n" in text
    assert "controller.quorum.bootstrap.servers" not in text
    assert kafka.format_flags(spec, inv, inv.agents[0]) == ""  # type: ignore[arg-type]


def test_single_broker_lowers_isr_and_refuses_replication_above_brokers() -> None:
    d = inventory_dict(1)
    d["settings"]["kafka"] = {"replicationFactor": 1}
    spec, _ = spec_from(d, fake_artifacts())
    assert spec.kafka.min_insync_replicas == 1
    d["settings"]["kafka"] = {"replicationFactor": 3}
    with pytest.raises(InventoryError, match=r"settings\.kafka\.replicationFactor: must be between 1 and"):
        parse_inventory(d)


def test_cluster_id_is_stable_kafka_shape() -> None:
    _, inv = spec_for()
    cid = kafka.cluster_id(inv)  # type: ignore[arg-type]
    assert cid == kafka.cluster_id(inv) and len(cid) == 22  # type: ignore[arg-type]
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_storage_op_formats_once_and_refuses_foreign_data() -> None:
    spec, inv = spec_for()
    node = inv.agents[0]  # type: ignore[attr-defined]
    op = kafka.storage_op(spec, inv, node)  # type: ignore[arg-type]
    cid = kafka.cluster_id(inv)  # type: ignore[arg-type]
    assert op.judge is not None
    assert op.judge(RunResult("", 0, f"cluster.id={cid}\nnode.id=1\nversion=1\n", "")).ok
    assert not op.judge(RunResult("", 0, "", "")).ok
    fresh = FakeHost("agent-0")
    op.apply(fresh)  # type: ignore[arg-type]
    assert fresh.commands[-1] == (
        f"runuser -u kafka -- java -Xmx256m -cp '/opt/kafka/3.9.1/*' "
        f"kafka.tools.StorageTool format -t {cid} -c /etc/kafka/server.properties "
        f"--initial-controllers {kafka.initial_controllers(inv)}"  # type: ignore[arg-type]
    )
    foreign = FakeHost(
        "agent-0",
        {"cat /var/lib/kafka/data/meta.properties 2>/dev/null || true": "cluster.id=OTHER\nnode.id=1\n"},
    )
    from roles.errors import OperationError

    with pytest.raises(OperationError, match="formatted for cluster OTHER"):
        op.apply(foreign)  # type: ignore[arg-type]


def test_standalone_plan_shape() -> None:
    """Which ops land where: master runs the Spark master and serves artifacts, agents Kafka + worker."""
    spec, inv = spec_for()
    phases = plan_phases(PLATFORM, spec, inv)  # type: ignore[arg-type]
    assert set(phases["prerequisites"]) == {"master-0", "agent-0", "agent-1", "agent-2", "public-agent-0"}
    master_keys = [o.key for o in phases["masters"]["master-0"]]
    assert master_keys[-2:] == ["spark-master-running", "spark-master-current"]
    assert master_keys.index("hdfs-format") < master_keys.index("hdfs-namenode-running")
    agent_keys = [o.key for o in phases["agents"]["agent-2"]]
    assert agent_keys.index("kafka-storage") < agent_keys.index("kafka-running")
    assert "spark-worker-running" in agent_keys and "hdfs-datanode-running" in agent_keys
    assert "public-agent-0" not in phases["agents"] and phases["demo"] == {}
    assert list(phases["bootstrap"]) == ["master-0"], "the artifact server, and nothing else"
    worker_unit = next(o for o in phases["agents"]["agent-0"] if o.key == "spark-worker-unit").files[0]
    assert b"--memory 1536m" in worker_unit.content and b"spark://10.98.0.10:7077" in worker_unit.content
    assert all(o.probe for ops in phases["agents"].values() for o in ops), "every agent op is batchable"


def test_quorum_and_broker_parsers() -> None:
    status = (
        "ClusterId: abc\nLeaderId: 2\nLeaderEpoch: 5\nHighWatermark: 100\nMaxFollowerLag: 0\n"
        'CurrentVoters: [{"id": 1, "directoryId": null, "endpoints": ["CONTROLLER://10.98.0.20:9093"]}, '
        '{"id": 2, "directoryId": null}, {"id": 3, "directoryId": null}]\nCurrentObservers: []\n'
    )
    assert kafka.quorum_check(3, status) == Check(True, "leader 2, 3 voters")
    assert not kafka.quorum_check(3, status.replace("LeaderId: 2", "LeaderId: -1")).ok
    assert kafka.broker_ids(
        "10.98.0.20:9092 (id: 1 rack: null) -> (\n10.98.0.21:9092 (id: 2 rack: null) -> ("
    ) == {1, 2}
    status_json = (
        '{"status": "ALIVE", "workers": [{"host": "10.98.0.20", "state": "ALIVE"}, '
        '{"host": "x", "state": "DEAD"}]}'
    )
    assert spark.parse_master_json(status_json) == ("ALIVE", ["10.98.0.20"])


def test_kafka_gates_wait_on_ports_before_starting_a_jvm() -> None:
    """While brokers start, the gate answers from a port check; the admin tool runs once all are open."""
    spec, inv = spec_for()
    closed = FakeHost(
        "agent-0", handler=lambda c: RunResult(c, 0, "10.98.0.22\n", "") if "/dev/tcp" in c else None
    )
    state = kafka.probe_quorum(spec, inv, lambda node: closed)  # type: ignore[arg-type]
    assert state == Check(False, "port 9092 not accepting connections yet on 10.98.0.22")
    assert not any("java" in c for c in closed.commands)
    status = "LeaderId: 2\nCurrentVoters: [1,2,3]\n"
    open_ = FakeHost("agent-0", handler=lambda c: RunResult(c, 0, status if "java" in c else "", ""))
    assert kafka.probe_quorum(spec, inv, lambda node: open_).ok  # type: ignore[arg-type]
    assert (
        "MetadataQuorumCommand --bootstrap-server 10.98.0.20:9092,10.98.0.21:9092,10.98.0.22:9092 describe"
        in (open_.commands[-1])
    )
