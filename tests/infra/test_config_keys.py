"""Every key only the Pulumi program reads changes what it declares (under mocks): a declared key that is
validated but ignored fails here. (The settings the roles read: tests/unit/test_settings_keys.py.)"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from conftest import stack_config

from infra.spec import DEFAULTS, KEYS
from tests.unit.test_settings_keys import NOT_IN_THE_PLAN

pytestmark = pytest.mark.infra

AWS = stack_config("dev-aws")
# key -> (the stack it is changed on, the value it gets there)
CHANGES: dict[str, tuple[dict[str, Any], Any]] = {
    "cloud": (AWS, "azure"),
    "platform": (AWS, "standalone"),
    "clusterName": (AWS, "other-cluster"),
    "region": (AWS, "us-east-2"),
    "image": (AWS, "ami-0fedcba9876543210"),
    "sshUser": (AWS, "debian"),
    "adminCidrs": (AWS, ["198.51.100.7/32"]),
    "nodes": (AWS, {**AWS["nodes"], "agent": {"count": 4, "size": "m5.2xlarge"}}),
    "publicPorts": (AWS, [80, 8443]),
    "local": ({"cloud": "local"}, {"bridge": "fdbr9", "subnet": "10.97.0.0/24"}),
}
SETTINGS_SECTIONS = {
    "versions",
    "kafka",
    "spark",
    "hdfs",
    "demo",
    "dcos",
    "artifacts",
}  # in the cluster output


def declared(run: Any) -> str:
    """What the program declared: every resource's type, name and inputs."""
    rows = sorted(json.dumps([r.type, r.name, r.inputs], sort_keys=True, default=str) for r in run.declared)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def test_every_infra_key_is_covered() -> None:
    infra_keys = set(KEYS) - SETTINGS_SECTIONS - {"allowWorldAdmin"}
    assert infra_keys == set(CHANGES)
    assert "publicPorts" in NOT_IN_THE_PLAN and set(DEFAULTS) <= set(KEYS)


@pytest.mark.parametrize("key", sorted(CHANGES))
def test_changing_the_key_changes_what_is_declared(key: str, run_program: Any, monkeypatch: Any) -> None:
    import infra.lxc

    monkeypatch.setattr(infra.lxc, "preflight", lambda *_a, **_k: None)
    base, value = CHANGES[key]
    changed = {**base, key: value}
    if key == "cloud":  # an Azure stack needs an Azure location, size and image
        changed = {**changed, "region": "westeurope", "image": "", "nodes": {}}
    before = declared(run_program(base, "dev-aws"))
    after = declared(run_program(changed, "dev-aws"))
    assert before != after, f"fastdata:{key} changed but the program declared the same resources"


def test_allow_world_admin_decides_whether_the_world_may_administer(run_program: Any) -> None:
    world = {**AWS, "adminCidrs": ["0.0.0.0/0"]}
    refused = run_program(world, "dev-aws", allow_error=True)
    assert refused.error is not None and "allowWorldAdmin" in str(refused.error)
    accepted = run_program({**world, "allowWorldAdmin": True}, "dev-aws")
    assert accepted.declared
