"""The Marathon app layer both Marathon platforms share (mesos: our Marathon; dcos: DC/OS's own):
pinned app definitions, the ops that keep Marathon's copy equal to them, health, and error messages.

A Marathon app's code and config live on its (pinned) node as files. Its definition carries the sha256 of
those files in the label `fastdata.node-config`, so a changed config changes the definition and the app
op's PUT makes Marathon restart the task: no restart handler has to reach Marathon.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from contract import Cluster, Node, Role
from roles.artifacts import Artifact
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Gate, Op, RemoteFor, wait_for
from roles.engine.ops import directory_op, file_op, probed
from roles.engine.placement import FIRST_MASTER, first_node
from roles.engine.spec import DeploySpec
from roles.errors import OperationError
from roles.packages.http import HttpResponse, http, http_command, parse_http
from roles.packages.mesos_api import PUBLIC_ROLE

MARATHON_PORT = 8080
APPS_DIR = "/etc/fastdata/marathon"  # the app definitions, on the first master (the Marathon client)

App = dict[str, Any]
Apps = Callable[[DeploySpec, Cluster], list[App]]


def marathon_url(inventory: Cluster) -> str:
    """The first master's Marathon; a non-leading Marathon proxies to the leader (LeaderProxyFilter)."""
    return f"http://{first_node(inventory, FIRST_MASTER).private_ip}:{MARATHON_PORT}"


# --- app definitions (pure) -------------------------------------------------------------------------------


def node_digest(ops: Iterable[Op], artifacts: Iterable[Artifact] = ()) -> str:
    """sha256 of the files `ops` write and of `artifacts`: what a pinned app runs from on its node."""
    h = hashlib.sha256()
    for op in ops:
        for f in op.files:
            h.update(f"{f.path}\0{f.mode}\0".encode() + f.content + b"\0")
    for art in artifacts:
        h.update(f"{art.name}\0{art.sha256}\0".encode())
    return h.hexdigest()


def mb(size: str) -> int:
    """A JVM size (512m, 2g) in MB: the memory a task of that heap asks Marathon for."""
    return int(size[:-1]) * (1024 if size[-1] in "gG" else 1)


def health_check(protocol: str, port_index: int, path: str | None = None) -> dict[str, Any]:
    check: dict[str, Any] = {
        "protocol": protocol,
        "portIndex": port_index,
        "gracePeriodSeconds": 300,
        "intervalSeconds": 10,
        "timeoutSeconds": 5,
        "maxConsecutiveFailures": 3,
    }
    if path is not None:
        check["path"] = path
    return check


