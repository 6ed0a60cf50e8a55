"""HDFS from the Maven Central jars (the artifact cache's hadoop bundle): a NameNode on the first master,
a DataNode on every agent, as systemd units running `java -cp` (the jars ship no start scripts). The
demo's streaming state, checkpoints and Parquet archive live here, so losing one node loses no state.

Facts behind the choices (docs/reference/hdfs-spark-kafka4.md, section A): the jars need hadoop-common
and hadoop-hdfs-client named explicitly, and the UI files (webapps/) on the classpath; the NameNode is
formatted once with a fixed cluster id (a DataNode of another cluster id refuses to join); DataNodes
register by IP (no reverse DNS on the local cloud); the exclude file exists from the start so a drain can
decommission a DataNode with `dfsadmin -refreshNodes`.
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from collections.abc import Sequence

from contract import Cluster, Node, Role
from contract.schema import default_hdfs_replication
from roles.engine.connection import Remote, RunResult
from roles.engine.drain import DrainContext, DrainStep
from roles.engine.executor import Check, Gate, Handler, Op, RemoteFor, gate_group
from roles.engine.ops import (
    artifact_op,
    directory_op,
    file_op,
    http_get,
    probed,
    service_op,
    source,
    unit_handler,
    unpack_op,
    user_op,
)
from roles.engine.placement import FIRST_MASTER, first_node
from roles.engine.spec import DeploySpec
from roles.engine.templates import render
from roles.errors import OperationError

q = shlex.quote
RPC_PORT = 8020
NAMENODE_UI = 9870
DATANODE_PORT = 9866  # data transfer
DATANODE_UI = 9864
DATANODE_IPC = 9867
CONF_DIR = "/etc/hadoop"
NAME_DIR = "/var/lib/hadoop/name"
DATA_DIR = "/var/lib/hadoop/data"
LOG_DIR = "/var/log/hadoop"
EXCLUDE_FILE = f"{CONF_DIR}/dfs.exclude"
USER = "hdfs"
NAMENODE_UNIT = "hdfs-namenode.service"
DATANODE_UNIT = "hdfs-datanode.service"
NAMENODE_HANDLER = "restart-hdfs-namenode"
DATANODE_HANDLER = "restart-hdfs-datanode"
# The demo's tree and the HDFS user its jobs write as (simple authentication: HADOOP_USER_NAME).
DEMO_ROOT = "/fastdata"
DEMO_USER = "fastdata"
CONFIGS = (
    f"{CONF_DIR}/core-site.xml",
    f"{CONF_DIR}/hdfs-site.xml",
    f"/etc/systemd/system/{NAMENODE_UNIT}",
    f"/etc/systemd/system/{DATANODE_UNIT}",
)


def home(spec: DeploySpec) -> str:
    return f"/opt/hadoop/{spec.versions.hadoop}"


def classpath(spec: DeploySpec) -> str:
    """The config directory first (core-site/hdfs-site), the bundle root (holds webapps/), the jars."""
    return f"{CONF_DIR}:{home(spec)}:{home(spec)}/lib/*"


def namenode(inventory: Cluster) -> Node:
    return first_node(inventory, FIRST_MASTER)


def namenode_url(inventory: Cluster) -> str:
    """fs.defaultFS: what the jobs' checkpoint and archive paths start with."""
    return f"hdfs://{namenode(inventory).private_ip}:{RPC_PORT}"


def cluster_id(inventory: Cluster) -> str:
    """Stable per cluster name, like Kafka's: a re-format never mints a new id DataNodes would refuse."""
    return "CID-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"fastdata-hdfs:{inventory.name}"))


def replication(inventory: Cluster) -> int:
    return default_hdfs_replication(len(inventory.agents))


def _property(name: str, value: object) -> str:
    return f"  <property><name>{name}</name><value>{value}</value></property>"


def site_xml(properties: Sequence[tuple[str, object]]) -> str:
    body = "\n".join(_property(k, v) for k, v in properties)
    return (
        '<?xml version="1.0"?>\n<!-- Rendered by fastdata (roles/packages/hdfs.py) -->\n'
        f"<configuration>\n{body}\n</configuration>\n"
    )


def core_site(inventory: Cluster) -> str:
    return site_xml([("fs.defaultFS", namenode_url(inventory)), ("hadoop.tmp.dir", "/var/lib/hadoop/tmp")])


