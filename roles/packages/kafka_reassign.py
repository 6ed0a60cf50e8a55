"""Moving partition replicas between brokers with Kafka's own reassignment tool (DESIGN 4, life-cycle).

Kafka never moves existing partitions by itself: a new broker gets nothing until a reassignment puts
replicas on it, and a broker leaves safely only after a reassignment moved every replica off it
(docs/reference: kafka ops "Expanding your cluster", "Decommissioning brokers").

Facts, decisions and actions are apart (STYLE 1):
- facts: `parse_describe` reads `TopicCommand --describe`, `parse_verify` reads
  `ReassignPartitionsCommand --verify`;
- decisions (pure): `balanced_assignment` spreads one topic's replicas and preferred leaders evenly over
  a set of brokers, moving as few replicas as it can; `moves` diffs current and target; `drain_refusals`
  says why a broker cannot be emptied;
- actions: `reassign` writes the plan on a broker, runs `--execute` with a throttle, polls `--verify`
  until every partition completed (which also clears the throttles), then elects the preferred leaders.
Everything runs on a broker node with the Kafka jars (`kafka.tool`), never from the control machine.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from contract import Cluster, Node
from roles.engine.connection import Remote, RunResult
from roles.engine.drain import DrainContext, DrainStep
from roles.engine.executor import Check, Op
from roles.engine.ops import probed
from roles.engine.spec import DeploySpec
from roles.errors import OperationError
from roles.packages import kafka

REASSIGN = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
TOPICS = "org.apache.kafka.tools.TopicCommand"
ELECT = "org.apache.kafka.tools.LeaderElectionCommand"
WORK_DIR = "/var/lib/kafka/reassign"  # plans and rollback files stay on the broker for the operator
# Replication bytes/s per broker while replicas move. The demo ingests well under 1 MB/s, so a new
# replica catches up; a throttle below the ingest rate would never let it (reference C.7, pitfall 14).
THROTTLE_BYTES_PER_SECOND = 10 * 1024 * 1024
VERIFY_TIMEOUT = 900.0
VERIFY_INTERVAL = 5.0

Assignment = dict[int, tuple[int, ...]]  # partition -> replicas, the first one the preferred leader


# --- facts ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionState:
    partition: int
    leader: int | None  # None: no leader (offline)
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    adding: tuple[int, ...] = ()  # a reassignment in progress
    removing: tuple[int, ...] = ()

    @property
    def in_sync(self) -> bool:
        return set(self.isr) == set(self.replicas) and not self.adding and not self.removing


@dataclass(frozen=True)
class TopicState:
    name: str
    replication_factor: int
    configs: Mapping[str, str]
    partitions: tuple[PartitionState, ...] = field(default=())

    @property
    def assignment(self) -> Assignment:
        return {p.partition: p.replicas for p in self.partitions}

    @property
    def min_insync_replicas(self) -> int | None:
        value = self.configs.get("min.insync.replicas")
        return int(value) if value and value.isdigit() else None


def _fields(line: str) -> dict[str, str]:
    """`Key: value` pairs of one describe line (tab separated; values may be empty)."""
    out = {}
    for part in line.strip().split("\t"):
        key, sep, value = part.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"-?\d+", text))


def parse_describe(text: str) -> dict[str, TopicState]:
    """Topics from `TopicCommand --describe` (3.9 and 4.x): a `Topic: ... PartitionCount: ...` head line
    per topic, then one line per partition (`Partition: 0  Leader: 1  Replicas: 1,2,3  Isr: 1,2,3`, with
    `Adding Replicas` / `Removing Replicas` while a reassignment runs)."""
    heads: dict[str, tuple[int, dict[str, str]]] = {}
    parts: dict[str, list[PartitionState]] = {}
    for line in text.splitlines():
        f = _fields(line)
        topic = f.get("Topic")
        if not topic:
            continue
        if "Partition" in f:
            leader = int(f["Leader"]) if re.fullmatch(r"\d+", f.get("Leader", "")) else None
            parts.setdefault(topic, []).append(
                PartitionState(
                    int(f["Partition"]),
                    leader,
                    _ids(f.get("Replicas", "")),
                    _ids(f.get("Isr", "")),
                    _ids(f.get("Adding Replicas", "")),
                    _ids(f.get("Removing Replicas", "")),
                )
            )
        elif "PartitionCount" in f:
            configs = dict(kv.split("=", 1) for kv in f.get("Configs", "").split(",") if "=" in kv)
            heads[topic] = (int(f.get("ReplicationFactor", "0") or 0), configs)
    return {
        name: TopicState(name, rf, configs, tuple(sorted(parts.get(name, []), key=lambda p: p.partition)))
        for name, (rf, configs) in heads.items()
    }


@dataclass(frozen=True)
class VerifyState:
    completed: tuple[str, ...]
    in_progress: tuple[str, ...]
    other: tuple[str, ...]  # "no active reassignment, but replica set is ... rather than ...": lost

    @property
    def done(self) -> bool:
        return not self.in_progress and not self.other and bool(self.completed)


def parse_verify(text: str) -> VerifyState:
    """`ReassignPartitionsCommand --verify` lines: `Reassignment of partition t-0 is completed.`, `... is
    still in progress.`, `There is no active reassignment of partition t-0, but replica set is ...`."""
    completed: list[str] = []
    progress: list[str] = []
    other: list[str] = []
    for line in text.splitlines():
        m = re.match(r"Reassignment of partition (\S+) is (completed|still in progress)", line.strip())
        if m:
            (completed if m.group(2) == "completed" else progress).append(m.group(1))
        elif line.startswith("There is no active reassignment of partition"):
            other.append(line.strip())
    return VerifyState(tuple(completed), tuple(progress), tuple(other))


# --- decisions (pure) -------------------------------------------------------------------------------------


class CannotPlace(ValueError):
    """The brokers cannot hold a partition's replicas (fewer brokers than its replication factor)."""


