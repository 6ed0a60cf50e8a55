"""The drain guard's record reader against real sshd nodes: pinned host key, the admin key, the record
read (or refused on a changed host key). The check itself is tested under mocks (tests/infra)."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from infra import drain_guard
from tests.integration.test_engine_sshd import Cluster, cluster  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def _props(c: Cluster, marker: Path, host_key: str | None = None) -> dict:
    agents = [
        {"name": name, "address": s.ip, "host_key": host_key or " ".join(s.host_key_line().split()[1:])}
        for name, s in c.sshd.items()
        if name.startswith("agent-")
    ]
    login = {"user": "root", "port": c.port, "private_key": c.userkey.read_text()}
    return {"agents": agents, "login": login, "marker": str(marker), "stack": "it-scale"}


def test_the_guard_reads_the_record_over_ssh(cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
    marker = tmp_path / "drained"
    olds = _props(cluster, marker)
    news = {**olds, "agents": olds["agents"][:2]}
    [refused] = drain_guard.PROVIDER.check(olds, news).failures
    assert "agent agent-2 would be deleted but it is not drained" in refused.reason
    marker.write_text("node=agent-2\n")  # the sshd nodes share this machine's filesystem
    assert drain_guard.PROVIDER.check(olds, news).failures == []


def test_a_changed_host_key_is_not_trusted(cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
    other = paramiko.Ed25519Key.from_private_key_file(str(cluster.userkey))
    marker = tmp_path / "drained"
    marker.write_text("node=agent-2\n")
    olds = _props(cluster, marker, host_key=f"ssh-ed25519 {other.get_base64()}")
    [refused] = drain_guard.PROVIDER.check(olds, {**olds, "agents": olds["agents"][:2]}).failures
    assert (
        "could not be read (BadHostKeyException" in refused.reason
        or "could not be read (SSHException" in (refused.reason)
    )
