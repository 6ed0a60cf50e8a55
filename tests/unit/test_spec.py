"""ClusterSpec: defaults, validation (every problem named by key), settings for the inventory."""

from __future__ import annotations

from typing import Any

import pytest

from infra import program
from infra.errors import ConfigError, MissingComponent
from infra.spec import Cloud, Platform, Role, parse_spec

pytestmark = pytest.mark.unit

AWS = {
    "cloud": "aws",
    "platform": "mesos",
    "region": "eu-west-1",
    "image": "ami-0123456789abcdef0",
    "adminCidrs": ["203.0.113.0/24"],
}


def problems(config: dict[str, Any], stack: str = "test") -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_spec(config, project="fastdata", stack=stack)
    found: dict[str, str] = {}
    for p in info.value.problems:
        found[p.key] = f"{found[p.key]} | {p.message}" if p.key in found else p.message
    return found


def test_local_defaults_are_what_local_cluster_expects() -> None:
    spec = parse_spec({"cloud": "local"}, project="fastdata", stack="local")
    assert spec.name == "fastdata-local"
    assert (spec.platform, spec.region) == (Platform.STANDALONE, None)
    assert (spec.image, spec.ssh_user) == ("debian-12", "root")
    assert (spec.local.bridge, spec.local.subnet) == ("fdbr0", "10.98.0.0/24")
    assert [(n.name, n.role, n.size) for n in spec.nodes.instances()] == [
        ("master-0", Role.MASTER, "3G"),
        ("agent-0", Role.AGENT, "4G"),
        ("agent-1", Role.AGENT, "4G"),
        ("agent-2", Role.AGENT, "4G"),
        ("public-agent-0", Role.PUBLIC_AGENT, "2G"),
    ]
    assert spec.admin_cidrs == () and spec.public_ports == (80, 443)


def test_values_arrive_as_strings_from_pulumi() -> None:
    """The engine passes objects and lists as JSON strings and scalars as strings."""
    spec = parse_spec(
        {
            "cloud": "aws",
            "platform": "dcos",
            "region": "us-east-1",
            "image": "ami-0123456789abcdef0",
            "adminCidrs": '["198.51.100.0/24"]',
            "allowWorldAdmin": "false",
            "nodes": '{"master": {"count": "3"}, "bootstrap": {"count": 1}}',
            "kafka": '{"partitions": "12"}',
        },
        project="fastdata",
        stack="prod-aws",
    )
    assert spec.admin_cidrs == ("198.51.100.0/24",)
    assert (spec.nodes.master.count, spec.nodes.bootstrap.count) == (3, 1)
    assert spec.nodes.master.size == "m5.2xlarge"  # the DC/OS master default
    assert spec.settings.kafka.partitions == 12 and spec.settings.kafka.brokers == 3
    assert spec.ssh_user == "centos"


def test_settings_are_camel_case_and_complete() -> None:
    spec = parse_spec(
        {
            **AWS,
            "artifacts": {
                "mesosPackageSource": "https://repo.example.invalid/mesos",
                "mesosPackageSha256": "ab" * 32,
            },
        },
        project="fastdata",
        stack="dev-aws",
    )
    settings = spec.settings.to_json()
    assert settings["kafka"] == {
        "brokers": 3,
        "controllers": 3,
        "quorum": "dynamic",
        "replicationFactor": 3,
        "minInsyncReplicas": 2,
        "partitions": 6,
        "heap": "768m",
    }
    assert set(settings) == {"versions", "kafka", "spark", "hdfs", "demo", "dcos", "artifacts", "publicPorts"}
    assert settings["spark"]["workerCores"] == 2 and settings["demo"]["retention"] == "7d"
    assert settings["versions"]["kafka"].startswith("4.")
    assert settings["versions"]["spark"].startswith("3.5.")
    assert settings["demo"]["maxEventsPerSecond"] == 500
    assert settings["artifacts"]["mesosPackageSource"] == "https://repo.example.invalid/mesos"
    assert settings["artifacts"]["mesosPackageSha256"] == "ab" * 32
    assert settings["publicPorts"] == [80, 443]


