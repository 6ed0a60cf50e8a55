"""Planner / operation / executor (DESIGN 4).

* A planner is pure: `(spec, cluster, node) -> [Op]`; it never touches SSH and never chooses nodes.
* An `Op` is a desired state: `check` (read-only) says whether it holds, `apply` makes it hold, `notify`
  names restarts to queue when it changed.
* A `Platform` is an ordered set of `Step`s (phase x placement x planner), restart `Handler`s, health
  `Gate`s and the artifacts it needs. Platforms (standalone, mesos, dcos) differ only in these tables;
  one `Executor` runs them. Which nodes a step runs on is its `Placement` (roles/engine/placement.py).
* The executor runs phases in order; within a phase each op runs on all its hosts at once (bounded
  pool), then the next op (a barrier, as in pyinfra). Serial phases (masters) run host by host.
"""

from __future__ import annotations

import base64
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TextIO

from contract import Cluster, Node
from roles.engine.connection import CommandFailed, Remote, RunResult, Unreachable, tail
from roles.engine.drain import DrainStep
from roles.engine.placement import Placement
from roles.engine.spec import ArtifactNeed, DeploySpec
from roles.errors import FastdataError, HealthCheckError, OperationError

PHASES = ("connect", "prerequisites", "bootstrap", "masters", "agents", "packages", "demo")
SERIAL_PHASES = frozenset({"masters"})  # masters one at a time (dcos-ansible `serial: 1`)
MAX_PARALLEL = 16


