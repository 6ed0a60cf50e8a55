"""The local cloud: cluster nodes as LXC system containers on this machine (DESIGN.md section 5).

Same contract as AwsCluster and AzureCluster: a ComponentResource whose `cluster` output is built by
infra.inventory.stack_outputs. Addresses are fixed per role on the project bridge, so adding an agent
never renumbers the others.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pulumi

from infra import drain_guard, keys, lxc, ports
from infra.errors import ConfigError, Problem
from infra.images import LOCAL_IMAGE
from infra.inventory import NodeRecord, StackOutputs, stack_outputs
from infra.lxc_provider import LxcNetwork, LxcNode
from infra.spec import ClusterSpec, Role

# Host part of each role's first address in the subnet, and how many nodes of the role fit (the spec
# checks the counts against it before anything is declared).
ADDRESS_PLAN = ports.LOCAL_ADDRESS_PLAN


def default_cache_dir() -> Path:
    """Where the base image is cached: $FASTDATA_CACHE, else the checkout's .cache (git-ignored)."""
    env = os.environ.get("FASTDATA_CACHE")
    return Path(env) if env else Path(__file__).resolve().parent.parent / ".cache"


def node_address(subnet: str, role: Role, index: int) -> str:
    """The fixed address of a node; raises ConfigError when the role or the subnet is out of room."""
    first, room = ADDRESS_PLAN[role]
    key = f"fastdata:nodes.{role.value}.count"
    if index >= room:
        raise ConfigError(
            [Problem(key, f"the local cloud has addresses for at most {room} {role.value} nodes")]
        )
    net = ipaddress.ip_network(subnet)
    if net.num_addresses < 256:
        raise ConfigError([Problem("fastdata:local.subnet", f"{subnet} is too small: use a /24 or larger")])
    return str(net.network_address + first + index)


class LocalCluster(pulumi.ComponentResource):
    """Bridge + one LXC node per spec node + the stack's admin key; exports the `cluster` inventory."""

    cluster: pulumi.Output[dict]
    outputs: StackOutputs

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        opts: pulumi.ResourceOptions | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        super().__init__("fastdata:local:Cluster", name, None, opts)
        cache = (cache_dir or default_cache_dir()).resolve()
        lxc.preflight(cache)  # before any resource: a clear error instead of half a cluster
        net = ipaddress.ip_network(spec.local.subnet)
        child = pulumi.ResourceOptions(parent=self)

        admin = keys.admin_key(spec.name, parent=self)
        network = LxcNetwork(
            f"{name}-network",
            bridge=spec.local.bridge,
            subnet=spec.local.subnet,
            cache_dir=str(cache),
            opts=child,
        )
        gateway = lxc.gateway_of(spec.local.subnet)

        records: list[NodeRecord] = []
        for node in spec.nodes.instances():
            ip = node_address(spec.local.subnet, node.role, node.index)
            lxc_node = LxcNode(
                f"{name}-{node.name}",
                container=f"{spec.name}-{node.name}",
                hostname=node.name,
                ip=ip,
                prefix=net.prefixlen,
                gateway=gateway,
                bridge=network.id,  # depends on the bridge existing
                memory=node.size,
                ssh_user=spec.ssh_user,
                authorized_key=admin.authorized_key,
                cache_dir=str(cache),
                opts=child,
            )
            records.append(
                NodeRecord(
                    name=node.name,
                    role=node.role,
                    index=node.index,
                    private_ip=ip,
                    public_ip=None,
                    host_key=lxc_node.host_key,
                )
            )

        # refuses a run that would delete an agent `fab drain` has not emptied (infra/drain_guard.py)
        drain_guard.agent_set(spec, records, admin.private_key, parent=self)
        self.outputs = stack_outputs(spec, records, admin.private_key, image=spec.image or LOCAL_IMAGE)
        self.cluster = self.outputs.cluster
        self.register_outputs({"cluster": self.cluster})
