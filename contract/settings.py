"""The cluster settings: what the stack config declares and the roles read, typed and validated once.

The same parser reads the stack config (infra/spec.py, keys `fastdata:<section>.<field>`) and the
inventory's `settings` (roles, keys `settings.<section>.<field>`), so a setting cannot be accepted on one
side and refused or ignored on the other. docs/contracts.md lists every key and what it changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from contract.problems import Collector, as_bool, as_float, as_int, as_str, obj
from contract.problems import field as read_field
from contract.schema import (
    ARTIFACT_DEFAULTS,
    DCOS_DEFAULTS,
    DEFAULT_VERSIONS,
    DEMO_DEFAULTS,
    HDFS_DEFAULTS,
    KAFKA_DEFAULTS,
    KAFKA_QUORUMS,
    PUBLIC_PORTS_DEFAULT,
    SPARK_DEFAULTS,
    VERSION_LINES,
    default_brokers,
    default_controllers,
    default_min_insync_replicas,
    default_replication_factor,
)

JVM_SIZE = re.compile(r"[1-9]\d*[mMgG]")  # -Xmx style: 512m, 2g
INFLUX_DURATION = re.compile(r"INF|[1-9]\d*[hdw]")  # an InfluxDB 1.x retention policy DURATION
ARTIFACT_URL = re.compile(r"(https?|file)://\S+")
SHA256 = re.compile(r"[0-9a-f]{64}")

SECTIONS = ("versions", "kafka", "spark", "hdfs", "demo", "dcos", "artifacts", "publicPorts")
KAFKA_KEYS = frozenset({"brokers", "controllers", "replicationFactor", "minInsyncReplicas", *KAFKA_DEFAULTS})


@dataclass(frozen=True)
class Versions:
    kafka: str
    spark: str
    dcos: str
    mesos: str
    marathon: str
    zookeeper: str
    influxdb: str
    hadoop: str


@dataclass(frozen=True)
class KafkaSettings:
    brokers: int  # the first `brokers` agents run a Kafka broker
    controllers: int  # the first `controllers` brokers are also KRaft controllers
    quorum: str  # "dynamic" (KIP-853) or "static" (controller.quorum.voters)
    replication_factor: int
    min_insync_replicas: int
    partitions: int  # of the demo topic
    heap: str


@dataclass(frozen=True)
class SparkSettings:
    master_heap: str
    worker_heap: str
    worker_memory: str
    worker_cores: int
    executors: int  # of the demo's jobs: spark.cores.max = executors x executorCores
    executor_cores: int
    executor_memory: str
    driver_memory: str
    executors_per_agent: int = 0  # > 0: the jobs' executors follow the agents (executors unused)

    def executor_count(self, agents: int) -> int:
        """The demo jobs' executors on a cluster of `agents` agents that are not drained."""
        if self.executors_per_agent:
            return self.executors_per_agent * max(1, agents)
        return self.executors


@dataclass(frozen=True)
class HdfsSettings:
    namenode_heap: str
    datanode_heap: str


@dataclass(frozen=True)
class DemoSettings:
    enabled: bool
    dataset: str
    speedup: float
    max_events_per_second: int
    retention: str


@dataclass(frozen=True)
class DcosSettings:
    resolvers: tuple[str, ...] | None
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    package_versions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class ArtifactSettings:
    dcos_installer_url: str | None
    dcos_installer_sha256: str | None
    mesos_package_source: str | None
    mesos_package_sha256: str | None
    marathon_package_source: str | None
    marathon_package_sha256: str | None
    cache_dir: str | None

    def get(self, camel: str) -> str | None:
        """By the setting's own name (mesosPackageSource), for messages and tables keyed by it."""
        value: str | None = getattr(self, _snake(camel))
        return value


