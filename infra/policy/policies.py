"""fastdata's policies, importable (the pack's __main__.py only hands them to PolicyPack, which blocks).

1. fastdata-world-ingress: nothing but `fastdata:publicPorts` (TCP) is open to the world, and only on
   public agents.
2. fastdata-admin-sources: admin ports (SSH, the UIs: infra/ports.py) admit only `fastdata:adminCidrs`
   and the cluster's own network.
3. fastdata-required-tags: every taggable resource carries project, stack and cluster tags.
4. fastdata-encrypted-disks: instance root/EBS volumes encrypted; Azure VMs use encryption at host on
   managed disks.

Where adminCidrs and publicPorts come from: the policy's own config (`--policy-pack-config`, keys
`adminCidrs`, `publicPorts`) if set, else the stack's config read through the same ClusterSpec the program
uses (the language host hands the pack the stack configuration), else a violation that says so.
Properties are engine names (camelCase), as the engine passes them to the pack.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from contract.schema import Role
from infra import ports
from infra.errors import InfraError

PACK_NAME = "fastdata"
REQUIRED_TAGS = ("project", "stack", "cluster")
FULL_RANGE = (0, 65535)
WORLD_SOURCES = frozenset({"0.0.0.0/0", "::/0", "*", "internet", "any", "0.0.0.0"})
# Azure service tags that mean "inside the cluster's network" (Azure's own default rules use them)
INTERNAL_TAGS = frozenset({"virtualnetwork", "azureloadbalancer"})


@dataclass(frozen=True)
class Settings:
    admin_cidrs: tuple[str, ...] | None  # None: unknown (neither pack config nor stack config)
    public_ports: tuple[int, ...]
    cluster_networks: tuple[str, ...]


@dataclass(frozen=True)
class Ingress:
    """One inbound allow rule, normalised across AWS and Azure."""

    label: str
    protocol: str  # tcp | udp | icmp | all
    ranges: tuple[tuple[int, int], ...]
    sources: tuple[str, ...]


# --- where settings come from ---------------------------------------------------------------------------


def _stack_settings() -> Settings | None:
    """The stack's own adminCidrs/publicPorts via ClusterSpec, when the pack runs with stack config."""
    from infra.spec import load_spec

    try:
        spec = load_spec()
    except (InfraError, ValueError):
        return None  # no stack config in this process, or an invalid one the program itself rejects
    networks = (ports.CLOUD_NETWORK, spec.local.subnet)
    return Settings(spec.admin_cidrs, spec.public_ports, networks)


def settings_for(args: ResourceValidationArgs) -> Settings:
    config = args.get_config() or {}
    stack = _stack_settings() if "adminCidrs" not in config or "publicPorts" not in config else None
    admin: tuple[str, ...] | None
    if "adminCidrs" in config:
        admin = tuple(str(c) for c in config["adminCidrs"])
    else:
        admin = stack.admin_cidrs if stack else None
    if "publicPorts" in config:
        public = tuple(int(p) for p in config["publicPorts"])
    else:
        public = stack.public_ports if stack else (80, 443)
    networks = stack.cluster_networks if stack else (ports.CLOUD_NETWORK,)
    networks = tuple(config.get("clusterNetworks", networks))
    return Settings(admin, public, networks)


# --- reading rules out of resources ---------------------------------------------------------------------


def _aws_ranges(protocol: str, first: Any, last: Any) -> tuple[tuple[int, int], ...]:
    if protocol in ("-1", "all"):
        return (FULL_RANGE,)
    if protocol in ("icmp", "1", "icmpv6", "58"):
        return ()
    return ((int(first), int(last)),)


def _aws_protocol(protocol: str) -> str:
    return {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmp", "icmpv6": "icmp"}.get(
        protocol, protocol
    )


