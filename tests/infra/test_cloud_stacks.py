"""Every shipped cloud stack, run through the real program under Pulumi mocks.

One test per stack file: it runs the program afresh with the file's `fastdata:` config (a full run of
the bigger stacks takes a second or two, so the checks share that one run instead of re-running it per
check) and then checks what was declared: machines per role, security rules, tags, load balancers, host
keys in cloud-init, the `cluster` output, and that the policy pack accepts all of it.
"""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from typing import Any

import paramiko
import pytest
import yaml
from conftest import (
    CLOUD_STACKS,
    KEY_TYPE,
    LOOKED_UP_AMI,
    ProgramRun,
    Registered,
    sdk_has_tags,
    stack_config,
)

from infra import ports
from infra.policy.policies import TAGGED_PREFIXES, UNTAGGABLE, Ingress, ingress_rules, validate_resources
from infra.spec import Cloud, ClusterSpec, Platform, Role, parse_spec

pytestmark = pytest.mark.infra

MACHINE_TYPE = {Cloud.AWS: "aws:ec2/instance:Instance", Cloud.AZURE: "azure-native:compute:VirtualMachine"}
FIREWALL_TYPE = {
    Cloud.AWS: "aws:ec2/securityGroup:SecurityGroup",
    Cloud.AZURE: "azure-native:network:NetworkSecurityGroup",
}


def load(stack: str) -> ClusterSpec:
    return parse_spec(stack_config(stack), project="fastdata", stack=stack)


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_shipped_stack(stack: str, run_program: Any) -> None:
    """The program declares exactly what the stack file asks for, securely, and exports the inventory."""
    deployed = load(stack), run_program(stack_config(stack), stack)
    check_machines_per_role(deployed)
    check_sizes_and_encrypted_disks(deployed)
    check_security_rules(deployed)
    check_tags(deployed)
    check_names(deployed)
    check_cluster_output(deployed)
    check_image_lookup(deployed)
    check_plain_outputs(deployed)
    check_load_balancers(deployed)
    check_policy_pack_accepts(deployed)


def _role(resource: Registered) -> str | None:
    return (resource.inputs.get("tags") or {}).get("role")


def check_machines_per_role(deployed: tuple[ClusterSpec, ProgramRun]) -> None:
    spec, run = deployed
    machines = run.of_type(MACHINE_TYPE[spec.cloud])
    counted = Counter(_role(m) for m in machines)
    expected = {role.value: spec.nodes.pool(role).count for role in Role if spec.nodes.pool(role).count}
    assert dict(counted) == expected
    # the shipped stacks are what the issue asks for: prod = 3 masters on DC/OS, dev = 1 master on Mesos
    if spec.stack.startswith("prod"):
        assert (spec.platform, spec.nodes.master.count, spec.nodes.bootstrap.count) == (Platform.DCOS, 3, 1)
    else:
        assert (spec.platform, spec.nodes.master.count, spec.nodes.bootstrap.count) == (Platform.MESOS, 1, 0)


def check_sizes_and_encrypted_disks(deployed: tuple[ClusterSpec, ProgramRun]) -> None:
    spec, run = deployed
    for machine in run.of_type(MACHINE_TYPE[spec.cloud]):
        role = Role(_role(machine))
        if spec.cloud is Cloud.AWS:
            assert machine.inputs["instanceType"] == spec.nodes.pool(role).size
            assert machine.inputs["ami"] == run.exports["image"] == (spec.image or LOOKED_UP_AMI)
            assert machine.inputs["rootBlockDevice"]["encrypted"] is True
            assert machine.inputs["metadataOptions"]["httpTokens"] == "required"
        else:
            assert machine.inputs["hardwareProfile"]["vmSize"] == spec.nodes.pool(role).size
            reference = machine.inputs["storageProfile"]["imageReference"]
            urn = ":".join(reference[k] for k in ("publisher", "offer", "sku", "version"))
            assert urn == run.exports["image"] == spec.image
            assert machine.inputs["securityProfile"]["encryptionAtHost"] is True
            linux = machine.inputs["osProfile"]["linuxConfiguration"]
            assert linux["disablePasswordAuthentication"] is True


