"""Drain steps: what `fab drain` runs, in order, to empty an agent before it is deleted (DESIGN 4).

A platform lists its `DrainStep`s in order (`Platform.drain`), each contributed by the package that runs
something on the node: Kafka moves the broker's replicas away, Spark stops the worker, HDFS can add its
DataNode decommission between them. `fab drain` (roles/lifecycle.py) first asks every step whether it
refuses (read-only, all reasons at once, nothing changed), then runs them in order; each waits until the
rest of the cluster took the work over and says what it did. Only then is the node marked drained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from contract import Cluster, Node
from roles.engine.connection import Remote
from roles.engine.spec import DeploySpec
from roles.errors import OperationError


@dataclass(frozen=True)
class DrainContext:
    spec: DeploySpec  # spec.drained: the nodes drained before this one
    cluster: Cluster
    node: Node  # the node being drained
    remote_for: Callable[[Node], Remote]
    line: Callable[[str], None]  # progress output

    @property
    def leaving(self) -> frozenset[str]:
        """Every node that will not hold work afterwards: this one and those drained before."""
        return self.spec.drained | {self.node.name}


@dataclass(frozen=True)
class DrainStep:
    """`applies`: whether the node runs this package; `refuse`: read-only reasons it cannot be drained
    (empty when it can); `run`: move the work off, wait until it is taken over, return a summary."""

    name: str
    applies: Callable[[DrainContext], bool]
    refuse: Callable[[DrainContext], list[str]]
    run: Callable[[DrainContext], str]


class DrainRefused(OperationError):
    """The node cannot be drained without losing data or availability; nothing was changed."""
