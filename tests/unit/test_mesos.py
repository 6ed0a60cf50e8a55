"""The mesos platform's planners, flags, app definitions and packages, checked against the contract doubles'
flag parsers and Marathon's app validation (tests/doubles/)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from roles import tasks
from roles.demo import marathon as demo_marathon
from roles.engine.executor import Op, plan_phases
from roles.engine.spec import DeploySpec
from roles.errors import ArtifactMissing
from roles.packages import hdfs, marathon
from roles.platforms import mesos
from tests.mesos_cluster import (
    DOUBLES,
    doubles,
    flags_of,
    inventory_file,
    mesos_inventory,
    mesos_spec,
    package_settings,
    supplied_spec,
    with_kafka,
)

pytestmark = [pytest.mark.unit, pytest.mark.double]
MESOS_DOUBLE, MARATHON_DOUBLE = doubles()


def files_of(ops: list[Op]) -> dict[str, str]:
    return {f.path: f.content.decode() for op in ops for f in op.files}


def keys(ops: list[Op]) -> list[str]:
    return [o.key for o in ops]


MASTER_KEYS = [
    "zookeeper-package",
    "zookeeper-config",
    "zookeeper-myid",
    "zookeeper-unit",
    "zookeeper-running",
    "mesos-artifact",
    "mesos-unpacked",
    "mesos-master-work",
    "master-flags",
    "master-unit",
    "master-running",
    "master-version",
    "marathon-artifact",
    "marathon-unpacked",
    "marathon-flags",
    "marathon-unit",
    "marathon-running",
    "marathon-version",
]
AGENT_KEYS = [
    "mesos-artifact",
    "mesos-unpacked",
    "mesos-agent-work",
    "agent-flags",
    "agent-unit",
    "agent-running",
    "agent-version",
]
BROKER_NODE_KEYS = [
    "kafka-user",
    "kafka-home",
    "kafka-data",
    "kafka-logs",
    "kafka-artifact",
    "kafka-libs",
    "kafka-config",
    "kafka-log4j",
    "kafka-tools-log4j",
    "kafka-storage",
    "spark-user",
    "spark-home",
    "spark-work",
    "py4j-artifact",
    "pyspark-artifact",
    "pyspark",
]


def test_three_master_plan_exact_ops_and_files(tmp_path: Path) -> None:
    """3 masters: ZooKeeper ensemble (one myid each), mesos-master with quorum 2, Marathon; the agents'
    and public agent's flags; the apps submitted from master-0 only."""
    spec, inv = mesos_spec(tmp_path, masters=3, agents=3)
    phases = plan_phases(mesos.PLATFORM, spec, inv)
    # HDFS: the standalone platform's units (roles/packages/hdfs.py), NameNode on master-0 after Marathon
    namenode = keys(hdfs.plan_namenode(spec, inv, inv.masters[0]))
    datanode = keys(hdfs.plan_datanode(spec, inv, inv.agents[1]))
    assert "hdfs-namenode-running" in namenode and "hdfs-datanode-running" in datanode
    assert {h: keys(o) for h, o in phases["masters"].items()} == {
        f"master-{i}": MASTER_KEYS + (namenode if i == 0 else []) for i in range(3)
    }
    assert keys(phases["agents"]["agent-1"]) == AGENT_KEYS + BROKER_NODE_KEYS + datanode
    assert keys(phases["agents"]["public-agent-0"]) == AGENT_KEYS, "no DataNode on public agents"
    assert keys(phases["packages"]["master-0"]) == ["marathon-apps-dir"] + [
        f"app{part}:/fastdata/{app}"
        for app in ("kafka/broker-1", "kafka/broker-2", "kafka/broker-3", "spark/dispatcher")
        for part in ("-file", "")
    ] + ["apps-pruned:/fastdata/kafka/broker-"]
    assert set(phases["packages"]) == {"master-0", "agent-0", "agent-1", "agent-2"}
    assert phases["demo"] == {}
    assert list(phases["bootstrap"]) == ["master-0"], "the artifact server: the Mesos packages come from it"
    assert {"seed-mesos", "seed-marathon"} <= set(keys(phases["bootstrap"]["master-0"]))
    agent_pkg = next(o for o in phases["agents"]["agent-1"] if o.key == "mesos-artifact")
    assert agent_pkg.name.endswith("from master-0)")

    zk = "zk://10.98.0.11:2181,10.98.0.12:2181,10.98.0.13:2181"
    m1 = files_of(phases["masters"]["master-1"])
    assert m1["/var/lib/zookeeper/myid"] == "2\n"
    assert m1["/etc/zookeeper/conf/zoo.cfg"].endswith(
        "admin.enableServer=false\nserver.1=10.98.0.11:2888:3888\nserver.2=10.98.0.12:2888:3888\n"
        "server.3=10.98.0.13:2888:3888\n\n"
    )
    assert "4lw.commands.whitelist=srvr,mntr,ruok\n" in m1["/etc/zookeeper/conf/zoo.cfg"]
    assert flags_of(m1["/etc/default/mesos-master"]) == [
        f"--zk={zk}/mesos",
        "--quorum=2",
        "--work_dir=/var/lib/mesos/master",
        "--ip=10.98.0.12",
        "--hostname=10.98.0.12",
        "--port=5050",
        "--cluster=fastdata-mesos",
    ]
    assert flags_of(m1["/etc/default/marathon"]) == [
        "--master",
        f"{zk}/mesos",
        "--zk",
        f"{zk}/marathon",
        "--hostname",
        "10.98.0.12",
        "--http_port",
        "8080",
        "--mesos_role",
        "slave_public",
        "--accepted_resource_roles_default_behavior",
        "unreserved",
    ]
    unit = m1["/etc/systemd/system/marathon.service"]
    assert "ExecStart=/opt/marathon/1.11.24/marathon-1.11.24-b1ae5b5f1/bin/marathon $FLAGS\n" in unit
    assert "Environment=MESOS_NATIVE_JAVA_LIBRARY=/opt/mesos/1.11.0/usr/lib/libmesos-1.11.0.so\n" in unit
    assert "EnvironmentFile=/etc/default/marathon\n" in unit
    assert (
        "ExecStart=/opt/mesos/1.11.0/usr/sbin/mesos-master $FLAGS\n"
        in m1["/etc/systemd/system/mesos-master.service"]
    )

    agent = files_of(phases["agents"]["agent-2"])
    assert flags_of(agent["/etc/default/mesos-agent"]) == [
        f"--master={zk}/mesos",
        "--work_dir=/var/lib/mesos/agent",
        "--containerizers=mesos",
        "--ip=10.98.0.23",
        "--hostname=10.98.0.23",
        "--port=5051",
        "--resources=ports:[1-21,23-5050,5052-32000]",
    ]
    assert "KillMode=process\n" in agent["/etc/systemd/system/mesos-agent.service"]
    public = files_of(phases["agents"]["public-agent-0"])
    assert flags_of(public["/etc/default/mesos-agent"])[-2:] == [
        "--default_role=slave_public",
        "--attributes=public_ip:true",
    ]
    # the broker config is the standalone platform's (roles/packages/kafka.py), not a copy
    assert (
        "controller.quorum.bootstrap.servers=10.98.0.21:9093,10.98.0.22:9093,10.98.0.23:9093\n"
        in agent["/etc/kafka/server.properties"]
    )


