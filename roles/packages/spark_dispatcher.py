"""Spark jobs submitted in cluster mode to a MesosClusterDispatcher, through Spark's REST submission
protocol: what `spark-submit --master mesos://<dispatcher>:7077 --deploy-mode cluster --supervise` sends
(SparkSubmit -> RestSubmissionClient) and what `dcos spark run` posts behind Admin Router
(docs/reference/hdfs-spark-kafka4.md B.4, dcos-mesos.md 5.2, 5.3). Both Mesos platforms use it: mesos
with the dispatcher it runs as a Marathon app, dcos with the Spark package's.

- The request (a CreateSubmissionRequest) is a file on the submitting node, so `fab render` shows it and
  its sha256 identifies the job definition.
- Idempotent: the submission id and that sha256 are recorded beside it; the check asks the dispatcher
  for the recorded driver (`GET /v1/submissions/status/<id>`). A live driver (QUEUED, RUNNING, RETRYING)
  of the same definition is left alone; a finished or unknown one is submitted again; a live one of
  another definition is killed (`POST /v1/submissions/kill/<id>`) and the new one submitted.
- The gate: the recorded driver RUNNING under the dispatcher and the application's executors running on
  at least two agents, read from the leading Mesos master's frameworks (Spark on Mesos registers each
  application as a framework named spark.app.name, its executors as that framework's tasks).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contract import Cluster, Node
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Gate, Op, RemoteFor
from roles.engine.ops import directory_op, file_op, state_op
from roles.engine.placement import Placement, first_node
from roles.engine.spec import DeploySpec
from roles.errors import OperationError
from roles.packages.http import HttpResponse, http, http_command, parse_http
from roles.packages.mesos_api import leading_master_state

q = shlex.quote

SUBMISSIONS_DIR = "/etc/fastdata/spark"  # request files and submission records, on the submitting node
LIVE_STATES = frozenset({"QUEUED", "RUNNING", "RETRYING"})  # MesosClusterScheduler.getDriverStatus
RECORD_MARK = "@@fastdata-submission"
# spark-submit's Python main class in Mesos cluster mode is empty (SparkSubmit: "Second argument is main
# class", "" for Python); MesosClusterScheduler then runs the appResource with spark-submit on the agent.
PYTHON_MAIN_CLASS = ""


@dataclass(frozen=True)
class Job:
    """A cluster-mode Spark application. `app_resource` (and py-files) must be URLs the agents fetch:
    the driver runs on an agent, which has nothing of the submitting node."""

    name: str  # the file names on the submitting node: <name>.json, <name>.submission
    app_name: str  # spark.app.name: also the Mesos framework name of the running application
    app_resource: str
    properties: Mapping[str, str]
    app_args: Sequence[str] = ()
    main_class: str = PYTHON_MAIN_CLASS
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Dispatcher:
    """Where the submissions go: `url` is the REST server's base (http://<dispatcher>:7077 on mesos, the
    package's service endpoint behind Admin Router on dcos), `master` the mesos:// URL spark-submit
    would put in spark.master for it."""

    url: str
    master: str


def create_request(job: Job, spark_version: str, dispatcher: Dispatcher) -> dict[str, Any]:
    """The CreateSubmissionRequest spark-submit sends for `job` (RestSubmissionClient)."""
    properties = {
        "spark.app.name": job.app_name,
        "spark.master": dispatcher.master,
        "spark.submit.deployMode": "cluster",
        **job.properties,
    }
    return {
        "action": "CreateSubmissionRequest",
        "clientSparkVersion": spark_version,
        "appResource": job.app_resource,
        "mainClass": job.main_class,
        "appArgs": list(job.app_args),
        "environmentVariables": dict(job.environment),
        "sparkProperties": dict(sorted(properties.items())),
    }


def request_text(job: Job, spark_version: str, dispatcher: Dispatcher) -> str:
    return json.dumps(create_request(job, spark_version, dispatcher), indent=2, sort_keys=True) + "\n"


def paths(job: Job) -> tuple[str, str]:
    """(request file, submission record) on the submitting node."""
    return f"{SUBMISSIONS_DIR}/{job.name}.json", f"{SUBMISSIONS_DIR}/{job.name}.submission"


def status_url(dispatcher: Dispatcher, submission: str) -> str:
    return f"{dispatcher.url}/v1/submissions/status/{submission}"


def record_probe(job: Job, dispatcher: Dispatcher) -> str:
    """The record (`<submission id> <request sha256>`), a mark, and the dispatcher's status of that id."""
    _, record = paths(job)
    placeholder = status_url(dispatcher, "SUBMISSION_ID")
    status = http_command("GET", placeholder).replace(q(placeholder), f'"{status_url(dispatcher, "")}$id"')
    return (
        f"id=; digest=; read -r id digest < {q(record)} 2>/dev/null; "
        'case "$id" in *[!A-Za-z0-9-]*) id= ;; esac; echo "$id $digest"; '
        f'echo {RECORD_MARK}; if [ -n "$id" ]; then {status}; fi; true'
    )


