"""Scaling the agents (DESIGN 4, life-cycle): the drained record, `fab drain`, and what `fab plan` says
about a scale change.

The record that an agent is drained lives on the agent itself, in DRAINED_MARKER, written by `fab drain`
after every drain step finished. Whoever needs to know reads it from there: `fab deploy`/`plan` (no ops
on a drained node, no replica placed on it) and the Pulumi program's drain guard (infra/drain_guard.py),
which refuses to delete an agent without it. A lost node has no record, so it counts as not drained.
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from contract import Cluster, Node, Role
from roles.engine.connection import CommandFailed, Remote, Unreachable
from roles.engine.drain import DrainContext, DrainRefused, DrainStep
from roles.engine.executor import MAX_PARALLEL, Op, Platform
from roles.engine.spec import DeploySpec
from roles.errors import ConfigError, OperationError
from roles.packages import kafka, spark

# Also spelled in infra/drain_guard.py (the program imports nothing from roles/).
DRAINED_MARKER = "/var/lib/fastdata/drained"


# --- the drained record -----------------------------------------------------------------------------------


def parse_marker(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def marker_text(node: Node, summaries: Sequence[str], when: float | None = None) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when if when is not None else time.time()))
    lines = [f"node={node.name}", f"drained_at={stamp}"]
    lines += [f"step{i}={s}" for i, s in enumerate(summaries, 1)]
    return "\n".join(lines) + "\n"


def is_drained(node: Node, text: str) -> bool:
    """A marker counts only for the node it names (a copied disk image must not carry it over)."""
    return parse_marker(text).get("node") == node.name


def read_drained(inventory: Cluster, remotes: Mapping[str, Remote]) -> frozenset[str]:
    """The agents that carry a drained record (read-only, one cheap command per agent)."""

    def one(node: Node) -> bool:
        try:
            out = remotes[node.name].run(f"cat {DRAINED_MARKER} 2>/dev/null || true", check=False, timeout=30)
        except (CommandFailed, Unreachable):
            return False
        return is_drained(node, out.stdout)

    agents = [n for n in inventory.agents if n.name in remotes]
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
        flags = list(pool.map(one, agents))
    return frozenset(n.name for n, drained in zip(agents, flags, strict=True) if drained)


def without_drained(
    plan: Mapping[str, Mapping[str, list[Op]]], drained: frozenset[str]
) -> dict[str, dict[str, list[Op]]]:
    """The plan with no op on a drained node: it is leaving, so nothing there is converged (its Spark
    worker stays stopped, its broker stays empty) until `pulumi up` deletes it."""
    return {
        phase: {h: ops for h, ops in by_host.items() if h not in drained} for phase, by_host in plan.items()
    }


# --- what a scale change looks like (fab plan / fab deploy) ------------------------------------------------


def scale_notes(
    inventory: Cluster,
    drained: frozenset[str],
    live_brokers: set[int] | None,
    alive_workers: set[str] | None,
) -> list[str]:
    """Nodes joining or leaving, from the running cluster's facts: the broker ids Kafka knows
    (`live_brokers`, None when no broker answered) and the addresses of the Spark workers the master
    knows (`alive_workers`, None when there is no standalone master answering). Pure."""
    notes = []
    if not live_brokers:
        notes.append("no Kafka broker answered (a first deploy, or Kafka is down): no scale change read")
    else:
        for n in inventory.brokers:
            nid = kafka.node_id(n)
            if nid not in live_brokers and n.name not in drained:
                notes.append(f"{n.name} joins as Kafka broker {nid}; the demo topic is then spread onto it")
        known = {kafka.node_id(n) for n in inventory.brokers}
        for nid in sorted(live_brokers - known):
            notes.append(
                f"Kafka broker {nid} is registered but no agent of the inventory runs it (a removed node?)"
            )
    if alive_workers is not None and alive_workers:
        for n in inventory.agents:
            if n.private_ip not in alive_workers and n.name not in drained:
                notes.append(f"{n.name} joins as a Spark worker")
    for name in sorted(drained):
        notes.append(
            f"{name} is drained and leaves: no ops run on it; lower fastdata:nodes.agent.count and run "
            "`pulumi up` to delete it"
        )
    return notes


def probe_scale(spec: DeploySpec, inventory: Cluster, remotes: Mapping[str, Remote]) -> list[str]:
    """Read the facts `scale_notes` needs from the cluster (read-only; absent facts are skipped)."""
    live: set[int] | None = None
    alive: set[str] | None = None
    brokers = [n for n in inventory.brokers if n.name in remotes and n.name not in spec.drained]
    first = remotes[brokers[0].name] if brokers else None
    port_open = (
        f"timeout 2 bash -c '</dev/tcp/{brokers[0].private_ip}/{kafka.CLIENT_PORT}'" if brokers else ""
    )
    # a JVM only when the broker listens (a first deploy has no Kafka yet; each tool run costs ~2 CPU-s)
    if first is not None and first.run(port_open, check=False, timeout=30).ok:
        out = first.run(
            kafka.tool(
                spec,
                kafka.broker_api_versions_command(spec.versions.kafka),
                f"--bootstrap-server {kafka.bootstrap_servers(inventory)}",
            )
            + " 2>/dev/null",
            check=False,
            timeout=90,
        )
        live = kafka.broker_ids(out.stdout) if out.ok else None
    if inventory.platform == "standalone" and inventory.masters and inventory.masters[0].name in remotes:
        master = inventory.masters[0]
        url = f"http://{master.private_ip}:{spark.MASTER_UI}/json"
        out = remotes[master.name].run(
            'python3 -c "import urllib.request;'
            f"print(urllib.request.urlopen('{url}',timeout=5).read().decode())\"",
            check=False,
            timeout=30,
        )
        if out.ok:
            try:
                alive = set(spark.parse_master_json(out.stdout)[1])
            except ValueError:
                alive = None
    return scale_notes(inventory, spec.drained, live, alive)


# --- fab drain ---------------------------------------------------------------------------------------------


def staying(inventory: Cluster, drained: frozenset[str]) -> Cluster:
    """The inventory without the drained nodes: what readiness gates expect while those wait for
    `pulumi up` to delete them (their broker and worker are stopped). Node indexes, and so broker ids,
    stay as they are."""
    if not drained:
        return inventory
    return dataclasses.replace(inventory, nodes=tuple(n for n in inventory.nodes if n.name not in drained))


def stop_unit(ctx: DrainContext, unit: str, what: str) -> str:
    r = ctx.remote_for(ctx.node)
    r.run(f"systemctl disable --now {shlex.quote(unit)}", timeout=180)
    state = r.run(f"systemctl is-active {shlex.quote(unit)}", check=False).stdout.strip()
    if state == "active":
        raise OperationError(f"{ctx.node.name}: {unit} still active after stop; see journalctl -u {unit}")
    return f"{what} on {ctx.node.name} stopped and disabled ({state})"


# After its replicas moved: the broker leaves the cluster's metadata (fenced), so the gates, which then
# expect the brokers of the remaining nodes, see exactly those (standalone; mesos prunes the app).
STOP_KAFKA_BROKER = DrainStep(
    "Kafka broker stopped",
    applies=lambda ctx: ctx.node in ctx.cluster.brokers,
    refuse=lambda ctx: [],
    run=lambda ctx: stop_unit(ctx, kafka.UNIT, "Kafka broker"),
)


def spark_worker_refusals(ctx: DrainContext) -> list[str]:
    others = [n for n in ctx.cluster.agents if n.name not in ctx.leaving]
    if not others:
        return [f"{ctx.node.name} runs the last Spark worker that is not drained: the job would have none"]
    return []


def stop_spark_worker(ctx: DrainContext) -> str:
    """The worker stopped and disabled: on SIGTERM it kills its executors, and the driver reruns their
    tasks on the other workers (Structured Streaming resumes from its checkpoint)."""
    return stop_unit(ctx, spark.WORKER_UNIT, "Spark worker")


STOP_SPARK_WORKER = DrainStep(
    "Spark worker stopped",
    applies=lambda ctx: ctx.node.role is Role.AGENT,
    refuse=spark_worker_refusals,
    run=stop_spark_worker,
)


def drain(
    platform: Platform,
    spec: DeploySpec,
    inventory: Cluster,
    node_name: str,
    remotes: Mapping[str, Remote],
    line: Callable[[str], None] = print,
) -> list[str]:
    """Every drain step of the platform on `node_name`, refusals first; then the drained record. Returns
    the steps' summaries (empty when the node was drained already)."""
    try:
        node = inventory.node(node_name)
    except KeyError as exc:
        raise ConfigError(f"--node {node_name}: {exc.args[0]}") from None
    if node.role is not Role.AGENT:
        raise ConfigError(f"--node {node_name}: only agents are drained (it is a {node.role.value})")
    if not platform.drain:
        raise ConfigError(f"platform {platform.name} has no drain steps; nothing was changed")
    drained = read_drained(inventory, remotes)
    if node.name in drained:
        line(f"drain: {node.name} is drained already ({DRAINED_MARKER}); nothing to do")
        return []
    spec = dataclasses.replace(spec, drained=drained)

    def remote_for(n: Node) -> Remote:
        try:
            return remotes[n.name]
        except KeyError:
            raise OperationError(f"{n.name}: not connected") from None

    ctx = DrainContext(spec, inventory, node, remote_for, line)
    steps = [s for s in platform.drain if s.applies(ctx)]
    refusals = [reason for s in steps for reason in s.refuse(ctx)]
    if refusals:
        raise DrainRefused(
            f"cannot drain {node.name}; nothing was changed:\n" + "\n".join(f"- {r}" for r in refusals)
        )
    summaries = []
    for i, step in enumerate(steps, 1):
        line(f"== drain {i}/{len(steps)}: {step.name} ({node.name})")
        t0 = time.monotonic()
        summary = step.run(ctx)
        line(f"  {summary} {time.monotonic() - t0:.1f}s")
        summaries.append(summary)
    remote_for(node).run(f"mkdir -p {shlex.quote(DRAINED_MARKER.rsplit('/', 1)[0])}")
    remote_for(node).put(marker_text(node, summaries).encode(), DRAINED_MARKER)
    last = [n.name for n in inventory.agents][-len(drained | {node.name}) :]
    hint = (
        "lower fastdata:nodes.agent.count and run `pulumi up` (it deletes the highest-numbered agents), "
        "then `fab deploy` (the nodes that stay forget it: HDFS exclude file, Kafka and Spark lists)"
        if node.name in last
        else "note: lowering fastdata:nodes.agent.count deletes the highest-numbered agents "
        f"({', '.join(last)}), not {node.name}"
    )
    line(f"drain: {node.name} drained and marked ({DRAINED_MARKER}); {hint}")
    return summaries
