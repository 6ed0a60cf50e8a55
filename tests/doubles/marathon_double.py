#!/usr/bin/env python3
"""Contract double of Marathon 1.11 (stdlib only; test use only). Run as `marathon` (symlink) or directly.

Like the real one:
- Scallop-style flags (`--name value` or `--name=value`, toggles `--ha`/`--disable_ha`); an unknown flag,
  a missing `--master`, a bad number or choice ends it with exit 1 and `[scallop] Error: ...`. The names
  are those of docs/docs/command-line-flags.md (1.11) this project could check; extend KNOWN_FLAGS from
  `marathon --help` of a real build if a valid flag is refused.
- libmesos: refuses to start unless MESOS_NATIVE_JAVA_LIBRARY names an existing file (Marathon loads it).
- HTTP on --http_port: `/ping`, `/v2/leader` (404 "There is no leader"), `/v2/info`, `/v2/apps` (GET,
  POST), `/v2/apps/{id}` (GET, PUT with `partialUpdate`, DELETE), `/v2/apps/{id}/restart`. Non-leaders
  proxy /v2/apps requests to the leader. App definitions are validated as Marathon does server-side
  (docs/reference/dcos-mesos.md 4, 6.2: app.raml, AppDefinition.json, the 1.10 role rules) and refused with
  422 `{"message": "Object is not valid", "details": [{"path", "errors"}]}`; a body that is not JSON
  or has the wrong JSON types gets 422 `{"message": "Invalid JSON", ...}`. Stricter than Marathon:
  unknown top-level fields are refused (catches typos; the old JSON schema had additionalProperties false).

Simulated: leader election (the first Marathon up beside the ZooKeeper servers of --zk, while a
majority of them accepts connections) and tasks: an app's instances are placed on the agents the Mesos
leader lists (acceptedResourceRoles against the agents' roles, constraints, requirePorts against their
port ranges and other tasks) and count as running and healthy at once. Nothing is executed; cpus/mem are
not accounted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesos_double import Cached, Request, call, names, serve, zk_quorum, zk_servers

VERSION = "1.11.24"


VALUE_FLAGS = names(
    """
    master zk hostname http_port https_port http_address https_address http_credentials http_realm
    http_max_concurrent_requests ssl_keystore_path ssl_keystore_password webui_url mesos_role mesos_user
    framework_name failover_timeout task_launch_timeout task_launch_confirm_timeout
    task_reservation_timeout local_port_min local_port_max accepted_resource_roles_default_behavior
    leader_proxy_connection_timeout leader_proxy_read_timeout mesos_leader_ui_url zk_session_timeout
    zk_connection_timeout zk_timeout zk_max_versions zk_compression_threshold enable_features
    env_vars_prefix event_subscriber http_event_callback_slow_consumer_timeout max_instances_per_offer
    min_revive_offers_interval decline_offer_duration reconciliation_initial_delay
    reconciliation_interval scale_apps_initial_delay scale_apps_interval mesos_authentication_principal
    mesos_authentication_secret_file mesos_authentication_secret default_network_name plugin_dir
    plugin_conf logging_level on_elected_prepare_timeout task_lost_expunge_initial_delay
    task_lost_expunge_interval gpu_scheduling_behavior mesos_heartbeat_interval
    mesos_heartbeat_failure_threshold max_running_deployments mesos_bridge_name offer_matching_timeout
    save_tasks_to_launch_timeout launch_token_refresh_interval launch_tokens backup_location
    kill_retry_timeout kill_chunk_size group_versions_cache_size deprecated_features
    access_control_allow_origin
    """
)
TOGGLES = names(
    """
    ha checkpoint revive_offers_for_new_apps zk_compression mesos_authentication store_cache
    """
)
SWITCHES = frozenset({"disable_http"})
INT_VALUES = names(
    """
    http_port https_port local_port_min local_port_max failover_timeout task_launch_timeout
    zk_session_timeout zk_timeout zk_max_versions max_instances_per_offer max_running_deployments
    """
)
CHOICES = {
    "accepted_resource_roles_default_behavior": {"any", "unreserved", "reserved"},
    "gpu_scheduling_behavior": {"restricted", "unrestricted"},
}

APP_FIELDS = names(
    """
    id cmd args user env instances cpus mem disk gpus networks executor constraints fetch backoffSeconds
    backoffFactor maxLaunchDelaySeconds container healthChecks readinessChecks dependencies
    upgradeStrategy labels acceptedResourceRoles residency secrets taskKillGracePeriodSeconds
    portDefinitions requirePorts unreachableStrategy killSelection ipAddress version versionInfo uris
    ports role resourceLimits tty check executorResources
    """
)
SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
OPERATORS = {"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"}
MESOS_CHECKS = {"MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP", "COMMAND"}
MARATHON_CHECKS = {"HTTP", "HTTPS", "TCP"}
HEALTH_DEFAULTS = {
    "gracePeriodSeconds": 300,
    "intervalSeconds": 60,
    "timeoutSeconds": 20,
    "maxConsecutiveFailures": 3,
    "delaySeconds": 15,
    "ipProtocol": "IPv4",
}


class FlagError(Exception):
    pass


def parse_flags(argv: Sequence[str]) -> dict[str, str]:
    flags: dict[str, str] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("--"):
            raise FlagError(f"Excess arguments provided: '{arg}'")
        name, sep, value = arg[2:].partition("=")
        if name in TOGGLES or (name.startswith("disable_") and name[8:] in TOGGLES) or name in SWITCHES:
            if sep:
                raise FlagError(f"Bad arguments for option '{name}': '{value}' (a toggle takes no value)")
            key = name[8:] if name.startswith("disable_") and name[8:] in TOGGLES else name
            flags[key] = "false" if name.startswith("disable_") and key != name else "true"
            continue
        if name not in VALUE_FLAGS:
            raise FlagError(f"Unknown option '{name}'")
        if not sep:
            if not args or args[0].startswith("--"):
                raise FlagError(f"Option '{name}' needs a value")
            value = args.pop(0)
        if name in INT_VALUES and not value.isdigit():
            raise FlagError(f"Bad arguments for option '{name}': '{value}'")
        if name in CHOICES and value not in CHOICES[name]:
            raise FlagError(f"Option '{name}': '{value}' is not one of {', '.join(sorted(CHOICES[name]))}")
        flags[name] = value
    if "master" not in flags:
        raise FlagError("Required option 'master' not found")
    if flags["master"].startswith("zk://"):
        _zk(flags["master"], "master")
    elif not re.fullmatch(r"[^:/\s]+:\d+", flags["master"]):
        raise FlagError(f"Option 'master': '{flags['master']}' is neither zk://hosts/path nor host:port")
    _zk(flags.get("zk", "zk://localhost:2181/marathon"), "zk")
    return flags


def _zk(url: str, option: str) -> list[tuple[str, int]]:
    from mesos_double import FlagError as MesosFlagError

    try:
        return zk_servers(url, option)
    except MesosFlagError as exc:
        raise FlagError(f"Option '{option}': {exc}") from None


# --- app validation ---------------------------------------------------------------------------------------


def _num(
    errors: list[dict[str, Any]], app: Mapping[str, Any], key: str, minimum: float, integer: bool
) -> None:
    if key not in app:
        return
    value = app[key]
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        errors.append({"path": f"/{key}", "errors": ["error.expected.jsnumber"]})
    elif value < minimum:
        errors.append({"path": f"/{key}", "errors": [f"got {value}, expected {minimum} or more"]})


def type_errors(app: Any) -> list[dict[str, Any]]:
    """What Marathon's JSON reader refuses before validation ("Invalid JSON")."""
    if not isinstance(app, dict):
        return [{"path": "/", "errors": ["error.expected.jsobject"]}]
    errors: list[dict[str, Any]] = []
    kinds: dict[str, type | tuple[type, ...]] = {
        "id": str,
        "cmd": str,
        "args": list,
        "user": str,
        "env": dict,
        "labels": dict,
        "constraints": list,
        "acceptedResourceRoles": list,
        "portDefinitions": list,
        "healthChecks": list,
        "requirePorts": bool,
        "upgradeStrategy": dict,
        "fetch": list,
        "role": str,
        "container": dict,
        "networks": list,
    }
    for key, kind in kinds.items():
        if key in app and not isinstance(app[key], kind):
            errors.append(
                {"path": f"/{key}", "errors": [f"error.expected.js{getattr(kind, '__name__', 'value')}"]}
            )
    for key, integer in (
        ("cpus", False),
        ("mem", False),
        ("disk", False),
        ("gpus", True),
        ("instances", True),
        ("taskKillGracePeriodSeconds", True),
    ):
        if key in app and (
            isinstance(app[key], bool) or not isinstance(app[key], int if integer else (int, float))
        ):
            errors.append({"path": f"/{key}", "errors": ["error.expected.jsnumber"]})
    for key in ("env", "labels"):
        for k, v in (app.get(key) or {}).items() if isinstance(app.get(key), dict) else []:
            if not isinstance(v, str) and not (key == "env" and isinstance(v, dict) and "secret" in v):
                errors.append({"path": f"/{key}/{k}", "errors": ["error.expected.jsstring"]})
    return errors