def test_one_master_plan(tmp_path: Path) -> None:
    """1 master: quorum 1, a one-server ZooKeeper (standalone mode), the same op list."""
    spec, inv = mesos_spec(tmp_path, masters=1, agents=1)
    phases = plan_phases(mesos.PLATFORM, spec, inv)
    namenode = keys(hdfs.plan_namenode(spec, inv, inv.masters[0]))
    assert list(phases["masters"]) == ["master-0"]
    assert keys(phases["masters"]["master-0"]) == MASTER_KEYS + namenode
    m0 = files_of(phases["masters"]["master-0"])
    assert flags_of(m0["/etc/default/mesos-master"])[:2] == ["--zk=zk://10.98.0.11:2181/mesos", "--quorum=1"]
    assert m0["/etc/zookeeper/conf/zoo.cfg"].endswith(
        "admin.enableServer=false\nserver.1=10.98.0.11:2888:3888\n\n"
    )
    assert m0["/var/lib/zookeeper/myid"] == "1\n"
    assert [a["id"] for a in mesos.package_apps(spec, inv)] == [
        "/fastdata/kafka/broker-1",
        "/fastdata/spark/dispatcher",
    ]


def rendered_flags(tmp_path: Path, masters: int) -> list[tuple[str, str, list[str]]]:
    spec, inv = mesos_spec(tmp_path, masters=masters, agents=2)
    out = []
    for phase in ("masters", "agents"):
        for host, ops in plan_phases(mesos.PLATFORM, spec, inv)[phase].items():
            for path, text in files_of(ops).items():
                if path.startswith("/etc/default/"):
                    out.append((host, path.rsplit("/", 1)[1], flags_of(text)))
    return out