@dataclass(frozen=True)
class Settings:
    versions: Versions
    kafka: KafkaSettings
    spark: SparkSettings
    hdfs: HdfsSettings
    demo: DemoSettings
    dcos: DcosSettings
    artifacts: ArtifactSettings
    public_ports: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        """The inventory's `settings`, camelCase, every key present (defaults filled)."""
        v, k, s, d = self.versions, self.kafka, self.spark, self.demo
        return {
            "versions": {name: getattr(v, name) for name in DEFAULT_VERSIONS},
            "kafka": {
                "brokers": k.brokers,
                "controllers": k.controllers,
                "quorum": k.quorum,
                "replicationFactor": k.replication_factor,
                "minInsyncReplicas": k.min_insync_replicas,
                "partitions": k.partitions,
                "heap": k.heap,
            },
            "spark": {
                "masterHeap": s.master_heap,
                "workerHeap": s.worker_heap,
                "workerMemory": s.worker_memory,
                "workerCores": s.worker_cores,
                "executors": s.executors,
                "executorsPerAgent": s.executors_per_agent,
                "executorCores": s.executor_cores,
                "executorMemory": s.executor_memory,
                "driverMemory": s.driver_memory,
            },
            "hdfs": {
                "namenodeHeap": self.hdfs.namenode_heap,
                "datanodeHeap": self.hdfs.datanode_heap,
            },
            "demo": {
                "enabled": d.enabled,
                "dataset": d.dataset,
                "speedup": d.speedup,
                "maxEventsPerSecond": d.max_events_per_second,
                "retention": d.retention,
            },
            "dcos": {
                "resolvers": list(self.dcos.resolvers) if self.dcos.resolvers is not None else None,
                "config": dict(self.dcos.config),
                "packageVersions": dict(self.dcos.package_versions),
            },
            "artifacts": {name: self.artifacts.get(name) for name in ARTIFACT_DEFAULTS},
            "publicPorts": list(self.public_ports),
        }


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z0-9]+)", lambda m: "_" + m.group(1).lower(), camel).replace(
        "sha_256", "sha256"
    )


# --- parsing ------------------------------------------------------------------------------------------


def parse_versions(c: Collector, raw: Any) -> Versions:
    given = obj(c, raw, "versions", set(DEFAULT_VERSIONS))
    values: dict[str, str] = {}
    for name, (pattern, expected) in VERSION_LINES.items():
        value = given.get(name, DEFAULT_VERSIONS[name])
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            c.add(f"versions.{name}", f"must be {expected} (got {value!r})")
            value = DEFAULT_VERSIONS[name]
        values[name] = value
    return Versions(**values)


