"""Artifacts on nodes: the checksum stamp (a no-op reads a stamp, never re-hashes), the artifact server
(pushed once to one node, fetched by the others over HTTP), and which nodes get Java.

The shell side runs for real: the probes and transfers are executed by bash against temporary files and
a real `python3 -m http.server`, through a `Remote` that runs commands locally.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import Node, Role
from roles.artifacts import Artifact
from roles.engine import ops
from roles.engine.connection import CommandFailed, RunResult
from roles.engine.executor import plan_phases
from roles.engine.spec import artifact_server
from roles.platforms.standalone import PLATFORM
from tests.unit.test_engine import spec_for

pytestmark = pytest.mark.unit


class LocalHost:
    """A `Remote` that runs commands with bash on this machine (uploads are file copies)."""

    def __init__(self, name: str = "agent-0") -> None:
        self.node = Node(name, Role.AGENT, "127.0.0.1", None, 0)
        self.commands: list[str] = []
        self.uploads = 0

    def run(self, command: str, *, check: bool = True, timeout: float | None = None) -> RunResult:
        self.commands.append(command)
        p = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout or 60)
        r = RunResult(command, p.returncode, p.stdout, p.stderr)
        if check and not r.ok:
            raise CommandFailed(self.node.name, command, r.exit_code, r.stdout + r.stderr)
        return r

    def put(self, data: bytes | Path, path: str, mode: int = 0o644, owner: str = "root") -> None:
        self.uploads += 1
        assert isinstance(data, Path)
        shutil.copyfile(data, path)


def make_artifact(directory: Path, content: bytes, name: str = "thing-1.0.tar") -> Artifact:
    path = directory / name
    path.write_bytes(content)
    return Artifact("thing", path, hashlib.sha256(content).hexdigest(), len(content))


@pytest.fixture
def node_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The node's artifact directory (ARTIFACT_DIR points here for the test)."""
    d = tmp_path / "node"
    d.mkdir()
    monkeypatch.setattr(ops, "ARTIFACT_DIR", str(d))
    return d


def check(op: ops.Op, host: LocalHost) -> ops.Check:
    return op.check(host)  # type: ignore[arg-type]


def test_pushed_artifact_is_stamped_and_a_noop_reads_only_the_stamp(tmp_path: Path, node_dir: Path) -> None:
    art = make_artifact(tmp_path, b"x" * 100_000)
    op = ops.artifact_op("thing", art)
    host = LocalHost()
    assert check(op, host) == ops.Check(False, "thing-1.0.tar not on node")
    op.apply(host)  # type: ignore[arg-type]
    assert host.uploads == 1 and (node_dir / "thing-1.0.tar").read_bytes() == b"x" * 100_000
    assert check(op, host) == ops.Check(True, "thing-1.0.tar sha256 matches")
    res = host.run(op.probe or "")
    assert res.stdout.split() == [art.sha256, "stamp"], "a converged node answers from the stamp"


def test_stamp_is_not_trusted_once_the_file_changes(tmp_path: Path, node_dir: Path) -> None:
    art = make_artifact(tmp_path, b"good" * 1000)
    op = ops.artifact_op("thing", art)
    host = LocalHost()
    op.apply(host)  # type: ignore[arg-type]
    (node_dir / "thing-1.0.tar").write_bytes(b"evil" * 999)  # other size: the stamp no longer matches
    assert check(op, host) == ops.Check(False, "thing-1.0.tar sha256 differs")
    op.apply(host)  # type: ignore[arg-type]
    assert host.uploads == 2 and check(op, host).ok


def test_right_file_without_stamp_is_stamped_not_transferred_again(tmp_path: Path, node_dir: Path) -> None:
    """A node deployed before stamps existed: the file is hashed once, stamped, and never re-sent."""
    art = make_artifact(tmp_path, b"y" * 5000)
    shutil.copyfile(art.path, node_dir / art.filename)
    op = ops.artifact_op("thing", art)
    host = LocalHost()
    assert check(op, host) == ops.Check(False, "thing-1.0.tar sha256 matches, checksum stamp missing")
    op.apply(host)  # type: ignore[arg-type]
    assert host.uploads == 0 and check(op, host).ok


