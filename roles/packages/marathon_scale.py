"""Scaling Marathon apps with the agents: an app of a node that left (removed from the inventory, or
drained) is deleted from Marathon, so a broker app no longer waits for a host that is gone (mesos; dcos
runs the demo apps on Marathon too). The apps that stay are the platform's own `apps(spec, inventory)`,
so one definition serves creating and pruning."""

from __future__ import annotations

import json
from collections.abc import Callable

from contract import Cluster, Node
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Op
from roles.engine.ops import probed
from roles.engine.spec import DeploySpec
from roles.errors import OperationError
from roles.packages.http import http, http_command, parse_http
from roles.packages.marathon import Apps, marathon_url


def stale_ids(listing: str, prefix: str, wanted: set[str]) -> list[str]:
    """Ids under `prefix` in a `GET /v2/apps` body that `wanted` does not name (pure)."""
    data = json.loads(listing or "{}")
    ids = [str(a.get("id", "")) for a in data.get("apps", []) if isinstance(a, dict)]
    return sorted(i for i in ids if i.startswith(prefix) and i not in wanted)


def stale_apps_op(inventory: Cluster, node: Node, prefix: str, wanted: set[str]) -> Op:
    url = f"{marathon_url(inventory)}/v2/apps"

    def stale(res: RunResult) -> list[str] | Check:
        resp = parse_http(res)
        if resp.status != 200:
            return Check(False, f"Marathon at {url}: {resp.describe()}")
        try:
            return stale_ids(resp.body, prefix, wanted)
        except (ValueError, AttributeError) as exc:
            return Check(False, f"Marathon at {url} answered no app list: {exc}")

    def judge(res: RunResult) -> Check:
        found = stale(res)
        if isinstance(found, Check):
            return found
        if found:
            return Check(False, f"{', '.join(found)} run(s) for nodes that left the cluster: to be removed")
        return Check(True, f"no app under {prefix} for a node that left")

    def apply(r: Remote) -> None:
        found = stale(r.run(http_command("GET", url), check=False, timeout=30))
        if isinstance(found, Check):
            raise OperationError(found.detail)
        for app_id in found:
            resp = http(r, "DELETE", f"{url}{app_id}")
            if resp.status not in (200, 404):
                raise OperationError(f"Marathon refused to delete {app_id}: {resp.describe()}")

    return probed(
        f"apps-pruned:{prefix}",
        f"no Marathon app under {prefix} of a node that left",
        http_command("GET", url),
        judge,
        apply,
    )


def prune_planner(prefix: str, apps: Apps) -> Callable[[DeploySpec, Cluster, Node], list[Op]]:
    """Placed on the Marathon client node, after the step that submits `apps`."""

    def plan_prune(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
        wanted = {str(a["id"]) for a in apps(spec, inventory) if str(a["id"]).startswith(prefix)}
        return [stale_apps_op(inventory, node, prefix, wanted)]

    return plan_prune