def replica_counts(assignment: Assignment, brokers: Sequence[int]) -> dict[int, int]:
    counts = dict.fromkeys(brokers, 0)
    for replicas in assignment.values():
        for b in replicas:
            counts[b] = counts.get(b, 0) + 1
    return counts


def leader_counts(assignment: Assignment, brokers: Sequence[int]) -> dict[int, int]:
    counts = dict.fromkeys(brokers, 0)
    for replicas in assignment.values():
        if replicas:
            counts[replicas[0]] = counts.get(replicas[0], 0) + 1
    return counts


def balanced_assignment(current: Assignment, brokers: Sequence[int]) -> Assignment:
    """One topic's replicas spread over `brokers`: no replica elsewhere, every broker within one replica
    and within one preferred leadership of every other, replication factors kept. Moves as little as it
    can: replicas already on a target broker stay unless a broker holds more than its share, followers
    move before leaders, and leaders are spread by reordering replicas (which moves no data).
    A balanced input comes back unchanged, so a converged topic plans no move."""
    targets = sorted(set(brokers))
    out = {p: list(r) for p, r in sorted(current.items())}
    counts = dict.fromkeys(targets, 0)
    for replicas in out.values():
        for b in replicas:
            if b in counts:
                counts[b] += 1
    # 1. replicas on a broker that is not a target (leaving, drained) go to the least loaded target
    for p, replicas in out.items():
        for i, b in enumerate(replicas):
            if b in counts:
                continue
            free = [t for t in targets if t not in replicas]
            if not free:
                raise CannotPlace(
                    f"partition {p} has {len(replicas)} replicas but only {len(targets)} brokers "
                    f"({', '.join(map(str, targets))}) can hold them"
                )
            pick = min(free, key=lambda t: (counts[t], t))
            replicas[i] = pick
            counts[pick] += 1
    # 2. even replica counts: one replica at a time from the fullest to the emptiest broker
    while True:
        hi = max(targets, key=lambda t: (counts[t], -t))
        lo = min(targets, key=lambda t: (counts[t], t))
        if counts[hi] - counts[lo] <= 1:
            break
        candidates = [p for p, r in out.items() if hi in r and lo not in r]
        # a follower first: moving it keeps the partition's leadership where it is
        p = min(candidates, key=lambda q: (out[q].index(hi) == 0, q))
        out[p][out[p].index(hi)] = lo
        counts[hi] -= 1
        counts[lo] += 1
    # 3. even preferred leaders: reorder replicas (no data moves). A leadership passes from the broker
    # leading most to one leading at least two fewer along a chain: a partition led by `u` whose replicas
    # include `v` can make `v` its leader, which keeps every broker on the chain at its count.
    for _ in range(len(out) * len(targets) + 1):
        leaders = leader_counts({p: tuple(r) for p, r in out.items()}, targets)
        hi = max(targets, key=lambda t, n=leaders: (n[t], -t))  # type: ignore[misc]
        path = _leadership_path(out, hi, lambda b, n=leaders, top=leaders[hi]: n[b] <= top - 2)  # type: ignore[misc]
        if path is None:
            break  # no reorder helps without moving data; the replica spread matters more
        for p, b in path:
            i = out[p].index(b)
            out[p][0], out[p][i] = out[p][i], out[p][0]
    return {p: tuple(r) for p, r in out.items()}


