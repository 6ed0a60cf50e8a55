"""The lock files in requirements/ agree with pyproject.toml (a pin changed, added or dropped without
re-locking fails here, naming the command), every locked requirement carries hashes, and every third-party
package the code imports is declared in pyproject.toml."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

from roles import artifacts
from roles.artifacts import DEMO_PACKAGES, Locked, canonical_name, read_lock
from tests.helpers import ROOT

pytestmark = pytest.mark.unit

RELOCK = "run ./scripts/lock.sh and commit requirements/"
LOCKS = ROOT / "requirements"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins(reqs: list[str]) -> dict[str, tuple[str, str]]:
    """canonical name -> (requirement as written, pinned version); every dependency must be `==`-pinned."""
    out = {}
    for req in reqs:
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", req)
        assert m, f"pyproject.toml: {req!r} is not pinned as name==version"
        out[canonical_name(m.group(1))] = (req, m.group(2))
    return out


CONTROL_PINS = pins(PROJECT["project"]["dependencies"] + PROJECT["project"]["optional-dependencies"]["dev"])


def disagreements(wanted: dict[str, tuple[str, str]], locked: dict[str, Locked], lock: str) -> list[str]:
    problems = []
    for name, (req, version) in sorted(wanted.items()):
        entry = locked.get(name)
        if entry is None:
            problems.append(f"pyproject.toml pins {req} but requirements/{lock} does not have it")
        elif entry.version != version:
            problems.append(f"pyproject.toml pins {req} but requirements/{lock} has {entry.pin}")
    return problems


def test_control_lock_has_every_pin_at_its_version() -> None:
    problems = disagreements(CONTROL_PINS, read_lock(LOCKS / "control.lock"), "control.lock")
    assert not problems, "\n".join(problems) + f"\n-> {RELOCK}"


def test_control_lock_has_no_dropped_pin() -> None:
    # uv annotates what the project itself requires; a dependency removed from pyproject.toml keeps it.
    text = (LOCKS / "control.lock").read_text()
    direct = set()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", block)
        if m and "fastdata (pyproject.toml)" in block:
            direct.add(canonical_name(m.group(1)))
    dropped = sorted(direct - set(CONTROL_PINS))
    assert not dropped, f"requirements/control.lock still locks {dropped} for pyproject.toml -> {RELOCK}"


def test_control_lock_has_the_build_backend() -> None:
    # setup.sh installs the project and builds sdists without build isolation: the backend must be locked.
    locked = read_lock(LOCKS / "control.lock")
    for req in PROJECT["build-system"]["requires"]:
        name = canonical_name(re.split(r"[=<>!~ ;\[]", req, maxsplit=1)[0])
        assert name in locked, (
            f"[build-system] requires {req} but requirements/control.lock lacks it -> {RELOCK}"
        )


def test_node_locks_agree_with_pyproject_and_the_control_venv() -> None:
    control = read_lock(LOCKS / "control.lock")
    demo = read_lock(LOCKS / "node-demo.lock")
    spark = read_lock(LOCKS / "node-spark.lock")
    wanted = {canonical_name(p): CONTROL_PINS[canonical_name(p)] for p in DEMO_PACKAGES}
    problems = disagreements(wanted, demo, "node-demo.lock")
    problems += disagreements({"pyspark": CONTROL_PINS["pyspark"]}, spark, "node-spark.lock")
    if "py4j" not in spark:
        problems.append("requirements/node-spark.lock does not lock py4j (pyspark's dependency)")
    for lock, locked in (("node-demo.lock", demo), ("node-spark.lock", spark)):
        for name, entry in sorted(locked.items()):
            if name in control and control[name].version != entry.version:
                problems.append(
                    f"requirements/{lock} has {entry.pin} but control.lock has {control[name].pin}"
                )
    assert not problems, "\n".join(problems) + f"\n-> {RELOCK}"
    assert CONTROL_PINS["pyspark"][1] == artifacts.DEFAULT_SPARK, (
        "roles/artifacts.py DEFAULT_SPARK must be the pyspark version pinned in pyproject.toml"
    )


OLDER_SPARK = PROJECT["tool"]["fastdata"]["node-spark-versions"]


def test_each_older_node_spark_version_has_its_lock_and_nothing_else_does() -> None:
    """[tool.fastdata] node-spark-versions <-> requirements/node-spark-<v>.lock, each an older 3.5.x with
    py4j at control.lock's version; the deploy reads the lock of the version it deploys."""
    assert sorted(p.name for p in LOCKS.glob("node-spark-*.lock")) == sorted(
        f"node-spark-{v}.lock" for v in OLDER_SPARK
    ), f"-> {RELOCK}"
    control = read_lock(LOCKS / "control.lock")
    for v in OLDER_SPARK:
        assert re.fullmatch(r"3\.5\.\d+", v) and v != artifacts.DEFAULT_SPARK, v
        locked = read_lock(LOCKS / f"node-spark-{v}.lock")
        assert locked["pyspark"].version == v and locked["py4j"].version == control["py4j"].version
        assert all(e.hashes for e in locked.values())
        assert artifacts.node_spark_lock(v).name == f"node-spark-{v}.lock"
    assert artifacts.node_spark_lock(artifacts.DEFAULT_SPARK).name == "node-spark.lock"


