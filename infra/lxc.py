"""LXC system containers as cluster nodes: the host-side mechanics behind the local cloud.

Everything here runs on the control machine (inside the Pulumi program for the pre-flight checks, inside
the dynamic-provider process for create/read/delete). Three pieces:

- the base image: a Debian 12 rootfs built once with debootstrap and cached under a directory named by
  the hash of its recipe, so a changed recipe builds a new base and an unchanged one is reused;
- the project bridge: a Linux bridge with the subnet's first address and a NAT rule so containers reach
  Debian's apt mirror and PyPI through the host; no DHCP (addresses are fixed in each container's config);
- nodes: overlay (copy-on-write) clones of the base with systemd and sshd, a user with the stack's SSH
  public key, and fresh SSH host keys that are read back so the inventory can pin them.

The dynamic providers (infra/lxc_provider.py) are thin wrappers over these functions; keeping the logic
here lets tests call it directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.errors import InfraError

LXC_PATH = Path(os.environ.get("FASTDATA_LXC_PATH", "/var/lib/lxc"))
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What every node needs before Fabric takes over: systemd as init, sshd, Python for ad-hoc checks, sudo,
# and the tools the roles' checks call (ip, ps, curl). Changing this list changes the recipe hash, so the
# next create builds a new base image.
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "iproute2",
    "iputils-ping",
    "ca-certificates",
    "python3",
    "sudo",
    "procps",
    "curl",
    "less",
    "rsync",
    "gnupg",
    "apt-transport-https",
)
# Commands run in the base rootfs (chroot) after debootstrap. Host keys are deleted so no two nodes share
# them: each node generates its own at creation. machine-id is emptied so systemd makes one per node.
BASE_SETUP = (
    "rm -f /etc/ssh/ssh_host_*",
    ": > /etc/machine-id",
    "rm -f /var/lib/dbus/machine-id",
    "systemctl enable ssh",
    # Services that make no sense in a container and only slow the boot down.
    "systemctl mask systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket "
    "systemd-networkd-wait-online.service getty@tty1.service",
    "apt-get clean",
)
BASE_RECIPE_VERSION = 1
MIN_FREE_GB = 8


class LocalHostError(InfraError, RuntimeError):
    """The control machine cannot run the local cloud; the message says what to do. An InfraError, so
    the program reports it in one message instead of a traceback."""


class LxcError(InfraError, RuntimeError):
    """A host command for the local cloud failed; the message carries the command, exit status, output
    tail and what to do next."""


@dataclass(frozen=True)
class NodeConfig:
    """What one container needs; every field is an input of the node resource."""

    container: str  # LXC container name, unique on the host (cluster name + node name)
    hostname: str  # the node's name inside the cluster (master-0, agent-1, ...)
    ip: str  # fixed address on the bridge
    prefix: int  # subnet prefix length
    gateway: str  # the bridge's own address
    bridge: str
    memory: str  # memory limit, e.g. "4G"
    ssh_user: str
    authorized_key: str  # the stack's SSH public key (OpenSSH format)
    base_dir: str  # cached base rootfs (parent of rootfs/)


# --- small process helpers ------------------------------------------------------------------------------


def _run(
    cmd: Sequence[str], *, check: bool = True, timeout: float = 600, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, input=input_text)
    except FileNotFoundError as exc:
        raise LocalHostError(
            f"'{cmd[0]}' is not installed; run ./scripts/setup.sh (it installs lxc, debootstrap and iptables)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise LxcError(
            f"'{' '.join(cmd)}' did not finish within {timeout:.0f}s; check what the host is busy with "
            "(load, disk, a hung mirror) and re-run the same pulumi command (finished nodes are kept)"
        ) from exc
    if check and proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip()[-1500:]
        raise LxcError(
            f"'{' '.join(cmd)}' exited {proc.returncode}: {tail}\n"
            "fix the cause shown above and re-run the same pulumi command (every step is retried)"
        )
    return proc


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock file: Pulumi creates nodes in parallel, and the base build, the bridge and
    iptables must be changed by one of them at a time (also across processes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- pre-flight --------------------------------------------------------------------------------------


def preflight(cache_dir: str | Path, min_free_gb: int = MIN_FREE_GB) -> None:
    """Fail early, before any resource exists, when this machine cannot run the local cloud."""
    problems = []
    if os.geteuid() != 0:
        problems.append(
            "the local cloud creates system containers and a bridge, which needs root: "
            "run pulumi as root (sudo -E)"
        )
    for tool, package in (
        ("lxc-start", "lxc"),
        ("debootstrap", "debootstrap"),
        ("iptables", "iptables"),
        ("ip", "iproute2"),
    ):
        if shutil.which(tool) is None:
            problems.append(f"'{tool}' is missing: run ./scripts/setup.sh (installs the '{package}' package)")
    if not Path("/sys/fs/cgroup").is_dir():
        problems.append("no cgroup filesystem at /sys/fs/cgroup: containers cannot be confined here")
    for where in (Path(cache_dir), LXC_PATH):
        probe = where if where.exists() else next((p for p in where.parents if p.exists()), Path("/"))
        free_gb = shutil.disk_usage(probe).free / 2**30
        if free_gb < min_free_gb:
            problems.append(
                f"only {free_gb:.1f} GB free under {probe} (needs {min_free_gb} GB for the base "
                "image and the nodes): free some space or set FASTDATA_CACHE/FASTDATA_LXC_PATH"
            )
    if problems:
        raise LocalHostError("this machine cannot run the local cloud:\n  - " + "\n  - ".join(problems))


# --- base image --------------------------------------------------------------------------------------


def base_recipe() -> dict[str, object]:
    return {
        "suite": SUITE,
        "mirror": MIRROR,
        "packages": list(BASE_PACKAGES),
        "setup": list(BASE_SETUP),
        "version": BASE_RECIPE_VERSION,
    }


def base_recipe_hash() -> str:
    return hashlib.sha256(json.dumps(base_recipe(), sort_keys=True).encode()).hexdigest()[:16]


def base_dir(cache_dir: str | Path) -> Path:
    # absolute: LXC resolves the overlay lower directory from its own working directory
    return Path(cache_dir).resolve() / "lxc" / f"debian-{SUITE}-{base_recipe_hash()}"


def ensure_base(cache_dir: str | Path, log: object = None) -> tuple[Path, float]:
    """Build the base rootfs unless the cached one for this recipe is complete.
    Returns its directory and the seconds spent building (0.0 when cached)."""
    target = base_dir(cache_dir)
    done = target / "READY"
    if done.exists():
        return target, 0.0
    with _locked(target.parent / f"{target.name}.lock"):
        if done.exists():  # another node's create built it while we waited
            return target, 0.0
        started = time.monotonic()
        staging = target.parent / f"{target.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                SUITE,
                str(staging / "rootfs"),
                MIRROR,
            ],
            timeout=1800,
        )
        for step in BASE_SETUP:
            _run(["chroot", str(staging / "rootfs"), "sh", "-c", step])
        (staging / "recipe.json").write_text(json.dumps(base_recipe(), indent=2))
        seconds = time.monotonic() - started
        (staging / "READY").write_text(f"built_seconds={seconds:.0f}\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        return target, seconds


# --- bridge ------------------------------------------------------------------------------------------


def gateway_of(subnet: str) -> str:
    return str(ipaddress.ip_network(subnet).network_address + 1)


def _nat_rule(subnet: str) -> list[str]:
    return [
        "POSTROUTING",
        "-s",
        subnet,
        "!",
        "-d",
        subnet,
        "-j",
        "MASQUERADE",
        "-m",
        "comment",
        "--comment",
        f"fastdata {subnet}",
    ]


def _forward_rules(bridge: str) -> list[list[str]]:
    return [
        ["FORWARD", "-i", bridge, "-j", "ACCEPT", "-m", "comment", "--comment", f"fastdata {bridge}"],
        ["FORWARD", "-o", bridge, "-j", "ACCEPT", "-m", "comment", "--comment", f"fastdata {bridge}"],
    ]


def bridge_exists(bridge: str) -> bool:
    return _run(["ip", "link", "show", "dev", bridge], check=False).returncode == 0


def ensure_bridge(bridge: str, subnet: str, lock_dir: str | Path) -> None:
    """Bridge up with the gateway address, forwarding on, NAT for traffic leaving the subnet. Idempotent."""
    net = ipaddress.ip_network(subnet)
    gw = f"{gateway_of(subnet)}/{net.prefixlen}"
    with _locked(Path(lock_dir) / "lxc" / "network.lock"):
        if not bridge_exists(bridge):
            _run(["ip", "link", "add", "name", bridge, "type", "bridge"])
        addrs = _run(["ip", "-o", "-4", "addr", "show", "dev", bridge]).stdout
        if f" {gw} " not in addrs:
            _run(["ip", "addr", "add", gw, "dev", bridge])
        _run(["ip", "link", "set", bridge, "up"])
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        rules = [("nat", _nat_rule(subnet))] + [("filter", r) for r in _forward_rules(bridge)]
        for table, rule in rules:
            if _run(["iptables", "-t", table, "-C", *rule], check=False).returncode != 0:
                _run(["iptables", "-t", table, "-I" if table == "filter" else "-A", *rule])


def remove_bridge(bridge: str, subnet: str, lock_dir: str | Path) -> None:
    """Undo ensure_bridge. Refuses while containers are still attached (they would lose their network)."""
    with _locked(Path(lock_dir) / "lxc" / "network.lock"):
        if bridge_exists(bridge):
            ports = _run(["ip", "-o", "link", "show", "master", bridge]).stdout.strip()
            if ports:
                raise LxcError(
                    f"bridge {bridge} still has interfaces attached ({len(ports.splitlines())}); "
                    f"destroy the containers on it first (`lxc-ls --fancy` lists them; "
                    "`pulumi destroy --stack local` removes the stack's own)"
                )
            _run(["ip", "link", "del", bridge])
        rules = [("nat", _nat_rule(subnet))] + [("filter", r) for r in _forward_rules(bridge)]
        for table, rule in rules:
            while _run(["iptables", "-t", table, "-C", *rule], check=False).returncode == 0:
                _run(["iptables", "-t", table, "-D", *rule])


# --- nodes ---------------------------------------------------------------------------------------------


def _container_dir(container: str) -> Path:
    return LXC_PATH / container


def container_exists(container: str) -> bool:
    return (_container_dir(container) / "config").exists()


def _mac_for(container: str) -> str:
    digest = hashlib.sha256(container.encode()).digest()
    # locally administered unicast prefix 02:..; stable per container name
    return "02:fd:" + ":".join(f"{b:02x}" for b in digest[:4])


def render_config(cfg: NodeConfig) -> str:
    """The LXC config of a node: an overlay clone of the base rootfs on the project bridge."""
    cdir = _container_dir(cfg.container)
    apparmor = Path("/sys/module/apparmor/parameters/enabled")
    profile = "generated" if apparmor.exists() and apparmor.read_text().strip() == "Y" else "unconfined"
    return "\n".join(
        [
            "# Written by fastdata (infra/lxc.py); changes are overwritten.",
            "lxc.include = /usr/share/lxc/config/common.conf",
            "lxc.arch = linux64",
            f"lxc.uts.name = {cfg.hostname}",
            f"lxc.rootfs.path = overlay:{cfg.base_dir}/rootfs:{cdir}/delta0",
            f"lxc.apparmor.profile = {profile}",
            # systemd inside needs to see (and manage) its own cgroups
            "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
            "lxc.autodev = 1",
            "lxc.net.0.type = veth",
            f"lxc.net.0.link = {cfg.bridge}",
            "lxc.net.0.flags = up",
            f"lxc.net.0.hwaddr = {_mac_for(cfg.container)}",
            f"lxc.net.0.ipv4.address = {cfg.ip}/{cfg.prefix}",
            f"lxc.net.0.ipv4.gateway = {cfg.gateway}",
            _memory_limit_line(cfg.memory),
            "",
        ]
    )


def _memory_limit_line(memory: str) -> str:
    # cgroup v2 hosts use memory.max; v1/hybrid hosts (like this project's CI machines) limit_in_bytes
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return f"lxc.cgroup2.memory.max = {memory}"
    return f"lxc.cgroup.memory.limit_in_bytes = {memory}"


def _host_nameservers() -> list[str]:
    servers = re.findall(r"^nameserver\s+(\S+)", Path("/etc/resolv.conf").read_text(), re.M)
    return [s for s in servers if not s.startswith("127.")] or ["1.1.1.1"]


def attach(container: str, script: str, timeout: float = 300) -> str:
    """Run a shell script inside a running container as root; returns stdout."""
    return _run(
        [
            "lxc-attach",
            "-n",
            container,
            "--clear-env",
            "--set-var",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "--",
            "sh",
            "-euc",
            script,
        ],
        timeout=timeout,
    ).stdout


def _wait_booted(container: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        proc = _run(["lxc-attach", "-n", container, "--", "systemctl", "is-system-running"], check=False)
        last = proc.stdout.strip()
        if last in ("running", "degraded"):
            return
        time.sleep(1)
    raise LxcError(
        f"container {container} did not finish booting within {timeout:.0f}s "
        f"(systemd state: {last or 'unknown'}); see: lxc-attach -n {container} -- journalctl -b"
    )


def _write_node_files(cfg: NodeConfig, upper: Path) -> None:
    """Files the node needs before its first boot, written into its overlay upper directory: identity,
    name resolution and fresh SSH host keys (so sshd starts at boot, and we know the keys already)."""
    etc = upper / "etc"
    (etc / "ssh" / "sshd_config.d").mkdir(parents=True, exist_ok=True)
    (etc / "hostname").write_text(f"{cfg.hostname}\n")
    (etc / "hosts").write_text(f"127.0.0.1 localhost\n{cfg.ip} {cfg.hostname}\n")
    (etc / "resolv.conf").write_text("".join(f"nameserver {ns}\n" for ns in _host_nameservers()))
    (etc / "ssh" / "sshd_config.d" / "fastdata.conf").write_text(
        "# fastdata: keys only\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
    )
    # Trust the CAs the control machine added locally (a corporate TLS proxy, say), so apt, pip and curl
    # on the nodes work wherever they work on the control machine.
    extra_cas = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    if extra_cas:
        (upper / "usr" / "local" / "share" / "ca-certificates").mkdir(parents=True, exist_ok=True)
        for ca in extra_cas:
            shutil.copy2(ca, upper / "usr" / "local" / "share" / "ca-certificates" / ca.name)
    for keytype in ("ed25519", "ecdsa", "rsa"):
        key = etc / "ssh" / f"ssh_host_{keytype}_key"
        for stale in (key, key.with_name(key.name + ".pub")):
            stale.unlink(missing_ok=True)
        _run(["ssh-keygen", "-q", "-t", keytype, "-N", "", "-C", f"root@{cfg.hostname}", "-f", str(key)])


def user_setup_script(cfg: NodeConfig) -> str:
    """The admin user with the stack's public key and password-less sudo (Fabric runs as this user)."""
    user = cfg.ssh_user
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user):
        raise LxcError(
            f"invalid ssh user name {user!r}: set fastdata:sshUser to lower-case letters, digits, '-' and '_'"
        )
    home = "/root" if user == "root" else f"/home/{user}"
    key = cfg.authorized_key.strip().replace("'", "")
    return f"""
if [ "{user}" != root ]; then
  id -u {user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {user}
  printf '{user} ALL=(ALL) NOPASSWD:ALL\\n' > /etc/sudoers.d/90-fastdata
  chmod 0440 /etc/sudoers.d/90-fastdata
fi
install -d -m 0700 -o {user} -g {user} {home}/.ssh
printf '%s\\n' '{key}' > {home}/.ssh/authorized_keys
chown {user}:{user} {home}/.ssh/authorized_keys
chmod 0600 {home}/.ssh/authorized_keys
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then update-ca-certificates >/dev/null; fi
systemctl is-active --quiet ssh || (systemctl reset-failed ssh; systemctl start ssh)
"""