@pytest.mark.parametrize("masters", [1, 3])
def test_rendered_flags_are_accepted_by_the_doubles(tmp_path: Path, masters: int) -> None:
    """Every flags file the planners write parses with the doubles' Mesos 1.11 / Marathon 1.11 flag tables."""
    seen = set()
    for _host, daemon, args in rendered_flags(tmp_path, masters):
        if daemon == "marathon":
            flags = MARATHON_DOUBLE.parse_flags(args)
            assert flags["mesos_role"] == "slave_public"
        else:
            flags = MESOS_DOUBLE.parse_flags(daemon.removeprefix("mesos-"), args, {}, pytest.fail)
            assert flags["work_dir"].startswith("/var/lib/mesos/")
        seen.add(daemon)
    assert seen == {"mesos-master", "mesos-agent", "marathon"}


def test_an_invalid_rendered_flag_is_rejected(tmp_path: Path) -> None:
    """The same files with one flag broken the way a typo would: the doubles refuse, naming it."""
    master = next(a for _, d, a in rendered_flags(tmp_path, 3) if d == "mesos-master")
    typo = [f.replace("--work_dir", "--workdir") for f in master]
    with pytest.raises(MESOS_DOUBLE.FlagError, match="unknown flag 'workdir'"):
        MESOS_DOUBLE.parse_flags("master", typo, {}, pytest.fail)
    no_quorum = [f for f in master if not f.startswith("--quorum")]
    with pytest.raises(MESOS_DOUBLE.FlagError, match="Need to specify --quorum"):
        MESOS_DOUBLE.parse_flags("master", no_quorum, {}, pytest.fail)


@pytest.mark.parametrize(
    ("daemon", "args", "message"),
    [
        ("master", ["--work_dir=/w", "--quorum=two"], "Failed to convert 'two' to number"),
        ("master", ["--zk=http://10.0.0.1:2181/mesos", "--quorum=1", "--work_dir=/w"], "Expecting 'zk://'"),
        ("master", ["--zk=zk://10.0.0.1:2181", "--quorum=1", "--work_dir=/w"], "Expecting a path"),
        ("master", ["--zk=zk://10.0.0.1:2181/mesos", "--quorum=1"], "--work_dir needed"),
        ("master", ["--work_dir=/w", "--ip=10.0.0.1", "--ip_discovery_command=x"], "Only one of `--ip`"),
        ("master", ["--work_dir=/w", "--ip=10.0.0"], "Failed to parse IP"),
        ("master", ["--work_dir=/w", "--port=5050", "--port=5051"], "already loaded"),
        ("master", ["--work_dir=/w", "--quorum"], "non-boolean flag 'quorum'"),
        ("master", ["--work_dir=/w", "--offer_timeout=5"], "Invalid duration"),
        ("master", ["--work_dir=/w", "--default_role=slave_public"], "unknown flag 'default_role'"),
        ("agent", ["--work_dir=/w"], "Missing required option `--master`"),
        ("agent", ["--master=zk://10.0.0.1:2181/mesos"], "'work_dir' is required"),
        (
            "agent",
            ["--master=10.0.0.1:5050", "--work_dir=/w", "--containerizers=mesos,lxc"],
            "containerizer: lxc",
        ),
        (
            "agent",
            ["--master=10.0.0.1:5050", "--work_dir=/w", "--resources=ports:31000-32000"],
            "is not a number",
        ),
        ("agent", ["--master=10.0.0.1:5050", "--work_dir=/w", "--attributes=public_ip"], "key:value"),
        (
            "agent",
            ["--master=10.0.0.1:5050", "--work_dir=/w", "--default_role=-public"],
            "Invalid --default_role",
        ),
        ("agent", ["--master=10.0.0.1:5050", "--work_dir=/w", "--switch_user=maybe"], "Expecting a boolean"),
        ("agent", ["--master=10.0.0.1:5050", "--work_dir=/w", "--quorum=1"], "unknown flag 'quorum'"),
    ],
)
def test_mesos_double_rejects_what_mesos_rejects(daemon: str, args: list[str], message: str) -> None:
    with pytest.raises(MESOS_DOUBLE.FlagError, match=message.replace("(", r"\(").replace("`", ".")):
        MESOS_DOUBLE.parse_flags(daemon, args, {}, lambda m: None)


