#!/usr/bin/env python3
"""Contract double of a running DC/OS 2.2 cluster's HTTP endpoints (stdlib only; test use only).

    dcos_cluster_double.py --master IP [--master IP ...] --agent IP [...] --public-agent IP [...]
                           [--version 2.2.1] [--node-root DIR]

Per master, on its address:
- Admin Router (:80): `GET /dcos-metadata/dcos-version.json` ({version, dcos-image-commit, bootstrap-id,
  dcos-variant: open}; with --node-root, read from DIR/<ip>/opt/mesosphere/etc/dcos-version.json as the
  dcos_install.sh double wrote it, and 503 while that file is missing), `GET
  /exhibitor/exhibitor/v1/cluster/status`, and the package API (Cosmos) `POST /package/install` and
  `POST /package/list`. The package API checks the versioned media types (Content-Type of the request,
  Accept of the response: 415 / 406 otherwise), the request body (unknown fields, types), the package
  and version in its catalog (kafka 2.10.0-2.4.0 / 2.9.0-2.4.0, spark 2.12.0-3.0.1, hdfs 2.8.0-3.2.1 /
  2.7.0-3.2.1) and the options against the package's config.json properties
  (mesosphere/dcos-kafka-service, mesosphere/spark-build, mesosphere/dcos-commons frameworks/hdfs;
  docs/reference/dcos-mesos.md 5.1, 5.2), with Cosmos' error shape {type, message, data: {errors}}; an
  installed service name answers 409 PackageAlreadyInstalled. Unknown option properties are refused
  (assumes the schemas' additionalProperties: false **[unverified]**). The service API `POST
  /cosmos/service/update` ({appId, packageVersion?, options?, replace}; media type
  application/vnd.dcos.service.update-request+json;version=v1, response ...update-response...
  **[unverified]**) updates an installed service: unknown appId 404 MarathonAppNotFound, options checked
  as on install (merged into the stored ones unless replace), and a lower kafka `brokers.count` or hdfs
  `data_node.count` refused (the dcos-commons scheduler's PodSpecsCannotShrink, which the real scheduler
  reports in its plan after accepting the update: the double answers 400 ServiceUpdateError at once).
- An installed hdfs package's scheduler (dcos-commons SDK) behind Admin Router at
  `/service/<name>/v1/plans/deploy`: phases journal (3 nodes), name (2), data (data_node.count), each
  pod type one per agent (hostname UNIQUE), so the plan is COMPLETE only when the joined private agents
  can hold them (3 journal nodes, data_node.count DataNodes), else IN_PROGRESS with PENDING steps.
- Exhibitor (:8181): `GET /exhibitor/v1/cluster/status`, one entry per master, `serving` unless a test
  changes `exhibitor[ip]`.
- Mesos (:5050): `/redirect` (307 to the first master, the leader), `/master/state` and `/master/slaves`
  (non-leaders 307 to the leader) listing the joined agents as DC/OS registers them: private agents with
  DC/OS' private port ranges unreserved, public agents with `public_ip: true` and everything reserved to
  `slave_public` (docs/reference/dcos-mesos.md 1.6).
- ZooKeeper (:2181) accepts TCP connections (so the Marathon double sees an ensemble).
- Marathon (:8080 on the first master): the Marathon double (marathon_double.py) as DC/OS runs it
  (`--mesos_role slave_public`, `unreserved` default); an installed package adds its scheduler app
  (`/<service name>`), as Cosmos does.
- The Spark package's MesosClusterDispatcher behind Admin Router at `/service/<spark service name>/`
  once spark is installed (spark_dispatcher_double.py: the REST submission API `dcos spark run` uses,
  serverSparkVersion 3.0.1 as the package ships); its drivers and executors are placed on the joined
  private agents and listed in the leader's `/master/state` `frameworks`.

Simulated: everything behind the endpoints (no Mesos, ZooKeeper, Exhibitor or services run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socketserver
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from marathon_double import Marathon
from mesos_double import Request, serve
from spark_dispatcher_double import Dispatcher

VERSION = "2.2.1"
MEDIA = "application/vnd.dcos.package.{kind}+json;charset=utf-8;version={version}"
SERVICE_MEDIA = "application/vnd.dcos.service.{kind}+json;charset=utf-8;version=v1"
NO_SHRINK = {"kafka": ("brokers", "count"), "hdfs": ("data_node", "count")}
PRIVATE_PORTS = [[1025, 2180], [2182, 3887], [3889, 5049], [5052, 8079], [8082, 8180], [8182, 32000]]
PUBLIC_PORTS = [[1, 21], [23, 5050], [5052, 32000]]

# config.json properties (leaf: a type, or a tuple of allowed strings); docs/reference/dcos-mesos.md 5.1, 5.2
KAFKA_OPTIONS: dict[str, Any] = {
    "service": {
        "name": str,
        "user": str,
        "placement_constraint": str,
        "deploy_strategy": ("serial", "serial-canary", "parallel-canary", "parallel"),
        "virtual_network_enabled": bool,
        "log_level": str,
        "security": dict,
    },
    "brokers": {
        "count": int,
        "cpus": float,
        "mem": int,
        "heap": dict,
        "disk": int,
        "disk_type": ("ROOT", "MOUNT"),
        "port": int,
        "port_tls": int,
        "kill_grace_period": int,
    },
    "kafka": {
        "kafka_zookeeper_uri": str,
        "auto_create_topics_enable": bool,
        "default_replication_factor": int,
        "num_partitions": int,
        "delete_topic_enable": bool,
        "log_retention_hours": int,
        "min_insync_replicas": int,
        "offsets_topic_replication_factor": int,
        "inter_broker_protocol_version": str,
    },
}
HDFS_NODE = {
    "cpus": float,
    "mem": float,
    "disk": float,
    "disk_type": ("ROOT", "MOUNT"),
    "volume_profile": str,
}
# dcos-commons frameworks/hdfs/universe/config.json (cd740e3); volume_profile from the 2.8.0-3.2.1 docs
HDFS_OPTIONS: dict[str, Any] = {
    "service": {
        "name": str,
        "user": str,
        "principal": str,
        "secret_name": str,
        "deploy_strategy": ("parallel", "serial"),
        "update_strategy": ("parallel", "serial"),
        "tls": {"enabled": bool},
        "kerberos": dict,
    },
    "journal_node": HDFS_NODE,
    "name_node": HDFS_NODE,
    "zkfc_node": {"cpus": float, "mem": float},
    "data_node": {"count": float, **HDFS_NODE},
    "hdfs": {
        "administrators": str,
        "name_node_rpc_port": int,
        "name_node_http_port": int,
        "zkfc_port": int,
        "journal_node_rpc_port": int,
        "journal_node_http_port": int,
        "data_node_rpc_port": int,
        "data_node_http_port": int,
        "data_node_ipc_port": int,
        "permissions_enabled": bool,
        "name_node_heartbeat_recheck_interval": int,
        "compress_image": bool,
        "image_compression_codec": str,
        "hadoop_root_logger": str,
    },
}
SPARK_OPTIONS: dict[str, Any] = {
    "service": {
        "name": str,
        "cpus": float,
        "mem": float,
        "role": str,
        "enforce_role": bool,
        "constraints": list,
        "user": str,
        "docker-image": str,
        "UCR_containerizer": bool,
        "spark-history-server-url": str,
        "virtual_network_enabled": bool,
    },
    "security": dict,
    "hdfs": {"config-url": str},
}
CATALOG = {
    "kafka": (("2.10.0-2.4.0", "2.9.0-2.4.0"), KAFKA_OPTIONS),
    "spark": (("2.12.0-3.0.1",), SPARK_OPTIONS),
    "hdfs": (("2.8.0-3.2.1", "2.7.0-3.2.1"), HDFS_OPTIONS),
}
POSITIVE = {
    "/brokers/count",
    "/brokers/cpus",
    "/brokers/mem",
    "/brokers/disk",
    "/service/cpus",
    "/service/mem",
    "/data_node/count",
    "/data_node/mem",
    "/name_node/mem",
    "/journal_node/mem",
}


def option_errors(value: Any, schema: Any, path: str = "") -> list[dict[str, str]]:
    """Where `value` breaks `schema`: [{path, message}] (JSON-schema style paths)."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [
                {"path": path or "/", "message": f"instance type ({type(value).__name__}) is not an object"}
            ]
        errors = [
            {"path": path or "/", "message": f"object instance has properties which are not allowed: [{k}]"}
            for k in value
            if k not in schema
        ]
        return errors + [
            e for k, v in value.items() if k in schema for e in option_errors(v, schema[k], f"{path}/{k}")
        ]
    if isinstance(schema, tuple):
        return (
            [] if value in schema else [{"path": path, "message": f"{value!r} is not one of {list(schema)}"}]
        )
    ok = (
        isinstance(value, int | float) and not isinstance(value, bool)
        if schema is float
        else isinstance(value, schema) and not (schema is int and isinstance(value, bool))
    )
    if not ok:
        return [
            {
                "path": path,
                "message": f"instance type ({type(value).__name__}) does not match {schema.__name__}",
            }
        ]
    if path in POSITIVE and value <= 0:
        return [{"path": path, "message": f"numeric instance is lower than the required minimum: {value}"}]
    if path.endswith("/port") and not 0 <= value <= 65535:
        return [{"path": path, "message": f"{value} is not a port number"}]
    return []


