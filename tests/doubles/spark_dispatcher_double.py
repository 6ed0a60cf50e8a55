#!/usr/bin/env python3
"""Contract double of Spark 3.5's MesosClusterDispatcher and its REST submission server (stdlib only;
test use only). Run with the dispatcher's arguments, as `spark-class` gets them from the Marathon app:

    spark_dispatcher_double.py [org.apache.spark.deploy.mesos.MesosClusterDispatcher] --master mesos://...
        [--host H] [--port 7077] [--webui-port 8081] [--zk H:P,...] [--name N] [--conf k=v ...]

Like the real one:
- Arguments as MesosClusterDispatcherArguments parses them: `--master`/`-m` required and starting with
  `mesos://`, `--conf` values `key=value`, anything else printed with the usage, exit 1.
- The REST submission protocol on --host:--port (RestSubmissionServer, MesosRestServer; Spark 3.5):
  `POST /v1/submissions/create` with a CreateSubmissionRequest, `GET /v1/submissions/status/<id>`,
  `POST /v1/submissions/kill/<id>`. A request is validated as the server does (SubmitRestProtocolMessage /
  CreateSubmissionRequest.doValidate, MesosRestServer.buildDriverDescription): the JSON must parse and
  carry `action`; `clientSparkVersion`, `sparkProperties`, `appResource`, `appArgs`,
  `environmentVariables`, `mainClass` (empty for Python) and `spark.app.name` must be set;
  `spark.driver.supervise` boolean, `spark.driver.cores`/`spark.cores.max` numeric,
  `spark.driver.memory`/`spark.executor.memory` memory strings; `spark.mesos.*.labels` `key:value,...`.
  A malformed request gets 400 and an ErrorResponse (`Malformed request: ...` / `Bad request: ...`);
  unknown fields are accepted and echoed in `unknownFields`, as the real server does; a path outside
  /v1/submissions gets 400 (`Unknown protocol version` or `Malformed path`). The real server does not
  compare clientSparkVersion with its own version, and neither does this double.
- Driver states as MesosClusterScheduler.getDriverStatus reports them: QUEUED, RUNNING (with the Mesos
  task status in `message`), RETRYING, FINISHED, NOT_FOUND.

Simulated: a submission is launched at once. Its driver "fails" (FINISHED, message TASK_FAILED) when the
agents could not run it: an appResource that is not an http(s)/hdfs URL (the Mesos fetcher runs on the
agent: a path on the submitting machine is not there), or no Spark home for the executors
(`spark.executor.uri`, `spark.mesos.executor.home` or a docker image; "Executor Spark home ... is not
set!"). Otherwise the driver runs on an active private agent of the Mesos leader (resources not reserved
to a role) and its executors (spark.cores.max / spark.executor.cores of them) are spread round-robin over
those agents, starting after the driver's; both are registered with the Mesos master double as
frameworks (the dispatcher's, with the driver task, and the application's, with the executor tasks), so
/master/state shows them. Nothing runs; resources are not accounted. A killed driver's frameworks go.
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesos_double import FlagError, Request, call, serve, zk_servers

VERSION = "3.5.7"
MAIN_CLASS = "org.apache.spark.deploy.mesos.MesosClusterDispatcher"
MEMORY = re.compile(r"^\d+([kKmMgGtTpP][bB]?)?$")  # Utils.memoryStringToMb
LABEL_KEYS = ("spark.mesos.network.labels", "spark.mesos.task.labels", "spark.mesos.driver.labels")
FIELDS = frozenset(
    {
        "action",
        "clientSparkVersion",
        "appResource",
        "mainClass",
        "appArgs",
        "sparkProperties",
        "environmentVariables",
    }
)
USAGE = """Usage: MesosClusterDispatcher [options]

Options:
  -h HOST, --host HOST    Hostname to listen on
  -p PORT, --port PORT    Port to listen on (default: 7077)
  --webui-port WEBUI_PORT WebUI Port to listen on (default: 8081)
  --name NAME             Framework name to show in Mesos UI
  -m --master MASTER      URI for connecting to Mesos master
  -z --zk ZOOKEEPER       Comma delimited URLs for connecting to ZooKeeper for persistence
  --properties-file FILE  Path to a custom Spark properties file.
  --conf PROP=VALUE       Arbitrary Spark configuration property.
