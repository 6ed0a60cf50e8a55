"""The foundation scripts behave as promised: setup is idempotent, quiet and fast when nothing is to
do, and the CI entry point fails when a test fails."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration


def test_second_setup_is_quiet_fast_and_changes_nothing() -> None:
    # The test tier itself runs after setup.sh, so this is at least the second run.
    watched = [ROOT / ".venv" / ".fastdata-deps", ROOT / ".tools" / "pulumi" / "bin" / "pulumi"]
    before = [p.stat().st_mtime_ns for p in watched]
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / "scripts" / "setup.sh")], capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == "", f"setup.sh was not quiet:\n{proc.stdout}{proc.stderr}"
    assert elapsed < 30, f"a no-op setup.sh took {elapsed:.1f}s"
    assert [p.stat().st_mtime_ns for p in watched] == before, "a no-op setup.sh rewrote installed files"
    print(f"no-op setup.sh: {elapsed:.1f}s")


def test_test_command_fails_when_a_test_fails() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci and "exec" in ci, ".ci/run must hand its exit status over to test.sh"
    env = {**os.environ, "FASTDATA_CANARY": "fail"}
    proc = subprocess.run(
        [
            str(ROOT / "scripts" / "test.sh"),
            "--tier",
            "unit",
            "--",
            "-k",
            "test_canary",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode != 0, f"test.sh passed although the canary failed:\n{proc.stdout[-2000:]}"
    assert "1 failed" in proc.stdout