def parse_kafka(c: Collector, raw: Any, agents: int, agents_key: str) -> KafkaSettings:
    """Broker count, replication and min.insync default to what `agents` allows; an explicit value that
    cannot fit is a problem naming both keys."""
    given = obj(c, raw, "kafka", KAFKA_KEYS)
    brokers = read_field(c, given, "kafka", "brokers", default_brokers(agents), as_int, "an integer")
    controllers = read_field(
        c, given, "kafka", "controllers", default_controllers(brokers), as_int, "an integer"
    )
    quorum = read_field(
        c, given, "kafka", "quorum", str(KAFKA_DEFAULTS["quorum"]), as_str, " or ".join(KAFKA_QUORUMS)
    )
    rf = read_field(
        c, given, "kafka", "replicationFactor", default_replication_factor(brokers), as_int, "an integer"
    )
    isr = read_field(
        c, given, "kafka", "minInsyncReplicas", default_min_insync_replicas(rf), as_int, "an integer"
    )
    partitions = read_field(
        c, given, "kafka", "partitions", int(str(KAFKA_DEFAULTS["partitions"])), as_int, "an integer"
    )
    heap = read_field(c, given, "kafka", "heap", str(KAFKA_DEFAULTS["heap"]), as_str, "a JVM size like 768m")
    if c.check(brokers >= 1, "kafka.brokers", f"must be at least 1 (got {brokers})"):
        c.check(
            brokers <= agents,
            "kafka.brokers",
            f"is {brokers} but {agents_key} is {agents}: brokers run one per agent, so add agents or "
            "lower kafka.brokers",
        )
    c.check(
        1 <= controllers <= max(brokers, 1),
        "kafka.controllers",
        f"must be between 1 and kafka.brokers ({brokers}) (got {controllers}): the KRaft controllers "
        "run on the first brokers (an odd number: an even quorum tolerates no more failures than the odd "
        "number below it)",
    )
    c.check(
        quorum in KAFKA_QUORUMS,
        "kafka.quorum",
        f"must be one of {', '.join(KAFKA_QUORUMS)} (got {quorum!r}): dynamic for new clusters, static "
        "only for a cluster whose storage was formatted with controller.quorum.voters",
    )
    c.check(
        1 <= rf <= max(brokers, 1),
        "kafka.replicationFactor",
        f"must be between 1 and kafka.brokers ({brokers}) (got {rf}); with {agents} agent(s) "
        f"({agents_key}) at most {min(brokers, agents)} replicas fit",
    )
    c.check(
        1 <= isr <= max(rf, 1),
        "kafka.minInsyncReplicas",
        f"must be between 1 and kafka.replicationFactor ({rf}) (got {isr}); "
        "equal to it means one broker down stops all writes",
    )
    c.check(partitions >= 1, "kafka.partitions", f"must be at least 1 (got {partitions})")
    c.check(
        bool(JVM_SIZE.fullmatch(heap)), "kafka.heap", f"must be a JVM size like 768m or 2g (got {heap!r})"
    )
    return KafkaSettings(brokers, controllers, quorum, rf, isr, partitions, heap)


def _jvm_sizes(
    c: Collector,
    given: Mapping[str, Any],
    section: str,
    defaults: Mapping[str, object],
    names: tuple[str, ...],
) -> dict[str, str]:
    sizes: dict[str, str] = {}
    for name in names:
        value = read_field(c, given, section, name, str(defaults[name]), as_str, "a JVM size like 512m")
        if not c.check(
            bool(JVM_SIZE.fullmatch(value)),
            f"{section}.{name}",
            f"must be a JVM size like 512m or 2g (got {value!r})",
        ):
            value = str(defaults[name])
        sizes[name] = value
    return sizes


def mib(size: str) -> int:
    """512m / 2g (JVM) or 512M / 4G (container limits) in MiB."""
    match = re.fullmatch(r"([1-9]\d*)([mMgG])", size)
    if match is None:
        raise ValueError(f"not a size: {size!r}")
    return int(match.group(1)) * (1024 if match.group(2) in "gG" else 1)