def _rules_by_role(spec: ClusterSpec, run: ProgramRun) -> dict[str, list[Ingress]]:
    """Ingress rules of the per-role firewalls (not the load balancers' groups), by role."""
    found: dict[str, list[Ingress]] = {}
    for fw in run.of_type(FIREWALL_TYPE[spec.cloud]):
        if "-lb-" in fw.name:
            continue
        role = _role(fw)
        assert role is not None, f"{fw.name} has no role tag"
        assert role not in found, f"two firewalls for {role}"
        found[role] = ingress_rules(fw.type, fw.inputs)
    return found


def _ports(rule: Ingress) -> set[int]:
    return {p for first, last in rule.ranges for p in range(first, last + 1)}


def check_security_rules(deployed: tuple[ClusterSpec, ProgramRun]) -> None:
    spec, run = deployed
    by_role = _rules_by_role(spec, run)
    assert set(by_role) == {r.value for r in Role if spec.nodes.pool(r).count}
    world = {"0.0.0.0/0", "Internet", "*"}
    for role, rules in by_role.items():
        ssh = [r for r in rules if 22 in _ports(r) and r.protocol == "tcp"]
        assert len(ssh) == 1 and set(ssh[0].sources) == set(spec.admin_cidrs), f"{role}: SSH: adminCidrs only"
        internal = [r for r in rules if set(r.sources) == {ports.CLOUD_NETWORK}]
        assert [r.protocol for r in internal] == ["all"], f"{role}: everything between nodes"
        public = [r for r in rules if world & set(r.sources)]
        if role == "publicAgent":
            assert {r.protocol for r in public} == {"tcp"}
            assert set().union(*(_ports(r) for r in public)) == set(spec.public_ports)
        else:
            assert public == [], f"{role} must not be reachable from the world"
        admin_ui = {p.first for p in ports.admin_ports(role, spec.platform)}
        admin_rules = [r for r in rules if set(r.sources) == set(spec.admin_cidrs) and r.protocol == "tcp"]
        assert set().union(*(_ports(r) for r in admin_rules)) == admin_ui
    if spec.platform is Platform.DCOS:
        master_admin = set().union(
            *(_ports(r) for r in by_role["master"] if set(r.sources) == set(spec.admin_cidrs))
        )
        assert {80, 443, 8181} <= master_admin  # Admin Router and Exhibitor for operators


def check_tags(deployed: tuple[ClusterSpec, ProgramRun]) -> None:
    spec, run = deployed
    expected = {"project": "fastdata", "stack": spec.stack, "cluster": spec.name}
    tagged = [
        r
        for r in run.declared
        if r.type.startswith(("aws:", "azure-native:"))
        and not r.type.startswith("pulumi:providers:")
        and r.type not in UNTAGGABLE
    ]
    assert tagged, "the program declared no cloud resources"
    for resource in tagged:
        tags = resource.inputs.get("tags") or {}
        assert {k: tags.get(k) for k in expected} == expected, f"{resource.type} {resource.name}: {tags}"
    for resource in run.of_type(MACHINE_TYPE[spec.cloud]) + run.of_type(FIREWALL_TYPE[spec.cloud]):
        assert _role(resource) in {r.value for r in Role}
    # the policy pack's list of untaggable types agrees with the SDKs for every type the program uses
    for resource_type in {r.type for r in run.declared if r.type.startswith(TAGGED_PREFIXES)}:
        assert sdk_has_tags(resource_type) == (resource_type not in UNTAGGABLE), resource_type


def check_names(deployed: tuple[ClusterSpec, ProgramRun]) -> None:
    spec, run = deployed
    for resource in run.declared:
        assert resource.name.startswith(spec.name), resource.name


