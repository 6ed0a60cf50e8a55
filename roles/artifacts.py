"""The local artifact cache (DESIGN 3.4): everything nodes need that is not an apt package.

Bundles are single files (a deterministic tar of jars, or a wheel) so that "is it on the node?" is one
sha256 comparison. `fetch()` fills the cache from Maven Central / PyPI on the control machine; nodes
never download anything themselves, which is what makes air-gapped clusters work.

Layout under the cache directory:
    manifest.json                     {bundle name: {file, sha256, size, source}}
    kafka-libs-<v>.tar                org.apache.kafka:kafka_2.13 + kafka-tools (runtime) + the logging
                                      binding of that major: reload4j for 3.x, Log4j 2 for 4.x
    spark-kafka-<v>.tar               spark-sql-kafka-0-10_2.12 + runtime deps not already in pyspark
    hadoop-libs-<v>.tar               HDFS: lib/ = hadoop-hdfs, -hdfs-client, -common (runtime closure);
                                      webapps/ = the NameNode/DataNode UI files (only in the tests jar)
    pyspark-<v>-py2.py3-none-any.whl  built once from the PyPI sdist
    py4j-<v>-py2.py3-none-any.whl
    demo-wheels-<hash>.tar            the demo apps' Python dependencies (confluent-kafka, requests, ...) as
                                      wheels for the nodes' Python (Debian 12: CPython 3.11, x86_64)
    demo-apps-<sha>.tar               built at deploy time from this checkout: apps/, the dashboard bundle,
                                      data/ (not in the manifest: it changes with the code)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.schema import DEFAULT_VERSIONS
from contract.settings import redact_url
from roles.errors import ArtifactMissing

DEFAULT_KAFKA = DEFAULT_VERSIONS["kafka"]
DEFAULT_SPARK = DEFAULT_VERSIONS["spark"]
DEFAULT_HADOOP = DEFAULT_VERSIONS["hadoop"]
SCALA_SPARK = "2.12"
# The 3.x build's logging binding versions (reload4j is compileOnly in kafka_2.13 3.9).
SLF4J_RELOAD4J = ("org.slf4j", "slf4j-reload4j", "1.7.36")
RELOAD4J = ("ch.qos.reload4j", "reload4j", "1.2.25")
# 4.x logs through Log4j 2 (KIP-653). The Maven runtime closure of kafka_2.13 4.x has log4j-api/-core but
# no SLF4J binding (checked on 4.4.0: slf4j-api 1.7.36 and nothing binding it), so without one the broker logs
# nothing. slf4j-api stays 1.7.x in 4.x, hence log4j-slf4j-impl (the SLF4J 1.x binding), not the
# slf4j2 one. api/core/binding are declared at one version so Maven cannot mix them; 2.25.5 is what
# kafka_2.13 4.4.0 depends on.
LOG4J2_VERSION = "2.25.5"
LOG4J2 = [
    ("org.apache.logging.log4j", artifact, LOG4J2_VERSION)
    for artifact in ("log4j-api", "log4j-core", "log4j-slf4j-impl")
]
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Artifact:
    """One cached file: what it is, where it is, and the checksum nodes are compared against."""

    name: str
    path: Path
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return self.path.name


def cache_dir(settings: Mapping[str, Any] | None = None) -> Path:
    """settings.artifacts.cacheDir, else $FASTDATA_CACHE/artifacts, else <repo>/.cache/artifacts."""
    arts = (settings or {}).get("artifacts") or {}
    configured = arts.get("cacheDir")
    if configured:
        return Path(str(configured)).expanduser()
    base = os.environ.get("FASTDATA_CACHE") or str(Path(__file__).resolve().parent.parent / ".cache")
    return Path(base) / "artifacts"


def kafka_version(settings: Mapping[str, Any]) -> str:
    return str((settings.get("versions") or {}).get("kafka") or DEFAULT_KAFKA)


def spark_version(settings: Mapping[str, Any]) -> str:
    return str((settings.get("versions") or {}).get("spark") or DEFAULT_SPARK)


def hadoop_version(settings: Mapping[str, Any]) -> str:
    return str((settings.get("versions") or {}).get("hadoop") or DEFAULT_HADOOP)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def bundle_names(settings: Mapping[str, Any]) -> dict[str, str]:
    """Logical bundle -> manifest key, for the versions in settings."""
    kv, sv = kafka_version(settings), spark_version(settings)
    return {
        "kafka": f"kafka-libs-{kv}",
        "spark-kafka": f"spark-kafka-{sv}",
        "hadoop": f"hadoop-libs-{hadoop_version(settings)}",
        "pyspark": f"pyspark-{sv}",
        "py4j": "py4j",
        "demo-wheels": "demo-wheels-" + _digest(" ".join(demo_requirements())),
    }


REPO = Path(__file__).resolve().parent.parent
# The demo apps' third-party dependencies, at the versions pinned in pyproject.toml (one source of truth),
# locked with their dependencies and hashes for the nodes in requirements/node-demo.lock (scripts/lock.sh).
DEMO_PACKAGES = ("confluent-kafka", "requests", "urllib3", "waitress")
# What is pip-downloaded for the nodes, with hashes: the demo wheels, and the pyspark sdist + py4j wheel.
NODE_DEMO_LOCK = REPO / "requirements" / "node-demo.lock"
NODE_SPARK_LOCK = REPO / "requirements" / "node-spark.lock"
RELOCK = "./scripts/lock.sh"
# The nodes' Python: Debian 12's CPython 3.11 on x86_64 (pip download picks wheels for it, whatever runs pip).
NODE_PYTHON = (
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux_2_17_x86_64",
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "any",
)


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name: `PyYAML` and `pyyaml`, `confluent_kafka` and `confluent-kafka`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Locked:
    """One requirement of a lock file written by scripts/lock.sh: `name==version` and its allowed hashes."""

    name: str
    version: str
    hashes: tuple[str, ...]

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"

    def line(self) -> str:
        """The requirement as a pip requirements-file line, hashes included (for --require-hashes)."""
        return " ".join([self.pin, *(f"--hash={h}" for h in self.hashes)])


def read_lock(path: Path) -> dict[str, Locked]:
    """The requirements of a lock file by canonical name (the `name==version \\ --hash=...` format)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ArtifactMissing(f"cannot read the lock file {path}: {exc}; run {RELOCK}") from exc
    locked: dict[str, Locked] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", "\n" + text):
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", block)
        if m:
            hashes = tuple(re.findall(r"--hash=(\S+)", block))
            locked[canonical_name(m.group(1))] = Locked(m.group(1), m.group(2), hashes)
    return locked


