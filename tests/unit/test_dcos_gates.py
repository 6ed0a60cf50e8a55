"""The dcos bootstrap, install, package and gate code against the contract doubles on loopback addresses.

bootstrap-0 is 127.0.1.5 (its artifact server: a real http.server on :8099 serving the artifact directory,
as fastdata-artifacts.service does), masters 127.0.1.11-13, agents .21-23, public agent .81. The product's
ops run their real commands (bash, curl) through a Remote executing on this machine; node paths are moved
under a temporary directory, one root per node for the dcos_install.sh double (DCOS_DOUBLE_ROOT), and the
cluster double serves each master's dcos-version.json from what that double wrote.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import http.server
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contract import Node
from roles.artifacts import Artifact
from roles.demo import marathon as demo_marathon
from roles.demo import mesos_job
from roles.engine.connection import CommandFailed, RunResult
from roles.engine.executor import Check, Op, plan_phases, wait_for
from roles.engine.spec import with_artifacts
from roles.errors import ConfigError, OperationError
from roles.packages import marathon, spark_dispatcher
from roles.packages.http import http as http_request
from roles.platforms import dcos
from tests.dcos_cluster import dcos_spec, doubles
from tests.mesos_cluster import DOUBLES, LocalRemote, with_kafka

pytestmark = [pytest.mark.unit, pytest.mark.double]
_, CLUSTER_DOUBLE = doubles()
NET = "127.0.1"


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.spec, self.inv = dcos_spec(root / "spec", masters=3, agents=3, net=NET, demo=True)
        self.artifacts = root / "artifacts"
        self.artifacts.mkdir()
        installer = self.spec.artifact("dcos-installer")
        shutil.copy(installer.path, self.artifacts / installer.filename)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(self.artifacts))
        handler.log_message = lambda *a: None  # type: ignore[assignment]
        self.server = http.server.ThreadingHTTPServer((f"{NET}.5", 8099), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        masters = [m.private_ip for m in self.inv.masters]
        self.double = CLUSTER_DOUBLE.DcosCluster(
            masters,
            [a.private_ip for a in self.inv.agents],
            [a.private_ip for a in self.inv.public_agents],
            node_root=root / "nodes",
        ).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.double.stop()

    def remote_for(self, node: Node) -> LocalRemote:
        return LocalRemote(node)

    def paths(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The bootstrap node's paths under root/ (as on the node, relative to its own root)."""
        base = self.root / "bootstrap"
        monkeypatch.setattr(dcos, "ARTIFACT_DIR", str(self.artifacts))
        monkeypatch.setattr(dcos, "DCOS_DIR", str(base))
        monkeypatch.setattr(dcos, "GENCONF", f"{base}/genconf")
        monkeypatch.setattr(dcos, "SERVE_DIR", f"{base}/genconf/serve")
        monkeypatch.setattr(dcos, "INPUTS_MARKER", f"{base}/genconf/serve/.fastdata-inputs")
        monkeypatch.setattr(dcos, "SERVE_LINK", f"{self.artifacts}/dcos")
        monkeypatch.setattr(dcos, "INSTALL_DIR", str(self.root / "install"))
        monkeypatch.setattr(dcos, "PACKAGES_DIR", str(self.root / "packages"))
        monkeypatch.setattr(marathon, "APPS_DIR", str(self.root / "apps"))

    def node_root(self, node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
        root = self.root / "nodes" / node.private_ip
        monkeypatch.setenv("DCOS_DOUBLE_ROOT", str(root))
        monkeypatch.setattr(dcos, "VERSION_FILE", f"{root}/opt/mesosphere/etc/dcos-version.json")
        monkeypatch.setattr(dcos, "ROLES_DIR", f"{root}/etc/mesosphere/roles")
        monkeypatch.setattr(dcos, "SETUP_FLAGS", f"{root}/etc/mesosphere/setup-flags")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("dcos"))
    try:
        yield c
    finally:
        c.stop()


