"""The inventory: the `cluster` stack output as typed, frozen dataclasses (docs/contracts.md).

infra/ builds a `Cluster` and exports `Cluster.to_json()`; roles/ reads it back with `Cluster.from_json()`,
which checks the whole document before any node is touched and reports every problem at once: types and
ranges, roles present for the platform, unique node names and addresses, names that are safe as path
parts (render and diagnose write per node and per cluster), host keys that decode, and the settings
(contract/settings.py, the same parser the stack config goes through).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contract.problems import Collector, InvalidInventory, as_int
from contract.schema import DEMO_ROLE, REQUIRED_ROLES, ROLE_ORDER, Cloud, Platform, Role
from contract.settings import SECTIONS, Settings, parse_settings

TOP_KEYS = ("name", "cloud", "platform", "ssh", "nodes", "endpoints", "settings")
# Cluster names become host names, cloud resource names and directory names.
CLUSTER_NAME = re.compile(r"[a-z][a-z0-9-]{0,38}[a-z0-9]")
# Node names become directory names (render, diagnose): one path part, never "." or "..".
NODE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
HOST_KEY_TYPES = frozenset(
    {"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"}
)
SSH_PORT = 22


@dataclass(frozen=True)
class Node:
    name: str
    role: Role
    private_ip: str
    public_ip: str | None
    index: int  # position within its role (agent-2 -> 2): Kafka node ids derive from it

    @property
    def address(self) -> str:
        """Where the control machine connects: publicIp when set, else privateIp."""
        return self.public_ip or self.private_ip


@dataclass(frozen=True)
class Ssh:
    user: str
    port: int
    known_hosts: str
    private_key: str = field(repr=False)  # a secret: never in repr, logs or errors


@dataclass(frozen=True)
class Endpoints:
    masters: tuple[str, ...]  # load balancer or node addresses
    public_agents: tuple[str, ...]
    bootstrap: str | None  # the bootstrap node's private address (dcos)


@dataclass(frozen=True)
class Cluster:
    name: str
    cloud: Cloud
    platform: Platform
    ssh: Ssh
    nodes: tuple[Node, ...]
    endpoints: Endpoints
    settings: Settings

    def by_role(self, role: Role) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    @property
    def masters(self) -> list[Node]:
        return self.by_role(Role.MASTER)

    @property
    def agents(self) -> list[Node]:
        return self.by_role(Role.AGENT)

    @property
    def public_agents(self) -> list[Node]:
        return self.by_role(Role.PUBLIC_AGENT)

    @property
    def brokers(self) -> list[Node]:
        """The agents that run a Kafka broker: the first settings.kafka.brokers of them."""
        return self.agents[: self.settings.kafka.brokers]

    @property
    def controllers(self) -> list[Node]:
        """The brokers that are also KRaft controllers: the first settings.kafka.controllers of them. A
        fixed set, so adding or removing agents changes brokers only, never the quorum."""
        return self.brokers[: self.settings.kafka.controllers]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r}; nodes are {[n.name for n in self.nodes]}")

    def known_host_keys(self) -> dict[str, list[tuple[str, str]]]:
        """address -> [(keytype, base64)] from ssh.knownHosts."""
        return parse_known_hosts(Collector("ssh.knownHosts"), self.ssh.known_hosts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cloud": self.cloud.value,
            "platform": self.platform.value,
            "ssh": {
                "user": self.ssh.user,
                "port": self.ssh.port,
                "privateKey": self.ssh.private_key,
                "knownHosts": self.ssh.known_hosts,
            },
            "nodes": [
                {"name": n.name, "role": n.role.value, "privateIp": n.private_ip, "publicIp": n.public_ip}
                for n in self.nodes
            ],
            "endpoints": {
                "masters": list(self.endpoints.masters),
                "publicAgents": list(self.endpoints.public_agents),
                "bootstrap": self.endpoints.bootstrap,
            },
            "settings": self.settings.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> Cluster:
        """Validate a `cluster` output; InvalidInventory lists every problem, each naming its field."""
        return _parse(data)


def known_hosts_lines(addresses: list[str | None], host_key: str) -> list[str]:
    """known_hosts lines "<ip> <keytype> <base64>", one per address a node is reached on."""
    fields = host_key.split()
    if len(fields) < 2:
        raise ValueError(f"not an SSH public key: {host_key[:40]!r}")
    return [f"{addr} {fields[0]} {fields[1]}" for addr in addresses if addr]


def _key_problem(keytype: str, blob: str) -> str | None:
    """Why a known_hosts key would not load, or None: an SSH public key blob starts with its own type."""
    if keytype not in HOST_KEY_TYPES:
        return f"key type {keytype!r} is not one of {', '.join(sorted(HOST_KEY_TYPES))}"
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return "the key is not valid base64"
    size = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else -1
    if size < 0 or raw[4 : 4 + size] != keytype.encode():
        return f"the key does not decode as an {keytype} public key"
    return None


def parse_known_hosts(c: Collector, text: str) -> dict[str, list[tuple[str, str]]]:
    keys: dict[str, list[tuple[str, str]]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 3:
            c.add(f" line {lineno}", f"is not '<address> <keytype> <base64 key>': {line[:60]!r}")
            continue
        problem = _key_problem(parts[1], parts[2])
        if problem:
            c.add(f" line {lineno}", f"host key for {parts[0][:40]!r} cannot be used: {problem}")
            continue
        for host in parts[0].split(","):
            keys.setdefault(host, []).append((parts[1], parts[2]))
    return keys


def _str(c: Collector, data: Mapping[str, Any], key: str, where: str = "") -> str | None:
    value = data.get(key)
    if value is None:
        c.add(f"{where}{key}", "is missing")
        return None
    if not isinstance(value, str):
        c.add(f"{where}{key}", f"must be a string (got {type(value).__name__})")
        return None
    return value


def _ip(c: Collector, value: Any, key: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        c.add(key, f"is not an IP address (got {str(value)[:60]!r})")
        return None


def _addresses(c: Collector, value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        c.add(key, f"must be a list of addresses or host names (got {value!r})")
        return ()
    return tuple(value)


def _parse(data: Any) -> Cluster:
    c = Collector()
    if not isinstance(data, Mapping):
        c.add("(document)", f"the cluster output must be a JSON object (got {type(data).__name__})")
        c.raise_if_any(InvalidInventory)
    for unknown in sorted(set(data) - set(TOP_KEYS)):
        c.add(unknown, f"unknown field; the inventory has {', '.join(TOP_KEYS)}")

    name = _str(c, data, "name")
    if name is not None and not CLUSTER_NAME.fullmatch(name):
        c.add("name", f"must be 2-40 of a-z, 0-9, '-', starting with a letter (got {name[:60]!r})")
    cloud_raw, platform_raw = _str(c, data, "cloud"), _str(c, data, "platform")
    cloud = platform = None
    if cloud_raw is not None:
        if cloud_raw in Cloud.__members__.values():
            cloud = Cloud(cloud_raw)
        else:
            c.add("cloud", f"is {cloud_raw!r}; allowed: {', '.join(Cloud)}")
    if platform_raw is not None:
        if platform_raw in Platform.__members__.values():
            platform = Platform(platform_raw)
        else:
            c.add("platform", f"is {platform_raw!r}; allowed: {', '.join(Platform)}")

    ssh_raw = data.get("ssh")
    if not isinstance(ssh_raw, Mapping):
        c.add("ssh", "must be an object {user, port, privateKey, knownHosts}")
        ssh_raw = {}
    port = as_int(ssh_raw.get("port", SSH_PORT))
    if port is None or isinstance(ssh_raw.get("port"), str) or not 0 < port < 65536:
        c.add("ssh.port", f"must be a TCP port number (got {ssh_raw.get('port')!r})")
        port = SSH_PORT
    user = _str(c, ssh_raw, "user", "ssh.")
    if user is not None and not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user):
        c.add("ssh.user", f"must be a Unix user name (got {user[:40]!r})")
    key = ssh_raw.get("privateKey")
    if not isinstance(key, str) or "PRIVATE KEY" not in key:
        # never echo it: it may be a secret in the wrong shape, or "[secret]" without --show-secrets
        c.add("ssh.privateKey", "is not an OpenSSH private key (was the output read without --show-secrets?)")
        key = ""
    known_text = _str(c, ssh_raw, "knownHosts", "ssh.") or ""
    kc = Collector("ssh.knownHosts")
    known = parse_known_hosts(kc, known_text)
    c.problems.extend(kc.problems)

    nodes = _parse_nodes(c, data.get("nodes"), known)
    if platform is not None and nodes:
        for role in REQUIRED_ROLES[platform]:
            c.check(
                any(n.role == role for n in nodes),
                "nodes",
                f"has no {role} node; platform {platform} needs at least one",
            )

    endpoints_raw = data.get("endpoints")
    if not isinstance(endpoints_raw, Mapping):
        c.add("endpoints", "must be an object {masters, publicAgents, bootstrap}")
        endpoints_raw = {}
    bootstrap = endpoints_raw.get("bootstrap")
    if bootstrap is not None and not isinstance(bootstrap, str):
        c.add("endpoints.bootstrap", f"must be an address or null (got {bootstrap!r})")
        bootstrap = None
    endpoints = Endpoints(
        _addresses(c, endpoints_raw.get("masters"), "endpoints.masters"),
        _addresses(c, endpoints_raw.get("publicAgents"), "endpoints.publicAgents"),
        bootstrap,
    )

    settings_raw = data.get("settings")
    if not isinstance(settings_raw, Mapping):
        c.add("settings", "must be an object")
        settings_raw = {}
    sc = Collector("settings.")
    agents = sum(1 for n in nodes if n.role is Role.AGENT)
    settings = parse_settings(sc, settings_raw, agents, "the number of agent nodes")
    c.problems.extend(sc.problems)
    for unknown in sorted(set(settings_raw) - set(SECTIONS)):
        c.add(f"settings.{unknown}", "unknown setting")
    if settings.demo.enabled and nodes:
        c.check(
            any(n.role is DEMO_ROLE for n in nodes),
            "settings.demo.enabled",
            "is true but the inventory has no publicAgent node (InfluxDB and the dashboard run there): "
            "add a public agent (fastdata:nodes.publicAgent.count) or set fastdata:demo.enabled false",
        )

    c.raise_if_any(InvalidInventory)
    assert name is not None and cloud is not None and platform is not None and user is not None
    return Cluster(name, cloud, platform, Ssh(user, port, known_text, key), nodes, endpoints, settings)


def _parse_nodes(c: Collector, raw: Any, known: Mapping[str, Any]) -> tuple[Node, ...]:
    if not isinstance(raw, list):
        c.add("nodes", "must be a list of {name, role, privateIp, publicIp}")
        return ()
    if not raw:
        c.add("nodes", "is empty: the stack has no machines (run `pulumi up`)")
    nodes: list[Node] = []
    names: set[str] = set()
    addresses: dict[str, str] = {}
    per_role: dict[Role, int] = {}
    for i, item in enumerate(raw):
        where = f"nodes[{i}]."
        if not isinstance(item, Mapping):
            c.add(f"nodes[{i}]", "must be an object {name, role, privateIp, publicIp}")
            continue
        name = _str(c, item, "name", where)
        role_raw = _str(c, item, "role", where)
        private_raw = _str(c, item, "privateIp", where)
        ok = name is not None and role_raw is not None and private_raw is not None
        if name is not None and not NODE_NAME.fullmatch(name):
            c.add(f"{where}name", f"must be 1-63 of a-z, 0-9, '-' (it names directories; got {name[:60]!r})")
            ok = False
        elif name is not None and name in names:
            c.add(f"{where}name", f"{name!r} appears twice")
            ok = False
        role = None
        if role_raw is not None:
            if role_raw in Role.__members__.values():
                role = Role(role_raw)
            else:
                c.add(f"{where}role", f"is {role_raw!r}; allowed: {', '.join(ROLE_ORDER)}")
                ok = False
        private_ip = _ip(c, private_raw, f"{where}privateIp") if private_raw is not None else None
        public_ip = item.get("publicIp")
        if public_ip is not None:
            public_ip = _ip(c, public_ip, f"{where}publicIp")
            ok = ok and public_ip is not None
        if not ok or private_ip is None or role is None or name is None:
            continue
        names.add(name)
        for addr in {private_ip, public_ip} - {None}:
            assert addr is not None
            if addr in addresses:
                which = "privateIp" if addr == private_ip else "publicIp"
                c.add(
                    f"{where}{which}",
                    f"{addr} is also the address of {addresses[addr]}; each node needs its own",
                )
            addresses[addr] = name
        node = Node(name, role, private_ip, public_ip, per_role.get(role, 0))
        per_role[role] = per_role.get(role, 0) + 1
        if node.address not in known:
            c.add(
                "ssh.knownHosts",
                f"has no host key for {name} ({node.address}); host keys are pinned, never learned on "
                "first use: run `pulumi refresh && pulumi up`",
            )
        nodes.append(node)
    return tuple(nodes)
