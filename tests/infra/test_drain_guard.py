"""The drain guard: every cloud declares one AgentSet listing its agents (under mocks), and its provider's
check refuses an input that drops an agent without a drained record, naming `fab drain` (no SSH: the
record reader is replaced)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import infra.lxc
from infra import drain_guard
from tests.infra.conftest import CLOUD_STACKS, ProgramRun, stack_config

pytestmark = pytest.mark.infra

AGENT_SET = "pulumi-python:dynamic/fastdata:AgentSet"


@pytest.mark.parametrize("stack", ("local", *CLOUD_STACKS))
def test_every_cloud_declares_the_agent_set(
    stack: str, run_program: Callable[..., ProgramRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(infra.lxc, "preflight", lambda *_a, **_k: None)
    config = stack_config(stack)
    run = run_program({**config, "nodes": {**config.get("nodes", {}), "agent": {"count": 4}}}, stack)
    [guard] = run.of_type(AGENT_SET)
    agents = guard.inputs["agents"]
    assert [a["name"] for a in agents] == ["agent-0", "agent-1", "agent-2", "agent-3"]
    assert all(a["address"] and a["host_key"].startswith("ssh-ed25519 ") for a in agents)
    assert guard.inputs["marker"] == "/var/lib/fastdata/drained" and guard.inputs["stack"] == stack
    login = guard.inputs["login"]
    assert login["user"] and login["port"] == 22 and "OPENSSH PRIVATE KEY" in login["private_key"]


def _agents(n: int) -> list[dict[str, Any]]:
    return [
        {"name": f"agent-{i}", "address": f"10.98.42.{20 + i}", "host_key": "ssh-ed25519 AAAA"}
        for i in range(n)
    ]


def _props(n: int) -> dict[str, Any]:
    return {
        "agents": _agents(n),
        "login": {"user": "root", "port": 22, "private_key": "k"},
        "marker": drain_guard.DRAINED_MARKER,
        "stack": "it-scale",
    }


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch) -> dict[str, str | Exception]:
    """name -> what reading its drained record gives (text, or an exception it raises)."""
    answers: dict[str, str | Exception] = {}
    read: list[str] = []

    def read_marker(self: Any, agent: dict[str, Any], login: dict[str, Any]) -> str:
        read.append(agent["name"])
        answer = answers.get(agent["name"], "")
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(type(drain_guard.PROVIDER), "read_marker", read_marker)
    answers["__read__"] = read  # type: ignore[assignment]
    return answers


def test_removing_an_undrained_agent_is_refused_with_the_command_to_run(records: dict[str, Any]) -> None:
    result = drain_guard.PROVIDER.check(_props(4), _props(3))
    [failure] = result.failures
    assert failure.property == "agents"
    assert failure.reason.startswith(
        "agent agent-3 would be deleted but it is not drained (no /var/lib/fastdata/drained naming it); "
        "nothing was deleted. Run first:\n    fab drain --stack it-scale --node agent-3\n"
        "then `pulumi up` again."
    )
    assert records["__read__"] == ["agent-3"], "only the agents being removed are asked"


def test_removing_a_drained_agent_passes(records: dict[str, Any]) -> None:
    records["agent-3"] = "node=agent-3\ndrained_at=2026-12-01T12:00:00Z\n"
    assert drain_guard.PROVIDER.check(_props(4), _props(3)).failures == []


def test_a_record_naming_another_node_or_an_unreachable_agent_is_refused(records: dict[str, Any]) -> None:
    records["agent-3"] = "node=agent-2\n"
    records["agent-2"] = TimeoutError("timed out")
    reasons = [f.reason for f in drain_guard.PROVIDER.check(_props(4), _props(2)).failures]
    assert len(reasons) == 2
    assert (
        "agent agent-2 would be deleted but its drained record could not be read (TimeoutError: timed out)"
        in (reasons[0])
    )
    assert "agent agent-3 would be deleted but it is not drained" in reasons[1]


def test_creating_growing_or_keeping_the_agents_reads_nothing(records: dict[str, Any]) -> None:
    assert drain_guard.PROVIDER.check({}, _props(3)).failures == []
    assert drain_guard.PROVIDER.check(_props(3), _props(4)).failures == []
    assert drain_guard.PROVIDER.check(_props(3), _props(3)).failures == []
    assert records["__read__"] == []


def test_destroy_deletes_the_agent_set() -> None:
    assert drain_guard.PROVIDER.delete("agents-it-scale", _props(3)) is None