@dataclass(frozen=True)
class Check:
    """Result of a read-only check: `ok` means the desired state already holds."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class RenderedFile:
    """A file an op writes to a node (for `render`: every file each node would get)."""

    path: str
    content: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Op:
    """One desired state on one node.

    key: identifies "the same op" on different hosts (the barrier unit), e.g. "java".
    name: the end state in words, "Kafka broker agent-1 running".
    """

    key: str
    name: str
    check: Callable[[Remote], Check]
    apply: Callable[[Remote], None]
    notify: tuple[str, ...] = ()
    files: tuple[RenderedFile, ...] = ()
    # Restarts made moot when this op changes (it started the unit fresh, with the new config).
    satisfies: tuple[str, ...] = ()
    # Optional batchable form of `check`: one read-only shell command and a pure judge of its result.
    # The executor runs the probes of all a host's ops in one SSH round trip at phase start.
    probe: str | None = None
    judge: Callable[[RunResult], Check] | None = None
    # The state is reached by the restart this op notifies (a rolling handler: one host at a time, in
    # inventory order, health-gated), not by `apply`: a changed op queues it (upgrades: the new version
    # running). A re-run finds nodes still on the old version and queues them again (resumable).
    by_restart: bool = False


Planner = Callable[[DeploySpec, Cluster, Node], list[Op]]
RemoteFor = Callable[[Node], Remote]


@dataclass(frozen=True)
class Step:
    """Run `planner` during `phase` on every node `placement` selects, when `when` holds for the spec
    (e.g. only with the demo enabled)."""

    phase: str
    placement: Placement
    planner: Planner
    when: Callable[[DeploySpec], bool] | None = None


@dataclass(frozen=True)
class Handler:
    """A queued restart: run once per phase on every host that notified it, then wait for health."""

    key: str
    name: str
    restart: Callable[[Remote], None]
    healthy: Callable[[Remote], Check] | None = None
    rolling: bool = True  # one host at a time, health-checked (keeps the Kafka quorum)
    timeout: float = 120.0


@dataclass(frozen=True)
class Gate:
    """A readiness gate (DESIGN 6), probed on one node; also used by `status`."""

    layer: str  # "platform up", "packages healthy", ...
    name: str
    probe: Callable[[DeploySpec, Cluster, RemoteFor], Check]
    timeout: float = 120.0
    after_phase: str | None = None  # deploy waits for it after this phase (when the phase changed)


def gate_group(
    layer: str, after_phase: str, *gates: tuple[str, Callable[[DeploySpec, Cluster, RemoteFor], Check], float]
) -> tuple[Gate, ...]:
    """The gates of one readiness layer that deploy waits for after `after_phase`: (name, probe, timeout)."""
    return tuple(Gate(layer, name, probe, timeout, after_phase=after_phase) for name, probe, timeout in gates)


@dataclass(frozen=True)
class Platform:
    name: str
    steps: tuple[Step, ...]
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    gates: tuple[Gate, ...] = ()
    # What `diagnose` collects from every node: systemd units (journal + status) and config paths.
    units: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    # What the nodes need from the control machine: cached bundles, user-supplied files, the demo apps
    # (roles/engine/spec.py resolves them into the DeploySpec before any node is touched).
    artifacts: tuple[ArtifactNeed, ...] = ()
    # Checks of the spec against the inventory that need no node (e.g. DC/OS's config.yaml):
    # `validate(spec, cluster)` raises ConfigError before anything connects.
    validate: Callable[[DeploySpec, Cluster], None] | None = None
    # Read-only checks of the nodes' own facts (their OS, their Python) after connecting, before any op
    # (plan and deploy): `preflight(spec, cluster, remotes)` raises ConfigError or returns notes.
    preflight: Callable[[DeploySpec, Cluster, Mapping[str, Remote]], list[str]] | None = None
    # The demo's batch job on this platform (`fab batch`): `batch_job(spec, cluster, reconcile)` gives the
    # node to run it from and the shell command that submits it to the cluster and prints its JSON.
    batch_job: Callable[[DeploySpec, Cluster, bool], tuple[Node, str]] | None = None
    # What `fab drain` runs, in order, to empty an agent before it is deleted (roles/engine/drain.py).
    drain: tuple[DrainStep, ...] = ()


@dataclass
class OpResult:
    host: str
    key: str
    name: str
    status: str  # ok | changed | failed | would-change | skipped
    detail: str
    seconds: float = 0.0
    command: str | None = None
    exit_code: int | None = None
    output: str = ""


@dataclass
class Report:
    results: list[OpResult] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    diagnose_dir: str | None = None

    @property
    def changes(self) -> int:
        return sum(1 for r in self.results if r.status in ("changed", "would-change"))

    @property
    def failures(self) -> list[OpResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def per_host(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            out.setdefault(r.host, {}).setdefault(r.status, 0)
            out[r.host][r.status] += 1
        return out


def plan_phases(platform: Platform, spec: DeploySpec, cluster: Cluster) -> dict[str, dict[str, list[Op]]]:
    """phase -> node name -> ops, in PHASES order. Pure: no SSH."""
    phases: dict[str, dict[str, list[Op]]] = {p: {} for p in PHASES}
    for step in platform.steps:
        if step.phase not in phases:
            raise ValueError(f"step {step.planner.__name__}: unknown phase {step.phase!r}; one of {PHASES}")
        if step.when is not None and not step.when(spec):
            continue
        for node in step.placement.select(cluster):
            ops = step.planner(spec, cluster, node)
            if ops:
                phases[step.phase].setdefault(node.name, []).extend(ops)
    for phase, by_host in phases.items():
        for host, ops in by_host.items():
            keys = [o.key for o in ops]
            dupes = {k for k in keys if keys.count(k) > 1}
            if dupes:
                raise ValueError(f"phase {phase}, {host}: op keys must be unique, repeated: {sorted(dupes)}")
    return phases


def ordered_keys(by_host: Mapping[str, Sequence[Op]]) -> list[str]:
    """One key order that respects every host's own op order (stable topological merge)."""
    first: dict[str, int] = {}
    after: dict[str, set[str]] = {}
    for ops in by_host.values():
        for i, op in enumerate(ops):
            first.setdefault(op.key, len(first))
            after.setdefault(op.key, set())
            if i:
                after[op.key].add(ops[i - 1].key)
    order: list[str] = []
    while len(order) < len(first):
        ready = [k for k in first if k not in order and after[k] <= set(order)]
        if not ready:
            raise ValueError(
                f"op order differs between hosts (cycle among {sorted(set(first) - set(order))})"
            )
        order.append(min(ready, key=first.__getitem__))
    return order


PROBE_MARK = "@@fastdata-probe"


