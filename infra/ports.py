"""The one port matrix both clouds render: who may reach which port on which role.

Data first, then the few pure functions that select and resolve rows. The AWS security groups and the
Azure NSGs are rendered from the same resolved rows (infra/aws.py, infra/azure.py), the policy pack
checks resources against the same admin ports (infra/policy/policies.py), and the spec refuses public
ports that would expose a control plane (infra/spec.py).

Three kinds of source, after dcos-terraform's security-group model (docs/reference/dcos-mesos.md 2.3, 2.4):
- ADMIN: the operators' CIDRs (`fastdata:adminCidrs`) -> SSH, ICMP echo and the platform's web UIs;
- CLUSTER: the cluster's own network -> everything between nodes. DC/OS requires "unrestricted IP-to-IP
  connectivity between all cluster nodes" (docs/reference/dcos-mesos.md 1.5) and Mesos, Spark and Kafka use
  random
  ports between nodes (Spark executors, Marathon libprocess, task ports), so enumerating them would only
  break things; CLUSTER_SERVICES below documents what that rule carries;
- WORLD: anyone -> `fastdata:publicPorts`, on public agents only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from contract.schema import Platform, Role

ALL_ROLES: frozenset[str] = frozenset(Role)
ALL_PLATFORMS: frozenset[str] = frozenset(Platform)

# The network every cloud cluster lives in (AWS VPC, Azure VNet). Kept clear of 172.17.0.0/16, Docker's
# default bridge, which DC/OS nodes run (docs/reference/anchors.md 1.1: "not to use 172.17/16, because
# Docker uses it").
CLOUD_NETWORK = "10.40.0.0/16"


class Source(StrEnum):
    ADMIN = "admin"
    CLUSTER = "cluster"
    WORLD = "world"


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"  # echo request only: enough for ping, nothing else
    ALL = "all"


@dataclass(frozen=True, order=True)
class PortRange:
    first: int
    last: int

    @classmethod
    def single(cls, port: int) -> PortRange:
        return cls(port, port)

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"

    def contains(self, other: PortRange) -> bool:
        return self.first <= other.first and other.last <= self.last


def _p(*ports: int) -> tuple[PortRange, ...]:
    return tuple(PortRange.single(p) for p in ports)


@dataclass(frozen=True)
class Rule:
    """One row of the matrix. `ports` empty means every port (ALL) or no port concept (ICMP)."""

    name: str
    source: Source
    protocol: Protocol
    ports: tuple[PortRange, ...]
    roles: frozenset[str]
    description: str
    platforms: frozenset[str] = ALL_PLATFORMS


# Placeholder ports of the WORLD row: replaced by `fastdata:publicPorts` in rules_for().
_PUBLIC_PLACEHOLDER: tuple[PortRange, ...] = ()

MATRIX: tuple[Rule, ...] = (
    # --- admin: operators only (docs/reference/dcos-mesos.md 2.4 "admin")
    # ---------------------------------------------
    Rule(
        "ssh",
        Source.ADMIN,
        Protocol.TCP,
        _p(22),
        ALL_ROLES,
        "SSH for Fabric and operators (never the world, unlike dcos-terraform on Azure)",
    ),
    Rule("icmp-echo", Source.ADMIN, Protocol.ICMP, (), ALL_ROLES, "ping from adminCidrs"),
    Rule(
        "dcos-admin-router",
        Source.ADMIN,
        Protocol.TCP,
        _p(80, 443),
        frozenset({Role.MASTER}),
        "DC/OS Admin Router UI/API (dcos-mesos.md 2.1 masters)",
        frozenset({Platform.DCOS}),
    ),
    Rule(
        "dcos-exhibitor",
        Source.ADMIN,
        Protocol.TCP,
        _p(8181),
        frozenset({Role.MASTER}),
        "Exhibitor UI (dcos-mesos.md 2.1, 2.4)",
        frozenset({Platform.DCOS}),
    ),
    Rule(
        "mesos-master-ui",
        Source.ADMIN,
        Protocol.TCP,
        _p(5050),
        frozenset({Role.MASTER}),
        "Mesos master UI/API (dcos-mesos.md 2.5)",
        frozenset({Platform.MESOS}),
    ),
    Rule(
        "marathon-ui",
        Source.ADMIN,
        Protocol.TCP,
        _p(8080),
        frozenset({Role.MASTER}),
        "Marathon UI/API --http_port (dcos-mesos.md 2.5)",
        frozenset({Platform.MESOS}),
    ),
    Rule(
        "mesos-agent-sandbox",
        Source.ADMIN,
        Protocol.TCP,
        _p(5051),
        frozenset({Role.AGENT, Role.PUBLIC_AGENT}),
        "Mesos agent API: the master UI reads task sandboxes from agents (dcos-mesos.md 2.5)",
        frozenset({Platform.MESOS}),
    ),
    Rule(
        "spark-master-ui",
        Source.ADMIN,
        Protocol.TCP,
        _p(8080),
        frozenset({Role.MASTER}),
        "Spark standalone master UI",
        frozenset({Platform.STANDALONE}),
    ),
    Rule(
        "spark-worker-ui",
        Source.ADMIN,
        Protocol.TCP,
        _p(8081),
        frozenset({Role.AGENT}),
        "Spark standalone worker UI (linked from the master UI)",
        frozenset({Platform.STANDALONE}),
    ),
    Rule(
        "hdfs-namenode-ui",
        Source.ADMIN,
        Protocol.TCP,
        _p(9870),
        frozenset({Role.MASTER}),
        "HDFS NameNode UI and JMX (roles/packages/hdfs.py; hdfs-spark-kafka4.md A.5)",
        frozenset({Platform.STANDALONE, Platform.MESOS}),
    ),
    # --- cluster: everything between nodes (docs/reference/dcos-mesos.md 1.5, 2.3 "internal", 2.4)
    # --------------------
    Rule(
        "cluster-internal",
        Source.CLUSTER,
        Protocol.ALL,
        (),
        ALL_ROLES,
        "all traffic between cluster nodes (see CLUSTER_SERVICES)",
    ),
    # --- world: public agents only, fastdata:publicPorts (docs/reference/dcos-mesos.md 2.3 "public_agents")
    # -----------
    Rule(
        "public",
        Source.WORLD,
        Protocol.TCP,
        _PUBLIC_PLACEHOLDER,
        frozenset({Role.PUBLIC_AGENT}),
        "fastdata:publicPorts on public agents (dashboard, Marathon-LB)",
    ),
)


@dataclass(frozen=True)
class Service:
    """A well-known port between nodes, carried by the `cluster-internal` row. Documentation that code
    also uses: spec validation refuses to publish any of these on a public agent."""

    name: str
    protocol: Protocol
    ports: tuple[PortRange, ...]
    roles: frozenset[str]
    platforms: frozenset[str]
    reference: str  # a section of docs/reference/dcos-mesos.md


_MASTERS = frozenset({Role.MASTER})
_AGENTS = frozenset({Role.AGENT, Role.PUBLIC_AGENT})
_NODES = frozenset({Role.MASTER, Role.AGENT, Role.PUBLIC_AGENT})
_DCOS = frozenset({Platform.DCOS})
_MESOS = frozenset({Platform.MESOS, Platform.DCOS})

CLUSTER_SERVICES: tuple[Service, ...] = (
    # ZooKeeper: Mesos, Marathon, Kafka <= 3.9 and the Spark dispatcher use it (docs/reference/dcos-mesos.md
    # 2.1, 2.5)
    Service("zookeeper-client", Protocol.TCP, _p(2181), _MASTERS, _MESOS, "dcos-mesos.md 2.1, 2.5"),
    Service("zookeeper-peer", Protocol.TCP, _p(2888, 3888), _MASTERS, _MESOS, "dcos-mesos.md 2.1, 2.5"),
    Service("exhibitor", Protocol.TCP, _p(8181), _MASTERS, _DCOS, "dcos-mesos.md 2.1"),
    Service("etcd", Protocol.TCP, _p(2379, 2380), _MASTERS, _DCOS, "dcos-mesos.md 2.1 (DC/OS 2.x)"),
    Service("mesos-master", Protocol.TCP, _p(5050), _MASTERS, _MESOS, "dcos-mesos.md 2.1, 2.5"),
    Service("marathon", Protocol.TCP, _p(8080, 8443), _MASTERS, _MESOS, "dcos-mesos.md 2.1, 2.5"),
    Service("marathon-libprocess", Protocol.TCP, _p(15101), _MASTERS, _DCOS, "dcos-mesos.md 2.1"),
    Service(
        "metronome",
        Protocol.TCP,
        _p(9000, 9942, 15201),
        _MASTERS,
        _DCOS,
        "dcos-mesos.md 2.1 (9000/9942 per the installer code, not the docs' 9090/9443)",
    ),
    Service("mesos-dns", Protocol.TCP, _p(61053), _MASTERS, _DCOS, "dcos-mesos.md 2.1"),
    Service("dcos-net-dns", Protocol.UDP, _p(53), _NODES, _DCOS, "dcos-mesos.md 2.1 (TCP and UDP)"),
    Service("dcos-net", Protocol.TCP, _p(53, 61420, 62080, 62501), _NODES, _DCOS, "dcos-mesos.md 2.1"),
    Service("dcos-overlay-vxlan", Protocol.UDP, _p(64000), _NODES, _DCOS, "dcos-mesos.md 2.1"),
    Service("calico", Protocol.TCP, _p(179, 62091), _NODES, _DCOS, "dcos-mesos.md 2.1, 2.2 (2.1+)"),
    Service("dcos-telemetry", Protocol.TCP, _p(61091, 61092, 62020), _NODES, _DCOS, "dcos-mesos.md 2.1, 2.2"),
    Service("rex-ray", Protocol.TCP, _p(61003), _NODES, _DCOS, "dcos-mesos.md 2.1"),
    Service("mesos-agent", Protocol.TCP, _p(5051), _AGENTS, _MESOS, "dcos-mesos.md 2.1, 2.5"),
    Service("admin-router-agent", Protocol.TCP, _p(61001, 61002), _AGENTS, _DCOS, "dcos-mesos.md 2.1"),
    Service(
        "mesos-task-ports",
        Protocol.TCP,
        (PortRange(31000, 32000),),
        _AGENTS,
        frozenset({Platform.MESOS}),
        "dcos-mesos.md 2.5 (mesos-agent DEFAULT_PORTS)",
    ),
    Service(
        "kafka",
        Protocol.TCP,
        _p(9092, 9093),
        frozenset({Role.AGENT}),
        ALL_PLATFORMS,
        "dcos-mesos.md 2.5; 9093 is the KRaft controller listener (standalone)",
    ),
    Service(
        "spark-master",
        Protocol.TCP,
        _p(7077),
        _MASTERS,
        frozenset({Platform.STANDALONE}),
        "Spark standalone master; executors and drivers use random ports between nodes",
    ),
    Service(
        "spark-dispatcher",
        Protocol.TCP,
        _p(7077, 8081),
        _AGENTS,
        frozenset({Platform.MESOS}),
        "dcos-mesos.md 2.5 MesosClusterDispatcher",
    ),
    Service(
        "spark-driver",
        Protocol.TCP,
        (PortRange(7078, 7095),),
        _MASTERS,
        frozenset({Platform.STANDALONE}),
        "the demo jobs' client-mode drivers on the first master: spark.driver.port 7078 and "
        "spark.blockManager.port 7079, bumped by Spark's port retries (hdfs-spark-kafka4.md B.3)",
    ),
    Service(
        "hdfs-namenode",
        Protocol.TCP,
        _p(8020, 9870),
        _MASTERS,
        frozenset({Platform.STANDALONE, Platform.MESOS}),
        "HDFS NameNode RPC and HTTP/JMX (hdfs-spark-kafka4.md A.5)",
    ),
    Service(
        "hdfs-datanode",
        Protocol.TCP,
        _p(9864, 9866, 9867),
        frozenset({Role.AGENT}),
        frozenset({Platform.STANDALONE, Platform.MESOS}),
        "HDFS DataNode HTTP, data transfer and IPC (hdfs-spark-kafka4.md A.5)",
    ),
    Service(
        "artifact-server",
        Protocol.TCP,
        _p(8099),
        frozenset({Role.BOOTSTRAP, Role.MASTER}),
        ALL_PLATFORMS,
        "roles/common.py: the bootstrap node (else the first master) serves the artifacts to the others",
    ),
    Service(
        "influxdb",
        Protocol.TCP,
        _p(8086),
        frozenset({Role.PUBLIC_AGENT}),
        ALL_PLATFORMS,
        "InfluxDB 1.x HTTP API: read by the dashboard, never published (no auth in the demo)",
    ),
)


def rules_for(role: str, platform: str, public_ports: Sequence[int]) -> tuple[Rule, ...]:
    """The matrix rows that apply to one role on one platform, with the WORLD row's ports filled in.

    The WORLD row is dropped when there are no public ports, so no rule ever has an empty port list
    meaning "everything" by accident.
    """
    selected: list[Rule] = []
    for rule in MATRIX:
        if role not in rule.roles or platform not in rule.platforms:
            continue
        if rule.source is Source.WORLD:
            if not public_ports:
                continue
            rule = Rule(
                rule.name,
                rule.source,
                rule.protocol,
                _p(*sorted(set(public_ports))),
                rule.roles,
                rule.description,
                rule.platforms,
            )
        selected.append(rule)
    return tuple(selected)


def admin_ports(role: str, platform: str) -> tuple[PortRange, ...]:
    """TCP ports open to adminCidrs on a role (SSH included)."""
    return tuple(
        sorted(
            {
                p
                for r in rules_for(role, platform, ())
                if r.source is Source.ADMIN and r.protocol is Protocol.TCP
                for p in r.ports
            }
        )
    )


def ui_ports(role: str, platform: str) -> tuple[int, ...]:
    """The admin web UI ports of a role: what the masters' load balancer forwards (SSH excluded)."""
    return tuple(p.first for p in admin_ports(role, platform) if p.first == p.last and p.first != 22)


