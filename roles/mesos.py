"""The mesos platform (DESIGN 3.3): Apache Mesos + Marathon + ZooKeeper, and everything else as Marathon apps.

- masters (one at a time): a ZooKeeper ensemble from Debian's `zookeeper` package, mesos-master
  (replicated log, quorum = majority of the masters), Marathon (HA, state in ZooKeeper);
- agents: mesos-agent; public agents the same with `--default_role=slave_public
  --attributes=public_ip:true`, the DC/OS recipe (reference dcos-mesos.md 3.4, 4.4);
- packages: one Marathon app per Kafka broker (KRaft, the broker config roles/kafka.py renders for the
  standalone platform, pinned to its agent) and Spark's MesosClusterDispatcher, PUT to Marathon's
  `/v2/apps` from the first master;
- demo: InfluxDB (Debian package) on the first public agent; producer, processor and dashboard as
  Marathon apps, the dashboard with `acceptedResourceRoles: ["slave_public"]`.

Mesos and Marathon come from packages the user supplies (no registry serves them: Mesos is in the Apache
Attic); `prepare` refuses to start before any node is touched when they are not configured.

A Marathon app's code and config live on its (pinned) node as files. Its definition carries the sha256 of
those files in the label `fastdata.node-config`, so a changed config changes the definition and the app
op's PUT makes Marathon restart the task: no restart handler has to reach Marathon.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from roles import common, demo, kafka, spark
from roles.artifacts import Artifact, ArtifactCache, supplied
from roles.connection import Remote, RunResult
from roles.engine import Check, Gate, Handler, Op, Platform, Settings, Step, wait_for
from roles.errors import ArtifactMissing, ConfigError, OperationError
from roles.inventory import Inventory, Node
from roles.ops import (
    apt_op,
    artifact_op,
    directory_op,
    file_op,
    probed,
    restart_unit,
    service_op,
    unpack_op,
)
from roles.templates import render

q = shlex.quote

ZK_CLIENT_PORT = 2181
ZK_PEER_PORT = 2888
ZK_ELECTION_PORT = 3888
MASTER_PORT = 5050
AGENT_PORT = 5051
MARATHON_PORT = 8080
DISPATCHER_PORT = 7077
DISPATCHER_UI_PORT = 8081

DEFAULT_MESOS = "1.11.0"
DEFAULT_MARATHON = "1.11.24"
PUBLIC_ROLE = "slave_public"
# What agents offer besides cpus/mem/disk (auto-detected): every port but ssh and the agent's own, so
# fixed-port apps (Kafka 9092/9093, the dispatcher, the dashboard on 80) fit (dcos-mesos.md 3.4).
AGENT_PORTS = "[1-21,23-5050,5052-32000]"

ZOO_CFG = "/etc/zookeeper/conf/zoo.cfg"  # Debian's package: /etc/zookeeper/conf -> conf_example
ZK_DATA = "/var/lib/zookeeper"
ZK_HEAP = "256m"
MARATHON_HEAP = "512m"
MASTER_WORK_DIR = "/var/lib/mesos/master"
AGENT_WORK_DIR = "/var/lib/mesos/agent"
APPS_DIR = "/etc/fastdata/marathon"  # the app definitions, on the first master (the Marathon client)
# Spark on the agents is the pip-installed pyspark (roles/spark.py); Debian 12's Python is 3.11.
SPARK_HOME = f"{spark.VENV}/lib/python3.11/site-packages/pyspark"

UNITS = {
    "zookeeper": "zookeeper.service",
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


@dataclass(frozen=True)
class Package:
    """One user-supplied package: the settings naming it and what must be inside."""

    name: str  # the logical artifact name
    key: str  # settings.artifacts.<key>Source / <key>Sha256
    what: str
    members: Mapping[str, str]  # binary -> regex its path inside the tar matches


PACKAGES = (
    Package(
        "mesos",
        "mesosPackage",
        "a tar (.tar, .tar.gz, .tgz) of a Mesos 1.11 install tree (`make install DESTDIR=...`, or the "
        "files of a .deb)",
        {
            "mesos-master": r"(^|.*/)s?bin/mesos-master",
            "mesos-agent": r"(^|.*/)s?bin/mesos-agent",
            "libmesos": r"(^|.*/)lib/libmesos(-[0-9.]+)?\.so",
        },
    ),
    Package(
        "marathon",
        "marathonPackage",
        "a tar (.tgz) of a Marathon 1.11 distribution (marathon-1.11.x-<hash>/bin/marathon)",
        {"marathon": r"(^|.*/)bin/marathon"},
    ),
)


def versions(settings: Settings) -> tuple[str, str]:
    v = settings.get("versions") or {}
    return str(v.get("mesos") or DEFAULT_MESOS), str(v.get("marathon") or DEFAULT_MARATHON)


def home(settings: Settings, package: str) -> str:
    """Where a package is unpacked on the nodes (versioned, like /opt/kafka/<version>)."""
    mesos_v, marathon_v = versions(settings)
    return f"/opt/{package}/{mesos_v if package == 'mesos' else marathon_v}"


def locate(package: Package, art: Artifact, root: str) -> dict[str, str]:
    """Node paths of the package's binaries, found in its tar; ArtifactMissing says what is missing."""
    try:
        with tarfile.open(art.path) as tar:
            names = [m.name.removeprefix("./") for m in tar.getmembers() if m.isfile() or m.issym()]
    except (OSError, tarfile.TarError) as exc:
        raise ArtifactMissing(
            f"{art.path} (settings.artifacts.{package.key}Source) is not a readable tar: {exc}; "
            f"the {package.name} package must be {package.what}"
        ) from exc
    found: dict[str, str] = {}
    for binary, pattern in package.members.items():
        hits = sorted((n for n in names if re.fullmatch(pattern, n)), key=len)
        if not hits:
            raise ArtifactMissing(
                f"{art.path} (settings.artifacts.{package.key}Source) has no {binary} (looked for "
                f"/{pattern}/); the {package.name} package must be {package.what}"
            )
        found[binary] = f"{root}/{hits[0]}"
    return found


