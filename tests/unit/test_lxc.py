"""The local cloud's host-side logic that needs no root: configs, recipes, diffs, pre-flight messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import lxc
from infra.lxc_provider import LxcNodeProvider

pytestmark = pytest.mark.unit


def node(**over: object) -> lxc.NodeConfig:
    base = dict(
        container="fastdata-local-agent-0",
        hostname="agent-0",
        ip="10.98.0.21",
        prefix=24,
        gateway="10.98.0.1",
        bridge="fdbr0",
        memory="4G",
        ssh_user="fastdata",
        authorized_key="ssh-ed25519 AAAAC3 test",
        base_dir="/cache/lxc/debian-bookworm-abc",
    )
    base.update(over)
    return lxc.NodeConfig(**base)  # type: ignore[arg-type]


def test_config_is_an_overlay_clone_on_the_bridge_with_a_fixed_address() -> None:
    cfg = lxc.render_config(node())
    assert "lxc.rootfs.path = overlay:/cache/lxc/debian-bookworm-abc/rootfs:" in cfg
    assert cfg.rstrip().endswith(("memory.max = 4G", "limit_in_bytes = 4G"))
    assert "lxc.net.0.link = fdbr0" in cfg
    assert "lxc.net.0.ipv4.address = 10.98.0.21/24" in cfg
    assert "lxc.net.0.ipv4.gateway = 10.98.0.1" in cfg
    assert "lxc.uts.name = agent-0" in cfg


def test_mac_addresses_are_stable_and_distinct() -> None:
    one, two = (lxc.render_config(node(container=c)) for c in ("a-agent-0", "a-agent-1"))
    mac = [line for line in one.splitlines() if "hwaddr" in line]
    again = lxc.render_config(node(container="a-agent-0"))
    assert mac == [line for line in again.splitlines() if "hwaddr" in line]
    assert mac != [line for line in two.splitlines() if "hwaddr" in line]


def test_recipe_hash_changes_with_the_package_list(monkeypatch: pytest.MonkeyPatch) -> None:
    before = lxc.base_recipe_hash()
    monkeypatch.setattr(lxc, "BASE_PACKAGES", (*lxc.BASE_PACKAGES, "vim"))
    assert lxc.base_recipe_hash() != before


def test_gateway_is_the_first_address_of_the_subnet() -> None:
    assert lxc.gateway_of("10.98.0.0/24") == "10.98.0.1"


def test_user_script_rejects_unsafe_user_names() -> None:
    with pytest.raises(lxc.LxcError, match="invalid ssh user name"):
        lxc.user_setup_script(node(ssh_user="root; rm -rf /"))


def test_changed_size_or_image_replaces_the_node_and_same_inputs_do_not() -> None:
    olds = {"container": "c", "memory": "4G", "base_recipe": "aaa", "ip": "10.98.0.21"}
    provider = LxcNodeProvider()
    assert provider.diff("c", olds, dict(olds)).changes is False
    bigger = provider.diff("c", olds, {**olds, "memory": "8G"})
    assert bigger.changes and bigger.replaces == ["memory"] and bigger.delete_before_replace
    assert provider.diff("c", olds, {**olds, "base_recipe": "bbb"}).replaces == ["base_recipe"]


def test_preflight_names_every_problem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lxc.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(
        lxc.shutil, "which", lambda tool: None if tool == "debootstrap" else f"/usr/bin/{tool}"
    )
    with pytest.raises(lxc.LocalHostError) as err:
        lxc.preflight(tmp_path, min_free_gb=10**6)
    text = str(err.value)
    assert "needs root" in text and "'debootstrap' is missing" in text and "GB free" in text


def test_host_errors_are_infra_errors_that_say_what_to_do(tmp_path: Path) -> None:
    """The program's error handler catches InfraError: a missing tool or a failing command reaches the
    user as one message with the next step, not as a traceback."""
    from infra.errors import InfraError

    assert issubclass(lxc.LocalHostError, InfraError) and issubclass(lxc.LxcError, InfraError)
    with pytest.raises(InfraError, match=r"not installed; run \./scripts/setup\.sh"):
        lxc._run([str(tmp_path / "no-such-tool")])
    with pytest.raises(InfraError, match=r"exited 3: boom\n.*re-run the same pulumi command"):
        lxc._run(["sh", "-c", "echo boom; exit 3"])
    assert not hasattr(lxc, "ensure_running")  # dead code, removed
