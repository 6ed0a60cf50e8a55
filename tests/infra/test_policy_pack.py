"""The policy pack over what the program really declares (shipped stacks are checked in
test_cloud_stacks.py; here: insecure configurations, where the pack gets its settings, type coverage)."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest
from conftest import CLOUD_STACKS, stack_config

from infra.policy.policies import validate_resources

pytestmark = pytest.mark.infra


def _triples(run: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [(r.type, r.name, r.inputs) for r in run.declared]


def test_world_admin_passes_the_spec_but_not_the_pack(run_program: Any) -> None:
    """allowWorldAdmin lets a stack ask for 0.0.0.0/0; the pack still refuses it at preview time."""
    config = {**stack_config("dev-aws"), "adminCidrs": ["0.0.0.0/0"], "allowWorldAdmin": True}
    run = run_program(config, "dev-aws")
    found = validate_resources(_triples(run), {"adminCidrs": ["0.0.0.0/0"], "publicPorts": [80, 443]})
    assert any("fastdata-world-ingress" in v and "-master-sg" in v for v in found), found
    assert any("fastdata-world-ingress" in v and "-agent-0" not in v and "-agent-sg" in v for v in found)


def test_tampered_resources_are_rejected(run_program: Any) -> None:
    """Start from the secure dev-aws program and break one thing per policy."""
    run = run_program(stack_config("dev-aws"), "dev-aws")
    resources = copy.deepcopy(_triples(run))
    by_name = {name: props for _, name, props in resources}
    master_sg = by_name["fastdata-dev-aws-master-sg"]
    master_sg["ingress"][0]["cidrBlocks"] = ["0.0.0.0/0"]  # the SSH row
    del by_name["fastdata-dev-aws-vpc"]["tags"]["cluster"]
    by_name["fastdata-dev-aws-agent-0"]["rootBlockDevice"]["encrypted"] = False
    found = validate_resources(resources, {"adminCidrs": ["203.0.113.0/24"], "publicPorts": [80, 443]})
    policies = {v.split(":")[0] for v in found}
    assert policies == {
        "fastdata-world-ingress",
        "fastdata-admin-sources",
        "fastdata-required-tags",
        "fastdata-encrypted-disks",
    }


def test_the_pack_reads_the_stack_config_when_not_configured(run_program: Any) -> None:
    """Under the CLI the pack gets the stack's config; without pack config it checks against that."""
    run = run_program(stack_config("prod-aws"), "prod-aws")  # leaves the runtime configured for prod-aws
    assert validate_resources(_triples(run)) == []
    pulumi.runtime.set_all_config(
        {
            "fastdata:cloud": "aws",
            "fastdata:region": "us-east-1",
            "fastdata:image": "ami-0123456789abcdef0",
            "fastdata:adminCidrs": '["198.51.100.7/32"]',
        }
    )
    found = validate_resources(_triples(run))
    assert any("fastdata-admin-sources" in v and "203.0.113.0/24" in v for v in found)


def test_shipped_stacks_are_the_ones_checked() -> None:
    assert set(CLOUD_STACKS) == {"dev-aws", "prod-aws", "dev-azure", "prod-azure"}
