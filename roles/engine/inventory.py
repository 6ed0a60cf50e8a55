"""Reading the inventory: an --inventory file or the `cluster` output of a Pulumi stack, validated into a
`contract.Cluster` before any node is touched (docs/contracts.md). A contract problem becomes an
InventoryError that keeps every problem line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from contract import Cluster, InvalidInventory
from roles.errors import InventoryError

ROOT = Path(__file__).resolve().parents[2]


def parse_inventory(data: Any) -> Cluster:
    """The raw `cluster` output as a Cluster; InventoryError lists every problem, each naming its field."""
    try:
        return Cluster.from_json(data)
    except InvalidInventory as exc:
        raise InventoryError(str(exc)) from exc


def load_file(path: str | Path) -> Cluster:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"cannot read inventory file {p}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InventoryError(
            f"inventory file {p} is not UTF-8 text (byte {exc.start}); write it with "
            "`pulumi stack output cluster --json --show-secrets > FILE`"
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"inventory file {p} is not JSON: {exc}") from exc
    return parse_inventory(data)


def pulumi_env(root: Path | None = None) -> dict[str, str]:
    """The environment scripts/env.sh would set (sourced in bash, so there is one definition)."""
    root = root or ROOT
    proc = subprocess.run(
        ["bash", "-c", '. "$1/scripts/env.sh" && env -0', "env", str(root)],
        capture_output=True,
        check=False,
        env=os.environ.copy(),
    )
    if proc.returncode != 0:
        raise InventoryError(f"sourcing scripts/env.sh failed: {proc.stderr.decode()[-500:]}")
    env = {}
    for item in proc.stdout.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode()] = v.decode()
    return env


def _pulumi(root: Path | None) -> tuple[str, dict[str, str]]:
    env = pulumi_env(root)
    pulumi = shutil.which("pulumi", path=env.get("PATH"))
    if pulumi is None:
        raise InventoryError(
            "the pulumi CLI is not installed: run ./scripts/setup.sh (it builds .tools/pulumi)"
        )
    return pulumi, env


def selected_stack(root: Path | None = None) -> str:
    """The stack `pulumi stack select` chose (`pulumi stack --show-name`), in scripts/env.sh's environment."""
    pulumi, env = _pulumi(root)
    proc = subprocess.run(
        [pulumi, "stack", "--show-name", "--non-interactive"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=str(root or ROOT),
    )
    name = proc.stdout.strip()
    if proc.returncode != 0 or not name:
        raise InventoryError(
            "say which cluster: no Pulumi stack is selected (`pulumi stack --show-name`: "
            f"{(proc.stderr.strip() or 'no name')[-300:]}); pass --stack NAME or --inventory FILE, or "
            "select one with `pulumi stack select NAME` (after `. scripts/env.sh`)"
        )
    return name


def load_stack(stack: str, root: Path | None = None) -> Cluster:
    """`pulumi stack output cluster --json --show-secrets --stack NAME`, validated."""
    pulumi, env = _pulumi(root)
    cmd = [pulumi, "stack", "output", "cluster", "--json", "--show-secrets", "--stack", stack]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=str(root or ROOT))
    if proc.returncode != 0:
        raise InventoryError(
            f"`pulumi stack output cluster --stack {stack}` failed (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-800:]}\nDoes the stack exist and has `pulumi up --stack {stack}` run?"
        )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"stack {stack}: the cluster output is not JSON ({exc})") from exc
    if data is None:
        raise InventoryError(f"stack {stack} has no `cluster` output: run `pulumi up --stack {stack}`")
    return parse_inventory(data)


def load(stack: str | None = None, inventory_file: str | None = None) -> Cluster:
    """--inventory FILE, else --stack NAME, else the selected Pulumi stack."""
    if inventory_file:
        return load_file(inventory_file)
    return load_stack(stack or selected_stack())
