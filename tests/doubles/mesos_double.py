#!/usr/bin/env python3
"""Contract double of Apache Mesos 1.11's `mesos-master` and `mesos-agent` (stdlib only; test use only).

One file, two programs: the name it is run as (`mesos-master`, `mesos-agent`: symlinks beside this file)
or `--daemon=master|agent` picks which. What it does like the real binaries:

- flags from `--name=value` (and `--[no-]name` for booleans) and `MESOS_<NAME>` variables, the command
  line winning; the flag names of Mesos 1.11.x (docs/reference/dcos-mesos.md 6.3: src/master/flags.cpp,
  src/slave/flags.cpp, src/logging/flags.cpp). Unknown command-line flags, duplicate flags, values of the
  wrong type and the start-up requirements of main.cpp (`--work_dir`, `--quorum` with `--zk`, `--master`
  on agents, `--ip` xor `--ip_discovery_command`, zk:// URLs, `--resources`, `--attributes`,
  `--default_role`) end the process with exit 1 and `Failed to load flags: ...` on stderr. Unknown
  MESOS_* variables only get a warning: real Mesos ignores them silently.
- HTTP on --ip:--port: master `/master/health`, `/health`, `/master/state`, `/state`, `/redirect`,
  `/metrics/snapshot`; agent `/health`, `/state`, `/metrics/snapshot`. A master that does not lead
  answers state requests with 307 to the leader, or 503 "No leader elected" when there is none.

What it simulates instead of implementing (the contract's edges, not Mesos):
- Leader election: a leader exists only while a majority of the ZooKeeper servers in `--zk` accept TCP
  connections and `--quorum` masters are up; masters are assumed to listen beside the ZooKeeper servers
  (same host, this master's --port), and the first one up in --zk order leads.
- Agents register by POSTing their info to the leader's `/double/agents` every 0.5 s (real agents speak
  libprocess); the leader lists an agent as active for 3 s after its last registration. The leader refuses
  an agent whose version is newer than its own (409): the Mesos upgrade docs order an upgrade masters
  first, then agents; an agent upgraded out of order stays unregistered (`slave/registered` 0) and says
  why on stderr once. The version is the `VERSION` below: a test "Mesos 1.11.1 package" is this file with
  that line changed.
- No tasks run: Marathon's double places tasks on the registered agents itself. Other frameworks'
  tasks (the Spark dispatcher double's drivers and their executors) are POSTed by those doubles to the
  leader's `/double/frameworks` and listed in `/master/state` `frameworks` (DELETE
  `/double/frameworks?id=<framework id>` removes one, as a framework's teardown does).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from http.client import HTTPConnection, HTTPException
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = "1.11.0"


def names(text: str) -> frozenset[str]:
    """A set of flag or field names written as whitespace-separated words."""
    return frozenset(text.split())


LOGGING_FLAGS = names(
    """
    external_log_file initialize_driver_logging log_dir logbufsecs logging_level quiet
    """
)
MASTER_FLAGS = names(
    """
    acls advertise_ip advertise_port agent_ping_timeout agent_removal_rate_limit
    agent_reregister_timeout allocation_interval allocator allocator_agent_recovery_factor
    allocator_recovery_timeout authenticate_agents authenticate_frameworks authenticate_http_frameworks
    authenticate_http_readonly authenticate_http_readwrite authentication_v0_timeout authenticators
    authorizers cluster credentials domain fair_sharing_excluded_resource_names filter_gpu_resources
    firewall_rules framework_sorter hooks hostname hostname_lookup http_authenticators
    http_framework_authenticators ip ip_discovery_command log_auto_initialize master_contender
    master_detector max_agent_ping_timeouts max_completed_frameworks max_completed_tasks_per_framework
    max_executors_per_agent max_operator_event_stream_subscribers max_unreachable_tasks_per_framework
    memory_profiling min_allocatable_resources modules modules_dir offer_constraints_re2_max_mem
    offer_constraints_re2_max_program_size offer_timeout port publish_per_framework_metrics quorum
    rate_limits recovery_agent_removal_limit registry registry_fetch_timeout registry_gc_interval
    registry_max_agent_age registry_max_agent_count registry_store_timeout registry_strict
    require_agent_domain role_sorter roles root_submissions version webui_dir weights whitelist work_dir
    zk zk_session_timeout
    """
)
AGENT_FLAGS = names(
    """
    acls advertise_ip advertise_port agent_features agent_subsystems allowed_devices
    appc_simple_discovery_uri_prefix appc_store_dir attributes authenticate_http_executors
    authenticate_http_readonly authenticate_http_readwrite authenticatee authentication_backoff_factor
    authentication_timeout_max authentication_timeout_min authorizer bounding_capabilities
    cgroups_cpu_enable_pids_and_tids_count cgroups_destroy_timeout cgroups_enable_cfs cgroups_hierarchy
    cgroups_limit_swap cgroups_net_cls_primary_handle cgroups_net_cls_secondary_handles cgroups_root
    check_agent_port_range_only container_disk_watch_interval container_logger
    container_ports_isolated_range container_ports_watch_interval containerizers credential
    csi_plugin_config_dir default_container_dns default_container_info default_container_shm_size
    default_role disallow_sharing_agent_ipc_namespace disallow_sharing_agent_pid_namespace
    disk_profile_adaptor disk_watch_interval docker docker_config docker_ignore_runtime
    docker_kill_orphans docker_mesos_image docker_registry docker_remove_delay docker_socket
    docker_stop_timeout docker_store_dir docker_volume_checkpoint_dir docker_volume_chown domain
    domain_socket_location effective_capabilities egress_flow_classifier_parent
    egress_rate_limit_per_container egress_unique_flow_per_container enforce_container_disk_quota
    enforce_container_ports ephemeral_ports_per_container eth0_name executor_environment_variables
    executor_registration_timeout executor_reregistration_retry_interval executor_reregistration_timeout
    executor_shutdown_grace_period fetcher_cache_dir fetcher_cache_size fetcher_stall_timeout
    firewall_rules frameworks_home gc_delay gc_disk_headroom gc_non_executor_container_sandboxes
    hadoop_home hooks host_path_volume_force_creation hostname hostname_lookup http_authenticators
    http_command_executor http_credentials http_executor_domain_sockets http_heartbeat_interval
    image_gc_config image_providers image_provisioner_backend ip ip6 ip6_discovery_command
    ip_discovery_command isolation jwt_secret_key launcher lo_name master master_detector
    max_completed_executors_per_framework memory_profiling modules modules_dir network_cni_config_dir
    network_cni_metrics network_cni_plugins_dir network_cni_root_dir_persist
    network_enable_snmp_statistics network_enable_socket_statistics_details
    network_enable_socket_statistics_summary nvidia_gpu_devices oversubscribed_resources_interval
    perf_duration perf_events perf_interval port qos_controller qos_correction_interval_min
    reconfiguration_policy recover recovery_timeout registration_backoff_factor resource_estimator
    resource_provider_config_dir resources revocable_cpu_low_priority runtime_dir sandbox_directory
    seccomp_config_dir seccomp_profile_name secret_resolver strict switch_user systemd_enable_support
    systemd_runtime_directory version volume_gid_range work_dir xfs_kill_containers xfs_project_range
    zk_session_timeout
    """
)
BOOL_FLAGS = names(
    """
    initialize_driver_logging quiet authenticate_agents authenticate_frameworks
    authenticate_http_frameworks authenticate_http_readonly authenticate_http_readwrite
    filter_gpu_resources hostname_lookup log_auto_initialize memory_profiling
    publish_per_framework_metrics registry_strict require_agent_domain root_submissions version
    authenticate_http_executors cgroups_cpu_enable_pids_and_tids_count cgroups_enable_cfs
    cgroups_limit_swap check_agent_port_range_only disallow_sharing_agent_ipc_namespace
    disallow_sharing_agent_pid_namespace docker_ignore_runtime docker_kill_orphans docker_volume_chown
    egress_unique_flow_per_container enforce_container_disk_quota enforce_container_ports
    gc_non_executor_container_sandboxes http_command_executor http_executor_domain_sockets
    network_cni_metrics network_cni_root_dir_persist network_enable_snmp_statistics
    network_enable_socket_statistics_details network_enable_socket_statistics_summary
    revocable_cpu_low_priority strict switch_user systemd_enable_support xfs_kill_containers
    """
)
INT_FLAGS = names(
    """
    port advertise_port quorum logbufsecs max_agent_ping_timeouts max_completed_frameworks
    max_completed_tasks_per_framework max_unreachable_tasks_per_framework
    max_operator_event_stream_subscribers registry_max_agent_count ephemeral_ports_per_container
    max_completed_executors_per_framework
    """
)
DURATION_FLAGS = names(
    """
    agent_ping_timeout agent_reregister_timeout allocation_interval allocator_recovery_timeout
    authentication_v0_timeout offer_timeout registry_fetch_timeout registry_gc_interval
    registry_max_agent_age registry_store_timeout zk_session_timeout executor_registration_timeout
    executor_shutdown_grace_period gc_delay disk_watch_interval recovery_timeout
    registration_backoff_factor docker_remove_delay docker_stop_timeout fetcher_stall_timeout
    authentication_backoff_factor authentication_timeout_min authentication_timeout_max perf_interval
    perf_duration qos_correction_interval_min oversubscribed_resources_interval
    container_disk_watch_interval executor_reregistration_timeout executor_reregistration_retry_interval
    cgroups_destroy_timeout http_heartbeat_interval
    """
)
IP_FLAGS = frozenset({"ip", "advertise_ip"})
CHOICES = {
    "registry": {"in_memory", "replicated_log"},
    "logging_level": {"INFO", "WARNING", "ERROR"},
    "launcher": {"linux", "posix"},
}
DURATION = re.compile(r"^\d+(\.\d+)?(ns|us|ms|secs|mins|hrs|days|weeks)$")
ROLE = re.compile(r"^(\*|[^\s/.\-][^\s]*)$")


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


class FlagError(Exception):
    """What `Failed to load flags: ...` would say."""


def _valid_role(role: str) -> bool:
    return bool(ROLE.match(role)) and ".." not in role and "//" not in role and not role.endswith("/")


def zk_servers(url: str, flag: str) -> list[tuple[str, int]]:
    """The host:port list of a zk://[user:pass@]h1:p1,h2:p2/path URL (file:// is not simulated)."""
    m = re.fullmatch(r"zk://(?:[^@/]+@)?([^/]+)(/\S+)", url)
    if not url.startswith("zk://"):
        raise FlagError(
            f"Failed to parse --{flag}: Expecting 'zk://' or 'file://' at the beginning of the URL"
        )
    if m is None or m.group(2) == "/":
        raise FlagError(
            f"Failed to parse --{flag}: Expecting a path after the servers, e.g. zk://host:2181/mesos"
        )
    servers = []
    for server in m.group(1).split(","):
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            raise FlagError(f"Failed to parse --{flag}: '{server}' is not host:port")
        servers.append((host, int(port)))
    return servers


