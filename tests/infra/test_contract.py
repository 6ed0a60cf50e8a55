"""The `cluster` output has one shape on every cloud (docs/contracts.md), so Fabric reads all of them alike.

To add the local cloud: produce its output (e.g. from a local stack run) and compare it with
`assert_same_shape(cluster_shape(local), cluster_shape(aws))` like below.
"""

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
    assert set(aws["settings"]) == {"versions", "kafka", "demo", "artifacts", "publicPorts"}
    assert_same_shape(cluster_shape(aws), cluster_shape(azure))


@pytest.mark.unit
def test_the_shape_helper_notices_a_difference() -> None:
    """The comparison can fail: a missing key or a changed type is reported with its path."""
    base = {"nodes": [{"name": "master-0", "publicIp": None}], "ssh": {"port": 22}}
    assert_same_shape(cluster_shape(base), cluster_shape({"nodes": [{"name": "m", "publicIp": "192.0.2.1"}],
                                                          "ssh": {"port": 2222}}))
    with pytest.raises(AssertionError, match=r"cluster\.nodes\[\]: keys differ"):
        assert_same_shape(cluster_shape(base), cluster_shape({"nodes": [{"name": "m"}], "ssh": {"port": 22}}))
    with pytest.raises(AssertionError, match=r"cluster\.ssh\.port: int vs str"):
        assert_same_shape(cluster_shape(base), cluster_shape({"nodes": [], "ssh": {"port": "22"}}))
