"""The mesos platform (DESIGN 3.3): Apache Mesos + Marathon + ZooKeeper, and everything else as Marathon apps.

- masters (one at a time): a ZooKeeper ensemble from Debian's `zookeeper` package, mesos-master
  (replicated log, quorum = majority of the masters), Marathon (HA, state in ZooKeeper);
- agents: mesos-agent; public agents the same with `--default_role=slave_public
  --attributes=public_ip:true`, as DC/OS configures its public agents (docs/contracts.md, "mesos");
- packages: one Marathon app per Kafka broker (KRaft, the broker config roles/packages/kafka.py renders
  for the standalone platform, pinned to its agent) and Spark's MesosClusterDispatcher, PUT to Marathon's
  `/v2/apps` from the first master;
- demo: InfluxDB (Debian package) on the first public agent; producer, processor and dashboard as
  Marathon apps, the dashboard with `acceptedResourceRoles: ["slave_public"]` (roles/demo/marathon.py).

Mesos and Marathon come from packages the user supplies (no registry serves them: Mesos is in the Apache
Attic); resolving the spec refuses to start before any node is touched when they are not configured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from contract import Cluster, Node, Role, Settings
from contract import Platform as PlatformName
from roles.demo import common as demo_common
from roles.demo import marathon as demo
from roles.engine.executor import Handler, Op, Platform, Step, gate_group
from roles.engine.ops import (
    apt_op,
    artifact_op,
    directory_op,
    file_op,
    service_op,
    source,
    unit_handler,
    unpack_op,
)
from roles.engine.placement import (
    BROKERS,
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
from roles.packages import influxdb, kafka, kafka_reassign, marathon_scale, spark, zookeeper
from roles.packages.http import http_ok
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
from roles.packages.zookeeper import zk_hosts, zk_url
from roles.platforms import common

DISPATCHER_PORT = 7077
DISPATCHER_UI_PORT = 8081
# What agents offer besides cpus/mem/disk (auto-detected): every port but ssh and the agent's own, so
# fixed-port apps (Kafka 9092/9093, the dispatcher, the dashboard on 80) fit.
AGENT_PORTS = "[1-21,23-5050,5052-32000]"

MARATHON_HEAP = "512m"
MASTER_WORK_DIR = "/var/lib/mesos/master"
AGENT_WORK_DIR = "/var/lib/mesos/agent"
# Spark on the agents is the pip-installed pyspark (roles/packages/spark.py); Debian 12's Python is 3.11.
SPARK_HOME = f"{spark.VENV}/lib/python3.11/site-packages/pyspark"
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


def daemon_ops(
    spec: DeploySpec,
    node: Node,
    daemon: str,
    what: str,
    flags: Sequence[str],
    unit: str,
    pre: Sequence[Op] = (),
) -> list[Op]:
    """A Mesos-side daemon: its package/dirs (`pre`), flags file, unit, running; restarted on change."""
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
        kafka.tools_log4j_op(),
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
    argv = [
        spark.SPARK_CLASS,
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
        f"spark.mesos.executor.home={SPARK_HOME}",
        "--conf",
        f"spark.mesos.dispatcher.driverDefault.spark.mesos.executor.home={SPARK_HOME}",
    ]
    env = {
        "MESOS_NATIVE_JAVA_LIBRARY": spec.binary("libmesos"),
        "LIBPROCESS_IP": node.private_ip,
        "SPARK_LOCAL_IP": node.private_ip,
        "SPARK_DAEMON_MEMORY": spec.spark.master_heap,
        "HOME": "/var/lib/spark",
        # spark-class asks `python3` where pyspark lives: it must be the venv's (see spark.service)
        "PATH": f"{spark.VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
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


def package_apps(spec: DeploySpec, inventory: Cluster) -> list[App]:
    """A Marathon app per broker (pinned to its agent) and Spark's MesosClusterDispatcher."""
    return [
        # a drained broker's app goes (roles/packages/marathon_scale.py prunes it): its node is leaving
        *(broker_app(spec, inventory, a) for a in inventory.brokers if a.name not in spec.drained),
        dispatcher_app(spec, inventory),
    ]


def _handler(daemon: str, name: str, port: int, path: str) -> Handler:
    """Rolling, health-checked: one master / Marathon / agent at a time keeps their quorums."""
    return unit_handler(HANDLERS[daemon], name, UNITS[daemon], http_ok(port, path), rolling=True, timeout=180)


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
        Step("agents", EVERY_AGENT_AND_PUBLIC_AGENT, plan_agent),
        Step("agents", BROKERS, plan_kafka_node),
        Step("agents", EVERY_AGENT, spark.plan_install),
        Step("packages", EVERY_AGENT, spark.plan_connector),
        Step("packages", FIRST_MASTER, apps_planner(package_apps)),
        Step("packages", FIRST_MASTER, marathon_scale.prune_planner(BROKER_APPS, package_apps)),
        Step("demo", FIRST_BROKER, demo_common.plan_topic, when=demo_enabled),
        Step("demo", FIRST_BROKER, kafka_reassign.balance_planner(demo_common.TOPIC), when=demo_enabled),
        Step("demo", demo.PIPELINE, demo.plan_pipeline_node, when=demo_enabled),
        Step("demo", FIRST_PUBLIC_AGENT, demo.plan_public_node, when=demo_enabled),
        demo.APPS_STEP,
    ),
    handlers={
        **common.handlers(),
        zookeeper.HANDLER: zookeeper.handler(),
        HANDLERS["master"]: _handler(
            "master", "mesos-master restarted (rolling)", MASTER_PORT, "/master/health"
        ),
        HANDLERS["marathon"]: _handler("marathon", "Marathon restarted (rolling)", MARATHON_PORT, "/ping"),
        HANDLERS["agent"]: _handler("agent", "mesos-agent restarted (rolling)", AGENT_PORT, "/health"),
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
        apps_gate(
            "packages healthy", "packages", "Kafka and Spark dispatcher apps healthy", package_apps, 300
        ),
        *kafka.gates("packages healthy", after_phase="packages"),
        *demo.gates(apps_timeout=180),
    ),
    units=(common.SERVER_UNIT, zookeeper.UNIT, *UNITS.values(), influxdb.UNIT),
    configs=(
        zookeeper.CONFIG,
        f"{zookeeper.DATA}/myid",
        *FLAGS_FILES.values(),
        *(f"/etc/systemd/system/{u}" for u in (zookeeper.UNIT, *UNITS.values())),
        kafka.CONFIG,
        APPS_DIR,
    ),
    artifacts=(common.KAFKA_BUNDLE, *common.SPARK_BUNDLES, *common.DEMO_BUNDLES, *PACKAGES),
    # `fab drain`: the broker's replicas moved off; its app is then pruned by `fab deploy`
    drain=(kafka_reassign.DRAIN_BROKER,),
)