def _leadership_path(
    out: Mapping[int, list[int]], start: int, wanted: Callable[[int], bool]
) -> list[tuple[int, int]] | None:
    """The shortest chain of (partition, new leader) from `start` to a broker `wanted` accepts (BFS)."""
    came: dict[int, tuple[int, int] | None] = {start: None}
    queue = [start]
    while queue:
        u = queue.pop(0)
        if u != start and wanted(u):
            path = []
            while (step := came[u]) is not None:
                path.append(step)
                u = out[step[0]][0]
            return path[::-1]
        for p, r in out.items():
            if r and r[0] == u:
                for b in sorted(r[1:]):
                    if b not in came:
                        came[b] = (p, b)
                        queue.append(b)
    return None


@dataclass(frozen=True)
class Move:
    topic: str
    partition: int
    before: tuple[int, ...]
    after: tuple[int, ...]

    @property
    def data_moves(self) -> bool:
        """False when only the order (the preferred leader) changes."""
        return set(self.before) != set(self.after)

    def describe(self) -> str:
        b, a = ",".join(map(str, self.before)), ",".join(map(str, self.after))
        return f"{self.topic}-{self.partition} [{b}] -> [{a}]"


def moves(topic: str, current: Assignment, target: Assignment) -> list[Move]:
    return [
        Move(topic, p, current[p], target[p])
        for p in sorted(current)
        if current[p] != target.get(p, current[p])
    ]


def summarize(all_moves: Sequence[Move]) -> str:
    """`3 replica moves, 1 leader change: crimes.raw-0 [1,2,3] -> [4,2,3], ...` (what plan shows)."""
    data = sum(1 for m in all_moves if m.data_moves)
    replicas = sum(len(set(m.after) - set(m.before)) for m in all_moves)
    order = len(all_moves) - data
    head = f"{replicas} replica(s) to move in {data} partition(s)"
    if order:
        head += f", {order} preferred-leader change(s)"
    return f"{head}: " + "; ".join(m.describe() for m in all_moves)


def reassignment_json(all_moves: Sequence[Move], after: bool = True) -> str:
    """The tool's plan file (`after`), or the rollback file (the current replicas)."""
    return json.dumps(
        {
            "version": 1,
            "partitions": [
                {"topic": m.topic, "partition": m.partition, "replicas": list(m.after if after else m.before)}
                for m in all_moves
            ],
        },
        indent=1,
    )


def spread(topic: TopicState, brokers: Sequence[int]) -> str:
    """`brokers 1,2,3,4 hold 5,5,4,4 replicas and lead 2,2,1,1` (a check's detail)."""
    a = topic.assignment
    reps, leads = replica_counts(a, brokers), leader_counts(a, brokers)
    return (
        f"brokers {','.join(map(str, brokers))} hold {','.join(str(reps[b]) for b in brokers)} replicas "
        f"and lead {','.join(str(leads[b]) for b in brokers)}"
    )


def drain_refusals(topics: Mapping[str, TopicState], survivors: Sequence[int], node: str) -> list[str]:
    """Why the `survivors` cannot take over every replica of the broker on `node`: per topic, its
    replication factor or its min.insync.replicas above the number of surviving brokers."""
    n = len(survivors)
    out = []
    for name, t in sorted(topics.items()):
        rf = max([t.replication_factor, *(len(p.replicas) for p in t.partitions)])
        isr = t.min_insync_replicas
        if rf > n:
            out.append(
                f"topic {name} has replication factor {rf} but only {n} broker(s) would remain without "
                f"{node} ({', '.join(map(str, survivors)) or 'none'})"
            )
        elif isr is not None and isr > n:
            out.append(
                f"topic {name} has min.insync.replicas {isr} but only {n} broker(s) would remain without "
                f"{node}: every write with acks=all would fail"
            )
    return out


# --- actions (on a broker) --------------------------------------------------------------------------------


def describe_command(spec: DeploySpec, inventory: Cluster, topic: str | None = None) -> str:
    which = f" --topic {shlex.quote(topic)}" if topic else ""
    return kafka.tool(
        spec, TOPICS, f"--bootstrap-server {kafka.bootstrap_servers(inventory)} --describe{which}"
    )