def _shown(path: Path) -> str:
    """A path in this checkout relative to it (as the commands in messages use it), else as is."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def demo_pins() -> list[str]:
    """DEMO_PACKAGES at their pyproject.toml pins (`name==version`): the input of node-demo.lock."""
    text = (REPO / "pyproject.toml").read_text()
    reqs = []
    for pkg in DEMO_PACKAGES:
        m = re.search(rf'"({re.escape(pkg)}==[^"]+)"', text, re.I)
        if not m:
            raise ArtifactMissing(f'pyproject.toml must pin {pkg} ("{pkg}==X.Y.Z"): the demo ships it')
        reqs.append(m.group(1))
    return reqs


def demo_requirements() -> list[str]:
    """Every wheel the demo apps ship with, `name==version` as locked in requirements/node-demo.lock (the
    pins of DEMO_PACKAGES and their dependencies); a lock that disagrees with pyproject.toml is an error."""
    locked = read_lock(NODE_DEMO_LOCK)
    for pin in demo_pins():
        name, version = pin.split("==", 1)
        entry = locked.get(canonical_name(name))
        if entry is None or entry.version != version:
            has = entry.pin if entry else "nothing"
            raise ArtifactMissing(
                f"pyproject.toml pins {pin} but {_shown(NODE_DEMO_LOCK)} has {has}: run {RELOCK}"
            )
    return sorted(entry.pin for entry in locked.values())


def apps_bundle(root: Path, write: bool) -> Artifact:
    """The demo apps as deployed: apps/ sources, the dashboard's built front end and the sample data,
    in a deterministic tar named by its checksum (so an unchanged checkout is a no-op to push).

    `write`: build the tar into `root` (deploy's artifact step, which also drops older ones); else only
    compute its checksum (plan, render: nothing is written)."""
    dist = REPO / "apps" / "dashboard" / "web" / "dist"
    if not (dist / "app.js").is_file():
        raise ArtifactMissing(
            f"the dashboard bundle {dist}/app.js is missing; run "
            "./scripts/fetch-artifacts.sh (it runs apps/dashboard/build.sh)"
        )
    files = [
        f
        for f in (REPO / "apps").rglob("*")
        if f.is_file()
        and "__pycache__" not in f.parts
        and "node_modules" not in f.parts
        and (f.suffix == ".py" or f.is_relative_to(dist) or f.name == "index.html")
    ]
    files += sorted((REPO / "data").glob("*.csv"))
    if not write:
        sink = _HashSink()
        write_tar(files, sink, root=REPO)
        digest = sink.hash.hexdigest()
        return Artifact("demo-apps", root / f"demo-apps-{digest[:16]}.tar", digest, sink.size)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / "demo-apps.tar.building"
    deterministic_tar(files, tmp, root=REPO)
    digest = sha256_file(tmp)
    dest = root / f"demo-apps-{digest[:16]}.tar"
    tmp.replace(dest)
    for old in root.glob("demo-apps-*.tar"):
        if old != dest:
            old.unlink()
    return Artifact(name="demo-apps", path=dest, sha256=digest, size=dest.stat().st_size)


class _HashSink(io.RawIOBase):
    """A write-only file that keeps only the sha256 and the size of what is written."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.hash.update(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ArtifactCache:
    """Read side of the cache: look bundles up by name, checksums verified against the manifest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._verified: dict[str, Artifact] = {}

    def manifest(self) -> dict[str, dict[str, Any]]:
        path = self.root / MANIFEST
        if not path.is_file():
            return {}
        data: dict[str, dict[str, Any]] = json.loads(path.read_text())
        return data

    def get(self, name: str, verify: bool = True) -> Artifact:
        """The artifact `name`; ArtifactMissing says how to fetch it when absent or corrupt."""
        if name in self._verified:
            return self._verified[name]
        entry = self.manifest().get(name)
        hint = (
            f"run ./scripts/fetch-artifacts.sh (cache: {self.root}; "
            "set settings.artifacts.cacheDir to move it)"
        )
        if entry is None:
            raise ArtifactMissing(f"artifact {name!r} is not in the cache manifest; {hint}")
        path = self.root / entry["file"]
        if not path.is_file():
            raise ArtifactMissing(f"artifact {name!r} is listed but {path} is missing; {hint}")
        art = Artifact(name=name, path=path, sha256=entry["sha256"], size=int(entry["size"]))
        if verify:
            actual = sha256_file(path)
            if actual != art.sha256:
                raise ArtifactMissing(
                    f"artifact {name!r} at {path} has sha256 {actual}, manifest says {art.sha256}: "
                    f"the file is corrupt or was replaced; delete it and {hint}"
                )
        self._verified[name] = art
        return art

    def record(self, name: str, path: Path, source: str, supplied_sha256: str | None = None) -> Artifact:
        """`supplied_sha256`: the checksum the user configured for a file they supply, when the cached
        copy differs from it (setuid bits stripped), so a re-run knows it has that file already."""
        manifest = self.manifest()
        digest = sha256_file(path)
        manifest[name] = {
            "file": path.name,
            "sha256": digest,
            "size": path.stat().st_size,
            "source": redact_url(source),
            **({"suppliedSha256": supplied_sha256} if supplied_sha256 else {}),
        }
        tmp = self.root / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.root / MANIFEST)
        self._verified.pop(name, None)
        return Artifact(name=name, path=path, sha256=digest, size=path.stat().st_size)


def supplied(
    cache: ArtifactCache, name: str, source: str, sha256: str, source_key: str, sha_key: str
) -> Artifact:
    """A file the user supplies (absolute path, file:// or http(s):// URL), copied into the cache once and
    verified against the sha256 the user configured; `source_key`/`sha_key` are the settings naming them
    (e.g. artifacts.mesosPackageSource / artifacts.mesosPackageSha256), for the error messages."""
    try:
        art = cache.get(name)
        if sha256 in (art.sha256, cache.manifest().get(name, {}).get("suppliedSha256")):
            return art
    except ArtifactMissing:
        pass  # not cached yet, or the cached copy is corrupt: fetch it again below
    suffix = next((s for s in (".tar.gz", ".tgz", ".tar.xz", ".tar", ".sh") if source.endswith(s)), "")
    cache.root.mkdir(parents=True, exist_ok=True)
    target = cache.root / f"{name}-{sha256[:16]}{suffix}"
    partial = target.with_name(target.name + ".partial")
    try:
        if source.startswith(("http://", "https://", "file://")):
            with urllib.request.urlopen(source, timeout=60) as resp, partial.open("wb") as out:
                shutil.copyfileobj(resp, out)
        else:
            shutil.copyfile(source, partial)
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise ArtifactMissing(
            f"cannot read {redact_url(source)} (settings.{source_key}): {exc}; fix the path or URL"
        ) from exc
    actual = sha256_file(partial)
    if actual != sha256:
        partial.unlink()
        raise ArtifactMissing(
            f"{redact_url(source)} (settings.{source_key}) has sha256 {actual}, but settings.{sha_key} says "
            f"{sha256}: "
            "the file is not the one configured; fix either setting"
        )
    if suffix.startswith(".t"):
        # checked here, on the control machine, before anything is sent to a node
        sanitize_tar(partial, f"settings.{source_key}", redact_url(source))
    partial.replace(target)
    return cache.record(name, target, source, supplied_sha256=sha256)


def _filtered(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """The member as `tarfile.data_filter` allows it (raises FilterError), setuid/setgid/sticky bits off."""
    tarfile.data_filter(member, "/unpack")
    return member.replace(mode=member.mode & 0o1777 & ~0o1000, deep=False)


def sanitize_tar(path: Path, key: str, shown: str) -> None:
    """Refuse a user-supplied tar whose members could escape the directory it is unpacked into (`..`,
    absolute paths, links pointing out, device files), naming the member; strip setuid/setgid bits by
    rewriting the file in place. The rules are Python's `tarfile.data_filter` (PEP 706)."""
    try:
        with tarfile.open(path) as tar:
            members = tar.getmembers()
            for m in members:
                if m.name.startswith("/") or (m.islnk() and m.linkname.startswith("/")):
                    # data_filter would strip the slash; a package that means an absolute path is wrong
                    raise tarfile.AbsolutePathError(m)
            cleaned = [_filtered(m) for m in members]
            if all(c.mode == m.mode for c, m in zip(cleaned, members, strict=True)):
                return
            out = path.with_name(path.name + ".sanitized")
            gz = path.name.endswith((".gz", ".tgz"))
            with tarfile.open(out, "w:gz") if gz else tarfile.open(out, "w") as dest:
                for member in cleaned:
                    data = tar.extractfile(member) if member.isfile() else None
                    dest.addfile(member, data)
    except tarfile.FilterError as exc:
        path.unlink(missing_ok=True)
        raise ArtifactMissing(
            f"{shown} ({key}) is refused before any node is contacted: {exc}; a package must unpack "
            "inside its own directory (no '..', no absolute paths, no links out of the tree, no device files)"
        ) from exc
    except (OSError, tarfile.TarError) as exc:
        path.unlink(missing_ok=True)
        raise ArtifactMissing(f"{shown} ({key}) is not a readable tar: {exc}") from exc
    out.replace(path)


# --- fetching (control machine only) ---------------------------------------------------------------------


def render_pom(dependencies: list[tuple[str, str, str]]) -> str:
    """A throw-away pom whose only purpose is `mvn dependency:copy-dependencies`."""
    deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in dependencies
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>fastdata.cache</groupId><artifactId>resolve</artifactId><version>1</version>\n"
        "  <packaging>pom</packaging>\n"
        f"  <dependencies>\n{deps}\n  </dependencies>\n</project>\n"
    )


def kafka_dependencies(version: str) -> list[tuple[str, str, str]]:
    """The broker + tools jars of `version` and the logging binding its major uses (3.x: reload4j behind
    SLF4J; 4.x: Log4j 2, whose config roles/packages/kafka.py renders as log4j2.properties)."""
    binding = [SLF4J_RELOAD4J, RELOAD4J] if version.startswith("3.") else LOG4J2
    return [
        ("org.apache.kafka", "kafka_2.13", version),
        ("org.apache.kafka", "kafka-tools", version),
        *binding,
    ]


def spark_kafka_dependencies(spark: str) -> list[tuple[str, str, str]]:
    return [("org.apache.spark", f"spark-sql-kafka-0-10_{SCALA_SPARK}", spark)]


def hadoop_dependencies(version: str) -> list[tuple[str, str, str]]:
    """hadoop-hdfs declares hadoop-common, -auth and -hdfs-client as provided: name them (reference
    docs/reference/hdfs-spark-kafka4.md A.2)."""
    return [
        ("org.apache.hadoop", "hadoop-hdfs", version),
        ("org.apache.hadoop", "hadoop-hdfs-client", version),
        ("org.apache.hadoop", "hadoop-common", version),
    ]


def _mvn(args: list[str]) -> None:
    if shutil.which("mvn") is None:
        raise ArtifactMissing("`mvn` is not installed: run ./scripts/setup.sh (apt package maven)")
    cmd = ["mvn", "-q", "-B", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise ArtifactMissing(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}); is Maven Central reachable?\n{tail}"
        )


