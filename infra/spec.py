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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from infra import ports
from infra.errors import ConfigError, Problem

NAMESPACE = "fastdata"


class Cloud(StrEnum):
    LOCAL = "local"
    AWS = "aws"
    AZURE = "azure"


class Platform(StrEnum):
    STANDALONE = "standalone"
    MESOS = "mesos"
    DCOS = "dcos"


class Role(StrEnum):
    """Node roles, spelled exactly as in the inventory (docs/contracts.md)."""

    BOOTSTRAP = "bootstrap"
    MASTER = "master"
    AGENT = "agent"
    PUBLIC_AGENT = "publicAgent"

    @property
    def node_prefix(self) -> str:
        """Node names: bootstrap-0, master-N, agent-N, public-agent-N."""
        return "public-agent" if self is Role.PUBLIC_AGENT else self.value


ROLE_ORDER: tuple[Role, ...] = (Role.BOOTSTRAP, Role.MASTER, Role.AGENT, Role.PUBLIC_AGENT)


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
class Versions:
    kafka: str
    spark: str
    dcos: str
    mesos: str
    marathon: str
    zookeeper: str
    influxdb: str


@dataclass(frozen=True)
class KafkaSettings:
    brokers: int
    replication_factor: int
    min_insync_replicas: int
    partitions: int


@dataclass(frozen=True)
class DemoSettings:
    enabled: bool
    dataset: str
    speedup: float
    max_events_per_second: int


@dataclass(frozen=True)
class Artifacts:
    dcos_installer_url: str | None
    dcos_installer_sha256: str | None
    mesos_package_source: str | None
    mesos_package_sha256: str | None
    marathon_package_source: str | None
    marathon_package_sha256: str | None
    cache_dir: str | None  # None: the control machine's default, $FASTDATA_CACHE/artifacts


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
    image: str
    ssh_user: str
    admin_cidrs: tuple[str, ...]
    allow_world_admin: bool
    nodes: Nodes
    public_ports: tuple[int, ...]
    versions: Versions
    kafka: KafkaSettings
    demo: DemoSettings
    artifacts: Artifacts
    local: LocalSpec  # defaults are filled on every cloud; only the local cloud uses them

    def tags(self, role: Role | None = None) -> dict[str, str]:
        """The tags every taggable resource carries (both clouds; the policy pack checks them)."""
        tags = {"project": self.project, "stack": self.stack, "cluster": self.name, "managed-by": "pulumi"}
        if role is not None:
            tags["role"] = role.value
        return tags

    def disk_gb(self, role: Role) -> int:
        """Root disk size. DC/OS wants 120 GB on masters and 60 GB free under /var on agents
        (dcos-mesos.md 1.5); the other platforms keep Kafka logs and Spark checkpoints on agents."""
        if self.platform is Platform.DCOS:
            return {Role.BOOTSTRAP: 60, Role.MASTER: 120}.get(role, 100)
        return 100 if role is Role.AGENT else 40

    def to_settings(self) -> dict[str, Any]:
        """The `settings` part of the inventory: the spec slices the roles need, camelCase."""
        return {
            "versions": {
                "kafka": self.versions.kafka,
                "spark": self.versions.spark,
                "dcos": self.versions.dcos,
                "mesos": self.versions.mesos,
                "marathon": self.versions.marathon,
                "zookeeper": self.versions.zookeeper,
                "influxdb": self.versions.influxdb,
            },
            "kafka": {
                "brokers": self.kafka.brokers,
                "replicationFactor": self.kafka.replication_factor,
                "minInsyncReplicas": self.kafka.min_insync_replicas,
                "partitions": self.kafka.partitions,
            },
            "demo": {
                "enabled": self.demo.enabled,
                "dataset": self.demo.dataset,
                "speedup": self.demo.speedup,
                "maxEventsPerSecond": self.demo.max_events_per_second,
            },
            "artifacts": {
                "dcosInstallerUrl": self.artifacts.dcos_installer_url,
                "dcosInstallerSha256": self.artifacts.dcos_installer_sha256,
                "mesosPackageSource": self.artifacts.mesos_package_source,
                "mesosPackageSha256": self.artifacts.mesos_package_sha256,
                "marathonPackageSource": self.artifacts.marathon_package_source,
                "marathonPackageSha256": self.artifacts.marathon_package_sha256,
                "cacheDir": self.artifacts.cache_dir,
            },
            "publicPorts": list(self.public_ports),
        }


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
    "publicPorts": [80, 443],
    "versions": {
        "kafka": "3.9.1",
        "spark": "3.5.7",
        "dcos": "2.2.1",
        "mesos": "1.11.0",
        "marathon": "1.11.24",
        "zookeeper": "3.8.4",
        "influxdb": "1.6.7",
    },
    "kafka": {"brokers": 3, "replicationFactor": 3, "minInsyncReplicas": 2, "partitions": 6},
    "demo": {
        "enabled": True,
        "dataset": "data/chicago-crimes-2015-10-17_18.csv",
        "speedup": 60.0,
        "maxEventsPerSecond": 500,
    },
    "artifacts": {
        "dcosInstallerUrl": None,
        "dcosInstallerSha256": None,
        "mesosPackageSource": None,
        "mesosPackageSha256": None,
        "marathonPackageSource": None,
        "marathonPackageSha256": None,
        "cacheDir": None,  # None: $FASTDATA_CACHE/artifacts
    },
    "local": {},  # only for cloud=local; fields default to LOCAL_DEFAULTS
}
REQUIRED_KEYS = ("cloud",)
KEYS: tuple[str, ...] = (*REQUIRED_KEYS, *DEFAULTS)
OBJECT_KEYS = frozenset({"nodes", "versions", "kafka", "demo", "artifacts", "local"})
LIST_KEYS = frozenset({"adminCidrs", "publicPorts"})