def batch_probe_script(probes: Sequence[str]) -> str:
    """One shell script running every probe; each reports `MARK index exit base64(stdout)` on one line."""
    parts = []
    for i, probe in enumerate(probes):
        parts.append(
            f"__o=$( {{ {probe}\n}} 2>/dev/null </dev/null ); __rc=$?; "
            f'printf \'{PROBE_MARK} {i} %s %s\\n\' "$__rc" "$(printf %s "$__o" | base64 -w0)"'
        )
    return "\n".join(parts)


def parse_batch_probe(output: str, probes: Sequence[str]) -> dict[int, RunResult]:
    out: dict[int, RunResult] = {}
    for line in output.splitlines():
        parts = line.split(" ")
        if len(parts) >= 3 and parts[0] == PROBE_MARK:
            i, rc = int(parts[1]), int(parts[2])
            text = base64.b64decode(parts[3]).decode(errors="replace") if len(parts) > 3 else ""
            out[i] = RunResult(probes[i], rc, text, "")
    return out


class Progress:
    """Live per-host progress lines; one lock so lines from threads never interleave."""

    def __init__(self, out: TextIO | None = None, quiet: bool = False) -> None:
        self.out = out or sys.stdout
        self.quiet = quiet
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        if self.quiet:
            return
        with self.lock:
            print(text, file=self.out, flush=True)

    def result(self, r: OpResult) -> None:
        mark = {
            "ok": "ok",
            "changed": "CHANGED",
            "failed": "FAILED",
            "would-change": "would change",
            "skipped": "skipped",
        }[r.status]
        self.line(f"  [{r.host:<16}] {mark:<12} {r.name} ({r.detail}) {r.seconds:.1f}s")


