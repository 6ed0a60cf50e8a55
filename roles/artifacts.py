"""The local artifact cache (DESIGN 3.4): everything nodes need that is not an apt package.

Bundles are single files (a deterministic tar of jars, or a wheel) so that "is it on the node?" is one
sha256 comparison. `fetch()` fills the cache from Maven Central / PyPI on the control machine; nodes
never download anything themselves, which is what makes air-gapped clusters work.

Layout under the cache directory:
    manifest.json                     {bundle name: {file, sha256, size, source}}
    kafka-libs-<v>.tar                org.apache.kafka:kafka_2.13 + kafka-tools (runtime) + reload4j binding
    spark-kafka-<v>.tar               spark-sql-kafka-0-10_2.12 + runtime deps not already in pyspark
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

from roles.errors import ArtifactMissing

DEFAULT_KAFKA = "3.9.1"
DEFAULT_SPARK = "3.5.7"
SCALA_SPARK = "2.12"
# The 3.x build's logging binding versions (reload4j is compileOnly in kafka_2.13 3.9).
SLF4J_RELOAD4J = ("org.slf4j", "slf4j-reload4j", "1.7.36")
RELOAD4J = ("ch.qos.reload4j", "reload4j", "1.2.25")
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


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def bundle_names(settings: Mapping[str, Any]) -> dict[str, str]:
    """Logical bundle -> manifest key, for the versions in settings."""
    kv, sv = kafka_version(settings), spark_version(settings)
    return {
        "kafka": f"kafka-libs-{kv}",
        "spark-kafka": f"spark-kafka-{sv}",
        "pyspark": f"pyspark-{sv}",
        "py4j": "py4j",
        "demo-wheels": "demo-wheels-" + _digest(" ".join(demo_requirements())),
    }


REPO = Path(__file__).resolve().parent.parent
# The demo apps' third-party dependencies, at the versions pinned in pyproject.toml (one source of truth).
DEMO_PACKAGES = ("confluent-kafka", "requests")
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


def demo_requirements() -> list[str]:
    text = (REPO / "pyproject.toml").read_text()
    reqs = []
    for pkg in DEMO_PACKAGES:
        m = re.search(rf'"({re.escape(pkg)}==[^"]+)"', text, re.I)
        if not m:
            raise ArtifactMissing(f'pyproject.toml must pin {pkg} ("{pkg}==X.Y.Z"): the demo ships it')
        reqs.append(m.group(1))
    return reqs


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

    def record(self, name: str, path: Path, source: str) -> Artifact:
        manifest = self.manifest()
        digest = sha256_file(path)
        manifest[name] = {
            "file": path.name,
            "sha256": digest,
            "size": path.stat().st_size,
            "source": source,
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
        if art.sha256 == sha256:
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
            f"cannot read {source} (settings.{source_key}): {exc}; fix the path or URL"
        ) from exc
    actual = sha256_file(partial)
    if actual != sha256:
        partial.unlink()
        raise ArtifactMissing(
            f"{source} (settings.{source_key}) has sha256 {actual}, but settings.{sha_key} says {sha256}: "
            "the file is not the one configured; fix either setting"
        )
    partial.replace(target)
    return cache.record(name, target, source)


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
    return [
        ("org.apache.kafka", "kafka_2.13", version),
        ("org.apache.kafka", "kafka-tools", version),
        SLF4J_RELOAD4J,
        RELOAD4J,
    ]


def spark_kafka_dependencies(spark: str) -> list[tuple[str, str, str]]:
    return [("org.apache.spark", f"spark-sql-kafka-0-10_{SCALA_SPARK}", spark)]


def _mvn_copy(deps: list[tuple[str, str, str]], out: Path) -> list[Path]:
    if shutil.which("mvn") is None:
        raise ArtifactMissing("`mvn` is not installed: run ./scripts/setup.sh (apt package maven)")
    with tempfile.TemporaryDirectory(prefix="fastdata-pom-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(render_pom(deps))
        cmd = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={out}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-2000:]
            raise ArtifactMissing(
                f"`{' '.join(cmd)}` failed (exit {proc.returncode}); is Maven Central reachable?\n{tail}"
            )
    return sorted(out.glob("*.jar"))


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

    # pyspark first: the connector bundle drops jars pyspark already ships.
    for logical, req in (("pyspark", f"pyspark=={sv}"), ("py4j", None)):
        name = names[logical]
        art = cached(name)
        if art is None:
            wheel_dir = root / "wheels"
            wheel_dir.mkdir(exist_ok=True)
            if req is not None:
                log(f"artifacts: building the {req} wheel from PyPI (pip wheel; slow the first time)")
                _pip(["wheel", "--no-deps", "-w", str(wheel_dir), req])
                found = sorted(wheel_dir.glob(f"pyspark-{sv}-*.whl"))
            else:
                spark_wheel = cache.get(names["pyspark"]).path
                py4j_req = _py4j_requirement(spark_wheel)
                log(f"artifacts: downloading {py4j_req} from PyPI")
                _pip(["download", "--no-deps", "--only-binary=:all:", "-d", str(wheel_dir), py4j_req])
                found = sorted(wheel_dir.glob("py4j-*.whl"))
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

    name = names["demo-wheels"]
    art = cached(name)
    if art is None:
        reqs = demo_requirements()
        log(f"artifacts: downloading wheels for the demo apps ({', '.join(reqs)}) from PyPI")
        with tempfile.TemporaryDirectory(prefix="fastdata-wheels-") as tmp:
            _pip(["download", "--only-binary=:all:", *NODE_PYTHON, "-d", tmp, *reqs])
            wheels = sorted(Path(tmp).glob("*.whl"))
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
    parser.add_argument("--kafka", default=DEFAULT_KAFKA, help="Kafka version (3.9.x)")
    parser.add_argument("--spark", default=DEFAULT_SPARK, help="Spark / pyspark version (3.5.x)")
    args = parser.parse_args(argv)
    settings = {"versions": {"kafka": args.kafka, "spark": args.spark}}
    root = args.cache or cache_dir(settings)
    arts = fetch(settings, root)
    for logical, art in arts.items():
        print(f"{logical:12} {art.filename:48} {art.size / 1e6:8.1f} MB  sha256 {art.sha256}")
    print(f"cache: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
