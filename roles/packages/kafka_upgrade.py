"""Kafka version changes on a running cluster: which jumps Kafka supports, and the facts (pure parsers) the
rolling upgrade and the metadata finalization in roles/packages/kafka.py decide on.

The rules (docs/reference: hdfs-spark-kafka4.md C.4, https://kafka.apache.org/44/getting-started/upgrade/):
- a KRaft cluster on 3.3.x-3.9.x rolls straight to any 4.x; 4.x rolls to any newer 4.y (and a 3.9.x to a
  newer 3.9.z); older KRaft releases go to 3.9 first;
- a downgrade is refused: once metadata.version is finalized at the new release it cannot go back, and
  before that a node running newer jars than the target means an earlier upgrade got further than asked;
- the software rolls one node at a time, then the features are finalized with kafka-features once every
  node runs the new version. kraft.version is never part of that finalization (KAFKA-21426: `upgrade
  --release-version` would turn a static quorum dynamic, irreversibly, while the configs still name
  controller.quorum.voters); a dynamic quorum is already at kraft.version 1.
"""

from __future__ import annotations

import re

VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
# The oldest KRaft release 4.x accepts a rolling upgrade from (3.3 made KRaft production ready).
OLDEST_UPGRADABLE = (3, 3, 0)


def parse_version(text: str) -> tuple[int, int, int]:
    m = VERSION.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not a Kafka version: {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def release(version: str) -> str:
    """`4.4.0` -> `4.4`: what kafka-features calls a release version."""
    major, minor, _ = parse_version(version)
    return f"{major}.{minor}"


def major(version: str) -> int:
    return parse_version(version)[0]


def refusal(running: str, target: str) -> str | None:
    """Why Kafka does not support rolling from `running` to `target`, or None when it does (or when
    there is nothing to roll: the same version)."""
    have, want = parse_version(running), parse_version(target)
    if have == want:
        return None
    if want < have:
        return (
            f"{running} -> {target} is a downgrade, which fastdata refuses: once metadata.version is "
            f"finalized at {release(running)} Kafka cannot go back; set versions.kafka to {running} (or "
            "newer) again"
        )
    if have[0] == 3 and have < OLDEST_UPGRADABLE:
        return (
            f"{running} -> {target}: Kafka rolls to 4.x only from 3.3.x-3.9.x KRaft clusters; upgrade "
            "to 3.9 first"
        )
    if have[0] == 3 and (want[0] == 4 or want[:2] == (3, 9)):
        return None
    if have[0] == 4 and want[0] == 4:
        return None
    return (
        f"{running} -> {target} is not a rolling upgrade Kafka supports (3.3.x-3.9.x -> 4.x, or 4.x -> "
        "a newer 4.y); see https://kafka.apache.org/44/getting-started/upgrade/"
    )


# --- kafka-features output (pure parsers) ----------------------------------------------------------------


def parse_version_mapping(text: str) -> dict[str, int]:
    """`kafka-features version-mapping --release-version 4.4` lines `metadata.version=33 (4.4)`,
    `kraft.version=1`, ... -> {feature: level}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*([a-z][a-z0-9._]*)=(\d+)", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def parse_finalized(text: str) -> dict[str, str]:
    """`kafka-features describe` lines `Feature: metadata.version<TAB>SupportedMinVersion: ...<TAB>
    FinalizedVersionLevel: 3.9-IV0<TAB>Epoch: 5` -> {feature: finalized level as printed}."""
    out = {}
    for line in text.splitlines():
        feature = re.search(r"Feature:\s*(\S+)", line)
        level = re.search(r"FinalizedVersionLevel:\s*(\S+)", line)
        if feature and level:
            out[feature.group(1)] = level.group(1)
    return out


def metadata_release(level: str) -> tuple[int, int] | None:
    """`3.9-IV0` -> (3, 9): metadata.version levels are printed as names."""
    m = re.match(r"(\d+)\.(\d+)-IV\d+", level)
    return (int(m.group(1)), int(m.group(2))) if m else None


def features_to_finalize(target: str, mapping: dict[str, int], finalized: dict[str, str]) -> list[str]:
    """The `--feature name=level` upgrades still missing for `target`'s release, kraft.version excluded
    (KAFKA-21426); metadata.version first. Empty: the cluster is finalized at `target`."""
    want_release = parse_version(target)[:2]
    todo = []
    for name, level in sorted(mapping.items(), key=lambda kv: (kv[0] != "metadata.version", kv[0])):
        if name == "kraft.version":
            continue
        have = finalized.get(name)
        if name == "metadata.version":
            done = have is not None and (metadata_release(have) or (0, 0)) >= want_release
        else:
            done = have is not None and have.isdigit() and int(have) >= level
        if not done:
            todo.append(f"{name}={level}")
    return todo