def parse_ranges(text: str, what: str) -> list[tuple[int, int]]:
    m = re.fullmatch(r"\[(.*)\]", text.strip())
    if m is None:
        raise FlagError(f"Bad value for {what}: expecting ranges like [31000-32000], got '{text}'")
    ranges = []
    for part in m.group(1).split(","):
        lo, sep, hi = part.strip().partition("-")
        if not sep or not lo.isdigit() or not hi.isdigit() or int(lo) > int(hi):
            raise FlagError(f"Bad value for {what}: '{part}' is not a range begin-end")
        ranges.append((int(lo), int(hi)))
    return ranges


def parse_resources(text: str) -> list[dict[str, Any]]:
    """`name(role):value;...` as in src/common/resources.cpp (scalars, [ranges], {sets}); or JSON."""
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FlagError(f"Failed to parse --resources as JSON: {exc}") from exc
        if not isinstance(data, list):
            raise FlagError("Failed to parse --resources: JSON resources must be an array")
        return data
    out = []
    for item in filter(None, (x.strip() for x in text.split(";"))):
        m = re.fullmatch(r"([a-z_]+)(?:\(([^)]*)\))?:(.+)", item)
        if m is None:
            raise FlagError(f"Failed to parse --resources: bad resource '{item}' (want name(role):value)")
        name, role, value = m.group(1), m.group(2) or "*", m.group(3).strip()
        if not _valid_role(role):
            raise FlagError(f"Failed to parse --resources: invalid role '{role}' in '{item}'")
        if value.startswith("["):
            out.append({"name": name, "role": role, "type": "RANGES", "ranges": parse_ranges(value, name)})
        elif value.startswith("{"):
            out.append({"name": name, "role": role, "type": "SET", "set": value.strip("{}").split(",")})
        else:
            try:
                out.append({"name": name, "role": role, "type": "SCALAR", "scalar": float(value)})
            except ValueError:
                raise FlagError(
                    f"Failed to parse --resources: '{value}' is not a number in '{item}'"
                ) from None
    return out


