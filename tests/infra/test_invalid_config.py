"""Invalid stack configurations stop the program before it declares any resource, naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
from conftest import plugin_home, stack_config

from infra.errors import ConfigError

pytestmark = pytest.mark.infra


def _without(config: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != key}


def _with_nodes(config: dict[str, Any], role: str, **fields: Any) -> dict[str, Any]:
    nodes = {**config.get("nodes", {})}
    nodes[role] = {**nodes.get(role, {}), **fields}
    return {**config, "nodes": nodes}


DEV_AWS = stack_config("dev-aws")
DEV_AZURE = stack_config("dev-azure")
CASES = {
    # more agents than a /24 subnet addresses: refused before the first VM, not after a few hundred
    "aws agents beyond the subnets": (
        _with_nodes(DEV_AWS, "agent", count=300),
        "fastdata:nodes.agent.count",
        "the aws subnets (/24",
    ),
    "azure agents beyond the subnet": (
        _with_nodes(DEV_AZURE, "agent", count=300),
        "fastdata:nodes.agent.count",
        "the azure subnets (/24",
    ),
    "split world admin source": (
        {**DEV_AWS, "adminCidrs": ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]},
        "fastdata:adminCidrs",
        "together cover all of the IPv4 internet",
    ),
    "even master count": (_with_nodes(DEV_AWS, "master", count=2), "fastdata:nodes.master.count", "1, 3, 5"),
    "missing adminCidrs": (
        _without(DEV_AWS, "adminCidrs"),
        "fastdata:adminCidrs",
        "is required for cloud=aws",
    ),
    "world admin source": (
        {**DEV_AWS, "adminCidrs": ["0.0.0.0/0"]},
        "fastdata:adminCidrs[0]",
        "allowWorldAdmin",
    ),
    "unknown platform": (
        {**DEV_AWS, "platform": "kubernetes"},
        "fastdata:platform",
        "one of standalone, mesos, dcos",
    ),
    "negative agent count": (
        _with_nodes(DEV_AWS, "agent", count=-1),
        "fastdata:nodes.agent.count",
        "must not be negative",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_invalid_config_fails_before_any_resource(case: str, run_program: Any) -> None:
    config, key, allowed = CASES[case]
    run = run_program(config, "dev-aws", allow_error=True)
    assert isinstance(run.error, pulumi.RunError), run.error
    cause = run.error.__cause__
    assert isinstance(cause, ConfigError)
    assert key in cause.keys
    assert allowed in str(run.error)
    assert run.declared == [], "resources were declared before the configuration was validated"


def test_all_problems_are_reported_together(run_program: Any) -> None:
    config = _with_nodes({**_without(DEV_AWS, "adminCidrs"), "platform": "mesos"}, "master", count=4)
    config = _with_nodes(config, "agent", count=-2)
    run = run_program(config, "dev-aws", allow_error=True)
    assert isinstance(run.error, pulumi.RunError)
    assert isinstance(run.error.__cause__, ConfigError)
    keys = set(run.error.__cause__.keys)
    assert {"fastdata:adminCidrs", "fastdata:nodes.master.count", "fastdata:nodes.agent.count"} <= keys
    assert run.declared == []


def test_a_host_that_cannot_run_the_local_cloud_gets_one_message(
    run_program: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lxc's pre-flight error is an InfraError: the program ends with its message (RunError), no traceback,
    and no node or key is declared."""
    import infra.lxc

    def refuse(*_a: Any, **_k: Any) -> None:
        raise infra.lxc.LocalHostError("this machine cannot run the local cloud:\n  - needs root")

    monkeypatch.setattr(infra.lxc, "preflight", refuse)
    run = run_program(stack_config("local"), "local", allow_error=True)
    assert isinstance(run.error, pulumi.RunError), run.error
    assert "needs root" in str(run.error)
    assert [r.type for r in run.declared] == ["fastdata:local:Cluster"]  # the empty component only


@pytest.mark.parametrize(("stack", "plugin"), [("dev-aws", "aws v7"), ("dev-azure", "azure-native v3")])
def test_a_cloud_stack_without_its_plugin_says_how_to_install_it(
    stack: str, plugin: str, run_program: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty plugin directory: the program stops before declaring anything and names the command."""
    monkeypatch.setenv("PULUMI_HOME", str(plugin_home(tmp_path / "empty", installed=False)))
    run = run_program(stack_config(stack), stack, allow_error=True)
    assert isinstance(run.error, pulumi.RunError), run.error
    message = str(run.error)
    assert f"plugin {plugin}" in message and "./scripts/setup-cloud.sh" in message
    assert f"pulumi plugin install resource {plugin.split()[0]} {plugin.split()[1]}" in message
    assert "FASTDATA_PLUGIN_DIR" in message
    assert run.declared == []


def test_the_local_stack_needs_no_plugin(
    run_program: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import infra.lxc

    monkeypatch.setattr(infra.lxc, "preflight", lambda *_a, **_k: None)
    monkeypatch.setenv("PULUMI_HOME", str(plugin_home(tmp_path / "empty", installed=False)))
    run = run_program(stack_config("local"), "local")
    assert run.error is None and run.exports["cluster"]["cloud"] == "local"


def test_a_workload_that_does_not_fit_is_refused_before_any_resource(run_program: Any) -> None:
    """Kafka's heap plus the Spark executors cannot fit an m5.large agent: nothing is declared."""
    config = _with_nodes({**DEV_AWS, "spark": {"workerMemory": "7g"}}, "agent", size="m5.large")
    run = run_program(config, "dev-aws", allow_error=True)
    assert isinstance(run.error, pulumi.RunError), run.error
    assert isinstance(run.error.__cause__, ConfigError)
    assert "fastdata:nodes.agent.size" in run.error.__cause__.keys
    assert "fastdata:kafka.heap" in str(run.error)
    assert run.declared == []
