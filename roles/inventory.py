"""The `cluster` stack output (docs/contracts.md), read and validated before any node is touched."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roles.errors import InventoryError

ROLES = ("bootstrap", "master", "agent", "publicAgent")
CLOUDS = ("local", "aws", "azure")
PLATFORMS = ("standalone", "mesos", "dcos")
TOP_KEYS = ("name", "cloud", "platform", "ssh", "nodes", "endpoints", "settings")


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    private_ip: str
    public_ip: str | None
    index: int  # position within its role (agent-2 -> 2): Kafka node ids derive from it

    @property
    def address(self) -> str:
        """Where the control machine connects: publicIp when set, else privateIp (contract)."""
        return self.public_ip or self.private_ip


@dataclass(frozen=True)
class SshSettings:
    user: str
    port: int
    known_hosts: str
    private_key: str = field(repr=False)  # a secret: never in repr, logs or errors


@dataclass(frozen=True)
class Inventory:
    name: str
    cloud: str
    platform: str
    ssh: SshSettings
    nodes: tuple[Node, ...]
    endpoints: Mapping[str, Any]
    settings: Mapping[str, Any]

    def by_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    @property
    def masters(self) -> list[Node]:
        return self.by_role("master")

    @property
    def agents(self) -> list[Node]:
        return self.by_role("agent")

    @property
    def public_agents(self) -> list[Node]:
        return self.by_role("publicAgent")

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise InventoryError(f"no node named {name!r}; nodes are {[n.name for n in self.nodes]}")

    def known_host_keys(self) -> dict[str, list[tuple[str, str]]]:
        """address -> [(keytype, base64)] from ssh.knownHosts."""
        return parse_known_hosts(self.ssh.known_hosts)


def parse_known_hosts(text: str) -> dict[str, list[tuple[str, str]]]:
    keys: dict[str, list[tuple[str, str]]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 3:
            raise InventoryError(
                f"ssh.knownHosts line {lineno} is not '<address> <keytype> <base64 key>': {line[:80]!r}"
            )
        for host in parts[0].split(","):
            keys.setdefault(host, []).append((parts[1], parts[2]))
    return keys


def _require(data: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data or data[key] is None:
        raise InventoryError(f"inventory field {where}{key} is missing (keys present: {sorted(data)})")
    value = data[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InventoryError(f"inventory field {where}{key} must be a {names}, got {type(value).__name__}")
    return value


def _ip(value: Any, where: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise InventoryError(f"inventory field {where} is not an IP address: {value!r}") from exc
    return str(value)


def parse_inventory(data: Any) -> Inventory:
    """Validate the raw `cluster` output; InventoryError names the first bad field."""
    if not isinstance(data, Mapping):
        raise InventoryError(f"the cluster output must be a JSON object, got {type(data).__name__}")
    for key in TOP_KEYS:
        _require(data, key, "", (str, Mapping, list))
    name = _require(data, "name", "", str)
    cloud = _require(data, "cloud", "", str)
    if cloud not in CLOUDS:
        raise InventoryError(f"inventory field cloud is {cloud!r}; allowed: {', '.join(CLOUDS)}")
    platform = _require(data, "platform", "", str)
    if platform not in PLATFORMS:
        raise InventoryError(f"inventory field platform is {platform!r}; allowed: {', '.join(PLATFORMS)}")

    ssh_raw = _require(data, "ssh", "", Mapping)
    port = ssh_raw.get("port", 22)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise InventoryError(f"inventory field ssh.port must be a TCP port number, got {port!r}")
    key = _require(ssh_raw, "privateKey", "ssh.", str)
    if "PRIVATE KEY" not in key:
        # Do not echo the value: it may be a secret in the wrong shape, or "[secret]" without --show-secrets.
        raise InventoryError(
            "inventory field ssh.privateKey is not an OpenSSH private key (was the output read without "
            "--show-secrets?)"
        )
    ssh = SshSettings(
        user=_require(ssh_raw, "user", "ssh.", str),
        port=port,
        known_hosts=_require(ssh_raw, "knownHosts", "ssh.", str),
        private_key=key,
    )
    known = parse_known_hosts(ssh.known_hosts)

    nodes_raw = _require(data, "nodes", "", list)
    if not nodes_raw:
        raise InventoryError("inventory field nodes is empty: the stack has no machines (run `pulumi up`)")
    nodes: list[Node] = []
    seen: set[str] = set()
    per_role: dict[str, int] = {}
    for i, raw in enumerate(nodes_raw):
        where = f"nodes[{i}]."
        if not isinstance(raw, Mapping):
            raise InventoryError(f"inventory field nodes[{i}] must be an object")
        nname = _require(raw, "name", where, str)
        role = _require(raw, "role", where, str)
        if role not in ROLES:
            raise InventoryError(f"inventory field {where}role is {role!r}; allowed: {', '.join(ROLES)}")
        if nname in seen:
            raise InventoryError(f"inventory field {where}name {nname!r} appears twice")
        seen.add(nname)
        private_ip = _ip(_require(raw, "privateIp", where, str), where + "privateIp")
        public_ip = raw.get("publicIp")
        if public_ip is not None:
            public_ip = _ip(public_ip, where + "publicIp")
        node = Node(nname, role, private_ip, public_ip, per_role.get(role, 0))
        per_role[role] = per_role.get(role, 0) + 1
        if node.address not in known:
            raise InventoryError(
                f"inventory field ssh.knownHosts has no host key for {nname} ({node.address}); "
                "host keys are pinned, never learned on first use: run `pulumi refresh && pulumi up`"
            )
        nodes.append(node)

    endpoints = _require(data, "endpoints", "", Mapping)
    settings = _require(data, "settings", "", Mapping)
    return Inventory(name, cloud, platform, ssh, tuple(nodes), endpoints, settings)


def load_file(path: str | Path) -> Inventory:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise InventoryError(f"cannot read inventory file {p}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"inventory file {p} is not JSON: {exc}") from exc
    return parse_inventory(data)


def pulumi_env(root: Path | None = None) -> dict[str, str]:
    """The environment scripts/env.sh would set (sourced in bash, so there is one definition)."""
    root = root or Path(__file__).resolve().parent.parent
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


def load_stack(stack: str, root: Path | None = None) -> Inventory:
    """`pulumi stack output cluster --json --show-secrets --stack NAME`, validated."""
    env = pulumi_env(root)
    pulumi = shutil.which("pulumi", path=env.get("PATH"))
    if pulumi is None:
        raise InventoryError(
            "the pulumi CLI is not installed: run ./scripts/setup.sh (it builds .tools/pulumi)"
        )
    cmd = [pulumi, "stack", "output", "cluster", "--json", "--show-secrets", "--stack", stack]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=str(root or Path(__file__).resolve().parent.parent),
    )
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


def load(stack: str | None = None, inventory_file: str | None = None) -> Inventory:
    if inventory_file:
        return load_file(inventory_file)
    if stack:
        return load_stack(stack)
    raise InventoryError("say which cluster: --stack NAME (a Pulumi stack) or --inventory FILE (JSON)")