def parse_attributes(text: str) -> dict[str, str]:
    attrs = {}
    for item in filter(None, (x.strip() for x in text.split(";"))):
        key, sep, value = item.partition(":")
        if not sep or not key or not value:
            raise FlagError(f"Failed to parse --attributes: '{item}' is not key:value")
        attrs[key] = value
    return attrs


def parse_flags(
    daemon: str, argv: Sequence[str], env: Mapping[str, str], warn: Callable[[str], None]
) -> dict[str, str]:
    """Flags as Mesos loads them: environment first, then the command line. Raises FlagError."""
    known = (MASTER_FLAGS if daemon == "master" else AGENT_FLAGS) | LOGGING_FLAGS
    flags: dict[str, str] = {}
    for var, value in env.items():
        if var.startswith("MESOS_"):
            name = var[len("MESOS_") :].lower()
            if name in known:
                flags[name] = value
            elif not name.startswith("native_java_library"):
                warn(f"Warning: ignoring unknown environment variable {var} (real Mesos ignores it silently)")
    seen: set[str] = set()
    for arg in argv:
        if not arg.startswith("--"):
            raise FlagError(f"Unexpected argument '{arg}' (flags look like --name=value)")
        name, sep, value = arg[2:].partition("=")
        if not sep:
            if name.startswith("no-") and name[3:] in BOOL_FLAGS:
                name, value = name[3:], "false"
            elif name in BOOL_FLAGS:
                value = "true"
            elif name in known:
                raise FlagError(
                    f"Failed to load non-boolean flag '{name}': Missing value (use --{name}=VALUE)"
                )
        if name not in known:
            raise FlagError(f"Failed to load unknown flag '{name}'")
        if name in seen:
            raise FlagError(f"Flag '{name}' is already loaded (given twice)")
        seen.add(name)
        flags[name] = value
    for name, value in flags.items():
        check_value(name, value)
    check_requirements(daemon, flags)
    return flags


