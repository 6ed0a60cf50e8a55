"""The local cloud for real: `pulumi up` on a local stack creates LXC nodes that answer SSH with the
stack key under strict host-key checking, re-runs change nothing, a node deleted by hand comes back
with a new pinned key, and destroy leaves nothing behind that breaks the next `up`.

Uses its own stack (`it-local`), bridge and subnet so it never touches a user's `local` stack."""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from tests.cluster import inventory as stack_inventory
from tests.cluster import pulumi as cluster_pulumi
from tests.cluster import throwaway_stack
from tests.helpers import report

pytestmark = pytest.mark.integration

STACK = "it-local"
BRIDGE = "fdit0"
SUBNET = "10.98.7.0/24"
PREFIX = f"fastdata-{STACK}-"


def pulumi(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return cluster_pulumi(STACK, *args, check=check)


def containers() -> dict[str, str]:
    """Our test stack's containers and their states."""
    out = subprocess.run(["lxc-ls", "-f", "-F", "NAME,STATE"], capture_output=True, text=True, check=True)
    rows = [line.split() for line in out.stdout.splitlines()[1:] if line.strip()]
    return {name: state for name, state in rows if name.startswith(PREFIX)}


def inventory() -> dict:
    return stack_inventory(STACK)


def ssh_run(cluster: dict, address: str, command: str, known_hosts: str | None = None) -> str:
    """Connect like Fabric does in fastdata: only the inventory's known_hosts, unknown keys rejected."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    hosts = client.get_host_keys()
    for line in (cluster["ssh"]["knownHosts"] if known_hosts is None else known_hosts).splitlines():
        entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
        if entry:
            for name in entry.hostnames:
                hosts.add(name, entry.key.get_name(), entry.key)
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(cluster["ssh"]["privateKey"]))
    try:
        client.connect(
            address,
            port=cluster["ssh"]["port"],
            username=cluster["ssh"]["user"],
            pkey=key,
            look_for_keys=False,
            allow_agent=False,
            timeout=15,
        )
        _, stdout, _ = client.exec_command(command, timeout=30)
        return stdout.read().decode().strip()
    finally:
        client.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[dict]:
    with throwaway_stack(STACK, {"local": {"bridge": BRIDGE, "subnet": SUBNET}}, up=False):
        started = time.monotonic()
        pulumi("up", "--yes", "--skip-preview")
        first_up = time.monotonic() - started
        state = json.loads(pulumi("stack", "export").stdout)["deployment"]["resources"]
        base = max((r.get("outputs", {}).get("base_build_seconds") or 0) for r in state)
        report(f"first pulumi up (5 nodes): {first_up:.1f}s, of which base image build: {base}s (0 = cached)")
        yield {"first_up_seconds": first_up}


def test_up_creates_five_running_nodes_reachable_with_pinned_host_keys(stack: dict) -> None:
    states = containers()
    assert sorted(states) == sorted(
        PREFIX + n for n in ("master-0", "agent-0", "agent-1", "agent-2", "public-agent-0")
    )
    assert set(states.values()) == {"RUNNING"}
    cluster = inventory()
    assert [n["role"] for n in cluster["nodes"]] == ["master", "agent", "agent", "agent", "publicAgent"]
    for node in cluster["nodes"]:
        assert ssh_run(cluster, node["privateIp"], "hostname") == node["name"]
        assert ssh_run(cluster, node["privateIp"], "systemctl is-system-running") in ("running", "degraded")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        ssh_run(cluster, cluster["nodes"][0]["privateIp"], "true", known_hosts="")


def test_second_up_changes_nothing(stack: dict) -> None:
    started = time.monotonic()
    pulumi("preview", "--expect-no-changes")
    up = pulumi("up", "--yes", "--skip-preview", "--expect-no-changes")
    report(f"warm no-op pulumi preview + up: {time.monotonic() - started:.1f}s")
    assert re.search(r"\d+ unchanged", up.stdout)


def test_node_deleted_by_hand_comes_back_with_a_new_pinned_key(stack: dict) -> None:
    before = inventory()
    victim = next(n for n in before["nodes"] if n["name"] == "agent-1")
    subprocess.run(["lxc-stop", "-k", "-n", PREFIX + "agent-1"], check=True, capture_output=True)
    subprocess.run(["lxc-destroy", "-n", PREFIX + "agent-1"], check=True, capture_output=True)

    refresh = pulumi("refresh", "--yes", "--skip-preview")
    assert "1 deleted" in refresh.stdout, refresh.stdout
    pulumi("up", "--yes", "--skip-preview")
    after = inventory()

    assert containers()[PREFIX + "agent-1"] == "RUNNING"

    def pin(cluster: dict) -> str:
        return next(
            ln for ln in cluster["ssh"]["knownHosts"].splitlines() if ln.startswith(victim["privateIp"] + " ")
        )

    old_line, new_line = pin(before), pin(after)
    assert old_line != new_line, "the re-created node must have a new host key"
    assert ssh_run(after, victim["privateIp"], "hostname") == "agent-1"
    with pytest.raises(paramiko.SSHException):  # the old pin no longer matches: refused, not trusted
        ssh_run(after, victim["privateIp"], "true", known_hosts=before["ssh"]["knownHosts"])
    pulumi("preview", "--expect-no-changes")


def test_destroy_leaves_nothing_that_breaks_the_next_up(stack: dict) -> None:
    pulumi("destroy", "--yes", "--skip-preview")
    assert containers() == {}
    assert not Path(f"/sys/class/net/{BRIDGE}").exists(), "bridge left behind"
    nat = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
    assert f"fastdata {SUBNET}" not in nat, "NAT rule left behind"
    leftovers = [p.name for p in Path("/var/lib/lxc").glob(PREFIX + "*")]
    assert leftovers == []

    pulumi("up", "--yes", "--skip-preview")
    assert len(containers()) == 5
    cluster = inventory()
    assert ssh_run(cluster, cluster["nodes"][-1]["privateIp"], "hostname") == "public-agent-0"


def test_plain_outputs_need_no_secrets(stack: dict) -> None:
    """`pulumi stack output` shows the dashboard URL without --show-secrets; the JSON without it carries no
    key material (only `cluster` and `sshPrivateKey` are secret)."""
    table = pulumi("stack", "output").stdout
    public_agent = SUBNET.rsplit(".", 1)[0] + ".80"
    assert f"http://{public_agent}/" in table
    outputs = json.loads(pulumi("stack", "output", "--json").stdout)
    assert outputs["dashboardUrl"] == f"http://{public_agent}/"
    assert outputs["cluster"] == "[secret]" and outputs["sshPrivateKey"] == "[secret]"
    assert outputs["sshCommand"].endswith(f"root@{SUBNET.rsplit('.', 1)[0]}.10")
    assert "PRIVATE KEY" not in json.dumps(outputs)
