"""A throw-away local stack for tests: its own name, bridge and subnet (never a user's `local` stack),
created from stacks/Pulumi.local.yaml with overrides, and always destroyed afterwards."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import yaml

from tests.helpers import ROOT, pulumi_bin, run


def pulumi(
    stack: str, *args: str, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return run([pulumi_bin(), *args, "--stack", stack, "--non-interactive"], check=check, timeout=timeout)


def write_stack_file(stack: str, overrides: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    config["config"].update({f"fastdata:{k}": v for k, v in overrides.items()})
    (ROOT / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(config))


@contextlib.contextmanager
def throwaway_stack(stack: str, overrides: dict[str, Any], up: bool = True) -> Iterator[str]:
    """Create (and `pulumi up`) the stack; destroy and remove it, and its config file, on the way out."""
    assert stack.startswith("it-"), "test stacks are named it-* (git-ignored config files)"
    # `pulumi stack rm` also deletes the stack's config file: clean a leftover stack before writing it
    pulumi(stack, "destroy", "--yes", "--skip-preview", check=False)
    pulumi(stack, "stack", "rm", "--yes", "--force", check=False)
    write_stack_file(stack, overrides)
    try:
        pulumi(stack, "stack", "init")
        if up:
            pulumi(stack, "up", "--yes", "--skip-preview")
        yield stack
    finally:
        pulumi(stack, "destroy", "--yes", "--skip-preview", check=False)
        pulumi(stack, "stack", "rm", "--yes", "--force", check=False)
        (ROOT / "stacks" / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)


def inventory(stack: str) -> dict[str, Any]:
    out = pulumi(stack, "stack", "output", "cluster", "--json", "--show-secrets").stdout
    data: dict[str, Any] = json.loads(out)
    return data