def check_value(name: str, value: str) -> None:
    if name in BOOL_FLAGS and value not in ("true", "false", "1", "0"):
        raise FlagError(
            f"Failed to load flag '{name}': Expecting a boolean (e.g., true or false), got '{value}'"
        )
    if name in INT_FLAGS and not re.fullmatch(r"-?\d+", value):
        raise FlagError(f"Failed to load flag '{name}': Failed to convert '{value}' to number")
    if name in DURATION_FLAGS and not DURATION.match(value):
        raise FlagError(f"Failed to load flag '{name}': Invalid duration '{value}' (e.g. 10secs, 5mins)")
    if name in IP_FLAGS:
        try:
            socket.inet_aton(value)
        except OSError:
            raise FlagError(f"Failed to load flag '{name}': Failed to parse IP '{value}'") from None
        if value.count(".") != 3:
            raise FlagError(f"Failed to load flag '{name}': Failed to parse IP '{value}'")
    if name in CHOICES and value not in CHOICES[name]:
        raise FlagError(f"Failed to load flag '{name}': '{value}' is not one of {sorted(CHOICES[name])}")
    if name in ("port", "advertise_port") and not 0 < int(value) < 65536:
        raise FlagError(f"Failed to load flag '{name}': {value} is not a port number")


def check_requirements(daemon: str, flags: Mapping[str, str]) -> None:
    """main.cpp's start-up checks (src/master/main.cpp, src/slave/main.cpp)."""
    if "ip" in flags and "ip_discovery_command" in flags:
        raise FlagError("Only one of `--ip` or `--ip_discovery_command` should be specified")
    if daemon == "master":
        if flags.get("registry", "replicated_log") == "replicated_log" and not flags.get("work_dir"):
            raise FlagError("--work_dir needed for replicated log based registry")
        if "zk" in flags:
            zk_servers(flags["zk"], "zk")
            if flags.get("registry", "replicated_log") == "replicated_log":
                if "quorum" not in flags:
                    raise FlagError(
                        "Need to specify --quorum for replicated log based registry when using ZooKeeper"
                    )
                if int(flags["quorum"]) < 1:
                    raise FlagError(f"--quorum must be at least 1, got {flags['quorum']}")
        return
    if not flags.get("master") and not flags.get("master_detector"):
        raise FlagError("Missing required option `--master` or `--master_detector`")
    if not flags.get("work_dir"):
        raise FlagError("Flag 'work_dir' is required, but it was not provided")
    master = flags.get("master", "")
    if master.startswith("zk://"):
        zk_servers(master, "master")
    elif master and not re.fullmatch(r"[^:/\s]+:\d+", master):
        raise FlagError(f"Failed to parse --master '{master}': expecting zk://hosts/path or host:port")
    bad = set(flags.get("containerizers", "mesos").split(",")) - {"mesos", "docker"}
    if bad:
        raise FlagError(f"Unknown or unsupported containerizer: {', '.join(sorted(bad))}")
    if not _valid_role(flags.get("default_role", "*")):
        raise FlagError(f"Invalid --default_role '{flags['default_role']}'")
    parse_resources(flags.get("resources", ""))
    parse_attributes(flags.get("attributes", ""))