def test_tags() -> None:
    spec = parse_spec(AWS, project="fastdata", stack="dev-aws")
    assert spec.tags(Role.PUBLIC_AGENT) == {
        "project": "fastdata",
        "stack": "dev-aws",
        "cluster": "fastdata-dev-aws",
        "managed-by": "pulumi",
        "role": "publicAgent",
    }


@pytest.mark.parametrize(
    ("override", "key", "fragment"),
    [
        ({"cloud": "gcp"}, "fastdata:cloud", "one of local, aws, azure"),
        ({"platform": "k8s"}, "fastdata:platform", "one of standalone, mesos, dcos"),
        ({"nodes": {"master": {"count": 2}}}, "fastdata:nodes.master.count", "one of 1, 3, 5"),
        ({"nodes": {"master": {"count": 0}}}, "fastdata:nodes.master.count", "one of 1, 3, 5"),
        ({"nodes": {"agent": {"count": -1}}}, "fastdata:nodes.agent.count", "must not be negative"),
        ({"nodes": {"bootstrap": {"count": 1}}}, "fastdata:nodes.bootstrap.count", "must be 0 for platform"),
        ({"nodes": {"agent": {"size": "4G"}}}, "fastdata:nodes.agent.size", "EC2 instance type"),
        ({"nodes": {"workers": {"count": 1}}}, "fastdata:nodes.workers", "unknown key"),
        ({"adminCidrs": []}, "fastdata:adminCidrs", "is required for cloud=aws"),
        ({"adminCidrs": ["0.0.0.0/0"]}, "fastdata:adminCidrs[0]", "allowWorldAdmin"),
        ({"adminCidrs": ["203.0.113.7/24"]}, "fastdata:adminCidrs[0]", "is not a CIDR"),
        ({"region": ""}, "fastdata:region", "is required for cloud=aws"),
        ({"region": "westeurope"}, "fastdata:region", "AWS region"),
        ({"image": "ubuntu-22.04"}, "fastdata:image", "AMI id"),
        ({"publicPorts": [80, 22]}, "fastdata:publicPorts[1]", "must not be open to the world"),
        ({"publicPorts": [80, 5051]}, "fastdata:publicPorts[1]", "must not be open to the world"),
        ({"publicPorts": [70000]}, "fastdata:publicPorts[0]", "1-65535"),
        ({"versions": {"spark": "4.0.0"}}, "fastdata:versions.spark", "3.5.x"),
        ({"versions": {"kafka": "3.8.1"}}, "fastdata:versions.kafka", "3.9.x or 4.x"),
        ({"versions": {"kafka": "5.0.0"}}, "fastdata:versions.kafka", "3.9.x or 4.x"),
        ({"kafka": {"controllers": 4}}, "fastdata:kafka.controllers", "between 1 and kafka.brokers (3)"),
        ({"kafka": {"quorum": "zookeeper"}}, "fastdata:kafka.quorum", "dynamic, static"),
        (
            {"kafka": {"brokers": 3, "replicationFactor": 4}},
            "fastdata:kafka.replicationFactor",
            "between 1 and",
        ),
        (
            {"kafka": {"replicationFactor": 2, "minInsyncReplicas": 3}},
            "fastdata:kafka.minInsyncReplicas",
            "between 1 and",
        ),
        ({"kafka": {"brokers": 4, "replicationFactor": 3}}, "fastdata:kafka.brokers", "one per agent"),
        ({"demo": {"speedup": 0}}, "fastdata:demo.speedup", "greater than 0"),
        (
            {"artifacts": {"dcosInstallerUrl": "https://x.example.invalid/dcos_generate_config.sh"}},
            "fastdata:artifacts.dcosInstallerSha256",
            "is required",
        ),
        (
            {"artifacts": {"marathonPackageSource": "/srv/marathon-1.11.24.tgz"}},
            "fastdata:artifacts.marathonPackageSha256",
            "is required",
        ),
        (
            {"artifacts": {"mesosPackageSource": "/srv/mesos.tar", "mesosPackageSha256": "ABC"}},
            "fastdata:artifacts.mesosPackageSha256",
            "64 lowercase hex",
        ),
        ({"local": {"bridge": "br0"}}, "fastdata:local", "only for cloud=local"),
        ({"sshUser": "Admin User"}, "fastdata:sshUser", "Linux user name"),
        ({"clusterName": "Prod_Cluster"}, "fastdata:clusterName", "lowercase"),
        ({"adminCidr": ["203.0.113.0/24"]}, "fastdata:adminCidr", "unknown key"),
        ({"nodes": "{not json"}, "fastdata:nodes", "not valid JSON"),
    ],
)
def test_invalid_values_are_named(override: dict[str, Any], key: str, fragment: str) -> None:
    found = problems({**AWS, **override})
    assert key in found, found
    assert fragment in found[key]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        {
            "cloud": "aws",
            "platform": "mesos",
            "nodes": {"master": {"count": 4}},
            "kafka": {"replicationFactor": 9},
            "versions": {"spark": "2.4.0"},
        }
    )
    assert {
        "fastdata:region",
        "fastdata:adminCidrs",
        "fastdata:nodes.master.count",
        "fastdata:kafka.replicationFactor",
        "fastdata:versions.spark",
    } <= set(found)


