"""Version upgrades of the Mesos platforms' own software, shown before they run (`fab plan`) and refused
before anything changes when they go backwards: mesos (Mesos and Marathon packages, rolled by their
restart handlers: masters one at a time, then agents one at a time) and dcos (DC/OS' node upgrade
script, masters one at a time, then agents one at a time; roles/platforms/dcos.py).

Facts are read over SSH, read-only, after connecting (Platform.preflight): what each node runs now.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from contract import Cluster, Node
from roles.engine.connection import CommandFailed, Remote, Unreachable
from roles.engine.spec import DeploySpec
from roles.errors import ConfigError

Preflight = Callable[[DeploySpec, Cluster, Mapping[str, Remote]], list[str]]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def preflights(*checks: Preflight) -> Preflight:
    """Several preflight checks as one, in order (each may refuse; the notes add up)."""

    def run(spec: DeploySpec, inventory: Cluster, remotes: Mapping[str, Remote]) -> list[str]:
        return [note for check in checks for note in check(spec, inventory, remotes)]

    return run


def read_facts(nodes: Sequence[Node], remotes: Mapping[str, Remote], command: str) -> dict[str, str | None]:
    """`command`'s output on each of `nodes` that is connected (None where it could not be read)."""

    def one(remote: Remote) -> str | None:
        try:
            return remote.run(command, check=False, timeout=30).stdout
        except (CommandFailed, Unreachable):
            return None

    names = [n.name for n in nodes if n.name in remotes]
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        return dict(zip(names, pool.map(one, [remotes[n] for n in names]), strict=True))


def rollout(
    what: str,
    want: str,
    running: Mapping[str, str | None],
    order: Sequence[Sequence[str]],
    groups: Sequence[str],
) -> list[str]:
    """The plan lines of one package's upgrade ("Mesos 1.11.0 -> 1.11.1: masters one at a time: master-0,
    ...; then agents one at a time: ..."), [] when every node runs `want`; a ConfigError naming the nodes
    when one runs a newer version (a downgrade is not a supported path)."""
    newer = {n: v for n, v in running.items() if v and version_key(v) > version_key(want)}
    if newer:
        nodes = ", ".join(f"{n} runs {v}" for n, v in newer.items())
        raise ConfigError(
            f"{what} {want} is older than what runs ({nodes}): downgrades are not supported (nothing was "
            f"changed on any node); set the settings key back to the running version"
        )
    parts = []
    for group, names in zip(groups, order, strict=True):
        todo = [n for n in names if running.get(n) and running[n] != want]
        if todo:
            parts.append(f"{group} one at a time: {', '.join(todo)}")
    if not parts:
        return []
    old = sorted({v for v in running.values() if v and v != want}, key=version_key)
    return [f"upgrade {what} {' / '.join(old)} -> {want}: " + "; then ".join(parts)]
