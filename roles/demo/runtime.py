"""Can the demo run on the nodes it goes to? Checked before anything changes (`fab plan`, `fab deploy`).

The demo apps run from a venv of wheels built for CPython 3.11 (roles/artifacts.py NODE_PYTHON: the
Debian 12 nodes' Python), with InfluxDB and Java from Debian packages. DC/OS 2.2 supports only CentOS/RHEL
7 and Flatcar (docs/reference/dcos-mesos.md 0): CentOS 7's Python is 3.6, which neither these wheels nor
pyspark 3.5 (Python >= 3.8) install on, and it has no apt. Shipping a second Python runtime for those nodes
is not simple (no registry this project reaches serves a CPython build for CentOS 7), so the demo is
refused there, naming the nodes, their OS and `demo.enabled`, instead of failing inside pip halfway
through a deploy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from contract import Cluster
from roles.engine.connection import CommandFailed, Remote, Unreachable
from roles.engine.placement import Placement
from roles.engine.spec import DeploySpec
from roles.errors import ConfigError

DEMO_PYTHON = (3, 11)  # the wheels' CPython (roles/artifacts.py NODE_PYTHON)
# One line each: the OS's name, python3's version (or "none"), apt-get's path (or "none"). Read-only.
FACTS = (
    '(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-$ID}") || uname -sr; '
    "python3 -c 'import sys; print(\"%d.%d.%d\" % sys.version_info[:3])' 2>/dev/null || echo none; "
    "command -v apt-get || echo none"
)


@dataclass(frozen=True)
class Runtime:
    os: str
    python: tuple[int, ...] | None  # None: no python3
    apt: bool

    @property
    def python_text(self) -> str:
        return "no python3" if self.python is None else "Python " + ".".join(map(str, self.python))

    @property
    def runs_demo(self) -> bool:
        return self.python is not None and self.python[:2] >= DEMO_PYTHON and self.apt


def parse_facts(output: str) -> Runtime | None:
    lines = [line.strip() for line in output.splitlines()]
    if len(lines) < 3:
        return None
    os_name, version, apt = lines[0] or "unknown OS", lines[1], lines[2]
    try:
        python = tuple(int(p) for p in version.split(".")) if version != "none" else None
    except ValueError:
        python = None
    return Runtime(os_name, python, apt != "none" and bool(apt))


def check(spec: DeploySpec, nodes: Mapping[str, Runtime | None]) -> list[str]:
    """ConfigError naming every node whose OS cannot run the demo and the setting to change; returns
    notes for nodes whose facts could not be read."""
    if not spec.demo.enabled:
        return []
    bad = {name: rt for name, rt in nodes.items() if rt is not None and not rt.runs_demo}
    unread = [name for name, rt in nodes.items() if rt is None]
    notes = [f"{name}: its OS and Python could not be read; not checked" for name in unread]
    if bad:
        lines = "\n".join(
            f"- {name}: {rt.os}, {rt.python_text}{'' if rt.apt else ', no apt'}" for name, rt in bad.items()
        )
        need = ".".join(map(str, DEMO_PYTHON))
        raise ConfigError(
            f"the demo cannot run on these nodes (nothing was changed on any node):\n{lines}\n"
            f"the demo apps need Python {need} (their wheels are built for CPython {need}) and apt (InfluxDB "
            "and Java from Debian packages). Set fastdata:demo.enabled to false for this stack "
            "(`pulumi config set fastdata:demo.enabled false`, then `pulumi up`; settings.demo.enabled in an "
            f"--inventory file), or boot these nodes from an image with Python {need} and apt "
            "(fastdata:image; DC/OS 2.2 itself supports only CentOS/RHEL 7 and Flatcar)"
        )
    return notes


Preflight = Callable[[DeploySpec, Cluster, Mapping[str, Remote]], list[str]]


def preflight(*placements: Placement) -> Preflight:
    """The check on the nodes `placements` select (where the demo's apps and jobs run)."""

    def read(remote: Remote) -> Runtime | None:
        try:
            return parse_facts(remote.run(FACTS, check=False, timeout=30).stdout)
        except (CommandFailed, Unreachable):
            return None

    def run(spec: DeploySpec, inventory: Cluster, remotes: Mapping[str, Remote]) -> list[str]:
        if not spec.demo.enabled:
            return []
        names: Sequence[str] = list(
            dict.fromkeys(n.name for p in placements for n in p.select(inventory) if n.name in remotes)
        )
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            found = dict(zip(names, pool.map(read, [remotes[n] for n in names]), strict=True))
        return check(spec, found)

    return run
