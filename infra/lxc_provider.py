"""Pulumi dynamic providers for the local cloud: the project bridge and LXC nodes.

Thin lifecycle wrappers over infra/lxc.py. The provider objects are serialized (dill) into the stack
state, so they hold no clients or open files: everything is created inside the methods.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

from infra import lxc

# Inputs whose change means a different machine: replace (delete first: the name and address are reused).
NODE_REPLACE_KEYS = (
    "container",
    "hostname",
    "ip",
    "prefix",
    "gateway",
    "bridge",
    "memory",
    "ssh_user",
    "authorized_key",
    "base_recipe",
)
NETWORK_REPLACE_KEYS = ("bridge", "subnet")


def _node_config(props: dict[str, Any]) -> lxc.NodeConfig:
    return lxc.NodeConfig(
        container=props["container"],
        hostname=props["hostname"],
        ip=props["ip"],
        prefix=int(props["prefix"]),
        gateway=props["gateway"],
        bridge=props["bridge"],
        memory=props["memory"],
        ssh_user=props["ssh_user"],
        authorized_key=props["authorized_key"],
        base_dir=str(lxc.base_dir(props["cache_dir"])),
    )


def _diff(olds: dict[str, Any], news: dict[str, Any], keys: tuple[str, ...]) -> DiffResult:
    replaces = [k for k in keys if olds.get(k) != news.get(k)]
    return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=True)


class LxcNetworkProvider(ResourceProvider):
    """The project bridge with NAT. Removed on destroy, so nothing stale survives the stack."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        lxc.ensure_bridge(props["bridge"], props["subnet"], props["cache_dir"])
        return CreateResult(id_=props["bridge"], outs={**props, "gateway": lxc.gateway_of(props["subnet"])})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if not lxc.bridge_exists(id_):  # e.g. after a host reboot: refresh drops it, up re-creates it
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(olds, news, NETWORK_REPLACE_KEYS)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        lxc.remove_bridge(id_, props["subnet"], props["cache_dir"])


class LxcNodeProvider(ResourceProvider):
    """One node: an overlay clone of the cached base image, booted, with the stack's key installed."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        _, build_seconds = lxc.ensure_base(props["cache_dir"])
        host_key = lxc.create_node(_node_config(props))
        return CreateResult(
            id_=props["container"],
            outs={**props, "host_key": host_key, "base_build_seconds": round(build_seconds)},
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # A container deleted by hand must disappear from the state on `pulumi refresh`, so the next
        # `pulumi up` re-creates it (with new host keys, which the inventory then pins).
        if not lxc.container_exists(id_):
            return ReadResult(id_="", outs={})
        host_key = lxc.stored_host_key(id_)
        if host_key is None:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "host_key": host_key})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return _diff(olds, news, NODE_REPLACE_KEYS)

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        lxc.delete_node(id_)


class LxcNetwork(Resource):
    """The local cloud's bridge (name, subnet) and its NAT rule."""

    gateway: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        bridge: str,
        subnet: str,
        cache_dir: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            LxcNetworkProvider(),
            name,
            {"bridge": bridge, "subnet": subnet, "cache_dir": cache_dir, "gateway": None},
            opts,
        )


class LxcNode(Resource):
    """A Debian 12 system container with systemd and sshd, reachable at `ip` with the stack's key."""

    host_key: pulumi.Output[str]
    ip: pulumi.Output[str]
    base_build_seconds: pulumi.Output[int]

    def __init__(
        self,
        name: str,
        *,
        container: str,
        hostname: str,
        ip: str,
        prefix: int,
        gateway: str,
        bridge: pulumi.Input[str],
        memory: str,
        ssh_user: str,
        authorized_key: pulumi.Input[str],
        cache_dir: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            LxcNodeProvider(),
            name,
            {
                "container": container,
                "hostname": hostname,
                "ip": ip,
                "prefix": prefix,
                "gateway": gateway,
                "bridge": bridge,
                "memory": memory,
                "ssh_user": ssh_user,
                "authorized_key": authorized_key,
                "base_recipe": lxc.base_recipe_hash(),
                "cache_dir": cache_dir,
                "host_key": None,
                "base_build_seconds": None,
            },
            opts,
        )