def all_admin_ports() -> tuple[PortRange, ...]:
    """Every port any ADMIN row opens, on any role and platform: what the policy pack guards."""
    return tuple(sorted({p for r in MATRIX if r.source is Source.ADMIN for p in r.ports}))


def unpublishable_ports(platform: str | None = None) -> dict[int, str]:
    """Ports a public agent must never publish to the world -> why (service or admin rule name).

    Admin rows are included because publishing one would bypass adminCidrs; services are included
    because they are unauthenticated control planes.
    """
    found: dict[int, str] = {}
    for rule in MATRIX:
        on_public_agents = Role.PUBLIC_AGENT in rule.roles and (
            platform is None or platform in rule.platforms
        )
        if rule.source is Source.ADMIN and rule.protocol is Protocol.TCP and on_public_agents:
            for rng in rule.ports:
                found.setdefault(rng.first, f"admin port ({rule.name})")
    for svc in CLUSTER_SERVICES:
        if Role.PUBLIC_AGENT not in svc.roles or (platform is not None and platform not in svc.platforms):
            continue
        for rng in svc.ports:
            if rng.first == rng.last:
                found.setdefault(rng.first, f"{svc.name} ({svc.reference})")
    return found


@dataclass(frozen=True)
class ResolvedRule:
    """A matrix row with its source resolved to CIDRs: what a cloud renderer turns into one rule."""

    name: str
    source: Source
    protocol: Protocol
    ports: tuple[PortRange, ...]
    cidrs: tuple[str, ...]
    description: str


