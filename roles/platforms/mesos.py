"""The mesos platform (DESIGN 3.3): Apache Mesos + Marathon + ZooKeeper, and everything else as Marathon apps.

- masters (one at a time): a ZooKeeper ensemble from Debian's `zookeeper` package, mesos-master
  (replicated log, quorum = majority of the masters), Marathon (HA, state in ZooKeeper); the HDFS
  NameNode on the first master;
- agents: mesos-agent; public agents the same with `--default_role=slave_public
  --attributes=public_ip:true`, as DC/OS configures its public agents (docs/contracts.md, "mesos"); an
  HDFS DataNode on every private agent. HDFS runs as the standalone platform's systemd units
  (roles/packages/hdfs.py), like ZooKeeper, not as Marathon apps: it is storage the platform's own jobs
  depend on (the processor's checkpoints), its NameNode metadata and DataNode blocks live on fixed node
  paths, and the DataNodes must stay put on their agents; Marathon apps would only add a second
  supervisor, pinning constraints and a restart path through Marathon for no gain;
- packages: one Marathon app per Kafka broker (KRaft, the broker config roles/packages/kafka.py renders
  for the standalone platform, pinned to its agent) and Spark's MesosClusterDispatcher, PUT to Marathon's
  `/v2/apps` from the first master;
- demo: InfluxDB (Debian package) on the first public agent; producer and dashboard as Marathon apps,
  the dashboard with `acceptedResourceRoles: ["slave_public"]` (roles/demo/marathon.py); the processor
  submitted to the dispatcher in cluster mode (`--supervise`), its driver and executors on the private
  agents (roles/demo/mesos_job.py).

Mesos and Marathon come from packages the user supplies (no registry serves them: Mesos is in the Apache
Attic); resolving the spec refuses to start before any node is touched when they are not configured.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from contract import Cluster, Node, Role, Settings
from contract import Platform as PlatformName
from roles.demo import common as demo_common
from roles.demo import marathon as demo
from roles.demo import mesos_job, runtime
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Handler, Op, Platform, Step, gate_group
from roles.engine.ops import (
    apt_op,
    artifact_op,
    directory_op,
    file_op,
    probed,
    service_op,
    source,
    unit_handler,
    unpack_op,
)
from roles.engine.placement import (
    BROKERS,
    CONTROLLERS,
    EVERY_AGENT,
    EVERY_AGENT_AND_PUBLIC_AGENT,
    EVERY_MASTER,
    FIRST_AGENT,
    FIRST_BROKER,
    FIRST_MASTER,
    FIRST_PUBLIC_AGENT,
    every,
    first_node,
)
from roles.engine.spec import DeploySpec, Supplied, demo_enabled
from roles.engine.templates import render
from roles.errors import ConfigError
from roles.packages import (
    hdfs,
    influxdb,
    kafka,
    kafka_reassign,
    marathon_scale,
    spark,
    spark_dispatcher,
    zookeeper,
)
from roles.packages.http import http, http_ok
from roles.packages.marathon import (
    APPS_DIR,
    MARATHON_PORT,
    App,
    apps_gate,
    apps_planner,
    health_check,
    mb,
    node_digest,
    pinned_app,
    probe_marathon_leader,
)
from roles.packages.mesos_api import (
    AGENT_PORT,
    MASTER_PORT,
    PUBLIC_ROLE,
    agents_gate,
    agents_probe,
    probe_mesos_leader,
    quorum,
)
from roles.packages.spark_dispatcher import Dispatcher
from roles.packages.zookeeper import zk_hosts, zk_url
from roles.platforms import common, upgrades

DISPATCHER_PORT = 7077
DISPATCHER_UI_PORT = 8081
# What agents offer besides cpus/mem/disk (auto-detected): every port but ssh and the agent's own, so
# fixed-port apps (Kafka 9092/9093, the dispatcher, the dashboard on 80) fit.
AGENT_PORTS = "[1-21,23-5050,5052-32000]"

MARATHON_HEAP = "512m"
MASTER_WORK_DIR = "/var/lib/mesos/master"
AGENT_WORK_DIR = "/var/lib/mesos/agent"
# The dispatcher is pinned to the first agent: spark-submit needs a stable mesos://host:7077.
DISPATCHER = FIRST_AGENT
BROKER_APPS = "/fastdata/kafka/broker-"  # + the broker id: one Marathon app per broker

UNITS = {
    "master": "mesos-master.service",
    "marathon": "marathon.service",
    "agent": "mesos-agent.service",
}
FLAGS_FILES = {
    "master": "/etc/default/mesos-master",
    "marathon": "/etc/default/marathon",
    "agent": "/etc/default/mesos-agent",
}
HANDLERS = {name: f"restart-{name}" for name in UNITS}

# mesos-master, mesos-agent and libmesos link against these (Mesos docs/building.md lists their -dev
# packages for Debian/Ubuntu); curl is what the ops and gates talk HTTP with.
RUNTIME_PACKAGES = ("curl", "libcurl3-nss", "libsasl2-modules", "libsvn1", "libapr1", "zlib1g")


# --- the user-supplied packages ------------------------------------------------------------------------


def home(settings: Settings, package: str) -> str:
    """Where a package is unpacked on the nodes (versioned, like /opt/kafka/<version>)."""
    v = settings.versions
    return f"/opt/{package}/{v.mesos if package == 'mesos' else v.marathon}"


WHY = (
    "the Mesos and Marathon binaries, which no package registry serves (Mesos is in the Apache Attic, "
    "Marathon archived)"
)
PACKAGES = (
    Supplied(
        "mesos",
        "mesosPackageSource",
        "mesosPackageSha256",
        "a tar (.tar, .tar.gz, .tgz) of a Mesos 1.11 install tree (`make install DESTDIR=...`, or the "
        "files of a .deb)",
        WHY,
        {
            "mesos-master": r"(^|.*/)s?bin/mesos-master",
            "mesos-agent": r"(^|.*/)s?bin/mesos-agent",
            "libmesos": r"(^|.*/)lib/libmesos(-[0-9.]+)?\.so",
        },
        lambda settings: home(settings, "mesos"),
    ),
    Supplied(
        "marathon",
        "marathonPackageSource",
        "marathonPackageSha256",
        "a tar (.tgz) of a Marathon 1.11 distribution (marathon-1.11.x-<hash>/bin/marathon)",
        WHY,
        {"marathon": r"(^|.*/)bin/marathon"},
        lambda settings: home(settings, "marathon"),
    ),
)


def package_ops(spec: DeploySpec, node: Node, package: str, notify: Sequence[str]) -> list[Op]:
    art = spec.artifact(package)
    return [
        artifact_op(f"{package}-artifact", art, source(spec, node)),
        unpack_op(f"{package}-unpacked", art, home(spec.settings, package), notify=notify),
    ]


# --- flags (pure) ---------------------------------------------------------------------------------------


def master_flags(spec: DeploySpec, inventory: Cluster, node: Node) -> list[str]:
    return [
        f"--zk={zk_url(inventory, 'mesos')}",
        f"--quorum={quorum(inventory)}",
        f"--work_dir={MASTER_WORK_DIR}",
        f"--ip={node.private_ip}",
        f"--hostname={node.private_ip}",
        f"--port={MASTER_PORT}",
        f"--cluster={inventory.name}",
    ]


def agent_flags(spec: DeploySpec, inventory: Cluster, node: Node) -> list[str]:
    flags = [
        f"--master={zk_url(inventory, 'mesos')}",
        f"--work_dir={AGENT_WORK_DIR}",
        "--containerizers=mesos",
        f"--ip={node.private_ip}",
        f"--hostname={node.private_ip}",
        f"--port={AGENT_PORT}",
        f"--resources=ports:{AGENT_PORTS}",
    ]
    if node.role is Role.PUBLIC_AGENT:
        flags += [f"--default_role={PUBLIC_ROLE}", "--attributes=public_ip:true"]
    return flags


def marathon_flags(spec: DeploySpec, inventory: Cluster, node: Node) -> list[str]:
    return [
        "--master",
        zk_url(inventory, "mesos"),
        "--zk",
        zk_url(inventory, "marathon"),
        "--hostname",
        node.private_ip,
        "--http_port",
        str(MARATHON_PORT),
        # Apps may only accept `*` and their own role (Marathon 1.10+), so public apps need the framework
        # role slave_public; `unreserved` keeps apps without acceptedResourceRoles off public agents (as
        # on DC/OS; docs/contracts.md, "The mesos platform").
        "--mesos_role",
        PUBLIC_ROLE,
        "--accepted_resource_roles_default_behavior",
        "unreserved",
    ]


def flags_file(node: Node, daemon: str, flags: Sequence[str]) -> str:
    """The daemon's command line as an EnvironmentFile; systemd splits $FLAGS on whitespace."""
    for flag in flags:
        if re.search(r"[\s\"'\\$]", flag):
            raise ConfigError(
                f"{daemon} flag {flag!r} for {node.name} contains whitespace, a quote, '\\' or '$', which "
                "the flags file cannot carry; check the cluster name and addresses in the inventory"
            )
    return (
        f"# Rendered by fastdata (roles/mesos.py) for {node.name}: the {daemon} command line (the unit runs\n"
        f"# `{daemon} $FLAGS`; why flags and not MESOS_* variables: see the unit).\n"
        f'FLAGS="{" ".join(flags)}"\n'
    )