def parse_spark(c: Collector, raw: Any, agents: int, agents_key: str) -> SparkSettings:
    """The daemons' sizes and the demo jobs' executors; executors that cannot fit the workers (one per
    agent) are a problem naming the keys, found before anything is created or touched."""
    d = SPARK_DEFAULTS
    given = obj(c, raw, "spark", set(d))
    sizes = _jvm_sizes(
        c, given, "spark", d, ("masterHeap", "workerHeap", "workerMemory", "executorMemory", "driverMemory")
    )
    ints: dict[str, int] = {}
    for name in ("workerCores", "executors", "executorCores", "executorsPerAgent"):
        value = read_field(c, given, "spark", name, int(str(d[name])), as_int, "an integer")
        least = 0 if name == "executorsPerAgent" else 1
        if not c.check(value >= least, f"spark.{name}", f"must be at least {least} (got {value})"):
            value = int(str(d[name]))
        ints[name] = value
    cores, executor_cores = ints["workerCores"], ints["executorCores"]
    worker_mib, executor_mib = mib(sizes["workerMemory"]), mib(sizes["executorMemory"])
    fits = c.check(
        executor_cores <= cores,
        "spark.executorCores",
        f"is {executor_cores} but a worker offers spark.workerCores = {cores} (an executor runs on one)",
    )
    fits = (
        c.check(
            executor_mib <= worker_mib,
            "spark.executorMemory",
            f"is {sizes['executorMemory']} but a worker offers spark.workerMemory = {sizes['workerMemory']}",
        )
        and fits
    )
    if fits and agents >= 1:
        per_worker = min(cores // executor_cores, worker_mib // executor_mib)
        c.check(
            ints["executors"] <= per_worker * agents,
            "spark.executors",
            f"is {ints['executors']} but {agents} worker(s) ({agents_key}) fit {per_worker * agents} "
            f"executors of {executor_cores} core(s) and {sizes['executorMemory']} "
            f"({per_worker} per worker: spark.workerCores {cores}, spark.workerMemory "
            f"{sizes['workerMemory']}); lower spark.executors or add agents",
        )
        c.check(
            ints["executorsPerAgent"] <= per_worker,
            "spark.executorsPerAgent",
            f"is {ints['executorsPerAgent']} but a worker fits {per_worker} executor(s) of "
            f"{executor_cores} core(s) and {sizes['executorMemory']} (spark.workerCores {cores}, "
            f"spark.workerMemory {sizes['workerMemory']})",
        )
    return SparkSettings(
        sizes["masterHeap"],
        sizes["workerHeap"],
        sizes["workerMemory"],
        cores,
        ints["executors"],
        executor_cores,
        sizes["executorMemory"],
        sizes["driverMemory"],
        ints["executorsPerAgent"],
    )


def parse_hdfs(c: Collector, raw: Any) -> HdfsSettings:
    given = obj(c, raw, "hdfs", set(HDFS_DEFAULTS))
    sizes = _jvm_sizes(c, given, "hdfs", HDFS_DEFAULTS, ("namenodeHeap", "datanodeHeap"))
    return HdfsSettings(sizes["namenodeHeap"], sizes["datanodeHeap"])


def parse_demo(c: Collector, raw: Any) -> DemoSettings:
    d = DEMO_DEFAULTS
    given = obj(c, raw, "demo", set(d))
    enabled = read_field(c, given, "demo", "enabled", bool(d["enabled"]), as_bool, "true or false")
    dataset = read_field(c, given, "demo", "dataset", str(d["dataset"]), as_str, "a path or URL")
    speedup = read_field(c, given, "demo", "speedup", float(str(d["speedup"])), as_float, "a number")
    rate = read_field(
        c, given, "demo", "maxEventsPerSecond", int(str(d["maxEventsPerSecond"])), as_int, "an integer"
    )
    retention = read_field(c, given, "demo", "retention", str(d["retention"]), as_str, "a duration like 7d")
    c.check(bool(dataset.strip()), "demo.dataset", "must not be empty")
    c.check(speedup > 0, "demo.speedup", f"must be greater than 0 (got {speedup})")
    c.check(rate >= 1, "demo.maxEventsPerSecond", f"must be at least 1 (got {rate})")
    c.check(
        bool(INFLUX_DURATION.fullmatch(retention)),
        "demo.retention",
        f"must be an InfluxDB duration such as 24h, 7d, 4w or INF (got {retention!r})",
    )
    return DemoSettings(enabled, dataset, speedup, rate, retention)


def parse_dcos(c: Collector, raw: Any) -> DcosSettings:
    given = obj(c, raw, "dcos", set(DCOS_DEFAULTS))
    resolvers = given.get("resolvers")
    if resolvers is not None and not (
        isinstance(resolvers, list) and resolvers and all(isinstance(r, str) for r in resolvers)
    ):
        c.add("dcos.resolvers", f"must be a non-empty list of DNS server addresses (got {resolvers!r})")
        resolvers = None
    config = given.get("config") or {}
    if not isinstance(config, Mapping):
        c.add("dcos.config", f"must be an object of genconf/config.yaml keys (got {config!r})")
        config = {}
    versions = given.get("packageVersions") or {}
    if not isinstance(versions, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in versions.items()
    ):
        c.add("dcos.packageVersions", f"must be an object of package name -> version (got {versions!r})")
        versions = {}
    return DcosSettings(
        tuple(resolvers) if resolvers is not None else None,
        MappingProxyType(dict(config)),
        MappingProxyType(dict(versions)),
    )


def parse_artifacts(c: Collector, raw: Any) -> ArtifactSettings:
    d = ARTIFACT_DEFAULTS
    given = obj(c, raw, "artifacts", set(d))
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
            bool(ARTIFACT_URL.fullmatch(url)),
            "artifacts.dcosInstallerUrl",
            f"must be an http(s):// or file:// URL of dcos_generate_config.sh (got {redact_url(url)!r})",
        )
        c.check(
            sha is not None,
            "artifacts.dcosInstallerSha256",
            "is required with artifacts.dcosInstallerUrl: the installer is verified before use",
        )
    for name in ("dcosInstallerSha256", "mesosPackageSha256", "marathonPackageSha256"):
        if fields[name] is not None:
            c.check(
                bool(SHA256.fullmatch(fields[name] or "")),
                f"artifacts.{name}",
                "must be 64 lowercase hex characters (a SHA-256)",
            )
    for package in ("mesos", "marathon"):
        source = fields[f"{package}PackageSource"]
        if source is not None:
            c.check(
                bool(ARTIFACT_URL.fullmatch(source)) or source.startswith("/"),
                f"artifacts.{package}PackageSource",
                f"must be an http(s):// or file:// URL or an absolute path (got {redact_url(source)!r})",
            )
            c.check(
                fields[f"{package}PackageSha256"] is not None,
                f"artifacts.{package}PackageSha256",
                f"is required with artifacts.{package}PackageSource: the package is verified before use",
            )
    return ArtifactSettings(**{_snake(k): v for k, v in fields.items()})


