"""Offline smoke test of the toolchain scripts/setup.sh installs: the Pulumi CLI built from Go modules,
the Python language host and the dynamic-provider launcher, with a file backend and a passphrase."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, pulumi_bin, run

pytestmark = pytest.mark.integration

PROGRAM = """
import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class Doubler(ResourceProvider):
    def create(self, props):
        return CreateResult(id_=f"doubled-{props['value']}", outs={**props, "doubled": props["value"] * 2})


class Doubled(Resource):
    doubled: pulumi.Output[int]

    def __init__(self, name, value):
        super().__init__(Doubler(), name, {"value": value, "doubled": None})


cfg = pulumi.Config()
thing = Doubled("thing", cfg.require_int("value"))
pulumi.export("doubled", thing.doubled)
pulumi.export("greeting", cfg.require_secret("greeting"))
"""


def pinned_version() -> str:
    match = re.search(r'"pulumi==([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    assert match, "pyproject.toml must pin pulumi"
    return match.group(1)


def test_built_cli_reports_the_pinned_sdk_version() -> None:
    out = run([pulumi_bin(), "version"]).stdout.strip()
    assert out == f"v{pinned_version()}"
    info = (ROOT / ".tools" / "pulumi" / "BUILD_INFO").read_text()
    if "build_seconds=" in info:  # absent when an installed pulumi of the same version was linked
        assert re.search(r"^build_seconds=\d+$", info, re.M)


def test_dynamic_resource_lifecycle_with_file_backend(tmp_path: Path) -> None:
    project = tmp_path / "smoke"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        f"name: smoke\nruntime:\n  name: python\n  options:\n    virtualenv: {ROOT / '.venv'}\n"
    )
    (project / "__main__.py").write_text(PROGRAM)
    env = {
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "smoke-test-passphrase",
        "PULUMI_HOME": str(tmp_path / "home"),
    }
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    (tmp_path / "state").mkdir()

    def pulumi(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(
            [pulumi_bin(), *args, "--non-interactive"],
            cwd=project,
            env={**env, "PULUMI_CONFIG_PASSPHRASE_FILE": ""},
            check=check,
        )

    pulumi("stack", "init", "dev", "--secrets-provider", "passphrase")
    pulumi("config", "set", "value", "21")
    pulumi("config", "set", "--secret", "greeting", "hello")
    assert "hello" not in (project / "Pulumi.dev.yaml").read_text(), "secret stored in clear text"

    up = pulumi("up", "--yes", "--skip-preview")
    assert "hello" not in up.stdout, "a secret was printed"
    outputs = json.loads(pulumi("stack", "output", "--json", "--show-secrets").stdout)
    assert outputs == {"doubled": 42, "greeting": "hello"}
    assert json.loads(pulumi("stack", "output", "--json").stdout)["greeting"] == "[secret]"

    started = time.monotonic()
    pulumi("preview", "--expect-no-changes")
    print(f"no-op preview took {time.monotonic() - started:.1f}s")

    pulumi("config", "set", "value", "5")
    changed = pulumi("preview", "--expect-no-changes", check=False)
    assert changed.returncode != 0, "a changed input must show up as a change"

    pulumi("destroy", "--yes", "--skip-preview")
    resources = json.loads(pulumi("stack", "export").stdout)["deployment"].get("resources") or []
    assert resources == []