def prepare(spec: dict[str, Any], cache: ArtifactCache) -> None:
    """The Mesos and Marathon packages into the cache (checksums verified) and the binaries' node paths
    into spec["mesosBinaries"]; raises before any node is touched when a package is not configured."""
    arts = spec.get("artifacts") or {}
    missing = [p for p in PACKAGES if not arts.get(f"{p.key}Source") or not arts.get(f"{p.key}Sha256")]
    if missing:
        lines = [
            f"- fastdata:artifacts.{p.key}Source and fastdata:artifacts.{p.key}Sha256 (the {p.name} "
            f"package: {p.what}, and its sha256)"
            for p in missing
        ]
        raise ArtifactMissing(
            "platform mesos needs the Mesos and Marathon binaries, which no package registry serves (Mesos "
            "is in the Apache Attic, Marathon archived); nothing was changed on any node. Set:\n"
            + "\n".join(lines)
            + "\nwith `pulumi config set --path ...` and `pulumi up` (they reach the inventory as "
            "settings.artifacts.*; edit those when you deploy from an --inventory file). Paths may be "
            "absolute, file:// or http(s):// URLs; see docs/contracts.md."
        )
    binaries: dict[str, str] = {}
    for p in PACKAGES:
        art = supplied(
            cache,
            p.name,
            str(arts[f"{p.key}Source"]),
            str(arts[f"{p.key}Sha256"]),
            f"artifacts.{p.key}Source",
            f"artifacts.{p.key}Sha256",
        )
        spec.setdefault("artifactFiles", {})[p.name] = art
        binaries.update(locate(p, art, home(spec, p.name)))
    spec["mesosBinaries"] = binaries


def binary(settings: Settings, name: str) -> str:
    return str(settings["mesosBinaries"][name])


def package_ops(settings: Settings, node: Node, package: str, notify: Sequence[str]) -> list[Op]:
    art = settings["artifactFiles"][package]
    return [
        artifact_op(f"{package}-artifact", art, common.source(settings, node)),
        unpack_op(f"{package}-unpacked", art, home(settings, package), notify=notify),
    ]


# --- addresses and flags (pure) -------------------------------------------------------------------------


def zk_hosts(inventory: Inventory) -> str:
    return ",".join(f"{m.private_ip}:{ZK_CLIENT_PORT}" for m in inventory.masters)


def zk_url(inventory: Inventory, path: str) -> str:
    return f"zk://{zk_hosts(inventory)}/{path}"


def quorum(inventory: Inventory) -> int:
    """The replicated log's quorum: a majority of the masters (mesos-master refuses less, 3.3)."""
    return len(inventory.masters) // 2 + 1


def marathon_url(inventory: Inventory) -> str:
    """The first master's Marathon; a non-leading Marathon proxies to the leader (LeaderProxyFilter)."""
    return f"http://{inventory.masters[0].private_ip}:{MARATHON_PORT}"


def master_flags(settings: Settings, inventory: Inventory, node: Node) -> list[str]:
    return [
        f"--zk={zk_url(inventory, 'mesos')}",
        f"--quorum={quorum(inventory)}",
        f"--work_dir={MASTER_WORK_DIR}",
        f"--ip={node.private_ip}",
        f"--hostname={node.private_ip}",
        f"--port={MASTER_PORT}",
        f"--cluster={inventory.name}",
    ]


def agent_flags(settings: Settings, inventory: Inventory, node: Node) -> list[str]:
    flags = [
        f"--master={zk_url(inventory, 'mesos')}",
        f"--work_dir={AGENT_WORK_DIR}",
        "--containerizers=mesos",
        f"--ip={node.private_ip}",
        f"--hostname={node.private_ip}",
        f"--port={AGENT_PORT}",
        f"--resources=ports:{AGENT_PORTS}",
    ]
    if node.role == "publicAgent":
        flags += [f"--default_role={PUBLIC_ROLE}", "--attributes=public_ip:true"]
    return flags


