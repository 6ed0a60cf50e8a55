"""Where a step runs: a named selection of the inventory's nodes, data in the platform tables.

A planner never filters nodes itself; the step says "every agent", "the first master", "the brokers",
and `plan_phases` runs the planner on exactly those nodes, in inventory order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from contract import Cluster, Node, Role


@dataclass(frozen=True)
class Placement:
    """`describe` is what the platform tables read as ("every agent"); `select` picks the nodes."""

    describe: str
    select: Callable[[Cluster], Sequence[Node]]


def every(*roles: Role) -> Placement:
    """Every node of `roles`, in inventory order."""
    names = " and ".join(f"{r.node_prefix}" for r in roles)
    return Placement(f"every {names}", lambda c: [n for n in c.nodes if n.role in roles])


def first(role: Role) -> Placement:
    """The first node of `role` (none when the inventory has no such node)."""
    return Placement(f"the first {role.node_prefix}", lambda c: c.by_role(role)[:1])


def first_node(cluster: Cluster, placement: Placement) -> Node:
    """The one node a singular placement selects (gates and addresses that name "the first master")."""
    nodes = placement.select(cluster)
    if not nodes:
        raise LookupError(f"the inventory has no node for {placement.describe}")
    return nodes[0]


EVERY_NODE = every(*Role)
EVERY_MASTER = every(Role.MASTER)
EVERY_AGENT = every(Role.AGENT)
EVERY_AGENT_AND_PUBLIC_AGENT = every(Role.AGENT, Role.PUBLIC_AGENT)
FIRST_MASTER = first(Role.MASTER)
FIRST_AGENT = first(Role.AGENT)
FIRST_PUBLIC_AGENT = first(Role.PUBLIC_AGENT)
BOOTSTRAP = every(Role.BOOTSTRAP)
# The agents that run a Kafka broker: the first settings.kafka.brokers of them.
BROKERS = Placement("the brokers", lambda c: c.brokers)
# The brokers that are also KRaft controllers: the first settings.kafka.controllers brokers.
CONTROLLERS = Placement("the KRaft controllers", lambda c: c.controllers)
FIRST_BROKER = Placement("the first broker", lambda c: c.brokers[:1])
# The node the control machine pushes every artifact to and the others fetch from (DESIGN 3.4).
ARTIFACT_SERVER = Placement(
    "the bootstrap node, else the first master",
    lambda c: (c.by_role(Role.BOOTSTRAP) or c.masters)[:1],
)