def hdfs_site(inventory: Cluster, node: Node) -> str:
    nn = namenode(inventory).private_ip
    return site_xml(
        [
            ("dfs.namenode.rpc-address", f"{nn}:{RPC_PORT}"),
            ("dfs.namenode.http-address", f"{nn}:{NAMENODE_UI}"),
            ("dfs.namenode.rpc-bind-host", "0.0.0.0"),
            ("dfs.namenode.http-bind-host", "0.0.0.0"),
            ("dfs.namenode.name.dir", f"file://{NAME_DIR}"),
            ("dfs.datanode.data.dir", f"file://{DATA_DIR}"),
            ("dfs.datanode.address", f"{node.private_ip}:{DATANODE_PORT}"),
            ("dfs.datanode.http.address", f"{node.private_ip}:{DATANODE_UI}"),
            ("dfs.datanode.ipc.address", f"{node.private_ip}:{DATANODE_IPC}"),
            ("dfs.replication", replication(inventory)),
            # the local cloud and fresh cloud subnets have no reverse DNS: DataNodes register by IP
            ("dfs.namenode.datanode.registration.ip-hostname-check", "false"),
            ("dfs.hosts.exclude", EXCLUDE_FILE),
            ("dfs.permissions.superusergroup", "supergroup"),
            *REPLICATION_PACE,
        ]
    )


# How fast the NameNode re-replicates (a drain's decommission, a lost DataNode). Hadoop's defaults (multiplier
# 2, max-streams 2, hard limit 4, decommission check every 30 s, pending timeout 300 s) pace a big cluster of
# big blocks; the demo's streaming state and archive are thousands of small files. Per redundancy check (every
# 3 s) the NameNode schedules multiplier x live DataNodes blocks, at most max-streams (the hard limit for the
# highest priority) in flight from one source DataNode. A scheduled copy the NameNode never hears back about
# is scheduled again only after the pending timeout (HDFS-16663). Measured drains of agent-3 with the demo
# running (tests/e2e/test_demo.py test_drain_then_scale_in_to_three_agents, the NameNode's JMX every 5 s):
# defaults 9-10 min; 40 / 40 / 80 / 10 s: 1760 blocks down to 80 in 63 s, then those 80 copies pending
# until the 300 s timeout rescheduled them (373 s in all); with a 30 s timeout 1519 blocks took 62 s.
# `fab drain` prints the blocks left every 30 s.
REPLICATION_PACE: tuple[tuple[str, object], ...] = (
    ("dfs.namenode.replication.work.multiplier.per.iteration", 40),
    ("dfs.namenode.replication.max-streams", 40),
    ("dfs.namenode.replication.max-streams-hard-limit", 80),
    ("dfs.namenode.decommission.interval", 10),
    ("dfs.namenode.reconstruction.pending.timeout-sec", 30),
)


# Hadoop 3.4 is not built for Java 17 (Debian 12's only JDK): WebHDFS (the UI's file browser, JAXB) needs
# java.lang opened to reflection or answers 500 InaccessibleObjectException; Hadoop 3.5's launcher opens
# the same packages.
JAVA17_OPENS = tuple(
    f"--add-opens=java.base/{p}=ALL-UNNAMED"
    for p in ("java.lang", "java.lang.reflect", "java.io", "java.net", "java.nio", "java.util", "sun.nio.ch")
)


def daemon_argv(spec: DeploySpec, heap: str, main_class: str, *args: str) -> list[str]:
    return [
        "/usr/bin/java",
        f"-Xmx{heap}",
        *JAVA17_OPENS,
        "-Djava.net.preferIPv4Stack=true",
        f"-Dhadoop.log.dir={LOG_DIR}",
        "-Dhadoop.root.logger=INFO,console",
        "-cp",
        classpath(spec),
        main_class,
        *args,
    ]


def tool(spec: DeploySpec, main_class: str, args: str) -> str:
    """A Hadoop tool (DFSAdmin, FsShell) as the HDFS superuser, on a node with the bundle."""
    return (
        f"runuser -u {USER} -- java -Xmx256m -Dhadoop.root.logger=WARN,console -cp {q(classpath(spec))} "
        f"{main_class} {args}"
    )


def dfsadmin(spec: DeploySpec, args: str) -> str:
    return tool(spec, "org.apache.hadoop.hdfs.tools.DFSAdmin", args)