# --- HTTP plumbing shared with marathon_double.py --------------------------------------------------

Route = Callable[["Request"], tuple[int, Any, dict[str, str]]]


class Request:
    def __init__(
        self, method: str, path: str, query: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self.method, self.path, self.query, self.body = method, path, query, body
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}


def serve(
    host: str, port: int, handle: Callable[[Request], tuple[int, Any, dict[str, str]]]
) -> ThreadingHTTPServer:
    """A threading HTTP server; `handle` returns (status, JSON-able body or str, headers)."""

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            path, _, query = self.path.partition("?")
            request = Request(self.command, path, query, self.rfile.read(length), dict(self.headers))
            status, body, headers = handle(request)
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            ctype = "text/plain" if isinstance(body, str) else "application/json"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def call(
    address: str, method: str = "GET", path: str = "/", body: Any = None, timeout: float = 0.5
) -> tuple[int, bytes, dict[str, str]]:
    """One HTTP request without following redirects; (0, b"", {}) when nothing answers."""
    host, _, port = address.rpartition(":")
    conn = HTTPConnection(host, int(port), timeout=timeout)
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    except (OSError, HTTPException):
        return 0, b"", {}
    finally:
        conn.close()


def tcp_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def zk_quorum(servers: Sequence[tuple[str, int]]) -> bool:
    """ZooKeeper serves only while a majority of its ensemble is up (approximated: accepts TCP)."""
    return sum(tcp_open(h, p) for h, p in servers) > len(servers) // 2


class Cached:
    """A value recomputed at most every `ttl` seconds (elections are polled, not pushed)."""

    def __init__(self, compute: Callable[[], Any], ttl: float = 0.3) -> None:
        self.compute, self.ttl, self.at, self.value, self.lock = compute, ttl, 0.0, None, threading.Lock()

    def get(self) -> Any:
        with self.lock:
            if time.monotonic() - self.at > self.ttl:
                self.value, self.at = self.compute(), time.monotonic()
            return self.value