def parse_record(res: RunResult) -> tuple[str, str, HttpResponse | None]:
    """(submission id, request sha256, the status answer or None when nothing is recorded)."""
    head, _, rest = res.stdout.partition(f"{RECORD_MARK}\n")
    parts = head.split()
    submission, digest = [*parts, "", ""][:2]
    if not submission:
        return "", "", None
    return submission, digest, parse_http(RunResult(res.command, res.exit_code, rest, res.stderr))


def driver_state(resp: HttpResponse) -> tuple[str, str]:
    """(driverState, message) of a SubmissionStatusResponse; ("", problem) when it is not one."""
    data = resp.json()
    if resp.status != 200 or not isinstance(data, dict) or "driverState" not in data:
        return "", f"the dispatcher answered {resp.describe()}"
    return str(data["driverState"]), str(data.get("message") or "").strip()


def submission_state(res: RunResult, want: str) -> tuple[str, str]:
    """(state, detail): submitted | absent | gone | changed | error."""
    submission, digest, resp = parse_record(res)
    if resp is None:
        return "absent", "not submitted"
    state, message = driver_state(resp)
    if not state:
        return "error", message
    seen = f"driver {submission} {state}" + (f" ({message.splitlines()[0]})" if message else "")
    if state not in LIVE_STATES:
        return "gone", f"{seen}: it is submitted again"
    if digest != want:
        return "changed", f"{seen} runs another definition of the job: it is replaced"
    return "submitted", seen


def response_problem(resp: HttpResponse) -> str:
    data = resp.json()
    if isinstance(data, dict) and data.get("message"):
        return f"HTTP {resp.status} {data.get('action', '')}: {data['message']}"
    return resp.describe()


def submission_ops(spec: DeploySpec, node: Node, job: Job, dispatcher: Dispatcher, what: str) -> list[Op]:
    """The request file and the job running under the dispatcher, from `node` (which reaches it)."""
    request, record = paths(job)
    text = request_text(job, spec.versions.spark, dispatcher)
    want = hashlib.sha256(text.encode()).hexdigest()
    probe = record_probe(job, dispatcher)

    def submit(r: Remote) -> None:
        resp = http(r, "POST", f"{dispatcher.url}/v1/submissions/create", request)
        data = resp.json()
        if resp.status != 200 or not isinstance(data, dict) or not data.get("success"):
            raise OperationError(
                f"the Spark dispatcher at {dispatcher.url} refused {job.app_name}: {response_problem(resp)}; "
                f"the request is {request} on {node.name} (`fab render` writes it too)"
            )
        r.run(f"echo {q(str(data['submissionId']))} {want} > {q(record)}")

    def act(r: Remote, state: str, detail: str) -> None:
        if state == "error":
            raise OperationError(
                f"{job.app_name}: {detail} ({dispatcher.url}); is the dispatcher up (fab status)?"
            )
        if state == "changed":
            submission = parse_record(r.run(probe, check=False))[0]
            resp = http(r, "POST", f"{dispatcher.url}/v1/submissions/kill/{submission}")
            data = resp.json()
            if resp.status != 200 or not isinstance(data, dict) or not data.get("success"):
                raise OperationError(
                    f"{detail}, but the dispatcher did not kill driver {submission}: "
                    f"{response_problem(resp)}; kill it in the dispatcher's UI and re-run"
                )
        submit(r)

    return [
        directory_op("spark-submissions-dir", SUBMISSIONS_DIR, mode=0o755),
        file_op(f"spark-request:{job.name}", f"Spark submission request {job.app_name}", request, text),
        state_op(
            f"spark-job:{job.name}",
            f"{what} running under the Spark dispatcher",
            probe,
            lambda res: submission_state(res, want),
            act,
            done="submitted",
        ),
    ]