class Executor:
    """Runs a platform's plan over `Remote`s. `remotes` maps node name -> Remote (already connected)."""

    def __init__(
        self,
        platform: Platform,
        spec: DeploySpec,
        cluster: Cluster,
        remotes: Mapping[str, Remote],
        progress: Progress | None = None,
        max_parallel: int = MAX_PARALLEL,
        health_interval: float = 2.0,
    ) -> None:
        self.platform = platform
        self.spec = spec
        self.cluster = cluster
        self.remotes = remotes
        self.progress = progress or Progress()
        self.pool = ThreadPoolExecutor(max_workers=max(1, max_parallel), thread_name_prefix="fastdata")
        self.health_interval = health_interval
        self._prefetched: dict[str, dict[str, RunResult]] = {}

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def remote(self, node: Node) -> Remote:
        try:
            return self.remotes[node.name]
        except KeyError:
            raise OperationError(f"{node.name}: not connected (the connect phase failed for it)") from None

    # --- one op on one host -------------------------------------------------------------------------
    def check(self, host: str, op: Op) -> Check:
        prefetched = self._prefetched.get(host, {}).pop(op.key, None)
        if prefetched is not None and op.judge is not None:
            return op.judge(prefetched)
        return op.check(self.remotes[host])

    def prefetch(self, by_host: Mapping[str, Sequence[Op]]) -> None:
        """Run every host's probes in one round trip; a host's cache is dropped once it changes."""

        def one(host: str, ops: Sequence[Op]) -> tuple[str, dict[str, RunResult]]:
            batch = [op for op in ops if op.probe is not None and op.judge is not None]
            if len(batch) < 2:
                return host, {}
            probes = [op.probe or "" for op in batch]
            try:
                res = self.remotes[host].run(batch_probe_script(probes), check=False, timeout=120)
            except (CommandFailed, Unreachable):
                return host, {}  # the per-op checks will run (and report) one by one
            parsed = parse_batch_probe(res.stdout, probes)
            return host, {batch[i].key: r for i, r in parsed.items()}

        futures = [self.pool.submit(one, h, ops) for h, ops in by_host.items()]
        self._prefetched = dict(f.result() for f in futures)

    def _run_op(self, host: str, op: Op, dry_run: bool) -> OpResult:
        remote = self.remotes[host]
        t0 = time.monotonic()
        try:
            state = self.check(host, op)
            if state.ok:
                return OpResult(host, op.key, op.name, "ok", state.detail, time.monotonic() - t0)
            if dry_run:
                return OpResult(host, op.key, op.name, "would-change", state.detail, time.monotonic() - t0)
            if op.by_restart:
                return OpResult(
                    host, op.key, op.name, "changed", f"{state.detail}: restart queued", time.monotonic() - t0
                )
            self._prefetched.pop(host, None)  # state changed: later checks must read it live
            op.apply(remote)
            after = op.check(remote)
            if not after.ok:
                return OpResult(
                    host,
                    op.key,
                    op.name,
                    "failed",
                    f"applied, but the check still fails: {after.detail}",
                    time.monotonic() - t0,
                )
            return OpResult(host, op.key, op.name, "changed", state.detail, time.monotonic() - t0)
        except CommandFailed as exc:
            return OpResult(
                host,
                op.key,
                op.name,
                "failed",
                f"command exited {exc.exit_code if exc.exit_code is not None else '(timeout)'}",
                time.monotonic() - t0,
                exc.command,
                exc.exit_code,
                exc.output,
            )
        except (Unreachable, FastdataError) as exc:
            return OpResult(host, op.key, op.name, "failed", str(exc), time.monotonic() - t0)

    def _run_on(self, op_by_host: Mapping[str, Op], dry_run: bool) -> list[OpResult]:
        futures = {h: self.pool.submit(self._run_op, h, op, dry_run) for h, op in op_by_host.items()}
        results = []
        for fut in futures.values():
            r = fut.result()
            self.progress.result(r)
            results.append(r)
        return results

    # --- a phase ------------------------------------------------------------------------------------
    def run_phase(self, phase: str, by_host: Mapping[str, list[Op]], report: Report, dry_run: bool) -> None:
        failed: set[str] = set()
        notified: dict[str, list[str]] = {}  # handler key -> hosts, in order
        fresh: set[tuple[str, str]] = set()  # (handler key, host): unit just started, no restart needed

        def record(results: Iterable[OpResult], ops: Mapping[str, Op]) -> None:
            for r in results:
                report.results.append(r)
                if r.status == "failed":
                    failed.add(r.host)
                elif r.status == "changed":
                    fresh.update((key, r.host) for key in ops[r.host].satisfies)
                    for key in ops[r.host].notify:
                        hosts = notified.setdefault(key, [])
                        if r.host not in hosts:
                            hosts.append(r.host)

        if phase in SERIAL_PHASES:
            for host, ops in by_host.items():
                self.prefetch({host: ops})
                for op in ops:
                    if host in failed:
                        break
                    record(self._run_on({host: op}, dry_run), {host: op})
        else:
            self.prefetch(by_host)
            for key in ordered_keys(by_host):
                current = {
                    h: op for h, ops in by_host.items() if h not in failed for op in ops if op.key == key
                }
                if current:
                    record(self._run_on(current, dry_run), current)
        pending = {k: [h for h in hosts if (k, h) not in fresh] for k, hosts in notified.items()}
        pending = {k: hosts for k, hosts in pending.items() if hosts}
        if not dry_run and pending:
            self._restart(pending, failed, report)

    def _restart(self, notified: Mapping[str, list[str]], failed: set[str], report: Report) -> None:
        for key, hosts in notified.items():
            handler = self.platform.handlers.get(key)
            if handler is None:
                raise OperationError(f"an op notified {key!r} but the platform has no such handler")
            todo = [h for h in hosts if h not in failed]
            groups = [[h] for h in todo] if handler.rolling else [todo]
            for group in groups:
                futures = {h: self.pool.submit(self._restart_one, handler, h) for h in group}
                for fut in futures.values():
                    r = fut.result()
                    self.progress.result(r)
                    report.results.append(r)
                    if r.status == "failed":
                        failed.add(r.host)
                if handler.rolling and failed & set(group):
                    break  # a rolling restart stops at the first unhealthy host (the rest keep serving)

    def _restart_one(self, handler: Handler, host: str) -> OpResult:
        remote = self.remotes[host]
        t0 = time.monotonic()
        try:
            handler.restart(remote)
            if handler.healthy is not None:
                state = wait_for(
                    lambda: handler.healthy(remote) if handler.healthy else Check(True, ""),
                    handler.timeout,
                    self.health_interval,
                )
                if not state.ok:
                    return OpResult(
                        host,
                        f"restart:{handler.key}",
                        handler.name,
                        "failed",
                        f"not healthy after {handler.timeout:.0f}s: {state.detail}",
                        time.monotonic() - t0,
                    )
            return OpResult(
                host, f"restart:{handler.key}", handler.name, "changed", "restarted", time.monotonic() - t0
            )
        except CommandFailed as exc:
            return OpResult(
                host,
                f"restart:{handler.key}",
                handler.name,
                "failed",
                "restart command failed",
                time.monotonic() - t0,
                exc.command,
                exc.exit_code,
                exc.output,
            )
        except FastdataError as exc:
            return OpResult(
                host, f"restart:{handler.key}", handler.name, "failed", str(exc), time.monotonic() - t0
            )

    def wait_gates(self, phase: str) -> None:
        for gate in self.platform.gates:
            if gate.after_phase != phase:
                continue
            t0 = time.monotonic()
            state = wait_for(
                lambda g=gate: g.probe(self.spec, self.cluster, self.remote),  # type: ignore[misc]
                gate.timeout,
                self.health_interval,
            )
            self.progress.line(
                f"  gate {gate.name}: {'ok' if state.ok else 'FAILED'} ({state.detail}) "
                f"{time.monotonic() - t0:.1f}s"
            )
            if not state.ok:
                raise HealthCheckError(
                    f"health gate '{gate.name}' did not pass within {gate.timeout:.0f}s: {state.detail}"
                )

    # --- the whole plan -----------------------------------------------------------------------------
    def run(
        self, dry_run: bool = False, phases: Mapping[str, Mapping[str, list[Op]]] | None = None
    ) -> Report:
        plan = phases if phases is not None else plan_phases(self.platform, self.spec, self.cluster)
        report = Report()
        for phase in PHASES:
            by_host = {h: ops for h, ops in plan.get(phase, {}).items() if ops}
            if not by_host:
                if phase != "connect":
                    self.progress.line(f"== {phase}: nothing planned for platform {self.platform.name}")
                continue
            self.progress.line(
                f"== {phase}: {sum(len(o) for o in by_host.values())} ops on "
                f"{len(by_host)} host(s){' (one at a time)' if phase in SERIAL_PHASES else ''}"
            )
            before = report.changes
            self.run_phase(phase, dict(by_host), report, dry_run)
            if report.failures:
                report.finished = time.monotonic()
                raise DeployFailed(report, phase)
            if not dry_run and report.changes > before:
                self.wait_gates(phase)
        report.finished = time.monotonic()
        return report