def _error(
    status: int, kind: str, message: str, errors: Sequence[Mapping[str, str]] = ()
) -> tuple[int, Any, dict[str, str]]:
    body: dict[str, Any] = {"type": kind, "message": message}
    if errors:
        body["data"] = {"errors": list(errors)}
    return status, body, {}


SPARK_PACKAGE_SPARK = "3.0.1"  # the Spark of spark-build 2.12.0-3.0.1 (its dispatcher's version)


class Cosmos:
    """The package API: installs recorded here, schedulers submitted to the Marathon double; an installed
    spark package's dispatcher is created by `dispatcher_for(service name)`."""

    def __init__(self, marathon: Marathon, dispatcher_for: Any = None, agents: Any = None) -> None:
        self.marathon = marathon
        self.installed: dict[str, dict[str, Any]] = {}  # appId -> package definition
        self.dispatchers: dict[str, Dispatcher] = {}  # service name -> the spark package's dispatcher
        self.schedulers: dict[str, HdfsScheduler] = {}  # service name -> the hdfs package's scheduler
        self.dispatcher_for = dispatcher_for
        self.agents = agents or (lambda: [])
        self.lock = threading.Lock()

    def handle_service(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        if req.path != "/cosmos/service/update" or req.method != "POST":
            return _error(404, "NotFound", f"{req.method} {req.path} is not part of this double")
        request_type = SERVICE_MEDIA.format(kind="update-request")
        if req.headers.get("content-type", "").replace(" ", "").lower() != request_type.lower():
            return _error(415, "UnsupportedContentType", f"Content-Type must be {request_type}")
        response_type = SERVICE_MEDIA.format(kind="update-response")
        if response_type not in {
            a.strip() for a in req.headers.get("accept", "").replace(" ", "").split(",")
        }:
            return _error(406, "NotAcceptable", f"Accept must be {response_type}")
        try:
            body = json.loads(req.body or b"null")
        except json.JSONDecodeError as exc:
            return _error(400, "JsonParsingError", f"Invalid JSON: {exc}")
        fields = {"appId": str, "packageName": str, "packageVersion": str, "options": dict, "replace": bool}
        problems = option_errors(body, fields)
        for required in ("appId", "replace"):
            if isinstance(body, dict) and required not in body:
                problems.append({"path": f"/{required}", "message": "missing required property"})
        if problems:
            return _error(400, "JsonSchemaMismatch", "Request body failed validation", problems)
        with self.lock:
            return self.update(body)

    def update(self, body: Mapping[str, Any]) -> tuple[int, Any, dict[str, str]]:
        app_id = body["appId"]
        current = self.installed.get(app_id)
        if current is None:
            return _error(
                404, "MarathonAppNotFound", f"Unable to locate service with marathon appId: [{app_id}]"
            )
        name = current["name"]
        versions, schema = CATALOG[name]
        version = body.get("packageVersion", current["version"])
        if version not in versions:
            return _error(400, "VersionNotFound", f"Version [{version}] of package [{name}] not found")
        given = body.get("options") or {}
        options = given if body["replace"] else _merged(current["options"], given)
        problems = option_errors(options, schema)
        if problems:
            return _error(400, "JsonSchemaMismatch", "Options JSON failed validation", problems)
        if name in NO_SHRINK:
            group, key = NO_SHRINK[name]
            have = (current["options"].get(group) or {}).get(key)
            want = (options.get(group) or {}).get(key)
            if isinstance(have, int) and isinstance(want, int) and want < have:
                return _error(
                    400,
                    "ServiceUpdateError",
                    f"PodSpecsCannotShrink: pod {group} cannot shrink from {have} to {want} instances",
                )
        current.update(version=version, options=options)
        if name == "hdfs" and app_id.strip("/") in self.schedulers:
            count = int((options.get("data_node") or {}).get("count", 3))
            self.schedulers[app_id.strip("/")].counts["data"] = count
        return (
            200,
            {
                "marathonDeploymentId": f"deploy-{app_id.strip('/')}",
                "package": current,
                "resolvedOptions": options,
            },
            {},
        )

    def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        action = req.path.removeprefix("/package/")
        if action not in ("install", "list") or req.method != "POST":
            return _error(404, "NotFound", f"{req.method} {req.path} is not part of this double")
        request_type = MEDIA.format(kind=f"{action}-request", version="v1")
        accepted = {MEDIA.format(kind=f"{action}-response", version=v) for v in ("v1", "v2")}
        if req.headers.get("content-type", "").replace(" ", "").lower() != request_type.lower():
            return _error(415, "UnsupportedContentType", f"Content-Type must be {request_type}")
        if not accepted & {a.strip() for a in req.headers.get("accept", "").replace(" ", "").split(",")}:
            return _error(406, "NotAcceptable", f"Accept must be one of {sorted(accepted)}")
        try:
            body = json.loads(req.body or b"null")
        except json.JSONDecodeError as exc:
            return _error(400, "JsonParsingError", f"Invalid JSON: {exc}")
        fields = {"packageName": str, "appId": str}
        if action == "install":
            fields |= {"packageVersion": str, "options": dict}
        problems = option_errors(body, fields)
        if action == "install" and isinstance(body, dict) and "packageName" not in body:
            problems.append({"path": "/packageName", "message": "missing required property"})
        if problems:
            return _error(400, "JsonSchemaMismatch", "Request body failed validation", problems)
        with self.lock:
            return self.install(body) if action == "install" else self.list(body)

    def list(self, body: Mapping[str, Any]) -> tuple[int, Any, dict[str, str]]:
        packages = [
            {"appId": app_id, "packageInformation": {"packageDefinition": definition}}
            for app_id, definition in self.installed.items()
            if body.get("packageName") in (None, definition["name"]) and body.get("appId") in (None, app_id)
        ]
        return 200, {"packages": packages}, {}

    def install(self, body: Mapping[str, Any]) -> tuple[int, Any, dict[str, str]]:
        name = body["packageName"]
        if name not in CATALOG:
            return _error(400, "PackageNotFound", f"Package [{name}] not found")
        versions, schema = CATALOG[name]
        version = body.get("packageVersion", versions[0])
        if version not in versions:
            return _error(400, "VersionNotFound", f"Version [{version}] of package [{name}] not found")
        options = body.get("options") or {}
        problems = option_errors(options, schema)
        if problems:
            return _error(400, "JsonSchemaMismatch", "Options JSON failed validation", problems)
        app_id = "/" + str((options.get("service") or {}).get("name") or name)
        if app_id in self.installed:
            return _error(409, "PackageAlreadyInstalled", "Package is already installed")
        scheduler = {
            "id": app_id,
            "cmd": "./bootstrap && ./scheduler",
            "cpus": 1.0,
            "mem": 1024,
            "instances": 1,
            "portDefinitions": [{"port": 0, "name": "api"}],
            "healthChecks": [{"protocol": "MESOS_HTTP", "portIndex": 0, "path": "/v1/health"}],
            "labels": {"DCOS_PACKAGE_NAME": name, "DCOS_PACKAGE_VERSION": version},
        }
        with self.marathon.lock:
            status, answer, _ = self.marathon.apps_api(
                Request("PUT", f"/v2/apps{app_id}", "", json.dumps(scheduler).encode())
            )
        if status not in (200, 201):
            return _error(500, "MarathonBadResponse", f"Marathon answered {status}: {answer}")
        self.installed[app_id] = {"name": name, "version": version, "options": options}
        if name == "spark" and self.dispatcher_for is not None:
            self.dispatchers[app_id.strip("/")] = self.dispatcher_for(app_id.strip("/"))
        if name == "hdfs":
            count = int((options.get("data_node") or {}).get("count", 3))
            self.schedulers[app_id.strip("/")] = HdfsScheduler(count, self.agents)
        return 200, {"packageName": name, "packageVersion": version, "appId": app_id}, {}


def _merged(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for k, v in new.items():
        out[k] = _merged(old[k], v) if isinstance(v, Mapping) and isinstance(old.get(k), Mapping) else v
    return out


class HdfsScheduler:
    """The hdfs package's deploy plan (dcos-commons `GET /v1/plans/deploy`), from how many private agents
    joined: each pod type places one pod per agent."""

    PODS = (("journal", "node"), ("name", "node, zkfc"), ("data", "node"))

    def __init__(self, data_nodes: int, agents: Any) -> None:
        self.counts = {"journal": 3, "name": 2, "data": data_nodes}
        self.agents = agents

    def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        if req.path != "/v1/plans/deploy" or req.method != "GET":
            return 404, {"message": f"{req.method} {req.path} is not part of this double"}, {}
        agents = len(self.agents())
        phases = []
        for pod, tasks in self.PODS:
            steps = [
                {"name": f"{pod}-{i}:[{tasks}]", "status": "COMPLETE" if i < agents else "PENDING"}
                for i in range(self.counts[pod])
            ]
            done = all(step["status"] == "COMPLETE" for step in steps)
            phases.append({"name": pod, "status": "COMPLETE" if done else "IN_PROGRESS", "steps": steps})
        status = "COMPLETE" if all(p["status"] == "COMPLETE" for p in phases) else "IN_PROGRESS"
        return 200, {"phases": phases, "errors": [], "status": status}, {}


class DcosCluster:
    def __init__(
        self,
        masters: Sequence[str],
        agents: Sequence[str],
        public_agents: Sequence[str],
        version: str = VERSION,
        node_root: Path | None = None,
    ) -> None:
        self.masters, self.agents, self.public_agents = list(masters), list(agents), list(public_agents)
        self.version, self.node_root = version, node_root
        self.leader = self.masters[0]
        self.exhibitor = {ip: "serving" for ip in self.masters}
        self.joined = set(self.agents) | set(self.public_agents)
        self.marathon = Marathon(
            {
                "master": f"{self.leader}:5050",
                "zk": f"zk://{self.leader}:2181/marathon",
                "hostname": self.leader,
                "http_port": "8080",
                "mesos_role": "slave_public",
                "accepted_resource_roles_default_behavior": "unreserved",
            }
        )
        self.frameworks: dict[str, dict[str, Any]] = {}  # what the Spark dispatchers registered
        self.cosmos = Cosmos(
            self.marathon, self.dispatcher, lambda: [a for a in self.agents if a in self.joined]
        )
        self.servers: list[Any] = []

    def start(self) -> DcosCluster:
        socketserver.TCPServer.allow_reuse_address = True
        for ip in self.masters:
            self.servers += [
                serve(ip, 80, lambda req, ip=ip: self.admin_router(ip, req)),
                serve(ip, 8181, self.exhibitor_api),
                serve(ip, 5050, lambda req, ip=ip: self.mesos(ip, req)),
                socketserver.ThreadingTCPServer((ip, 2181), socketserver.BaseRequestHandler),
            ]
            threading.Thread(target=self.servers[-1].serve_forever, daemon=True).start()
        self.servers.append(serve(self.leader, 8080, self.marathon.handle))
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def dispatcher(self, service: str) -> Dispatcher:
        """The spark package's dispatcher: drivers and executors on the joined private agents."""
        return Dispatcher(
            service,
            SPARK_PACKAGE_SPARK,
            {},
            lambda: [self.slave(a) for a in self.agents if a in self.joined],
            lambda framework: self.frameworks.__setitem__(framework["id"], framework),
            lambda framework_id: self.frameworks.pop(framework_id, None),
        )

    def version_document(self, ip: str) -> dict[str, Any] | None:
        if self.node_root is None:
            return {"version": self.version, "dcos-image-commit": "contract-double", "dcos-variant": "open"}
        path = self.node_root / ip / "opt/mesosphere/etc/dcos-version.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def admin_router(self, ip: str, req: Request) -> tuple[int, Any, dict[str, str]]:
        document = self.version_document(ip)
        if document is None:
            return 503, f"Admin Router is not up: DC/OS is not installed on {ip}", {}
        if req.path == "/dcos-metadata/dcos-version.json":
            return 200, document, {}
        if req.path == "/exhibitor/exhibitor/v1/cluster/status":
            return self.exhibitor_api(Request(req.method, "/exhibitor/v1/cluster/status", "", b""))
        if req.path.startswith("/package/"):
            return self.cosmos.handle(req)
        if req.path.startswith("/cosmos/service/"):
            return self.cosmos.handle_service(req)
        if req.path.startswith("/service/"):
            service, _, rest = req.path.removeprefix("/service/").partition("/")
            backend = self.cosmos.dispatchers.get(service) or self.cosmos.schedulers.get(service)
            if backend is None:
                return 404, f"service {service} is not running (no such package installed)", {}
            return backend.handle(Request(req.method, "/" + rest, req.query, req.body, req.headers))
        return 404, f"{req.path} is not part of this double", {}

    def exhibitor_api(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        if req.path != "/exhibitor/v1/cluster/status":
            return 404, "", {}
        return (
            200,
            [
                {
                    "code": 3 if d == "serving" else 0,
                    "description": d,
                    "hostname": ip,
                    "isLeader": ip == self.leader,
                }
                for ip, d in self.exhibitor.items()
            ],
            {},
        )

    def slave(self, ip: str) -> dict[str, Any]:
        public = ip in self.public_agents
        resources = {
            "cpus": 2.0,
            "mem": 4096.0,
            "disk": 10240.0,
            "ports": PUBLIC_PORTS if public else PRIVATE_PORTS,
        }
        return {
            "id": f"{ip}-S0",
            "hostname": ip,
            "pid": f"slave(1)@{ip}:5051",
            "active": True,
            "attributes": {"public_ip": "true"} if public else {},
            "resources": resources,
            "reserved_resources": {"slave_public": resources} if public else {},
            "unreserved_resources": {} if public else resources,
        }

    def mesos(self, ip: str, req: Request) -> tuple[int, Any, dict[str, str]]:
        if req.path == "/redirect":
            return 307, "", {"Location": f"//{self.leader}:5050"}
        if req.path not in ("/master/state", "/master/slaves"):
            return 404, "", {}
        if ip != self.leader:
            return 307, "", {"Location": f"//{self.leader}:5050{req.path}"}
        slaves = [self.slave(a) for a in [*self.agents, *self.public_agents] if a in self.joined]
        if req.path == "/master/slaves":
            return 200, {"slaves": slaves, "recovered_slaves": []}, {}
        state = {"leader": f"master@{self.leader}:5050", "slaves": slaves}
        return 200, {**state, "frameworks": list(self.frameworks.values())}, {}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--master", action="append", required=True)
    parser.add_argument("--agent", action="append", default=[])
    parser.add_argument("--public-agent", action="append", default=[])
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--node-root", type=Path)
    args = parser.parse_args(argv)
    try:
        cluster = DcosCluster(
            args.master, args.agent, args.public_agent, args.version, args.node_root
        ).start()
    except OSError as exc:
        print(f"cannot listen: {exc}", file=sys.stderr)
        return 1
    print(f"dcos cluster double listening on {', '.join(args.master)}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