# --- readiness --------------------------------------------------------------------------------------------


def executor_hosts(state: Mapping[str, Any], app_name: str) -> dict[str, int]:
    """agent hostname -> running executors of the application `app_name`, from /master/state."""
    slaves = {s.get("id"): str(s.get("hostname")) for s in state.get("slaves", []) if isinstance(s, dict)}
    hosts: dict[str, int] = {}
    for framework in state.get("frameworks", []):
        if not isinstance(framework, dict) or framework.get("name") != app_name:
            continue
        if not framework.get("active", True):
            continue
        for task in framework.get("tasks", []):
            if isinstance(task, dict) and task.get("state") == "TASK_RUNNING":
                host = slaves.get(task.get("slave_id"), str(task.get("slave_id")))
                hosts[host] = hosts.get(host, 0) + 1
    return hosts


def running_check(
    inventory: Cluster, app_name: str, status: HttpResponse | None, submission: str, state: Mapping[str, Any]
) -> Check:
    """The driver RUNNING under the dispatcher, and executors on at least two agents (one with one agent)."""
    if status is None:
        return Check(False, f"{app_name} was never submitted (no submission record); run fab deploy")
    driver, message = driver_state(status)
    if driver != "RUNNING" or (message and "TASK_RUNNING" not in message):
        return Check(False, f"driver {submission} of {app_name}: {driver or message} {message}".strip())
    hosts = executor_hosts(state, app_name)
    need = min(2, len(inventory.agents))
    names = {a.private_ip: a.name for a in inventory.agents}
    where = ", ".join(f"{names.get(h, h)} x{n}" for h, n in sorted(hosts.items())) or "none"
    if len(hosts) < need:
        return Check(
            False,
            f"driver {submission} RUNNING, but executors of {app_name} run on {len(hosts)} agent(s) "
            f"({where}), want at least {need}: are the agents' offers enough for spark.executors x "
            "spark.executorCores / spark.executorMemory?",
        )
    return Check(True, f"driver {submission} RUNNING, executors on {where}")


def driver_probe(
    client: Placement, job: Callable[[DeploySpec, Cluster], Job], dispatcher: Callable[[Cluster], Dispatcher]
) -> Callable[[DeploySpec, Cluster, RemoteFor], Check]:
    """A gate, run on the submitting node: the recorded driver and the application's executors."""

    def probe(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
        if not spec.demo.enabled:
            return Check(True, "no job to run (settings.demo.enabled is false)")
        the_job = job(spec, inventory)
        remote = remote_for(first_node(inventory, client))
        submission, _, status = parse_record(
            remote.run(record_probe(the_job, dispatcher(inventory)), check=False)
        )
        state, problems = leading_master_state(remote, inventory)
        if status is not None and state is None:
            return Check(
                False, f"no Mesos leader to ask for {the_job.app_name}'s executors: {'; '.join(problems)}"
            )
        return running_check(inventory, the_job.app_name, status, submission, state or {})

    return probe


def driver_gate(
    name: str,
    client: Placement,
    job: Callable[[DeploySpec, Cluster], Job],
    dispatcher: Callable[[Cluster], Dispatcher],
    timeout: float,
) -> Gate:
    """Deploy waits after the demo phase until the job's driver and executors run (`fab status` too)."""
    return Gate("apps healthy", name, driver_probe(client, job, dispatcher), timeout, after_phase="demo")