def _aws_ingress(label: str, rule: Mapping[str, Any], protocol_key: str, sources: Sequence[str]) -> Ingress:
    protocol = str(rule.get(protocol_key, "")).lower()
    ranges = _aws_ranges(protocol, rule.get("fromPort"), rule.get("toPort"))
    return Ingress(label, _aws_protocol(protocol), ranges, tuple(sources))


def _azure_ranges(rule: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    specs = list(rule.get("destinationPortRanges") or [])
    if rule.get("destinationPortRange"):
        specs.append(rule["destinationPortRange"])
    ranges = []
    for spec in specs:
        text = str(spec).strip()
        if text == "*":
            ranges.append(FULL_RANGE)
        elif "-" in text:
            first, last = text.split("-", 1)
            ranges.append((int(first), int(last)))
        else:
            ranges.append((int(text), int(text)))
    return tuple(ranges)


def _azure_ingress(rule: Mapping[str, Any], label: str) -> Ingress | None:
    if str(rule.get("direction", "")).lower() != "inbound" or str(rule.get("access", "")).lower() != "allow":
        return None
    sources = list(rule.get("sourceAddressPrefixes") or [])
    if rule.get("sourceAddressPrefix"):
        sources.append(rule["sourceAddressPrefix"])
    protocol = str(rule.get("protocol", "*")).lower()
    protocol = "all" if protocol == "*" else protocol
    ranges = () if protocol in ("icmp",) else _azure_ranges(rule)
    return Ingress(label, protocol, ranges, tuple(str(s) for s in sources))


def ingress_rules(resource_type: str, props: Mapping[str, Any]) -> list[Ingress]:
    """Every inbound allow rule a resource declares, whatever the resource type."""
    found: list[Ingress] = []
    if resource_type == "aws:ec2/securityGroup:SecurityGroup":
        for i, rule in enumerate(props.get("ingress") or []):
            found.append(
                _aws_ingress(
                    f"ingress[{i}] {rule.get('description', '')}".strip(),
                    rule,
                    "protocol",
                    [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])],
                )
            )
    elif resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule" and props.get("type") == "ingress":
        found.append(
            _aws_ingress(
                "rule",
                props,
                "protocol",
                [*(props.get("cidrBlocks") or []), *(props.get("ipv6CidrBlocks") or [])],
            )
        )
    elif resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        found.append(
            _aws_ingress(
                "rule", props, "ipProtocol", [s for s in (props.get("cidrIpv4"), props.get("cidrIpv6")) if s]
            )
        )
    elif resource_type == "azure-native:network:NetworkSecurityGroup":
        for rule in props.get("securityRules") or []:
            ingress = _azure_ingress(rule, str(rule.get("name", "rule")))
            if ingress:
                found.append(ingress)
    elif resource_type == "azure-native:network:SecurityRule":
        ingress = _azure_ingress(props, str(props.get("name", "rule")))
        if ingress:
            found.append(ingress)
    return found


def _is_world(source: str) -> bool:
    return source.strip().lower() in WORLD_SOURCES


def _opens_to_world(sources: Sequence[str]) -> bool:
    """A world tag, or CIDRs whose union covers the world by addresses (0.0.0.0/1 + 128.0.0.0/1 is
    0.0.0.0/0): infra/ports.py opens_to_world, the same rule the spec applies to adminCidrs."""
    return any(_is_world(s) for s in sources) or ports.opens_to_world(sources)


def _within(source: str, networks: Iterable[str]) -> bool:
    try:
        net = ipaddress.ip_network(source.strip(), strict=False)
    except ValueError:
        return False
    for allowed in networks:
        other = ipaddress.ip_network(allowed, strict=False)
        if net.version == other.version and net.subnet_of(other):  # type: ignore[arg-type]
            return True
    return False


def _overlaps(ranges: Iterable[tuple[int, int]], ports_: Iterable[int]) -> list[int]:
    return sorted({p for p in ports_ for first, last in ranges if first <= p <= last})


def _role(props: Mapping[str, Any]) -> str | None:
    tags = props.get("tags") or {}
    return tags.get("role") if isinstance(tags, Mapping) else None