def _user_data(spec: ClusterSpec, machine: Registered) -> dict[str, Any]:
    if spec.cloud is Cloud.AWS:
        text = machine.inputs["userData"]
    else:
        text = base64.b64decode(machine.inputs["osProfile"]["customData"]).decode()
    assert text.startswith("#cloud-config\n")
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def check_cluster_output(deployed: tuple[ClusterSpec, ProgramRun]) -> None:
    spec, run = deployed
    cluster = run.exports["cluster"]
    assert (cluster["name"], cluster["cloud"], cluster["platform"]) == (spec.name, spec.cloud, spec.platform)
    assert cluster["settings"] == spec.settings.to_json()
    assert cluster["ssh"]["user"] == spec.ssh_user and cluster["ssh"]["port"] == 22

    names = [n["name"] for n in cluster["nodes"]]
    assert names == [node.name for node in spec.nodes.instances()]  # contract order: role, then index
    assert all(n["publicIp"] and n["privateIp"].startswith("10.40.") for n in cluster["nodes"])
    assert len(set(n["privateIp"] for n in cluster["nodes"])) == len(names)

    # The admin key in the output is the one the machines accept.
    private = paramiko.Ed25519Key.from_private_key(io.StringIO(cluster["ssh"]["privateKey"]))
    public = f"{private.get_name()} {private.get_base64()}"
    if spec.cloud is Cloud.AWS:
        assert run.of_type("aws:ec2/keyPair:KeyPair")[0].inputs["publicKey"] == public
    else:
        for vm in run.of_type(MACHINE_TYPE[Cloud.AZURE]):
            keys = vm.inputs["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"]
            assert [k["keyData"] for k in keys] == [public]

    # Every address of every node is pinned to the host key that cloud-init installs on that node.
    known: dict[str, str] = {}
    for line in cluster["ssh"]["knownHosts"].splitlines():
        address, key_type, key = line.split()
        assert key_type == "ssh-ed25519"
        known[address] = key
    machines = {m.name.removeprefix(f"{spec.name}-"): m for m in run.of_type(MACHINE_TYPE[spec.cloud])}
    for node in cluster["nodes"]:
        assert known[node["privateIp"]] == known[node["publicIp"]]
        cloud_init = _user_data(spec, machines[node["name"]])
        assert cloud_init["ssh_deletekeys"] is True and cloud_init["ssh_genkeytypes"] == []
        assert cloud_init["ssh_keys"]["ed25519_public"].split()[1] == known[node["privateIp"]]
        assert "PRIVATE KEY" in cloud_init["ssh_keys"]["ed25519_private"]
    host_keys = [k for k in run.of_type(KEY_TYPE) if k.name.endswith("-host-key")]
    assert len(host_keys) == len(names) and len(set(known.values())) == len(names)

    endpoints = cluster["endpoints"]
    assert len(endpoints["masters"]) == 1 and endpoints["masters"][0]  # the masters' load balancer
    assert len(endpoints["publicAgents"]) == 1 and endpoints["publicAgents"][0]
    bootstrap = [n for n in cluster["nodes"] if n["role"] == "bootstrap"]
    assert endpoints["bootstrap"] == (bootstrap[0]["privateIp"] if bootstrap else None)


def check_load_balancers(deployed: tuple[ClusterSpec, ProgramRun]) -> None:
    spec, run = deployed
    ui = sorted(ports.ui_ports("master", spec.platform))
    if spec.cloud is Cloud.AWS:
        listeners = {r.name: r.inputs["port"] for r in run.of_type("aws:lb/listener:Listener")}
        masters = sorted(p for n, p in listeners.items() if "-masters-" in n)
        public = sorted(p for n, p in listeners.items() if "-public-" in n)
        attachments = run.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")
        expected = len(ui) * spec.nodes.master.count + len(public) * spec.nodes.public_agent.count
        assert len(attachments) == expected
    else:
        lbs = {r.name: r.inputs for r in run.of_type("azure-native:network:LoadBalancer")}
        masters = sorted(
            rule["frontendPort"]
            for n, lb in lbs.items()
            if "-masters-" in n
            for rule in lb["loadBalancingRules"]
        )
        public = sorted(
            rule["frontendPort"]
            for n, lb in lbs.items()
            if "-public-" in n
            for rule in lb["loadBalancingRules"]
        )
    assert masters == ui
    assert public == sorted(spec.public_ports)


def check_policy_pack_accepts(deployed: tuple[ClusterSpec, ProgramRun]) -> None:
    """The pack, fed the stack's own settings as the CLI would, finds nothing to object to."""
    spec, run = deployed
    config = {"adminCidrs": list(spec.admin_cidrs), "publicPorts": list(spec.public_ports)}
    assert validate_resources([(r.type, r.name, r.inputs) for r in run.declared], config) == []


def test_each_run_is_fresh(run_program: Any) -> None:
    """Re-running the program is a fresh run: new mocks, new registrations (no import-cache leaks)."""
    first = run_program(stack_config("dev-aws"), "dev-aws")
    second = run_program(stack_config("dev-aws"), "dev-aws")
    assert len(first.declared) == len(second.declared) > 0
    assert first.exports["cluster"]["ssh"]["privateKey"] != second.exports["cluster"]["ssh"]["privateKey"]


