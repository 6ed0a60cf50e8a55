"""The deploy spec: inventory settings with defaults filled and validated, plus the resolved artifacts.

Planners take this mapping (and stay pure): everything they need, including the artifacts' checksums,
is in it. Sizes default for the reference machine: a 24 GB host running 5 containers (1 master,
3 agents, 1 public agent) keeps well under half its memory for the platform.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from roles.artifacts import ArtifactCache, apps_bundle, bundle_names, kafka_version, spark_version
from roles.common import artifact_server
from roles.errors import ConfigError
from roles.inventory import Inventory

DEFAULTS: dict[str, dict[str, Any]] = {
    "kafka": {
        "replicationFactor": 3,
        "partitions": 6,
        "heap": "768m",  # per broker+controller; 3 brokers = 2.3 GB
    },
    "spark": {
        "masterHeap": "512m",
        "workerHeap": "512m",  # the worker daemon itself
        "workerMemory": "2g",  # what executors on one worker may use
        "workerCores": 2,
    },
}
_SIZE = re.compile(r"^\d+[mMgG]$")


def resolve(settings: Mapping[str, Any], inventory: Inventory, cache: ArtifactCache | None) -> dict[str, Any]:
    """settings + defaults + `artifactFiles` (logical name -> Artifact). ConfigError names bad keys."""
    spec: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in settings.items()}
    for section, defaults in DEFAULTS.items():
        given = settings.get(section) or {}
        if not isinstance(given, Mapping):
            raise ConfigError(f"settings.{section} must be an object, got {type(given).__name__}")
        spec[section] = {**defaults, **given}
    versions = dict(settings.get("versions") or {})
    versions["kafka"] = kafka_version(settings)
    versions["spark"] = spark_version(settings)
    if not versions["kafka"].startswith("3.9."):
        raise ConfigError(
            f"settings.versions.kafka is {versions['kafka']}; allowed: 3.9.x (ZooKeeper + KRaft)"
        )
    if not versions["spark"].startswith("3.5."):
        raise ConfigError(f"settings.versions.spark is {versions['spark']}; allowed: 3.5.x (last with Mesos)")
    spec["versions"] = versions
    k = spec["kafka"]
    brokers = len(inventory.agents)
    for key in ("replicationFactor", "partitions"):
        if not isinstance(k[key], int) or k[key] < 1:
            raise ConfigError(f"settings.kafka.{key} must be a positive integer, got {k[key]!r}")
    if brokers and k["replicationFactor"] > brokers:
        raise ConfigError(
            f"settings.kafka.replicationFactor is {k['replicationFactor']} but the cluster has "
            f"{brokers} agent(s) (one broker each); lower it or add agents"
        )
    if "minInsyncReplicas" not in k:
        k["minInsyncReplicas"] = 2 if brokers >= 3 else 1
    for section, key in (
        ("kafka", "heap"),
        ("spark", "masterHeap"),
        ("spark", "workerHeap"),
        ("spark", "workerMemory"),
    ):
        if not _SIZE.match(str(spec[section][key])):
            raise ConfigError(
                f"settings.{section}.{key} must look like 512m or 2g, got {spec[section][key]!r}"
            )
    spec["artifactServer"] = artifact_server(inventory)
    if cache is not None:
        names = bundle_names(spec)
        spec["artifactFiles"] = {logical: cache.get(name) for logical, name in names.items()}
        if (spec.get("demo") or {}).get("enabled"):
            spec["artifactFiles"]["demo-apps"] = apps_bundle(cache.root)
    return spec
