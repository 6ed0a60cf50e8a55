"""What the Fabric tasks do (fabfile.py only parses arguments and calls these)."""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import tarfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from contract import Cluster, Node
from roles import lifecycle
from roles.engine import capacity
from roles.engine import inventory as inv
from roles.engine.connection import CommandFailed, Remote, SshRemote, Unreachable, connect, load_private_key
from roles.engine.executor import (
    MAX_PARALLEL,
    Check,
    DeployFailed,
    Executor,
    OpResult,
    Platform,
    Progress,
    Report,
    plan_phases,
    wait_for,
)
from roles.engine.spec import DeploySpec, cache_for, resolve
from roles.errors import ConfigError, FastdataError, HostKeyRejected, OperationError
from roles.platforms import PLATFORMS


def load(
    stack: str | None, inventory_file: str | None, build: bool = False
) -> tuple[Cluster, DeploySpec, Platform]:
    """The inventory, its platform and the deploy spec, checked before any node is touched. `build`: the
    artifact step of `deploy`, which writes the demo apps bundle; plan, render, status and diagnose only
    compute its checksum."""
    inventory = inv.load(stack, inventory_file)
    platform = PLATFORMS[inventory.platform]
    spec = resolve(inventory, platform.artifacts, cache_for(inventory.settings), build=build)
    if platform.validate is not None:
        platform.validate(spec, inventory)
    return inventory, spec, platform


def confined(root: Path, *parts: str) -> Path:
    """root/parts..., refused when it would resolve outside root (a `..` or absolute part, a symlink):
    render and diagnose write only below the directory they were given."""
    base = root.resolve()
    target = base.joinpath(*(p.lstrip("/") for p in parts)).resolve()
    if not target.is_relative_to(base) or target == base:
        raise ConfigError(f"refusing to write {'/'.join(parts)!r}: it resolves to {target}, outside {base}")
    return target


def connect_all(
    inventory: Cluster, progress: Progress, max_parallel: int = MAX_PARALLEL
) -> tuple[dict[str, SshRemote], list[OpResult]]:
    """The connect phase: every node reached with pinned host keys, in parallel; results per node."""
    pkey = load_private_key(inventory.ssh.private_key)

    def one(node: Node) -> SshRemote | OpResult:
        t0 = time.monotonic()
        try:
            remote = connect(inventory, node, pkey)
            remote.run("true", timeout=30)
            return remote
        except (Unreachable, HostKeyRejected, CommandFailed) as exc:
            return OpResult(
                node.name, "ssh", f"SSH reachable: {node.name}", "failed", str(exc), time.monotonic() - t0
            )

    remotes: dict[str, SshRemote] = {}
    results: list[OpResult] = []
    with ThreadPoolExecutor(max_workers=max_parallel) as pool:
        for node, out in zip(inventory.nodes, pool.map(one, inventory.nodes), strict=True):
            if isinstance(out, OpResult):
                results.append(out)
                progress.result(out)
            else:
                remotes[node.name] = out
                results.append(OpResult(node.name, "ssh", f"SSH reachable: {node.name}", "ok", "connected"))
    return remotes, results


@contextmanager
def connected(
    inventory: Cluster, progress: Progress
) -> Iterator[tuple[dict[str, SshRemote], list[OpResult]]]:
    remotes, results = connect_all(inventory, progress)
    try:
        yield remotes, results
    finally:
        for r in remotes.values():
            r.close()