WORLD_CIDR = "0.0.0.0/0"


def resolve(
    rules: Iterable[Rule], admin_cidrs: Sequence[str], cluster_cidrs: Sequence[str]
) -> tuple[ResolvedRule, ...]:
    """Turn rows into concrete rules. A row whose source resolves to no CIDR is dropped (e.g. admin rows
    on the local cloud when no adminCidrs are set), never widened."""
    sources = {
        Source.ADMIN: tuple(admin_cidrs),
        Source.CLUSTER: tuple(cluster_cidrs),
        Source.WORLD: (WORLD_CIDR,),
    }
    resolved = []
    for rule in rules:
        cidrs = sources[rule.source]
        if cidrs:
            resolved.append(
                ResolvedRule(
                    rule.name,
                    rule.source,
                    rule.protocol,
                    rule.ports,
                    cidrs,
                    f"{rule.source.value}: {rule.description}",
                )
            )
    return tuple(resolved)


def subnet_cidrs(count: int, network: str = CLOUD_NETWORK) -> tuple[str, ...]:
    """`count` consecutive /24 subnets of the cloud network, starting at x.y.1.0 (x.y.0.0/24 left free)."""
    subnets = list(ipaddress.ip_network(network).subnets(new_prefix=24))
    return tuple(str(s) for s in subnets[1 : count + 1])


