"""HDFS and the demo's Spark jobs, without a node: configs, format, gates' parsers, the submission of the
processor and the batch job, the executor sizing check (issue 11)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from apps.batch.main import reconcile
from contract import Cluster
from contract.problems import Collector
from contract.settings import parse_spark
from roles.demo import common, systemd
from roles.engine.connection import RunResult
from roles.packages import hdfs, spark
from tests.mesos_cluster import fake_bundles
from tests.unit.test_engine import FakeHost, fake_artifacts, inventory_dict, spec_for, spec_from

pytestmark = pytest.mark.unit


def test_hdfs_configs_name_the_namenode_and_replicate_once_per_agent() -> None:
    _, inv = spec_for(agents=2)
    site = hdfs.hdfs_site(inv, inv.agents[0])
    assert f"<name>dfs.namenode.rpc-address</name><value>{inv.masters[0].private_ip}:8020</value>" in site
    assert "<name>dfs.replication</name><value>2</value>" in site  # min(3, agents)
    assert f"<value>{inv.agents[0].private_ip}:9866</value>" in site
    assert "ip-hostname-check</name><value>false" in site and hdfs.EXCLUDE_FILE in site
    assert f"hdfs://{inv.masters[0].private_ip}:8020" in hdfs.core_site(inv)
    _, inv3 = spec_for(agents=4)
    assert "<name>dfs.replication</name><value>3</value>" in hdfs.hdfs_site(inv3, inv3.agents[0])


def test_namenode_unit_runs_the_jars_with_the_configured_heap() -> None:
    spec, inv = spec_for()
    ops = hdfs.plan_namenode(spec, inv, inv.masters[0])
    unit = next(o for o in ops if o.key == "hdfs-namenode-unit").files[0].content.decode()
    assert (
        f"-Xmx{spec.hdfs.namenode_heap}" in unit and "org.apache.hadoop.hdfs.server.namenode.NameNode" in unit
    )
    assert "/etc/hadoop:/opt/hadoop/3.4.3:/opt/hadoop/3.4.3/lib/*" in unit  # confs, webapps/, jars
    assert "--add-opens=java.base/java.lang=ALL-UNNAMED" in unit
    keys = [o.key for o in ops]
    assert keys.index("hdfs-format") < keys.index("hdfs-namenode-running")


def test_format_is_refused_on_another_namespace() -> None:
    spec, inv = spec_for()
    op = hdfs.format_op(spec, inv)
    mine = f"namespaceID=1\nclusterID={hdfs.cluster_id(inv)}\n"
    assert op.judge is not None
    assert op.judge(RunResult("cat", 0, mine, "")).ok
    foreign = op.judge(RunResult("cat", 0, "clusterID=CID-other\n", ""))
    assert not foreign.ok and "CID-other" in foreign.detail
    assert hdfs.cluster_id(inv) == hdfs.cluster_id(inv), "stable: a re-run never mints a new id"


def _namenode_info(safemode: str, nodes: dict[str, str]) -> str:
    live = {f"{ip}:9866": {"xferaddr": f"{ip}:9866", "adminState": state} for ip, state in nodes.items()}
    return json.dumps({"beans": [{"Safemode": safemode, "LiveNodes": json.dumps(live)}]})


def _probe_with(inv: Cluster, text: str, ok: bool = True) -> Any:
    spec, _ = spec_for()
    host = FakeHost(
        "master-0", handler=lambda c: RunResult(c, 0 if ok else 1, text, "") if "jmx" in c else None
    )
    return hdfs.probe_namenode(spec, inv, lambda node: host)  # type: ignore[arg-type]


def test_decommission_progress_is_read_from_the_namenode_info_bean() -> None:
    _, inv = spec_for(agents=4)
    leaving, other = inv.agents[3], inv.agents[0]
    ip = leaving.private_ip
    live = {
        f"{ip}:9866": {"xferaddr": f"{ip}:9866", "adminState": "Decommission In Progress", "numBlocks": 4120}
    }
    decom = {
        ip: {"underReplicatedBlocks": 3012, "decommissionOnlyReplicas": 0, "underReplicateInOpenFiles": 2}
    }
    text = json.dumps({"beans": [{"LiveNodes": json.dumps(live), "DecomNodes": json.dumps(decom)}]})
    assert hdfs.decommission_progress(text, leaving) == {
        "underReplicatedBlocks": 3012,
        "decommissionOnlyReplicas": 0,
        "underReplicateInOpenFiles": 2,
    }
    assert hdfs.decommission_progress(text, other) == {}
    assert hdfs.node_blocks(hdfs.parse_namenode_info(text)[1], leaving) == 4120
    assert hdfs.node_blocks(hdfs.parse_namenode_info(text)[1], other) is None
    site = hdfs.hdfs_site(inv, leaving)
    assert "<name>dfs.namenode.replication.max-streams</name><value>40</value>" in site


def test_namenode_gate_wants_every_agent_in_service_and_no_safe_mode() -> None:
    _, inv = spec_for()
    ips = {a.private_ip: "In Service" for a in inv.agents}
    assert _probe_with(inv, _namenode_info("", ips)).ok
    assert "safe mode" in _probe_with(inv, _namenode_info("Safe mode is ON.", ips)).detail
    first = inv.agents[0].private_ip
    draining = _probe_with(inv, _namenode_info("", {**ips, first: "Decommission In Progress"}))
    assert not draining.ok and first in draining.detail
    assert not _probe_with(inv, "", ok=False).ok


def test_the_processor_is_submitted_to_the_standalone_master_in_client_mode() -> None:
    spec, inv = spec_for()
    master = inv.masters[0]
    args = common.client_submit_args(spec, inv, master)
    assert args.startswith(f"--master spark://{master.private_ip}:7077 --deploy-mode client ")
    assert args.endswith(" pyspark-shell")
    s = spec.spark
    assert f"--conf spark.cores.max={s.executors * s.executor_cores}" in args
    assert f"--conf spark.executor.memory={s.executor_memory}" in args
    assert f"--driver-memory {s.driver_memory}" in args
    assert f"--conf spark.driver.host={master.private_ip}" in args and "spark.driver.port=7078" in args
    env = common.processor_env(spec, inv)
    assert env["CHECKPOINT_DIR"] == f"hdfs://{master.private_ip}:8020/fastdata/checkpoints/processor"
    assert env["ARCHIVE_DIR"].endswith("/fastdata/archive/crimes") and "SPARK_MASTER" not in env
    with_demo = dataclasses.replace(spec, artifacts={**spec.artifacts, **fake_bundles(demo=True)})
    unit = (
        next(o for o in systemd.plan_master(with_demo, inv, master) if o.key == "processor-unit")
        .files[0]
        .content.decode()
    )
    assert "PYSPARK_SUBMIT_ARGS='--master spark://" in unit and "local[" not in unit


def test_the_batch_job_runs_from_the_first_master_against_the_archive() -> None:
    spec, inv = spec_for()
    node, command = systemd.batch_job(spec, inv, reconcile=True)
    assert node == inv.masters[0]
    assert "-m apps.batch --archive-dir" in command and "--influx-url http://" in command
    assert "--deploy-mode client" in command and "--influx-url" not in systemd.batch_job(spec, inv, False)[1]


def test_app_gate_finds_executors_through_the_workers() -> None:
    spec, inv = spec_for()
    master_json = json.dumps(
        {"activeapps": [{"id": "app-1", "name": common.PROCESSOR_APP, "state": "RUNNING"}], "workers": []}
    )

    def worker_json(ip: str) -> str:
        ids = ["app-1"] if ip != inv.agents[2].private_ip else []
        return json.dumps({"executors": [{"appid": a} for a in ids]})

    def handler(cmd: str) -> RunResult | None:
        if ":8080/json" in cmd:
            return RunResult(cmd, 0, master_json, "")
        for a in inv.agents:
            if f"{a.private_ip}:8081/json" in cmd:
                return RunResult(cmd, 0, worker_json(a.private_ip), "")
        return None

    host = FakeHost("master-0", handler=handler)
    probe = spark.app_probe(common.PROCESSOR_APP, 2)
    state = probe(spec, inv, lambda node: host)  # type: ignore[arg-type]
    assert state.ok and "agent-0 (1), agent-1 (1)" in state.detail
    lonely = FakeHost(
        "master-0",
        handler=lambda c: RunResult(c, 0, master_json, "")
        if ":8080/json" in c
        else RunResult(
            c, 0, worker_json(inv.agents[2].private_ip if inv.agents[0].private_ip not in c else ""), ""
        ),
    )
    one = probe(spec, inv, lambda node: lonely)  # type: ignore[arg-type]
    assert not one.ok and "want >= 2 agents" in one.detail
    gone = FakeHost("master-0", handler=lambda c: RunResult(c, 0, json.dumps({"activeapps": []}), ""))
    assert "not submitted" in probe(spec, inv, lambda node: gone).detail  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"executors": 7}, "spark.executors"),  # 3 workers x 2 slots
        ({"executorCores": 3}, "spark.executorCores"),
        ({"executorMemory": "2g"}, "spark.executorMemory"),
        ({"executors": 0}, "spark.executors"),
        ({"executorsPerAgent": 3}, "spark.executorsPerAgent"),  # a worker fits 2
        ({"executorsPerAgent": -1}, "spark.executorsPerAgent"),
        ({"driverMemory": "lots"}, "spark.driverMemory"),
    ],
)
def test_executors_that_cannot_fit_the_workers_are_refused(given: dict[str, Any], problem: str) -> None:
    c = Collector("fastdata:")
    parse_spark(c, given, 3, "fastdata:nodes.agent.count")
    assert any(p.key == f"fastdata:{problem}" for p in c.problems), c.problems
    ok = Collector("fastdata:")
    parse_spark(ok, {"executors": 6}, 3, "fastdata:nodes.agent.count")
    assert ok.problems == []


def test_executors_per_agent_follow_the_agents_that_stay() -> None:
    """With spark.executorsPerAgent the processor's cores follow a scale change (its unit changes, so
    deploy restarts it onto the workers as they are then); without it, spark.executors holds."""
    data = inventory_dict(4)
    data["settings"] = {"spark": {"executorsPerAgent": 1}}
    spec, inv = spec_from(data, fake_artifacts())
    assert common.job_conf(spec, inv)["spark.cores.max"] == "4"
    drained = dataclasses.replace(spec, drained=frozenset({"agent-3"}))
    assert common.job_conf(drained, inv)["spark.cores.max"] == "3"
    three, inv3 = spec_from({**data, "nodes": data["nodes"][:4] + data["nodes"][5:]}, fake_artifacts())
    assert common.client_submit_args(spec, inv, inv.masters[0]) != common.client_submit_args(
        three, inv3, inv3.masters[0]
    )
    fixed, inv_fixed = spec_for(agents=4)
    assert common.job_conf(fixed, inv_fixed)["spark.cores.max"] == str(2 * fixed.spark.executor_cores)
    c = Collector("fastdata:")
    assert parse_spark(c, {"executorsPerAgent": 2}, 3, "k").executor_count(3) == 6 and not c.problems


def test_reconcile_names_only_the_types_that_differ() -> None:
    assert (
        reconcile(
            {"theft": 3, "battery": 2}, {"theft": 3, "battery": 2, "fastdata_probe": 1}, ["fastdata_probe"]
        )
        == {}
    )
    assert reconcile({"theft": 3}, {"theft": 2, "arson": 1}) == {"arson": (0, 1), "theft": (3, 2)}


@pytest.mark.parametrize(
    ("out", "ok", "detail"),
    [
        ("active\nRUNNING\n", True, "registered"),
        ("active\nCONNECTING\n", False, "not registered"),
        ("activating\n", False, "activating"),
    ],
)
def test_a_restarted_datanode_is_healthy_once_registered(out: str, ok: bool, detail: str) -> None:
    host = FakeHost("agent-0", handler=lambda c: RunResult(c, 0, out, ""))
    state = hdfs.datanode_registered(host)  # type: ignore[arg-type]
    assert state.ok is ok and detail in state.detail
    assert hdfs.handlers()[hdfs.DATANODE_HANDLER].healthy is hdfs.datanode_registered
