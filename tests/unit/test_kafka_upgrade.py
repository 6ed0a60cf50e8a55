"""Kafka 3.9 / 4.x, the KRaft controller set, and rolling upgrades, with fake node facts: what is rendered
per version, which jumps are refused before anything changes, what `fab plan` shows, and that a resumed
upgrade never restarts a broker that already runs the new version."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable

import pytest

from contract import Cluster, Node
from roles.artifacts import kafka_dependencies
from roles.engine.connection import RunResult
from roles.engine.executor import DeployFailed, Executor, Progress, batch_probe_script, plan_phases
from roles.engine.spec import DeploySpec
from roles.errors import OperationError
from roles.packages import kafka
from roles.packages import kafka_upgrade as upgrade
from roles.platforms.standalone import PLATFORM
from tests.unit.test_engine import FakeHost, fake_artifacts, inventory_dict, spec_from

pytestmark = pytest.mark.unit


def spec_with(version: str, agents: int = 3, **kafka_settings: object) -> tuple[DeploySpec, Cluster]:
    d = inventory_dict(agents)
    d["settings"]["versions"]["kafka"] = version
    d["settings"]["kafka"].update(kafka_settings)
    return spec_from(d, fake_artifacts())  # type: ignore[return-value]


# --- version rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("running", "target", "refused"),
    [
        ("3.9.1", "4.4.0", None),
        ("3.3.2", "4.0.0", None),
        ("3.9.0", "3.9.1", None),
        ("4.0.2", "4.4.0", None),
        ("4.4.0", "4.4.0", None),
        ("4.4.0", "4.3.1", "downgrade"),
        ("4.0.0", "3.9.1", "downgrade"),
        ("3.9.1", "3.9.0", "downgrade"),
        ("3.2.3", "4.0.0", "upgrade to 3.9 first"),
    ],
)
def test_supported_jumps(running: str, target: str, refused: str | None) -> None:
    reason = upgrade.refusal(running, target)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason and running in reason and target in reason


# --- what a 4.x cluster gets ----------------------------------------------------------------------------


def test_bundle_logging_binding_per_major() -> None:
    """reload4j behind SLF4J for 3.x; Log4j 2 (api, core, the SLF4J 1.x binding, one version) for 4.x."""
    three = {a for _, a, _ in kafka_dependencies("3.9.1")}
    four = kafka_dependencies("4.4.0")
    assert {"slf4j-reload4j", "reload4j"} <= three and not any("log4j-" in a for a in three)
    assert {a for _, a, _ in four} >= {"kafka_2.13", "kafka-tools", "log4j-core", "log4j-slf4j-impl"}
    assert len({v for g, _, v in four if g == "org.apache.logging.log4j"}) == 1
    assert not any("reload4j" in a for _, a, _ in four)


def test_4x_renders_log4j2_and_no_config_removed_in_4() -> None:
    spec, inv = spec_with("4.4.0")
    phases = plan_phases(PLATFORM, spec, inv)
    files = {f.path: f.content.decode() for o in phases["agents"]["agent-0"] for f in o.files}
    assert kafka.LOG4J2_CONFIG in files and kafka.LOG4J_CONFIG not in files
    assert "appender.stdout.type=Console" in files[kafka.LOG4J2_CONFIG]
    assert kafka.TOOLS_LOG4J2_CONFIG in files
    unit = files["/etc/systemd/system/kafka.service"]
    assert f"-Dlog4j2.configurationFile={kafka.LOG4J2_CONFIG}" in unit and "/opt/kafka/4.4.0/*" in unit
    config = files[kafka.CONFIG]
    keys = {line.split("=", 1)[0] for line in config.splitlines() if "=" in line}
    assert not keys & set(kafka.REMOVED_IN_4)
    assert "share.coordinator.state.topic.replication.factor=3\n" in config
    assert kafka.config_command(spec) == "org.apache.kafka.tools.ConfigCommand"


def test_3x_keeps_reload4j_config() -> None:
    spec, inv = spec_with("3.9.1")
    files = {
        f.path: f.content.decode()
        for o in plan_phases(PLATFORM, spec, inv)["agents"]["agent-0"]
        for f in o.files
    }
    assert kafka.LOG4J_CONFIG in files and kafka.LOG4J2_CONFIG not in files
    assert "share.coordinator" not in files[kafka.CONFIG]
    assert kafka.config_command(spec) == "kafka.admin.ConfigCommand"


# --- the controller set -----------------------------------------------------------------------------------


@pytest.mark.parametrize("agents", [1, 3, 4, 5])
def test_every_agent_runs_a_broker_by_default(agents: int) -> None:
    """Scaling out adds brokers the demo topic spreads onto: by default every agent is one (the
    replication factor and the controllers stay at three)."""
    _, inv = spec_from(inventory_dict(agents), fake_artifacts())
    assert [n.name for n in kafka.brokers(inv)] == [f"agent-{i}" for i in range(agents)]  # type: ignore[arg-type]
    assert len(kafka.controllers(inv)) == (3 if agents >= 3 else 1)  # type: ignore[arg-type]
    assert inv.settings.kafka.replication_factor == min(3, agents)


@pytest.mark.parametrize(("agents", "controllers"), [(1, 1), (2, 1), (3, 3), (5, 3)])
def test_default_controllers_are_the_first_brokers(agents: int, controllers: int) -> None:
    d = inventory_dict(agents)
    d["settings"]["kafka"] = {"brokers": agents, "replicationFactor": min(3, agents)}
    _, inv = spec_from(d, fake_artifacts())
    assert [n.name for n in kafka.controllers(inv)] == [f"agent-{i}" for i in range(controllers)]  # type: ignore[arg-type]
    assert len(kafka.brokers(inv)) == agents  # type: ignore[arg-type]


def test_broker_only_nodes_run_no_controller() -> None:
    """Four brokers, three controllers: agent-3 is a broker only (no controller listener, formatted
    without --initial-controllers: no flag on 4.x, --no-initial-controllers on 3.9)."""
    spec, inv = spec_with("4.4.0", agents=4, brokers=4)
    four = inv.agents[3]
    text = kafka.server_properties(spec, inv, four)
    assert "process.roles=broker\n" in text and "CONTROLLER://" not in text.split("advertised")[0]
    assert "controller.quorum.bootstrap.servers=10.98.0.20:9093,10.98.0.21:9093,10.98.0.22:9093\n" in text
    assert kafka.format_flags(spec, inv, four) == ""
    assert kafka.format_flags(spec, inv, inv.agents[0]).startswith(
        " --initial-controllers 1@10.98.0.20:9093:"
    )
    spec39, inv39 = spec_with("3.9.1", agents=4, brokers=4)
    assert kafka.format_flags(spec39, inv39, inv39.agents[3]) == " --no-initial-controllers"
    ids = [kafka.directory_id(inv, n) for n in kafka.controllers(inv)]
    assert len(set(ids)) == 3 and all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert kafka.initial_controllers(inv).count("@") == 3


# --- the guard: refused before any SSH command changes anything ---------------------------------------------


def facts_for(inv: Cluster, node: Node, running: str | None, quorum: str = "dynamic") -> str:
    lines = [f"running={running} 100 50" if running else "running=", f"unit={running or ''}"]
    if running:
        lines.append("formatted=yes")
        lines.append(f"process.roles={kafka.process_roles(inv, node)}")
        if quorum == "static":
            lines.append(f"controller.quorum.voters={kafka.voters(inv)}")
        else:
            lines.append(f"controller.quorum.bootstrap.servers={kafka.controller_bootstrap(inv)}")
    return "\n".join(lines) + "\n"


def fleet(
    spec: DeploySpec, inv: Cluster, running: Callable[[Node], str | None], quorum: str = "dynamic"
) -> dict[str, FakeHost]:
    """Every node as a FakeHost whose Kafka facts say it runs `running(node)` (None: nothing yet)."""
    hosts = {}
    for node in inv.nodes:
        version = running(node) if node in inv.brokers else None

        def answer(cmd: str, node: Node = node, version: str | None = version) -> RunResult | None:
            if cmd == kafka.GUARD_FACTS:
                return RunResult(cmd, 0, facts_for(inv, node, version, quorum), "")
            if cmd == kafka.RUNNING_FACTS:
                return RunResult(cmd, 0, f"{version} 100 50\n" if version else "", "")
            return None

        host = FakeHost(node.name, handler=answer)
        host.node = node
        hosts[node.name] = host
    return hosts


def run_executor(
    spec: DeploySpec, inv: Cluster, hosts: dict[str, FakeHost], dry_run: bool
) -> tuple[str, DeployFailed | None]:
    out = io.StringIO()
    ex = Executor(PLATFORM, spec, inv, hosts, Progress(out), health_interval=0)  # type: ignore[arg-type]
    try:
        ex.run(dry_run=dry_run)
        return out.getvalue(), None
    except DeployFailed as exc:
        return out.getvalue(), exc
    finally:
        ex.close()


@pytest.mark.parametrize(
    ("running", "target", "message"),
    [
        ("4.4.0", "4.3.1", r"Kafka 4\.4\.0 -> 4\.3\.1 is a downgrade"),
        ("4.4.0", "3.9.1", r"Kafka 4\.4\.0 -> 3\.9\.1 is a downgrade"),
        ("3.2.3", "4.4.0", r"upgrade to 3\.9 first"),
    ],
)
def test_unsupported_jump_is_refused_before_anything_changes(running: str, target: str, message: str) -> None:
    """`fab deploy` with versions.kafka set to a downgrade or an unsupported jump: the connect phase's
    read-only guard fails on every broker; no node ran any command but the guard's one read."""
    spec, inv = spec_with(target)
    hosts = fleet(spec, inv, lambda n: running)
    _, err = run_executor(spec, inv, hosts, dry_run=False)
    assert err is not None and err.phase == "connect"
    assert {r.host for r in err.report.failures} == {"agent-0", "agent-1", "agent-2"}
    assert re.search(message, str(err)) and "Nothing was changed" in str(err)
    for name, host in hosts.items():
        expected = [kafka.GUARD_FACTS] if name.startswith("agent-") else []
        assert host.commands == expected, (name, host.commands)
        assert host.uploads == []