def converge(remote: LocalRemote, ops: list[Op]) -> list[str]:
    """check -> apply -> check for each op, as the executor does; returns the keys that changed."""
    changed = []
    for op in ops:
        if not op.check(remote).ok:
            op.apply(remote)
            after = op.check(remote)
            assert after.ok, f"{op.name}: {after.detail}"
            changed.append(op.key)
    return changed


def probe(c: Cluster, fn: Callable[..., Check], want: bool = True, timeout: float = 10) -> Check:
    state = wait_for(lambda: _flip(fn(c.spec, c.inv, c.remote_for), want), timeout, 0.2)
    return _flip(state, want)


def _flip(state: Check, want: bool) -> Check:
    return state if want else Check(not state.ok, state.detail)


def installed(cluster: Cluster, monkeypatch: pytest.MonkeyPatch, packages: bool = False) -> None:
    """Bring the module's cluster to "DC/OS installed" (and its packages) whatever ran before, so each
    test also passes alone; after the tests that assert on these steps it changes nothing."""
    cluster.paths(monkeypatch)
    boot = cluster.inv.by_role("bootstrap")[0]
    phases = plan_phases(dcos.PLATFORM, cluster.spec, cluster.inv)
    converge(
        cluster.remote_for(boot), [o for o in phases["bootstrap"][boot.name] if o.key.startswith("dcos-")]
    )
    for node in [*cluster.inv.masters, *cluster.inv.agents, *cluster.inv.public_agents]:
        cluster.node_root(node, monkeypatch)
        converge(cluster.remote_for(node), dcos.plan_install(cluster.spec, cluster.inv, node))
    cluster.paths(monkeypatch)
    if packages:
        converge(cluster.remote_for(cluster.inv.masters[0]), package_ops(cluster, cluster.spec))


