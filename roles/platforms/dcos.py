"""The dcos platform (DESIGN 3.3): Mesosphere DC/OS 2.2 OSS, advanced install through the bootstrap node.

- bootstrap node: Docker (the generator runs in it), `genconf/config.yaml` and `genconf/ip-detect`
  rendered from the spec, `dcos_generate_config.sh` (user-supplied, sha256-checked) run only when its
  inputs changed, and `genconf/serve/` published under the artifact server (see SERVE_LINK);
- masters, one at a time: the node prerequisites DC/OS documents, then `dcos_install.sh master` fetched
  from the bootstrap URL; agents `slave`, public agents `slave_public` (docs/contracts.md, "The dcos
  platform"). The installed version file decides: install, already installed, or an upgrade (not done:
  reported);
- packages: HDFS, Kafka and Spark through the package API (Cosmos) from the first master, options
  rendered from the spec; installed once, a changed request updates the running service in place
  (Cosmos' service update; a lower broker or DataNode count is refused: the schedulers cannot shrink). HDFS
  is the package's HA layout (dcos-commons' hdfs: journal and name nodes, a DataNode per private agent);
  Spark's drivers and executors get its hdfs-site/core-site through the Spark package's `hdfs.config-url`;
- demo: the Marathon apps of roles/demo/marathon.py (as on the mesos platform) on DC/OS's Marathon, and
  the processor submitted to the Spark package's dispatcher (`dcos spark run`'s REST submission, through
  Admin Router's /service/spark), as on mesos (roles/demo/mesos_job.py).

Everything DC/OS-specific that differs per cloud is in the ip-detect templates (templates/dcos-ip-*.sh).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from contract import Cluster, Node, Role
from contract import Platform as PlatformName
from contract.schema import MASTER_COUNTS
from roles.demo import marathon as demo
from roles.demo import mesos_job, runtime
from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check, Gate, Handler, Op, Platform, RemoteFor, Step, gate_group
from roles.engine.ops import (
    ARTIFACT_DIR,
    directory_op,
    file_op,
    probed,
    service_disabled_op,
    service_op,
    state_op,
    system_packages_op,
)
from roles.engine.placement import (
    BOOTSTRAP,
    EVERY_AGENT_AND_PUBLIC_AGENT,
    EVERY_MASTER,
    EVERY_NODE,
    FIRST_MASTER,
    FIRST_PUBLIC_AGENT,
    first_node,
)
from roles.engine.spec import DeploySpec, Supplied, artifact_server, demo_enabled
from roles.engine.templates import render
from roles.errors import ConfigError, OperationError
from roles.packages import influxdb, spark
from roles.packages.http import HttpResponse, http, http_command, parse_http
from roles.packages.marathon import app_health, marathon_url, mb
from roles.packages.mesos_api import agents_gate, agents_probe
from roles.packages.spark_dispatcher import SUBMISSIONS_DIR, Dispatcher
from roles.platforms import common, upgrades
from roles.platforms.upgrades import version_key

q = shlex.quote

ADMIN_ROUTER_PORT = 80
EXHIBITOR_PORT = 8181

DCOS_DIR = "/opt/fastdata/dcos"  # the generator's working directory on the bootstrap node
GENCONF = f"{DCOS_DIR}/genconf"
SERVE_DIR = f"{GENCONF}/serve"
# genconf/serve is published by the artifact server (roles/platforms/common.py) as <artifact server>/dcos:
# one HTTP server, already in the port matrix (8099, cluster-internal), already kept running and
# diagnosed. DC/OS needs the serve directory up until every node finished dcos-setup and again for upgrades,
# which is the artifact server's lifetime too; a second unit would only add a port and a unit to keep alive.
SERVE_PATH = "dcos"
SERVE_LINK = f"{ARTIFACT_DIR}/{SERVE_PATH}"
INPUTS_MARKER = f"{SERVE_DIR}/.fastdata-inputs"  # inside serve/: deleting the output re-runs the generator

INSTALL_DIR = "/opt/fastdata/dcos-install"  # where nodes download dcos_install.sh (not /tmp: noexec)
VERSION_FILE = "/opt/mesosphere/etc/dcos-version.json"
ROLES_DIR = "/etc/mesosphere/roles"
PACKAGES_DIR = "/etc/fastdata/dcos/packages"  # install requests and what was installed, on master-0

INSTALL_ROLES = {Role.MASTER: "master", Role.AGENT: "slave", Role.PUBLIC_AGENT: "slave_public"}
# Upstream DNS per cloud: the provider's resolver (AWS: the Amazon DNS server every VPC reaches at
# 169.254.169.253; Azure: 168.63.129.16); local: gen's own on-prem default. settings.dcos.resolvers wins.
DEFAULT_RESOLVERS = {
    "aws": ["169.254.169.253"],
    "azure": ["168.63.129.16"],
    "local": ["8.8.8.8", "8.8.4.4"],
}
# Reserved by gen (TEST-NET-2 addresses it uses itself, gen/calc.py validate_resolvers).
RESERVED_RESOLVERS = frozenset({"198.51.100.1", "198.51.100.2", "198.51.100.3"})
# Keys gen computes itself: setting them is an error ("must be calculated", dcos/dcos gen/calc.py).
CALCULATED_KEYS = frozenset({"num_masters", "fault_domain_enabled"})

# Prerequisites from the DC/OS docs and dcos_install.sh's preflight (docs/contracts.md): the commands it
# checks, Docker, and python3 (the artifact server and the artifact fetch run on it).
PREREQ_PACKAGES = {
    "apt": ("tar", "xz-utils", "unzip", "curl", "ipset", "iputils-ping", "docker.io", "python3"),
    "yum": ("tar", "xz", "unzip", "curl", "ipset", "iputils", "docker", "python3"),
}
PREREQ_GROUPS = ("nogroup", "docker")
DISABLED_UNITS = ("firewalld.service", "dnsmasq.service")  # DC/OS needs port 53 and open node traffic


# --- the installer (user-supplied) ---------------------------------------------------------------------

INSTALLER = Supplied(
    "dcos-installer",
    "dcosInstallerUrl",
    "dcosInstallerSha256",
    "an http(s):// or file:// URL of a DC/OS 2.2 open-source dcos_generate_config.sh you mirrored",
    "the DC/OS installer dcos_generate_config.sh, which no registry this project reaches serves (DC/OS is "
    "end-of-life)",
)


# --- genconf (pure) --------------------------------------------------------------------------------------


def bootstrap_node(inventory: Cluster) -> Node:
    nodes = BOOTSTRAP.select(inventory)
    if len(nodes) != 1:
        raise ConfigError(
            f"platform dcos needs exactly one bootstrap node, the inventory has {len(nodes)}; "
            "set fastdata:nodes.bootstrap.count to 1 and run `pulumi up`"
        )
    return nodes[0]


def bootstrap_url(inventory: Cluster) -> str:
    server = artifact_server(inventory)
    assert server is not None  # a bootstrap node exists (checked by validate)
    return f"{server.url}/{SERVE_PATH}"


def config_values(spec: DeploySpec, inventory: Cluster) -> dict[str, Any]:
    """genconf/config.yaml as a mapping: the keys of DC/OS's minimal OSS config, from the spec;
    settings.dcos.config adds or overrides keys (validated like the rest)."""
    extra = spec.dcos
    values: dict[str, Any] = {
        "bootstrap_url": bootstrap_url(inventory),
        "cluster_name": inventory.name,
        "exhibitor_storage_backend": "static",
        "master_discovery": "static",
        "master_list": [m.private_ip for m in inventory.masters],
        "resolvers": list(extra.resolvers or DEFAULT_RESOLVERS[inventory.cloud]),
        "ip_detect_filename": "genconf/ip-detect",
        # The OSS login goes through auth0 / auth.dcos.io (external, and gone with DC/OS): off, so the
        # package API, Marathon and Mesos answer the deploy engine without tokens.
        "oauth_enabled": False,
        "telemetry_enabled": False,
        # IPv6 off needs dcos_l4lb_enable_ipv6 off too (gen validate_dcos_l4lb_enable_ipv6).
        "enable_ipv6": False,
        "dcos_l4lb_enable_ipv6": False,
    }
    values.update(extra.config)
    return values


def _ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def config_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """The checks of gen (dcos/dcos gen/calc.py) on what this planner composes or the
    user can override: {key: message}. gen itself runs on the bootstrap node too; this fails earlier."""
    errors: dict[str, str] = {}
    url = str(values.get("bootstrap_url", ""))
    if len(url) <= 1:
        errors["bootstrap_url"] = "Should be a url (http://example.com/bar or file:///path/to/local/cache)"
    elif url.endswith("/"):
        errors["bootstrap_url"] = "Must not end in a '/'"
    if values.get("master_discovery") not in ("static", "master_http_loadbalancer"):
        errors["master_discovery"] = "Must be one of 'master_http_loadbalancer', 'static'"
    masters = values.get("master_list")
    if values.get("master_discovery") == "static":
        if not isinstance(masters, list) or not all(isinstance(m, str) and _ipv4(m) for m in masters):
            errors["master_list"] = f"Must be a list of IPv4 addresses, got {masters!r}"
        elif len(set(masters)) != len(masters):
            errors["master_list"] = f"List cannot contain duplicates: {masters}"
        elif len(masters) not in MASTER_COUNTS[PlatformName.DCOS]:
            errors["master_list"] = f"Must have 1, 3, 5, 7, or 9 masters. Found {len(masters)}"
    resolvers = values.get("resolvers")
    if not isinstance(resolvers, list) or not all(
        isinstance(r, str) and _ipv4(r.rsplit(":", 1)[0] if r.count(":") == 1 else r) for r in resolvers
    ):
        errors["resolvers"] = f"Must be a list of IPv4 addresses (optionally with :port), got {resolvers!r}"
    elif len(set(resolvers)) != len(resolvers):
        errors["resolvers"] = f"List cannot contain duplicates: {resolvers}"
    elif RESERVED_RESOLVERS & {r.split(":")[0] for r in resolvers}:
        errors["resolvers"] = "198.51.100.1-3 are reserved by DC/OS and cannot be resolvers"
    search = values.get("dns_search")
    if search is not None and (
        not isinstance(search, str) or any(c in search for c in ",\n") or len(search) >= 256
    ):
        errors["dns_search"] = "Must be a space-separated list of domains, under 256 characters"
    for key in ("oauth_enabled", "telemetry_enabled", "enable_ipv6", "dcos_l4lb_enable_ipv6"):
        if key in values and not isinstance(values[key], bool):
            errors[key] = f"Must be a boolean (true or false), got {values[key]!r}"
    if values.get("enable_ipv6") is False and values.get("dcos_l4lb_enable_ipv6") is not False:
        errors["dcos_l4lb_enable_ipv6"] = "Must be false when enable_ipv6 is false"
    for key in CALCULATED_KEYS & set(values):
        errors[key] = f"{key} must be calculated, but was explicitly set in the configuration"
    return errors


def validate(spec: DeploySpec, inventory: Cluster) -> None:
    """Everything checkable before a node is contacted: one bootstrap node, the master count, config.yaml."""
    bootstrap_node(inventory)
    if len(inventory.masters) not in MASTER_COUNTS[PlatformName.DCOS]:
        raise ConfigError(
            f"platform dcos needs 1, 3, 5, 7 or 9 masters, the inventory has {len(inventory.masters)}; "
            "set fastdata:nodes.master.count"
        )
    errors = config_errors(config_values(spec, inventory))
    if errors:
        raise ConfigError(
            "genconf/config.yaml would be refused by dcos_generate_config.sh:\n"
            + "\n".join(f"- {key}: {msg}" for key, msg in sorted(errors.items()))
            + "\nfix settings.dcos (resolvers, config) or the inventory; nothing was changed on any node"
        )


def config_yaml(values: Mapping[str, Any]) -> str:
    """One `key: value` line per key, each value in JSON (a subset of YAML), in a fixed order."""
    lines = "".join(f"{key}: {json.dumps(value)}\n" for key, value in values.items())
    return f"# Rendered by fastdata (roles/dcos.py): the DC/OS installer's configuration.\n{lines}"


def ip_detect(inventory: Cluster) -> str:
    master = first_node(inventory, FIRST_MASTER)
    return render(f"dcos-ip-detect-{inventory.cloud}.sh", master=master.private_ip)


def inputs_digest(config: str, script: str, installer_sha256: str) -> str:
    """What the generator's output depends on: a change in any re-runs it."""
    return hashlib.sha256(f"{config}\0{script}\0{installer_sha256}".encode()).hexdigest()


