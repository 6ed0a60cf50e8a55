"""The policy pack's rules, fed hand-written resource properties (engine names, as the CLI passes them)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.policy.policies import UNTAGGABLE, ingress_rules, make_policies, validate_resources

pytestmark = pytest.mark.unit

CONFIG = {"adminCidrs": ["203.0.113.0/24"], "publicPorts": [80, 443]}
TAGS = {"project": "fastdata", "stack": "dev", "cluster": "fastdata-dev"}


def sg(
    role: str, *ingress: dict[str, Any], tags: dict[str, str] | None = None
) -> tuple[str, str, dict[str, Any]]:
    return (
        "aws:ec2/securityGroup:SecurityGroup",
        f"{role}-sg",
        {"ingress": list(ingress), "tags": {**TAGS, "role": role} if tags is None else tags},
    )


def tcp(first: int, last: int, *cidrs: str) -> dict[str, Any]:
    return {"protocol": "tcp", "fromPort": first, "toPort": last, "cidrBlocks": list(cidrs)}


def nsg(role: str, *rules: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    return (
        "azure-native:network:NetworkSecurityGroup",
        f"{role}-nsg",
        {"securityRules": list(rules), "tags": {**TAGS, "role": role}},
    )


def nsg_rule(
    name: str, ports: str, source: str, protocol: str = "Tcp", access: str = "Allow"
) -> dict[str, Any]:
    return {
        "name": name,
        "direction": "Inbound",
        "access": access,
        "protocol": protocol,
        "destinationPortRange": ports,
        "sourceAddressPrefix": source,
    }


def violations(
    *resources: tuple[str, str, dict[str, Any]], config: dict[str, Any] | None = None
) -> list[str]:
    return validate_resources(list(resources), CONFIG if config is None else config)


def test_a_secure_configuration_passes() -> None:
    assert (
        violations(
            sg(
                "master",
                tcp(22, 22, "203.0.113.0/24"),
                tcp(5050, 5050, "203.0.113.0/24"),
                {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["10.40.0.0/16"]},
            ),
            sg(
                "publicAgent",
                tcp(22, 22, "203.0.113.0/24"),
                tcp(80, 80, "0.0.0.0/0"),
                tcp(443, 443, "0.0.0.0/0"),
            ),
            nsg(
                "master",
                nsg_rule("ssh", "22", "203.0.113.0/24"),
                nsg_rule("internal", "*", "10.40.0.0/16", "*"),
            ),
            nsg("publicAgent", nsg_rule("public", "80", "Internet")),
        )
        == []
    )


def test_an_insecure_configuration_is_rejected_on_both_clouds() -> None:
    found = violations(
        sg("master", tcp(22, 22, "0.0.0.0/0")),  # SSH to the world (AWS)
        sg("agent", tcp(9092, 9092, "0.0.0.0/0")),  # Kafka to the world
        sg("publicAgent", tcp(8000, 9000, "0.0.0.0/0")),  # a range beyond publicPorts
        nsg("master", nsg_rule("ssh", "22", "*")),  # dcos-terraform's Azure sshRule
        nsg("agent", nsg_rule("ui", "5051", "198.51.100.0/24")),  # admin port from a foreign range
    )
    text = "\n".join(found)
    assert "fastdata-world-ingress: master-sg" in text
    assert "fastdata-admin-sources: master-sg" in text
    assert "fastdata-world-ingress: agent-sg" in text and "only public agents" in text
    assert "fastdata-world-ingress: publicAgent-sg" in text and "8000-9000" in text
    assert "fastdata-world-ingress: master-nsg" in text and "fastdata-admin-sources: master-nsg" in text
    assert "fastdata-admin-sources: agent-nsg" in text and "198.51.100.0/24" in text


def test_world_icmp_and_all_protocols_are_rejected() -> None:
    found = violations(
        sg("publicAgent", {"protocol": "icmp", "fromPort": 8, "toPort": -1, "cidrBlocks": ["0.0.0.0/0"]}),
        sg("publicAgent", {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}),
    )
    assert len([v for v in found if "fastdata-world-ingress" in v]) == 2


def test_admin_ports_need_known_admin_cidrs() -> None:
    found = violations(sg("master", tcp(22, 22, "203.0.113.0/24")), config={"publicPorts": [80]})
    assert any("knows no adminCidrs" in v for v in found)


def test_deny_and_outbound_nsg_rules_are_not_ingress() -> None:
    assert (
        ingress_rules(
            "azure-native:network:NetworkSecurityGroup",
            {
                "securityRules": [
                    nsg_rule("deny", "*", "*", access="Deny"),
                    {**nsg_rule("out", "*", "*"), "direction": "Outbound"},
                ]
            },
        )
        == []
    )


def test_standalone_rule_resources_are_checked_too() -> None:
    found = violations(
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "r1",
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0", "tags": TAGS},
        ),
        (
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            "r2",
            {
                "type": "ingress",
                "protocol": "tcp",
                "fromPort": 0,
                "toPort": 65535,
                "cidrBlocks": ["0.0.0.0/0"],
            },
        ),
        ("azure-native:network:SecurityRule", "r3", nsg_rule("ssh", "20-25", "Internet")),
    )
    for name in ("r1", "r2", "r3"):
        assert any(f"fastdata-world-ingress: {name}:" in v for v in found), name


def test_missing_tags_are_rejected_and_untaggable_types_exempt() -> None:
    found = violations(
        ("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.40.0.0/16", "tags": {"project": "fastdata"}}),
        ("azure-native:network:PublicIPAddress", "ip", {}),
        ("aws:ec2/routeTableAssociation:RouteTableAssociation", "assoc", {}),
        ("pulumi-python:dynamic/fastdata:Ed25519Key", "key", {}),
    )
    assert [v.split(":")[1].strip() for v in found] == ["vpc", "ip"]
    assert "['stack', 'cluster']" in found[0]


def test_unencrypted_disks_are_rejected() -> None:
    found = violations(
        ("aws:ec2/instance:Instance", "i1", {"tags": TAGS, "rootBlockDevice": {"encrypted": False}}),
        (
            "aws:ec2/instance:Instance",
            "i2",
            {"tags": TAGS, "rootBlockDevice": {"encrypted": True}, "ebsBlockDevices": [{"encrypted": False}]},
        ),
        ("aws:ebs/volume:Volume", "v", {"tags": TAGS, "size": 10}),
        (
            "azure-native:compute:VirtualMachine",
            "vm",
            {"tags": TAGS, "storageProfile": {"osDisk": {"vhd": {"uri": "https://x.invalid/d.vhd"}}}},
        ),
    )
    assert sorted(v.split(":")[1].strip() for v in found) == ["i1", "i2", "v", "vm", "vm"]


def test_the_pack_has_the_four_policies() -> None:
    assert [p.name for p in make_policies()] == [
        "fastdata-world-ingress",
        "fastdata-admin-sources",
        "fastdata-required-tags",
        "fastdata-encrypted-disks",
    ]


def test_untaggable_types_really_have_no_tags() -> None:
    """UNTAGGABLE exempts types from the tag policy; each must truly lack a tags argument in its SDK."""
    import importlib
    import inspect

    for resource_type in sorted(UNTAGGABLE):
        package, module, name = resource_type.split(":")
        root = {"aws": "pulumi_aws", "azure-native": "pulumi_azure_native"}[package]
        cls = getattr(importlib.import_module(f"{root}.{module.split('/')[0]}"), name)
        assert "tags" not in inspect.signature(cls._internal_init).parameters, resource_type


def test_split_world_is_still_the_world() -> None:
    """0.0.0.0/1 + 128.0.0.0/1 opens a port to everyone: refused on admin ports even when the pack's own
    adminCidrs say the same, and refused as world ingress on a non-public role."""
    halves = ["0.0.0.0/1", "128.0.0.0/1"]
    found = violations(
        sg("master", tcp(22, 22, *halves)), config={"adminCidrs": halves, "publicPorts": [80, 443]}
    )
    assert any("fastdata-admin-sources" in v and "100% of the IPv4 internet" in v for v in found), found
    assert any("fastdata-world-ingress" in v and "master" in v for v in found), found
    # one half alone is still too broad; a normal range is not
    assert any("fastdata-admin-sources" in v for v in violations(sg("master", tcp(22, 22, "0.0.0.0/1"))))
    assert violations(sg("master", tcp(22, 22, "203.0.113.0/24"))) == []
