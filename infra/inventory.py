"""The stack outputs: `cluster`, the one hand-off from Pulumi to Fabric (docs/contracts.md), and the plain
outputs people look up (nodes, endpoints, dashboard URL, SSH command line, image).

One function builds them for every cloud, so aws, azure and local cannot drift apart in shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class StackOutputs:
    """What a component hands the program to export."""

    cluster: pulumi.Output[dict[str, Any]]  # the inventory for Fabric: a secret as a whole (it has the key)
    plain: dict[str, pulumi.Output[Any]]  # what people look up: never secret, never key material
    private_key: pulumi.Output[str]  # the admin SSH key, a secret


def stack_outputs(
    spec: ClusterSpec,
    nodes: Sequence[NodeRecord],
    private_key: pulumi.Input[str],
    image: pulumi.Input[str],
    masters_endpoints: Sequence[pulumi.Input[str]] | None = None,
    public_agents_endpoints: Sequence[pulumi.Input[str]] | None = None,
) -> StackOutputs:
    """Build the `cluster` output and the plain outputs from the same values, so they cannot disagree.

    Endpoints default to the nodes' own addresses (public when set, else private): the local cloud has
    no load balancers. The bootstrap endpoint is the bootstrap node's private address: only cluster nodes
    fetch the installer from it. The private key makes `cluster` a secret; Fabric reads it with
    `pulumi stack output cluster --json --show-secrets`. Everything else is built without the key.
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

    def build(args: list[Any]) -> Cluster:
        node_values, masters_v, public_v, bootstrap_v = args
        nodes: list[Node] = []
        known_hosts: list[str] = []
        for n, (private_ip, public_ip, host_key) in zip(ordered, node_values, strict=True):
            nodes.append(Node(n.name, n.role, private_ip, public_ip, n.index))
            known_hosts.extend(known_hosts_lines([public_ip, private_ip], host_key))
        return Cluster(
            name=spec.name,
            cloud=spec.cloud,
            platform=spec.platform,
            ssh=Ssh(spec.ssh_user, SSH_PORT, "".join(f"{line}\n" for line in known_hosts), ""),
            nodes=tuple(nodes),
            endpoints=Endpoints(tuple(masters_v), tuple(public_v), bootstrap_v),
            settings=spec.settings,
        )

    # no secret goes into `keyless`: the plain outputs below stay plain
    keyless = pulumi.Output.all(
        resolved_nodes, pulumi.Output.all(*masters), pulumi.Output.all(*public_agents), bootstrap
    ).apply(build)
    key = pulumi.Output.secret(private_key)
    cluster = pulumi.Output.all(keyless, key).apply(
        lambda a: replace(a[0], ssh=replace(a[0].ssh, private_key=a[1])).to_json()
    )
    return StackOutputs(cluster, plain_outputs(spec, keyless, image), key)


def plain_outputs(
    spec: ClusterSpec, keyless: pulumi.Output[Cluster], image: pulumi.Input[str]
) -> dict[str, pulumi.Output[Any]]:
    """nodes, endpoints, dashboardUrl (null without the demo), knownHosts, sshCommand, image."""

    def dashboard(c: Cluster) -> str | None:
        if not spec.settings.demo.enabled or not c.endpoints.public_agents:
            return None
        return f"http://{c.endpoints.public_agents[0]}/"

    def ssh_command(c: Cluster) -> str | None:
        first = next(iter(c.masters), None) or next(iter(c.nodes), None)
        if first is None:
            return None
        stack, key = spec.stack, f"~/.ssh/fastdata-{spec.stack}"
        # one line to paste: saves the key (mode 0600) and the pinned host keys, then connects strictly
        return (
            f"(umask 077 && pulumi stack output sshPrivateKey --show-secrets --stack {stack} > {key} && "
            f"pulumi stack output knownHosts --stack {stack} > {key}.known_hosts) && "
            f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes "
            f"-o UserKnownHostsFile={key}.known_hosts {c.ssh.user}@{first.address}"
        )

    return {
        "nodes": keyless.apply(lambda c: c.to_json()["nodes"]),
        "endpoints": keyless.apply(lambda c: c.to_json()["endpoints"]),
        "dashboardUrl": keyless.apply(dashboard),
        "knownHosts": keyless.apply(lambda c: c.ssh.known_hosts),
        "sshCommand": keyless.apply(ssh_command),
        "image": pulumi.Output.from_input(image),
    }
