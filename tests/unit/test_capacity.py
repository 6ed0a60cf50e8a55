"""The capacity check: each role's size against the platform's minimum and what the settings put there."""

from __future__ import annotations

from typing import Any

import pytest

from contract.capacity import memory_needs, mib
from infra.capacity import check_capacity
from infra.errors import ConfigError
from infra.spec import Role, parse_spec

pytestmark = pytest.mark.unit

AWS = {"cloud": "aws", "platform": "mesos", "region": "eu-west-1", "adminCidrs": ["203.0.113.0/24"]}


def refused(config: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        check_capacity(parse_spec(config, project="fastdata", stack="s"))
    return {p.key: p.message for p in info.value.problems}


def test_an_agent_that_cannot_hold_kafka_and_the_executors_is_refused() -> None:
    found = refused({**AWS, "nodes": {"agent": {"size": "m5.large"}}, "spark": {"workerMemory": "7g"}})
    message = found["fastdata:nodes.agent.size"]
    assert "m5.large has 8 GiB, but a agent needs" in message
    assert "fastdata:kafka.heap" in message and "fastdata:spark.workerMemory" in message


def test_dcos_minimums() -> None:
    dcos = {**AWS, "platform": "dcos", "nodes": {"master": {"size": "m5.xlarge"}}}
    assert "needs at least 4 vCPUs / 32 GiB" in refused(dcos)["fastdata:nodes.master.size"]


def test_local_containers_are_checked_by_their_memory_limit() -> None:
    assert "fastdata:nodes.agent.size" in refused({"cloud": "local", "nodes": {"agent": {"size": "3G"}}})
    check_capacity(parse_spec({"cloud": "local"}, project="fastdata", stack="local"))  # the defaults fit


def test_unknown_sizes_are_reported_not_guessed() -> None:
    spec = parse_spec({**AWS, "nodes": {"agent": {"size": "m7i.xlarge"}}}, project="fastdata", stack="s")
    notes = check_capacity(spec)
    assert len(notes) == 1 and "m7i.xlarge is not in" in notes[0] and "not checked" in notes[0]


def test_needs_follow_the_settings() -> None:
    spec = parse_spec({**AWS, "demo": {"enabled": False}}, project="fastdata", stack="s")
    assert all("demo" not in what for what, _ in memory_needs(spec.settings, spec.platform, Role.MASTER))
    assert mib("768m") == 768 and mib("2g") == 2048 and mib("4G") == 4096