def read_host_key(container: str) -> str:
    """The node's ed25519 host public key as 'ssh-ed25519 AAAA...' (what known_hosts pins), read from the
    running container (so a container re-created by hand is noticed by its new key)."""
    line = attach(container, "cat /etc/ssh/ssh_host_ed25519_key.pub").strip()
    keytype, key = line.split()[:2]
    return f"{keytype} {key}"


def stored_host_key(container: str) -> str | None:
    """The host key in the node's own layer, readable whether or not the container runs."""
    pub = _container_dir(container) / "delta0" / "etc" / "ssh" / "ssh_host_ed25519_key.pub"
    if not pub.exists():
        return None
    keytype, key = pub.read_text().split()[:2]
    return f"{keytype} {key}"


def create_node(cfg: NodeConfig) -> str:
    """Create and start a node; returns its host key. A half-created container of the same name (from an
    interrupted run) is removed first, so create can be retried."""
    if container_exists(cfg.container):
        delete_node(cfg.container)
    cdir = _container_dir(cfg.container)
    (cdir / "delta0").mkdir(parents=True, exist_ok=True)
    (cdir / "config").write_text(render_config(cfg))
    try:
        _write_node_files(cfg, cdir / "delta0")
        _run(["lxc-start", "-n", cfg.container, "-l", "INFO", "-o", str(cdir / "lxc.log")], timeout=120)
        _wait_booted(cfg.container)
        attach(cfg.container, user_setup_script(cfg))
        return read_host_key(cfg.container)
    except (LxcError, LocalHostError) as exc:
        log = cdir / "lxc.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no lxc log)"
        delete_node(cfg.container)
        raise LxcError(
            f"{exc}\n--- lxc log of {cfg.container} (container removed; re-run to retry) ---\n{tail}"
        ) from exc


def delete_node(container: str) -> None:
    """Stop and remove a container; a missing one is fine (delete is idempotent)."""
    if not container_exists(container):
        shutil.rmtree(_container_dir(container), ignore_errors=True)
        return
    _run(["lxc-stop", "-n", container, "-k"], check=False, timeout=60)
    proc = _run(["lxc-destroy", "-n", container], check=False, timeout=120)
    if proc.returncode != 0 and container_exists(container):
        raise LxcError(
            f"could not destroy container {container}: {(proc.stdout + proc.stderr).strip()}; "
            f"stop it by hand (lxc-stop -n {container} -k; lxc-destroy -n {container}) and re-run"
        )
    shutil.rmtree(_container_dir(container), ignore_errors=True)