def test_demo_requirements_are_the_locked_set() -> None:
    demo = read_lock(LOCKS / "node-demo.lock")
    assert artifacts.demo_requirements() == sorted(entry.pin for entry in demo.values())
    assert set(artifacts.demo_pins()) <= set(artifacts.demo_requirements())


def test_every_locked_requirement_has_hashes() -> None:
    for lock in ("control.lock", "node-demo.lock", "node-spark.lock"):
        locked = read_lock(LOCKS / lock)
        assert locked, f"requirements/{lock} locks nothing -> {RELOCK}"
        unhashed = [e.pin for e in locked.values() if not e.hashes]
        assert not unhashed, f"requirements/{lock}: no hashes for {unhashed} -> {RELOCK}"
        assert all(h.startswith("sha256:") for e in locked.values() for h in e.hashes)


def test_a_stale_demo_lock_is_refused_naming_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (LOCKS / "node-demo.lock").read_text()
    stale = tmp_path / "node-demo.lock"
    stale.write_text(re.sub(r"^waitress==\S+", "waitress==0.0.1", text, flags=re.M))
    monkeypatch.setattr(artifacts, "NODE_DEMO_LOCK", stale)
    with pytest.raises(
        artifacts.ArtifactMissing,
        match=r"pins waitress==\S+ but .* has waitress==0\.0\.1: run \./scripts/lock\.sh",
    ):
        artifacts.demo_requirements()


def project_python_files() -> list[Path]:
    skip = {".venv", ".tools", ".cache", "node_modules", ".git"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def imported_top_level_modules() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in project_python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_third_party_package_is_declared() -> None:
    declared = set(CONTROL_PINS)
    providers = importlib.metadata.packages_distributions()
    files = project_python_files()
    # this project's own modules: its packages, and the test helpers and doubles imported by file name
    local = {p.stem for p in files} | {p.parent.name for p in files if p.name == "__init__.py"}
    undeclared = []
    for module, where in sorted(imported_top_level_modules().items()):
        if module in sys.stdlib_module_names or module in local:
            continue
        dists = {canonical_name(d) for d in providers.get(module, [])}
        if dists.isdisjoint(declared):
            by = ", ".join(sorted(where))
            undeclared.append(
                f"{module} (distribution: {', '.join(sorted(dists)) or 'not installed'}), imported by {by}"
            )
    assert not undeclared, (
        "imported but not declared in pyproject.toml (pin it at the version requirements/control.lock "
        "has, then run ./scripts/lock.sh):\n" + "\n".join(undeclared)
    )