def test_an_unknown_cloud_still_reports_the_other_keys() -> None:
    found = problems({"cloud": "gcp", "versions": {"kafka": "2.8.0"}})
    assert {"fastdata:cloud", "fastdata:versions.kafka"} <= set(found)


def test_dcos_rules() -> None:
    base = {**AWS, "platform": "dcos"}
    spec = parse_spec({**base, "nodes": {"master": {"count": 7}}}, project="fastdata", stack="prod")
    assert spec.nodes.master.count == 7 and spec.nodes.bootstrap.count == 1
    assert "fastdata:nodes.bootstrap.count" in problems({**base, "nodes": {"bootstrap": {"count": 0}}})
    assert "fastdata:nodes.master.count" in problems({**AWS, "nodes": {"master": {"count": 7}}})


def test_world_admin_needs_an_explicit_opt_in() -> None:
    spec = parse_spec({**AWS, "adminCidrs": ["0.0.0.0/0"], "allowWorldAdmin": True}, project="p", stack="s")
    assert spec.admin_cidrs == ("0.0.0.0/0",)


def test_azure_image_defaults_per_platform() -> None:
    azure = {"cloud": "azure", "region": "westeurope", "adminCidrs": ["203.0.113.0/24"]}
    mesos = parse_spec({**azure, "platform": "mesos"}, project="p", stack="s")
    assert mesos.image.startswith("Debian:debian-12")
    dcos = parse_spec({**azure, "platform": "dcos"}, project="p", stack="s")
    assert dcos.image.startswith("OpenLogic:CentOS:7") and dcos.ssh_user == "fastdata"
    assert "fastdata:sshUser" in problems({**azure, "sshUser": "admin"})


def test_local_subnet_rules() -> None:
    local = {"cloud": "local"}
    assert "fastdata:local.subnet" in problems({**local, "local": {"subnet": "172.17.5.0/24"}})
    assert "fastdata:local.subnet" in problems({**local, "local": {"subnet": "10.98.0.0/26"}})
    assert "fastdata:local.subnet" in problems({**local, "local": {"subnet": "8.8.8.0/24"}})
    assert "fastdata:local.bridge" in problems({**local, "local": {"bridge": "a-bridge-name-too-long"}})
    wide = parse_spec({**local, "local": {"subnet": "10.99.0.0/16"}}, project="p", stack="s")
    assert wide.local.subnet == "10.99.0.0/16"
    big = parse_spec({**local, "nodes": {"agent": {"size": "8G"}}}, project="p", stack="s")
    assert big.nodes.agent.size == "8G"


def test_a_component_missing_from_the_checkout_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(program.COMPONENTS, Cloud.LOCAL, ("infra.no_such_module", "LocalCluster"))
    with pytest.raises(MissingComponent, match=r"fastdata:cloud is local, but infra/no_such_module\.py"):
        program.component_class(Cloud.LOCAL)