def daemon_unit(
    description: str,
    daemon: str,
    binary_path: str,
    environment: Mapping[str, str] | None = None,
    after: str = "",
    extra: str = "",
) -> str:
    return render(
        "mesos-daemon.service",
        description=description,
        after=f" {after}" if after else "",
        flags_file=FLAGS_FILES[daemon],
        environment="".join(f"Environment={k}={v}\n" for k, v in sorted((environment or {}).items())),
        binary=binary_path,
        extra=extra,
    )


# --- upgrades: which version each daemon runs --------------------------------------------------------------

PACKAGE_OF = {"master": "mesos", "agent": "mesos", "marathon": "marathon"}


def running_probe(daemon: str) -> str:
    """The command line of the daemon's running process (empty when it does not run)."""
    return (
        f"pid=$(systemctl show -p MainPID --value {UNITS[daemon]} 2>/dev/null); "
        "if [ -n \"$pid\" ] && [ \"$pid\" != 0 ]; then tr '\\0' ' ' < /proc/$pid/cmdline; fi; true"
    )


def running_version(cmdline: str, package: str) -> str | None:
    """The version a daemon runs, from the versioned home its binary is in (/opt/mesos/<v>/...)."""
    m = re.search(rf"/opt/{package}/([^/\s]+)/", cmdline)
    return m.group(1) if m else None