"""


class UsageError(Exception):
    pass


def parse_args(argv: Sequence[str]) -> dict[str, Any]:
    """MesosClusterDispatcherArguments.parse."""
    args = list(argv)
    if args and args[0] == MAIN_CLASS:
        args.pop(0)
    out: dict[str, Any] = {"host": "127.0.0.1", "port": 7077, "webui_port": 8081, "name": "Spark Cluster"}
    out["conf"] = {}
    names = {"-h": "host", "--host": "host", "-p": "port", "--port": "port", "--webui-port": "webui_port"}
    names |= {"-m": "master", "--master": "master", "-z": "zk", "--zk": "zk", "--name": "name"}
    names |= {"--properties-file": "properties_file", "--conf": "conf"}
    while args:
        flag = args.pop(0)
        if flag == "--help":
            raise UsageError("")
        if flag not in names or not args:
            raise UsageError(f"Unrecognized option or missing value: {flag}")
        value = args.pop(0)
        key = names[flag]
        if key in ("port", "webui_port"):
            if not value.isdigit():
                raise UsageError(f"{flag} expects a port number, got {value!r}")
            out[key] = int(value)
        elif key == "conf":
            k, sep, v = value.partition("=")
            if not sep or not k:
                raise UsageError(f"Spark config without '=': {value}")
            out["conf"][k] = v
        else:
            out[key] = value
    if not str(out.get("master", "")).startswith("mesos://"):
        raise UsageError("Must specify --master mesos://... (the Mesos master URL)")
    return out


def error(status: int, message: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"action": "ErrorResponse", "message": message, "serverSparkVersion": VERSION}, {}


def request_problem(body: Any) -> tuple[str, str] | None:
    """("Malformed request" | "Bad request", message) for what the server refuses; None when valid."""
    if not isinstance(body, dict):
        return "Malformed request", "the request is not a JSON object"
    action = body.get("action")
    if action is None:
        return "Malformed request", "The action field is missing in the message"
    if action != "CreateSubmissionRequest":
        return "Malformed request", f"Unexpected message type {action} (want CreateSubmissionRequest)"
    for name in ("clientSparkVersion", "appResource", "mainClass"):
        if name in body and body[name] is not None and not isinstance(body[name], str):
            return "Malformed request", f"field '{name}' must be a string"
    props = body.get("sparkProperties")
    if props is not None and not (
        isinstance(props, dict) and all(isinstance(v, str) for v in props.values())
    ):
        return "Malformed request", "sparkProperties must map names to string values"
    if not body.get("clientSparkVersion"):
        return "Malformed request", "'clientSparkVersion' is missing in message CreateSubmissionRequest."
    if props is None:
        return "Malformed request", "No Spark properties set!"
    for name in ("appResource", "appArgs", "environmentVariables"):
        if body.get(name) is None:
            return "Malformed request", f"'{name}' is missing in message CreateSubmissionRequest."
    if "spark.app.name" not in props:
        return "Malformed request", "'spark.app.name' is missing in message CreateSubmissionRequest."
    checks: list[tuple[str, str, Callable[[str], bool]]] = [
        ("spark.driver.supervise", "boolean", lambda v: v.lower() in ("true", "false")),
        ("spark.driver.cores", "numeric", _numeric),
        ("spark.cores.max", "numeric", _numeric),
        ("spark.driver.memory", "memory", lambda v: bool(MEMORY.match(v))),
        ("spark.executor.memory", "memory", lambda v: bool(MEMORY.match(v))),
    ]
    for key, kind, ok in checks:
        if key in props and not ok(props[key]):
            return "Malformed request", f"Property '{key}' expected {kind} value: actual was '{props[key]}'."
    if body.get("mainClass") is None:  # MesosRestServer.buildDriverDescription
        return "Bad request", "Main class 'mainClass' is missing."
    for key in LABEL_KEYS:
        if key in props and not all(re.fullmatch(r"[^:,]+:[^,]*", x) for x in props[key].split(",")):
            return "Bad request", (
                f"Malformed label in {key}: {props[key]}. Valid label format: {key}=key1:value1,key2:value2"
            )
    return None


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def launch_problem(props: Mapping[str, str], app_resource: str) -> str | None:
    """Why the driver task fails on the agent, as TASK_FAILED would say; None when it can start."""
    if not re.match(r"(https?|hdfs)://", app_resource):
        return (
            f"TASK_FAILED: Failed to fetch '{app_resource}': the Mesos fetcher on the agent needs an "
            "http(s):// or hdfs:// URL (the driver does not upload local files)"
        )
    if not any(
        k in props
        for k in ("spark.executor.uri", "spark.mesos.executor.home", "spark.mesos.executor.docker.image")
    ):
        return "TASK_FAILED: Executor Spark home `spark.mesos.executor.home` is not set!"
    return None


class Dispatcher:
    """The submission server and the drivers it launched. `agents()` lists the Mesos leader's agents
    (dicts as in /master/state `slaves`); `register(framework)` / `unregister(id)` keep the Mesos side."""

    def __init__(
        self,
        name: str,
        version: str,
        defaults: Mapping[str, str],
        agents: Callable[[], list[dict[str, Any]]],
        register: Callable[[dict[str, Any]], None],
        unregister: Callable[[str], None],
    ) -> None:
        self.name, self.version, self.defaults = name, version, dict(defaults)
        self.agents, self.register, self.unregister = agents, register, unregister
        self.drivers: dict[str, dict[str, Any]] = {}  # submission id -> state
        self.framework_id = f"{uuid.uuid4()}-0000"
        self.count = 0
        self.lock = threading.Lock()

    def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        path = req.path.rstrip("/")
        m = re.fullmatch(r"/(v\d+)/submissions/(create|status|kill)(?:/([^/]+))?", path)
        if m is None:
            version = re.match(r"/(v\d+)/", path + "/")
            if version and version.group(1) != "v1":
                return error(400, f"Unknown protocol version '{version.group(1)}'.")
            return error(
                400, "Malformed path. Please submit requests through http://[host]:[port]/v1/submissions/..."
            )
        if m.group(1) != "v1":
            return error(400, f"Unknown protocol version '{m.group(1)}'.")
        action, submission = m.group(2), m.group(3)
        with self.lock:
            if action == "create":
                if req.method != "POST" or submission:
                    return error(400, "Malformed path: POST /v1/submissions/create")
                return self.create(req.body)
            if not submission:
                return error(400, f"Missing submission ID in /v1/submissions/{action}/<id>.")
            if action == "status" and req.method == "GET":
                return 200, self.status(submission), {}
            if action == "kill" and req.method == "POST":
                return 200, self.kill(submission), {}
            return error(400, f"{req.method} is not allowed on /v1/submissions/{action}")

    def create(self, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            return error(400, f"Malformed request: JsonParseException: {exc}")
        problem = request_problem(body)
        if problem is not None:
            return error(400, f"{problem[0]}: {problem[1]}")
        self.count += 1
        submission = f"driver-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{self.count:04d}"
        props = {**self.defaults, **body["sparkProperties"]}
        driver: dict[str, Any] = {"props": props, "state": "RUNNING", "message": ""}
        failure = launch_problem(props, body["appResource"])
        if failure is not None:
            driver.update(state="FINISHED", message=failure)
        else:
            failure = self.start(submission, props, driver)
            if failure is not None:
                driver.update(state="QUEUED", message=failure)
        self.drivers[submission] = driver
        self.register_dispatcher()
        answer: dict[str, Any] = {
            "action": "CreateSubmissionResponse",
            "serverSparkVersion": self.version,
            "submissionId": submission,
            "success": True,
        }
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            answer["unknownFields"] = unknown
        return 200, answer, {}

    def start(self, submission: str, props: Mapping[str, str], driver: dict[str, Any]) -> str | None:
        """Place the driver and its executors on the private agents; a reason when there are none."""
        agents = sorted(
            (a for a in self.agents() if a.get("active") and a.get("unreserved_resources")),
            key=lambda a: str(a["hostname"]),
        )
        if not agents:
            return "no offers from private agents yet"
        first = (self.count - 1) % len(agents)
        cores = float(props.get("spark.executor.cores", "1"))
        count = max(1, int(float(props.get("spark.cores.max", str(len(agents)))) // cores))
        app_id = f"{uuid.uuid4()}-0001"
        hosts = [agents[(first + 1 + i) % len(agents)] for i in range(count)]
        executors = [
            {
                "id": str(i),
                "name": f"{props['spark.app.name']} {i}",
                "slave_id": a["id"],
                "state": "TASK_RUNNING",
            }
            for i, a in enumerate(hosts)
        ]
        driver_task = {
            "id": submission,
            "name": f"Driver for {props['spark.app.name']}",
            "slave_id": agents[first]["id"],
            "state": "TASK_RUNNING",
        }
        driver.update(
            app=app_id, task=driver_task, message=f"state: TASK_RUNNING\nagent: {agents[first]['hostname']}"
        )
        self.register({"id": app_id, "name": props["spark.app.name"], "active": True, "tasks": executors})
        return None

    def register_dispatcher(self) -> None:
        tasks = [d["task"] for d in self.drivers.values() if d.get("task") and d["state"] != "FINISHED"]
        self.register({"id": self.framework_id, "name": self.name, "active": True, "tasks": tasks})

    def status(self, submission: str) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "action": "SubmissionStatusResponse",
            "serverSparkVersion": self.version,
            "submissionId": submission,
        }
        driver = self.drivers.get(submission)
        if driver is None:
            return {**answer, "success": False, "driverState": "NOT_FOUND"}
        if driver["state"] == "QUEUED":  # offers may have come since
            failure = self.start(submission, driver["props"], driver)
            if failure is None:
                driver["state"] = "RUNNING"
                self.register_dispatcher()
        out = {**answer, "success": True, "driverState": driver["state"]}
        if driver["message"]:
            out["message"] = driver["message"]
        return out

    def kill(self, submission: str) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "action": "KillSubmissionResponse",
            "serverSparkVersion": self.version,
            "submissionId": submission,
        }
        driver = self.drivers.get(submission)
        if driver is None or driver["state"] == "FINISHED":
            return {**answer, "success": False, "message": "Cannot find driver"}
        driver.update(state="FINISHED", message="state: TASK_KILLED")
        if driver.get("app"):
            self.unregister(driver["app"])
        self.register_dispatcher()
        return {**answer, "success": True, "message": "Killing running driver"}


def mesos_callbacks(
    master: str,
) -> tuple[Callable[[], list[dict[str, Any]]], Callable[[dict[str, Any]], None], Callable[[str], None]]:
    """agents / register / unregister against the Mesos master doubles of a mesos://zk://... URL."""
    url = master.removeprefix("mesos://")
    candidates = [f"{h}:5050" for h, _ in zk_servers(url, "master")] if url.startswith("zk://") else [url]

    def leader() -> str | None:
        for c in candidates:
            status, _, headers = call(c, path="/redirect")
            if status == 307:
                return str(headers.get("location", "")).lstrip("/")
        return None

    def agents() -> list[dict[str, Any]]:
        address = leader()
        status, body, _ = call(address, path="/master/state") if address else (0, b"", {})
        slaves: list[dict[str, Any]] = json.loads(body).get("slaves", []) if status == 200 else []
        return slaves

    def register(framework: dict[str, Any]) -> None:
        address = leader()
        if address:
            call(address, "POST", "/double/frameworks", framework)

    def unregister(framework_id: str) -> None:
        address = leader()
        if address:
            call(address, "DELETE", f"/double/frameworks?id={framework_id}")

    return agents, register, unregister


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    try:
        args = parse_args(argv)
        callbacks = mesos_callbacks(args["master"])
    except UsageError as exc:
        print(f"{exc}\n{USAGE}" if str(exc) else USAGE, file=sys.stderr)
        return 1
    except FlagError as exc:
        print(f"Failed to parse --master: {exc}\n{USAGE}", file=sys.stderr)
        return 1
    defaults = {
        k.removeprefix("spark.mesos.dispatcher.driverDefault."): v
        for k, v in args["conf"].items()
        if k.startswith("spark.mesos.dispatcher.driverDefault.")
    }
    dispatcher = Dispatcher(args["name"], env.get("SPARK_DOUBLE_VERSION", VERSION), defaults, *callbacks)
    try:
        server = serve(args["host"], args["port"], dispatcher.handle)
    except OSError as exc:
        print(f"Failed to bind {args['host']}:{args['port']}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"spark dispatcher double listening on {args['host']}:{args['port']}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