# --- the daemons --------------------------------------------------------------------------------


class Master:
    def __init__(self, flags: Mapping[str, str]) -> None:
        self.flags = dict(flags)
        self.ip = flags.get("ip", "127.0.0.1")
        self.port = int(flags.get("port", "5050"))
        self.address = f"{self.ip}:{self.port}"
        self.zk = zk_servers(flags["zk"], "zk") if "zk" in flags else None
        self.quorum = int(flags.get("quorum", "1"))
        self.agents: dict[str, tuple[float, dict[str, Any]]] = {}
        self.frameworks: dict[str, dict[str, Any]] = {}  # id -> framework with its tasks
        self.leader = Cached(self._elect)
        self.id = str(uuid.uuid4())

    def _elect(self) -> str | None:
        if self.zk is None:
            return self.address
        if not zk_quorum(self.zk):
            return None
        candidates = [f"{h}:{self.port}" for h, _ in self.zk]
        if self.address not in candidates:
            candidates.append(self.address)
        up = [c for c in candidates if c == self.address or call(c, path="/master/health")[0] == 200]
        return up[0] if len(up) >= self.quorum else None

    def state(self, leader: str) -> dict[str, Any]:
        now = time.monotonic()
        slaves = [{**info, "active": True} for seen, info in self.agents.values() if now - seen < 3.0]
        return {
            "version": VERSION,
            "id": self.id,
            "pid": f"master@{self.address}",
            "hostname": self.flags.get("hostname", self.ip),
            "leader": f"master@{leader}",
            "cluster": self.flags.get("cluster", ""),
            "flags": self.flags,
            "activated_slaves": len(slaves),
            "deactivated_slaves": 0,
            "slaves": slaves,
            "frameworks": list(self.frameworks.values()),
        }

    def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        if req.path in ("/master/health", "/health"):
            return 200, "", {}
        if req.path == "/version":
            return 200, {"version": VERSION}, {}
        leader = self.leader.get()
        elected = leader == self.address
        if req.path == "/metrics/snapshot":
            return 200, {"master/elected": int(elected), "master/slaves_active": len(self.agents)}, {}
        if req.path in ("/master/state", "/state", "/redirect", "/double/agents", "/double/frameworks"):
            if leader is None:
                return 503, "No leader elected", {}
            if req.path == "/redirect":
                return 307, "", {"Location": f"//{leader}"}
            if not elected:
                return 307, "", {"Location": f"//{leader}{req.path}"}
            if req.path == "/double/agents" and req.method == "POST":
                info = json.loads(req.body)
                if version_key(str(info.get("version", VERSION))) > version_key(VERSION):
                    self.agents.pop(info["hostname"], None)
                    return 409, {"message": f"agent {info['version']} is newer than master {VERSION}"}, {}
                self.agents[info["hostname"]] = (time.monotonic(), info)
                return 200, {"registered": True}, {}
            if req.path == "/double/frameworks" and req.method == "POST":
                framework = json.loads(req.body)
                self.frameworks[framework["id"]] = framework
                return 200, {"registered": True}, {}
            if req.path == "/double/frameworks" and req.method == "DELETE":
                self.frameworks.pop(req.query.removeprefix("id="), None)
                return 200, {"removed": True}, {}
            return 200, self.state(leader), {}
        return 404, "", {}


