"""The deploy spec: the typed settings plus everything resolved on the control machine before any node
is touched (the artifact server, the artifact files, the user-supplied binaries' paths on the nodes).

Planners take a `DeploySpec` (frozen) and stay pure: everything they need, the artifacts' checksums
included, is in it. Platforms declare the artifacts they need (`ArtifactNeed`); `resolve` looks them up.
Only `deploy` builds the demo apps bundle (`build=True`); `plan` and `render` compute its checksum
without writing a file.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from contract import Cluster, Settings
from contract.settings import (
    DcosSettings,
    DemoSettings,
    HdfsSettings,
    KafkaSettings,
    SparkSettings,
    Versions,
)
from roles.artifacts import Artifact, ArtifactCache, apps_bundle, bundle_names, cache_dir, supplied
from roles.engine.placement import ARTIFACT_SERVER
from roles.errors import ArtifactMissing

ARTIFACT_PORT = 8099  # cluster-internal, in the port matrix (infra/ports.py)


@dataclass(frozen=True)
class ArtifactServer:
    """The node that serves the artifact directory to the other nodes over HTTP on the private network.

    The control machine pushes each artifact over SSH once, to this node; the others fetch it from here.
    DC/OS's bootstrap node works the same way. Uploads from the control machine then do not grow with
    the number of nodes, which matters most for the 318 MB pyspark wheel.
    """

    node: str
    address: str
    port: int = ARTIFACT_PORT

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


# --- what a platform declares ------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedBundle:
    """A bundle ./scripts/fetch-artifacts.sh put into the cache (Kafka jars, pyspark, ...)."""

    name: str  # the logical name (roles/artifacts.bundle_names maps it to the manifest entry)


@dataclass(frozen=True)
class Supplied:
    """A file the user supplies through settings.artifacts.<source_key> and <sha_key>, because no
    registry serves it; `members` (binary -> regex of its path in the tar) are located when it is a tar
    unpacked to `home(spec settings)` on the nodes."""

    name: str
    source_key: str
    sha_key: str
    what: str
    why: str  # why the user must supply it, for the message naming the settings
    members: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    home: Callable[[Settings], str] | None = None


@dataclass(frozen=True)
class AppsBundle:
    """The demo apps built from this checkout (only when settings.demo.enabled)."""

    name: str = "demo-apps"


ArtifactNeed = CachedBundle | Supplied | AppsBundle


# --- the spec ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeploySpec:
    settings: Settings
    artifact_server: ArtifactServer | None
    artifacts: Mapping[str, Artifact]  # logical name -> Artifact
    # Resolved platform inputs: binary -> its path on the nodes (the user-supplied Mesos/Marathon trees).
    binaries: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Nodes `fab drain` emptied (read from the nodes by the task, roles/drain.py): they are leaving, so
    # nothing is converged on them and no replica is placed on them.
    drained: frozenset[str] = frozenset()

    # The settings sections planners read, as attributes of the spec (spec.kafka.heap).
    versions: Versions = field(init=False, repr=False)
    kafka: KafkaSettings = field(init=False, repr=False)
    spark: SparkSettings = field(init=False, repr=False)
    hdfs: HdfsSettings = field(init=False, repr=False)
    demo: DemoSettings = field(init=False, repr=False)
    dcos: DcosSettings = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for section in ("versions", "kafka", "spark", "hdfs", "demo", "dcos"):
            object.__setattr__(self, section, getattr(self.settings, section))

    def artifact(self, name: str) -> Artifact:
        try:
            return self.artifacts[name]
        except KeyError:
            raise ArtifactMissing(
                f"artifact {name!r} is not among this platform's ({', '.join(sorted(self.artifacts))})"
            ) from None

    def binary(self, name: str) -> str:
        return self.binaries[name]


def artifact_server(cluster: Cluster) -> ArtifactServer | None:
    """The bootstrap node if there is one, else the first master; None for a cluster without either."""
    seeds = ARTIFACT_SERVER.select(cluster)
    return ArtifactServer(seeds[0].name, seeds[0].private_ip) if seeds else None


def demo_enabled(spec: DeploySpec) -> bool:
    return spec.demo.enabled


def resolve(
    cluster: Cluster, needs: Sequence[ArtifactNeed], cache: ArtifactCache, build: bool = False
) -> DeploySpec:
    """Every declared artifact looked up (checksums verified); ArtifactMissing names the settings to set.
    `build`: write the demo apps bundle into the cache (deploy's artifact step); else only its checksum."""
    settings = cluster.settings
    missing = [n for n in needs if isinstance(n, Supplied) and not _supplied_settings(settings, n)]
    if missing:
        raise ArtifactMissing(missing_message(cluster, missing))
    names = bundle_names(settings.to_json())
    artifacts: dict[str, Artifact] = {}
    binaries: dict[str, str] = {}
    for need in needs:
        if isinstance(need, CachedBundle):
            artifacts[need.name] = cache.get(names[need.name])
        elif isinstance(need, AppsBundle):
            if settings.demo.enabled:
                artifacts[need.name] = apps_bundle(cache.root, write=build)
        else:
            source, sha = _supplied_settings(settings, need) or ("", "")
            art = supplied(
                cache,
                need.name,
                source,
                sha,
                f"artifacts.{need.source_key}",
                f"artifacts.{need.sha_key}",
            )
            artifacts[need.name] = art
            if need.members:
                assert need.home is not None, f"{need.name}: members need a home"
                binaries.update(locate(need, art, need.home(settings)))
    return DeploySpec(
        settings, artifact_server(cluster), MappingProxyType(artifacts), MappingProxyType(binaries)
    )


def _supplied_settings(settings: Settings, need: Supplied) -> tuple[str, str] | None:
    source, sha = settings.artifacts.get(need.source_key), settings.artifacts.get(need.sha_key)
    return (source, sha) if source and sha else None


def missing_message(cluster: Cluster, missing: Sequence[Supplied]) -> str:
    why = "; ".join(dict.fromkeys(n.why for n in missing))
    lines = [
        f"- fastdata:artifacts.{n.source_key} and fastdata:artifacts.{n.sha_key} (the {n.name} file: "
        f"{n.what}, and its sha256)"
        for n in missing
    ]
    return (
        f"platform {cluster.platform} needs {why}; nothing was changed on any node. Set:\n"
        + "\n".join(lines)
        + "\nwith `pulumi config set --path ...` and `pulumi up` (they reach the inventory as "
        "settings.artifacts.*; edit those when you deploy from an --inventory file). Paths may be "
        "absolute, file:// or http(s):// URLs; see docs/contracts.md."
    )


def locate(need: Supplied, art: Artifact, root: str) -> dict[str, str]:
    """Node paths of the package's binaries, found in its tar; ArtifactMissing says what is missing."""
    try:
        with tarfile.open(art.path) as tar:
            names = [m.name.removeprefix("./") for m in tar.getmembers() if m.isfile() or m.issym()]
    except (OSError, tarfile.TarError) as exc:
        raise ArtifactMissing(
            f"{art.path} (settings.artifacts.{need.source_key}) is not a readable tar: {exc}; "
            f"the {need.name} package must be {need.what}"
        ) from exc
    found: dict[str, str] = {}
    for binary, pattern in need.members.items():
        hits = sorted((n for n in names if re.fullmatch(pattern, n)), key=len)
        if not hits:
            raise ArtifactMissing(
                f"{art.path} (settings.artifacts.{need.source_key}) has no {binary} (looked for "
                f"/{pattern}/); the {need.name} package must be {need.what}"
            )
        found[binary] = f"{root}/{hits[0]}"
    return found


def with_artifacts(spec: DeploySpec, artifacts: Mapping[str, Artifact]) -> DeploySpec:
    """The spec with `artifacts` added (tests: stand-ins for the cached bundles)."""
    return DeploySpec(
        spec.settings, spec.artifact_server, MappingProxyType({**spec.artifacts, **artifacts}), spec.binaries
    )


def cache_for(settings: Settings) -> ArtifactCache:
    return ArtifactCache(Path(cache_dir(settings.to_json())))