def test_one_downgraded_node_refuses_the_whole_deploy() -> None:
    """agent-2 already runs 4.4.0 (an earlier run got further): a target of 4.3.1 is refused on it, and the
    other brokers are not touched either."""
    spec, inv = spec_with("4.3.1")
    hosts = fleet(spec, inv, lambda n: "4.4.0" if n.name == "agent-2" else "4.3.1")
    _, err = run_executor(spec, inv, hosts, dry_run=False)
    assert err is not None and err.phase == "connect"
    assert [r.host for r in err.report.failures] == ["agent-2"]
    assert all(h.commands in ([], [kafka.GUARD_FACTS]) for h in hosts.values())


def test_static_quorum_cluster_is_refused_under_a_dynamic_spec() -> None:
    spec, inv = spec_with("4.4.0")
    with pytest.raises(OperationError, match=r"static KRaft quorum.*kafka\.quorum: static.*4\.1"):
        kafka.guard(
            spec,
            inv,
            inv.agents[0],
            kafka.parse_guard_facts(facts_for(inv, inv.agents[0], "3.9.1", "static")),
        )
    static, inv_s = spec_with("4.4.0", quorum="static")
    detail = kafka.guard(
        static,
        inv_s,
        inv_s.agents[0],
        kafka.parse_guard_facts(facts_for(inv_s, inv_s.agents[0], "3.9.1", "static")),
    )
    assert detail.startswith("Kafka 3.9.1 -> 4.4.0: rolling step 1 of 3, controller")


