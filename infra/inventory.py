"""The `cluster` stack output: the one hand-off from Pulumi to Fabric (docs/contracts.md).

One function builds it for every cloud, so aws, azure and local cannot drift apart in shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from contract.cluster import SSH_PORT, Cluster, Endpoints, Node, Ssh, known_hosts_lines
from infra.spec import ROLE_ORDER, ClusterSpec, Role


@dataclass(frozen=True)
class NodeRecord:
    """What a component knows about one node once declared. Values may be Outputs."""

    name: str  # bootstrap-0, master-N, agent-N, public-agent-N
    role: Role
    index: int
    private_ip: pulumi.Input[str]
    public_ip: pulumi.Input[str | None]  # None when the node has no public address (local containers)
    host_key: pulumi.Input[str]  # the node's SSH host public key: "ssh-ed25519 AAAA... [comment]"


def _sort_key(node: NodeRecord) -> tuple[int, int]:
    return ROLE_ORDER.index(node.role), node.index


def cluster_output(
    spec: ClusterSpec,
    nodes: Sequence[NodeRecord],
    private_key: pulumi.Input[str],
    masters_endpoints: Sequence[pulumi.Input[str]] | None = None,
    public_agents_endpoints: Sequence[pulumi.Input[str]] | None = None,
) -> pulumi.Output[dict[str, Any]]:
    """Build the `cluster` output dict.

    Endpoints default to the nodes' own addresses (public when set, else private): the local cloud has
    no load balancers. The bootstrap endpoint is the bootstrap node's private address: only cluster nodes
    fetch the installer from it. The private key makes the whole output a secret; Fabric reads it with
    `pulumi stack output cluster --json --show-secrets`.
    """
    ordered = sorted(nodes, key=_sort_key)

    def address(n: NodeRecord) -> pulumi.Input[str | None]:
        return n.public_ip if n.public_ip is not None else n.private_ip

    masters: list[pulumi.Input[Any]] = (
        list(masters_endpoints)
        if masters_endpoints is not None
        else [address(n) for n in ordered if n.role is Role.MASTER]
    )
    public_agents: list[pulumi.Input[Any]] = (
        list(public_agents_endpoints)
        if public_agents_endpoints is not None
        else [address(n) for n in ordered if n.role is Role.PUBLIC_AGENT]
    )
    bootstrap = next((n.private_ip for n in ordered if n.role is Role.BOOTSTRAP), None)

    resolved_nodes = pulumi.Output.all(
        *[pulumi.Output.all(n.private_ip, n.public_ip, n.host_key) for n in ordered]
    )

    def build(args: list[Any]) -> dict[str, Any]:
        node_values, masters_v, public_v, bootstrap_v, key = args
        nodes: list[Node] = []
        known_hosts: list[str] = []
        for n, (private_ip, public_ip, host_key) in zip(ordered, node_values, strict=True):
            nodes.append(Node(n.name, n.role, private_ip, public_ip, n.index))
            known_hosts.extend(known_hosts_lines([public_ip, private_ip], host_key))
        cluster = Cluster(
            name=spec.name,
            cloud=spec.cloud,
            platform=spec.platform,
            ssh=Ssh(spec.ssh_user, SSH_PORT, "".join(f"{line}\n" for line in known_hosts), key),
            nodes=tuple(nodes),
            endpoints=Endpoints(tuple(masters_v), tuple(public_v), bootstrap_v),
            settings=spec.settings,
        )
        return cluster.to_json()

    return pulumi.Output.all(
        resolved_nodes,
        pulumi.Output.all(*masters),
        pulumi.Output.all(*public_agents),
        bootstrap,
        pulumi.Output.secret(private_key),
    ).apply(build)
