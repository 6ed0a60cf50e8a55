"""ClusterSpec: the stack configuration, typed, frozen and validated once before any resource exists.

`load_spec()` reads the `fastdata:` namespace of the stack config (and nothing else); `parse_spec()` is
the pure part, fed plain values, used by tests and by the policy pack. Every problem found is collected
and raised together in one `ConfigError` whose lines name the key and say what is allowed.

Components never call `pulumi.Config`: they receive a ClusterSpec.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.cluster import CLUSTER_NAME
from contract.problems import Collector, as_bool, as_int, as_str, obj
from contract.problems import field as _field
from contract.schema import (
    ARTIFACT_DEFAULTS,
    BOOTSTRAP_COUNTS,
    DCOS_DEFAULTS,
    DEFAULT_VERSIONS,
    DEMO_DEFAULTS,
    HDFS_DEFAULTS,
    KAFKA_DEFAULTS,
    MASTER_COUNTS,
    PUBLIC_PORTS_DEFAULT,
    ROLE_ORDER,
    SPARK_DEFAULTS,
    Cloud,
    Platform,
    Role,
)
from contract.settings import (
    Settings,
    parse_settings,
)
from infra import ports
from infra.errors import ConfigError
from infra.images import AZURE_IMAGES, LOCAL_IMAGE

NAMESPACE = "fastdata"


# --- the typed tree -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodePool:
    count: int
    size: str  # instance type (aws), VM size (azure), memory limit like "4G" (local)


@dataclass(frozen=True)
class NodeInstance:
    role: Role
    index: int
    size: str

    @property
    def name(self) -> str:
        return f"{self.role.node_prefix}-{self.index}"


@dataclass(frozen=True)
class Nodes:
    bootstrap: NodePool
    master: NodePool
    agent: NodePool
    public_agent: NodePool

    def pool(self, role: Role) -> NodePool:
        return {
            Role.BOOTSTRAP: self.bootstrap,
            Role.MASTER: self.master,
            Role.AGENT: self.agent,
            Role.PUBLIC_AGENT: self.public_agent,
        }[role]

    def instances(self) -> tuple[NodeInstance, ...]:
        """Every node, in inventory order: by role (bootstrap, master, agent, publicAgent), then index."""
        return tuple(
            NodeInstance(role, i, self.pool(role).size)
            for role in ROLE_ORDER
            for i in range(self.pool(role).count)
        )


@dataclass(frozen=True)
class LocalSpec:
    bridge: str
    subnet: str


@dataclass(frozen=True)
class ClusterSpec:
    project: str
    stack: str
    name: str
    cloud: Cloud
    platform: Platform
    region: str | None  # AWS region or Azure location; None on the local cloud
    image: str | None  # None on AWS: looked up in the region at deploy time (infra/images.py)
    ssh_user: str
    admin_cidrs: tuple[str, ...]
    allow_world_admin: bool
    nodes: Nodes
    settings: Settings  # the part the roles read, shipped in the inventory (contract/settings.py)
    local: LocalSpec  # defaults are filled on every cloud; only the local cloud uses them

    def tags(self, role: Role | None = None) -> dict[str, str]:
        """The tags every taggable resource carries (both clouds; the policy pack checks them)."""
        tags = {"project": self.project, "stack": self.stack, "cluster": self.name, "managed-by": "pulumi"}
        if role is not None:
            tags["role"] = role.value
        return tags

    def disk_gb(self, role: Role) -> int:
        """Root disk size. DC/OS wants 120 GB on masters and 60 GB free under /var on agents
        (docs/reference/dcos-mesos.md 1.5); the other platforms keep Kafka logs and Spark checkpoints on
        agents."""
        if self.platform is Platform.DCOS:
            return {Role.BOOTSTRAP: 60, Role.MASTER: 120}.get(role, 100)
        return 100 if role is Role.AGENT else 40

    @property
    def public_ports(self) -> tuple[int, ...]:
        return self.settings.public_ports


# --- declared keys and their defaults (Pulumi.yaml's `config:` block declares the same; a test checks) --

DEFAULTS: dict[str, Any] = {
    "platform": "standalone",
    "clusterName": "",  # "" -> "<project>-<stack>"
    "region": "",  # required on aws and azure
    "image": "",  # "" -> per cloud and platform, see default_image()
    "sshUser": "",  # "" -> per cloud and image, see default_ssh_user()
    "adminCidrs": [],
    "allowWorldAdmin": False,
    "nodes": {},  # per role; missing roles and fields come from default_nodes()
    "publicPorts": list(PUBLIC_PORTS_DEFAULT),
    "versions": dict(DEFAULT_VERSIONS),
    # brokers, replicationFactor and minInsyncReplicas adapt to the agent count (contract/schema.py)
    "kafka": dict(KAFKA_DEFAULTS),
    "spark": dict(SPARK_DEFAULTS),
    "hdfs": dict(HDFS_DEFAULTS),
    "demo": dict(DEMO_DEFAULTS),
    "dcos": dict(DCOS_DEFAULTS),
    "artifacts": dict(ARTIFACT_DEFAULTS),
    "local": {},  # only for cloud=local; fields default to LOCAL_DEFAULTS
}
REQUIRED_KEYS = ("cloud",)
KEYS: tuple[str, ...] = (*REQUIRED_KEYS, *DEFAULTS)
OBJECT_KEYS = frozenset({"nodes", "versions", "kafka", "spark", "hdfs", "demo", "dcos", "artifacts", "local"})
LIST_KEYS = frozenset({"adminCidrs", "publicPorts"})

LOCAL_DEFAULTS = {"bridge": "fdbr0", "subnet": "10.98.0.0/24"}

# Node sizes when the stack does not set one. DC/OS minimums: masters 4 cores / 32 GB, agents 2 cores /
# 16 GB (docs/reference/dcos-mesos.md 1.5); dcos-terraform's defaults are m4.xlarge / Standard_D4s_v3
# (docs/reference/anchors.md 1.1).
_SIZES: dict[Cloud, dict[Role, str]] = {
    Cloud.AWS: {
        Role.BOOTSTRAP: "t3.medium",
        Role.MASTER: "m5.large",
        Role.AGENT: "m5.xlarge",
        Role.PUBLIC_AGENT: "m5.large",
    },
    Cloud.AZURE: {
        Role.BOOTSTRAP: "Standard_B2ms",
        Role.MASTER: "Standard_D2s_v3",
        Role.AGENT: "Standard_D4s_v3",
        Role.PUBLIC_AGENT: "Standard_D2s_v3",
    },
    # memory limits of LXC containers: 3 + 3 x 4 + 2 = 17 GB fits the 24 GB reference host (DESIGN 5); the
    # master runs the Spark master, the HDFS NameNode, the producer and the processor's driver
    Cloud.LOCAL: {Role.BOOTSTRAP: "2G", Role.MASTER: "3G", Role.AGENT: "4G", Role.PUBLIC_AGENT: "2G"},
}
_DCOS_SIZES: dict[Cloud, dict[Role, str]] = {
    Cloud.AWS: {Role.MASTER: "m5.2xlarge", Role.AGENT: "m5.xlarge", Role.PUBLIC_AGENT: "m5.xlarge"},
    Cloud.AZURE: {
        Role.MASTER: "Standard_D8s_v3",
        Role.AGENT: "Standard_D4s_v3",
        Role.PUBLIC_AGENT: "Standard_D4s_v3",
    },
}
_SIZE_RULES: dict[Cloud, tuple[str, str]] = {
    Cloud.AWS: (r"[a-z][a-z0-9-]*\.[a-z0-9]+", "an EC2 instance type such as m5.xlarge"),
    Cloud.AZURE: (r"(Standard|Basic)_[A-Za-z0-9_]+", "an Azure VM size such as Standard_D4s_v3"),
    Cloud.LOCAL: (r"[1-9][0-9]*[MG]", "a container memory limit such as 4G or 512M"),
}

# Images: infra/images.py (AWS looks the AMI up when fastdata:image is not set, Azure has defaults).
_IMAGE_RULES: dict[Cloud, tuple[str, str]] = {
    Cloud.AWS: (r"ami-[0-9a-f]{8,17}", "an AMI id such as ami-0123456789abcdef0 (AMIs are per region)"),
    Cloud.AZURE: (r"[^:\s]+:[^:\s]+:[^:\s]+:[^:\s]+", "an image URN publisher:offer:sku:version"),
    Cloud.LOCAL: (r"debian-12", "debian-12 (the only base the local cloud builds)"),
}

_AWS_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")
_AZURE_LOCATION = re.compile(r"[a-z][a-z0-9]+")
_BRIDGE = re.compile(r"[a-z][a-z0-9_-]{0,14}")  # Linux interface names: at most 15 characters
_DOCKER_BRIDGE = ipaddress.ip_network("172.17.0.0/16")


def default_nodes(cloud: Cloud, platform: Platform) -> dict[Role, NodePool]:
    """Counts: one master, three agents (Kafka's three brokers need three), one public agent, and the
    bootstrap node DC/OS needs. Sizes: see _SIZES."""
    sizes = {**_SIZES[cloud], **(_DCOS_SIZES.get(cloud, {}) if platform is Platform.DCOS else {})}
    counts = {
        Role.BOOTSTRAP: BOOTSTRAP_COUNTS[platform],
        Role.MASTER: 1,
        Role.AGENT: 3,
        Role.PUBLIC_AGENT: 1,
    }
    return {role: NodePool(counts[role], sizes[role]) for role in ROLE_ORDER}


def default_image(cloud: Cloud, platform: Platform) -> str | None:
    """None on AWS: the program looks the AMI up in the stack's region (infra/images.py AMI_LOOKUPS)."""
    if cloud is Cloud.AZURE:
        return AZURE_IMAGES[platform]
    if cloud is Cloud.LOCAL:
        return LOCAL_IMAGE
    return None


def default_ssh_user(cloud: Cloud, platform: Platform) -> str:
    """The login user. AWS: the image's built-in user (Debian AMIs: admin; CentOS AMIs: centos).
    Azure creates the user we name (and refuses `admin`). Local containers: root, as LocalCluster injects
    the key for root."""
    if cloud is Cloud.AWS:
        return "centos" if platform is Platform.DCOS else "admin"
    if cloud is Cloud.AZURE:
        return "fastdata"
    return "root"


# --- parsing -------------------------------------------------------------------------------------------


class _Collector(Collector):
    """Stack-config problems name the key with its namespace: fastdata:kafka.brokers."""

    def __init__(self) -> None:
        super().__init__(f"{NAMESPACE}:")


def _decode(raw: Any, key: str) -> Any:
    """Stack config reaches the program as strings (objects and lists as JSON); tests and the policy pack
    pass native values. Accept both."""
    if isinstance(raw, str) and (key in OBJECT_KEYS or key in LIST_KEYS):
        return json.loads(raw)
    return raw


def _object(
    c: _Collector, raw: Mapping[str, Any], key: str, allowed: set[str] | frozenset[str]
) -> dict[str, Any]:
    return obj(c, raw.get(key, DEFAULTS.get(key)), key, allowed)


def parse_spec(raw_config: Mapping[str, Any], project: str, stack: str) -> ClusterSpec:
    """Build and validate a ClusterSpec from the `fastdata:` keys (without the namespace prefix).

    Raises ConfigError listing every problem. Values may be native (YAML, tests) or strings (Pulumi).
    """
    c = _Collector()
    raw: dict[str, Any] = {}
    for key, value in raw_config.items():
        if key not in KEYS:
            c.add(key, f"unknown key; the fastdata keys are: {', '.join(sorted(KEYS))}")
            continue
        try:
            raw[key] = _decode(value, key)
        except json.JSONDecodeError as err:
            c.add(key, f"is not valid JSON ({err.msg}); set it as a YAML object/list in the stack file")

    # cloud and platform first: most defaults depend on them
    cloud_raw = raw.get("cloud")
    cloud: Cloud | None = None
    if cloud_raw is None or cloud_raw == "":
        c.add("cloud", f"is required; one of {', '.join(Cloud)}")
    elif cloud_raw not in set(Cloud):
        c.add("cloud", f"must be one of {', '.join(Cloud)} (got {cloud_raw!r})")
    else:
        cloud = Cloud(cloud_raw)
    platform_raw = raw.get("platform", DEFAULTS["platform"])
    platform: Platform | None = None
    if platform_raw not in set(Platform):
        c.add("platform", f"must be one of {', '.join(Platform)} (got {platform_raw!r})")
    else:
        platform = Platform(platform_raw)
    if cloud is None or platform is None:
        # without them, node, image and user defaults are unknown; report what we can check anyway
        _parse_settings(c, raw, platform, _agent_count_hint(raw))
        raise ConfigError(c.problems)

    name = raw.get("clusterName") or f"{project}-{stack}"
    c.check(
        isinstance(name, str) and bool(CLUSTER_NAME.fullmatch(name)),
        "clusterName",
        "must be 2-40 characters of lowercase letters, digits and '-', starting with a letter "
        f"(it names cloud resources and hosts; got {name!r})",
    )

    region = _parse_region(c, raw, cloud)
    image = _parse_image(c, raw, cloud, platform)
    ssh_user = raw.get("sshUser") or default_ssh_user(cloud, platform)
    c.check(
        isinstance(ssh_user, str)
        and bool(re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", ssh_user))
        and not (cloud is Cloud.AZURE and ssh_user in _AZURE_RESERVED_USERS),
        "sshUser",
        "must be a Linux user name (lowercase, at most 32 characters)"
        + (f"; Azure refuses {', '.join(sorted(_AZURE_RESERVED_USERS))}" if cloud is Cloud.AZURE else ""),
    )

    allow_world = as_bool(raw.get("allowWorldAdmin", False))
    if allow_world is None:
        c.add("allowWorldAdmin", "must be true or false")
        allow_world = False
    admin_cidrs = _parse_admin_cidrs(c, raw, cloud, allow_world)
    nodes = _parse_nodes(c, raw, cloud, platform)
    settings = _parse_settings(c, raw, platform, nodes.agent.count)
    local = _parse_local(c, raw, cloud, nodes)
    _parse_cloud_network(c, cloud, nodes)

    # cross-key rules
    if settings.demo.enabled:
        c.check(
            nodes.public_agent.count >= 1,
            "nodes.publicAgent.count",
            "must be at least 1 while fastdata:demo.enabled is true (the dashboard and InfluxDB "
            "run on a public agent)",
        )

    if c.problems:
        raise ConfigError(c.problems)
    return ClusterSpec(
        project=project,
        stack=stack,
        name=name,
        cloud=cloud,
        platform=platform,
        region=region,
        image=image,
        ssh_user=ssh_user,
        admin_cidrs=admin_cidrs,
        allow_world_admin=allow_world,
        nodes=nodes,
        settings=settings,
        local=local,
    )


_AZURE_RESERVED_USERS = frozenset({"admin", "administrator", "root", "user", "guest", "test", "azureuser1"})


def _parse_region(c: _Collector, raw: Mapping[str, Any], cloud: Cloud) -> str | None:
    region = raw.get("region") or None
    if cloud is Cloud.LOCAL:
        c.check(region is None, "region", "is only for aws and azure; remove it from a local stack")
        return None
    if region is None:
        example = "eu-west-1" if cloud is Cloud.AWS else "westeurope"
        c.add(
            "region",
            f"is required for cloud={cloud}: the {cloud} region to create the cluster in (e.g. {example})",
        )
        return None
    pattern = _AWS_REGION if cloud is Cloud.AWS else _AZURE_LOCATION
    expected = "an AWS region like eu-west-1" if cloud is Cloud.AWS else "an Azure location like westeurope"
    c.check(
        isinstance(region, str) and bool(pattern.fullmatch(region)),
        "region",
        f"must be {expected} (got {region!r})",
    )
    return str(region)


def _parse_image(c: _Collector, raw: Mapping[str, Any], cloud: Cloud, platform: Platform) -> str | None:
    """The image to boot, or None on AWS when the program is to look it up (the default)."""
    image = raw.get("image") or default_image(cloud, platform)
    if image is None:
        return None
    pattern, expected = _IMAGE_RULES[cloud]
    c.check(
        isinstance(image, str) and bool(re.fullmatch(pattern, image)),
        "image",
        f"must be {expected} (got {image!r})",
    )
    return str(image)


def _parse_admin_cidrs(
    c: _Collector, raw: Mapping[str, Any], cloud: Cloud, allow_world: bool
) -> tuple[str, ...]:
    value = raw.get("adminCidrs", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        c.add("adminCidrs", f"must be a list of IPv4 CIDRs such as [203.0.113.0/24] (got {value!r})")
        return ()
    if cloud is not Cloud.LOCAL and not value:
        c.add(
            "adminCidrs",
            f"is required for cloud={cloud}: the IPv4 CIDRs operators connect from "
            "(SSH and the UIs are open to these only), e.g. [203.0.113.7/32]",
        )
    cidrs: list[str] = []
    for i, text in enumerate(value):
        try:
            net = ipaddress.ip_network(text.strip(), strict=True)
        except ValueError as err:
            c.add(f"adminCidrs[{i}]", f"is not a CIDR ({err})")
            continue
        if net.version != 4:
            c.add(f"adminCidrs[{i}]", "only IPv4 CIDRs are supported (the clusters are IPv4-only)")
            continue
        if ports.opens_to_world([str(net)]) and not allow_world:
            c.add(
                f"adminCidrs[{i}]",
                f"{net} opens SSH and the admin UIs to {_share(ports.ipv4_share([str(net)]))} of the "
                "internet; use your own address range, or set fastdata:allowWorldAdmin: true to insist",
            )
            continue
        cidrs.append(str(net))
    # by address coverage, not by string: 0.0.0.0/1 + 128.0.0.0/1 is the world too
    share = ports.ipv4_share(cidrs)
    if len(cidrs) > 1 and ports.opens_to_world(cidrs) and not allow_world:
        c.add(
            "adminCidrs",
            f"{', '.join(cidrs)} together cover {_share(share)} of the IPv4 internet, which opens SSH and "
            "the admin UIs to the world; use your own address ranges, or set "
            "fastdata:allowWorldAdmin: true to insist",
        )
        return ()
    return tuple(cidrs)


def _share(fraction: float) -> str:
    return "all" if fraction >= 1 else f"{fraction:.0%}"


_ROLE_KEYS = {role.value: role for role in ROLE_ORDER}


def _parse_nodes(c: _Collector, raw: Mapping[str, Any], cloud: Cloud, platform: Platform) -> Nodes:
    defaults = default_nodes(cloud, platform)
    given = _object(c, raw, "nodes", set(_ROLE_KEYS))
    size_pattern, size_expected = _SIZE_RULES[cloud]
    pools: dict[Role, NodePool] = {}
    for key, role in _ROLE_KEYS.items():
        entry = given.get(key, {})
        if not isinstance(entry, Mapping):
            c.add(f"nodes.{key}", f"must be an object {{count, size}} (got {entry!r})")
            entry = {}
        for unknown in sorted(set(entry) - {"count", "size"}):
            c.add(f"nodes.{key}.{unknown}", "unknown key; allowed: count, size")
        count = _field(c, entry, f"nodes.{key}", "count", defaults[role].count, as_int, "an integer")
        size = _field(c, entry, f"nodes.{key}", "size", defaults[role].size, as_str, "a string")
        if count < 0:
            c.add(f"nodes.{key}.count", f"must not be negative (got {count})")
        if not re.fullmatch(size_pattern, size):
            c.add(f"nodes.{key}.size", f"must be {size_expected} for cloud={cloud} (got {size!r})")
        pools[role] = NodePool(count, size)

    allowed_masters = MASTER_COUNTS[platform]
    c.check(
        pools[Role.MASTER].count in allowed_masters,
        "nodes.master.count",
        f"must be one of {', '.join(map(str, allowed_masters))} for platform={platform} (an odd quorum; "
        f"got {pools[Role.MASTER].count}). The master count cannot change after install.",
    )
    wanted_bootstrap = BOOTSTRAP_COUNTS[platform]
    c.check(
        pools[Role.BOOTSTRAP].count == wanted_bootstrap,
        "nodes.bootstrap.count",
        f"must be {wanted_bootstrap} for platform={platform} (only DC/OS has a bootstrap node; "
        f"got {pools[Role.BOOTSTRAP].count})",
    )
    c.check(
        pools[Role.AGENT].count != 0,
        "nodes.agent.count",
        "must be at least 1 (Kafka and Spark run on agents)",
    )
    return Nodes(pools[Role.BOOTSTRAP], pools[Role.MASTER], pools[Role.AGENT], pools[Role.PUBLIC_AGENT])


def _agent_count_hint(raw: Mapping[str, Any]) -> int:
    """The agent count when the nodes cannot be parsed (cloud or platform invalid): for the settings'
    checks only."""
    nodes = raw.get("nodes")
    agent = nodes.get("agent") if isinstance(nodes, Mapping) else None
    count = as_int(agent.get("count")) if isinstance(agent, Mapping) else None
    return count if count is not None and count > 0 else 3


def _parse_settings(
    c: _Collector, raw: Mapping[str, Any], platform: Platform | None, agents: int
) -> Settings:
    """The keys the roles read: contract/settings.py, the parser that also reads them back from the
    inventory; publicPorts are checked against the port matrix too, which only the infra side has."""
    forbidden = ports.unpublishable_ports(platform.value if platform else None)
    return parse_settings(c, raw, agents, "fastdata:nodes.agent.count", forbidden)


def _parse_local(c: _Collector, raw: Mapping[str, Any], cloud: Cloud, nodes: Nodes) -> LocalSpec:
    given = _object(c, raw, "local", set(LOCAL_DEFAULTS))
    if given and cloud is not Cloud.LOCAL:
        c.add("local", f"is only for cloud=local; remove it from a {cloud} stack")
    bridge = _field(c, given, "local", "bridge", LOCAL_DEFAULTS["bridge"], as_str, "a string")
    subnet = _field(c, given, "local", "subnet", LOCAL_DEFAULTS["subnet"], as_str, "a string")
    c.check(
        bool(_BRIDGE.fullmatch(bridge)),
        "local.bridge",
        f"must be a Linux interface name (at most 15 characters: letters, digits, '-', '_'; got {bridge!r})",
    )
    try:
        net = ipaddress.ip_network(subnet, strict=True)
    except ValueError as err:
        c.add("local.subnet", f"must be an IPv4 network such as 10.98.0.0/24 ({err})")
        return LocalSpec(bridge, subnet)
    if net.version != 4 or not net.is_private or net.prefixlen > 24:
        # LocalCluster lays addresses out per role in a /24 (infra/local.py ADDRESS_PLAN)
        c.add("local.subnet", f"must be a private IPv4 network of /24 or larger (got {net})")
    elif net.overlaps(_DOCKER_BRIDGE):
        c.add("local.subnet", f"{net} overlaps Docker's default bridge 172.17.0.0/16; pick another range")
    elif cloud is Cloud.LOCAL:
        # network, broadcast and the bridge's own address are not for nodes
        rooms = {role: room for role, (_first, room) in ports.LOCAL_ADDRESS_PLAN.items()}
        check_network_room(c, nodes, f"fastdata:local.subnet {net}", net.num_addresses - 3, rooms)
    return LocalSpec(bridge, str(net))


def _parse_cloud_network(c: _Collector, cloud: Cloud, nodes: Nodes) -> None:
    """AWS and Azure place every node at a fixed address derived from its ordinal in each subnet
    (infra/ports.py node_address): the ordinals must fit a subnet."""
    if cloud is Cloud.LOCAL:
        return
    subnet = ports.subnet_cidrs(1)[0]
    check_network_room(
        c, nodes, f"the {cloud} subnets (/{subnet.split('/')[1]}, e.g. {subnet})", ports.node_room(subnet)
    )


def check_network_room(
    c: Collector, nodes: Nodes, network: str, room: int, role_rooms: Mapping[Role, int] | None = None
) -> None:
    """One rule for every cloud: the nodes must fit the addresses the cloud's layout has for them. The
    agent count is the one people grow, so a cluster that is too big is reported on it."""
    for role, role_room in (role_rooms or {}).items():
        count = nodes.pool(role).count
        c.check(
            count <= role_room,
            f"nodes.{role.value}.count",
            f"is {count}, but {network} has addresses for at most {role_room} {role.value} nodes",
        )
    total = len(nodes.instances())
    c.check(
        total <= room,
        "nodes.agent.count",
        f"is {nodes.agent.count}, making {total} nodes in all, but {network} addresses at most {room} "
        "nodes; lower fastdata:nodes.agent.count (or the other counts)",
    )


# --- reading stack config ------------------------------------------------------------------------------


def _present_keys() -> set[str]:
    """Every `fastdata:` key set on the stack, so misspelt keys are reported instead of ignored."""
    from pulumi.runtime import config as runtime_config  # the SDK's own config store

    names = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    prefix = f"{NAMESPACE}:"
    return {n[len(prefix) :] for n in names if n.startswith(prefix)}


def load_spec() -> ClusterSpec:
    """Read the `fastdata:` stack config once and validate it. Call before declaring any resource."""
    import pulumi

    cfg = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    for key in sorted(_present_keys() | set(KEYS)):
        value = cfg.get(key)
        if value is not None:
            raw[key] = value
    return parse_spec(raw, project=pulumi.get_project(), stack=pulumi.get_stack())