def test_a_changed_controller_set_is_refused() -> None:
    """agent-2 runs as a controller; a spec with kafka.controllers 1 would make it a broker only."""
    _, inv3 = spec_with("4.4.0")
    facts = kafka.parse_guard_facts(facts_for(inv3, inv3.agents[2], "4.4.0"))
    spec1, inv1 = spec_with("4.4.0", controllers=1)
    with pytest.raises(OperationError, match=r"process\.roles=broker,controller.*kafka\.controllers"):
        kafka.guard(spec1, inv1, inv1.agents[2], facts)
    static, inv_s = spec_with("4.4.0", quorum="static", controllers=1)
    voters3 = kafka.parse_guard_facts(facts_for(inv3, inv3.agents[0], "4.4.0", "static"))
    with pytest.raises(OperationError, match="does not support changing a static quorum"):
        kafka.guard(static, inv_s, inv_s.agents[0], voters3)


# --- plan shows the upgrade; the upgrade rolls and resumes -------------------------------------------------


def test_plan_shows_the_upgrade_nodes_order_and_versions() -> None:
    """`fab plan` of 3.9.1 -> 4.4.0 on four brokers: each broker's line names its versions and its place in
    the rolling order (controllers first), the restart is planned on every broker, and the features are
    finalized after the agents phase."""
    spec, inv = spec_with("4.4.0", agents=4, brokers=4)
    hosts = fleet(spec, inv, lambda n: "3.9.1")
    out, err = run_executor(spec, inv, hosts, dry_run=True)
    assert err is None, err
    guard_lines = [line for line in out.splitlines() if "version and quorum" in line]
    assert [re.search(r"\[(agent-\d)", line).group(1) for line in guard_lines] == [  # type: ignore[union-attr]
        "agent-0",
        "agent-1",
        "agent-2",
        "agent-3",
    ]
    for i, line in enumerate(guard_lines):
        role = "controller" if i < 3 else "broker"
        assert f"Kafka 3.9.1 -> 4.4.0: rolling step {i + 1} of 4, {role}" in line, line
    restarts = [line for line in out.splitlines() if "runs 4.4.0 with its current config" in line]
    assert len(restarts) == 4 and all("would change" in line for line in restarts)
    assert "runs 3.9.1: upgrade to 4.4.0 (rolling step 4 of 4, broker)" in restarts[3]
    assert any("would change" in x and "features finalized at 4.4" in x for x in out.splitlines())
    assert not any("systemctl restart" in c for h in hosts.values() for c in h.commands)


