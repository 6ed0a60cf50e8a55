"""AwsCluster: the cluster's machines on AWS (pulumi_aws 7.x).

One VPC with a public subnet per availability zone, an internet gateway, one security group per role
rendered from the port matrix, the admin key pair, instances per role (encrypted gp3 root volumes,
IMDSv2, host keys via cloud-init), and network load balancers in front of the masters' UIs and the
public agents' public ports. Every taggable resource carries spec.tags().

Nodes have public addresses because Fabric connects to them directly (no bastion yet); the security
groups admit SSH and the UIs from adminCidrs only (dcos-terraform's "admin" group,
docs/reference/dcos-mesos.md 2.3).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra import drain_guard, keys, ports
from infra.images import AMI_LOOKUPS
from infra.inventory import NodeRecord, StackOutputs, stack_outputs
from infra.ports import Protocol, ResolvedRule, Source
from infra.spec import ROLE_ORDER, ClusterSpec, Role

# Availability zones are named from the region, not looked up: a lookup is an API call (no offline
# preview, no deterministic tests). Two zones suffice for the load balancers; the regions listed lack
# the usual "a" or "b" zone for most accounts.
_AZ_SUFFIXES = {"us-west-1": ("b", "c"), "ap-northeast-1": ("a", "c")}
_DEFAULT_AZ_SUFFIXES = ("a", "b")


def availability_zones(region: str) -> tuple[str, ...]:
    return tuple(f"{region}{s}" for s in _AZ_SUFFIXES.get(region, _DEFAULT_AZ_SUFFIXES))


_AWS_PROTOCOL = {Protocol.TCP: "tcp", Protocol.UDP: "udp", Protocol.ICMP: "icmp", Protocol.ALL: "-1"}


def ingress_args(rules: Sequence[ResolvedRule]) -> list[aws.ec2.SecurityGroupIngressArgs]:
    """Security-group ingress entries for resolved matrix rows: one entry per port range."""
    entries = []
    for rule in rules:
        if rule.protocol is Protocol.ALL:
            spans = [(0, 0)]
        elif rule.protocol is Protocol.ICMP:
            spans = [(8, -1)]  # ICMP type 8 (echo request), any code
        else:
            spans = [(r.first, r.last) for r in rule.ports]
        for first, last in spans:
            entries.append(
                aws.ec2.SecurityGroupIngressArgs(
                    protocol=_AWS_PROTOCOL[rule.protocol],
                    from_port=first,
                    to_port=last,
                    cidr_blocks=list(rule.cidrs),
                    description=rule.description[:255],
                )
            )
    return entries


_EGRESS_ALL = [
    aws.ec2.SecurityGroupEgressArgs(
        protocol="-1",
        from_port=0,
        to_port=0,
        cidr_blocks=[ports.WORLD_CIDR],
        description="nodes fetch packages and images (apt, PyPI, Docker registries) and sync time",
    )
]


def image_id(spec: ClusterSpec, opts: pulumi.InvokeOutputOptions) -> pulumi.Output[str]:
    """`fastdata:image` when set (pinned); else the newest AMI of the platform's OS that its publisher
    published in the stack's region (infra/images.py AMI_LOOKUPS)."""
    if spec.image is not None:
        return pulumi.Output.from_input(spec.image)
    lookup = AMI_LOOKUPS[spec.platform]
    found = aws.ec2.get_ami_output(
        owners=[lookup.owner],
        most_recent=True,
        filters=[aws.ec2.GetAmiFilterArgs(name=k, values=[v]) for k, v in lookup.filters().items()],
        opts=opts,
    )
    return found.id