def test_write_stamp_refuses_a_wrong_checksum(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    host = LocalHost()
    assert not host.run(ops.write_stamp(str(f), "0" * 64, verify=True), check=False).ok
    assert not Path(ops.stamp_path(str(f))).exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[Path, ops.ArtifactServer]]:
    """The same server the artifact server unit runs, serving a directory on a free local port."""
    served = tmp_path / "served"
    served.mkdir()
    port = free_port()
    proc = subprocess.Popen(  # as the unit runs it: in the served directory (no --directory, see the unit)
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=served,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield served, ops.ArtifactServer("master-0", "127.0.0.1", port)
    finally:
        proc.terminate()
        proc.wait(10)


def test_fetched_from_the_artifact_server_and_verified(
    tmp_path: Path, node_dir: Path, http_server: tuple[Path, ops.ArtifactServer]
) -> None:
    served, server = http_server
    art = make_artifact(tmp_path, bytes(range(256)) * 4000)
    shutil.copyfile(art.path, served / art.filename)
    op = ops.artifact_op("thing", art, server)
    assert op.name == "artifact thing-1.0.tar on node (1 MB, from master-0)"
    host = LocalHost()
    op.apply(host)  # type: ignore[arg-type]
    assert host.uploads == 0, "nothing was pushed from the control machine"
    assert (node_dir / art.filename).read_bytes() == art.path.read_bytes()
    assert check(op, host) == ops.Check(True, "thing-1.0.tar sha256 matches")
    assert not list(node_dir.glob(".*.part")), "no partial file left behind"


def test_damaged_copy_on_the_server_is_refused_and_named(
    tmp_path: Path, node_dir: Path, http_server: tuple[Path, ops.ArtifactServer]
) -> None:
    served, server = http_server
    art = make_artifact(tmp_path, b"z" * 3000)
    (served / art.filename).write_bytes(b"z" * 2999 + b"!")
    op = ops.artifact_op("thing", art, server)
    with pytest.raises(CommandFailed) as exc:
        op.apply(LocalHost())  # type: ignore[arg-type]
    assert "the copy on master-0 is damaged" in exc.value.output
    assert not (node_dir / art.filename).exists() and not list(node_dir.glob(".*.part"))


def test_unreachable_server_names_the_service_to_check(tmp_path: Path, node_dir: Path) -> None:
    art = make_artifact(tmp_path, b"q" * 10)
    op = ops.artifact_op("thing", art, ops.ArtifactServer("master-0", "127.0.0.1", free_port()))
    with pytest.raises(CommandFailed) as exc:
        op.apply(LocalHost())  # type: ignore[arg-type]
    assert "check fastdata-artifacts.service on master-0" in exc.value.output


def test_plan_seeds_the_first_master_and_agents_fetch_from_it() -> None:
    spec, inv = spec_for()
    assert spec.artifact_server == ops.ArtifactServer("master-0", "10.98.0.10")
    phases = plan_phases(PLATFORM, spec, inv)  # type: ignore[arg-type]
    seed = [o.key for o in phases["bootstrap"]["master-0"]]
    assert seed == [
        *(f"seed-{n}" for n in sorted(spec.artifacts)),
        "artifact-server-unit",
        "artifact-server-running",
    ]
    unit = phases["bootstrap"]["master-0"][-2].files[0].content.decode()
    assert "WorkingDirectory=/opt/fastdata/artifacts\n" in unit
    assert "ExecStart=/usr/bin/python3 -m http.server --bind 10.98.0.10 8099\n" in unit
    pyspark = {
        h: next(o for o in ops_ if o.key == "pyspark-artifact") for h, ops_ in phases["agents"].items()
    }
    assert all(o.name.endswith("from master-0)") for o in pyspark.values())
    master_pyspark = next(o for o in phases["masters"]["master-0"] if o.key == "pyspark-artifact")
    assert "from" not in master_pyspark.name, "the server itself was pushed its copy"


def test_java_only_where_a_jvm_runs() -> None:
    spec, inv = spec_for()
    phases = plan_phases(PLATFORM, spec, inv)  # type: ignore[arg-type]
    base = {h: ops_[0] for h, ops_ in phases["prerequisites"].items()}
    assert "openjdk-17-jre-headless" in (base["agent-1"].probe or "")
    assert "openjdk-17-jre-headless" in (base["master-0"].probe or "")
    assert "openjdk" not in (base["public-agent-0"].probe or "")
    assert base["public-agent-0"].name == "Python venv installed on public-agent-0"


def test_no_server_without_a_master_or_bootstrap_node() -> None:
    _, inv = spec_for()
    agents_only = dataclasses.replace(inv, nodes=tuple(n for n in inv.nodes if n.role != Role.MASTER))  # type: ignore[type-var]
    assert artifact_server(agents_only) is None
    with_bootstrap = dataclasses.replace(
        inv, nodes=(Node("bootstrap-0", Role.BOOTSTRAP, "10.98.0.5", None, 0), *inv.nodes)
    )  # type: ignore[type-var]
    assert artifact_server(with_bootstrap) == ops.ArtifactServer("bootstrap-0", "10.98.0.5")
