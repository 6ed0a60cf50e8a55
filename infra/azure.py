"""AzureCluster: the cluster's machines on Azure (pulumi_azure_native 3.x).

A resource group, one VNet and subnet, one NSG per role rendered from the same port matrix as AWS
(no SSH from `*`, unlike dcos-terraform's Azure NSGs: docs/reference/dcos-mesos.md 2.3), a static public IP
and NIC per
node, Linux VMs with SSH-key login only, host keys via cloud-init, encryption at host, and Standard
load balancers for the masters' UIs and the public agents' public ports. Every taggable resource carries
spec.tags().

Encryption at host encrypts the OS disk, caches and temp disk end to end; a subscription enables it once
with `az feature register --namespace Microsoft.Compute --name EncryptionAtHost` (see stacks/*azure*).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, cast

import pulumi
from pulumi_azure_native import compute, network, resources

from infra import drain_guard, keys, ports
from infra.inventory import NodeRecord, StackOutputs, stack_outputs
from infra.ports import Protocol, ResolvedRule, Source
from infra.spec import ROLE_ORDER, ClusterSpec, Role

_AZURE_PROTOCOL = {Protocol.TCP: "Tcp", Protocol.UDP: "Udp", Protocol.ICMP: "Icmp", Protocol.ALL: "*"}
_FIRST_PRIORITY = 100
_PRIORITY_STEP = 10


def security_rules(rules: Sequence[ResolvedRule]) -> list[network.SecurityRuleArgs]:
    """NSG rules for resolved matrix rows, priorities in matrix order. The world is Azure's `Internet`
    service tag; everything not allowed here falls to Azure's DenyAllInBound."""
    entries = []
    for i, rule in enumerate(rules):
        world = rule.source is Source.WORLD
        if rule.protocol in (Protocol.ALL, Protocol.ICMP) or not rule.ports:
            port_args: dict[str, Any] = {"destination_port_range": "*"}
        else:
            port_args = {"destination_port_ranges": [str(r) for r in rule.ports]}
        source_args: dict[str, Any] = (
            {"source_address_prefix": "Internet"} if world else {"source_address_prefixes": list(rule.cidrs)}
        )
        entries.append(
            network.SecurityRuleArgs(
                name=rule.name,
                priority=_FIRST_PRIORITY + i * _PRIORITY_STEP,
                direction="Inbound",
                access="Allow",
                protocol=_AZURE_PROTOCOL[rule.protocol],
                source_port_range="*",
                destination_address_prefix="*",
                description=rule.description[:140],
                **source_args,
                **port_args,
            )
        )
    return entries


def parse_image(urn: str) -> compute.ImageReferenceArgs:
    publisher, offer, sku, version = urn.split(":")
    return compute.ImageReferenceArgs(publisher=publisher, offer=offer, sku=sku, version=version)