LOCAL_DEFAULTS = {"bridge": "fdbr0", "subnet": "10.98.0.0/24"}

# Version lines the project supports (DESIGN 3.1; reference dcos-mesos.md 0).
VERSION_RULES: dict[str, tuple[str, str]] = {
    "kafka": (r"3\.9\.\d+", "3.9.x (the last Kafka line with both ZooKeeper and KRaft modes)"),
    "spark": (r"3\.5\.\d+", "3.5.x (the last Spark line with Mesos support)"),
    "dcos": (r"2\.2\.\d+", "2.2.x (the last open-source DC/OS line)"),
    "mesos": (r"1\.11\.\d+", "1.11.x (the last Apache Mesos release line)"),
    "marathon": (r"1\.11\.\d+", "1.11.x (the line DC/OS 2.2 ships)"),
    "zookeeper": (r"3\.[5-9]\.\d+", "3.5.x to 3.9.x"),
    "influxdb": (r"1\.\d+\.\d+", "an InfluxDB 1.x version (the demo writes with the 1.x API)"),
}

_MASTER_COUNTS = {Platform.DCOS: (1, 3, 5, 7, 9)}
_DEFAULT_MASTER_COUNTS = (1, 3, 5)

# Node sizes when the stack does not set one. DC/OS minimums: masters 4 cores / 32 GB, agents 2 cores /
# 16 GB (dcos-mesos.md 1.5); dcos-terraform's defaults are m4.xlarge / Standard_D4s_v3 (anchors.md 1.1).
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
    # memory limits of LXC containers: 2 + 3 x 4 + 2 = 16 GB fits the 24 GB reference host (DESIGN 5)
    Cloud.LOCAL: {Role.BOOTSTRAP: "2G", Role.MASTER: "2G", Role.AGENT: "4G", Role.PUBLIC_AGENT: "2G"},
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

# Azure marketplace images are the same in every location, so they can default. AWS AMI ids differ per
# region and account, and looking one up needs the cloud; the stack must name it (see stacks/*aws*.yaml).
# DC/OS 2.2 supports CentOS/RHEL 7 and Flatcar only (dcos-mesos.md 0): CentOS 7.9, EOL since June 2024,
# is the one free image of those on both clouds; yum needs the vault mirrors (handled by the dcos role).
_AZURE_IMAGES = {
    Platform.DCOS: "OpenLogic:CentOS:7_9-gen2:latest",
    Platform.MESOS: "Debian:debian-12:12-gen2:latest",
    Platform.STANDALONE: "Debian:debian-12:12-gen2:latest",
}
_LOCAL_IMAGE = "debian-12"  # the debootstrap-built base of infra/lxc.py
_IMAGE_RULES: dict[Cloud, tuple[str, str]] = {
    Cloud.AWS: (r"ami-[0-9a-f]{8,17}", "an AMI id such as ami-0123456789abcdef0 (AMIs are per region)"),
    Cloud.AZURE: (r"[^:\s]+:[^:\s]+:[^:\s]+:[^:\s]+", "an image URN publisher:offer:sku:version"),
    Cloud.LOCAL: (r"debian-12", "debian-12 (the only base the local cloud builds)"),
}