def version_op(spec: DeploySpec, node: Node, daemon: str, what: str) -> Op:
    """The daemon runs the wanted version. A node running another is restarted by the daemon's rolling
    handler (one node at a time, health-gated: masters, then Marathon, then agents, phase by phase, as the
    Mesos upgrade docs order them); a node not running it yet is started by its service op."""
    package = PACKAGE_OF[daemon]
    want = getattr(spec.versions, package)

    def judge(res: RunResult) -> Check:
        have = running_version(res.stdout, package)
        if have is None:
            return Check(True, f"{what} not running yet: it starts with {want}")
        if have != want:
            return Check(False, f"{what} runs {have}, want {want}")
        return Check(True, f"{what} runs {want}")

    def apply(r: Remote) -> None:  # by_restart: the handler restarts it
        raise AssertionError("reached by the restart handler")

    op = probed(
        f"{daemon}-version", f"{what} {want} running on {node.name}", running_probe(daemon), judge, apply
    )
    return replace(op, notify=(HANDLERS[daemon],), by_restart=True)


def upgrade_preflight(spec: DeploySpec, inventory: Cluster, remotes: Mapping[str, Remote]) -> list[str]:
    """`fab plan`/`deploy`: the Mesos and Marathon upgrades that will run, node by node in order; a
    downgrade refused before anything changes."""
    masters = [n.name for n in inventory.masters]
    agents = [n.name for n in (*inventory.agents, *inventory.public_agents)]

    def running(daemon: str, nodes: Sequence[Node]) -> dict[str, str | None]:
        facts = upgrades.read_facts(nodes, remotes, running_probe(daemon))
        return {n: running_version(out or "", PACKAGE_OF[daemon]) for n, out in facts.items()}

    mesos_running = {
        **running("master", inventory.masters),
        **running("agent", [*inventory.agents, *inventory.public_agents]),
    }
    v = spec.versions
    return [
        *upgrades.rollout("Mesos", v.mesos, mesos_running, [masters, agents], ["masters", "agents"]),
        *upgrades.rollout(
            "Marathon",
            v.marathon,
            running("marathon", inventory.masters),
            [masters],
            ["masters (after their mesos-masters)"],
        ),
    ]