def _admin_ports_for(role: str | None) -> set[int]:
    """Admin TCP ports of a role on any platform (the pack does not know the platform); every admin port
    when the resource does not say its role."""
    roles = [role] if role in ports.ALL_ROLES else sorted(ports.ALL_ROLES)
    return {
        rng.first for r in roles for platform in ports.ALL_PLATFORMS for rng in ports.admin_ports(r, platform)
    } | {22}


# --- the policies ---------------------------------------------------------------------------------------


def check_world_ingress(args: ResourceValidationArgs, report: ReportViolation) -> None:
    rules = ingress_rules(args.resource_type, args.props)
    if not rules:
        return
    settings = settings_for(args)
    role = _role(args.props)
    for rule in rules:
        if not _opens_to_world(rule.sources):
            continue
        if rule.protocol != "tcp":
            report(
                f"{rule.label}: opens {rule.protocol.upper()} to the world; only TCP "
                f"{list(settings.public_ports)} may be public",
                None,
            )
            continue
        outside = [
            f"{a}-{b}" if a != b else str(a)
            for a, b in rule.ranges
            if not all(p in settings.public_ports for p in range(a, b + 1))
        ]
        if outside:
            report(
                f"{rule.label}: opens TCP {', '.join(outside)} to the world; only fastdata:publicPorts "
                f"{list(settings.public_ports)} may be",
                None,
            )
        if role != Role.PUBLIC_AGENT:
            report(
                f"{rule.label}: opens ports to the world on a {role or 'untagged'} resource; only "
                "public agents (role=publicAgent) may be reachable from the world",
                None,
            )


def check_admin_sources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    rules = ingress_rules(args.resource_type, args.props)
    if not rules:
        return
    settings = settings_for(args)
    admin_ports = _admin_ports_for(_role(args.props))
    for rule in rules:
        covered = _overlaps(rule.ranges, admin_ports) if rule.protocol in ("tcp", "all") else []
        if not covered:
            continue
        if _opens_to_world(rule.sources):
            how = (
                "the world"
                if any(_is_world(s) for s in rule.sources)
                else f"{ports.ipv4_share(rule.sources):.0%} of the IPv4 internet"
            )
            report(
                f"{rule.label}: admin port(s) {covered} open to {list(rule.sources)}, that is {how}; "
                "admin ports admit only fastdata:adminCidrs and the cluster network, never the world",
                None,
            )
            continue
        if settings.admin_cidrs is None:
            report(
                f"{rule.label}: opens admin port(s) {covered} but the pack knows no adminCidrs to check "
                "them against: run it with the stack's configuration or set adminCidrs in its config",
                None,
            )
            continue
        allowed = (*settings.admin_cidrs, *settings.cluster_networks)
        bad = [s for s in rule.sources if s.strip().lower() not in INTERNAL_TAGS and not _within(s, allowed)]
        if bad:
            report(
                f"{rule.label}: admin port(s) {covered} open to {bad}; only fastdata:adminCidrs "
                f"{list(settings.admin_cidrs)} and the cluster network may reach them",
                None,
            )


# Resource types that have no tags property (checked against the SDKs by tests/unit/test_policy_*).
UNTAGGABLE = frozenset(
    {
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation",
        "aws:ec2/route:Route",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:ec2/volumeAttachment:VolumeAttachment",
        "aws:lb/targetGroupAttachment:TargetGroupAttachment",
        "azure-native:network:Subnet",
        "azure-native:network:SecurityRule",
    }
)
TAGGED_PREFIXES = ("aws:", "azure-native:")


def check_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.resource_type.startswith(TAGGED_PREFIXES) or args.resource_type in UNTAGGABLE:
        return
    tags = args.props.get("tags") or {}
    missing = [t for t in REQUIRED_TAGS if not (isinstance(tags, Mapping) and tags.get(t))]
    if missing:
        report(
            f"{args.resource_type} is missing tag(s) {missing}: every taggable resource carries "
            f"{list(REQUIRED_TAGS)} (spec.tags())",
            None,
        )


