"""The executor and StrictConnection against REAL sshd processes (one per 127.0.0.x "node").

Each node is an unprivileged-style `sshd -D` on a loopback address with its own generated host key; the
ops touch only a per-node directory under the test's tmp dir. Proves: converge then 0 changes, host-key
rejection (changed and unknown), an unreachable node named in the error, a node lost mid-deploy, and a
resume that does not redo finished work.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import Cluster as Inventory
from contract import Node, Role
from roles.engine.connection import Remote
from roles.engine.executor import Check, Executor, Handler, Op, Platform, Progress, Step
from roles.engine.inventory import parse_inventory
from roles.engine.ops import directory_op, file_op
from roles.engine.placement import EVERY_AGENT, every
from roles.engine.spec import DeploySpec as Settings
from roles.errors import HostKeyRejected
from roles.tasks import connect_all

pytestmark = pytest.mark.integration

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
NODES = [
    ("master-0", "master", "127.0.0.21"),
    ("agent-0", "agent", "127.0.0.22"),
    ("agent-1", "agent", "127.0.0.23"),
    ("agent-2", "agent", "127.0.0.24"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


class Sshd:
    """One sshd process for one node; `kill()` severs it and every session it spawned."""

    def __init__(self, root: Path, name: str, ip: str, port: int, authorized: Path) -> None:
        self.root, self.name, self.ip, self.port = root / name, name, ip, port
        self.root.mkdir(parents=True, exist_ok=True)
        self.hostkey = self.root / "hostkey"
        _keygen(self.hostkey)
        self.config = self.root / "sshd_config"
        self.config.write_text(
            f"Port {port}\nListenAddress {ip}\nHostKey {self.hostkey}\nAuthorizedKeysFile {authorized}\n"
            f"UsePAM no\nStrictModes no\nPermitRootLogin yes\nPasswordAuthentication no\n"
            f"PidFile {self.root}/pid\nMaxStartups 50\nSubsystem sftp internal-sftp\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        os.makedirs("/run/sshd", exist_ok=True)
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "log", "ab"),  # noqa: SIM115  (sshd keeps writing after this returns)
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.ip, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd for {self.name} did not start; see {self.root}/log")

    def host_key_line(self) -> str:
        keytype, b64 = Path(f"{self.hostkey}.pub").read_text().split()[:2]
        return f"{self.ip} {keytype} {b64}"

    def kill(self) -> None:
        """SIGKILL the listener and its session processes (the whole session we started it in)."""
        if self.proc is not None and self.proc.poll() is None:
            pids = _descendants(self.proc.pid)
            for pid in [self.proc.pid, *pids]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.userkey = root / "userkey"
        _keygen(self.userkey)
        authorized = root / "authorized_keys"
        shutil.copy(f"{self.userkey}.pub", authorized)
        self.port = _free_port()
        self.sshd = {name: Sshd(root, name, ip, self.port, authorized) for name, _, ip in NODES}
        self.data = root / "state"

    def inventory(
        self, known_hosts: str | None = None, nodes: list[tuple[str, str, str]] | None = None
    ) -> Inventory:
        kh = (
            known_hosts
            if known_hosts is not None
            else "\n".join(s.host_key_line() for s in self.sshd.values())
        )
        return parse_inventory(
            {
                "name": "sshd-test",
                "cloud": "local",
                "platform": "standalone",
                "ssh": {
                    "user": "root",
                    "port": self.port,
                    "privateKey": self.userkey.read_text(),
                    "knownHosts": kh,
                },
                "nodes": [
                    {"name": n, "role": r, "privateIp": ip, "publicIp": None} for n, r, ip in (nodes or NODES)
                ],
                "endpoints": {"masters": [], "publicAgents": [], "bootstrap": None},
                "settings": {"demo": {"enabled": False}},
            }
        )


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Four real sshd 'nodes' on 127.0.0.21-24, same port, each with its own host key."""
    if not os.path.exists(SSHD):
        pytest.fail("sshd is missing: run ./scripts/setup.sh (apt package openssh-server)")
    c = Cluster(tmp_path)
    for s in c.sshd.values():
        s.start()
    yield c
    for s in c.sshd.values():
        s.kill()


def _test_platform(state: Path, slow_host: str | None = None, pause: Path | None = None) -> Platform:
    """Three phases of file/dir ops in a per-node directory; one restart handler, counted."""

    def base(settings: Settings, inv: Inventory, node: Node) -> list[Op]:
        d = f"{state}/{node.name}"
        return [
            directory_op("dir", d),
            file_op(
                "conf",
                f"config on {node.name}",
                f"{d}/app.conf",
                f"node={node.name}\n",
                notify=["restart-app"],
            ),
        ]

    def agents(settings: Settings, inv: Inventory, node: Node) -> list[Op]:
        d = f"{state}/{node.name}"
        ops = [file_op("agent-a", f"agent file a on {node.name}", f"{d}/a", "a\n")]
        if pause is not None and node.name == slow_host:
            ops.append(_wait_for_file_op(pause, f"{d}/slow-done"))
        ops.append(file_op("agent-b", f"agent file b on {node.name}", f"{d}/b", "b\n"))
        return ops

    def restart(r: Remote) -> None:
        r.run(f"echo restarted >> {state}/{r.node.name}/restarts")

    return Platform(
        name="test",
        steps=(
            Step("prerequisites", every(Role.MASTER, Role.AGENT), base),
            Step("agents", EVERY_AGENT, agents),
        ),
        handlers={
            "restart-app": Handler(
                "restart-app", "app restarted", restart, lambda r: Check(True, "up"), rolling=True
            )
        },
    )


