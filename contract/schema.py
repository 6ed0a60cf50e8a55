"""Every schema fact infra/ and roles/ share, spelled once: roles, clouds, platforms, version lines and
their defaults, topology rules, and the defaults of every cluster setting (docs/contracts.md).

Pure: imports neither pulumi nor paramiko, so the Pulumi program, the policy pack and the Fabric side all
import it.
"""

from __future__ import annotations

from enum import StrEnum


class Cloud(StrEnum):
    LOCAL = "local"
    AWS = "aws"
    AZURE = "azure"


class Platform(StrEnum):
    STANDALONE = "standalone"
    MESOS = "mesos"
    DCOS = "dcos"


class Role(StrEnum):
    """Node roles, spelled exactly as in the inventory."""

    BOOTSTRAP = "bootstrap"
    MASTER = "master"
    AGENT = "agent"
    PUBLIC_AGENT = "publicAgent"

    @property
    def node_prefix(self) -> str:
        """Node names: bootstrap-0, master-N, agent-N, public-agent-N."""
        return "public-agent" if self is Role.PUBLIC_AGENT else self.value


ROLE_ORDER: tuple[Role, ...] = (Role.BOOTSTRAP, Role.MASTER, Role.AGENT, Role.PUBLIC_AGENT)

# --- versions -----------------------------------------------------------------------------------------

# name -> (regex of the supported line, what to tell the user). docs/contracts.md "Versions".
VERSION_LINES: dict[str, tuple[str, str]] = {
    # KRaft only: 3.9 (the last 3.x line) and 4.x; upgrades between them: roles/packages/kafka_upgrade.py.
    "kafka": (r"3\.9\.\d+|4\.\d+\.\d+", "3.9.x or 4.x (KRaft)"),
    "spark": (r"3\.5\.\d+", "3.5.x (the last Spark line with Mesos support)"),
    "dcos": (r"2\.2\.\d+", "2.2.x (the last open-source DC/OS line)"),
    "mesos": (r"1\.11\.\d+", "1.11.x (the last Apache Mesos release line)"),
    "marathon": (r"1\.11\.\d+", "1.11.x (the line DC/OS 2.2 ships)"),
    "zookeeper": (r"3\.[5-9]\.\d+", "3.5.x to 3.9.x"),
    "influxdb": (r"1\.\d+\.\d+", "an InfluxDB 1.x version (the demo writes with the 1.x API)"),
    "hadoop": (
        r"3\.4\.\d+",
        "3.4.x (HDFS from Maven Central jars, the line tested with Spark 3.5 on Java 17)",
    ),
}
DEFAULT_VERSIONS: dict[str, str] = {
    "kafka": "4.4.0",  # the newest 4.x Maven Central serves (2026-12-01)
    "spark": "3.5.7",
    "dcos": "2.2.1",
    "mesos": "1.11.0",
    "marathon": "1.11.24",
    "zookeeper": "3.8.0",  # Debian 12 ships 3.8.0 and 1.6.7: apt installs exactly these lines
    "influxdb": "1.6.7",
    "hadoop": "3.4.3",
}

# --- topology -------------------------------------------------------------------------------------------

# An odd quorum of masters; DC/OS's installer also takes 7 and 9 (its gen validation).
MASTER_COUNTS: dict[Platform, tuple[int, ...]] = {
    Platform.STANDALONE: (1, 3, 5),
    Platform.MESOS: (1, 3, 5),
    Platform.DCOS: (1, 3, 5, 7, 9),
}
# Only DC/OS has a bootstrap node (it generates the install and serves it).
BOOTSTRAP_COUNTS: dict[Platform, int] = {Platform.STANDALONE: 0, Platform.MESOS: 0, Platform.DCOS: 1}
# Roles every cluster of a platform needs at least one of (the demo adds a public agent: see below).
REQUIRED_ROLES: dict[Platform, tuple[Role, ...]] = {
    Platform.STANDALONE: (Role.MASTER, Role.AGENT),
    Platform.MESOS: (Role.MASTER, Role.AGENT),
    Platform.DCOS: (Role.BOOTSTRAP, Role.MASTER, Role.AGENT),
}
DEMO_ROLE = Role.PUBLIC_AGENT  # InfluxDB and the dashboard run on the first public agent

