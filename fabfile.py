"""fastdata Fabric tasks: thin wrappers, the logic lives in roles/ (roles/tasks.py).

Every task takes --stack NAME (reads `pulumi stack output cluster`) or --inventory FILE (the same JSON);
with neither, the selected Pulumi stack (`pulumi stack select`). Long options only: Fabric's own `-i` is
the SSH identity file, so no task option gets a short flag.
Phases: connect -> prerequisites -> bootstrap -> masters (one at a time) -> agents -> packages -> demo.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fabric import task
from invoke.exceptions import Exit

from roles import tasks
from roles.engine.inventory import selected_stack
from roles.errors import FastdataError

HELP = {
    "stack": "Pulumi stack name (e.g. local, prod-aws); default: the selected stack",
    "inventory": "inventory JSON file instead of a stack",
}


def _fail(exc: FastdataError) -> Exit:
    return Exit(f"error: {exc}", code=1)


def _stack(stack: str | None, inventory: str | None) -> str | None:
    """--stack, else (without --inventory) the selected Pulumi stack; InventoryError when none is."""
    return stack if stack or inventory else selected_stack()


@task(help=HELP, auto_shortflags=False)
def deploy(c, stack=None, inventory=None):
    """Bring the cluster to its desired state (platform -> packages -> demo); idempotent, resumable."""
    try:
        tasks.deploy(_stack(stack, inventory), inventory)
    except FastdataError as exc:
        raise _fail(exc) from exc


@task(help=HELP, auto_shortflags=False)
def plan(c, stack=None, inventory=None):
    """Dry run: run only the checks and print what would change on each node; nothing is touched."""
    try:
        tasks.deploy(_stack(stack, inventory), inventory, dry_run=True)
    except FastdataError as exc:
        raise _fail(exc) from exc


@task(
    help={**HELP, "out": "directory to write into, replaced (default: render/<cluster>)"},
    auto_shortflags=False,
)
def render(c, stack=None, inventory=None, out=None):
    """Write every file each node would get into a directory (out/<node>/<path>); no SSH."""
    try:
        stack = _stack(stack, inventory)
        target = Path(out) if out else Path("render") / (stack or Path(inventory or "cluster").stem)
        files = tasks.render(stack, inventory, target)
    except FastdataError as exc:
        raise _fail(exc) from exc
    print(
        f"render: {len(files)} files for {len({f.relative_to(target).parts[0] for f in files})} nodes "
        f"in {target}"
    )


@task(help={**HELP, "timeout": "seconds each readiness gate may take (default 30)"}, auto_shortflags=False)
def status(c, stack=None, inventory=None, timeout=30):
    """Layered readiness: SSH -> prerequisites -> platform up -> packages -> apps -> end-to-end probe."""
    try:
        rows = tasks.status(_stack(stack, inventory), inventory, timeout=float(timeout))
    except FastdataError as exc:
        raise _fail(exc) from exc
    if any(not r[2].ok for r in rows):
        sys.exit(1)


@task(
    help={
        **HELP,
        "reconcile": "also compare the per-type totals with the streaming counts in InfluxDB (exit 1 "
        "when they differ)",
    },
    auto_shortflags=False,
)
def batch(c, stack=None, inventory=None, reconcile=False):
    """Run the demo's batch job on the cluster: totals per crime type and district over the HDFS archive."""
    import json

    try:
        result = tasks.batch(_stack(stack, inventory), inventory, reconcile=bool(reconcile))
    except FastdataError as exc:
        raise _fail(exc) from exc
    print(json.dumps(result, indent=2, sort_keys=True))


@task(help={**HELP, "out": "directory for the archive (default: diagnose/)"}, auto_shortflags=False)
def diagnose(c, stack=None, inventory=None, out="diagnose"):
    """Collect logs (journals), configs and check results of every node into one .tar.gz."""
    try:
        tasks.diagnose(_stack(stack, inventory), inventory, Path(out))
    except FastdataError as exc:
        raise _fail(exc) from exc


@task(help={**HELP, "node": "the agent to empty, e.g. agent-3"}, auto_shortflags=False)
def drain(c, stack=None, inventory=None, node=None):
    """Empty an agent before it is deleted: Kafka replicas moved off (in sync), Spark worker stopped,
    node marked drained; refused (nothing changed) when the others cannot hold its replicas."""
    if not node:
        raise Exit("error: --node NAME is required (e.g. --node agent-3)", code=1)
    try:
        tasks.drain(_stack(stack, inventory), inventory, node)
    except FastdataError as exc:
        raise _fail(exc) from exc


@task(help={"cache": "cache directory (default $FASTDATA_CACHE/artifacts)"})
def artifacts(c, cache=None):
    """Fill the local artifact cache from Maven Central and PyPI (Kafka, Spark connector, pyspark)."""
    from roles.artifacts import main

    main(["--cache", cache] if cache else [])