class AwsCluster(pulumi.ComponentResource):
    """The machines of one cluster on AWS. Outputs: `cluster` (docs/contracts.md) and the plain ones."""

    cluster: pulumi.Output[dict]
    outputs: StackOutputs

    def __init__(self, name: str, spec: ClusterSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastdata:infra:AwsCluster", name, None, opts)
        assert spec.region is not None  # ClusterSpec guarantees a region on aws
        self._name = name
        self._spec = spec
        provider = aws.Provider(f"{name}-aws", region=spec.region, opts=pulumi.ResourceOptions(parent=self))
        self._opts = pulumi.ResourceOptions(parent=self, provider=provider)
        ami = image_id(spec, pulumi.InvokeOutputOptions(parent=self, provider=provider))

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=ports.CLOUD_NETWORK,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._tags("vpc"),
            opts=self._opts,
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=self._tags("igw"), opts=self._opts
        )
        routes = aws.ec2.RouteTable(
            f"{name}-public-routes",
            vpc_id=vpc.id,
            tags=self._tags("public-routes"),
            opts=self._opts,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block=ports.WORLD_CIDR, gateway_id=gateway.id)],
        )
        zones = availability_zones(spec.region)
        subnets = []
        for zone, cidr in zip(zones, ports.subnet_cidrs(len(zones)), strict=True):
            subnet = aws.ec2.Subnet(
                f"{name}-subnet-{zone}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                map_public_ip_on_launch=True,
                tags=self._tags(f"subnet-{zone}"),
                opts=self._opts,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-subnet-{zone}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=self._opts
            )
            subnets.append(subnet)

        admin = keys.admin_key(name, parent=self)
        key_pair = aws.ec2.KeyPair(
            f"{name}-admin", public_key=admin.public_key, tags=self._tags("admin"), opts=self._opts
        )

        groups: dict[Role, aws.ec2.SecurityGroup] = {}
        for role in ROLE_ORDER:
            if spec.nodes.pool(role).count == 0:
                continue
            groups[role] = aws.ec2.SecurityGroup(
                f"{name}-{role.node_prefix}-sg",
                vpc_id=vpc.id,
                description=f"fastdata {role.value} nodes",
                ingress=ingress_args(self._resolved(role)),
                egress=_EGRESS_ALL,
                tags=self._tags(f"{role.node_prefix}-sg", role),
                opts=self._opts,
            )

        records: list[NodeRecord] = []
        instances: dict[Role, list[aws.ec2.Instance]] = {role: [] for role in ROLE_ORDER}
        # Fixed private addresses: DC/OS static master discovery and ZooKeeper ensembles need addresses
        # that survive a stop/start, and the inventory is known before the instances are.
        subnet_cidrs = ports.subnet_cidrs(len(zones))
        for ordinal, node in enumerate(spec.nodes.instances()):
            host = keys.host_key(name, node.name, parent=self)
            placement = node.index % len(subnets)
            private_ip = ports.node_address(subnet_cidrs[placement], ordinal)
            instance = aws.ec2.Instance(
                f"{name}-{node.name}",
                ami=ami,
                instance_type=node.size,
                subnet_id=subnets[placement].id,
                private_ip=private_ip,
                vpc_security_group_ids=[groups[node.role].id],
                key_name=key_pair.key_name,
                associate_public_ip_address=True,
                user_data=keys.host_key_user_data(host),
                # DC/OS agents run containers that read instance metadata: two hops (host + container)
                metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                    http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=2
                ),
                root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                    encrypted=True,
                    volume_type="gp3",
                    volume_size=spec.disk_gb(node.role),
                    delete_on_termination=True,
                    tags=self._tags(f"{node.name}-root", node.role),
                ),
                tags=self._tags(node.name, node.role),
                opts=self._opts,
            )
            instances[node.role].append(instance)
            records.append(
                NodeRecord(node.name, node.role, node.index, private_ip, instance.public_ip, host.public_key)
            )

        masters_lb = self._load_balancer(
            "masters",
            Role.MASTER,
            subnets,
            vpc,
            instances[Role.MASTER],
            ports.ui_ports(Role.MASTER, spec.platform),
        )
        public_lb = self._load_balancer(
            "public", Role.PUBLIC_AGENT, subnets, vpc, instances[Role.PUBLIC_AGENT], spec.public_ports
        )

        # refuses a run that would delete an agent `fab drain` has not emptied (infra/drain_guard.py)
        drain_guard.agent_set(spec, records, admin.private_key, parent=self)
        self.outputs = stack_outputs(
            spec,
            records,
            admin.private_key,
            image=ami,
            masters_endpoints=[masters_lb.dns_name] if masters_lb else None,
            public_agents_endpoints=[public_lb.dns_name] if public_lb else None,
        )
        self.cluster = self.outputs.cluster
        self.register_outputs({"cluster": self.cluster})

    def _tags(self, resource: str, role: Role | None = None) -> dict[str, str]:
        return {**self._spec.tags(role), "Name": f"{self._name}-{resource}"}

    def _resolved(self, role: Role) -> tuple[ResolvedRule, ...]:
        rows = ports.rules_for(role, self._spec.platform, self._spec.public_ports)
        return ports.resolve(rows, self._spec.admin_cidrs, [ports.CLOUD_NETWORK])

    def _load_balancer(
        self,
        label: str,
        role: Role,
        subnets: Sequence[aws.ec2.Subnet],
        vpc: aws.ec2.Vpc,
        targets: Sequence[aws.ec2.Instance],
        listen: Sequence[int],
    ) -> aws.lb.LoadBalancer | None:
        """A network load balancer forwarding `listen` ports to `targets`, behind a security group that
        admits the same sources as the targets' own group does for those ports."""
        if not targets or not listen:
            return None
        name = f"{self._name}-{label}"
        wanted = {ports.PortRange.single(p) for p in listen}
        lb_rules = [
            r
            for r in self._resolved(role)
            if r.source is not Source.CLUSTER and r.protocol is Protocol.TCP and wanted & set(r.ports)
        ]
        lb_rules = [
            ResolvedRule(
                r.name, r.source, r.protocol, tuple(p for p in r.ports if p in wanted), r.cidrs, r.description
            )
            for r in lb_rules
        ]
        group = aws.ec2.SecurityGroup(
            f"{name}-lb-sg",
            vpc_id=vpc.id,
            description=f"fastdata {label} load balancer",
            ingress=ingress_args(lb_rules),
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp",
                    from_port=0,
                    to_port=65535,
                    cidr_blocks=[ports.CLOUD_NETWORK],
                    description="to the cluster's nodes",
                )
            ],
            tags=self._tags(f"{label}-lb-sg", role),
            opts=self._opts,
        )
        lb = aws.lb.LoadBalancer(
            f"{name}-lb",
            load_balancer_type="network",
            internal=False,
            subnets=[s.id for s in subnets],
            security_groups=[group.id],
            tags=self._tags(f"{label}-lb", role),
            opts=self._opts,
        )
        for port in listen:
            target_group = aws.lb.TargetGroup(
                f"{name}-{port}",
                port=port,
                protocol="TCP",
                target_type="instance",
                vpc_id=vpc.id,
                health_check=aws.lb.TargetGroupHealthCheckArgs(protocol="TCP", port=str(port)),
                tags=self._tags(f"{label}-{port}", role),
                opts=self._opts,
            )
            aws.lb.Listener(
                f"{name}-{port}-listener",
                load_balancer_arn=lb.arn,
                port=port,
                protocol="TCP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)
                ],
                tags=self._tags(f"{label}-{port}-listener", role),
                opts=self._opts,
            )
            for index, instance in enumerate(targets):
                aws.lb.TargetGroupAttachment(
                    f"{name}-{port}-{index}",
                    target_group_arn=target_group.arn,
                    target_id=instance.id,
                    port=port,
                    opts=self._opts,
                )
        return lb