def parse_public_ports(c: Collector, raw: Any, forbidden: Mapping[int, str] | None = None) -> tuple[int, ...]:
    """TCP ports open to the world on public agents; `forbidden` (port -> why) comes from the port matrix."""
    value = list(PUBLIC_PORTS_DEFAULT) if raw is None else raw
    if not isinstance(value, list):
        c.add("publicPorts", f"must be a list of TCP ports such as [80, 443] (got {value!r})")
        return ()
    result: list[int] = []
    for i, item in enumerate(value):
        port = as_int(item)
        if port is None or not 1 <= port <= 65535:
            c.add(f"publicPorts[{i}]", f"must be a TCP port 1-65535 (got {item!r})")
        elif forbidden and port in forbidden:
            c.add(f"publicPorts[{i}]", f"{port} must not be open to the world: {forbidden[port]}")
        elif port in result:
            c.add(f"publicPorts[{i}]", f"{port} is listed twice")
        else:
            result.append(port)
    return tuple(sorted(result))


def parse_settings(
    c: Collector,
    raw: Mapping[str, Any],
    agents: int,
    agents_key: str,
    forbidden_public_ports: Mapping[int, str] | None = None,
) -> Settings:
    """Every section; missing sections and fields get their defaults."""
    return Settings(
        versions=parse_versions(c, raw.get("versions")),
        kafka=parse_kafka(c, raw.get("kafka"), agents, agents_key),
        spark=parse_spark(c, raw.get("spark"), agents, agents_key),
        hdfs=parse_hdfs(c, raw.get("hdfs")),
        demo=parse_demo(c, raw.get("demo")),
        dcos=parse_dcos(c, raw.get("dcos")),
        artifacts=parse_artifacts(c, raw.get("artifacts")),
        public_ports=parse_public_ports(c, raw.get("publicPorts"), forbidden_public_ports),
    )


def redact_url(text: str) -> str:
    """A URL with any user:password@ replaced, so credentials never reach a message or a log."""
    # up to the last @ of the authority: a password may itself contain an unencoded @
    return re.sub(r"(?<=://)[^/\s]*@", "***@", text)