def _wait_for_file_op(signal_file: Path, done: str) -> Op:
    """An op whose apply blocks until the test creates signal_file (so the test can cut the node off)."""

    def check(r: Remote) -> Check:
        ok = r.run(f"test -f {done}", check=False).ok
        return Check(ok, "done" if ok else "not done")

    def apply(r: Remote) -> None:
        r.run(
            f"touch {signal_file}.started; while [ ! -f {signal_file} ]; do sleep 0.1; done; touch {done}",
            timeout=30,
        )

    return Op("slow", "slow step done", check, apply)


def _deploy(inv: Inventory, platform: Platform) -> tuple[int, list[str], object]:
    progress = Progress(quiet=True)
    remotes, conn = connect_all(inv, progress)
    try:
        failed = [r for r in conn if r.status == "failed"]
        if failed:
            return -1, [r.detail for r in failed], None
        ex = Executor(platform, {}, inv, remotes, progress, health_interval=0.1)
        try:
            report = ex.run()
        finally:
            ex.close()
        return report.changes, [], report
    finally:
        for r in remotes.values():
            r.close()


def test_converges_then_reports_zero_changes(cluster: Cluster) -> None:
    """First run changes every op on every node (+ restarts); the second run changes nothing."""
    platform = _test_platform(cluster.data)
    inv = cluster.inventory()
    t0 = time.monotonic()
    changes, errors, _ = _deploy(inv, platform)
    first = time.monotonic() - t0
    assert errors == []
    # 4 nodes x (dir, conf) + 3 agents x (a, b) + 4 restarts
    assert changes == 8 + 6 + 4
    t0 = time.monotonic()
    changes2, errors2, _ = _deploy(inv, platform)
    second = time.monotonic() - t0
    assert (changes2, errors2) == (0, [])
    assert (cluster.data / "agent-1" / "restarts").read_text() == "restarted\n"  # restart ran exactly once
    print(f"first run {first:.2f}s, no-op re-run {second:.2f}s")


def test_changed_host_key_is_refused_naming_the_node(cluster: Cluster) -> None:
    """A node whose key differs from the pinned one is refused, with the node and the fix in the message."""
    other = cluster.root / "otherkey"
    _keygen(other)
    keytype, b64 = Path(f"{other}.pub").read_text().split()[:2]
    lines = [s.host_key_line() for s in cluster.sshd.values()]
    lines[2] = f"127.0.0.23 {keytype} {b64}"  # agent-1's pin is now wrong
    changes, errors, _ = _deploy(cluster.inventory("\n".join(lines)), _test_platform(cluster.data))
    assert changes == -1 and len(errors) == 1
    assert "agent-1" in errors[0] and "CHANGED" in errors[0] and "pulumi refresh && pulumi up" in errors[0]
    assert not (cluster.data / "agent-1").exists()


def test_unknown_key_type_is_refused(cluster: Cluster) -> None:
    """Only a key of another type pinned: refused (paramiko compares against the pin), never learned."""
    lines = [s.host_key_line() for s in cluster.sshd.values()]
    other = cluster.root / "rsakey"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(other)], check=True)
    keytype, b64 = Path(f"{other}.pub").read_text().split()[:2]
    lines[0] = f"127.0.0.21 {keytype} {b64}"
    with pytest.raises(HostKeyRejected, match=r"^master-0 .*(UNKNOWN|CHANGED).*pulumi refresh"):
        from roles.engine.connection import connect, load_private_key

        inv = cluster.inventory("\n".join(lines))
        connect(inv, inv.node("master-0"), load_private_key(inv.ssh.private_key))


def test_unreachable_node_is_named(cluster: Cluster) -> None:
    """A node with no sshd gives an error naming it; the other nodes still connect."""
    cluster.sshd["agent-2"].kill()
    changes, errors, _ = _deploy(cluster.inventory(), _test_platform(cluster.data))
    assert changes == -1 and len(errors) == 1
    assert errors[0].startswith("agent-2 (127.0.0.24:")


def test_node_lost_mid_deploy_then_resume(cluster: Cluster) -> None:
    """agent-1 dies during an op: the error names host + op, others finish; re-run redoes nothing done."""
    from roles.engine.executor import DeployFailed

    gate = cluster.root / "gate"
    platform = _test_platform(cluster.data, slow_host="agent-1", pause=gate)
    inv = cluster.inventory()
    progress = Progress(quiet=True)
    remotes, _ = connect_all(inv, progress)
    ex = Executor(platform, {}, inv, remotes, progress, health_interval=0.1)

    import threading

    def cut() -> None:
        deadline = time.monotonic() + 20
        while not Path(f"{gate}.started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        cluster.sshd["agent-1"].kill()

    t = threading.Thread(target=cut)
    t.start()
    with pytest.raises(DeployFailed) as info:
        ex.run()
    t.join()
    ex.close()
    for r in remotes.values():
        r.close()
    msg = str(info.value)
    print(msg)
    print([(r.host, r.key, r.status, round(r.seconds, 1)) for r in info.value.report.results])
    assert "host agent-1, op 'slow step done'" in msg
    assert "agent-0" in msg and "agent-2" in msg  # their results are kept and reported
    report = info.value.report
    done_elsewhere = {(r.host, r.key) for r in report.results if r.status == "changed"}
    assert ("agent-0", "agent-b") in done_elsewhere and ("agent-2", "agent-b") in done_elsewhere

    # The node comes back: the re-run finishes agent-1's remaining work and nothing else.
    gate.touch()
    cluster.sshd["agent-1"].start()
    _, errors, report2 = _deploy(inv, platform)
    assert errors == []
    changed = sorted((r.host, r.key) for r in report2.results if r.status == "changed")  # type: ignore[attr-defined]
    assert changed == [("agent-1", "agent-b"), ("agent-1", "slow")]