class AzureCluster(pulumi.ComponentResource):
    """The machines of one cluster on Azure. Outputs: `cluster` (docs/contracts.md) and the plain ones."""

    cluster: pulumi.Output[dict]
    outputs: StackOutputs

    def __init__(self, name: str, spec: ClusterSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fastdata:infra:AzureCluster", name, None, opts)
        assert spec.region is not None and spec.image is not None  # ClusterSpec defaults both on azure
        image = spec.image
        self._name = name
        self._spec = spec
        self._opts = pulumi.ResourceOptions(parent=self)
        location = spec.region

        group = resources.ResourceGroup(f"{name}-rg", location=location, tags=spec.tags(), opts=self._opts)
        self._group = group
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=group.name,
            location=location,
            address_space=network.AddressSpaceArgs(address_prefixes=[ports.CLOUD_NETWORK]),
            tags=spec.tags(),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["subnets"]),
        )
        subnet = network.Subnet(
            f"{name}-subnet",
            resource_group_name=group.name,
            virtual_network_name=vnet.name,
            address_prefix=ports.subnet_cidrs(1)[0],
            opts=self._opts,
        )
        # Fixed private addresses: DC/OS static master discovery and ZooKeeper ensembles need addresses
        # that survive a reboot, and the inventory is known before the VMs are.

        admin = keys.admin_key(name, parent=self)

        nsgs: dict[Role, network.NetworkSecurityGroup] = {}
        for role in ROLE_ORDER:
            if spec.nodes.pool(role).count == 0:
                continue
            rows = ports.rules_for(role, spec.platform, spec.public_ports)
            nsgs[role] = network.NetworkSecurityGroup(
                f"{name}-{role.node_prefix}-nsg",
                resource_group_name=group.name,
                location=location,
                security_rules=security_rules(ports.resolve(rows, spec.admin_cidrs, [ports.CLOUD_NETWORK])),
                tags=spec.tags(role),
                opts=self._opts,
            )

        masters_lb = self._load_balancer("masters", Role.MASTER, ports.ui_ports(Role.MASTER, spec.platform))
        public_lb = self._load_balancer("public", Role.PUBLIC_AGENT, spec.public_ports)
        pools = {Role.MASTER: masters_lb, Role.PUBLIC_AGENT: public_lb}

        records: list[NodeRecord] = []
        subnet_cidr = ports.subnet_cidrs(1)[0]
        for ordinal, node in enumerate(spec.nodes.instances()):
            private_ip = ports.node_address(subnet_cidr, ordinal)
            tags = spec.tags(node.role)
            host = keys.host_key(name, node.name, parent=self)
            public_ip = network.PublicIPAddress(
                f"{name}-{node.name}-ip",
                resource_group_name=group.name,
                location=location,
                sku=network.PublicIPAddressSkuArgs(name="Standard"),
                public_ip_allocation_method="Static",
                tags=tags,
                opts=self._opts,
            )
            lb = pools.get(node.role)
            nic = network.NetworkInterface(
                f"{name}-{node.name}-nic",
                resource_group_name=group.name,
                location=location,
                network_security_group=network.NetworkSecurityGroupArgs(id=nsgs[node.role].id),
                ip_configurations=[
                    network.NetworkInterfaceIPConfigurationArgs(
                        name="primary",
                        primary=True,
                        subnet=network.SubnetArgs(id=subnet.id),
                        private_ip_allocation_method="Static",
                        private_ip_address=private_ip,
                        public_ip_address=network.PublicIPAddressArgs(id=public_ip.id),
                        load_balancer_backend_address_pools=(
                            [network.BackendAddressPoolArgs(id=lb[1])] if lb else None
                        ),
                    )
                ],
                tags=tags,
                opts=self._opts,
            )
            custom_data = keys.host_key_user_data(host).apply(
                lambda text: base64.b64encode(text.encode()).decode()
            )
            compute.VirtualMachine(
                f"{name}-{node.name}",
                resource_group_name=group.name,
                location=location,
                hardware_profile=compute.HardwareProfileArgs(vm_size=node.size),
                network_profile=compute.NetworkProfileArgs(
                    network_interfaces=[compute.NetworkInterfaceReferenceArgs(id=nic.id, primary=True)]
                ),
                os_profile=compute.OSProfileArgs(
                    computer_name=f"{name}-{node.name}"[:63],
                    admin_username=spec.ssh_user,
                    custom_data=custom_data,
                    linux_configuration=compute.LinuxConfigurationArgs(
                        disable_password_authentication=True,
                        ssh=compute.SshConfigurationArgs(
                            public_keys=[
                                compute.SshPublicKeyArgs(
                                    path=f"/home/{spec.ssh_user}/.ssh/authorized_keys",
                                    key_data=admin.public_key,
                                )
                            ]
                        ),
                    ),
                ),
                storage_profile=compute.StorageProfileArgs(
                    image_reference=parse_image(image),
                    os_disk=compute.OSDiskArgs(
                        create_option="FromImage",
                        delete_option="Delete",
                        disk_size_gb=spec.disk_gb(node.role),
                        managed_disk=compute.ManagedDiskParametersArgs(storage_account_type="Premium_LRS"),
                    ),
                ),
                security_profile=compute.SecurityProfileArgs(encryption_at_host=True),
                tags=tags,
                opts=self._opts,
            )
            records.append(
                NodeRecord(
                    node.name, node.role, node.index, private_ip, public_ip.ip_address, host.public_key
                )
            )

        # refuses a run that would delete an agent `fab drain` has not emptied (infra/drain_guard.py)
        drain_guard.agent_set(spec, records, admin.private_key, parent=self)
        self.outputs = stack_outputs(
            spec,
            records,
            admin.private_key,
            image=image,
            masters_endpoints=[masters_lb[0]] if masters_lb else None,
            public_agents_endpoints=[public_lb[0]] if public_lb else None,
        )
        self.cluster = self.outputs.cluster
        self.register_outputs({"cluster": self.cluster})

    def _load_balancer(
        self, label: str, role: Role, listen: Sequence[int]
    ) -> tuple[pulumi.Output[str], pulumi.Output[str]] | None:
        """A Standard public load balancer for `listen` ports of `role`'s nodes.

        Returns (frontend address, backend pool id) or None when nothing would listen. Sub-resource ids
        are built from the resource group's id and the LB's fixed name: Azure needs them inside the LB's
        own definition, before the LB exists.
        """
        spec = self._spec
        if spec.nodes.pool(role).count == 0 or not listen:
            return None
        name = f"{self._name}-{label}-lb"
        tags = spec.tags(role)
        frontend_ip = network.PublicIPAddress(
            f"{name}-ip",
            resource_group_name=self._group.name,
            location=spec.region,
            sku=network.PublicIPAddressSkuArgs(name="Standard"),
            public_ip_allocation_method="Static",
            tags=tags,
            opts=self._opts,
        )
        lb_id = pulumi.Output.concat(self._group.id, "/providers/Microsoft.Network/loadBalancers/", name)
        frontend_id = pulumi.Output.concat(lb_id, "/frontendIPConfigurations/frontend")
        pool_id = pulumi.Output.concat(lb_id, "/backendAddressPools/nodes")
        network.LoadBalancer(
            name,
            load_balancer_name=name,
            resource_group_name=self._group.name,
            location=spec.region,
            sku=network.LoadBalancerSkuArgs(name="Standard"),
            frontend_ip_configurations=[
                network.FrontendIPConfigurationArgs(
                    name="frontend", public_ip_address=network.PublicIPAddressArgs(id=frontend_ip.id)
                )
            ],
            backend_address_pools=[network.BackendAddressPoolArgs(name="nodes")],
            probes=[
                network.ProbeArgs(
                    name=f"tcp-{p}", protocol="Tcp", port=p, interval_in_seconds=15, number_of_probes=2
                )
                for p in listen
            ],
            load_balancing_rules=[
                network.LoadBalancingRuleArgs(
                    name=f"tcp-{p}",
                    protocol="Tcp",
                    frontend_port=p,
                    backend_port=p,
                    frontend_ip_configuration=network.SubResourceArgs(id=frontend_id),
                    backend_address_pool=network.SubResourceArgs(id=pool_id),
                    probe=network.SubResourceArgs(id=pulumi.Output.concat(lb_id, f"/probes/tcp-{p}")),
                    # nodes have their own public IPs for outbound traffic
                    disable_outbound_snat=True,
                )
                for p in listen
            ],
            tags=tags,
            opts=self._opts,
        )
        # a Static Standard public IP always has an address once created; the SDK types it optional
        return cast(pulumi.Output[str], frontend_ip.ip_address), pool_id