def daemon_ops(
    spec: DeploySpec,
    node: Node,
    daemon: str,
    what: str,
    flags: Sequence[str],
    unit: str,
    pre: Sequence[Op] = (),
) -> list[Op]:
    """A Mesos-side daemon: its package/dirs (`pre`), flags file, unit, running, and running the wanted
    version; restarted (rolling) on change."""
    handler = HANDLERS[daemon]
    return [
        *pre,
        file_op(
            f"{daemon}-flags",
            f"{what} flags on {node.name}",
            FLAGS_FILES[daemon],
            flags_file(node, what, flags),
            notify=[handler],
        ),
        file_op(
            f"{daemon}-unit",
            f"{what} unit on {node.name}",
            f"/etc/systemd/system/{UNITS[daemon]}",
            unit,
            notify=[handler],
        ),
        service_op(f"{daemon}-running", UNITS[daemon], f"{what} running on {node.name}", satisfies=[handler]),
        version_op(spec, node, daemon, what),
    ]


# --- planners: prerequisites, masters, agents -------------------------------------------------------------


# --- planners: prerequisites, masters, agents -------------------------------------------------------------


def plan_runtime(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    return [
        apt_op("mesos-runtime", RUNTIME_PACKAGES, name=f"Mesos runtime libraries and curl on {node.name}")
    ]


def plan_master(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    pre = [
        *package_ops(spec, node, "mesos", [HANDLERS["master"], HANDLERS["marathon"]]),
        directory_op("mesos-master-work", MASTER_WORK_DIR, mode=0o700),
    ]
    unit = daemon_unit(
        f"Apache Mesos master ({node.name})",
        "master",
        spec.binary("mesos-master"),
        after=zookeeper.UNIT,
    )
    return daemon_ops(spec, node, "master", "mesos-master", master_flags(spec, inventory, node), unit, pre)


def plan_marathon(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    env = {
        # Marathon is a Mesos framework through libmesos (JNI) from the Mesos package.
        "MESOS_NATIVE_JAVA_LIBRARY": spec.binary("libmesos"),
        # libprocess would otherwise advertise whatever the hostname resolves to, often loopback.
        "LIBPROCESS_IP": node.private_ip,
        "JAVA_OPTS": f"-Xmx{MARATHON_HEAP}",
    }
    unit = daemon_unit(
        f"Marathon ({node.name})",
        "marathon",
        spec.binary("marathon"),
        env,
        after=f"{zookeeper.UNIT} {UNITS['master']}",
    )
    return daemon_ops(
        spec,
        node,
        "marathon",
        "marathon",
        marathon_flags(spec, inventory, node),
        unit,
        package_ops(spec, node, "marathon", [HANDLERS["marathon"]]),
    )


def plan_agent(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    pre = [
        *package_ops(spec, node, "mesos", [HANDLERS["agent"]]),
        directory_op("mesos-agent-work", AGENT_WORK_DIR),
    ]
    # KillMode=process: restarting the agent must not kill the executors and their tasks; the agent
    # recovers them from its work_dir (Mesos' own unit files do the same).
    unit = daemon_unit(
        f"Apache Mesos agent ({node.name})",
        "agent",
        spec.binary("mesos-agent"),
        extra="KillMode=process\n",
    )
    return daemon_ops(spec, node, "agent", "mesos-agent", agent_flags(spec, inventory, node), unit, pre)


def plan_kafka_node(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """The broker's jars, config and formatted storage on its agent; Marathon runs it (packages)."""
    return [
        *kafka.node_ops(spec, inventory, node, ()),
        kafka.storage_op(spec, inventory, node),
    ]


# --- package apps (pure) --------------------------------------------------------------------------------


def broker_app(spec: DeploySpec, inventory: Cluster, agent: Node) -> App:
    ops = kafka.node_ops(spec, inventory, agent, ())
    app = pinned_app(
        f"{BROKER_APPS}{kafka.node_id(agent)}",
        agent,
        kafka.broker_argv(spec),
        user="kafka",
        cpus=1.0,
        mem=mb(spec.kafka.heap) + 256,
        ports=(("client", kafka.CLIENT_PORT), ("controller", kafka.CONTROLLER_PORT)),
        health=health_check("MESOS_TCP", 0),
        digest=node_digest(ops, [spec.artifact("kafka")]),
    )
    app["taskKillGracePeriodSeconds"] = 90  # a clean shutdown spares the log recovery on start
    return app


def dispatcher_app(spec: DeploySpec, inventory: Cluster) -> App:
    node = first_node(inventory, DISPATCHER)
    # Spark on the agents is the pip-installed pyspark of the deployed version (roles/packages/spark.py)
    spark_home = spark.spark_home(spec.versions.spark)
    argv = [
        spark.spark_class(spec.versions.spark),
        "org.apache.spark.deploy.mesos.MesosClusterDispatcher",
        "--master",
        f"mesos://{zk_url(inventory, 'mesos')}",
        "--zk",
        zk_hosts(inventory),
        "--host",
        node.private_ip,
        "--port",
        str(DISPATCHER_PORT),
        "--webui-port",
        str(DISPATCHER_UI_PORT),
        "--name",
        f"{inventory.name}-spark",
        # drivers and executors run Spark from the pyspark venv every agent has
        "--conf",
        f"spark.mesos.executor.home={spark_home}",
        "--conf",
        f"spark.mesos.dispatcher.driverDefault.spark.mesos.executor.home={spark_home}",
    ]
    env = {
        "MESOS_NATIVE_JAVA_LIBRARY": spec.binary("libmesos"),
        "LIBPROCESS_IP": node.private_ip,
        "SPARK_LOCAL_IP": node.private_ip,
        "SPARK_DAEMON_MEMORY": spec.spark.master_heap,
        "HOME": "/var/lib/spark",
        # spark-class asks `python3` where pyspark lives: it must be the venv's (see spark.service)
        "PATH": f"{spark.venv(spec.versions.spark)}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }
    return pinned_app(
        "/fastdata/spark/dispatcher",
        node,
        argv,
        user="spark",
        cpus=0.5,
        mem=mb(spec.spark.master_heap) + 256,
        ports=(("submit", DISPATCHER_PORT), ("ui", DISPATCHER_UI_PORT)),
        health=health_check("MESOS_HTTP", 1, "/"),
        env=env,
        digest=node_digest([], [spec.artifact(n) for n in ("pyspark", "py4j", "mesos")]),
    )


def dispatcher(inventory: Cluster) -> Dispatcher:
    """The dispatcher's REST submission server (spark-submit's mesos://<dispatcher>:7077)."""
    address = f"{first_node(inventory, DISPATCHER).private_ip}:{DISPATCHER_PORT}"
    return Dispatcher(f"http://{address}", f"mesos://{address}")


PROCESSOR_JOB = mesos_job.JobPlatform(
    dispatcher=dispatcher,
    libmesos=lambda spec: spec.binary("libmesos"),
    hdfs_root=hdfs.namenode_url,
    mesos_master=lambda inventory: f"mesos://{zk_url(inventory, 'mesos')}",
)
ENTRY_POINT_STEP, PROCESSOR_STEP = mesos_job.steps(PROCESSOR_JOB)


def package_apps(spec: DeploySpec, inventory: Cluster) -> list[App]:
    """A Marathon app per broker (pinned to its agent) and Spark's MesosClusterDispatcher."""
    return [
        # a drained broker's app goes (roles/packages/marathon_scale.py prunes it): its node is leaving
        *(broker_app(spec, inventory, a) for a in inventory.brokers if a.name not in spec.drained),
        dispatcher_app(spec, inventory),
    ]


def _handler(daemon: str, name: str, healthy: Callable[[Remote], Check]) -> Handler:
    """Rolling, health-checked: one master / Marathon / agent at a time keeps their quorums."""
    return unit_handler(HANDLERS[daemon], name, UNITS[daemon], healthy, rolling=True, timeout=180)


def agent_registered(r: Remote) -> Check:
    """A restarted agent is healthy once it registered with the leading master (`slave/registered`): an
    agent the master refuses (e.g. newer than the masters) never is, and the rollout stops there."""
    resp = http(r, "GET", f"http://{r.node.private_ip}:{AGENT_PORT}/metrics/snapshot")
    data = resp.json()
    if resp.status != 200 or not isinstance(data, dict):
        return Check(False, f"/metrics/snapshot on port {AGENT_PORT}: {resp.describe()}")
    registered = data.get("slave/registered") == 1
    return Check(registered, "registered with the leading master" if registered else "not registered (yet)")


AGENTS_ENDPOINT = "/master/state"
probe_agents = agents_probe(AGENTS_ENDPOINT)

PLATFORM = Platform(
    name=PlatformName.MESOS,
    steps=(
        # JVMs: ZooKeeper and Marathon on masters, Kafka and the Spark dispatcher/executors on agents;
        # public agents run the dashboard (Python) beside InfluxDB.
        *common.steps(java_roles=(Role.MASTER, Role.AGENT)),
        Step("prerequisites", every(Role.MASTER, Role.AGENT, Role.PUBLIC_AGENT), plan_runtime),
        Step("masters", EVERY_MASTER, zookeeper.plan_zookeeper),
        Step("masters", EVERY_MASTER, plan_master),
        Step("masters", EVERY_MASTER, plan_marathon),
        Step("masters", FIRST_MASTER, hdfs.plan_namenode),
        Step("agents", EVERY_AGENT_AND_PUBLIC_AGENT, plan_agent),
        Step("agents", BROKERS, plan_kafka_node),
        Step("agents", EVERY_AGENT, spark.plan_install),
        Step("agents", EVERY_AGENT, hdfs.plan_datanode),
        Step("packages", EVERY_AGENT, spark.plan_connector),
        Step("packages", FIRST_MASTER, apps_planner(package_apps)),
        # a controller whose agent was re-created with an empty disk: a voter again once its broker app
        # (Marathon relaunches it on the re-registered agent) caught up (kafka.voter_op waits for it)
        Step("packages", CONTROLLERS, kafka.plan_voter),
        Step("packages", FIRST_MASTER, hdfs.plan_demo_tree, when=demo_enabled),
        Step("packages", FIRST_MASTER, marathon_scale.prune_planner(BROKER_APPS, package_apps)),
        ENTRY_POINT_STEP,
        Step("demo", FIRST_BROKER, demo_common.plan_topic, when=demo_enabled),
        Step("demo", FIRST_BROKER, kafka_reassign.balance_planner(demo_common.TOPIC), when=demo_enabled),
        Step("demo", demo.PIPELINE_NODES, demo.plan_pipeline_node, when=demo_enabled),
        Step("demo", FIRST_PUBLIC_AGENT, demo.plan_public_node, when=demo_enabled),
        demo.APPS_STEP,
        PROCESSOR_STEP,
    ),
    handlers={
        **common.handlers(),
        zookeeper.HANDLER: zookeeper.handler(),
        **hdfs.handlers(),
        HANDLERS["master"]: _handler(
            "master", "mesos-master restarted (rolling)", http_ok(MASTER_PORT, "/master/health")
        ),
        HANDLERS["marathon"]: _handler(
            "marathon", "Marathon restarted (rolling)", http_ok(MARATHON_PORT, "/ping")
        ),
        HANDLERS["agent"]: _handler("agent", "mesos-agent restarted (rolling)", agent_registered),
    },
    gates=(
        *zookeeper.gates("platform up", after_phase="masters"),
        *gate_group(
            "platform up",
            "masters",
            ("Mesos leader elected", probe_mesos_leader, 180),
            ("Marathon leader elected", probe_marathon_leader, 240),
        ),
        agents_gate("all Mesos agents registered", AGENTS_ENDPOINT, 180),
        *hdfs.gates("platform up", after_phase="agents"),
        apps_gate(
            "packages healthy", "packages", "Kafka and Spark dispatcher apps healthy", package_apps, 300
        ),
        *kafka.gates("packages healthy", after_phase="packages"),
        *demo.gates(180, mesos_job.gate(PROCESSOR_JOB, 300)),
    ),
    units=(
        common.SERVER_UNIT,
        zookeeper.UNIT,
        *UNITS.values(),
        hdfs.NAMENODE_UNIT,
        hdfs.DATANODE_UNIT,
        influxdb.UNIT,
    ),
    configs=(
        zookeeper.CONFIG,
        f"{zookeeper.DATA}/myid",
        *FLAGS_FILES.values(),
        *(f"/etc/systemd/system/{u}" for u in (zookeeper.UNIT, *UNITS.values())),
        kafka.CONFIG,
        *hdfs.CONFIGS,
        APPS_DIR,
        spark_dispatcher.SUBMISSIONS_DIR,
    ),
    artifacts=(
        common.KAFKA_BUNDLE,
        *common.SPARK_BUNDLES,
        common.HADOOP_BUNDLE,
        *common.DEMO_BUNDLES,
        *PACKAGES,
    ),
    batch_job=mesos_job.batch_job(PROCESSOR_JOB),
    preflight=upgrades.preflights(
        runtime.preflight(demo.PIPELINE_NODES, FIRST_PUBLIC_AGENT), upgrade_preflight
    ),
    # `fab drain`: the broker's replicas moved off; its app is then pruned by `fab deploy`
    drain=(kafka_reassign.DRAIN_BROKER,),
)