class Agent:
    def __init__(self, flags: Mapping[str, str]) -> None:
        self.flags = dict(flags)
        self.ip = flags.get("ip", "127.0.0.1")
        self.port = int(flags.get("port", "5051"))
        self.hostname = flags.get("hostname", self.ip)
        master = flags["master"]
        self.candidates = (
            [f"{h}:5050" for h, _ in zk_servers(master, "master")] if master.startswith("zk://") else [master]
        )
        self.role = flags.get("default_role", "*")
        self.attributes = parse_attributes(flags.get("attributes", ""))
        self.resources = self._resources(parse_resources(flags.get("resources", "")))
        self.id = f"{uuid.uuid4()}-S0"
        self.master: str | None = None
        self.refused = False

    def _resources(self, given: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """role -> {cpus, mem, disk, ports}; unreserved (*) ones go to --default_role."""
        out: dict[str, dict[str, Any]] = {}
        names = {r["name"] for r in given}
        defaults = [
            {"name": "cpus", "role": "*", "scalar": float(os.cpu_count() or 1)},
            {"name": "mem", "role": "*", "scalar": 4096.0},
            {"name": "disk", "role": "*", "scalar": 10240.0},
            {"name": "ports", "role": "*", "ranges": [(31000, 32000)]},
        ]
        for r in [*given, *(d for d in defaults if d["name"] not in names)]:
            role = self.role if r["role"] == "*" else r["role"]
            value = r.get("ranges") or r.get("scalar") or r.get("set")
            out.setdefault(role, {})[r["name"]] = [list(x) for x in value] if r["name"] == "ports" else value
        return out

    def info(self) -> dict[str, Any]:
        reserved = {role: res for role, res in self.resources.items() if role != "*"}
        return {
            "id": self.id,
            "pid": f"slave(1)@{self.ip}:{self.port}",
            "hostname": self.hostname,
            "port": self.port,
            "attributes": self.attributes,
            "resources": {k: v for res in self.resources.values() for k, v in res.items()},
            "reserved_resources": reserved,
            "unreserved_resources": self.resources.get("*", {}),
            "version": VERSION,
        }

    def register_forever(self) -> None:
        while True:
            leader = None
            for c in self.candidates:
                status, _, headers = call(c, path="/redirect")
                if status == 307:
                    leader = headers.get("location", "").lstrip("/")
                    break
            status, body, _ = call(leader, "POST", "/double/agents", self.info()) if leader else (0, b"", {})
            if status == 409 and not self.refused:
                self.refused = True
                print(
                    f"Master refused registration: {json.loads(body)['message']}", file=sys.stderr, flush=True
                )
            self.master = leader if status == 200 else None
            time.sleep(0.5)

    def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        if req.path == "/health":
            return 200, "", {}
        if req.path == "/state":
            return 200, {**self.info(), "flags": self.flags, "master_hostname": self.master or ""}, {}
        if req.path == "/metrics/snapshot":
            return 200, {"slave/registered": int(self.master is not None)}, {}
        return 404, "", {}


def usage(daemon: str) -> str:
    names = sorted((MASTER_FLAGS if daemon == "master" else AGENT_FLAGS) | LOGGING_FLAGS)
    return (
        f"Usage: mesos-{daemon} [options]\n\n"
        f"Contract double of mesos-{daemon} {VERSION} (fastdata tests/doubles): flags --name=value or "
        "MESOS_NAME=value; booleans also --name / --no-name.\nKnown flags:\n"
        + "\n".join(f"  --{n}" for n in names)
        + "\n"
    )


def main(argv: Sequence[str], env: Mapping[str, str], program: str) -> int:
    daemon = "agent" if "agent" in os.path.basename(program) else "master"
    args = list(argv)
    for arg in list(args):
        if arg.startswith("--daemon="):
            daemon = arg.split("=", 1)[1]
            args.remove(arg)
    if "--help" in args or "-h" in args:
        print(usage(daemon))
        return 0
    try:
        flags = parse_flags(daemon, args, env, lambda m: print(m, file=sys.stderr))
    except FlagError as exc:
        print(
            f"Failed to load flags: {exc}\n\nSee `mesos-{daemon} --help` for a list of supported flags.",
            file=sys.stderr,
        )
        return 1
    if flags.get("version") == "true":
        print(f"mesos {VERSION}")
        return 0
    node: Master | Agent = Master(flags) if daemon == "master" else Agent(flags)
    try:
        server = serve(node.ip, node.port, node.handle)
    except OSError as exc:
        print(
            f"Failed to initialize: Failed to bind on {node.ip}:{node.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    print(f"mesos-{daemon} double listening on {node.ip}:{node.port}", file=sys.stderr, flush=True)
    if isinstance(node, Agent):
        threading.Thread(target=node.register_forever, daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ, sys.argv[0]))