def fs(spec: DeploySpec, args: str) -> str:
    return tool(spec, "org.apache.hadoop.fs.FsShell", args)


def common_ops(spec: DeploySpec, inventory: Cluster, node: Node, notify: Sequence[str]) -> list[Op]:
    """User, directories, jars and configs, on every HDFS node."""
    art = spec.artifact("hadoop")
    return [
        user_op("hdfs-user", USER, "/var/lib/hadoop"),
        directory_op("hdfs-home", "/var/lib/hadoop", owner=USER, mode=0o750),
        directory_op("hdfs-logs", LOG_DIR, owner=USER, mode=0o750),
        directory_op("hdfs-conf", CONF_DIR),
        artifact_op("hadoop-artifact", art, source(spec, node)),
        unpack_op("hadoop-libs", art, home(spec), notify=notify),
        file_op(
            "hdfs-core-site",
            f"HDFS core-site.xml on {node.name}",
            f"{CONF_DIR}/core-site.xml",
            core_site(inventory),
            notify=notify,
        ),
        file_op(
            "hdfs-site",
            f"HDFS hdfs-site.xml on {node.name}",
            f"{CONF_DIR}/hdfs-site.xml",
            hdfs_site(inventory, node),
            notify=notify,
        ),
    ]


def unit_text(spec: DeploySpec, what: str, argv: Sequence[str]) -> str:
    return render("hdfs.service", version=spec.versions.hadoop, what=what, user=USER, command=" ".join(argv))


def format_op(spec: DeploySpec, inventory: Cluster) -> Op:
    """The NameNode formatted once, with this cluster's fixed id (never `-force`: that wipes it)."""
    cid = cluster_id(inventory)
    version = f"{NAME_DIR}/current/VERSION"

    def judge(res: RunResult) -> Check:
        props = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
        if not props:
            return Check(False, "NameNode not formatted")
        if props.get("clusterID") != cid:
            return Check(False, f"{NAME_DIR} belongs to cluster {props.get('clusterID')}, want {cid}")
        return Check(True, f"formatted for {cid}")

    def apply(r: Remote) -> None:
        have = r.run(f"cat {version} 2>/dev/null || true").stdout
        if "clusterID=" in have:
            raise OperationError(
                f"{NAME_DIR} on {namenode(inventory).name} holds another HDFS namespace "
                f"({have.strip().splitlines()[-1]}); move it away by hand if that data is disposable, "
                "then re-run"
            )
        argv = daemon_argv(
            spec,
            "512m",
            "org.apache.hadoop.hdfs.server.namenode.NameNode",
            "-format",
            "-nonInteractive",
            "-clusterid",
            cid,
        )
        r.run(f"runuser -u {USER} -- {' '.join(q(a) for a in argv)}", timeout=180)

    return probed(
        "hdfs-format",
        f"HDFS NameNode formatted (cluster {cid})",
        f"cat {version} 2>/dev/null || true",
        judge,
        apply,
    )


REFRESH_SCRIPT = "/usr/local/sbin/fastdata-hdfs-refresh-nodes"
REFRESH_HANDLER = "hdfs-refresh-nodes"


def exclude_file_ops(spec: DeploySpec, inventory: Cluster) -> list[Op]:
    """The decommission list: the drained agents that are still in the inventory (`fab drain` adds a
    node; once `pulumi up` removed it, its line goes, so a new agent on the same address is not born
    excluded). A change makes the NameNode re-read it (`dfsadmin -refreshNodes`), no restart."""
    drained = [n for n in inventory.agents if n.name in spec.drained]
    script = (
        "#!/bin/sh\n# Rendered by fastdata (roles/packages/hdfs.py)\n"
        f"exec {dfsadmin(spec, '-refreshNodes')}\n"
    )
    return [
        file_op(
            "hdfs-refresh-script",
            f"HDFS refresh-nodes script on {namenode(inventory).name}",
            REFRESH_SCRIPT,
            script,
            mode=0o755,
        ),
        file_op(
            "hdfs-exclude-file",
            f"HDFS exclude file ({len(drained)} DataNode(s) decommissioned)",
            EXCLUDE_FILE,
            "".join(exclude_entry(n) + "\n" for n in drained),
            notify=[REFRESH_HANDLER],
        ),
    ]