# --- planners --------------------------------------------------------------------------------------------


def plan_prerequisites(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """DC/OS' node prerequisites that apply to every node, the bootstrap node included."""

    def groups_judge(res: RunResult) -> Check:
        missing = [g for g in PREREQ_GROUPS if g not in res.stdout.split()]
        return Check(not missing, f"missing {', '.join(missing)}" if missing else "present")

    def groups_apply(r: Remote) -> None:
        r.run("; ".join(f"getent group {g} >/dev/null || groupadd {g}" for g in PREREQ_GROUPS))

    return [
        system_packages_op(
            "dcos-prerequisites",
            PREREQ_PACKAGES["apt"],
            PREREQ_PACKAGES["yum"],
            f"DC/OS prerequisites (curl, tar, xz, unzip, ipset, Docker) installed on {node.name}",
        ),
        probed(
            "dcos-groups",
            f"groups {' and '.join(PREREQ_GROUPS)} present on {node.name}",
            f"getent group {' '.join(PREREQ_GROUPS)} | cut -d: -f1",
            groups_judge,
            groups_apply,
        ),
        *(
            service_disabled_op(
                f"{unit.removesuffix('.service')}-disabled", unit, f"{unit} stopped on {node.name}"
            )
            for unit in DISABLED_UNITS
        ),
        service_op("docker-running", "docker.service", f"Docker running on {node.name}"),
        directory_op("artifact-dir", ARTIFACT_DIR),
    ]


def plan_bootstrap(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """genconf/, the generator run when its inputs changed, and genconf/serve published."""
    installer = spec.artifact(INSTALLER.name)
    config = config_yaml(config_values(spec, inventory))
    script = ip_detect(inventory)
    want = inputs_digest(config, script, installer.sha256)

    def generate(r: Remote) -> None:
        r.run(
            f"cd {DCOS_DIR} && bash {q(f'{ARTIFACT_DIR}/{installer.filename}')} --genconf && "
            f"echo {want} > {INPUTS_MARKER}",
            timeout=1800,
        )

    def link_judge(res: RunResult) -> Check:
        have = res.stdout.strip()
        return Check(have == SERVE_DIR, f"{SERVE_LINK} -> {have or 'missing'}")

    def link_apply(r: Remote) -> None:
        r.run(f"ln -sfn {SERVE_DIR} {SERVE_LINK}")

    return [
        directory_op("dcos-genconf-dir", GENCONF),
        file_op("dcos-config", f"genconf/config.yaml on {node.name}", f"{GENCONF}/config.yaml", config),
        file_op(
            "dcos-ip-detect", f"genconf/ip-detect ({inventory.cloud})", f"{GENCONF}/ip-detect", script, 0o755
        ),
        probed(
            "dcos-genconf",
            f"dcos_generate_config.sh {spec.versions.dcos} run for these inputs on {node.name}",
            f"cat {INPUTS_MARKER} 2>/dev/null || true",
            lambda res: _inputs_check(res.stdout.strip(), want),
            generate,
        ),
        probed(
            "dcos-serve-published",
            f"genconf/serve published at {bootstrap_url(inventory)}",
            f"readlink {SERVE_LINK} || true",
            link_judge,
            link_apply,
        ),
        upgrade_script_op(spec, inventory, node),
    ]


def _inputs_check(have: str, want: str) -> Check:
    if have == want:
        return Check(True, "genconf/serve is up to date with config.yaml, ip-detect and the installer")
    return Check(
        False, "genconf/serve missing" if not have else "config.yaml, ip-detect or installer changed"
    )


VERSION_MARK = "@@fastdata-roles"


def install_state(res: RunResult, want_version: str, role: str) -> tuple[str, str]:
    """(state, detail) from the version file and /etc/mesosphere/roles: installed | absent | upgrade |
    other-role | unfinished."""
    text, _, roles = res.stdout.partition(VERSION_MARK)
    roles_present = roles.split()
    try:
        have = str(json.loads(text).get("version", "")) if text.strip() else ""
    except (json.JSONDecodeError, AttributeError):
        have = ""
    if roles_present and role not in roles_present:
        return "other-role", f"installed as {', '.join(roles_present)}, want {role}"
    if not have:
        if roles_present:
            return "unfinished", f"dcos_install.sh ran ({role}) but {VERSION_FILE} is missing"
        return "absent", "DC/OS not installed"
    if have != want_version:
        return "upgrade", f"DC/OS {have} installed, want {want_version}"
    return "installed", f"DC/OS {have} installed as {role}"


def plan_install(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """`dcos_install.sh <role>` from the bootstrap URL, once; the version file decides (dcos-ansible).
    Another installed version is upgraded by the node's upgrade op (below), not reinstalled."""
    role = INSTALL_ROLES[node.role]
    want = spec.versions.dcos
    url = f"{bootstrap_url(inventory)}/dcos_install.sh"
    probe = f"cat {VERSION_FILE} 2>/dev/null; echo {VERSION_MARK}; ls {ROLES_DIR} 2>/dev/null; true"

    def state(res: RunResult) -> tuple[str, str]:
        current, detail = install_state(res, want, role)
        if current == "upgrade":  # installed, in this role: the upgrade op takes it to `want`
            return "installed", f"{detail} (upgraded by the node upgrade below)"
        return current, detail

    def act(r: Remote, state: str, detail: str) -> None:
        if state != "absent":
            raise OperationError(
                f"{detail} on {node.name}; dcos_install.sh refuses to run over an existing installation. "
                "See `journalctl -u dcos-download -u dcos-setup` (fab diagnose), then uninstall DC/OS on "
                "the node or replace the node, and re-run"
            )
        r.run(
            f"mkdir -p {INSTALL_DIR} && cd {INSTALL_DIR} && curl -fsS -o dcos_install.sh {q(url)} && "
            f"bash dcos_install.sh {role}",
            timeout=3600,
        )

    name = f"DC/OS {want} {role} on {node.name}"
    return [state_op("dcos-installed", name, probe, state, act), upgrade_op(spec, node)]


# --- upgrades (docs/reference/dcos-mesos.md 1.8) ------------------------------------------------------------
# The bootstrap node generates the node upgrade script for the installed version with the new installer
# and the same config.yaml / ip-detect; nodes run it masters first, one at a time, then agents one at a
# time (the upgrade handler, rolling), each gated on the script's own checks and the version it leaves.

UPGRADE_HANDLER = "upgrade-dcos"
SETUP_FLAGS = "/etc/mesosphere/setup-flags"  # repository-url: the bootstrap URL dcos_install.sh used
UPGRADE_MARK = "@@fastdata-upgrade"
VERSION_SED = r"""sed -n 's/.*"version": *"\([^"]*\)".*/\1/p'"""


def installed_version(text: str) -> str:
    try:
        return str(json.loads(text).get("version", "")) if text.strip() else ""
    except (json.JSONDecodeError, AttributeError):
        return ""


def upgrade_op(spec: DeploySpec, node: Node) -> Op:
    """The node runs versions.dcos; one running an older version is upgraded by UPGRADE_HANDLER (rolling:
    masters in their phase, then agents in theirs, one at a time)."""
    want = spec.versions.dcos

    def judge(res: RunResult) -> Check:
        have = installed_version(res.stdout)
        if not have or have == want:
            return Check(True, f"DC/OS {have or want} on {node.name}")
        if version_key(have) > version_key(want):
            return Check(False, f"DC/OS {have} installed is newer than {want}: a downgrade is not supported")
        return Check(False, f"DC/OS {have} installed, upgraded to {want}")

    def apply(r: Remote) -> None:  # by_restart: the handler upgrades it
        raise AssertionError("reached by the upgrade handler")

    op = probed(
        "dcos-upgraded",
        f"DC/OS {want} running on {node.name}",
        f"cat {VERSION_FILE} 2>/dev/null; true",
        judge,
        apply,
    )
    return replace(op, notify=(UPGRADE_HANDLER,), by_restart=True)


def upgrade_node(r: Remote) -> None:
    """Fetch the node upgrade script generated for the node's installed version from the bootstrap URL
    the node was installed from, and run it (it refuses a node on another version, and agents before the
    masters; it waits for the node's checks)."""
    r.run(
        f"have=$({VERSION_SED} {VERSION_FILE}); url=$(cat {SETUP_FLAGS}/repository-url); "
        f'mkdir -p {INSTALL_DIR} && cd {INSTALL_DIR} && echo "$have" > .upgraded-from && '
        'curl -fsS -o dcos_node_upgrade.sh "$url/upgrade/from-$have/dcos_node_upgrade.sh" && '
        "bash dcos_node_upgrade.sh",
        timeout=3600,
    )


def node_upgraded(r: Remote) -> Check:
    """The script exited 0 (its checks passed) and the node's version moved from what it was."""
    out = r.run(
        f"cat {INSTALL_DIR}/.upgraded-from 2>/dev/null; echo {UPGRADE_MARK}; {VERSION_SED} {VERSION_FILE}"
    )
    before, _, now = out.stdout.partition(f"{UPGRADE_MARK}\n")
    before, now = before.strip(), now.strip()
    return Check(bool(now) and now != before, f"DC/OS {now or '?'} (was {before or '?'})")


def upgrade_script_op(spec: DeploySpec, inventory: Cluster, node: Node) -> Op:
    """On the bootstrap node: a node upgrade script for every older version a master runs, generated by
    the new installer (`--generate-node-upgrade-script <installed>`) and published as
    serve/upgrade/from-<installed>/ (the generated folder's name is a uuid; dcos-terraform copies it to a
    fixed path the same way)."""
    installer = spec.artifact(INSTALLER.name)
    want = spec.versions.dcos
    urls = " ".join(
        q(f"http://{m.private_ip}:{ADMIN_ROUTER_PORT}/dcos-metadata/dcos-version.json")
        for m in inventory.masters
    )
    probe = (
        f'for u in {urls}; do curl -sS --max-time 10 "$u" 2>/dev/null | {VERSION_SED}; echo; done; '
        f"echo {UPGRADE_MARK}; ls {SERVE_DIR}/upgrade 2>/dev/null; true"
    )

    def missing(res: RunResult) -> list[str]:
        versions, _, links = res.stdout.partition(f"{UPGRADE_MARK}\n")
        have = {v for v in versions.split() if v != want and version_key(v) < version_key(want)}
        return sorted(v for v in have if f"from-{v}" not in links.split())

    def judge(res: RunResult) -> Check:
        todo = missing(res)
        if todo:
            return Check(False, f"no node upgrade script for {', '.join(todo)} -> {want}")
        return Check(True, f"node upgrade scripts for the masters' versions up to date (-> {want})")

    def apply(r: Remote) -> None:
        for have in missing(r.run(probe, check=False)):
            out = r.run(
                f"cd {DCOS_DIR} && bash {q(f'{ARTIFACT_DIR}/{installer.filename}')} "
                f"--generate-node-upgrade-script {q(have)}",
                timeout=1800,
            )
            m = re.search(r"Node upgrade script URL: \S*/upgrade/([^/\s]+)/dcos_node_upgrade.sh", out.stdout)
            if m is None:
                raise OperationError(
                    f"dcos_generate_config.sh --generate-node-upgrade-script {have} printed no upgrade "
                    f"script URL on {node.name}: {out.stdout.strip()[-300:]}"
                )
            r.run(f"ln -sfn {q(m.group(1))} {q(f'{SERVE_DIR}/upgrade/from-{have}')}")

    return probed("dcos-upgrade-script", f"DC/OS node upgrade script(s) to {want}", probe, judge, apply)


def upgrade_preflight(spec: DeploySpec, inventory: Cluster, remotes: Mapping[str, Remote]) -> list[str]:
    """`fab plan`/`deploy`: the DC/OS upgrade that will run, node by node in order; a downgrade or an
    unsupported path refused before anything changes."""
    nodes = [*inventory.masters, *inventory.agents, *inventory.public_agents]
    facts = upgrades.read_facts(nodes, remotes, f"cat {VERSION_FILE} 2>/dev/null; true")
    running = {name: installed_version(out or "") or None for name, out in facts.items()}
    want = spec.versions.dcos
    old = {v for v in running.values() if v and v != want}
    unsupported = sorted(v for v in old if version_key(v)[:2] not in ((2, 0), (2, 1), (2, 2)))
    if unsupported:
        raise ConfigError(
            f"DC/OS {', '.join(unsupported)} cannot be upgraded to {want} directly (DC/OS supports 2.0.x and "
            "2.1.x -> 2.2.x and patches within 2.2; nothing was changed on any node): upgrade in steps"
        )
    lines = upgrades.rollout(
        "DC/OS",
        want,
        running,
        [
            [n.name for n in inventory.masters],
            [n.name for n in (*inventory.agents, *inventory.public_agents)],
        ],
        ["masters", "agents"],
    )
    if lines:
        boot = bootstrap_node(inventory).name
        scripts = ", ".join(sorted(old, key=version_key))
        lines[0] = lines[0].replace(
            ": masters", f": {boot} generates the node upgrade script (from {scripts}); masters", 1
        )
    return lines


# --- packages: HDFS, Kafka and Spark through the package API (Cosmos) -----------------------------------

# The Universe versions tested against the package API double (docs/contracts.md, "The dcos platform"),
# in install order: Spark's options point at HDFS's endpoints.
PACKAGE_VERSIONS = {"hdfs": "2.8.0-3.2.1", "kafka": "2.10.0-2.4.0", "spark": "2.12.0-3.0.1"}
MEDIA = "application/vnd.dcos.package.{kind}+json;charset=utf-8;version={version}"
INSTALL_HEADERS = {
    "Content-Type": MEDIA.format(kind="install-request", version="v1"),
    "Accept": MEDIA.format(kind="install-response", version="v2"),
}
LIST_HEADERS = {
    "Content-Type": MEDIA.format(kind="list-request", version="v1"),
    "Accept": MEDIA.format(kind="list-response", version="v1"),
}
# Cosmos' service API (`dcos <package> update start --options` uses it) [media types unverified]
SERVICE_MEDIA = "application/vnd.dcos.service.{kind}+json;charset=utf-8;version=v1"
UPDATE_HEADERS = {
    "Content-Type": SERVICE_MEDIA.format(kind="update-request"),
    "Accept": SERVICE_MEDIA.format(kind="update-response"),
}
COSMOS_MARK = "@@fastdata-cosmos"
SERVICE_NAMES = {"hdfs": "hdfs", "kafka": "kafka", "spark": "spark"}
# Pod counts the packages' schedulers (dcos-commons) cannot lower: a running service only grows
# (PodSpecsCannotShrink); option path -> what it counts.
NO_SHRINK = {"kafka": (("brokers", "count"), "brokers"), "hdfs": (("data_node", "count"), "DataNodes")}


def cosmos_url(inventory: Cluster, action: str) -> str:
    """The package API through the first master's Admin Router (open: oauth_enabled is false)."""
    return f"http://{first_node(inventory, FIRST_MASTER).private_ip}:{ADMIN_ROUTER_PORT}/package/{action}"


def service_url(inventory: Cluster, action: str) -> str:
    return (
        f"http://{first_node(inventory, FIRST_MASTER).private_ip}:{ADMIN_ROUTER_PORT}/cosmos/service/{action}"
    )


def _at(options: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = options
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def option_changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """`a.b: x -> y` for every leaf option that differs (added or removed ones too)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += option_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return out


def applied_request(marker: str) -> dict[str, Any] | None:
    """The request last applied, as the marker keeps it (None: a marker of an earlier fastdata, which kept
    only its digest, or none)."""
    try:
        data = json.loads(marker)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def hdfs_endpoints(service: str) -> str:
    """The HDFS scheduler's endpoints (hdfs-site.xml, core-site.xml) on DC/OS' Marathon VIP
    [name pattern from the dcos-commons docs, unverified against a running DC/OS]."""
    return f"http://api.{service}.marathon.l4lb.thisdcos.directory/v1/endpoints"


def hdfs_root(inventory: Cluster) -> str:
    """What the demo's HDFS paths start with: the package's HA nameservice, named after the service, which
    the hdfs-site.xml from its endpoints resolves to the active NameNode [unverified against DC/OS]."""
    return f"hdfs://{SERVICE_NAMES['hdfs']}"


def package_options(spec: DeploySpec, inventory: Cluster) -> dict[str, dict[str, Any]]:
    """Options JSON per package (mesosphere/dcos-kafka-service, spark-build and dcos-commons' hdfs
    universe/config.json).

    Kafka: one broker per private agent on port 9092 (so the producer's and probe's bootstrap list, every
    agent's :9092, is the same as on the other platforms); the demo topic is created on first use with the
    spec's partitions, replication and min.insync.replicas as broker defaults. HDFS: a DataNode per private
    agent; the nodes' memory twice settings.hdfs' heaps (the package docs' rule: memory above the heap);
    permissions off (the package's default, said here: the demo's jobs create their tree without a chown).
    Spark: drivers and executors fetch HDFS's client config from its endpoints."""
    k, h = spec.kafka, spec.hdfs
    return {
        "hdfs": {
            "service": {"name": SERVICE_NAMES["hdfs"]},
            "name_node": {"mem": 2 * mb(h.namenode_heap)},
            "data_node": {"count": len(inventory.agents), "mem": 2 * mb(h.datanode_heap)},
            "hdfs": {"permissions_enabled": False},
        },
        "kafka": {
            "service": {"name": SERVICE_NAMES["kafka"]},
            "brokers": {"count": k.brokers, "port": 9092},
            "kafka": {
                "auto_create_topics_enable": True,
                "num_partitions": k.partitions,
                "default_replication_factor": k.replication_factor,
                "min_insync_replicas": k.min_insync_replicas,
            },
        },
        "spark": {
            "service": {"name": SERVICE_NAMES["spark"]},
            "hdfs": {"config-url": hdfs_endpoints(SERVICE_NAMES["hdfs"])},
        },
    }


def install_request(spec: DeploySpec, inventory: Cluster, package: str) -> dict[str, Any]:
    versions = {**PACKAGE_VERSIONS, **spec.dcos.package_versions}
    return {
        "packageName": package,
        "packageVersion": versions[package],
        "options": package_options(spec, inventory)[package],
    }


def cosmos_errors(resp: HttpResponse) -> str:
    """Cosmos' error body ({"type", "message", "data": {"errors": [...]}}) in one line."""
    data = resp.json()
    if not isinstance(data, dict):
        return resp.describe()
    details = "; ".join(
        f"{e.get('path', '?')}: {e.get('message', '')}" if isinstance(e, dict) else str(e)
        for e in (data.get("data") or {}).get("errors") or []
    )
    return f"HTTP {resp.status} {data.get('type', '')}: {data.get('message', '')}" + (
        f" ({details})" if details else ""
    )


def installed_packages(resp: HttpResponse) -> dict[str, str] | None:
    """appId -> "name version" from a /package/list answer; None when the answer is not a list."""
    data = resp.json()
    if resp.status != 200 or not isinstance(data, dict) or not isinstance(data.get("packages"), list):
        return None
    out = {}
    for p in data["packages"]:
        definition = (p.get("packageInformation") or {}).get("packageDefinition") or {}
        out[str(p.get("appId"))] = f"{definition.get('name')} {definition.get('version')}"
    return out


def package_state(res: RunResult, app_id: str, request: Mapping[str, Any]) -> tuple[str, str]:
    """(state, detail): installed | absent | changed | error, from the marker file (the request last
    applied) and /package/list; a changed state names the options that differ."""
    marker, _, listing = res.stdout.partition(f"{COSMOS_MARK}\n")
    resp = parse_http(RunResult(res.command, res.exit_code, listing, res.stderr))
    packages = installed_packages(resp)
    if packages is None:
        return "error", f"package API: {resp.describe()}"
    if app_id not in packages:
        return "absent", f"{app_id} not installed"
    applied = applied_request(marker)
    if applied != request:
        if not marker.strip():
            why = "by hand or by an earlier version"
        elif applied is None:
            why = "with other options"
        else:
            versions = [f"packageVersion: {applied.get('packageVersion')} -> {request.get('packageVersion')}"]
            changes = option_changes(applied.get("options") or {}, request.get("options") or {})
            why = (
                "with other options ("
                + "; ".join(
                    [
                        *(versions if applied.get("packageVersion") != request.get("packageVersion") else []),
                        *changes,
                    ]
                )
                + ")"
            )
        return "changed", f"{packages[app_id]} installed as {app_id} {why}; it needs an update"
    return "installed", f"{packages[app_id]} installed as {app_id} with these options"


def package_ops(spec: DeploySpec, inventory: Cluster, node: Node, package: str) -> list[Op]:
    request = install_request(spec, inventory, package)
    app_id = "/" + str(request["options"]["service"]["name"])
    path, marker = f"{PACKAGES_DIR}/{package}.json", f"{PACKAGES_DIR}/{package}.installed"
    update_path = f"{PACKAGES_DIR}/{package}.update.json"
    text = json.dumps(request, indent=2, sort_keys=True) + "\n"
    listing = json.dumps({"packageName": package})
    probe = f"cat {marker} 2>/dev/null; echo {COSMOS_MARK}; printf %s {q(listing)} | " + http_command(
        "POST", cosmos_url(inventory, "list"), "-", LIST_HEADERS
    )

    def update(r: Remote) -> None:
        """A changed request: the running service updated in place (Cosmos' service update, what `dcos
        <package> update start --options` does; its scheduler rolls the change), never reinstalled."""
        applied = applied_request(r.run(f"cat {marker} 2>/dev/null || true").stdout)
        if package in NO_SHRINK and applied is not None:
            where, what = NO_SHRINK[package]
            have, want = _at(applied.get("options") or {}, where), _at(request["options"], where)
            if isinstance(have, int) and isinstance(want, int) and want < have:
                raise OperationError(
                    f"the DC/OS {package} package runs {have} {what} and cannot remove any (its scheduler "
                    f"refuses a smaller {'.'.join(where)}: {have} -> {want}). Nothing was changed. Keep "
                    f"{have} (settings for {package}), or move the data off and reinstall {app_id}"
                )
        body = {
            "appId": app_id,
            "packageVersion": request["packageVersion"],
            "options": request["options"],
            "replace": True,  # the whole options document, as rendered: no stored option survives
        }
        r.put(json.dumps(body, indent=2, sort_keys=True).encode() + b"\n", update_path, 0o600)
        resp = http(r, "POST", service_url(inventory, "update"), update_path, UPDATE_HEADERS)
        if resp.status != 200:
            raise OperationError(
                f"the service API refused the update of {app_id}: {cosmos_errors(resp)}; the request is "
                f"{update_path} on {node.name}. Nothing was changed"
            )

    def act(r: Remote, state: str, detail: str) -> None:
        if state == "error":
            raise OperationError(f"{detail}; is the cluster up (fab status)?")
        if state == "changed":
            update(r)
        else:
            resp = http(r, "POST", cosmos_url(inventory, "install"), path, INSTALL_HEADERS)
            if resp.status != 200:
                raise OperationError(
                    f"the package API refused {package}: {cosmos_errors(resp)}; the request is {path} on "
                    f"{node.name} (`fab render` writes it too)"
                )
        r.run(f"cp {path} {marker}")  # the request applied: what the next run compares with

    return [
        file_op(f"{package}-install-request", f"{package} install request (options)", path, text),
        state_op(
            f"package:{package}",
            f"DC/OS package {package} installed",
            probe,
            lambda res: package_state(res, app_id, request),
            act,
        ),
    ]


def plan_packages(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """HDFS, Kafka and Spark installed through the package API, from the first master (the step places
    it), in PACKAGE_VERSIONS' order."""
    ops = [directory_op("dcos-packages-dir", PACKAGES_DIR, mode=0o755)]
    for package in PACKAGE_VERSIONS:
        ops += package_ops(spec, inventory, node, package)
    return ops


# --- demo: the mesos platform's Marathon apps on DC/OS's Marathon --------------------------------------


def plan_demo_pipeline_node(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """The base packages (Java for the processor's Spark), the connector jars and the files the producer
    and the processor's driver and executors run from, on every private agent, as on the mesos platform
    (DC/OS nodes get no base step). Whether the nodes can run them is the platform's preflight."""
    return [
        *common.base_ops(node, java=True),
        *spark.plan_connector(spec, inventory, node),
        *demo.plan_pipeline_node(spec, inventory, node),
    ]


def plan_demo_public_node(spec: DeploySpec, inventory: Cluster, node: Node) -> list[Op]:
    """The base packages, InfluxDB and the dashboard's files."""
    return [
        *common.base_ops(node, java=False),
        *demo.plan_public_node(spec, inventory, node),
    ]


# The Spark package's dispatcher behind Admin Router (what `dcos spark run` posts to); its drivers register
# with DC/OS' Mesos through the ZooKeeper every master runs (Exhibitor), on 2181.
def spark_dispatcher(inventory: Cluster) -> Dispatcher:
    service = SERVICE_NAMES["spark"]  # the package's Marathon app and Admin Router path
    master = first_node(inventory, FIRST_MASTER).private_ip
    return Dispatcher(f"http://{master}:{ADMIN_ROUTER_PORT}/service/{service}", mesos_master(inventory))


def mesos_master(inventory: Cluster) -> str:
    return "mesos://zk://" + ",".join(f"{m.private_ip}:2181" for m in inventory.masters) + "/mesos"


# DC/OS agents have libmesos from the mesos package under /opt/mesosphere [path unverified against DC/OS].
DCOS_LIBMESOS = "/opt/mesosphere/lib/libmesos.so"
HADOOP_CONF_DIR = "/opt/fastdata/hadoop-conf"  # the hdfs package's client config, for client-mode drivers


def hadoop_conf(inventory: Cluster) -> str:
    """The hdfs package's hdfs-site.xml and core-site.xml fetched from its endpoints (the nameservice)."""
    base = hdfs_endpoints(SERVICE_NAMES["hdfs"])
    fetch = " && ".join(
        f"curl -fsS -o {HADOOP_CONF_DIR}/{f} {q(f'{base}/{f}')}" for f in ("hdfs-site.xml", "core-site.xml")
    )
    return f"mkdir -p {HADOOP_CONF_DIR} && {fetch} && export HADOOP_CONF_DIR={HADOOP_CONF_DIR}"


PROCESSOR_JOB = mesos_job.JobPlatform(
    dispatcher=spark_dispatcher,
    libmesos=lambda spec: DCOS_LIBMESOS,
    hdfs_root=hdfs_root,
    mesos_master=mesos_master,
    hadoop_conf=hadoop_conf,
)
ENTRY_POINT_STEP, PROCESSOR_STEP = mesos_job.steps(PROCESSOR_JOB)


# --- readiness (DESIGN 6) ----------------------------------------------------------------------------


def versions_check(want: str, answers: Mapping[str, HttpResponse]) -> Check:
    """Every master's Admin Router serves dcos-version.json with the wanted version."""
    problems = []
    for name, resp in answers.items():
        data = resp.json()
        if resp.status != 200 or not isinstance(data, dict):
            problems.append(f"{name}: {resp.describe()}")
        elif data.get("version") != want:
            problems.append(f"{name}: version {data.get('version')}, want {want}")
    if problems:
        return Check(False, "; ".join(problems))
    return Check(True, f"DC/OS {want} on {len(answers)} master(s)")


def probe_versions(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    remote = remote_for(first_node(inventory, FIRST_MASTER))
    answers = {
        f"{m.name} ({m.private_ip})": http(
            remote, "GET", f"http://{m.private_ip}:{ADMIN_ROUTER_PORT}/dcos-metadata/dcos-version.json"
        )
        for m in inventory.masters
    }
    return versions_check(spec.versions.dcos, answers)


def exhibitor_check(inventory: Cluster, resp: HttpResponse) -> Check:
    """Exhibitor's cluster status: one entry per master, each `serving` (ZooKeeper quorum on DC/OS)."""
    data = resp.json()
    if resp.status != 200 or not isinstance(data, list):
        return Check(False, f"Exhibitor: {resp.describe()}")
    states = {str(e.get("hostname")): str(e.get("description")) for e in data if isinstance(e, dict)}
    problems = [
        f"{m.name} ({m.private_ip}) {states.get(m.private_ip, 'not in the ensemble')}"
        for m in inventory.masters
        if states.get(m.private_ip) != "serving"
    ]
    if problems:
        return Check(False, f"not serving: {'; '.join(problems)}; Exhibitor says {states or 'nothing'}")
    return Check(True, f"{len(states)} of {len(inventory.masters)} ZooKeeper members serving")


def probe_exhibitor(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    m = first_node(inventory, FIRST_MASTER)
    url = f"http://{m.private_ip}:{EXHIBITOR_PORT}/exhibitor/v1/cluster/status"
    return exhibitor_check(inventory, http(remote_for(m), "GET", url))


# The leading master's /master/slaves (the agent list of its state; Admin Router proxies the rest).
AGENTS_ENDPOINT = "/master/slaves"
probe_agents = agents_probe(AGENTS_ENDPOINT)


def probe_packages(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    """Each package listed by the package API and its scheduler app healthy in Marathon."""
    remote = remote_for(first_node(inventory, FIRST_MASTER))
    body = json.dumps({})
    listing = parse_http(
        remote.run(
            f"printf %s {q(body)} | "
            + http_command("POST", cosmos_url(inventory, "list"), "-", LIST_HEADERS),
            check=False,
            timeout=30,
        )
    )
    packages = installed_packages(listing)
    if packages is None:
        return Check(False, f"package API: {listing.describe()}")
    problems: list[str] = []
    healthy: list[str] = []
    for package in PACKAGE_VERSIONS:
        app_id = "/" + str(package_options(spec, inventory)[package]["service"]["name"])
        if app_id not in packages:
            problems.append(f"{package} not installed ({app_id} not in /package/list)")
            continue
        state = app_health(remote, f"{marathon_url(inventory)}/v2/apps{app_id}")
        (healthy if state.ok else problems).append(state.detail)
    return Check(not problems, "; ".join(problems) or "; ".join(healthy))


def hdfs_plan_check(inventory: Cluster, resp: HttpResponse) -> Check:
    """The HDFS scheduler's deploy plan (dcos-commons `GET /v1/plans/deploy`): COMPLETE, with a data
    step per private agent (the package's DataNodes, one per agent)."""
    data = resp.json()
    if resp.status != 200 or not isinstance(data, dict):
        return Check(False, f"HDFS scheduler: {resp.describe()}")
    phases = {str(p.get("name")): p for p in data.get("phases") or [] if isinstance(p, dict)}
    steps = phases.get("data", {}).get("steps") or []
    done = [s for s in steps if isinstance(s, dict) and s.get("status") == "COMPLETE"]
    want = len(inventory.agents)
    if data.get("status") != "COMPLETE" or len(done) < want:
        pending = [f"{n} {p.get('status')}" for n, p in phases.items() if p.get("status") != "COMPLETE"]
        return Check(
            False,
            f"HDFS deploy plan {data.get('status')}: {', '.join(pending) or 'all phases complete'}; "
            f"{len(done)} of {want} DataNodes deployed (the package places one per private agent)",
        )
    return Check(True, f"HDFS deploy plan COMPLETE: name nodes and {len(done)} DataNodes (every agent)")


def probe_hdfs(spec: DeploySpec, inventory: Cluster, remote_for: RemoteFor) -> Check:
    master = first_node(inventory, FIRST_MASTER)
    url = f"http://{master.private_ip}:{ADMIN_ROUTER_PORT}/service/{SERVICE_NAMES['hdfs']}/v1/plans/deploy"
    return hdfs_plan_check(inventory, http(remote_for(master), "GET", url))


PLATFORM = Platform(
    name=PlatformName.DCOS,
    steps=(
        Step("prerequisites", EVERY_NODE, plan_prerequisites),
        common.ARTIFACT_SERVER_STEP,
        Step("bootstrap", BOOTSTRAP, plan_bootstrap),
        Step("masters", EVERY_MASTER, plan_install),
        Step("agents", EVERY_AGENT_AND_PUBLIC_AGENT, plan_install),
        Step("packages", FIRST_MASTER, plan_packages),
        ENTRY_POINT_STEP,
        Step("demo", demo.PIPELINE_NODES, plan_demo_pipeline_node, when=demo_enabled),
        Step("demo", FIRST_PUBLIC_AGENT, plan_demo_public_node, when=demo_enabled),
        demo.APPS_STEP,
        PROCESSOR_STEP,
    ),
    handlers={
        **common.handlers(),
        UPGRADE_HANDLER: Handler(
            UPGRADE_HANDLER, "DC/OS node upgraded (rolling)", upgrade_node, node_upgraded, True, 3600
        ),
    },
    gates=(
        # DC/OS' own start-up after dcos_install.sh (dcos-setup, Exhibitor, Admin Router) takes minutes.
        Gate("platform up", "DC/OS version on every master", probe_versions, 900, after_phase="masters"),
        Gate("platform up", "Exhibitor serving on every master", probe_exhibitor, 600, after_phase="masters"),
        agents_gate("all agents joined", AGENTS_ENDPOINT, 600),
        *gate_group(
            "packages healthy",
            "packages",
            ("HDFS, Kafka and Spark packages installed and healthy", probe_packages, 900),
            ("HDFS deployed: name nodes and a DataNode on every agent", probe_hdfs, 900),
        ),
        *demo.gates(300, mesos_job.gate(PROCESSOR_JOB, 600)),
    ),
    units=(
        common.SERVER_UNIT,
        "docker.service",
        "dcos-download.service",
        "dcos-setup.service",
        "dcos-exhibitor.service",
        "dcos-mesos-master.service",
        "dcos-mesos-slave.service",
        "dcos-mesos-slave-public.service",
        "dcos-marathon.service",
        "dcos-adminrouter.service",
        "dcos-cosmos.service",
        influxdb.UNIT,
    ),
    configs=(
        GENCONF + "/config.yaml",
        GENCONF + "/ip-detect",
        "/etc/mesosphere",
        VERSION_FILE,
        PACKAGES_DIR,
        SUBMISSIONS_DIR,
    ),
    # Kafka comes from the DC/OS package: its jar bundle is not pushed to the bootstrap node.
    artifacts=(*common.SPARK_BUNDLES, *common.DEMO_BUNDLES, INSTALLER),
    validate=validate,
    batch_job=mesos_job.batch_job(PROCESSOR_JOB),
    # CentOS 7 (what DC/OS 2.2 supports) cannot run the demo: refused before anything changes
    preflight=upgrades.preflights(
        runtime.preflight(demo.PIPELINE_NODES, FIRST_PUBLIC_AGENT), upgrade_preflight
    ),
)