def validate_app(app: Mapping[str, Any], mesos_role: str) -> list[dict[str, Any]]:
    """Marathon's AppDefinition validation (the parts the reference documents); [] when valid."""
    errors: list[dict[str, Any]] = []

    def err(path: str, message: str) -> None:
        errors.append({"path": path, "errors": [message]})

    for key in sorted(set(app) - APP_FIELDS):
        err(f"/{key}", "error.unknown.property (not a field of an app definition)")
    app_id = app.get("id")
    if not app_id:
        err("/id", "error.path.missing")
    else:
        segments = str(app_id).strip("/").split("/")
        if not all(SEGMENT.match(s) for s in segments):
            err(
                "/id",
                f"'{app_id}' is not a valid path: segments of lowercase letters, digits, '-' and '.', "
                "not starting or ending with '-'",
            )
    if "cmd" in app and "args" in app:
        err("/", "AppDefinition must not contain both 'cmd' and 'args'")
    if not any(k in app for k in ("cmd", "args", "container")):
        err("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'")
    if isinstance(app.get("args"), list) and not all(isinstance(a, str) for a in app["args"]):
        err("/args", "error.expected.jsstring")
    _num(errors, app, "cpus", 0.001, False)
    _num(errors, app, "mem", 0, False)
    _num(errors, app, "disk", 0, False)
    _num(errors, app, "gpus", 0, True)
    _num(errors, app, "instances", 0, True)
    role = app.get("role", mesos_role)
    if role != mesos_role:
        err(
            "/role",
            f"got {role}, expected {mesos_role} (the default role) or the role of the enforcing group",
        )
    roles = app.get("acceptedResourceRoles")
    if roles is not None:
        if not roles:
            err("/acceptedResourceRoles", "must not be empty")
        for i, r in enumerate(roles):
            if r not in ("*", role):
                err(f"/acceptedResourceRoles({i})", f"acceptedResourceRoles can only contain * and {role}")
    for i, c in enumerate(app.get("constraints") or []):
        if not isinstance(c, list) or not 2 <= len(c) <= 3 or not all(isinstance(x, str) for x in c):
            err(
                f"/constraints({i})",
                "Each constraint must be an array of 2 or 3 strings: field, operator, value",
            )
            continue
        op = c[1]
        if op not in OPERATORS:
            err(f"/constraints({i})", f"Constraint operator must be one of {', '.join(sorted(OPERATORS))}")
        elif op == "UNIQUE" and len(c) == 3:
            err(f"/constraints({i})", "Value specified but not used")
        elif op in ("CLUSTER", "LIKE", "UNLIKE", "IS", "MAX_PER") and len(c) == 2:
            err(f"/constraints({i})", f"{op} requires a value")
        elif op == "MAX_PER" and not c[2].isdigit():
            err(f"/constraints({i})", "MAX_PER requires an integer value")
        elif op in ("LIKE", "UNLIKE"):
            try:
                re.compile(c[2])
            except re.error:
                err(f"/constraints({i})", f"'{c[2]}' is not a valid regular expression")
    ports = app.get("portDefinitions") or []
    for i, p in enumerate(ports):
        if not isinstance(p, dict) or not isinstance(p.get("port"), int) or not 0 <= p["port"] <= 65535:
            err(f"/portDefinitions({i})/port", "got invalid port, expected 0 to 65535")
            continue
        if p.get("protocol", "tcp") not in ("tcp", "udp", "udp,tcp"):
            err(f"/portDefinitions({i})/protocol", "must be tcp, udp or udp,tcp")
        if "name" in p and not PORT_NAME.match(str(p["name"])):
            err(f"/portDefinitions({i})/name", f"'{p['name']}' does not match {PORT_NAME.pattern}")
    fixed = [p["port"] for p in ports if isinstance(p, dict) and p.get("port")]
    if len(fixed) != len(set(fixed)):
        err("/portDefinitions", "Ports must be unique.")
    if app.get("requirePorts") and any(isinstance(p, dict) and p.get("port") == 0 for p in ports):
        err("/requirePorts", "requirePorts needs fixed (non-zero) ports in portDefinitions")
    checks = app.get("healthChecks") or []
    for i, hc in enumerate(checks):
        where = f"/healthChecks({i})"
        if not isinstance(hc, dict):
            err(where, "error.expected.jsobject")
            continue
        protocol = hc.get("protocol", "HTTP")
        if protocol not in MESOS_CHECKS | MARATHON_CHECKS:
            err(f"{where}/protocol", f"must be one of {', '.join(sorted(MESOS_CHECKS | MARATHON_CHECKS))}")
        if protocol == "COMMAND" and not (hc.get("command") or {}).get("value"):
            err(f"{where}/command", "COMMAND health checks need command.value")
        if protocol != "COMMAND" and "port" not in hc:
            index = hc.get("portIndex", 0)
            if not isinstance(index, int) or not 0 <= index < len(ports):
                err(
                    f"{where}/portIndex",
                    f"portIndex {index} out of range: the app defines {len(ports)} port(s)",
                )
        for key in ("gracePeriodSeconds", "intervalSeconds", "timeoutSeconds", "maxConsecutiveFailures"):
            if key in hc and (not isinstance(hc[key], int) or isinstance(hc[key], bool) or hc[key] < 0):
                err(f"{where}/{key}", "got invalid value, expected a non-negative integer")
    if sum(isinstance(hc, dict) and hc.get("protocol") in MESOS_CHECKS for hc in checks) > 1:
        err("/healthChecks", "AppDefinition can contain at most one Mesos health check.")
    kinds = {isinstance(hc, dict) and hc.get("protocol", "HTTP") in MESOS_CHECKS for hc in checks}
    if len(kinds) > 1:
        err("/healthChecks", "Mesos and Marathon health checks cannot be mixed")
    strategy = app.get("upgradeStrategy") or {}
    for key in ("minimumHealthCapacity", "maximumOverCapacity"):
        value = strategy.get(key, 1)
        if not isinstance(value, (int, float)) or not 0 <= value <= 1:
            err(f"/upgradeStrategy/{key}", f"got {value}, expected a number between 0.0 and 1.0")
    return errors