def test_bootstrap_then_every_node_installs_once(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """genconf -> the generator double -> serve published through the artifact server -> each node
    downloads dcos_install.sh over HTTP and runs it with its role; a second run changes nothing."""
    cluster.paths(monkeypatch)
    boot = cluster.inv.by_role("bootstrap")[0]
    ops = [
        o
        for o in plan_phases(dcos.PLATFORM, cluster.spec, cluster.inv)["bootstrap"][boot.name]
        if o.key.startswith("dcos-")
    ]
    remote = cluster.remote_for(boot)
    assert converge(remote, ops) == [
        "dcos-genconf-dir",
        "dcos-config",
        "dcos-ip-detect",
        "dcos-genconf",
        "dcos-serve-published",
    ]
    assert converge(remote, ops) == []
    assert probe(cluster, dcos.probe_versions, want=False).detail.startswith(
        "master-0 (127.0.1.11): HTTP 503 Admin Router is not up"
    )
    for node in [*cluster.inv.masters, *cluster.inv.agents, *cluster.inv.public_agents]:
        cluster.node_root(node, monkeypatch)
        install = dcos.plan_install(cluster.spec, cluster.inv, node)
        assert converge(cluster.remote_for(node), install) == ["dcos-installed"], "dcos-upgraded holds"
        assert converge(cluster.remote_for(node), install) == []
        role = cluster.root / "nodes" / node.private_ip / "etc/mesosphere/roles"
        assert [p.name for p in role.iterdir()] == [dcos.INSTALL_ROLES[node.role]]
    assert probe(cluster, dcos.probe_versions) == Check(True, "DC/OS 2.2.1 on 3 master(s)")


def test_platform_gates_pass_then_name_what_is_missing(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed(cluster, monkeypatch)
    assert probe(cluster, dcos.probe_exhibitor) == Check(True, "3 of 3 ZooKeeper members serving")
    agents = probe(cluster, dcos.probe_agents)
    assert agents.ok and agents.detail.startswith("4 agents registered")
    cluster.double.exhibitor[f"{NET}.12"] = "down"
    try:
        state = probe(cluster, dcos.probe_exhibitor, want=False)
        assert state.detail.startswith("not serving: master-1 (127.0.1.12) down;")
    finally:
        cluster.double.exhibitor[f"{NET}.12"] = "serving"
    cluster.double.joined.discard(f"{NET}.22")
    try:
        state = probe(cluster, dcos.probe_agents, want=False)
        assert state.detail.startswith("agent-1 (127.0.1.22) not registered; registered: ['127.0.1.21'")
    finally:
        cluster.double.joined.add(f"{NET}.22")


def package_ops(cluster: Cluster, spec: Any) -> list[Op]:
    return dcos.plan_packages(spec, cluster.inv, cluster.inv.masters[0])


def test_packages_install_once_and_changed_options_are_reported(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed(cluster, monkeypatch)
    remote = cluster.remote_for(cluster.inv.masters[0])
    assert probe(cluster, dcos.probe_packages, want=False).detail.startswith("hdfs not installed")
    assert probe(cluster, dcos.probe_hdfs, want=False).detail.startswith("HDFS scheduler: HTTP 404")
    assert converge(remote, package_ops(cluster, cluster.spec)) == [
        "dcos-packages-dir",
        "hdfs-install-request",
        "package:hdfs",
        "kafka-install-request",
        "package:kafka",
        "spark-install-request",
        "package:spark",
    ]
    assert converge(remote, package_ops(cluster, cluster.spec)) == [], "a second run changes nothing"
    assert probe(cluster, dcos.probe_packages) == Check(
        True, "/hdfs: 1/1 running, 1 healthy; /kafka: 1/1 running, 1 healthy; /spark: 1/1 running, 1 healthy"
    )
    assert probe(cluster, dcos.probe_hdfs) == Check(
        True, "HDFS deploy plan COMPLETE: name nodes and 3 DataNodes (every agent)"
    )

    # the cluster is the module's: what this test changes in the double and on the node is put back after
    saved = copy.deepcopy(cluster.double.cosmos.installed["/kafka"])
    marker = f"{dcos.PACKAGES_DIR}/kafka.installed"
    saved_marker = remote.run(f"cat {marker}").stdout
    try:
        # a changed option: the running service is updated in place (Cosmos' service update), not reinstalled
        changed = with_kafka(cluster.spec, partitions=12)
        file_op, package_op = package_ops(cluster, changed)[3:5]
        file_op.apply(remote)
        state = package_op.check(remote)
        assert not state.ok and state.detail.startswith(
            "kafka 2.10.0-2.4.0 installed as /kafka with other options ("
        )
        assert "kafka.num_partitions: 6 -> 12" in state.detail, state.detail
        package_op.apply(remote)
        assert package_op.check(remote).ok
        assert cluster.double.cosmos.installed["/kafka"]["options"]["kafka"]["num_partitions"] == 12
        assert converge(remote, package_ops(cluster, changed)) == [], "updated once"

        # scale out: one more broker in the package's count; scale in: refused before the API is called
        grown = with_kafka(changed, brokers=4)
        assert converge(remote, package_ops(cluster, grown)) == ["kafka-install-request", "package:kafka"]
        assert cluster.double.cosmos.installed["/kafka"]["options"]["brokers"]["count"] == 4
        shrunk = with_kafka(changed, brokers=3)
        file_op, package_op = package_ops(cluster, shrunk)[3:5]
        file_op.apply(remote)
        assert "brokers.count: 4 -> 3" in package_op.check(remote).detail
        with pytest.raises(
            OperationError, match=r"runs 4 brokers and cannot remove any .*4 -> 3\)\. Nothing was changed"
        ):
            package_op.apply(remote)
        assert cluster.double.cosmos.installed["/kafka"]["options"]["brokers"]["count"] == 4
    finally:
        cluster.double.cosmos.installed["/kafka"] = saved
        remote.put(saved_marker.encode(), marker)
        package_ops(cluster, cluster.spec)[3].apply(remote)  # the install request as the spec renders it


@pytest.mark.parametrize(
    ("update", "headers", "error"),
    [
        ({"appId": "/nope", "replace": True}, dcos.UPDATE_HEADERS, "HTTP 404 MarathonAppNotFound"),
        ({"appId": "/kafka"}, dcos.UPDATE_HEADERS, "/replace: missing required property"),
        ({"appId": "/kafka", "replace": False}, dcos.INSTALL_HEADERS, "HTTP 415 UnsupportedContentType"),
        (
            {"appId": "/kafka", "replace": False, "options": {"brokers": {"count": 2}}},
            dcos.UPDATE_HEADERS,
            "HTTP 400 ServiceUpdateError: PodSpecsCannotShrink: pod brokers cannot shrink from 3 to 2",
        ),
        (
            {"appId": "/hdfs", "replace": False, "options": {"data_node": {"count": 2}}},
            dcos.UPDATE_HEADERS,
            "PodSpecsCannotShrink: pod data_node cannot shrink from 3 to 2",
        ),
        (
            {"appId": "/kafka", "replace": False, "options": {"brokers": {"cnt": 4}}},
            dcos.UPDATE_HEADERS,
            "(/brokers: object instance has properties which are not allowed: [cnt])",
        ),
    ],
)
def test_the_service_update_double_refuses_what_cosmos_and_the_scheduler_refuse(
    cluster: Cluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    update: dict[str, Any],
    headers: dict[str, str],
    error: str,
) -> None:
    installed(cluster, monkeypatch, packages=True)
    body = tmp_path / "update.json"
    body.write_text(json.dumps(update))
    remote = cluster.remote_for(cluster.inv.masters[0])
    resp = http_request(remote, "POST", dcos.service_url(cluster.inv, "update"), str(body), headers)
    assert error in dcos.cosmos_errors(resp)
    assert cluster.double.cosmos.installed["/kafka"]["options"]["brokers"]["count"] == 3


@pytest.mark.parametrize(
    ("request_body", "headers", "error"),
    [
        (
            {"packageName": "kafka", "packageVersion": "9.9.9"},
            dcos.INSTALL_HEADERS,
            "HTTP 400 VersionNotFound: Version [9.9.9] of package [kafka] not found",
        ),
        (
            {"packageName": "kafka", "options": {"service": {"name": "k2", "deploy_strategy": "rolling"}}},
            dcos.INSTALL_HEADERS,
            "HTTP 400 JsonSchemaMismatch: Options JSON failed validation (/service/deploy_strategy: "
            "'rolling' is "
            "not one of ['serial', 'serial-canary', 'parallel-canary', 'parallel'])",
        ),
        (
            {"packageName": "kafka", "options": {"brokers": {"count": 0, "cnt": 3}}},
            dcos.INSTALL_HEADERS,
            "(/brokers: object instance has properties which are not allowed: [cnt]; /brokers/count: numeric "
            "instance is lower than the required minimum: 0)",
        ),
        ({"packageName": "kafka"}, {"Content-Type": "application/json"}, "HTTP 415 UnsupportedContentType"),
        (
            {"packageName": "cassandra"},
            dcos.INSTALL_HEADERS,
            "HTTP 400 PackageNotFound: Package [cassandra] not found",
        ),
        (
            {"packageName": "hdfs", "options": {"service": {"name": "h2"}, "data_node": {"replicas": 3}}},
            dcos.INSTALL_HEADERS,
            "HTTP 400 JsonSchemaMismatch: Options JSON failed validation (/data_node: object instance has "
            "properties which are not allowed: [replicas])",
        ),
        (
            {"packageName": "hdfs", "options": {"service": {"name": "h3"}, "hdfs": {"dfs_replication": 2}}},
            dcos.INSTALL_HEADERS,
            "(/hdfs: object instance has properties which are not allowed: [dfs_replication])",
        ),
        (
            {
                "packageName": "hdfs",
                "options": {"service": {"name": "h4"}, "data_node": {"disk_type": "SSD"}},
            },
            dcos.INSTALL_HEADERS,
            "(/data_node/disk_type: 'SSD' is not one of ['ROOT', 'MOUNT'])",
        ),
        (
            {"packageName": "spark", "options": {"service": {"name": "s2"}, "hdfs": {"config_url": "x"}}},
            dcos.INSTALL_HEADERS,
            "(/hdfs: object instance has properties which are not allowed: [config_url])",
        ),
        ({"name": "kafka"}, dcos.INSTALL_HEADERS, "/packageName: missing required property"),
        ({"packageName": "spark"}, dcos.INSTALL_HEADERS, "HTTP 409 PackageAlreadyInstalled"),
    ],
)
def test_the_package_api_double_refuses_what_cosmos_refuses(
    cluster: Cluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request_body: dict[str, Any],
    headers: dict[str, str],
    error: str,
) -> None:
    """With the packages installed (409 for a second spark); cosmos_errors shows the details."""
    installed(cluster, monkeypatch, packages=True)
    body = tmp_path / "request.json"
    body.write_text(json.dumps(request_body))
    remote = cluster.remote_for(cluster.inv.masters[0])
    resp = http_request(remote, "POST", dcos.cosmos_url(cluster.inv, "install"), str(body), headers)
    assert error in dcos.cosmos_errors(resp)


def test_demo_apps_run_on_dcos_marathon(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mesos platform's demo apps, submitted by the same ops to DC/OS' Marathon (:8080 on master-0);
    the dashboard lands on the public agent (slave_public), the others on agent-0."""
    installed(cluster, monkeypatch)
    master = cluster.inv.masters[0]
    ops = [
        o
        for o in plan_phases(dcos.PLATFORM, cluster.spec, cluster.inv)["demo"][master.name]
        if not o.key.startswith("spark-")
    ]
    assert len(converge(cluster.remote_for(master), ops)) == 5
    assert probe(cluster, marathon.apps_probe(demo_marathon.demo_apps)) == Check(True, "2 apps healthy")
    remote = cluster.remote_for(master)
    app = http_request(remote, "GET", f"{marathon.marathon_url(cluster.inv)}/v2/apps/fastdata/demo/dashboard")
    assert [t["host"] for t in app.json()["app"]["tasks"]] == [f"{NET}.81"]


# --- the processor through the Spark package's dispatcher (`dcos spark run`) ------------------------------

JOB_GATE = mesos_job.gate(dcos.PROCESSOR_JOB, 10)


def test_the_processor_runs_under_the_spark_packages_dispatcher(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same submission ops as on mesos, posted through Admin Router's /service/spark to the package's
    dispatcher; once, then a no-op; the driver and executors on the private agents."""
    installed(cluster, monkeypatch, packages=True)
    monkeypatch.setattr(spark_dispatcher, "SUBMISSIONS_DIR", str(cluster.root / "submissions"))
    master = cluster.inv.masters[0]
    ops = [
        o
        for o in plan_phases(dcos.PLATFORM, cluster.spec, cluster.inv)["demo"][master.name]
        if o.key.startswith("spark-")
    ]
    assert converge(cluster.remote_for(master), ops) == [
        "spark-submissions-dir",
        "spark-request:processor",
        "spark-job:processor",
    ]
    assert converge(cluster.remote_for(master), ops) == []
    state = probe(cluster, JOB_GATE.probe)
    assert state.ok and state.detail.endswith("RUNNING, executors on agent-1 x1, agent-2 x1"), state.detail


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mainClass": None}, "HTTP 400 ErrorResponse: Bad request: Main class 'mainClass' is missing."),
        ({"appArgs": None}, "'appArgs' is missing in message CreateSubmissionRequest."),
        ({"clientSparkVersion": ""}, "'clientSparkVersion' is missing"),
        ({"sparkProperties": {"spark.app.name": "x", "spark.driver.memory": "768 MB"}}, "expected memory"),
    ],
)
def test_the_spark_package_dispatcher_refuses_a_malformed_submission(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], message: str
) -> None:
    installed(cluster, monkeypatch, packages=True)
    job = mesos_job.processor_job(cluster.spec, cluster.inv, dcos.PROCESSOR_JOB)
    request = {**spark_dispatcher.create_request(job, "3.5.7", dcos.spark_dispatcher(cluster.inv)), **change}
    body = tmp_path / "request.json"
    body.write_text(json.dumps({k: v for k, v in request.items() if v is not None}))
    url = f"{dcos.spark_dispatcher(cluster.inv).url}/v1/submissions/create"
    resp = http_request(cluster.remote_for(cluster.inv.masters[0]), "POST", url, str(body))
    assert resp.status == 400 and message in spark_dispatcher.response_problem(resp)


def test_without_a_spark_home_the_packages_driver_fails_on_the_agent(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package's dispatcher has no executor home default: a job without spark.mesos.executor.home is
    accepted and its driver fails (MesosClusterScheduler's "Executor Spark home ... is not set!")."""
    installed(cluster, monkeypatch, packages=True)
    job = mesos_job.processor_job(cluster.spec, cluster.inv, dcos.PROCESSOR_JOB)
    props = {k: v for k, v in job.properties.items() if k != "spark.mesos.executor.home"}
    homeless = dataclasses.replace(job, name="homeless", properties=props)
    monkeypatch.setattr(spark_dispatcher, "SUBMISSIONS_DIR", str(tmp_path))
    ops = spark_dispatcher.submission_ops(
        cluster.spec, cluster.inv.masters[0], homeless, dcos.spark_dispatcher(cluster.inv), "homeless"
    )
    remote = cluster.remote_for(cluster.inv.masters[0])
    for op in ops:
        op.apply(remote)
    state = ops[2].check(remote)
    assert not state.ok and state.detail.endswith(
        "FINISHED (TASK_FAILED: Executor Spark home `spark.mesos.executor.home` is not set!): it is "
        "submitted again"
    )


def test_the_hdfs_plan_waits_for_enough_private_agents(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package places one journal node and one DataNode per agent: with an agent gone, the deploy
    plan is IN_PROGRESS and the gate names what is missing."""
    installed(cluster, monkeypatch, packages=True)
    cluster.double.joined.discard(f"{NET}.23")
    try:
        state = probe(cluster, dcos.probe_hdfs, want=False)
        assert state.detail == (
            "HDFS deploy plan IN_PROGRESS: journal IN_PROGRESS, data IN_PROGRESS; 2 of 3 DataNodes deployed "
            "(the package places one per private agent)"
        )
    finally:
        cluster.double.joined.add(f"{NET}.23")


# --- the DC/OS upgrade (runs last: it leaves the module's cluster on 2.2.2) --------------------------------


def test_the_upgrade_is_generated_on_bootstrap_then_masters_then_agents_one_at_a_time(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """versions.dcos 2.2.1 -> 2.2.2 with the 2.2.2 installer: bootstrap-0 generates the node upgrade script
    for 2.2.1 (serve/upgrade/from-2.2.1/); an agent before the masters is refused by the script; masters,
    then agents, each by the rolling upgrade handler, each gated on the version it leaves; a re-run is a
    no-op."""
    installed(cluster, monkeypatch)
    source = (DOUBLES / "dcos_installer_double.py").read_text()
    new = cluster.artifacts / "dcos_generate_config-2.2.2.sh"
    new.write_text(source.replace('VERSION = "2.2.1"', 'VERSION = "2.2.2"', 1))
    installer = Artifact(
        "dcos-installer", new, hashlib.sha256(new.read_bytes()).hexdigest(), new.stat().st_size
    )
    spec = with_artifacts(cluster.spec, {"dcos-installer": installer})
    versions = dataclasses.replace(spec.versions, dcos="2.2.2")
    spec = dataclasses.replace(spec, settings=dataclasses.replace(spec.settings, versions=versions))
    boot = cluster.inv.by_role("bootstrap")[0]
    ops = [
        o
        for o in plan_phases(dcos.PLATFORM, spec, cluster.inv)["bootstrap"][boot.name]
        if o.key.startswith("dcos-")
    ]
    assert converge(cluster.remote_for(boot), ops) == ["dcos-genconf", "dcos-upgrade-script"]
    script = cluster.root / "bootstrap/genconf/serve/upgrade/from-2.2.1/dcos_node_upgrade.sh"
    assert script.is_file()
    handler = dcos.PLATFORM.handlers[dcos.UPGRADE_HANDLER]
    agent = cluster.inv.agents[0]
    cluster.node_root(agent, monkeypatch)
    with pytest.raises(CommandFailed) as refused:
        handler.restart(cluster.remote_for(agent))
    assert (
        "masters must be upgraded to 2.2.2 before agents; not yet: 127.0.1.11 (2.2.1)" in refused.value.output
    )
    for node in [*cluster.inv.masters, *cluster.inv.agents, *cluster.inv.public_agents]:
        cluster.node_root(node, monkeypatch)
        remote = cluster.remote_for(node)
        (_, upgrade) = dcos.plan_install(spec, cluster.inv, node)
        assert upgrade.by_restart and upgrade.notify == (dcos.UPGRADE_HANDLER,)
        assert upgrade.check(remote) == Check(False, "DC/OS 2.2.1 installed, upgraded to 2.2.2")
        handler.restart(remote)
        assert handler.healthy is not None and handler.healthy(remote) == Check(
            True, "DC/OS 2.2.2 (was 2.2.1)"
        )
        assert upgrade.check(remote).ok
    assert probe(cluster, lambda s, i, r: dcos.probe_versions(spec, i, r)) == Check(
        True, "DC/OS 2.2.2 on 3 master(s)"
    )
    cluster.paths(monkeypatch)
    assert converge(cluster.remote_for(boot), ops) == [], "a re-run generates nothing"


class VersionNode:
    def __init__(self, version: str | None) -> None:
        self.version = version

    def run(self, command: str, **kw: Any) -> RunResult:
        text = json.dumps({"version": self.version}) if self.version else ""
        return RunResult(command, 0, text, "")


def test_plan_shows_the_dcos_upgrade_and_refuses_a_downgrade_or_a_skip(cluster: Cluster) -> None:
    spec = cluster.spec
    versions = dataclasses.replace(spec.versions, dcos="2.2.2")
    up = dataclasses.replace(spec, settings=dataclasses.replace(spec.settings, versions=versions))
    nodes = {n.name: VersionNode("2.2.1") for n in cluster.inv.nodes}
    nodes["master-0"] = VersionNode("2.2.2")  # resumed after master-0
    assert dcos.upgrade_preflight(up, cluster.inv, nodes) == [  # type: ignore[arg-type]
        "upgrade DC/OS 2.2.1 -> 2.2.2: bootstrap-0 generates the node upgrade script (from 2.2.1); masters "
        "one at a time: master-1, master-2; then agents one at a time: agent-0, agent-1, agent-2, "
        "public-agent-0"
    ]
    assert dcos.upgrade_preflight(up, cluster.inv, {n: VersionNode("2.2.2") for n in nodes}) == []  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"DC/OS 2\.2\.1 is older than what runs \(master-0 runs 2\.2\.2"):
        dcos.upgrade_preflight(spec, cluster.inv, nodes)  # type: ignore[arg-type]
    old = {n: VersionNode("1.13.9") for n in nodes}
    with pytest.raises(ConfigError, match=r"DC/OS 1\.13\.9 cannot be upgraded to 2\.2\.2 directly"):
        dcos.upgrade_preflight(up, cluster.inv, old)  # type: ignore[arg-type]