def _mvn_copy(deps: list[tuple[str, str, str]], out: Path) -> list[Path]:
    with tempfile.TemporaryDirectory(prefix="fastdata-pom-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(render_pom(deps))
        _mvn(
            [
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={out}",
            ]
        )
    return sorted(out.glob("*.jar"))


def _hadoop_tree(version: str, stage: Path) -> list[Path]:
    """stage/lib/*.jar (the runtime closure) and stage/webapps/ (the UI files the NameNode and DataNode
    load from the classpath at start; Maven ships them only in hadoop-hdfs's tests jar)."""
    jars = _mvn_copy(hadoop_dependencies(version), stage / "lib")
    tests_jar = f"org.apache.hadoop:hadoop-hdfs:{version}:jar:tests"
    with tempfile.TemporaryDirectory(prefix="fastdata-hdfs-tests-") as tmp:
        with tempfile.TemporaryDirectory(prefix="fastdata-pom-") as pomdir:
            pom = Path(pomdir) / "pom.xml"
            pom.write_text(render_pom([]))
            _mvn(["-f", str(pom), "dependency:copy", f"-Dartifact={tests_jar}", f"-DoutputDirectory={tmp}"])
        found = sorted(Path(tmp).glob("hadoop-hdfs-*-tests.jar"))
        if not found:
            raise ArtifactMissing(f"Maven gave no {tests_jar} (the HDFS web UI files are in it)")
        webapps: list[Path] = []
        with zipfile.ZipFile(found[0]) as z:
            for name in z.namelist():
                if name.startswith("webapps/") and not name.endswith("/"):
                    target = stage / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(z.read(name))
                    webapps.append(target)
    if not any(p.match("webapps/hdfs/*") for p in (w.relative_to(stage) for w in webapps)):
        raise ArtifactMissing(f"{tests_jar} has no webapps/hdfs: the NameNode would not start without it")
    return jars + webapps


def deterministic_tar(files: list[Path], dest: Path, root: Path | None = None) -> None:
    """Tar with fixed order, mtime and owner, so identical inputs give an identical sha256.
    Members are named by file name, or by their path relative to `root` when given."""
    tmp = dest.with_suffix(".tmp")
    with tmp.open("wb") as out:
        write_tar(files, out, root)
    tmp.replace(dest)


def write_tar(files: list[Path], out: Any, root: Path | None = None) -> None:
    """The deterministic tar of `files` written to the binary file object `out`."""

    def arcname(f: Path) -> str:
        return f.relative_to(root).as_posix() if root is not None else f.name

    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in sorted(files, key=arcname):
            info = tarfile.TarInfo(arcname(f))
            info.size = f.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with f.open("rb") as fh:
                tar.addfile(info, fh)


_JAR_VERSION = re.compile(r"-\d[\w.\-]*\.jar$")


def jar_artifact_id(filename: str) -> str:
    """`kafka-clients-3.4.1.jar` -> `kafka-clients` (the version-less name, to spot duplicates)."""
    return _JAR_VERSION.sub("", Path(filename).name)


def pyspark_jar_ids(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return {
            jar_artifact_id(n) for n in z.namelist() if n.startswith("pyspark/jars/") and n.endswith(".jar")
        }


def fetch(settings: Mapping[str, Any], root: Path, log: Any = print) -> dict[str, Artifact]:
    """Fill the cache (idempotent: bundles already recorded with a matching checksum are kept)."""
    root.mkdir(parents=True, exist_ok=True)
    cache = ArtifactCache(root)
    names = bundle_names(settings)
    kv, sv = kafka_version(settings), spark_version(settings)
    done: dict[str, Artifact] = {}

    def cached(name: str) -> Artifact | None:
        try:
            return cache.get(name)
        except ArtifactMissing:
            return None

    # pyspark first: the connector bundle drops jars pyspark already ships. Both come hash-checked from
    # requirements/node-spark.lock: pyspark's sdist (built with the locked setuptools of this venv, no build
    # isolation, so nothing unlocked is downloaded) and the py4j wheel.
    for logical in ("pyspark", "py4j"):
        name = names[logical]
        art = cached(name)
        if art is None:
            wheel_dir = root / "wheels"
            wheel_dir.mkdir(exist_ok=True)
            if logical == "pyspark":
                locked = _locked_for_nodes(node_spark_lock(sv), "pyspark", sv)
                log(f"artifacts: building the {locked.pin} wheel from PyPI (pip wheel; slow the first time)")
                _pip_locked(["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheel_dir)], [locked])
                found = sorted(wheel_dir.glob(f"pyspark-{sv}-*.whl"))
            else:
                spark_wheel = cache.get(names["pyspark"]).path
                py4j_version = _py4j_requirement(spark_wheel).split("==", 1)[1]
                locked = _locked_for_nodes(node_spark_lock(sv), "py4j", py4j_version)
                log(f"artifacts: downloading {locked.pin} from PyPI")
                _pip_locked(["download", "--no-deps", "--only-binary=:all:", "-d", str(wheel_dir)], [locked])
                found = sorted(wheel_dir.glob(f"py4j-{py4j_version}-*.whl"))
            if not found:
                raise ArtifactMissing(f"pip produced no wheel for {logical} in {wheel_dir}")
            target = root / found[-1].name
            shutil.copy2(found[-1], target)
            art = cache.record(name, target, f"pypi:{found[-1].name}")
        done[logical] = art

    for logical, deps, keep in (
        ("kafka", kafka_dependencies(kv), None),
        ("spark-kafka", spark_kafka_dependencies(sv), pyspark_jar_ids(done["pyspark"].path)),
    ):
        name = names[logical]
        art = cached(name)
        if art is None:
            log(f"artifacts: resolving {', '.join(':'.join(d) for d in deps)} from Maven Central")
            with tempfile.TemporaryDirectory(prefix="fastdata-jars-") as tmp:
                jars = _mvn_copy(deps, Path(tmp))
                if keep is not None:  # the connector: only what Spark does not already have
                    jars = [j for j in jars if jar_artifact_id(j.name) not in keep]
                target = root / f"{name}.tar"
                deterministic_tar(jars, target)
            art = cache.record(name, target, "maven:" + ",".join(":".join(d) for d in deps))
            log(f"artifacts: {name}: {len(jars)} jars, sha256 {art.sha256[:16]}")
        done[logical] = art

    name = names["hadoop"]
    art = cached(name)
    if art is None:
        hv = hadoop_version(settings)
        log(
            f"artifacts: resolving HDFS {hv} (hadoop-hdfs, -hdfs-client, -common, the UI files) "
            "from Maven Central"
        )
        with tempfile.TemporaryDirectory(prefix="fastdata-hadoop-") as tmp:
            files = _hadoop_tree(hv, Path(tmp))
            target = root / f"{name}.tar"
            deterministic_tar(files, target, root=Path(tmp))
        deps = hadoop_dependencies(hv)
        art = cache.record(
            name, target, "maven:" + ",".join(":".join(d) for d in deps) + ",hadoop-hdfs:tests"
        )
        log(f"artifacts: {name}: {len(files)} files, sha256 {art.sha256[:16]}")
    done["hadoop"] = art

    name = names["demo-wheels"]
    art = cached(name)
    if art is None:
        reqs = demo_requirements()
        lock = _shown(NODE_DEMO_LOCK)
        log(f"artifacts: downloading the demo apps' {len(reqs)} wheels locked in {lock} from PyPI")
        with tempfile.TemporaryDirectory(prefix="fastdata-wheels-") as tmp:
            hashed = ["--require-hashes", "--no-deps", "--only-binary=:all:", "-r", str(NODE_DEMO_LOCK)]
            _pip(["download", *hashed, *NODE_PYTHON, "-d", tmp])
            wheels = sorted(Path(tmp).glob("*.whl"))
            if len(wheels) != len(reqs):
                got = ", ".join(w.name for w in wheels)
                raise ArtifactMissing(f"pip got {len(wheels)} wheels for the {len(reqs)} in {lock}: {got}")
            target = root / f"{name}.tar"
            deterministic_tar(wheels, target)
        art = cache.record(name, target, "pypi:" + ",".join(reqs))
    done["demo-wheels"] = art

    if not (REPO / "apps" / "dashboard" / "web" / "dist" / "app.js").is_file():
        log("artifacts: building the dashboard front end (npm ci + esbuild)")
        proc = subprocess.run(
            [str(REPO / "apps" / "dashboard" / "build.sh")], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise ArtifactMissing(
                "apps/dashboard/build.sh failed; is the npm registry reachable?\n"
                + (proc.stdout + proc.stderr)[-2000:]
            )
    return done


def _py4j_requirement(pyspark_wheel: Path) -> str:
    with zipfile.ZipFile(pyspark_wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = io.TextIOWrapper(z.open(meta), encoding="utf-8").read()
    m = re.search(r"^Requires-Dist: (py4j\s*\(?==\s*[\d.]+)\)?", text, re.M)
    if not m:
        raise ArtifactMissing(f"cannot find the py4j requirement in {pyspark_wheel}")
    return m.group(1).replace(" ", "").replace("(", "")


def node_spark_lock(version: str) -> Path:
    """The lock of the nodes' pyspark + py4j for Spark `version`: node-spark.lock (the pyproject.toml pin)
    or, for an older patch release listed in [tool.fastdata] node-spark-versions, node-spark-<v>.lock."""
    older = NODE_SPARK_LOCK.with_name(f"node-spark-{version}.lock")
    return older if older.is_file() else NODE_SPARK_LOCK


def _locked_for_nodes(lock: Path, name: str, version: str) -> Locked:
    entry = read_lock(lock).get(canonical_name(name))
    if entry is None or entry.version != version:
        has = entry.pin if entry else "nothing"
        raise ArtifactMissing(
            f"the nodes need {name}=={version} but {_shown(lock)} locks {has}: set the pyspark pin "
            f"in pyproject.toml to the Spark version you deploy (versions.spark), or add an older 3.5.x "
            f"to [tool.fastdata] node-spark-versions there, and run {RELOCK}"
        )
    return entry


def _pip_locked(args: list[str], entries: list[Locked]) -> None:
    """pip `args` on exactly these locked requirements, each checked against its hashes."""
    with tempfile.TemporaryDirectory(prefix="fastdata-req-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text("".join(e.line() + "\n" for e in entries))
        _pip([*args, "--require-hashes", "-r", str(req)])


def _pip(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ArtifactMissing(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}); is PyPI reachable?\n"
            + (proc.stdout + proc.stderr)[-2000:]
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fill the fastdata artifact cache (Maven Central + PyPI).")
    parser.add_argument("--cache", type=Path, help="cache directory (default: $FASTDATA_CACHE/artifacts)")
    parser.add_argument("--kafka", default=DEFAULT_KAFKA, help="Kafka version (3.9.x or 4.x)")
    parser.add_argument("--spark", default=DEFAULT_SPARK, help="Spark / pyspark version (3.5.x)")
    parser.add_argument("--hadoop", default=DEFAULT_HADOOP, help="Hadoop (HDFS) version (3.4.x)")
    args = parser.parse_args(argv)
    settings = {"versions": {"kafka": args.kafka, "spark": args.spark, "hadoop": args.hadoop}}
    root = args.cache or cache_dir(settings)
    arts = fetch(settings, root)
    for logical, art in arts.items():
        print(f"{logical:12} {art.filename:48} {art.size / 1e6:8.1f} MB  sha256 {art.sha256}")
    print(f"cache: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