def marathon_flags(settings: Settings, inventory: Inventory, node: Node) -> list[str]:
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
        # on DC/OS, dcos-mesos.md 3.5, 4.4).
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
    settings: Settings,
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


def plan_runtime(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    return [
        apt_op("mesos-runtime", RUNTIME_PACKAGES, name=f"Mesos runtime libraries and curl on {node.name}")
    ]


def zoo_cfg(inventory: Inventory) -> str:
    servers = "".join(
        f"server.{m.index + 1}={m.private_ip}:{ZK_PEER_PORT}:{ZK_ELECTION_PORT}\n" for m in inventory.masters
    )
    return render(
        "zoo.cfg", members=len(inventory.masters), data=ZK_DATA, port=ZK_CLIENT_PORT, servers=servers
    )


def plan_zookeeper(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    handler = HANDLERS["zookeeper"]
    myid = node.index + 1
    unit = render(
        "zookeeper.service", myid=myid, members=len(inventory.masters), heap=ZK_HEAP, config=ZOO_CFG
    )
    return [
        apt_op(
            "zookeeper-package", ("zookeeper",), name=f"ZooKeeper (Debian package) installed on {node.name}"
        ),
        file_op(
            "zookeeper-config",
            f"ZooKeeper ensemble config on {node.name}",
            ZOO_CFG,
            zoo_cfg(inventory),
            notify=[handler],
        ),
        file_op(
            "zookeeper-myid",
            f"ZooKeeper id {myid} on {node.name}",
            f"{ZK_DATA}/myid",
            f"{myid}\n",
            notify=[handler],
        ),
        file_op(
            "zookeeper-unit",
            f"ZooKeeper unit on {node.name}",
            f"/etc/systemd/system/{UNITS['zookeeper']}",
            unit,
            notify=[handler],
        ),
        service_op(
            "zookeeper-running",
            UNITS["zookeeper"],
            f"ZooKeeper {myid} running on {node.name}",
            satisfies=[handler],
        ),
    ]


def plan_master(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    pre = [
        *package_ops(settings, node, "mesos", [HANDLERS["master"], HANDLERS["marathon"]]),
        directory_op("mesos-master-work", MASTER_WORK_DIR, mode=0o700),
    ]
    unit = daemon_unit(
        f"Apache Mesos master ({node.name})",
        "master",
        binary(settings, "mesos-master"),
        after=UNITS["zookeeper"],
    )
    return daemon_ops(
        settings, node, "master", "mesos-master", master_flags(settings, inventory, node), unit, pre
    )


def plan_marathon(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    env = {
        # Marathon is a Mesos framework through libmesos (JNI) from the Mesos package (3.1).
        "MESOS_NATIVE_JAVA_LIBRARY": binary(settings, "libmesos"),
        # libprocess would otherwise advertise whatever the hostname resolves to, often loopback (3.4).
        "LIBPROCESS_IP": node.private_ip,
        "JAVA_OPTS": f"-Xmx{MARATHON_HEAP}",
    }
    unit = daemon_unit(
        f"Marathon ({node.name})",
        "marathon",
        binary(settings, "marathon"),
        env,
        after=f"{UNITS['zookeeper']} {UNITS['master']}",
    )
    return daemon_ops(
        settings,
        node,
        "marathon",
        "marathon",
        marathon_flags(settings, inventory, node),
        unit,
        package_ops(settings, node, "marathon", [HANDLERS["marathon"]]),
    )


def plan_agent(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    pre = [
        *package_ops(settings, node, "mesos", [HANDLERS["agent"]]),
        directory_op("mesos-agent-work", AGENT_WORK_DIR),
    ]
    # KillMode=process: restarting the agent must not kill the executors and their tasks; the agent
    # recovers them from its work_dir (Mesos' own unit files do the same).
    unit = daemon_unit(
        f"Apache Mesos agent ({node.name})",
        "agent",
        binary(settings, "mesos-agent"),
        extra="KillMode=process\n",
    )
    return daemon_ops(
        settings, node, "agent", "mesos-agent", agent_flags(settings, inventory, node), unit, pre
    )


def plan_kafka_node(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    """The broker's jars, config and formatted storage on its agent; Marathon runs it (packages)."""
    return [
        *kafka.node_ops(settings, inventory, node, ()),
        kafka.tools_log4j_op(),
        kafka.storage_op(settings, inventory, node),
    ]


def plan_spark_node(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    """pyspark on every agent: the dispatcher runs from it, drivers and executors find SPARK_HOME there."""
    return spark.install_ops(settings, node, ())


# --- Marathon app definitions (pure) --------------------------------------------------------------------


def node_digest(ops: Iterable[Op], artifacts: Iterable[Artifact] = ()) -> str:
    """sha256 of the files `ops` write and of `artifacts`: what a pinned app runs from on its node."""
    h = hashlib.sha256()
    for op in ops:
        for f in op.files:
            h.update(f"{f.path}\0{f.mode}\0".encode() + f.content + b"\0")
    for art in artifacts:
        h.update(f"{art.name}\0{art.sha256}\0".encode())
    return h.hexdigest()


def _mb(size: str) -> int:
    return int(size[:-1]) * (1024 if size[-1] in "gG" else 1)


def _health(protocol: str, port_index: int, path: str | None = None) -> dict[str, Any]:
    check: dict[str, Any] = {
        "protocol": protocol,
        "portIndex": port_index,
        "gracePeriodSeconds": 300,
        "intervalSeconds": 10,
        "timeoutSeconds": 5,
        "maxConsecutiveFailures": 3,
    }
    if path is not None:
        check["path"] = path
    return check


def pinned_app(
    app_id: str,
    node: Node,
    argv: Sequence[str],
    *,
    user: str,
    cpus: float,
    mem: int,
    ports: Sequence[tuple[str, int]] = (),
    health: dict[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    digest: str,
) -> dict[str, Any]:
    """A one-instance app pinned to `node` (its files are there), on fixed host ports.

    `args`, not `cmd`: no shell, so `-cp dir/*` reaches java unexpanded. Upgrades stop the old task before
    starting the new one (minimumHealthCapacity 0, maximumOverCapacity 0): the two could not share the
    node's ports and data directory.
    """
    app: dict[str, Any] = {
        "id": app_id,
        "args": list(argv),
        "user": user,
        "cpus": cpus,
        "mem": mem,
        "disk": 0,
        "instances": 1,
        "constraints": [["hostname", "CLUSTER", node.private_ip]],
        "acceptedResourceRoles": [PUBLIC_ROLE if node.role == "publicAgent" else "*"],
        "portDefinitions": [{"port": port, "protocol": "tcp", "name": name} for name, port in ports],
        "requirePorts": bool(ports),
        "healthChecks": [health] if health else [],
        "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0},
        "labels": {"fastdata.node-config": digest},
    }
    if env:
        app["env"] = dict(env)
    return app


def broker_app(settings: Settings, inventory: Inventory, agent: Node) -> dict[str, Any]:
    ops = kafka.node_ops(settings, inventory, agent, ())
    app = pinned_app(
        f"/fastdata/kafka/broker-{kafka.node_id(agent)}",
        agent,
        kafka.broker_argv(settings),
        user="kafka",
        cpus=1.0,
        mem=_mb(settings["kafka"]["heap"]) + 256,
        ports=(("client", kafka.CLIENT_PORT), ("controller", kafka.CONTROLLER_PORT)),
        health=_health("MESOS_TCP", 0),
        digest=node_digest(ops, [settings["artifactFiles"]["kafka"]]),
    )
    app["taskKillGracePeriodSeconds"] = 90  # a clean shutdown spares the log recovery on start
    return app


def dispatcher_node(inventory: Inventory) -> Node:
    """The dispatcher is pinned to the first agent: spark-submit needs a stable mesos://host:7077."""
    return inventory.agents[0]


def dispatcher_app(settings: Settings, inventory: Inventory) -> dict[str, Any]:
    node = dispatcher_node(inventory)
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
        # drivers and executors run Spark from the pyspark venv every agent has (5.3)
        "--conf",
        f"spark.mesos.executor.home={SPARK_HOME}",
        "--conf",
        f"spark.mesos.dispatcher.driverDefault.spark.mesos.executor.home={SPARK_HOME}",
    ]
    env = {
        "MESOS_NATIVE_JAVA_LIBRARY": binary(settings, "libmesos"),
        "LIBPROCESS_IP": node.private_ip,
        "SPARK_LOCAL_IP": node.private_ip,
        "SPARK_DAEMON_MEMORY": settings["spark"]["masterHeap"],
        "HOME": "/var/lib/spark",
        # spark-class asks `python3` where pyspark lives: it must be the venv's (see spark.service)
        "PATH": f"{spark.VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }
    arts = settings["artifactFiles"]
    return pinned_app(
        "/fastdata/spark/dispatcher",
        node,
        argv,
        user="spark",
        cpus=0.5,
        mem=_mb(settings["spark"]["masterHeap"]) + 256,
        ports=(("submit", DISPATCHER_PORT), ("ui", DISPATCHER_UI_PORT)),
        health=_health("MESOS_HTTP", 1, "/"),
        env=env,
        digest=node_digest([], [arts["pyspark"], arts["py4j"], arts["mesos"]]),
    )


def _demo_env(env: Mapping[str, str]) -> dict[str, str]:
    """The systemd units' environment (demo.service) for a Marathon task, which starts in its sandbox."""
    return {
        **env,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": demo.APPS_DIR,
        "PATH": f"{demo.VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }


def demo_apps(settings: Settings, inventory: Inventory) -> list[dict[str, Any]]:
    """Producer and processor on the first agent, the dashboard on the first public agent (beside
    InfluxDB); the same environment the standalone units get (roles/demo.py)."""
    if not demo.enabled(settings):
        return []
    agent, public = inventory.agents[0], inventory.public_agents[0]
    pipeline = node_digest(demo.pipeline_ops(settings, agent, []), _demo_artifacts(settings, True))
    dashboard = node_digest(demo.public_ops(settings, public, []), _demo_artifacts(settings, False))
    # name, node, cpus, mem, fixed ports, health path, environment, node digest; all run as root like the
    # standalone units (the dashboard binds port 80; its unit gets CAP_NET_BIND_SERVICE instead)
    apps = (
        ("producer", agent, 0.5, 512, (("metrics", demo.PRODUCER_METRICS_PORT),), "/healthz",
         demo.producer_env(settings, inventory), pipeline),
        ("processor", agent, 1.0, 1536, (), None, demo.processor_env(inventory), pipeline),
        ("dashboard", public, 0.5, 256, (("http", demo.DASHBOARD_PORT),), "/healthz",
         demo.dashboard_env(inventory), dashboard),
    )  # fmt: skip
    return [
        pinned_app(
            f"/fastdata/demo/{name}",
            node,
            [f"{demo.VENV}/bin/python", "-m", f"apps.{name}"],
            user="root",
            cpus=cpus,
            mem=mem,
            ports=ports,
            health=_health("MESOS_HTTP", 0, path) if path else None,
            env=_demo_env(env),
            digest=digest,
        )
        for name, node, cpus, mem, ports, path, env, digest in apps
    ]


def _demo_artifacts(settings: Settings, with_pyspark: bool) -> list[Artifact]:
    arts = settings["artifactFiles"]
    names = ["demo-wheels", "demo-apps", "spark-kafka"] + (["pyspark", "py4j"] if with_pyspark else [])
    return [arts[n] for n in names]


def package_apps(settings: Settings, inventory: Inventory) -> list[dict[str, Any]]:
    return [
        *(broker_app(settings, inventory, a) for a in inventory.agents),
        dispatcher_app(settings, inventory),
    ]


# --- talking to Marathon and Mesos over HTTP (curl on a node; pure parsers) ------------------------------

HTTP_MARK = "@@fastdata-http "


@dataclass(frozen=True)
class HttpResponse:
    status: int  # 0: nothing answered
    body: str
    error: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except json.JSONDecodeError:
            return None

    def describe(self) -> str:
        if self.status == 0:
            return f"no answer ({self.error.strip() or 'connection failed'})"
        return f"HTTP {self.status} {self.body.strip()[:200]}"


def http_command(
    method: str, url: str, body_file: str | None = None, headers: Mapping[str, str] | None = None
) -> str:
    """curl printing the body, then a marker line with the status (000 when nothing answered).
    `body_file` "-" reads the body from stdin; `headers` replace the default JSON Content-Type."""
    if headers is None:
        headers = {"Content-Type": "application/json"} if body_file else {}
    sent = "".join(f" -H {q(f'{k}: {v}')}" for k, v in headers.items())
    data = f" --data-binary @{q(body_file)}" if body_file else ""
    return f"curl -sS --max-time 10 -X {method}{sent}{data} -w '\\n{HTTP_MARK}%{{http_code}}' {q(url)}"


def parse_http(res: RunResult) -> HttpResponse:
    body, _, status = res.stdout.rpartition(f"\n{HTTP_MARK}")
    code = int(status.strip()) if status.strip().isdigit() else 0
    return HttpResponse(code, body, res.stderr)


def http(
    remote: Remote,
    method: str,
    url: str,
    body_file: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    return parse_http(remote.run(http_command(method, url, body_file, headers), check=False, timeout=30))


def marathon_errors(resp: HttpResponse) -> str:
    """Marathon's error body ({"message", "details": [{"path", "errors"}]}) in one line."""
    data = resp.json()
    if not isinstance(data, dict):
        return resp.describe()
    details = "; ".join(
        f"{d.get('path', '?')}: {', '.join(map(str, d.get('errors', [])))}"
        for d in data.get("details") or []
        if isinstance(d, dict)
    )
    return f"HTTP {resp.status} {data.get('message', '')}" + (f" ({details})" if details else "")


EXACT_FIELDS = frozenset({"env", "labels", "args", "cmd", "constraints", "acceptedResourceRoles"})


def app_differences(want: Any, have: Any, path: str = "") -> list[str]:
    """Where Marathon's copy of an app differs from the definition: every field we set must match;
    fields Marathon fills in (defaults, versions) are ignored, except inside EXACT_FIELDS."""
    if isinstance(want, dict) and isinstance(have, dict) and path.strip("/") not in EXACT_FIELDS:
        return [d for k, v in want.items() for d in app_differences(v, have.get(k), f"{path}/{k}")]
    if isinstance(want, list) and isinstance(have, list) and path.strip("/") not in EXACT_FIELDS:
        if len(want) != len(have):
            return [f"{path or '/'}: {len(have)} entries, want {len(want)}"]
        return [
            d
            for i, (w, h) in enumerate(zip(want, have, strict=True))
            for d in app_differences(w, h, f"{path}/{i}")
        ]
    if want != have:
        return [f"{path or '/'}: {json.dumps(have)[:80]}, want {json.dumps(want)[:80]}"]
    return []


def app_state(app: Mapping[str, Any]) -> tuple[bool, str]:
    """(healthy, detail) of a Marathon app from /v2/apps/<id>: every instance running, and healthy when it
    has health checks (Marathon counts tasksHealthy only then)."""
    want = int(app.get("instances", 0))
    running, healthy = int(app.get("tasksRunning", 0)), int(app.get("tasksHealthy", 0))
    counted = healthy if app.get("healthChecks") else running
    deploying = len(app.get("deployments") or [])
    ok = counted >= want and not deploying
    detail = f"{app.get('id')}: {running}/{want} running, {healthy} healthy"
    return ok, detail + (f", {deploying} deployment(s) in progress" if deploying else "")


def app_path(app_id: str) -> str:
    return f"{APPS_DIR}/{app_id.strip('/').replace('/', '-')}.json"


def app_ops(
    inventory: Inventory, node: Node, app: Mapping[str, Any], update_timeout: float = 300
) -> list[Op]:
    """The definition as a file on the Marathon client node, and the app in Marathon matching it.

    Creating an app does not wait (a first Kafka broker cannot be healthy before its peers start);
    replacing a running one waits until the new task is healthy, so updates roll one app at a time.
    """
    app_id = app["id"]
    path = app_path(app_id)
    url = f"{marathon_url(inventory)}/v2/apps{app_id}"

    def judge(res: RunResult) -> Check:
        resp = parse_http(res)
        if resp.status == 404:
            return Check(False, f"app {app_id} not in Marathon")
        data = resp.json()
        if resp.status != 200 or not isinstance(data, dict):
            return Check(False, f"Marathon at {url}: {resp.describe()}")
        diffs = app_differences(dict(app), data.get("app", {}))
        if diffs:
            return Check(False, f"app {app_id} differs: {'; '.join(diffs[:3])}")
        return Check(True, f"app {app_id} as defined")

    def apply(r: Remote) -> None:
        existed = http(r, "GET", url).status == 200
        resp = http(r, "PUT", f"{url}?partialUpdate=false", path)
        if resp.status not in (200, 201):
            raise OperationError(
                f"Marathon refused app {app_id}: {marathon_errors(resp)}; the definition is {path} on "
                f"{node.name} (`fab render` writes it too)"
            )
        if existed:
            state = wait_for(lambda: app_health(r, url), update_timeout, 3.0)
            if not state.ok:
                raise OperationError(
                    f"app {app_id} was updated but is not healthy after {update_timeout:.0f}s: "
                    f"{state.detail}; see its task's stderr in the Mesos UI or `fab diagnose`"
                )

    text = json.dumps(app, indent=2, sort_keys=True) + "\n"
    return [
        file_op(f"app-file:{app_id}", f"Marathon app definition {app_id}", path, text),
        probed(f"app:{app_id}", f"Marathon app {app_id} deployed", http_command("GET", url), judge, apply),
    ]


def app_health(remote: Remote, url: str) -> Check:
    resp = http(remote, "GET", url)
    data = resp.json()
    if resp.status != 200 or not isinstance(data, dict):
        return Check(False, resp.describe())
    ok, detail = app_state(data.get("app", {}))
    return Check(ok, detail)


def _client_planner(apps: Callable[[Settings, Inventory], list[dict[str, Any]]]) -> Callable[..., list[Op]]:
    """Submit `apps` from the first master (the Marathon client node)."""

    def plan(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
        wanted = apps(settings, inventory)
        if node != inventory.masters[0] or not wanted:
            return []
        ops = [directory_op("marathon-apps-dir", APPS_DIR, mode=0o755)]
        for app in wanted:
            ops += app_ops(inventory, node, app)
        return ops

    plan.__name__ = f"plan_{apps.__name__}"
    return plan


plan_package_apps = _client_planner(package_apps)
plan_demo_apps = _client_planner(demo_apps)


def plan_demo_pipeline_node(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    if not demo.enabled(settings) or node != inventory.agents[0]:
        return []
    return demo.pipeline_ops(settings, node, [])


def plan_demo_public_node(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    if not demo.enabled(settings) or node != inventory.public_agents[0]:
        return []
    return demo.public_ops(settings, node, [])


# --- readiness (DESIGN 6) --------------------------------------------------------------------------------

RemoteFor = Callable[[Node], Remote]


def zk_srvr_command(ip: str) -> str:
    """ZooKeeper's `srvr` four-letter word (allowed by default since 3.5.3), without needing nc."""
    return f"timeout 5 bash -c {q(f'exec 3<>/dev/tcp/{ip}/{ZK_CLIENT_PORT} && printf srvr >&3 && cat <&3')}"


def parse_zk_mode(text: str) -> str | None:
    m = re.search(r"^Mode:\s*(\S+)", text, re.M)
    return m.group(1) if m else None


def zk_quorum_check(modes: Mapping[str, str | None]) -> Check:
    """One leader and followers (or one standalone server): the ensemble serves."""
    shown = ", ".join(f"{ip} {mode or 'not serving'}" for ip, mode in modes.items())
    values = list(modes.values())
    if len(values) == 1:
        return Check(values[0] == "standalone", f"single server: {shown}")
    if values.count("leader") == 1 and values.count("follower") == len(values) - 1:
        return Check(True, f"quorum formed: {shown}")
    serving = sum(v in ("leader", "follower") for v in values)
    return Check(
        False, f"{shown} ({serving} of {len(values)} serving, a quorum needs {len(values) // 2 + 1})"
    )


def probe_zookeeper(settings: Settings, inventory: Inventory, remote_for: RemoteFor) -> Check:
    modes = {
        m.private_ip: parse_zk_mode(
            remote_for(m).run(zk_srvr_command(m.private_ip), check=False, timeout=15).stdout
        )
        for m in inventory.masters
    }
    return zk_quorum_check(modes)


def leading_master_state(
    remote: Remote, inventory: Inventory, endpoint: str = "/master/state"
) -> tuple[dict[str, Any] | None, list[str]]:
    """The leader's /master/state, or another leader-only endpoint such as /master/slaves (non-leaders
    answer 307, and 503 while no leader is elected)."""
    problems: list[str] = []
    for m in inventory.masters:
        resp = http(remote, "GET", f"http://{m.private_ip}:{MASTER_PORT}{endpoint}")
        data = resp.json()
        if resp.status == 200 and isinstance(data, dict):
            return data, problems
        problems.append(f"{m.name} ({m.private_ip}): {resp.describe()}")
    return None, problems


def _no_leader(inventory: Inventory, problems: Sequence[str]) -> Check:
    return Check(
        False,
        f"no Mesos leader: {'; '.join(problems)}; electing one needs ZooKeeper and {quorum(inventory)} of "
        f"{len(inventory.masters)} mesos-masters running (--quorum)",
    )


def probe_mesos_leader(settings: Settings, inventory: Inventory, remote_for: RemoteFor) -> Check:
    state, problems = leading_master_state(remote_for(inventory.masters[0]), inventory)
    if state is None:
        return _no_leader(inventory, problems)
    return Check(True, f"leader {state.get('leader', '?')}, {len(inventory.masters)} master(s)")


def agents_check(inventory: Inventory, state: Mapping[str, Any]) -> Check:
    """Every agent and public agent registered and active; public ones with public_ip:true and their
    resources reserved to slave_public."""
    slaves = {s.get("hostname"): s for s in state.get("slaves", []) if isinstance(s, dict)}
    problems = []
    for node in [*inventory.agents, *inventory.public_agents]:
        s = slaves.get(node.private_ip)
        if s is None or not s.get("active", False):
            problems.append(f"{node.name} ({node.private_ip}) {'inactive' if s else 'not registered'}")
        elif node.role == "publicAgent" and (
            str((s.get("attributes") or {}).get("public_ip")) != "true"
            or PUBLIC_ROLE not in (s.get("reserved_resources") or {})
        ):
            problems.append(f"{node.name} registered without public_ip:true / role {PUBLIC_ROLE}")
    if problems:
        return Check(False, f"{'; '.join(problems)}; registered: {sorted(h for h in slaves if h) or 'none'}")
    return Check(True, f"{len(slaves)} agents registered with {state.get('leader', '?')}")


def probe_agents(settings: Settings, inventory: Inventory, remote_for: RemoteFor) -> Check:
    state, problems = leading_master_state(remote_for(inventory.masters[0]), inventory)
    if state is None:
        return _no_leader(inventory, problems)
    return agents_check(inventory, state)


def probe_marathon_leader(settings: Settings, inventory: Inventory, remote_for: RemoteFor) -> Check:
    remote = remote_for(inventory.masters[0])
    base = marathon_url(inventory)
    leader = http(remote, "GET", f"{base}/v2/leader")
    data = leader.json()
    if leader.status == 404:
        return Check(
            False, f"Marathon at {base} has no leader ({leader.body.strip()[:100]}); it needs ZooKeeper"
        )
    if leader.status != 200 or not isinstance(data, dict):
        return Check(False, f"Marathon at {base}: {leader.describe()}")
    info = http(remote, "GET", f"{base}/v2/info").json() or {}
    if not info.get("frameworkId"):
        return Check(
            False, f"Marathon leader {data.get('leader')} is not registered with Mesos yet (no frameworkId)"
        )
    return Check(True, f"leader {data.get('leader')}, framework {info['frameworkId']}")


def apps_probe(apps: Callable[[Settings, Inventory], list[dict[str, Any]]]) -> Callable[..., Check]:
    def probe(settings: Settings, inventory: Inventory, remote_for: RemoteFor) -> Check:
        wanted = apps(settings, inventory)
        if not wanted:
            return Check(True, "no apps to run (settings.demo.enabled is false)")
        remote = remote_for(inventory.masters[0])
        states = [app_health(remote, f"{marathon_url(inventory)}/v2/apps{a['id']}") for a in wanted]
        bad = [s.detail for s in states if not s.ok]
        return Check(not bad, "; ".join(bad) or f"{len(states)} apps healthy")

    return probe


# --- restart health (run on the restarted node) ---------------------------------------------------------


def zookeeper_serving(r: Remote) -> Check:
    mode = parse_zk_mode(r.run(zk_srvr_command(r.node.private_ip), check=False, timeout=15).stdout)
    return Check(mode is not None, f"ZooKeeper mode {mode or 'not serving'}")


def http_ok(port: int, path: str) -> Callable[[Remote], Check]:
    def check(r: Remote) -> Check:
        resp = http(r, "GET", f"http://{r.node.private_ip}:{port}{path}")
        return Check(resp.status == 200, f"{path} on port {port}: {resp.describe()}")

    return check


def _handler(daemon: str, name: str, healthy: Callable[[Remote], Check]) -> Handler:
    return Handler(HANDLERS[daemon], name, restart_unit(UNITS[daemon]), healthy, rolling=True, timeout=180)


PLATFORM = Platform(
    name="mesos",
    steps=(
        # JVMs: ZooKeeper and Marathon on masters, Kafka and the Spark dispatcher/executors on agents;
        # public agents run the dashboard (Python) beside InfluxDB.
        *common.steps(java_roles=("master", "agent")),
        Step("prerequisites", ("master", "agent", "publicAgent"), plan_runtime),
        Step("masters", ("master",), plan_zookeeper),
        Step("masters", ("master",), plan_master),
        Step("masters", ("master",), plan_marathon),
        Step("agents", ("agent", "publicAgent"), plan_agent),
        Step("agents", ("agent",), plan_kafka_node),
        Step("agents", ("agent",), plan_spark_node),
        Step("packages", ("agent",), spark.plan_connector),
        Step("packages", ("master",), plan_package_apps),
        Step("demo", ("agent",), demo.plan_topic),
        Step("demo", ("agent",), plan_demo_pipeline_node),
        Step("demo", ("publicAgent",), plan_demo_public_node),
        Step("demo", ("master",), plan_demo_apps),
    ),
    handlers={
        **common.handlers(),
        # rolling, health-checked: one ZooKeeper / master / Marathon at a time keeps their quorums
        HANDLERS["zookeeper"]: _handler("zookeeper", "ZooKeeper restarted (rolling)", zookeeper_serving),
        HANDLERS["master"]: _handler(
            "master", "mesos-master restarted (rolling)", http_ok(MASTER_PORT, "/master/health")
        ),
        HANDLERS["marathon"]: _handler(
            "marathon", "Marathon restarted (rolling)", http_ok(MARATHON_PORT, "/ping")
        ),
        HANDLERS["agent"]: _handler(
            "agent", "mesos-agent restarted (rolling)", http_ok(AGENT_PORT, "/health")
        ),
    },
    gates=(
        Gate("platform up", "ZooKeeper quorum", probe_zookeeper, 180, after_phase="masters"),
        Gate("platform up", "Mesos leader elected", probe_mesos_leader, 180, after_phase="masters"),
        Gate("platform up", "Marathon leader elected", probe_marathon_leader, 240, after_phase="masters"),
        Gate("platform up", "all Mesos agents registered", probe_agents, 180, after_phase="agents"),
        Gate(
            "packages healthy",
            "Kafka and Spark dispatcher apps healthy",
            apps_probe(package_apps),
            300,
            after_phase="packages",
        ),
        Gate(
            "packages healthy",
            "Kafka controller quorum formed",
            kafka.probe_quorum,
            180,
            after_phase="packages",
        ),
        Gate(
            "packages healthy",
            "all Kafka brokers registered",
            kafka.probe_brokers,
            120,
            after_phase="packages",
        ),
        Gate(
            "packages healthy",
            "no under-replicated partitions",
            kafka.probe_under_replicated,
            180,
            after_phase="packages",
        ),
        Gate("apps healthy", "demo apps healthy", apps_probe(demo_apps), 180, after_phase="demo"),
        demo.data_gate(lambda inventory: inventory.agents[0]),
    ),
    units=(common.SERVER_UNIT, *UNITS.values(), "influxdb.service"),
    configs=(
        ZOO_CFG,
        f"{ZK_DATA}/myid",
        *FLAGS_FILES.values(),
        *(f"/etc/systemd/system/{u}" for u in UNITS.values()),
        kafka.CONFIG,
        APPS_DIR,
    ),
    prepare=prepare,
)
