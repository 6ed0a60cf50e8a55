"""ZooKeeper on the masters (the mesos platform: Mesos and Marathon keep their state in it)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from contract import Cluster, Node
from roles.engine.connection import Remote
from roles.engine.executor import Check, Gate, Handler, Op, RemoteFor
from roles.engine.ops import apt_op, file_op, service_op, unit_handler
from roles.engine.spec import DeploySpec
from roles.engine.templates import render

q = shlex.quote

CLIENT_PORT = 2181
PEER_PORT = 2888
ELECTION_PORT = 3888
CONFIG = "/etc/zookeeper/conf/zoo.cfg"  # Debian's package: /etc/zookeeper/conf -> conf_example
DATA = "/var/lib/zookeeper"
HEAP = "256m"
UNIT = "zookeeper.service"
HANDLER = "restart-zookeeper"


def zk_hosts(inventory: Cluster) -> str:
    return ",".join(f"{m.private_ip}:{CLIENT_PORT}" for m in inventory.masters)


def zk_url(inventory: Cluster, path: str) -> str:
    return f"zk://{zk_hosts(inventory)}/{path}"


def zoo_cfg(inventory: Cluster) -> str:
    servers = "".join(
        f"server.{m.index + 1}={m.private_ip}:{PEER_PORT}:{ELECTION_PORT}\n" for m in inventory.masters
    )
    return render("zoo.cfg", members=len(inventory.masters), data=DATA, port=CLIENT_PORT, servers=servers)


def plan_zookeeper(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """One ensemble member per master (Debian's package, our unit and config), restarted on change."""
    handler = HANDLER
    myid = node.index + 1
    unit = render("zookeeper.service", myid=myid, members=len(inventory.masters), heap=HEAP, config=CONFIG)
    return [
        apt_op(
            "zookeeper-package",
            ("zookeeper",),
            name=f"ZooKeeper {spec.versions.zookeeper} (Debian package) installed on {node.name}",
            versions={"zookeeper": spec.versions.zookeeper},
        ),
        file_op(
            "zookeeper-config",
            f"ZooKeeper ensemble config on {node.name}",
            CONFIG,
            zoo_cfg(inventory),
            notify=[handler],
        ),
        file_op(
            "zookeeper-myid",
            f"ZooKeeper id {myid} on {node.name}",
            f"{DATA}/myid",
            f"{myid}\n",
            notify=[handler],
        ),
        file_op(
            "zookeeper-unit",
            f"ZooKeeper unit on {node.name}",
            f"/etc/systemd/system/{UNIT}",
            unit,
            notify=[handler],
        ),
        service_op(
            "zookeeper-running",
            UNIT,
            f"ZooKeeper {myid} running on {node.name}",
            satisfies=[handler],
        ),
    ]


def zk_srvr_command(ip: str) -> str:
    """ZooKeeper's `srvr` four-letter word (allowed by default since 3.5.3), without needing nc."""
    return f"timeout 5 bash -c {q(f'exec 3<>/dev/tcp/{ip}/{CLIENT_PORT} && printf srvr >&3 && cat <&3')}"


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


def probe_zookeeper(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    modes = {
        m.private_ip: parse_zk_mode(
            remote_for(m).run(zk_srvr_command(m.private_ip), check=False, timeout=15).stdout
        )
        for m in inventory.masters
    }
    return zk_quorum_check(modes)


def zookeeper_serving(r: Remote) -> Check:
    mode = parse_zk_mode(r.run(zk_srvr_command(r.node.private_ip), check=False, timeout=15).stdout)
    return Check(mode is not None, f"ZooKeeper mode {mode or 'not serving'}")


def handler() -> Handler:
    """Rolling and health-checked: one member at a time keeps the quorum."""
    return unit_handler(
        HANDLER,
        "ZooKeeper restarted (rolling)",
        UNIT,
        zookeeper_serving,
        rolling=True,
        timeout=180,
    )


def gates(layer: str, after_phase: str) -> tuple[Gate, ...]:
    return (Gate(layer, "ZooKeeper quorum", probe_zookeeper, 180, after_phase=after_phase),)