# --- Kafka defaults that adapt to the agent count (an explicit value that cannot fit is an error) -------


def default_brokers(agents: int) -> int:
    """One broker per agent: an agent added by scaling out is a broker the demo topic spreads onto
    (docs/contracts.md "Scaling"); replication and the controllers stay at three."""
    return max(1, agents)


def default_controllers(brokers: int) -> int:
    """KRaft controllers on the first brokers: three when there are three brokers or more, else one (an odd
    quorum: two voters tolerate no more failures than one)."""
    return 3 if brokers >= 3 else 1


def default_replication_factor(brokers: int) -> int:
    return max(1, min(3, brokers))


def default_min_insync_replicas(replication_factor: int) -> int:
    """2 with three or more replicas (one broker may be down and writes go on), else 1."""
    return 2 if replication_factor >= 3 else 1


# --- setting defaults (Pulumi.yaml declares the same; tests/unit/test_spec_pulumi_yaml.py compares) ------

# Sizes fit the reference machine: a 24 GB host running 5 containers (1 master, 3 agents, 1 public agent).
# KRaft quorum kinds (KIP-853): dynamic (controller.quorum.bootstrap.servers, storage formatted with
# --initial-controllers) for new clusters; static (controller.quorum.voters) for clusters formatted so.
KAFKA_QUORUMS = ("dynamic", "static")
KAFKA_DEFAULTS: dict[str, object] = {
    "quorum": "dynamic",
    "partitions": 6,
    "heap": "768m",  # per broker (+ controller)
}
SPARK_DEFAULTS: dict[str, object] = {
    "masterHeap": "512m",
    "workerHeap": "512m",  # the worker daemon itself
    "workerMemory": "1536m",  # what executors on one worker may use
    "workerCores": 2,
    # the demo's streaming job (and the batch job): what it asks the cluster manager for
    "executors": 2,
    # > 0: that many executors per agent instead (the agents not drained), so the jobs follow a scale
    # change: `fab deploy` resizes the processor (and restarts it) when agents join or leave
    "executorsPerAgent": 0,
    "executorCores": 1,
    "executorMemory": "512m",
    "driverMemory": "768m",
}
HDFS_DEFAULTS: dict[str, object] = {
    "namenodeHeap": "512m",  # on the first master
    "datanodeHeap": "384m",  # on every agent
}


def default_hdfs_replication(agents: int) -> int:
    """dfs.replication: one block copy per DataNode (one per agent), up to three."""
    return max(1, min(3, agents))


DEMO_DEFAULTS: dict[str, object] = {
    "enabled": True,
    "dataset": "data/chicago-crimes-2015-10-17_18.csv",
    "speedup": 60.0,
    "maxEventsPerSecond": 500,
    "retention": "7d",  # InfluxDB retention policy of the demo database
}
DCOS_DEFAULTS: dict[str, object] = {
    "resolvers": None,  # None: per cloud (the cloud's resolver; 8.8.8.8/8.8.4.4 on local)
    "config": {},  # extra genconf/config.yaml keys, validated like the generated ones
    "packageVersions": {},  # package -> version, overriding the tested ones
}
ARTIFACT_DEFAULTS: dict[str, str | None] = {
    "dcosInstallerUrl": None,
    "dcosInstallerSha256": None,
    "mesosPackageSource": None,
    "mesosPackageSha256": None,
    "marathonPackageSource": None,
    "marathonPackageSha256": None,
    "cacheDir": None,  # None: the control machine's default, $FASTDATA_CACHE/artifacts
}
PUBLIC_PORTS_DEFAULT: tuple[int, ...] = (80, 443)