def describe(
    r: Remote, spec: DeploySpec, inventory: Cluster, topic: str | None = None
) -> dict[str, TopicState]:
    out = r.run(describe_command(spec, inventory, topic), timeout=120)
    return parse_describe(out.stdout)


def reassign(
    r: Remote,
    spec: DeploySpec,
    inventory: Cluster,
    all_moves: Sequence[Move],
    label: str,
    timeout: float = VERIFY_TIMEOUT,
    interval: float = VERIFY_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Execute `all_moves` with a throttle and wait until `--verify` reports every partition completed
    (new replicas caught up and in sync, old ones removed, throttles cleared); then elect the preferred
    leaders of the moved partitions. The plan and its rollback stay in WORK_DIR on the broker."""
    if not all_moves:
        return
    bootstrap = kafka.bootstrap_servers(inventory)
    plan, rollback = f"{WORK_DIR}/{label}.json", f"{WORK_DIR}/{label}.rollback.json"
    r.run(f"mkdir -p {WORK_DIR}")
    r.put(reassignment_json(all_moves).encode(), plan)
    r.put(reassignment_json(all_moves, after=False).encode(), rollback)
    base = f"--bootstrap-server {bootstrap} --reassignment-json-file {plan}"
    r.run(kafka.tool(spec, REASSIGN, f"{base} --execute --throttle {THROTTLE_BYTES_PER_SECOND}"), timeout=180)
    deadline = time.monotonic() + timeout
    while True:
        out = r.run(kafka.tool(spec, REASSIGN, f"{base} --verify"), check=False, timeout=180)
        state = parse_verify(out.stdout)
        if state.done:
            break
        if state.other:
            raise OperationError(
                f"reassignment {label} on {r.node.name}: {state.other[0]}; someone changed these partitions "
                f"meanwhile. Compare `kafka-topics --describe` with {plan}, then re-run"
            )
        if time.monotonic() >= deadline:
            pending = ", ".join(state.in_progress) or (out.stderr or out.stdout).strip()[-200:]
            raise OperationError(
                f"reassignment {label} not complete after {timeout:.0f}s (still moving: {pending}); it goes "
                f"on in the background with replication throttled to {THROTTLE_BYTES_PER_SECOND} B/s until "
                f"`--verify` sees it complete: re-run the same fab task to keep waiting, or on "
                f"{r.node.name} cancel it with `kafka-reassign-partitions {base} --cancel` (rollback plan: "
                f"{rollback})"
            )
        sleep(interval)
    elect = [{"topic": m.topic, "partition": m.partition} for m in all_moves]
    r.put(json.dumps({"partitions": elect}).encode(), f"{WORK_DIR}/{label}.elect.json")
    r.run(
        kafka.tool(
            spec,
            ELECT,
            f"--bootstrap-server {bootstrap} --election-type PREFERRED "
            f"--path-to-json-file {WORK_DIR}/{label}.elect.json",
        ),
        timeout=180,
    )


# --- the scale-out op: the demo topic spread over every broker --------------------------------------------


def target_brokers(spec: DeploySpec, inventory: Cluster) -> list[int]:
    """The broker ids a topic should live on: every broker of the inventory except drained ones."""
    return [kafka.node_id(n) for n in inventory.brokers if n.name not in spec.drained]


def balance_op(spec: DeploySpec, inventory: Cluster, node: Node, topic: str) -> Op:
    """`topic` spread over every (not drained) broker; its apply reassigns and waits until in sync.
    The check's detail lists the partitions to move, which is what `fab plan` prints."""
    brokers = target_brokers(spec, inventory)
    probe = describe_command(spec, inventory, topic)

    def planned(res: RunResult) -> tuple[TopicState | None, list[Move], str]:
        if not res.ok:
            return None, [], f"cannot describe topic {topic}: {(res.stderr or res.stdout).strip()[-200:]}"
        state = parse_describe(res.stdout).get(topic)
        if state is None:
            return None, [], f"topic {topic} missing: Kafka spreads it over the brokers when it is created"
        busy = [p.partition for p in state.partitions if p.adding or p.removing]
        if busy:
            return state, [], f"topic {topic}: a reassignment is in progress (partitions {busy})"
        try:
            target = balanced_assignment(state.assignment, brokers)
        except CannotPlace as exc:
            return state, [], f"topic {topic}: {exc}"
        return state, moves(topic, state.assignment, target), ""

    def judge(res: RunResult) -> Check:
        state, todo, problem = planned(res)
        if problem:
            return Check(False, problem)
        assert state is not None
        if todo:
            return Check(False, f"{summarize(todo)} (onto brokers {','.join(map(str, brokers))})")
        return Check(True, f"topic {topic} balanced: {spread(state, brokers)}")

    def apply(r: Remote) -> None:
        deadline = time.monotonic() + VERIFY_TIMEOUT
        while True:
            _, todo, problem = planned(r.run(probe, check=False, timeout=120))
            if not problem.startswith(f"topic {topic}: a reassignment is in progress"):
                break
            if time.monotonic() >= deadline:
                raise OperationError(
                    f"{problem} for more than {VERIFY_TIMEOUT:.0f}s; see `--list` on {r.node.name}"
                )
            time.sleep(VERIFY_INTERVAL)  # someone else's (or an interrupted run's) reassignment
        if problem:
            raise OperationError(f"{r.node.name}: {problem}")
        reassign(r, spec, inventory, todo, f"balance-{topic}")

    return probed(
        f"kafka-balance-{topic}",
        f"topic {topic} spread over brokers {','.join(map(str, brokers))}",
        probe,
        judge,
        apply,
    )


def balance_planner(topic: str) -> Callable[[DeploySpec, Cluster, Node], list[Op]]:
    """The platform step's planner: `topic` spread over the brokers (run on the first broker)."""

    def plan_balance(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
        return [balance_op(spec, inventory, node, topic)]

    return plan_balance


# --- the drain step: every replica off one broker ----------------------------------------------------------


def controller_ids(inventory: Cluster) -> set[int]:
    """The KRaft voters' node ids, as roles/packages/kafka.py configures the quorum (`id@host:port`)."""
    return {int(v.split("@", 1)[0]) for v in kafka.voters(inventory).split(",") if "@" in v}


def _survivors(ctx: DrainContext) -> list[Node]:
    return [n for n in ctx.cluster.brokers if n.name not in ctx.leaving]


def _drain_refusals(ctx: DrainContext) -> list[str]:
    nid = kafka.node_id(ctx.node)
    if nid in controller_ids(ctx.cluster):
        return [
            f"{ctx.node.name} runs KRaft controller {nid} (voters {kafka.voters(ctx.cluster)}): draining "
            "moves only its partitions, and a static quorum cannot lose a voter. Change the controller set "
            "first (Kafka's controller quorum change, then `fab deploy`), then drain it"
        ]
    survivors = _survivors(ctx)
    if not survivors:
        return [f"{ctx.node.name} is the last broker that is not drained: no broker would hold its replicas"]
    topics = describe(ctx.remote_for(survivors[0]), ctx.spec, ctx.cluster)
    return drain_refusals(topics, [kafka.node_id(n) for n in survivors], ctx.node.name)


def _drain_run(ctx: DrainContext) -> str:
    survivors = _survivors(ctx)
    ids = [kafka.node_id(n) for n in survivors]
    r = ctx.remote_for(survivors[0])
    topics = describe(r, ctx.spec, ctx.cluster)
    nid = kafka.node_id(ctx.node)
    todo: list[Move] = []
    for name, state in sorted(topics.items()):
        if any(nid in p.replicas for p in state.partitions):
            todo += moves(name, state.assignment, balanced_assignment(state.assignment, ids))
    if todo:
        ctx.line(f"  moving off broker {nid}: {summarize(todo)}")
    reassign(r, ctx.spec, ctx.cluster, todo, f"drain-broker-{nid}")
    left = [
        f"{name}-{p.partition}"
        for name, state in describe(r, ctx.spec, ctx.cluster).items()
        for p in state.partitions
        if nid in p.replicas or not p.in_sync
    ]
    if left:
        raise OperationError(
            f"after the reassignment these partitions still have a replica on broker {nid} or are not "
            f"in sync: {', '.join(left[:10])}; check `kafka-topics --describe` on {survivors[0].name} "
            f"and re-run `fab drain --node {ctx.node.name}`"
        )
    moved = sum(len(set(m.after) - set(m.before)) for m in todo)
    return (
        f"broker {nid} holds no replica: {moved} replica(s) of {len({m.topic for m in todo})} topic(s) moved "
        f"to brokers {','.join(map(str, ids))}, all in sync"
    )


DRAIN_BROKER = DrainStep(
    "Kafka replicas moved off the broker",
    applies=lambda ctx: ctx.node in ctx.cluster.brokers,
    refuse=_drain_refusals,
    run=_drain_run,
)