def pinned_app(
    app_id: str,
    node: Node,
    argv: Sequence[str],
    *,
    user: str,
    cpus: float,
    mem: int,
    ports: Sequence[tuple[str, int]] = (),
    health: dict[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    digest: str,
) -> dict[str, Any]:
    """A one-instance app pinned to `node` (its files are there), on fixed host ports.

    `args`, not `cmd`: no shell, so `-cp dir/*` reaches java unexpanded. Upgrades stop the old task before
    starting the new one (minimumHealthCapacity 0, maximumOverCapacity 0): the two could not share the
    node's ports and data directory.
    """
    app: dict[str, Any] = {
        "id": app_id,
        "args": list(argv),
        "user": user,
        "cpus": cpus,
        "mem": mem,
        "disk": 0,
        "instances": 1,
        "constraints": [["hostname", "CLUSTER", node.private_ip]],
        "acceptedResourceRoles": [PUBLIC_ROLE if node.role is Role.PUBLIC_AGENT else "*"],
        "portDefinitions": [{"port": port, "protocol": "tcp", "name": name} for name, port in ports],
        "requirePorts": bool(ports),
        "healthChecks": [health] if health else [],
        "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0},
        "labels": {"fastdata.node-config": digest},
    }
    if env:
        app["env"] = dict(env)
    return app


# --- keeping Marathon's copy equal to the definitions ---------------------------------------------------


def marathon_errors(resp: HttpResponse) -> str:
    """Marathon's error body ({"message", "details": [{"path", "errors"}]}) in one line."""
    data = resp.json()
    if not isinstance(data, dict):
        return resp.describe()
    details = "; ".join(
        f"{d.get('path', '?')}: {', '.join(map(str, d.get('errors', [])))}"
        for d in data.get("details") or []
        if isinstance(d, dict)
    )
    return f"HTTP {resp.status} {data.get('message', '')}" + (f" ({details})" if details else "")


EXACT_FIELDS = frozenset({"env", "labels", "args", "cmd", "constraints", "acceptedResourceRoles"})


def app_differences(want: Any, have: Any, path: str = "") -> list[str]:
    """Where Marathon's copy of an app differs from the definition: every field we set must match;
    fields Marathon fills in (defaults, versions) are ignored, except inside EXACT_FIELDS."""
    if isinstance(want, dict) and isinstance(have, dict) and path.strip("/") not in EXACT_FIELDS:
        return [d for k, v in want.items() for d in app_differences(v, have.get(k), f"{path}/{k}")]
    if isinstance(want, list) and isinstance(have, list) and path.strip("/") not in EXACT_FIELDS:
        if len(want) != len(have):
            return [f"{path or '/'}: {len(have)} entries, want {len(want)}"]
        return [
            d
            for i, (w, h) in enumerate(zip(want, have, strict=True))
            for d in app_differences(w, h, f"{path}/{i}")
        ]
    if want != have:
        return [f"{path or '/'}: {json.dumps(have)[:80]}, want {json.dumps(want)[:80]}"]
    return []


def app_state(app: Mapping[str, Any]) -> tuple[bool, str]:
    """(healthy, detail) of a Marathon app from /v2/apps/<id>: every instance running, and healthy when it
    has health checks (Marathon counts tasksHealthy only then)."""
    want = int(app.get("instances", 0))
    running, healthy = int(app.get("tasksRunning", 0)), int(app.get("tasksHealthy", 0))
    counted = healthy if app.get("healthChecks") else running
    deploying = len(app.get("deployments") or [])
    ok = counted >= want and not deploying
    detail = f"{app.get('id')}: {running}/{want} running, {healthy} healthy"
    return ok, detail + (f", {deploying} deployment(s) in progress" if deploying else "")


def app_path(app_id: str) -> str:
    return f"{APPS_DIR}/{app_id.strip('/').replace('/', '-')}.json"


def app_ops(inventory: Cluster, node: Node, app: Mapping[str, Any], update_timeout: float = 300) -> list[Op]:
    """The definition as a file on the Marathon client node, and the app in Marathon matching it.

    Creating an app does not wait (a first Kafka broker cannot be healthy before its peers start);
    replacing a running one waits until the new task is healthy, so updates roll one app at a time.
    """
    app_id = app["id"]
    path = app_path(app_id)
    url = f"{marathon_url(inventory)}/v2/apps{app_id}"

    def judge(res: RunResult) -> Check:
        resp = parse_http(res)
        if resp.status == 404:
            return Check(False, f"app {app_id} not in Marathon")
        data = resp.json()
        if resp.status != 200 or not isinstance(data, dict):
            return Check(False, f"Marathon at {url}: {resp.describe()}")
        diffs = app_differences(dict(app), data.get("app", {}))
        if diffs:
            return Check(False, f"app {app_id} differs: {'; '.join(diffs[:3])}")
        return Check(True, f"app {app_id} as defined")

    def apply(r: Remote) -> None:
        existed = http(r, "GET", url).status == 200
        resp = http(r, "PUT", f"{url}?partialUpdate=false", path)
        if resp.status not in (200, 201):
            raise OperationError(
                f"Marathon refused app {app_id}: {marathon_errors(resp)}; the definition is {path} on "
                f"{node.name} (`fab render` writes it too)"
            )
        if existed:
            state = wait_for(lambda: app_health(r, url), update_timeout, 3.0)
            if not state.ok:
                raise OperationError(
                    f"app {app_id} was updated but is not healthy after {update_timeout:.0f}s: "
                    f"{state.detail}; see its task's stderr in the Mesos UI or `fab diagnose`"
                )

    text = json.dumps(app, indent=2, sort_keys=True) + "\n"
    return [
        file_op(f"app-file:{app_id}", f"Marathon app definition {app_id}", path, text),
        probed(f"app:{app_id}", f"Marathon app {app_id} deployed", http_command("GET", url), judge, apply),
    ]


def app_health(remote: Remote, url: str) -> Check:
    resp = http(remote, "GET", url)
    data = resp.json()
    if resp.status != 200 or not isinstance(data, dict):
        return Check(False, resp.describe())
    ok, detail = app_state(data.get("app", {}))
    return Check(ok, detail)


def apps_planner(apps: Apps) -> Callable[[DeploySpec, Cluster, Node], list[Op]]:
    """Submit `apps` from the Marathon client node (the step places it on the first master)."""

    def plan(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
        ops = [directory_op("marathon-apps-dir", APPS_DIR, mode=0o755)]
        for app in apps(spec, inventory):
            ops += app_ops(inventory, node, app)
        return ops

    plan.__name__ = f"plan_{apps.__name__}"
    return plan


# --- readiness ------------------------------------------------------------------------------------------


def probe_marathon_leader(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    remote = remote_for(first_node(inventory, FIRST_MASTER))
    base = marathon_url(inventory)
    leader = http(remote, "GET", f"{base}/v2/leader")
    data = leader.json()
    if leader.status == 404:
        return Check(
            False, f"Marathon at {base} has no leader ({leader.body.strip()[:100]}); it needs ZooKeeper"
        )
    if leader.status != 200 or not isinstance(data, dict):
        return Check(False, f"Marathon at {base}: {leader.describe()}")
    info = http(remote, "GET", f"{base}/v2/info").json() or {}
    if not info.get("frameworkId"):
        return Check(
            False, f"Marathon leader {data.get('leader')} is not registered with Mesos yet (no frameworkId)"
        )
    return Check(True, f"leader {data.get('leader')}, framework {info['frameworkId']}")


def apps_probe(apps: Apps) -> Callable[[DeploySpec, Cluster, RemoteFor], Check]:
    """A gate: every app `apps` defines is running and healthy in Marathon."""

    def probe(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
        wanted = apps(spec, inventory)
        if not wanted:
            return Check(True, "no apps to run (settings.demo.enabled is false)")
        remote = remote_for(first_node(inventory, FIRST_MASTER))
        states = [app_health(remote, f"{marathon_url(inventory)}/v2/apps{a['id']}") for a in wanted]
        bad = [s.detail for s in states if not s.ok]
        return Check(not bad, "; ".join(bad) or f"{len(states)} apps healthy")

    return probe


def apps_gate(layer: str, after_phase: str, name: str, apps: Apps, timeout: float) -> Gate:
    """Deploy waits after `after_phase` until every app `apps` defines is healthy in Marathon."""
    return Gate(layer, name, apps_probe(apps), timeout, after_phase=after_phase)