def check_image_lookup(deployed: tuple[ClusterSpec, ProgramRun]) -> None:
    """AWS stacks without fastdata:image look the AMI up once: the OS publisher's account, the newest
    image, the OS name filter of the platform, in the stack's region (the provider's)."""
    spec, run = deployed
    if spec.cloud is not Cloud.AWS or spec.image is not None:
        assert run.calls == []
        return
    assert [c.token for c in run.calls] == ["aws:ec2/getAmi:getAmi"]
    args = run.calls[0].args
    assert args["mostRecent"] is True
    filters = {f["name"]: f["values"] for f in args["filters"]}
    if spec.platform is Platform.DCOS:
        assert args["owners"] == ["125523088429"] and filters["name"] == ["CentOS Linux 7*x86_64*"]
    else:
        assert args["owners"] == ["136693071363"] and filters["name"] == ["debian-12-amd64-*"]
    assert filters["architecture"] == ["x86_64"] and filters["virtualization-type"] == ["hvm"]


PLAIN_OUTPUTS = {"nodes", "endpoints", "dashboardUrl", "knownHosts", "sshCommand", "image"}


def check_plain_outputs(deployed: tuple[ClusterSpec, ProgramRun]) -> None:
    """What people look up is readable without --show-secrets and carries no key material; only the
    private key (and `cluster`, which carries it for Fabric) is secret."""
    spec, run = deployed
    assert set(run.exports) == {"cluster", "sshPrivateKey", *PLAIN_OUTPUTS}
    assert {name for name, secret in run.secret.items() if secret} == {"cluster", "sshPrivateKey"}
    cluster = run.exports["cluster"]
    assert run.exports["sshPrivateKey"] == cluster["ssh"]["privateKey"]
    plain = {name: run.exports[name] for name in PLAIN_OUTPUTS}
    text = json.dumps(plain)
    assert "PRIVATE KEY" not in text and cluster["ssh"]["privateKey"].splitlines()[1] not in text
    assert plain["nodes"] == cluster["nodes"] and plain["endpoints"] == cluster["endpoints"]
    assert plain["knownHosts"] == cluster["ssh"]["knownHosts"]
    dashboard = f"http://{cluster['endpoints']['publicAgents'][0]}/" if spec.settings.demo.enabled else None
    assert plain["dashboardUrl"] == dashboard  # the prod-* (DC/OS, CentOS 7) stacks ship the demo off
    master = next(n for n in cluster["nodes"] if n["role"] == "master")
    assert plain["sshCommand"].endswith(f"{spec.ssh_user}@{master['publicIp']}")
    assert "StrictHostKeyChecking=yes" in plain["sshCommand"]


def test_a_pinned_image_is_not_looked_up(run_program: Any) -> None:
    run = run_program({**stack_config("dev-aws"), "image": "ami-0123456789abcdef0"}, "dev-aws")
    assert run.calls == [] and run.exports["image"] == "ami-0123456789abcdef0"
    assert {m.inputs["ami"] for m in run.of_type(MACHINE_TYPE[Cloud.AWS])} == {"ami-0123456789abcdef0"}


def test_no_dashboard_url_without_the_demo(run_program: Any) -> None:
    run = run_program({**stack_config("dev-azure"), "demo": {"enabled": False}}, "dev-azure")
    assert run.exports["dashboardUrl"] is None and run.secret["dashboardUrl"] is False


@pytest.mark.parametrize("stack", ["dev-aws", "dev-azure"])
def test_a_two_agent_stack_adapts_its_kafka_defaults(stack: str, run_program: Any) -> None:
    """2 agents: 2 brokers and RF 2 in the cluster output, without anyone setting them; an explicit
    replicationFactor 3 cannot fit and is refused naming both keys, before any resource."""
    config = stack_config(stack)
    two = {**config, "nodes": {**config["nodes"], "agent": {**config["nodes"]["agent"], "count": 2}}}
    kafka = run_program(two, stack).exports["cluster"]["settings"]["kafka"]
    assert (kafka["brokers"], kafka["replicationFactor"], kafka["minInsyncReplicas"]) == (2, 2, 1)
    refused = run_program({**two, "kafka": {"replicationFactor": 3}}, stack, allow_error=True)
    assert refused.error is not None and not refused.declared
    assert "fastdata:kafka.replicationFactor" in str(refused.error)
    assert "fastdata:nodes.agent.count" in str(refused.error)