class Broker(FakeHost):
    """A broker that runs `version` until `systemctl restart`, then the unit's version; answers the
    health check's tools (registered, nothing under-replicated)."""

    def __init__(self, node: Node, version: str, target: str, log: list[str]) -> None:
        super().__init__(node.name, handler=self.answer)
        self.node, self.version, self.target, self.log = node, version, target, log

    def answer(self, cmd: str) -> RunResult | None:
        if "systemctl restart" in cmd:
            self.log.append(self.node.name)
            self.version = self.target
        if cmd == kafka.RUNNING_FACTS:
            return RunResult(cmd, 0, f"{self.version} 100 50\n", "")
        if cmd.startswith(kafka.RUNNING_FACTS):  # the health check adds node.id from the config
            return RunResult(cmd, 0, f"{self.version} 100 50\n{kafka.node_id(self.node)}\n", "")
        if "systemctl is-active" in cmd:
            return RunResult(cmd, 0, "active\nopen\n", "")
        if "BrokerApiVersionsCommand" in cmd:
            return RunResult(cmd, 0, f"x:9092 (id: {kafka.node_id(self.node)} rack: null) -> (\n", "")
        return None


def test_resumed_upgrade_restarts_only_the_brokers_still_on_the_old_version() -> None:
    """The agents phase of a 3.9.1 -> 4.4.0 upgrade interrupted after agent-0: agent-0 already runs 4.4.0
    (read from its running JVM), so the re-run restarts agent-1 then agent-2, each gated on rejoining with
    nothing under-replicated, and never agent-0."""
    spec, inv = spec_with("4.4.0")
    log: list[str] = []
    hosts = {
        n.name: Broker(n, "4.4.0" if n.name == "agent-0" else "3.9.1", "4.4.0", log) for n in inv.brokers
    }
    plan = {"agents": {n.name: [kafka.current_op(spec, inv, n)] for n in inv.brokers}}
    no_gates = dataclasses.replace(PLATFORM, gates=())  # the per-broker health gate is the handler's
    ex = Executor(no_gates, spec, inv, hosts, Progress(quiet=True), health_interval=0)  # type: ignore[arg-type]
    try:
        report = ex.run(phases=plan)
    finally:
        ex.close()
    assert log == ["agent-1", "agent-2"]
    restarted = [r for r in report.results if r.key == f"restart:{kafka.HANDLER}"]
    assert [r.host for r in restarted] == ["agent-1", "agent-2"] and all(
        r.status == "changed" for r in restarted
    )
    assert next(r for r in report.results if r.host == "agent-0").status == "ok"