def test_the_world_admin_guard_counts_addresses_not_strings() -> None:
    """0.0.0.0/1 + 128.0.0.0/1 is 0.0.0.0/0; a /1 alone is half the internet. Both are refused unless
    allowWorldAdmin; ordinary ranges, overlapping or not, pass."""
    halves = {**AWS, "adminCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}
    found = problems(halves)  # each half alone is already too broad (>= WORLD_SHARE)
    assert {"fastdata:adminCidrs[0]", "fastdata:adminCidrs[1]"} <= set(found)
    assert "allowWorldAdmin" in found["fastdata:adminCidrs[1]"]
    quarters = ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/3"]
    union = problems({**AWS, "adminCidrs": quarters})["fastdata:adminCidrs"]
    assert "together cover all of the IPv4 internet" in union and "allowWorldAdmin" in union
    assert "fastdata:adminCidrs" in problems({**AWS, "adminCidrs": quarters[:2]})  # 50%: too broad
    assert "50%" in problems({**AWS, "adminCidrs": ["128.0.0.0/1"]})["fastdata:adminCidrs[0]"]
    opted_in = parse_spec({**halves, "allowWorldAdmin": True}, project="p", stack="s")
    assert opted_in.admin_cidrs == ("0.0.0.0/1", "128.0.0.0/1")
    fine = parse_spec(
        {**AWS, "adminCidrs": ["10.0.0.0/8", "10.1.0.0/16", "198.51.100.0/24"]}, project="p", stack="s"
    )
    assert len(fine.admin_cidrs) == 3


def test_ipv4_share_is_the_union() -> None:
    from infra.ports import ipv4_share, opens_to_world

    assert ipv4_share(["0.0.0.0/1", "128.0.0.0/1"]) == 1.0
    assert ipv4_share(["10.0.0.0/8", "10.0.0.0/9"]) == 2**24 / 2**32  # overlaps count once
    assert ipv4_share(["Internet", "::/0", "not a cidr"]) == 0.0  # only IPv4 networks count
    assert opens_to_world(["0.0.0.0/2", "64.0.0.0/2"]) and not opens_to_world(["0.0.0.0/2"])


def test_cloud_node_counts_must_fit_the_subnets() -> None:
    """AWS and Azure place each node at a fixed address in a /24: one rule, shared with the local cloud."""
    azure = {"cloud": "azure", "region": "westeurope", "adminCidrs": ["203.0.113.0/24"]}
    for config in (AWS, azure):
        found = problems({**config, "nodes": {"agent": {"count": 300}}})
        message = found["fastdata:nodes.agent.count"]
        assert "is 300, making 302 nodes in all" in message and "/24" in message and "245" in message
        parse_spec({**config, "nodes": {"agent": {"count": 243}}}, project="p", stack="s")  # 245 in all
    # the local cloud: per role (its address plan) and in all, by the same function
    local = problems({"cloud": "local", "nodes": {"agent": {"count": 61}}})
    assert "at most 60 agent nodes" in local["fastdata:nodes.agent.count"]


def test_credentials_in_urls_are_never_echoed() -> None:
    found = problems(
        {
            **AWS,
            "artifacts": {"mesosPackageSource": "ftp://bob:hunter2@mirror.example/mesos.deb"},
            "dcos": {"config": "https://alice:s3cr@t@example/x"},
        }
    )
    text = " ".join(found.values())
    assert "mesosPackageSource" in " ".join(found) and "***@mirror.example" in text
    assert "hunter2" not in text and "s3cr" not in text and "t@example" not in text


def test_aws_image_is_looked_up_unless_pinned() -> None:
    unpinned = {k: v for k, v in AWS.items() if k != "image"}
    assert parse_spec(unpinned, project="p", stack="s").image is None  # the program looks it up
    assert parse_spec(AWS, project="p", stack="s").image == "ami-0123456789abcdef0"
    assert "fastdata:image" in problems({**AWS, "image": "debian-12"})
