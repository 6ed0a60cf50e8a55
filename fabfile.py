"""fastdata Fabric tasks: thin wrappers, the logic lives in roles/ (roles/tasks.py).

Every task takes --stack NAME (reads `pulumi stack output cluster`) or --inventory FILE (the same JSON).
Phases: connect -> prerequisites -> bootstrap -> masters (one at a time) -> agents -> packages -> demo.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fabric import task
from invoke.exceptions import Exit

from roles import tasks
from roles.errors import FastdataError

HELP = {
    "stack": "Pulumi stack name (e.g. local, prod-aws)",
    "inventory": "inventory JSON file instead of a stack",
}


def _fail(exc: FastdataError) -> Exit:
    return Exit(f"error: {exc}", code=1)


@task(help=HELP)
def deploy(c, stack=None, inventory=None):
    """Bring the cluster to its desired state (platform -> packages -> demo); idempotent, resumable."""
    try:
        tasks.deploy(stack, inventory)
    except FastdataError as exc:
        raise _fail(exc) from exc


@task(help=HELP)
def plan(c, stack=None, inventory=None):
    """Dry run: run only the checks and print what would change on each node; nothing is touched."""
    try:
        tasks.deploy(stack, inventory, dry_run=True)
    except FastdataError as exc:
        raise _fail(exc) from exc


@task(help={**HELP, "out": "directory to write into (default: render/<cluster>)"})
def render(c, stack=None, inventory=None, out=None):
    """Write every file each node would get into a directory (out/<node>/<path>); no SSH."""
    try:
        target = Path(out) if out else Path("render") / (stack or Path(inventory or "cluster").stem)
        files = tasks.render(stack, inventory, target)
    except FastdataError as exc:
        raise _fail(exc) from exc
    print(
        f"render: {len(files)} files for {len({f.relative_to(target).parts[0] for f in files})} nodes "
        f"in {target}"
    )


@task(help={**HELP, "timeout": "seconds each readiness gate may take (default 30)"})
def status(c, stack=None, inventory=None, timeout=30):
    """Layered readiness: SSH -> prerequisites -> platform up -> packages -> apps -> end-to-end probe."""
    try:
        rows = tasks.status(stack, inventory, timeout=float(timeout))
    except FastdataError as exc:
        raise _fail(exc) from exc
    if any(not r[2].ok and not r[2].detail.startswith("not applicable") for r in rows):
        sys.exit(1)


@task(help={**HELP, "out": "directory for the archive (default: diagnose/)"})
def diagnose(c, stack=None, inventory=None, out="diagnose"):
    """Collect logs (journals), configs and check results of every node into one .tar.gz."""
    try:
        tasks.diagnose(stack, inventory, Path(out))
    except FastdataError as exc:
        raise _fail(exc) from exc


@task(help={"cache": "cache directory (default $FASTDATA_CACHE/artifacts)"})
def artifacts(c, cache=None):
    """Fill the local artifact cache from Maven Central and PyPI (Kafka, Spark connector, pyspark)."""
    from roles.artifacts import main

    main(["--cache", cache] if cache else [])