def test_running_facts_parse_and_the_config_change_case() -> None:
    assert kafka.parse_running("4.4.0 1700000000 1690000000\n") == ("4.4.0", 1700000000, 1690000000)
    assert kafka.parse_running("") is None
    spec, inv = spec_with("4.4.0")
    op = kafka.current_op(spec, inv, inv.agents[0])
    assert op.judge is not None
    assert op.judge(RunResult("", 0, "4.4.0 200 100\n", "")).ok
    assert "config changed" in op.judge(RunResult("", 0, "4.4.0 100 200\n", "")).detail
    assert "runs 3.9.1" in op.judge(RunResult("", 0, "3.9.1 200 100\n", "")).detail
    assert batch_probe_script([kafka.RUNNING_FACTS])  # batchable: one shell command


# --- finalization ---------------------------------------------------------------------------------------

MAPPING_44 = (
    "metadata.version=33 (4.4)\nkraft.version=1\ntransaction.version=2\ngroup.version=1\n"
    "eligible.leader.replicas.version=1\nshare.version=2\nstreams.version=1\n"
)


def describe(levels: dict[str, str]) -> str:
    """`kafka-features describe` as 4.4.0 prints it (captured from a real broker)."""
    return "".join(
        f"Feature: {name:<40}  SupportedMinVersion: 0   SupportedMaxVersion: 2   "
        f"FinalizedVersionLevel: {level:<10}  Epoch: 99\n"
        for name, level in levels.items()
    )


def test_finalize_after_3_9_skips_kraft_version() -> None:
    """A static 3.9 cluster rolled onto 4.4.0: every feature of the release is finalized except
    kraft.version (KAFKA-21426), metadata.version first; a finalized cluster has nothing left."""
    upgraded = describe(
        {
            "kraft.version": "0",
            "metadata.version": "3.9-IV0",
            "group.version": "0",
            "transaction.version": "0",
            "share.version": "0",
            "streams.version": "0",
            "eligible.leader.replicas.version": "0",
        }
    )
    todo = upgrade.features_to_finalize(
        "4.4.0", upgrade.parse_version_mapping(MAPPING_44), upgrade.parse_finalized(upgraded)
    )
    assert todo[0] == "metadata.version=33" and not any(t.startswith("kraft.version") for t in todo)
    assert len(todo) == 6
    final = describe(
        {
            "kraft.version": "0",
            "metadata.version": "4.4-IV2",
            "group.version": "1",
            "transaction.version": "2",
            "share.version": "2",
            "streams.version": "1",
            "eligible.leader.replicas.version": "1",
        }
    )
    assert (
        upgrade.features_to_finalize(
            "4.4.0", upgrade.parse_version_mapping(MAPPING_44), upgrade.parse_finalized(final)
        )
        == []
    )


def test_finalize_op_runs_the_feature_tool_with_the_missing_features() -> None:
    spec, inv = spec_with("4.4.0")
    op = kafka.finalize_op(spec, inv, inv.agents[0])
    before = (
        MAPPING_44
        + kafka.MAPPING_MARK
        + "\n"
        + describe({"metadata.version": "3.9-IV0", "kraft.version": "1"})
    )
    assert op.judge is not None
    state = op.judge(RunResult("", 0, before, ""))
    assert not state.ok and "metadata.version 3.9-IV0" in state.detail
    host = FakeHost(
        "agent-0", handler=lambda c: RunResult(c, 0, before, "") if "version-mapping" in c else None
    )
    op.apply(host)  # type: ignore[arg-type]
    upgrade_cmd = host.commands[-1]
    assert (
        "FeatureCommand --bootstrap-server" in upgrade_cmd
        and " upgrade --feature metadata.version=33" in upgrade_cmd
    )
    assert "kraft.version" not in upgrade_cmd and "--release-version" not in upgrade_cmd
    assert kafka.plan_finalize(*spec_with("3.9.1"), inv.agents[0]) == []