# Addresses below this offset are left alone: clouds reserve the first addresses of a subnet (AWS the
# first four, Azure the first four), and a few spare ones help when replacing a node by hand.
_FIRST_NODE_OFFSET = 10


def node_room(subnet: str) -> int:
    """How many nodes node_address() can place in `subnet`: ordinals 0 .. node_room - 1 (the reserved
    first addresses and the broadcast address are not for nodes)."""
    return max(0, ipaddress.ip_network(subnet).num_addresses - 1 - _FIRST_NODE_OFFSET)


def node_address(subnet: str, ordinal: int) -> str:
    """The fixed private address of the `ordinal`-th node (inventory order) placed in `subnet`. The
    ordinal counts every node of the cluster, so every subnet must have room for all of them: the spec
    checks that with node_room() before anything is declared."""
    if ordinal >= node_room(subnet):
        raise ValueError(f"subnet {subnet} has no room for node #{ordinal}")
    return str(ipaddress.ip_network(subnet).network_address + _FIRST_NODE_OFFSET + ordinal)


# The local cloud's address layout: per role, the host part of its first address and how many nodes of
# the role fit (infra/local.py places nodes by it; the spec checks counts against it).
LOCAL_ADDRESS_PLAN: dict[Role, tuple[int, int]] = {
    Role.BOOTSTRAP: (5, 1),
    Role.MASTER: (10, 10),
    Role.AGENT: (20, 60),
    Role.PUBLIC_AGENT: (80, 20),
}


# --- how much of the internet a set of CIDRs opens to ----------------------------------------------------

# A source set that covers this share of the IPv4 address space or more counts as "the world": a /1 alone
# is half the internet, and 0.0.0.0/1 + 128.0.0.0/1 is all of it. Compared by addresses, never by string.
WORLD_SHARE = 0.5
_IPV4_ADDRESSES = 2**32


def ipv4_share(cidrs: Iterable[str]) -> float:
    """The share (0..1) of the IPv4 address space the union of `cidrs` covers; overlaps count once.
    Entries that are not IPv4 networks are ignored (the callers report them)."""
    nets: list[ipaddress.IPv4Network] = []
    for text in cidrs:
        try:
            net = ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError:
            continue
        if isinstance(net, ipaddress.IPv4Network):
            nets.append(net)
    return sum(n.num_addresses for n in ipaddress.collapse_addresses(nets)) / _IPV4_ADDRESSES


def opens_to_world(cidrs: Iterable[str]) -> bool:
    """Whether the union of `cidrs` is (close enough to) the whole IPv4 internet: see WORLD_SHARE."""
    return ipv4_share(cidrs) >= WORLD_SHARE
