"""The `cluster` output has one shape on every cloud (docs/contracts.md), so Fabric reads all of them alike.
(The local cloud's real output, from real containers, is checked against the same contract in
tests/integration/test_local_cloud.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import stack_config
from shapes import assert_same_shape, cluster_shape

CONTRACT_KEYS = {"name", "cloud", "platform", "ssh", "nodes", "endpoints", "settings"}


@pytest.mark.infra
def test_aws_and_azure_outputs_have_the_same_shape(run_program: Any) -> None:
    """Same platform (DC/OS, with a bootstrap node), different clouds: identical structure and types."""
    aws = run_program(stack_config("prod-aws"), "prod-aws").exports["cluster"]
    azure = run_program(stack_config("prod-azure"), "prod-azure").exports["cluster"]
    assert set(aws) == CONTRACT_KEYS
    assert set(aws["ssh"]) == {"user", "port", "privateKey", "knownHosts"}
    assert set(aws["endpoints"]) == {"masters", "publicAgents", "bootstrap"}
    assert set(aws["nodes"][0]) == {"name", "role", "privateIp", "publicIp"}
    assert set(aws["settings"]) == {
        "versions",
        "kafka",
        "spark",
        "hdfs",
        "demo",
        "dcos",
        "artifacts",
        "publicPorts",
    }
    assert_same_shape(cluster_shape(aws), cluster_shape(azure))


@pytest.mark.infra
def test_local_output_has_the_same_shape_as_the_clouds(
    run_program: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local cloud (LXC nodes under mocks) exports the same structure as AWS."""
    import infra.lxc

    # whether this host could run containers is not the point here (test_local_cloud.py runs real ones)
    monkeypatch.setattr(infra.lxc, "preflight", lambda *_a, **_k: None)
    local_run = run_program(stack_config("local"), "local")
    local = local_run.exports["cluster"]
    # the plain outputs on the local cloud: node addresses, no key material, not secret
    assert local_run.exports["dashboardUrl"] == "http://10.98.0.80/"
    assert local_run.exports["sshCommand"].endswith("root@10.98.0.10")
    assert local_run.exports["image"] == "debian-12"
    assert not any(local_run.secret[k] for k in ("nodes", "endpoints", "dashboardUrl", "sshCommand"))
    aws = run_program(stack_config("dev-aws"), "dev-aws").exports["cluster"]
    assert set(local) == CONTRACT_KEYS
    assert local["cloud"] == "local" and [n["role"] for n in local["nodes"]] == [
        "master",
        "agent",
        "agent",
        "agent",
        "publicAgent",
    ]
    assert_same_shape(cluster_shape(local), cluster_shape(aws))


@pytest.mark.unit
def test_the_shape_helper_notices_a_difference() -> None:
    """The comparison can fail: a missing key or a changed type is reported with its path."""
    base = {"nodes": [{"name": "master-0", "publicIp": None}], "ssh": {"port": 22}}
    assert_same_shape(
        cluster_shape(base),
        cluster_shape({"nodes": [{"name": "m", "publicIp": "192.0.2.1"}], "ssh": {"port": 2222}}),
    )
    with pytest.raises(AssertionError, match=r"cluster\.nodes\[\]: keys differ"):
        assert_same_shape(cluster_shape(base), cluster_shape({"nodes": [{"name": "m"}], "ssh": {"port": 22}}))
    with pytest.raises(AssertionError, match=r"cluster\.ssh\.port: int vs str"):
        assert_same_shape(cluster_shape(base), cluster_shape({"nodes": [], "ssh": {"port": "22"}}))