def test_mesos_double_env_flags_and_unknown_variables() -> None:
    """MESOS_* variables load like flags (the command line wins); unknown ones only warn, as in Mesos."""
    warnings: list[str] = []
    env = {"MESOS_WORK_DIR": "/env", "MESOS_QUORUM": "1", "MESOS_WORKDIR": "/typo", "PATH": "/bin"}
    flags = MESOS_DOUBLE.parse_flags("master", ["--work_dir=/cli"], env, warnings.append)
    assert flags["work_dir"] == "/cli" and flags["quorum"] == "1"
    assert warnings == [
        "Warning: ignoring unknown environment variable MESOS_WORKDIR (real Mesos ignores it silently)"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--zk", "zk://h:2181/marathon"], "Required option 'master' not found"),
        (["--master", "zk://h:2181/mesos", "--http-port", "8080"], "Unknown option 'http-port'"),
        (["--master", "zk://h:2181/mesos", "--http_port", "eighty"], "Bad arguments for option 'http_port'"),
        (["--master", "http://h:5050"], "neither zk://hosts/path nor host:port"),
        (["--master", "h:5050", "--zk", "zk://h:2181"], "Expecting a path"),
        (["--master", "h:5050", "--accepted_resource_roles_default_behavior", "public"], "not one of"),
        (["--master", "h:5050", "--ha=true"], "a toggle takes no value"),
        (["--master"], "needs a value"),
    ],
)
def test_marathon_double_rejects_what_marathon_rejects(args: list[str], message: str) -> None:
    with pytest.raises(MARATHON_DOUBLE.FlagError, match=message):
        MARATHON_DOUBLE.parse_flags(args)


def test_doubles_as_programs_exit_1_on_bad_flags_and_document_themselves() -> None:
    """The executables behave like the real ones at the process boundary: --help, exit 1 + stderr."""

    def run(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DOUBLES / name), *args], capture_output=True, text=True, timeout=20, env=env
        )

    for name in ("mesos-master", "mesos-agent", "marathon"):
        out = run(name, "--help")
        assert (
            out.returncode == 0 and "--work_dir" in out.stdout
            if name != "marathon"
            else "--mesos_role" in out.stdout
        )
    bad = run("mesos-master", "--work_dir=/w", "--frobnicate=1")
    assert (
        bad.returncode == 1 and "Failed to load flags: Failed to load unknown flag 'frobnicate'" in bad.stderr
    )
    agent = run("mesos-agent", "--master=zk://127.0.0.1:2181/mesos")
    assert agent.returncode == 1 and "'work_dir' is required" in agent.stderr
    nolib = run("marathon", "--master", "zk://127.0.0.1:2181/mesos", env={"PATH": "/usr/bin:/bin"})
    assert nolib.returncode == 1 and "Failed to load native Mesos library" in nolib.stderr


# --- Marathon app definitions ---------------------------------------------------------------------------


def test_every_generated_app_is_valid_for_marathon(tmp_path: Path) -> None:
    """The Kafka, dispatcher and demo apps pass the double's Marathon validation, with Marathon's role."""
    spec, inv = mesos_spec(tmp_path, masters=3, agents=3, demo=True)
    apps = mesos.package_apps(spec, inv) + demo_marathon.demo_apps(spec, inv)
    assert [a["id"] for a in apps] == [
        "/fastdata/kafka/broker-1",
        "/fastdata/kafka/broker-2",
        "/fastdata/kafka/broker-3",
        "/fastdata/spark/dispatcher",
        "/fastdata/demo/producer",
        "/fastdata/demo/dashboard",
    ]
    for app in apps:
        assert MARATHON_DOUBLE.type_errors(app) == [], app["id"]
        assert MARATHON_DOUBLE.validate_app(app, "slave_public") == [], app["id"]
    broker = apps[1]
    assert broker["constraints"] == [["hostname", "CLUSTER", "10.98.0.22"]]
    assert broker["args"][-3:] == ["/opt/kafka/3.9.1/*", "kafka.Kafka", "/etc/kafka/server.properties"]
    assert apps[-1]["acceptedResourceRoles"] == ["slave_public"] and apps[0]["acceptedResourceRoles"] == ["*"]
    # the same apps would be refused by a Marathon registered with the default role `*`
    assert MARATHON_DOUBLE.validate_app(apps[-1], "*")[0]["errors"] == [
        "acceptedResourceRoles can only contain * and *"
    ]


