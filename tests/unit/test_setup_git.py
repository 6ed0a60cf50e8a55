"""A demo or test run leaves the tracked tree unchanged: Pulumi's per-machine encryptionsalt, written into
stacks/Pulumi.<stack>.yaml on first use, is invisible to git once scripts/setup-git.sh has run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SALT = "encryptionsalt: v1:mO3LQMiMEjY=:v1:V7TL4GaP2Nrj6nnZ:8tNVJJku9fc4KzMlhp9p9yAo2+MwXw==\n"


def git(repo: Path, *args: str) -> str:
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_salt_never_shows_in_git_status(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    (repo / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    stack = repo / "stacks" / "Pulumi.local.yaml"
    stack.write_text((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    assert "encryptionsalt" not in stack.read_text()  # the committed file carries no salt
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")

    stack.write_text(stack.read_text() + SALT)  # what `pulumi up` does on first use
    assert git(repo, "status", "--porcelain") == " M stacks/Pulumi.local.yaml\n"  # without the filter

    subprocess.run([str(ROOT / "scripts" / "setup-git.sh"), str(repo)], check=True, capture_output=True)
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "diff") == ""
    assert SALT in stack.read_text()  # Pulumi keeps its salt
    # a real edit still shows, without the salt
    stack.write_text(stack.read_text().replace("count: 3", "count: 2"))
    diff = git(repo, "diff")
    assert "-      count: 3" in diff and "encryptionsalt" not in diff
    subprocess.run([str(ROOT / "scripts" / "setup-git.sh"), str(repo)], check=True, capture_output=True)
