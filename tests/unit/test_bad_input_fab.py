"""Bad inventory files through the real entry point, `fab render` / `fab plan` as a process: a one-line
error per problem naming the field, a non-zero exit, no traceback, nothing written anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_contract_inventory import _with

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

CASES: list[tuple[str, Any, str]] = [
    ("node name walks up", _with("nodes.1.name", "../../escaped"), "nodes[1].name"),
    ("absolute node name", _with("nodes.1.name", "/tmp/escaped"), "nodes[1].name"),
    ("cluster name walks up", _with("name", "../../../tmp/escaped"), "name"),
    ("min.insync not a number", _with("settings.kafka.minInsyncReplicas", "x"),
     "settings.kafka.minInsyncReplicas"),
    ("demo enabled as 'no'", _with("settings.demo.enabled", "no"), "settings.demo.enabled"),
    ("versions as a list", _with("settings.versions", ["3.9.1"]), "settings.versions"),
    ("host key not base64", _with("ssh.knownHosts", "10.98.0.10 ssh-ed25519 ***\n"), "ssh.knownHosts"),
    ("not JSON", "{not json", "not JSON"),
    ("not UTF-8", b"\xff\xfe{}", "inventory"),
]  # fmt: skip


# every case through render; plan (and deploy, status, diagnose) load the inventory the same way
RUNS = [("render", *case) for case in CASES] + [("plan", *CASES[0])]


@pytest.mark.parametrize(("task", "what", "doc", "field"), RUNS, ids=[f"{r[0]}-{r[1]}" for r in RUNS])
def test_a_bad_inventory_file_is_refused_by_the_task(
    task: str, what: str, doc: Any, field: str, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    path = tmp_path / "cluster.json"
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    else:
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    args = [sys.executable, "-m", "fabric", "-r", str(ROOT), task, "--inventory", str(path)]
    if task == "render":
        args += ["--out", str(work / "out")]
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert proc.returncode != 0, (what, proc.stdout, proc.stderr)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert field in output, (what, output)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not any(work.iterdir()), "nothing written"
    assert not Path("/tmp/escaped").exists()