def refresh_nodes(r: Remote) -> None:
    """The handler: the NameNode re-reads the exclude file (when it runs; at its next start otherwise)."""
    r.run(f"systemctl is-active --quiet {NAMENODE_UNIT} && {REFRESH_SCRIPT} || true", timeout=120)


def _daemon_ops(
    spec: DeploySpec, node: Node, what: str, unit: str, handler: str, heap: str, main_class: str
) -> list[Op]:
    """A daemon's unit rendered (restarted by `handler` when it changes) and running."""
    key = what.lower()
    return [
        file_op(
            f"hdfs-{key}-unit",
            f"HDFS {what} unit on {node.name}",
            f"/etc/systemd/system/{unit}",
            unit_text(spec, what, daemon_argv(spec, heap, main_class)),
            notify=[handler],
        ),
        service_op(f"hdfs-{key}-running", unit, f"HDFS {what} on {node.name}", satisfies=[handler]),
    ]


def plan_namenode(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    unit, running = _daemon_ops(
        spec,
        node,
        "NameNode",
        NAMENODE_UNIT,
        NAMENODE_HANDLER,
        spec.hdfs.namenode_heap,
        "org.apache.hadoop.hdfs.server.namenode.NameNode",
    )
    return [
        *common_ops(spec, inventory, node, [NAMENODE_HANDLER]),
        directory_op("hdfs-name-dir", NAME_DIR, owner=USER, mode=0o700),
        *exclude_file_ops(spec, inventory),
        unit,
        format_op(spec, inventory),  # after the unit, before the first start
        running,
    ]


def plan_datanode(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    return [
        *common_ops(spec, inventory, node, [DATANODE_HANDLER]),
        directory_op("hdfs-data-dir", DATA_DIR, owner=USER, mode=0o700),
        *_daemon_ops(
            spec,
            node,
            "DataNode",
            DATANODE_UNIT,
            DATANODE_HANDLER,
            spec.hdfs.datanode_heap,
            "org.apache.hadoop.hdfs.server.datanode.DataNode",
        ),
    ]


def demo_tree_op(spec: DeploySpec) -> Op:
    """/fastdata owned by the user the demo's jobs write as (checkpoints, state, archive)."""
    probe = fs(spec, f"-stat '%u %F' {DEMO_ROOT}") + " || true"

    def judge(res: RunResult) -> Check:
        if f"{DEMO_USER} directory" in res.stdout:
            return Check(True, f"{DEMO_ROOT} owned by {DEMO_USER}")
        return Check(False, f"{DEMO_ROOT} missing or not {DEMO_USER}'s")

    def apply(r: Remote) -> None:
        r.run(dfsadmin(spec, "-safemode wait"), timeout=300)
        r.run(
            fs(spec, f"-mkdir -p {DEMO_ROOT}") + " && " + fs(spec, f"-chown {DEMO_USER} {DEMO_ROOT}"),
            timeout=120,
        )

    return probed("hdfs-demo-tree", f"HDFS {DEMO_ROOT} for the demo's jobs", probe, judge, apply)


def plan_demo_tree(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    return [demo_tree_op(spec)]


def plan_client(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """The jars and configs where HDFS tools run without a daemon (e.g. a batch job's host)."""
    return common_ops(spec, inventory, node, ())


# --- readiness ---------------------------------------------------------------------------------------------


def parse_namenode_info(text: str) -> tuple[str, dict[str, dict[str, object]]]:
    """(Safemode, live DataNodes by host:port) from the NameNode's JMX NameNodeInfo bean; LiveNodes is a
    JSON string inside the JSON."""
    beans = json.loads(text).get("beans") or [{}]
    bean = beans[0]
    live = json.loads(bean.get("LiveNodes") or "{}")
    return str(bean.get("Safemode", "")), live


def datanode_states(live: dict[str, dict[str, object]]) -> dict[str, str]:
    """DataNode IP -> adminState ("In Service", "Decommission In Progress", "Decommissioned")."""
    out = {}
    for key, info in live.items():
        addr = str(info.get("xferaddr") or key)
        out[addr.rsplit(":", 1)[0]] = str(info.get("adminState", "?"))
    return out


def jmx(inventory: Cluster, remote_for: RemoteFor, bean: str) -> RunResult:
    nn = namenode(inventory)
    url = f"http://{nn.private_ip}:{NAMENODE_UI}/jmx?qry=Hadoop:service=NameNode,name={bean}"
    return remote_for(nn).run(http_get(url), check=False, timeout=30)


def probe_namenode(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    out = jmx(inventory, remote_for, "NameNodeInfo")
    if not out.ok or not out.stdout.strip():
        return Check(False, f"NameNode UI on {namenode(inventory).name}:{NAMENODE_UI} not answering")
    safemode, live = parse_namenode_info(out.stdout)
    if safemode:
        return Check(False, f"NameNode in safe mode: {safemode[:160]}")
    states = datanode_states(live)
    want = {a.private_ip for a in inventory.agents}
    serving = {ip for ip, state in states.items() if state == "In Service"}
    missing = sorted(want - serving)
    if missing:
        return Check(False, f"live DataNodes {sorted(serving)}; not (yet) in service: {missing}")
    return Check(True, f"NameNode out of safe mode, {len(serving)} live DataNodes (every agent)")


# Run on a DataNode: its own JMX says whether it is registered with the NameNode again (the HTTP address
# comes from its hdfs-site.xml, so the check needs nothing but the node).
_DATANODE_REGISTERED = """\
import json, re, sys, urllib.request
site = open(sys.argv[1]).read()
addr = re.search(r"dfs.datanode.http.address</name><value>([^<]+)<", site).group(1)
url = "http://%s/jmx?qry=Hadoop:service=DataNode,name=DataNodeInfo" % addr
bean = json.load(urllib.request.urlopen(url, timeout=10))["beans"][0]
actors = json.loads(bean.get("BPServiceActorInfo") or "[]")
print(" ".join(a.get("ActorState", "?") for a in actors) or "no-namenode")
"""


def datanode_registered(r: Remote) -> Check:
    """Health after a DataNode restart: the unit active and its block pool actor RUNNING (registered
    with the NameNode), so the next DataNode restarts only once this one serves its replicas again."""
    res = r.run(
        f"systemctl is-active {DATANODE_UNIT} && "
        f"python3 -c {q(_DATANODE_REGISTERED)} {CONF_DIR}/hdfs-site.xml",
        check=False,
        timeout=30,
    )
    state = res.stdout.split()
    if state[:1] != ["active"]:
        return Check(False, f"{DATANODE_UNIT} {' '.join(state[:1]) or 'not active'}")
    if "RUNNING" not in state[1:]:
        return Check(False, f"DataNode not registered with the NameNode yet ({' '.join(state[1:]) or '?'})")
    return Check(True, "DataNode registered with the NameNode")


def handlers() -> dict[str, Handler]:
    """The NameNode alone; the DataNodes one at a time, each registered again before the next (each
    holds a replica of some blocks)."""
    return {
        NAMENODE_HANDLER: unit_handler(NAMENODE_HANDLER, "HDFS NameNode restarted", NAMENODE_UNIT),
        REFRESH_HANDLER: Handler(REFRESH_HANDLER, "HDFS NameNode re-read its exclude file", refresh_nodes),
        DATANODE_HANDLER: unit_handler(
            DATANODE_HANDLER,
            "HDFS DataNode restarted",
            DATANODE_UNIT,
            healthy=datanode_registered,
            timeout=180,
        ),
    }


def gates(layer: str, after_phase: str) -> tuple[Gate, ...]:
    return gate_group(
        layer,
        after_phase,
        ("HDFS NameNode out of safe mode, every agent a live DataNode", probe_namenode, 180),
    )


# --- drain: decommission a DataNode (fab drain, roles/engine/drain.py) -----------------------------------


def exclude_entry(node: Node) -> str:
    """The exclude-file line of one DataNode: host:xferPort targets exactly it (a bare host would hit
    every DataNode on that host; docs/reference/hdfs-spark-kafka4.md A.7)."""
    return f"{node.private_ip}:{DATANODE_PORT}"


def datanode_refusals(ctx: DrainContext) -> list[str]:
    """Decommissioning never finishes when the DataNodes that stay cannot hold every block's replicas."""
    staying = [n for n in ctx.cluster.agents if n.name not in ctx.leaving]
    want = replication(ctx.cluster)
    if len(staying) < want:
        return [
            f"HDFS keeps {want} replicas of every block (dfs.replication = min(3, agents)) but only "
            f"{len(staying)} DataNode(s) would stay ({', '.join(n.name for n in staying) or 'none'}): "
            f"decommissioning {ctx.node.name} could never finish; add an agent first"
        ]
    return []


def decommission_progress(text: str, node: Node) -> dict[str, int]:
    """The NameNode's count of a decommissioning DataNode's blocks still to re-replicate (NameNodeInfo's
    DecomNodes, a JSON string keyed by the DataNode's host name, which is its IP when it registered by IP):
    underReplicatedBlocks, decommissionOnlyReplicas (no other replica yet), underReplicateInOpenFiles (the
    last block of a file open for write waits for its writer to close it). Empty once it is done."""
    bean = (json.loads(text).get("beans") or [{}])[0]
    decom = json.loads(bean.get("DecomNodes") or "{}")
    for key, info in decom.items():
        addr = str(info.get("xferaddr") or key)
        if addr.rsplit(":", 1)[0] in (node.private_ip, node.name) or key in (node.private_ip, node.name):
            return {k: int(v) for k, v in info.items() if isinstance(v, int)}
    return {}


def node_blocks(live: dict[str, dict[str, object]], node: Node) -> int | None:
    """numBlocks of one live DataNode (LiveNodes of NameNodeInfo)."""
    for key, info in live.items():
        if str(info.get("xferaddr") or key).rsplit(":", 1)[0] == node.private_ip:
            blocks = info.get("numBlocks")
            return blocks if isinstance(blocks, int) else None
    return None


def decommission_datanode(ctx: DrainContext, timeout: float = 1200.0, report_every: float = 30.0) -> str:
    """The DataNode listed in the NameNode's exclude file and `dfsadmin -refreshNodes`, then waited for
    until the NameNode reports it Decommissioned (its blocks re-replicated on the others), then stopped.
    Every `report_every` seconds a line says how many of its blocks are still to re-replicate."""
    nn = ctx.remote_for(namenode(ctx.cluster))
    entry = exclude_entry(ctx.node)
    before = jmx(ctx.cluster, ctx.remote_for, "NameNodeInfo")
    blocks = node_blocks(parse_namenode_info(before.stdout)[1], ctx.node) if before.ok else None
    nn.run(f"grep -qxF {q(entry)} {EXCLUDE_FILE} || echo {q(entry)} >> {EXCLUDE_FILE}")
    nn.run(dfsadmin(ctx.spec, "-refreshNodes"), timeout=120)
    held = f", which holds {blocks} block(s)" if blocks is not None else ""
    ctx.line(f"drain: HDFS decommissioning the DataNode on {ctx.node.name} ({entry}{held})")
    started = time.monotonic()
    deadline, state, last_report = started + timeout, "?", started
    while time.monotonic() < deadline:
        out = jmx(ctx.cluster, ctx.remote_for, "NameNodeInfo")
        if out.ok and out.stdout.strip():
            _, live = parse_namenode_info(out.stdout)
            state = datanode_states(live).get(ctx.node.private_ip, "not live")
            if state == "Decommissioned":
                break
            if time.monotonic() - last_report >= report_every:
                last_report = time.monotonic()
                left = decommission_progress(out.stdout, ctx.node)
                ctx.line(
                    f"drain: HDFS {state.lower()} on {ctx.node.name} after {last_report - started:.0f}s: "
                    + (
                        f"{left.get('underReplicatedBlocks', '?')} block(s) still to re-replicate "
                        f"({left.get('decommissionOnlyReplicas', '?')} with no other replica, "
                        f"{left.get('underReplicateInOpenFiles', '?')} in files open for write)"
                        if left
                        else "the NameNode is still scanning its blocks"
                    )
                )
        time.sleep(5)
    else:
        raise OperationError(
            f"the DataNode on {ctx.node.name} is still '{state}' after {timeout:.0f}s: HDFS has not "
            "re-replicated its blocks; check the NameNode UI (port 9870, Datanodes tab) and re-run fab drain"
        )
    ctx.remote_for(ctx.node).run(f"systemctl disable --now {DATANODE_UNIT}", timeout=180)
    moved = f" ({blocks} block(s) re-replicated)" if blocks else ""
    return f"HDFS DataNode on {ctx.node.name} decommissioned{moved} and stopped"


DRAIN_DATANODE = DrainStep(
    "decommission the HDFS DataNode",
    lambda ctx: ctx.node.role is Role.AGENT,
    datanode_refusals,
    decommission_datanode,
)
