"""A cloud stack without its provider plugin, through the real Pulumi CLI (no LXC, no cloud account):
`pulumi preview` stops before any resource with the command that installs the plugin, not with the
engine's "no resource plugin found" after a traceback; scripts/setup-cloud.sh installs from a directory
(the offline path) what the program then finds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, pulumi_bin, run

pytestmark = pytest.mark.integration

STACK = "it-plugin-aws"


@pytest.fixture
def aws_stack(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The dev-aws config as a throw-away stack, with an empty plugin directory (its own PULUMI_HOME)."""
    env = {"PULUMI_HOME": str(tmp_path / "pulumi-home")}
    config = ROOT / "stacks" / f"Pulumi.{STACK}.yaml"
    config.write_text((ROOT / "stacks" / "Pulumi.dev-aws.yaml").read_text())
    try:
        run([pulumi_bin(), "stack", "init", STACK, "--non-interactive"], env=env)
        yield env
    finally:
        remove = [pulumi_bin(), "stack", "rm", STACK, "--yes", "--force", "--non-interactive"]
        run(remove, env=env, check=False)
        config.unlink(missing_ok=True)


def test_preview_without_the_plugin_names_the_install_command(aws_stack: dict[str, str]) -> None:
    preview = [pulumi_bin(), "preview", "--stack", STACK, "--non-interactive"]
    proc = run(preview, env=aws_stack, check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "./scripts/setup-cloud.sh" in out and "pulumi plugin install resource aws v7.51.1" in out, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out


def test_setup_cloud_installs_from_a_directory(tmp_path: Path) -> None:
    """The offline path: binaries (or tarballs) in FASTDATA_PLUGIN_DIR; the program's check then passes.
    Stand-in executables: only the installation is under test, nothing runs them."""
    supplied = tmp_path / "supplied"
    supplied.mkdir()
    for name in ("aws", "azure-native"):
        binary = supplied / f"pulumi-resource-{name}"
        binary.write_text("#!/bin/sh\nexit 1\n")
        binary.chmod(0o755)
    env = {"PULUMI_HOME": str(tmp_path / "home"), "FASTDATA_PLUGIN_DIR": str(supplied)}
    run([str(ROOT / "scripts" / "setup-cloud.sh")], env=env)
    check = (
        "from contract.schema import Cloud; from infra.plugins import require_plugin; "
        "require_plugin(Cloud.AWS); require_plugin(Cloud.AZURE)"
    )
    python = os.path.join(ROOT, ".venv", "bin", "python")
    run([python, "-c", check], env={**env, "PYTHONPATH": str(ROOT)})


def test_setup_cloud_without_network_or_directory_says_what_to_do(tmp_path: Path) -> None:
    proc = run(
        [str(ROOT / "scripts" / "setup-cloud.sh")],
        env={"PULUMI_HOME": str(tmp_path / "home")},
        check=False,
        timeout=700,
    )
    if proc.returncode == 0:
        pytest.skip("this machine reaches the plugin download host: the plugins were installed")
    assert "FASTDATA_PLUGIN_DIR=DIR ./scripts/setup-cloud.sh" in proc.stderr