class DeployFailed(OperationError):
    """One or more hosts failed; every host's results are kept in `report`."""

    def __init__(self, report: Report, phase: str) -> None:
        self.report = report
        self.phase = phase
        super().__init__(self.describe())

    def describe(self) -> str:
        lines = [f"phase '{self.phase}' failed on {len({r.host for r in self.report.failures})} host(s):"]
        for r in self.report.failures:
            lines.append(f"- host {r.host}, op '{r.name}': {r.detail}")
            if r.command is not None:
                code = "timed out" if r.exit_code is None else r.exit_code
                lines.append(f"  command: {r.command}\n  exit status: {code}")
            if r.output:
                lines.append(
                    "  output (tail):\n" + "\n".join("    " + x for x in tail(r.output).splitlines())
                )
        ok_hosts = sorted({r.host for r in self.report.results} - {r.host for r in self.report.failures})
        if ok_hosts:
            lines.append(
                f"other hosts completed the phase: {', '.join(ok_hosts)} (results kept; "
                "re-running resumes, finished work is a no-op)"
            )
        return "\n".join(lines)


def wait_for(probe: Callable[[], Check], timeout: float, interval: float) -> Check:
    """Retry `probe` until ok or `timeout`; returns the last result. Probe errors count as not ok."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = probe()
        except (CommandFailed, Unreachable) as exc:
            state = Check(False, str(exc).splitlines()[0])
        if state.ok or time.monotonic() >= deadline:
            return state
        time.sleep(interval)