def deploy(
    stack: str | None,
    inventory_file: str | None,
    dry_run: bool = False,
    out: TextIO | None = None,
    diagnose_root: Path | None = None,
) -> Report:
    """deploy (or plan, with dry_run): connect -> phases; on failure collect diagnostics and re-raise."""
    progress = Progress(out)
    if not dry_run:
        progress.line("== artifacts")
    inventory, spec, platform = load(stack, inventory_file, build=not dry_run)
    progress.line(
        f"{'plan' if dry_run else 'deploy'}: cluster {inventory.name} ({inventory.cloud}, "
        f"platform {platform.name}, {len(inventory.nodes)} nodes)"
    )
    t0 = time.monotonic()
    progress.line("== connect")
    with connected(inventory, progress) as (remotes, conn_results):
        report = Report(results=list(conn_results), started=t0)
        if report.failures:
            report.finished = time.monotonic()
            err = DeployFailed(report, "connect")
            _diagnose_on_failure(err, inventory, platform, remotes, progress, diagnose_root)
            raise err
        for note in check_capacity(inventory, remotes):
            progress.line(f"  capacity: {note}")
        for note in platform.preflight(spec, inventory, remotes) if platform.preflight else []:
            progress.line(f"  preflight: {note}")
        spec = dataclasses.replace(spec, drained=lifecycle.read_drained(inventory, remotes))
        progress.line("== scale")
        for note in lifecycle.probe_scale(spec, inventory, remotes) or ["no node joining or leaving"]:
            progress.line(f"  {note}")
        phases = lifecycle.without_drained(plan_phases(platform, spec, inventory), spec.drained)
        # gates expect what stays: a drained node's broker and worker are stopped
        gated = lifecycle.staying(inventory, spec.drained)
        executor = Executor(platform, spec, gated, remotes, progress)
        try:
            sub = executor.run(dry_run=dry_run, phases=phases)
            report.results.extend(sub.results)
            report.finished = time.monotonic()
        except DeployFailed as exc:
            exc.report.results[:0] = report.results
            exc.report.started = t0
            _diagnose_on_failure(exc, inventory, platform, remotes, progress, diagnose_root)
            raise
        except FastdataError as exc:
            _diagnose_on_failure(exc, inventory, platform, remotes, progress, diagnose_root)
            raise
        finally:
            executor.close()
    verb = "would change" if dry_run else "changed"
    progress.line(
        f"{'plan' if dry_run else 'deploy'}: {report.changes} {verb}, "
        f"{sum(1 for r in report.results if r.status == 'ok')} ok, wall time {report.seconds:.1f}s"
    )
    for host, counts in report.per_host().items():
        progress.line(f"  {host:<16} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return report


def check_capacity(inventory: Cluster, remotes: Mapping[str, Remote]) -> list[str]:
    """Each node's real memory (read-only) against what will run on it; ConfigError before any change."""

    def memory(remote: Remote) -> int | None:
        try:
            return capacity.parse_memory_mib(
                remote.run(capacity.MEMORY_FACTS, check=False, timeout=30).stdout
            )
        except (CommandFailed, Unreachable):
            return None

    with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
        found = dict(zip(remotes, pool.map(memory, remotes.values()), strict=True))
    return capacity.check(inventory, found)


def _diagnose_on_failure(
    err: FastdataError,
    inventory: Cluster,
    platform: Platform,
    remotes: Mapping[str, Remote],
    progress: Progress,
    root: Path | None,
) -> None:
    failed = {r.host for r in err.report.failures} if isinstance(err, DeployFailed) else set(remotes)
    reachable = {h: r for h, r in remotes.items() if h in failed or not failed}
    dest = collect_diagnostics(inventory, platform, reachable, root or default_diagnose_root(), failed)
    progress.line(f"diagnostics of {', '.join(sorted(failed)) or 'all nodes'} collected in {dest}")
    if isinstance(err, DeployFailed):
        err.report.diagnose_dir = str(dest)
        err.args = (f"{err.describe()}\ndiagnostics (journals, configs, checks): {dest}",)
    else:
        err.args = (f"{err}\ndiagnostics (journals, configs, checks): {dest}",)


def default_diagnose_root() -> Path:
    return Path.cwd() / "diagnose"


def collect_diagnostics(
    inventory: Cluster,
    platform: Platform,
    remotes: Mapping[str, Remote],
    root: Path,
    failed: set[str] | None = None,
    checks: Mapping[str, list[str]] | None = None,
) -> Path:
    """Journals + status of the platform's units, their configs, and check output, per node."""
    root.mkdir(parents=True, exist_ok=True)
    dest = confined(root, f"{inventory.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    dest.mkdir(parents=True, exist_ok=True)
    units = " ".join(shlex.quote(u) for u in platform.units)
    configs = " ".join(shlex.quote(c) for c in platform.configs)
    unit_args = " ".join("-u " + shlex.quote(u) for u in platform.units)

    def one(host: str, r: Remote) -> None:
        d = confined(dest, host)
        d.mkdir(exist_ok=True)
        cmds = {
            "systemctl-status.txt": f"systemctl status --no-pager --full {units} 2>&1; true",
            "journal.txt": f"journalctl --no-pager -n 2000 {unit_args} 2>&1; true",
            "configs.txt": f"for f in $(find {configs} -type f 2>/dev/null); do "
            'echo "=== $f"; cat "$f"; done; true',
            "processes.txt": "ps -eo pid,rss,etime,args --sort=-rss | head -30; free -m; df -h /; true",
        }
        for name, cmd in cmds.items():
            try:
                text = r.run(cmd, check=False, timeout=60).stdout
            except (Unreachable, CommandFailed) as exc:
                text = f"could not collect: {exc}"
            (d / name).write_text(text)
        if checks and host in checks:
            (d / "checks.txt").write_text("\n".join(checks[host]) + "\n")

    with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
        list(pool.map(lambda item: one(*item), remotes.items()))
    missing = sorted(set(n.name for n in inventory.nodes) - set(remotes))
    (dest / "README.txt").write_text(
        f"cluster {inventory.name}, platform {platform.name}\nfailed hosts: {sorted(failed or [])}\n"
        f"not reachable (nothing collected): {missing}\n"
    )
    return dest


def render(stack: str | None, inventory_file: str | None, out_dir: Path) -> list[Path]:
    """Every file each node would get, written under out_dir/<node>/<path>, with the ops per node in
    out_dir/<node>/OPERATIONS.txt; no SSH. The directory's old contents are replaced."""
    inventory, spec, platform = load(stack, inventory_file)
    plan = plan_phases(platform, spec, inventory)
    files: dict[Path, tuple[bytes, int]] = {}
    listings: dict[str, list[str]] = {}
    for phase, by_host in plan.items():
        for host, ops in by_host.items():
            for op in ops:
                for f in op.files:
                    files[confined(out_dir, host, f.path)] = (f.content, f.mode)
            listings.setdefault(host, []).extend(f"{phase}\t{op.key}\t{op.name}\n" for op in ops)
    clear_render_dir(out_dir)
    written = []
    for target, (content, mode) in files.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
        written.append(target)
    for host, lines in listings.items():
        listing = confined(out_dir, host, "OPERATIONS.txt")
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text("".join(lines))
    return written


def clear_render_dir(out_dir: Path) -> None:
    """Empty `out_dir` (created when missing) so no stale file survives a re-render; refused when it holds
    anything but earlier renders (a directory per node, each with its OPERATIONS.txt)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = list(out_dir.iterdir())
    foreign = [
        e.name
        for e in entries
        if not (e.is_dir() and not e.is_symlink() and (e / "OPERATIONS.txt").is_file())
    ]
    if foreign:
        raise ConfigError(
            f"{out_dir} is not a render directory (it holds {', '.join(sorted(foreign)[:5])}); render "
            "replaces its output directory's contents, so give it a new or empty directory (--out)"
        )
    for entry in entries:
        shutil.rmtree(entry)


GATE_LAYERS = (
    "SSH reachable",
    "prerequisites",
    "platform up",
    "packages healthy",
    "apps healthy",
    "end-to-end data probe",
)


def status(
    stack: str | None, inventory_file: str | None, out: TextIO | None = None, timeout: float = 30.0
) -> list[tuple[str, str, Check]]:
    """Layered readiness (DESIGN 6). Returns (layer, gate, result); later layers stop after a failure."""
    progress = Progress(out)
    inventory, spec, platform = load(stack, inventory_file)
    rows: list[tuple[str, str, Check]] = []

    def show(layer: str, name: str, state: Check, seconds: float, limit: float) -> None:
        rows.append((layer, name, state))
        word = "PASS" if state.ok else "FAIL"
        progress.line(f"{layer:<22} {name:<38} {word:<5} {state.detail} ({seconds:.1f}s of {limit:.0f}s)")

    t0 = time.monotonic()
    quiet = Progress(out, quiet=True)
    with connected(inventory, quiet) as (remotes, conn):
        bad = [r for r in conn if r.status == "failed"]
        show(
            "SSH reachable",
            f"{len(remotes)}/{len(inventory.nodes)} nodes",
            Check(not bad, "; ".join(r.detail for r in bad) or "all nodes answer with pinned host keys"),
            time.monotonic() - t0,
            10,
        )
        failed = bool(bad)
        spec = dataclasses.replace(spec, drained=lifecycle.read_drained(inventory, remotes))
        plan = lifecycle.without_drained(plan_phases(platform, spec, inventory), spec.drained)
        inventory = lifecycle.staying(inventory, spec.drained)  # the gates expect what stays
        layer_phases = {
            "prerequisites": ("prerequisites",),
            "platform up": ("masters", "agents"),
            "packages healthy": ("packages",),
            "apps healthy": ("demo",),
            "end-to-end data probe": (),  # gates only: a marked event through the whole pipeline
        }
        executor = Executor(platform, spec, inventory, remotes, quiet)
        try:
            for layer in GATE_LAYERS[1:]:
                if failed:
                    show(layer, "-", Check(False, "skipped: an earlier layer failed"), 0, 0)
                    continue
                phases = layer_phases[layer]
                if phases:
                    t1 = time.monotonic()
                    report = Report()
                    for ph in phases:
                        if plan.get(ph):
                            executor.run_phase(ph, plan[ph], report, dry_run=True)
                    pending = [r for r in report.results if r.status != "ok"]
                    show(
                        layer,
                        "desired state holds (checks)",
                        Check(
                            not pending,
                            f"{len(pending)} not converged: "
                            + "; ".join(f"{r.host}: {r.name}" for r in pending[:4])
                            + (f" (and {len(pending) - 4} more)" if len(pending) > 4 else "")
                            + "; `fab deploy` converges them (`fab plan` shows what it would change)"
                            if pending
                            else f"{len(report.results)} checks ok",
                        ),
                        time.monotonic() - t1,
                        timeout,
                    )
                    failed = failed or bool(pending)
                for gate in platform.gates:
                    if gate.layer != layer or failed:
                        continue
                    t1 = time.monotonic()
                    state = wait_for(
                        lambda g=gate: g.probe(spec, inventory, executor.remote),  # type: ignore[misc]
                        timeout,
                        2.0,
                    )
                    show(layer, gate.name, state, time.monotonic() - t1, timeout)
                    failed = failed or not state.ok
        finally:
            executor.close()
    return rows


def batch(
    stack: str | None, inventory_file: str | None, reconcile: bool = False, out: TextIO | None = None
) -> dict[str, object]:
    """The demo's batch job over the Parquet archive, run on the cluster; returns its totals (and, with
    `reconcile`, the comparison with the streaming counts). Raises OperationError when it fails or the
    reconciliation finds a difference."""
    progress = Progress(out)
    inventory, spec, platform = load(stack, inventory_file)
    if not spec.demo.enabled:
        raise ConfigError("settings.demo.enabled is false: there is no archive to total")
    if platform.batch_job is None:
        raise ConfigError(f"`fab batch` is not available on the {platform.name} platform")
    node, command = platform.batch_job(spec, inventory, reconcile)
    remote = connect(inventory, node, load_private_key(inventory.ssh.private_key))
    try:
        progress.line(f"batch: submitting the batch job from {node.name} (a Spark application)")
        t0 = time.monotonic()
        res = remote.run(command, check=False, timeout=900)
    finally:
        remote.close()
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise OperationError(
            f"the batch job on {node.name} exited {res.exit_code} without a result:\n"
            + (res.stderr or res.stdout)[-1500:]
        )
    result: dict[str, object] = json.loads(lines[-1])
    progress.line(f"batch: done in {time.monotonic() - t0:.0f}s")
    if not res.ok:
        raise OperationError(
            f"the batch job on {node.name} exited {res.exit_code}: the archive and the streaming counts "
            f"differ: {json.dumps(result.get('reconciliation'))}. While the producer runs the two queries "
            "can be a micro-batch apart: stop it (systemctl stop fastdata-producer), wait, and re-run"
        )
    return result


def diagnose(
    stack: str | None, inventory_file: str | None, out_root: Path, out: TextIO | None = None
) -> Path:
    """Logs + configs + check output of every node, in one .tar.gz."""
    progress = Progress(out)
    inventory, spec, platform = load(stack, inventory_file)
    with connected(inventory, progress) as (remotes, _):
        executor = Executor(platform, spec, inventory, remotes, Progress(out, quiet=True))
        report = Report()
        try:
            for phase, by_host in plan_phases(platform, spec, inventory).items():
                live = {h: ops for h, ops in by_host.items() if h in remotes}
                if live:
                    executor.run_phase(phase, live, report, dry_run=True)
        finally:
            executor.close()
        checks: dict[str, list[str]] = {}
        for r in report.results:
            checks.setdefault(r.host, []).append(f"{r.status:<12} {r.name}: {r.detail}")
        dest = collect_diagnostics(inventory, platform, remotes, out_root, set(), checks)
    archive = dest.with_suffix(".tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(dest, arcname=dest.name)
    progress.line(f"diagnose: {len(remotes)}/{len(inventory.nodes)} nodes collected into {archive}")
    return archive


def drain(stack: str | None, inventory_file: str | None, node: str, out: TextIO | None = None) -> list[str]:
    """`fab drain`: the platform's drain steps on one agent (refusals first, nothing changed then), and
    the drained record that lets `pulumi up` delete it (roles/lifecycle.py)."""
    progress = Progress(out)
    inventory, spec, platform = load(stack, inventory_file)
    with connected(inventory, progress) as (remotes, conn):
        report = Report(results=list(conn))
        if report.failures:
            report.finished = time.monotonic()
            raise DeployFailed(report, "connect")
        return lifecycle.drain(platform, spec, inventory, node, remotes, progress.line)