_ARTIFACT_URL = re.compile(r"(https?|file)://\S+")
_CLUSTER_NAME = re.compile(r"[a-z][a-z0-9-]{0,38}[a-z0-9]")
_AWS_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")
_AZURE_LOCATION = re.compile(r"[a-z][a-z0-9]+")
_BRIDGE = re.compile(r"[a-z][a-z0-9_-]{0,14}")  # Linux interface names: at most 15 characters
_DOCKER_BRIDGE = ipaddress.ip_network("172.17.0.0/16")


def default_nodes(cloud: Cloud, platform: Platform) -> dict[Role, NodePool]:
    """Counts: one master, three agents (Kafka's three brokers need three), one public agent, and the
    bootstrap node DC/OS needs. Sizes: see _SIZES."""
    sizes = {**_SIZES[cloud], **(_DCOS_SIZES.get(cloud, {}) if platform is Platform.DCOS else {})}
    counts = {
        Role.BOOTSTRAP: 1 if platform is Platform.DCOS else 0,
        Role.MASTER: 1,
        Role.AGENT: 3,
        Role.PUBLIC_AGENT: 1,
    }
    return {role: NodePool(counts[role], sizes[role]) for role in ROLE_ORDER}


def default_image(cloud: Cloud, platform: Platform) -> str | None:
    if cloud is Cloud.AZURE:
        return _AZURE_IMAGES[platform]
    if cloud is Cloud.LOCAL:
        return _LOCAL_IMAGE
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

T = TypeVar("T")