def with_defaults(app: Mapping[str, Any], mesos_role: str) -> dict[str, Any]:
    """What GET returns: the definition plus Marathon's defaults."""
    out: dict[str, Any] = {
        "cpus": 1,
        "mem": 128,
        "disk": 0,
        "gpus": 0,
        "instances": 1,
        "env": {},
        "labels": {},
        "constraints": [],
        "portDefinitions": [{"port": 0, "protocol": "tcp"}],
        "requirePorts": False,
        "healthChecks": [],
        "backoffSeconds": 1,
        "backoffFactor": 1.15,
        "maxLaunchDelaySeconds": 300,
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
        "role": mesos_role,
        "killSelection": "YOUNGEST_FIRST",
        "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
    }
    out.update(app)
    out["id"] = "/" + str(app["id"]).strip("/")
    out["portDefinitions"] = [{"protocol": "tcp", "labels": {}, **p} for p in out["portDefinitions"]]
    out["healthChecks"] = [{**HEALTH_DEFAULTS, "portIndex": 0, **hc} for hc in out["healthChecks"]]
    return out


# --- the daemon -------------------------------------------------------------------------------------------


class Marathon:
    def __init__(self, flags: Mapping[str, str]) -> None:
        self.flags = dict(flags)
        self.hostname = flags.get("hostname", "127.0.0.1")
        self.port = int(flags.get("http_port", "8080"))
        self.bind = flags.get("http_address", self.hostname)
        self.address = f"{self.hostname}:{self.port}"
        self.role = flags.get("mesos_role", "*")
        self.behavior = flags.get("accepted_resource_roles_default_behavior", "any")
        self.zk = _zk(flags.get("zk", "zk://localhost:2181/marathon"), "zk")
        master = flags["master"]
        self.masters = (
            [f"{h}:5050" for h, _ in _zk(master, "master")] if master.startswith("zk://") else [master]
        )
        self.apps: dict[str, dict[str, Any]] = {}  # id -> definition with defaults and version
        self.deploying: set[str] = set()
        self.lock = threading.Lock()
        self.leader = Cached(self._elect)
        self.framework_id = f"{uuid.uuid4()}-0000"

    def _elect(self) -> str | None:
        if not zk_quorum(self.zk):
            return None
        candidates = [f"{h}:{self.port}" for h, _ in self.zk]
        if self.address not in candidates:
            candidates.append(self.address)
        up = [c for c in candidates if c == self.address or call(c, path="/ping")[0] == 200]
        return up[0] if up else None

    def mesos_state(self) -> dict[str, Any] | None:
        for m in self.masters:
            status, _, headers = call(m, path="/redirect")
            if status == 307:
                status, body, _ = call(headers.get("location", "").lstrip("/"), path="/master/state")
                if status == 200:
                    state: dict[str, Any] = json.loads(body)
                    return state
        return None

    # placement: every app's instances on the registered agents, in creation order
    def place(self) -> dict[str, list[dict[str, Any]]]:
        state = self.mesos_state() or {}
        agents = sorted((a for a in state.get("slaves", []) if a.get("active")), key=lambda a: a["hostname"])
        used: dict[str, set[int]] = {}
        placed: dict[str, list[dict[str, Any]]] = {}
        for app_id, app in self.apps.items():
            tasks: list[dict[str, Any]] = []
            for _ in range(int(app["instances"])):
                agent = next((a for a in agents if self._fits(app, a, tasks, used)), None)
                if agent is None:
                    break
                ports = [p["port"] for p in app["portDefinitions"]] if app["requirePorts"] else []
                used.setdefault(agent["hostname"], set()).update(ports)
                tasks.append(
                    {
                        "id": f"{app_id.strip('/').replace('/', '_')}.{uuid.uuid4()}",
                        "appId": app_id,
                        "host": agent["hostname"],
                        "slaveId": agent["id"],
                        "ports": ports,
                        "state": "TASK_RUNNING",
                        "version": app["version"],
                        "healthCheckResults": [{"alive": True}] if app["healthChecks"] else [],
                    }
                )
            placed[app_id] = tasks
        return placed

    def _fits(
        self,
        app: Mapping[str, Any],
        agent: Mapping[str, Any],
        tasks: list[dict[str, Any]],
        used: Mapping[str, set[int]],
    ) -> bool:
        default = {"any": ["*", app["role"]], "unreserved": ["*"], "reserved": [app["role"]]}[self.behavior]
        accepted = app.get("acceptedResourceRoles") or default
        pools = {
            **({"*": agent["unreserved_resources"]} if agent.get("unreserved_resources") else {}),
            **agent.get("reserved_resources", {}),
        }
        usable = [res for role, res in pools.items() if role in accepted and role in ("*", app["role"])]
        if not usable:
            return False
        if app["requirePorts"]:
            wanted = [p["port"] for p in app["portDefinitions"]]
            ranges = [r for res in usable for r in res.get("ports", [])]
            taken = used.get(agent["hostname"], set())
            if any(p in taken or not any(lo <= p <= hi for lo, hi in ranges) for p in wanted):
                return False
        for c in app["constraints"]:
            field, op, value = c[0], c[1], (c[2] if len(c) > 2 else "")
            have = (
                agent["hostname"] if field == "hostname" else str(agent.get("attributes", {}).get(field, ""))
            )
            same = sum(1 for t in tasks if t["host"] == agent["hostname"]) if field == "hostname" else 0
            if (
                (op in ("CLUSTER", "IS") and have != value)
                or (op == "LIKE" and not re.fullmatch(value, have))
                or (op == "UNLIKE" and re.fullmatch(value, have))
                or (op == "UNIQUE" and same)
                or (op == "MAX_PER" and same >= int(value))
            ):
                return False
        return True

    def view(self, app: dict[str, Any], tasks: list[dict[str, Any]], embed: bool) -> dict[str, Any]:
        """A deployment lasts until all instances ran once; a task lost later is relaunched without one."""
        if len(tasks) >= app["instances"]:
            self.deploying.discard(app["id"])
        healthy = len(tasks) if app["healthChecks"] else 0
        out = {
            **app,
            "tasksRunning": len(tasks),
            "tasksHealthy": healthy,
            "tasksStaged": 0,
            "tasksUnhealthy": 0,
            "deployments": [{"id": app["deploymentId"]}] if app["id"] in self.deploying else [],
        }
        if embed:
            out["tasks"] = tasks
        return out

    def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        if req.path == "/ping":
            return 200, "pong", {}
        leader = self.leader.get()
        if req.path == "/v2/leader":
            return (200, {"leader": leader}, {}) if leader else (404, {"message": "There is no leader"}, {})
        if req.path == "/v2/info":
            elected = leader == self.address
            registered = elected and self.mesos_state() is not None
            return (
                200,
                {
                    "name": "marathon",
                    "version": VERSION,
                    "buildref": "contract-double",
                    "elected": elected,
                    "leader": leader,
                    "frameworkId": self.framework_id if registered else None,
                    "marathon_config": {**self.flags, "mesos_role": self.role},
                    "zookeeper_config": {"zk": self.flags.get("zk", "zk://localhost:2181/marathon")},
                    "http_config": {"http_port": self.port},
                },
                {},
            )
        if not req.path.startswith("/v2/apps"):
            return 404, {"message": f"Not found: {req.path}"}, {}
        if leader is None:
            return 503, {"message": "Could not determine the current leader"}, {}
        if leader != self.address:  # the LeaderProxyFilter
            status, body, _ = call(
                leader,
                req.method,
                req.path + (f"?{req.query}" if req.query else ""),
                req.body if req.method in ("POST", "PUT") else None,
                timeout=10,
            )
            return (
                (status, json.loads(body or b"null"), {}) if status else (502, {"message": "leader gone"}, {})
            )
        with self.lock:
            return self.apps_api(req)

    def apps_api(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        rest = req.path[len("/v2/apps") :].rstrip("/")
        restart = rest.endswith("/restart") and req.method == "POST"
        app_id = "/" + (rest[: -len("/restart")] if restart else rest).strip("/")
        if rest == "" and req.method == "GET":
            placed = self.place()
            return 200, {"apps": [self.view(a, placed[i], False) for i, a in self.apps.items()]}, {}
        if req.method == "GET":
            if app_id not in self.apps:
                return 404, {"message": f"App '{app_id}' does not exist"}, {}
            return 200, {"app": self.view(self.apps[app_id], self.place()[app_id], True)}, {}
        if req.method == "DELETE" or restart:
            if app_id not in self.apps:
                return 404, {"message": f"App '{app_id}' does not exist"}, {}
            if req.method == "DELETE":
                del self.apps[app_id]
                return 200, {"deploymentId": str(uuid.uuid4()), "version": _now()}, {}
            return 200, self._deploy(self.apps[app_id]), {}
        if req.method not in ("POST", "PUT") or (req.method == "POST" and rest):
            return 405, {"message": "Method not allowed"}, {}
        try:
            body = json.loads(req.body or b"null")
        except json.JSONDecodeError as exc:
            return 400, {"message": f"Invalid JSON: {exc}"}, {}
        problems = type_errors(body)
        if problems:
            return 422, {"message": "Invalid JSON", "details": problems}, {}
        if req.method == "PUT":
            if body.get("id") and "/" + str(body["id"]).strip("/") != app_id:
                return (
                    422,
                    {
                        "message": "Object is not valid",
                        "details": [{"path": "/id", "errors": ["id in the body differs from the URL"]}],
                    },
                    {},
                )
            partial = "partialUpdate=false" not in req.query
            base = {k: v for k, v in self.apps.get(app_id, {}).items() if k in APP_FIELDS} if partial else {}
            body = {**base, **body, "id": app_id}
        elif body.get("id") and "/" + str(body["id"]).strip("/") in self.apps:
            return 409, {"message": f"An app with id [/{str(body['id']).strip('/')}] already exists."}, {}
        problems = validate_app(
            {k: v for k, v in body.items() if k not in ("version", "versionInfo")}, self.role
        )
        if problems:
            return 422, {"message": "Object is not valid", "details": problems}, {}
        app = with_defaults(body, self.role)
        created = app["id"] not in self.apps
        self.apps[app["id"]] = app
        result = self._deploy(app)
        if req.method == "POST":
            return 201, self.view(app, [], False), {"Location": f"/v2/apps{app['id']}"}
        return (201 if created else 200), result, {}

    def _deploy(self, app: dict[str, Any]) -> dict[str, Any]:
        app["version"], app["deploymentId"] = _now(), str(uuid.uuid4())
        self.deploying.add(app["id"])
        return {"version": app["version"], "deploymentId": app["deploymentId"]}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


USAGE = """Usage: marathon --master <zk://... or host:port> [options]

Contract double of Marathon {version} (fastdata tests/doubles). Options (--name value or --name=value):
{values}
Toggles (--name / --disable_name): {toggles}
"""


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    if "--help" in argv or "-h" in argv:
        print(
            USAGE.format(
                version=VERSION,
                values="\n".join(f"  --{n}" for n in sorted(VALUE_FLAGS)),
                toggles=", ".join(sorted(TOGGLES)),
            )
        )
        return 0
    if "--version" in argv:
        print(VERSION)
        return 0
    try:
        flags = parse_flags(argv)
    except FlagError as exc:
        print(f"[scallop] Error: {exc}", file=sys.stderr)
        return 1
    lib = env.get("MESOS_NATIVE_JAVA_LIBRARY", "")
    if not lib or not os.path.isfile(lib):
        print(
            f"Failed to load native Mesos library from {lib or '(MESOS_NATIVE_JAVA_LIBRARY is not set)'}",
            file=sys.stderr,
        )
        return 1
    node = Marathon(flags)
    try:
        server = serve(node.bind, node.port, node.handle)
    except OSError as exc:
        print(f"Failed to bind {node.bind}:{node.port}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"marathon double listening on {node.bind}:{node.port}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