def test_a_changed_node_config_changes_the_app_definition(tmp_path: Path) -> None:
    """The broker app carries a digest of its node files: a new Kafka heap or config restarts it via PUT."""
    spec, inv = mesos_spec(tmp_path, masters=1, agents=1)
    before = mesos.broker_app(spec, inv, inv.agents[0])
    spec = with_kafka(spec, partitions=12)
    after = mesos.broker_app(spec, inv, inv.agents[0])
    assert before["args"] == after["args"]
    assert marathon.app_differences(after, before) == [
        f"/labels: {json.dumps(before['labels'])[:80]}, want {json.dumps(after['labels'])[:80]}"
    ]


def _valid_app() -> dict[str, Any]:
    return {
        "id": "/fastdata/web",
        "args": ["python3", "-m", "http.server"],
        "cpus": 0.1,
        "mem": 64,
        "portDefinitions": [{"port": 8000, "name": "http"}],
        "requirePorts": True,
        "healthChecks": [{"protocol": "MESOS_HTTP", "portIndex": 0, "path": "/"}],
        "acceptedResourceRoles": ["slave_public"],
        "constraints": [["hostname", "UNIQUE"]],
    }


@pytest.mark.parametrize(
    ("change", "path", "error"),
    [
        ({"id": "/Demo_Web"}, "/id", "is not a valid path"),
        ({"id": "/demo/-web"}, "/id", "is not a valid path"),
        ({"cmd": "python3 -m http.server"}, "/", "both 'cmd' and 'args'"),
        ({"args": None}, "/", "must either contain one of 'cmd' or 'args'"),
        ({"cpus": 0}, "/cpus", "expected 0.001 or more"),
        ({"instances": -1}, "/instances", "expected 0 or more"),
        (
            {"acceptedResourceRoles": ["public"]},
            "/acceptedResourceRoles(0)",
            "can only contain * and slave_public",
        ),
        ({"acceptedResourceRoles": []}, "/acceptedResourceRoles", "must not be empty"),
        ({"constraints": [["hostname", "UNIQUELY"]]}, "/constraints(0)", "operator must be one of"),
        ({"constraints": [["hostname", "CLUSTER"]]}, "/constraints(0)", "CLUSTER requires a value"),
        ({"constraints": ["hostname:UNIQUE"]}, "/constraints(0)", "array of 2 or 3 strings"),
        (
            {"healthChecks": [{"protocol": "MESOS_HTTP", "portIndex": 2}]},
            "/healthChecks(0)/portIndex",
            "out of range",
        ),
        ({"healthChecks": [{"protocol": "GRPC"}]}, "/healthChecks(0)/protocol", "must be one of"),
        (
            {"healthChecks": [{"protocol": "MESOS_TCP"}, {"protocol": "MESOS_HTTP"}]},
            "/healthChecks",
            "at most one Mesos health check",
        ),
        ({"portDefinitions": [{"port": 70000}]}, "/portDefinitions(0)/port", "expected 0 to 65535"),
        (
            {"portDefinitions": [{"port": 8000, "name": "HTTP_port"}]},
            "/portDefinitions(0)/name",
            "does not match",
        ),
        (
            {"upgradeStrategy": {"minimumHealthCapacity": 2}},
            "/upgradeStrategy/minimumHealthCapacity",
            "between 0.0",
        ),
        ({"role": "other"}, "/role", "expected slave_public"),
        ({"instance": 2}, "/instance", "error.unknown.property"),
    ],
)
def test_marathon_double_refuses_broken_apps(change: dict[str, Any], path: str, error: str) -> None:
    app = {**_valid_app(), **change}
    app = {k: v for k, v in app.items() if v is not None}
    assert MARATHON_DOUBLE.validate_app(_valid_app(), "slave_public") == []
    problems = MARATHON_DOUBLE.validate_app(app, "slave_public")
    assert any(p["path"] == path and error in " ".join(p["errors"]) for p in problems), problems


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"cpus": "0.1"}, "/cpus"),
        ({"env": {"A": 1}}, "/env/A"),
        ({"args": "python3"}, "/args"),
        ("not an object", "/"),
    ],
)
def test_marathon_double_refuses_wrong_json_types(change: Any, path: str) -> None:
    app = {**_valid_app(), **change} if isinstance(change, dict) else change
    assert [p["path"] for p in MARATHON_DOUBLE.type_errors(app)] == [path]