def check_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    if args.resource_type == "aws:ec2/instance:Instance":
        root = props.get("rootBlockDevice") or {}
        if root.get("encrypted") is not True:
            report("instance root volume is not encrypted: set root_block_device.encrypted=True", None)
        for i, disk in enumerate(props.get("ebsBlockDevices") or []):
            if disk.get("encrypted") is not True:
                report(f"instance ebsBlockDevices[{i}] is not encrypted", None)
    elif args.resource_type == "aws:ebs/volume:Volume":
        if props.get("encrypted") is not True:
            report("EBS volume is not encrypted: set encrypted=True", None)
    elif args.resource_type == "azure-native:compute:VirtualMachine":
        security = props.get("securityProfile") or {}
        if security.get("encryptionAtHost") is not True:
            report("VM does not use encryption at host: set security_profile.encryption_at_host=True", None)
        os_disk = (props.get("storageProfile") or {}).get("osDisk") or {}
        if os_disk.get("vhd") or not os_disk.get("managedDisk"):
            report(
                "VM OS disk is not a managed disk (unmanaged VHDs are not encrypted by the platform)", None
            )


_NETWORK_CONFIG = PolicyConfigSchema(
    properties={
        "adminCidrs": {"type": "array", "items": {"type": "string"}},
        "publicPorts": {"type": "array", "items": {"type": "integer"}},
        "clusterNetworks": {"type": "array", "items": {"type": "string"}},
    }
)


def make_policies() -> list[Policy]:
    return [
        ResourceValidationPolicy(
            name="fastdata-world-ingress",
            description="Only fastdata:publicPorts (TCP) are open to the world, and only on public agents.",
            validate=check_world_ingress,
            enforcement_level=EnforcementLevel.MANDATORY,
            config_schema=_NETWORK_CONFIG,
        ),
        ResourceValidationPolicy(
            name="fastdata-admin-sources",
            description="SSH and the admin UIs admit only fastdata:adminCidrs and the cluster network.",
            validate=check_admin_sources,
            enforcement_level=EnforcementLevel.MANDATORY,
            config_schema=_NETWORK_CONFIG,
        ),
        ResourceValidationPolicy(
            name="fastdata-required-tags",
            description=f"Every taggable resource carries the tags {', '.join(REQUIRED_TAGS)}.",
            validate=check_tags,
            enforcement_level=EnforcementLevel.MANDATORY,
        ),
        ResourceValidationPolicy(
            name="fastdata-encrypted-disks",
            description="Instance volumes are encrypted; Azure VMs use encryption at host on managed disks.",
            validate=check_encryption,
            enforcement_level=EnforcementLevel.MANDATORY,
        ),
    ]


_NO_OPTIONS = PolicyResourceOptions(
    protect=False,
    ignore_changes=[],
    delete_before_replace=None,
    aliases=[],
    custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
    additional_secret_outputs=[],
)


def validate_resources(
    resources: Sequence[tuple[str, str, Mapping[str, Any]]], config: Mapping[str, Any] | None = None
) -> list[str]:
    """Run every policy over (type, name, props) triples; return the violations as text. This is how the
    tests run the pack without the CLI; the CLI calls the same validate functions."""
    violations: list[str] = []
    for policy in make_policies():
        assert isinstance(policy, ResourceValidationPolicy)  # all of fastdata's policies are per resource
        for resource_type, name, props in resources:
            args = ResourceValidationArgs(
                resource_type=resource_type,
                props=props,
                urn=f"urn:pulumi:test::fastdata::{resource_type}::{name}",
                name=name,
                opts=_NO_OPTIONS,
                provider=None,
                config=dict(config or {}),
            )

            def report(
                message: str, _urn: str | None = None, *, _p: str = policy.name, _n: str = name
            ) -> None:
                violations.append(f"{_p}: {_n}: {message}")

            policy.validate(args, report)
    return violations
