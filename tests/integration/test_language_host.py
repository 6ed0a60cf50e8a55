"""End-to-end test of fastdata's own Python language host (tools/pulumi-python-host) under the built CLI.

What it proves, with a file backend and no network:
  * the host finds the interpreter from the `virtualenv` runtime option alone: PATH here does NOT contain the
    venv, and the python3 on PATH cannot import pulumi;
  * Run: up / stack output / preview --expect-no-changes with a dynamic resource, plain and secret config;
  * a program error fails the command and surfaces the Python traceback;
  * RunPlugin: a policy pack (PulumiPolicy.yaml with its own `virtualenv` option) passes a good resource and a
    mandatory policy rejects a bad one with its message;
  * destroy leaves no resources.

Build the binaries first: FASTDATA_REBUILD_PULUMI=1 ./scripts/build-pulumi.sh
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration

VENV = ROOT / ".venv"
BIN = Path(os.environ.get("FASTDATA_TOOLS", ROOT / ".tools")) / "pulumi" / "bin"

PROGRAM = """
import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class Doubler(ResourceProvider):
    def create(self, props):
        return CreateResult(id_=f"doubled-{props['value']}", outs={**props, "doubled": props["value"] * 2})


class Doubled(Resource):
    doubled: pulumi.Output[int]
    color: pulumi.Output[str]

    def __init__(self, name, value, color):
        super().__init__(Doubler(), name, {"value": value, "color": color, "doubled": None})


def check_settings(cfg):
    if cfg.get_bool("fail"):
        raise ValueError("deliberate failure requested by the fail config value")


cfg = pulumi.Config()
check_settings(cfg)
thing = Doubled("thing", cfg.require_int("value"), cfg.require("color"))
pulumi.export("doubled", thing.doubled)
pulumi.export("color", thing.color)
pulumi.export("greeting", cfg.require_secret("greeting"))
"""

POLICY_PACK = """
from pulumi_policy import EnforcementLevel, PolicyPack, ReportViolation, ResourceValidationArgs, \\
    ResourceValidationPolicy


def no_red(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == "pulumi-python:dynamic:Resource" and args.props.get("color") == "red":
        report_violation("red resources are forbidden by the fastdata test pack")


PolicyPack(
    name="fastdata-test-pack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[ResourceValidationPolicy(name="no-red-resources", description="Rejects red resources.",
                                       validate=no_red)],
)
"""

# PATH for the CLI: the built binaries and the system directories, never the project venv.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    for name in (
        "pulumi",
        "pulumi-language-python",
        "pulumi-language-python-exec",
        "pulumi-resource-pulumi-python",
    ):
        if not os.access(BIN / name, os.X_OK):
            pytest.fail(f"{BIN / name} is missing: run FASTDATA_REBUILD_PULUMI=1 ./scripts/build-pulumi.sh")
    if not (VENV / "bin" / "python").exists():
        pytest.fail(f"{VENV} is missing: run ./scripts/setup.sh")
    tmp = tmp_path_factory.mktemp("langhost")
    (tmp / "state").mkdir()
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
    env = {
        **keep,
        "PATH": f"{BIN}:{SYSTEM_PATH}",
        "PULUMI_HOME": str(tmp / "home"),
        "PULUMI_BACKEND_URL": f"file://{tmp / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "language-host-test-passphrase",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    # The point of the test: nothing but the `virtualenv` option can lead the host to a Python with pulumi.
    probe = subprocess.run(["python3", "-c", "import pulumi"], env=env, capture_output=True, check=False)
    assert probe.returncode != 0, "python3 on the test PATH can import pulumi; the test would prove nothing"
    return env


@pytest.fixture(scope="module")
def project(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "Pulumi.yaml").write_text(
        f"name: langhost\nruntime:\n  name: python\n  options:\n    virtualenv: {VENV}\n"
    )
    (root / "__main__.py").write_text(PROGRAM)
    return root


@pytest.fixture(scope="module")
def policy_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pack = tmp_path_factory.mktemp("pack")
    (pack / "PulumiPolicy.yaml").write_text(
        f"description: fastdata language host test pack\nruntime:\n  name: python\n  options:\n"
        f"    virtualenv: {VENV}\n"
    )
    (pack / "__main__.py").write_text(POLICY_PACK)
    return pack


def pulumi(
    env: dict[str, str], cwd: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "pulumi"), *args, "--non-interactive"]
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True, timeout=300, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-5000:]}"
            f"\n--- stderr ---\n{proc.stderr[-5000:]}"
        )
    return proc


def test_program_lifecycle_policy_pack_and_errors(
    env: dict[str, str], project: Path, policy_pack: Path
) -> None:
    def p(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return pulumi(env, project, *args, check=check)

    p("stack", "init", "dev", "--secrets-provider", "passphrase")
    p("config", "set", "value", "21")
    p("config", "set", "color", "blue")
    p("config", "set", "--secret", "greeting", "hello-secret")

    up = p("up", "--yes", "--skip-preview")
    assert "hello-secret" not in up.stdout + up.stderr, "a secret config value was printed"
    outputs = json.loads(p("stack", "output", "--json", "--show-secrets").stdout)
    assert outputs == {"doubled": 42, "color": "blue", "greeting": "hello-secret"}
    assert json.loads(p("stack", "output", "--json").stdout)["greeting"] == "[secret]"

    p("preview", "--expect-no-changes")

    # Policy pack, good resource: passes, and the pack really ran (its name shows in the output).
    good = p("preview", "--policy-pack", str(policy_pack))
    assert "fastdata-test-pack" in good.stdout, good.stdout

    # Bad resource: the mandatory policy fails the preview with its message.
    p("config", "set", "color", "red")
    bad = p("preview", "--policy-pack", str(policy_pack), check=False)
    out = bad.stdout + bad.stderr
    assert bad.returncode != 0, out
    assert "red resources are forbidden by the fastdata test pack" in out, out
    assert "no-red-resources" in out, out
    p("config", "set", "color", "blue")

    # A program error: the command fails and the traceback (with the user's frame) is shown.
    p("config", "set", "fail", "true")
    failed = p("preview", check=False)
    out = failed.stdout + failed.stderr
    assert failed.returncode != 0, out
    assert "Traceback (most recent call last)" in out, out
    assert "in check_settings" in out, out
    assert "ValueError: deliberate failure requested by the fail config value" in out, out
    p("config", "rm", "fail")

    p("destroy", "--yes", "--skip-preview")
    resources = json.loads(p("stack", "export").stdout)["deployment"].get("resources") or []
    assert resources == []
    p("stack", "rm", "--yes")