class _Collector:
    """Collects problems so that one run reports all of them."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(Problem(f"{NAMESPACE}:{key}", message))

    def check(self, ok: bool, key: str, message: str) -> bool:
        if not ok:
            self.add(key, message)
        return ok


def _decode(raw: Any, key: str) -> Any:
    """Stack config reaches the program as strings (objects and lists as JSON); tests and the policy pack
    pass native values. Accept both."""
    if isinstance(raw, str) and (key in OBJECT_KEYS or key in LIST_KEYS):
        return json.loads(raw)
    return raw


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _field(
    c: _Collector,
    obj: Mapping[str, Any],
    key: str,
    name: str,
    default: T,
    convert: Callable[[Any], T | None],
    expected: str,
) -> T:
    """One field of an object-valued key: converted, or the default with a problem recorded."""
    if name not in obj or obj[name] is None:
        return default
    value = convert(obj[name])
    if value is None:
        c.add(f"{key}.{name}", f"must be {expected} (got {obj[name]!r})")
        return default
    return value


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _object(
    c: _Collector, raw: Mapping[str, Any], key: str, allowed: set[str] | frozenset[str]
) -> dict[str, Any]:
    value = raw.get(key, DEFAULTS.get(key))
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        c.add(key, f"must be an object with keys {sorted(allowed)} (got {value!r})")
        return {}
    for unknown in sorted(set(value) - set(allowed)):
        c.add(f"{key}.{unknown}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
    return dict(value)


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
        _parse_independent(c, raw)
        raise ConfigError(c.problems)

    name = raw.get("clusterName") or f"{project}-{stack}"
    c.check(
        isinstance(name, str) and bool(_CLUSTER_NAME.fullmatch(name)),
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

    allow_world = _as_bool(raw.get("allowWorldAdmin", False))
    if allow_world is None:
        c.add("allowWorldAdmin", "must be true or false")
        allow_world = False
    admin_cidrs = _parse_admin_cidrs(c, raw, cloud, allow_world)
    nodes = _parse_nodes(c, raw, cloud, platform)
    public_ports, versions, kafka, demo, artifacts = _parse_independent(c, raw, platform)
    local = _parse_local(c, raw, cloud, nodes)

    # cross-key rules
    c.check(
        kafka.brokers <= nodes.agent.count,
        "kafka.brokers",
        f"is {kafka.brokers} but fastdata:nodes.agent.count is {nodes.agent.count}: brokers run one per "
        "agent, so add agents or lower brokers",
    )
    if demo.enabled:
        c.check(
            nodes.public_agent.count >= 1,
            "nodes.publicAgent.count",
            "must be at least 1 while fastdata:demo.enabled is true (the dashboard and InfluxDB "
            "run on a public agent)",
        )

    if c.problems:
        raise ConfigError(c.problems)
    assert image is not None  # a missing image was reported above
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
        public_ports=public_ports,
        versions=versions,
        kafka=kafka,
        demo=demo,
        artifacts=artifacts,
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
    image = raw.get("image") or default_image(cloud, platform)
    if image is None:
        os_hint = "CentOS 7 (DC/OS 2.2 supports CentOS/RHEL 7)" if platform is Platform.DCOS else "Debian 12"
        c.add(
            "image",
            f"is required for cloud=aws: the {os_hint} AMI id of your region, e.g. "
            "ami-0123456789abcdef0 (AMI ids differ per region and cannot be looked up offline)",
        )
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
        if net.prefixlen == 0 and not allow_world:
            c.add(
                f"adminCidrs[{i}]",
                f"{net} opens SSH and the admin UIs to the whole internet; use your "
                "own address range, or set fastdata:allowWorldAdmin: true to insist",
            )
            continue
        cidrs.append(str(net))
    return tuple(cidrs)


_ROLE_KEYS = {
    "bootstrap": Role.BOOTSTRAP,
    "master": Role.MASTER,
    "agent": Role.AGENT,
    "publicAgent": Role.PUBLIC_AGENT,
}


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
        count = _field(c, entry, f"nodes.{key}", "count", defaults[role].count, _as_int, "an integer")
        size = _field(c, entry, f"nodes.{key}", "size", defaults[role].size, _str_or_none, "a string")
        if count < 0:
            c.add(f"nodes.{key}.count", f"must not be negative (got {count})")
        if not re.fullmatch(size_pattern, size):
            c.add(f"nodes.{key}.size", f"must be {size_expected} for cloud={cloud} (got {size!r})")
        pools[role] = NodePool(count, size)

    allowed_masters = _MASTER_COUNTS.get(platform, _DEFAULT_MASTER_COUNTS)
    c.check(
        pools[Role.MASTER].count in allowed_masters,
        "nodes.master.count",
        f"must be one of {', '.join(map(str, allowed_masters))} for platform={platform} (an odd quorum; "
        f"got {pools[Role.MASTER].count}). The master count cannot change after install.",
    )
    wanted_bootstrap = 1 if platform is Platform.DCOS else 0
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


def _parse_independent(
    c: _Collector, raw: Mapping[str, Any], platform: Platform | None = None
) -> tuple[tuple[int, ...], Versions, KafkaSettings, DemoSettings, Artifacts]:
    """The keys whose validation does not depend on cloud (so they are checked even when cloud is bad)."""
    return (
        _parse_public_ports(c, raw, platform),
        _parse_versions(c, raw),
        _parse_kafka(c, raw),
        _parse_demo(c, raw),
        _parse_artifacts(c, raw),
    )


def _parse_public_ports(c: _Collector, raw: Mapping[str, Any], platform: Platform | None) -> tuple[int, ...]:
    value = raw.get("publicPorts", DEFAULTS["publicPorts"])
    if not isinstance(value, list):
        c.add("publicPorts", f"must be a list of TCP ports such as [80, 443] (got {value!r})")
        return ()
    forbidden = ports.unpublishable_ports(platform.value if platform else None)
    result: list[int] = []
    for i, item in enumerate(value):
        port = _as_int(item)
        if port is None or not 1 <= port <= 65535:
            c.add(f"publicPorts[{i}]", f"must be a TCP port 1-65535 (got {item!r})")
        elif port in forbidden:
            c.add(f"publicPorts[{i}]", f"{port} must not be open to the world: {forbidden[port]}")
        elif port in result:
            c.add(f"publicPorts[{i}]", f"{port} is listed twice")
        else:
            result.append(port)
    return tuple(sorted(result))


def _parse_versions(c: _Collector, raw: Mapping[str, Any]) -> Versions:
    defaults = DEFAULTS["versions"]
    given = _object(c, raw, "versions", set(defaults))
    values: dict[str, str] = {}
    for name, (pattern, expected) in VERSION_RULES.items():
        value = given.get(name, defaults[name])
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            c.add(f"versions.{name}", f"must be {expected} (got {value!r})")
            value = defaults[name]
        values[name] = value
    return Versions(**values)


def _parse_kafka(c: _Collector, raw: Mapping[str, Any]) -> KafkaSettings:
    d = DEFAULTS["kafka"]
    given = _object(c, raw, "kafka", set(d))
    brokers = _field(c, given, "kafka", "brokers", d["brokers"], _as_int, "an integer")
    rf = _field(c, given, "kafka", "replicationFactor", d["replicationFactor"], _as_int, "an integer")
    isr = _field(c, given, "kafka", "minInsyncReplicas", d["minInsyncReplicas"], _as_int, "an integer")
    partitions = _field(c, given, "kafka", "partitions", d["partitions"], _as_int, "an integer")
    c.check(brokers >= 1, "kafka.brokers", f"must be at least 1 (got {brokers})")
    c.check(
        1 <= rf <= max(brokers, 1),
        "kafka.replicationFactor",
        f"must be between 1 and fastdata:kafka.brokers ({brokers}) (got {rf})",
    )
    c.check(
        1 <= isr <= max(rf, 1),
        "kafka.minInsyncReplicas",
        f"must be between 1 and fastdata:kafka.replicationFactor ({rf}) (got {isr}); "
        "equal to it means one broker down stops all writes",
    )
    c.check(partitions >= 1, "kafka.partitions", f"must be at least 1 (got {partitions})")
    return KafkaSettings(brokers, rf, isr, partitions)


def _parse_demo(c: _Collector, raw: Mapping[str, Any]) -> DemoSettings:
    d = DEFAULTS["demo"]
    given = _object(c, raw, "demo", set(d))
    enabled = _field(c, given, "demo", "enabled", d["enabled"], _as_bool, "true or false")
    dataset = _field(c, given, "demo", "dataset", d["dataset"], _str_or_none, "a path or URL")
    speedup = _field(c, given, "demo", "speedup", d["speedup"], _as_float, "a number")
    rate = _field(c, given, "demo", "maxEventsPerSecond", d["maxEventsPerSecond"], _as_int, "an integer")
    c.check(bool(dataset.strip()), "demo.dataset", "must not be empty")
    c.check(speedup > 0, "demo.speedup", f"must be greater than 0 (got {speedup})")
    c.check(rate >= 1, "demo.maxEventsPerSecond", f"must be at least 1 (got {rate})")
    return DemoSettings(enabled, dataset, speedup, rate)


def _parse_artifacts(c: _Collector, raw: Mapping[str, Any]) -> Artifacts:
    d = DEFAULTS["artifacts"]
    given = _object(c, raw, "artifacts", set(d))
    fields: dict[str, str | None] = {}
    for name in d:
        value = given.get(name, d[name])
        if value is not None and not (isinstance(value, str) and value.strip()):
            c.add(f"artifacts.{name}", f"must be a non-empty string or absent (got {value!r})")
            value = d[name]
        fields[name] = value
    url, sha = fields["dcosInstallerUrl"], fields["dcosInstallerSha256"]
    if url is not None:
        c.check(
            bool(_ARTIFACT_URL.fullmatch(url)),
            "artifacts.dcosInstallerUrl",
            f"must be an http(s):// or file:// URL of dcos_generate_config.sh (got {url!r})",
        )
        c.check(
            sha is not None,
            "artifacts.dcosInstallerSha256",
            "is required with fastdata:artifacts.dcosInstallerUrl: the installer is verified before use",
        )
    for name in ("dcosInstallerSha256", "mesosPackageSha256", "marathonPackageSha256"):
        if fields[name] is not None:
            c.check(
                bool(re.fullmatch(r"[0-9a-f]{64}", fields[name] or "")),
                f"artifacts.{name}",
                "must be 64 lowercase hex characters (a SHA-256)",
            )
    for package in ("mesos", "marathon"):
        source = fields[f"{package}PackageSource"]
        if source is not None:
            c.check(
                bool(_ARTIFACT_URL.fullmatch(source)) or source.startswith("/"),
                f"artifacts.{package}PackageSource",
                f"must be an http(s):// or file:// URL or an absolute path (got {source!r})",
            )
            c.check(
                fields[f"{package}PackageSha256"] is not None,
                f"artifacts.{package}PackageSha256",
                f"is required with fastdata:artifacts.{package}PackageSource: the package is verified "
                "before use",
            )
    return Artifacts(
        url,
        sha,
        fields["mesosPackageSource"],
        fields["mesosPackageSha256"],
        fields["marathonPackageSource"],
        fields["marathonPackageSha256"],
        fields["cacheDir"],
    )


def _parse_local(c: _Collector, raw: Mapping[str, Any], cloud: Cloud, nodes: Nodes) -> LocalSpec:
    given = _object(c, raw, "local", set(LOCAL_DEFAULTS))
    if given and cloud is not Cloud.LOCAL:
        c.add("local", f"is only for cloud=local; remove it from a {cloud} stack")
    bridge = _field(c, given, "local", "bridge", LOCAL_DEFAULTS["bridge"], _str_or_none, "a string")
    subnet = _field(c, given, "local", "subnet", LOCAL_DEFAULTS["subnet"], _str_or_none, "a string")
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
    elif cloud is Cloud.LOCAL and net.num_addresses - 3 < len(nodes.instances()):
        # network, broadcast and the bridge's own address are not for nodes
        c.add(
            "local.subnet",
            f"{net} has room for {net.num_addresses - 3} nodes, the stack asks for {len(nodes.instances())}",
        )
    return LocalSpec(bridge, str(net))


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