# --- packages: configured, checksummed, complete ---------------------------------------------------------


def test_missing_packages_fail_before_any_node_names_the_keys(tmp_path: Path) -> None:
    """`fab deploy`/`plan` load the spec before connecting: no packages configured is ArtifactMissing
    naming both settings, and nothing is contacted (the inventory's addresses do not exist here)."""
    inv_file = inventory_file(
        tmp_path, mesos_inventory(1, 1, artifacts={"cacheDir": str(tmp_path / "cache")})
    )
    for call in (
        lambda: tasks.deploy(None, str(inv_file), dry_run=True),
        lambda: tasks.render(None, str(inv_file), tmp_path / "out"),
    ):
        with pytest.raises(ArtifactMissing) as info:
            call()
        msg = str(info.value)
        assert "fastdata:artifacts.mesosPackageSource and fastdata:artifacts.mesosPackageSha256" in msg
        assert "fastdata:artifacts.marathonPackageSource and fastdata:artifacts.marathonPackageSha256" in msg
        assert "nothing was changed on any node" in msg
    assert not (tmp_path / "out").exists()


def test_package_checksum_and_contents_are_verified(tmp_path: Path) -> None:
    settings = package_settings(tmp_path)

    def prepare(artifacts: dict[str, Any], cache: Path) -> DeploySpec:
        data = mesos_inventory(1, 1, artifacts={**artifacts, "cacheDir": str(cache)})
        return supplied_spec(mesos.PLATFORM, data, demo=False)[0]

    with pytest.raises(ArtifactMissing, match=r"settings\.artifacts\.mesosPackageSha256 says 0{64}"):
        prepare({**settings, "mesosPackageSha256": "0" * 64}, tmp_path / "cache")
    incomplete = package_settings(
        tmp_path / "incomplete", {"sbin/mesos-master": b"x", "lib/libmesos.so": b""}
    )
    with pytest.raises(ArtifactMissing, match=r"mesosPackageSource\) has no mesos-agent"):
        prepare(incomplete, tmp_path / "cache2")
    cached = prepare(settings, tmp_path / "cache3").artifact("mesos")
    assert cached.path.parent == tmp_path / "cache3" and cached.sha256 == settings["mesosPackageSha256"]
    # second time: from the cache
    assert prepare(settings, tmp_path / "cache3").artifact("mesos") == cached


def test_render_writes_every_file_per_node_without_ssh(tmp_path: Path) -> None:
    """`fab render` on a mesos inventory: flags, units, ZooKeeper config, app definitions, per node."""
    inv_file = inventory_file(tmp_path, mesos_inventory(3, 2, artifacts=package_settings(tmp_path)))
    out = tmp_path / "render"
    written = tasks.render(None, str(inv_file), out)
    by_node = {p.relative_to(out).parts[0] for p in written}
    assert by_node == {"master-0", "master-1", "master-2", "agent-0", "agent-1", "public-agent-0"}
    for i in range(3):
        assert (out / f"master-{i}/var/lib/zookeeper/myid").read_text() == f"{i + 1}\n"
        assert (out / f"master-{i}/etc/default/marathon").is_file()
    broker = json.loads((out / "master-0/etc/fastdata/marathon/fastdata-kafka-broker-2.json").read_text())
    assert broker["constraints"] == [["hostname", "CLUSTER", "10.98.0.22"]]
    assert (out / "public-agent-0/etc/default/mesos-agent").read_text().count("slave_public") == 1
    assert (
        "masters\tmaster-flags\tmesos-master flags on master-1"
        in (out / "master-1/OPERATIONS.txt").read_text()
    )
