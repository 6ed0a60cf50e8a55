"""The port matrix and its two renderings (AWS security groups, Azure NSG rules)."""

from __future__ import annotations

import pytest

from infra import ports
from infra.aws import availability_zones, ingress_args
from infra.azure import security_rules
from infra.ports import Source

pytestmark = pytest.mark.unit
ADMIN = ("203.0.113.0/24",)


def _aws_set(role: str, platform: str) -> set[tuple[str, str, str]]:
    resolved = ports.resolve(ports.rules_for(role, platform, (80, 443)), ADMIN, [ports.CLOUD_NETWORK])
    out = set()
    for entry in ingress_args(resolved):
        proto = {"-1": "all"}.get(entry.protocol, entry.protocol)
        span = (
            "*"
            if proto in ("all", "icmp")
            else (
                f"{entry.from_port}"
                if entry.from_port == entry.to_port
                else f"{entry.from_port}-{entry.to_port}"
            )
        )
        for cidr in entry.cidr_blocks:
            out.add((proto, span, cidr))
    return out


def _azure_set(role: str, platform: str) -> set[tuple[str, str, str]]:
    resolved = ports.resolve(ports.rules_for(role, platform, (80, 443)), ADMIN, [ports.CLOUD_NETWORK])
    out = set()
    for rule in security_rules(resolved):
        proto = {"*": "all"}.get(rule.protocol, rule.protocol.lower())
        spans = rule.destination_port_ranges or [rule.destination_port_range]
        sources = rule.source_address_prefixes or [rule.source_address_prefix]
        for span in spans:
            for source in sources:
                out.add((proto, span, "0.0.0.0/0" if source == "Internet" else source))
    return out


@pytest.mark.parametrize("platform", sorted(ports.ALL_PLATFORMS))
@pytest.mark.parametrize("role", sorted(ports.ALL_ROLES))
def test_both_clouds_render_the_same_rules(role: str, platform: str) -> None:
    aws, azure = _aws_set(role, platform), _azure_set(role, platform)
    assert aws == azure
    assert ("tcp", "22", ADMIN[0]) in aws
    assert ("all", "*", ports.CLOUD_NETWORK) in aws
    world = {r for r in aws if r[2] == "0.0.0.0/0"}
    public = {("tcp", "80", "0.0.0.0/0"), ("tcp", "443", "0.0.0.0/0")}
    assert world == (public if role == "publicAgent" else set())


def test_no_admin_sources_means_no_admin_rules_rather_than_open_ones() -> None:
    resolved = ports.resolve(ports.rules_for("master", "mesos", (80,)), (), [ports.CLOUD_NETWORK])
    assert {r.source for r in resolved} == {Source.CLUSTER}


def test_ui_ports_per_platform() -> None:
    assert ports.ui_ports("master", "dcos") == (80, 443, 8181)
    assert ports.ui_ports("master", "mesos") == (5050, 8080, 9870)
    assert ports.ui_ports("master", "standalone") == (8080, 9870)


def test_unpublishable_ports_cover_public_agent_control_planes() -> None:
    blocked = ports.unpublishable_ports()
    assert {22, 5051, 61001, 8086} <= set(blocked)
    assert 80 not in blocked and 443 not in blocked


def test_node_addresses_are_fixed_and_in_the_subnet() -> None:
    assert ports.node_address("10.40.1.0/24", 0) == "10.40.1.10"
    with pytest.raises(ValueError, match="no room"):
        ports.node_address("10.40.1.0/24", 250)


def test_availability_zones_come_from_the_region() -> None:
    assert availability_zones("eu-west-1") == ("eu-west-1a", "eu-west-1b")
    assert availability_zones("ap-northeast-1") == ("ap-northeast-1a", "ap-northeast-1c")
