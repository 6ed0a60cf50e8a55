"""The Mesos master's HTTP API, which both Mesos platforms read (Apache Mesos on mesos, DC/OS's own
Mesos on dcos): the leading master's state and the agents registered with it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from contract import Cluster, Role
from roles.engine.connection import Remote
from roles.engine.executor import Check, Gate, RemoteFor
from roles.engine.placement import FIRST_MASTER, first_node
from roles.engine.spec import DeploySpec
from roles.packages.http import http

MASTER_PORT = 5050
AGENT_PORT = 5051
# The Mesos role of public agents' resources (`--default_role`); apps that may run there accept it.
PUBLIC_ROLE = "slave_public"


def quorum(inventory: Cluster) -> int:
    """The replicated log's quorum: a majority of the masters (mesos-master refuses less)."""
    return len(inventory.masters) // 2 + 1


def leading_master_state(
    remote: Remote, inventory: Cluster, endpoint: str = "/master/state"
) -> tuple[dict[str, Any] | None, list[str]]:
    """The leader's /master/state, or another leader-only endpoint such as /master/slaves (non-leaders
    answer 307, and 503 while no leader is elected)."""
    problems: list[str] = []
    for m in inventory.masters:
        resp = http(remote, "GET", f"http://{m.private_ip}:{MASTER_PORT}{endpoint}")
        data = resp.json()
        if resp.status == 200 and isinstance(data, dict):
            return data, problems
        problems.append(f"{m.name} ({m.private_ip}): {resp.describe()}")
    return None, problems


def _no_leader(inventory: Cluster, problems: Sequence[str]) -> Check:
    return Check(
        False,
        f"no Mesos leader: {'; '.join(problems)}; electing one needs ZooKeeper and {quorum(inventory)} of "
        f"{len(inventory.masters)} mesos-masters running (--quorum)",
    )


def probe_mesos_leader(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    state, problems = leading_master_state(remote_for(first_node(inventory, FIRST_MASTER)), inventory)
    if state is None:
        return _no_leader(inventory, problems)
    return Check(True, f"leader {state.get('leader', '?')}, {len(inventory.masters)} master(s)")


def agents_check(inventory: Cluster, state: Mapping[str, Any]) -> Check:
    """Every agent and public agent registered and active; public ones with public_ip:true and their
    resources reserved to slave_public."""
    slaves = {s.get("hostname"): s for s in state.get("slaves", []) if isinstance(s, dict)}
    problems = []
    for node in [*inventory.agents, *inventory.public_agents]:
        s = slaves.get(node.private_ip)
        if s is None or not s.get("active", False):
            problems.append(f"{node.name} ({node.private_ip}) {'inactive' if s else 'not registered'}")
        elif node.role is Role.PUBLIC_AGENT and (
            str((s.get("attributes") or {}).get("public_ip")) != "true"
            or PUBLIC_ROLE not in (s.get("reserved_resources") or {})
        ):
            problems.append(f"{node.name} registered without public_ip:true / role {PUBLIC_ROLE}")
    if problems:
        return Check(False, f"{'; '.join(problems)}; registered: {sorted(h for h in slaves if h) or 'none'}")
    return Check(True, f"{len(slaves)} agents registered with {state.get('leader', '?')}")


def agents_probe(endpoint: str) -> Callable[[DeploySpec, Cluster, RemoteFor], Check]:
    """A gate: every agent in the leading master's `endpoint` (/master/state on Apache Mesos; DC/OS
    answers /master/slaves with the same agent list)."""

    def probe_agents(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
        remote = remote_for(first_node(inventory, FIRST_MASTER))
        state, problems = leading_master_state(remote, inventory, endpoint)
        if state is None:
            return _no_leader(inventory, problems)
        return agents_check(inventory, state)

    return probe_agents


def agents_gate(name: str, endpoint: str, timeout: float) -> Gate:
    """Deploy waits after the agents phase until every agent is registered (`agents_probe(endpoint)`)."""
    return Gate("platform up", name, agents_probe(endpoint), timeout, after_phase="agents")
