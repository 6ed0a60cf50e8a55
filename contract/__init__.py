"""What infra/ (the Pulumi program) and roles/ (the Fabric side) share: the schema, the settings and the
typed inventory. Pure: no pulumi, no paramiko (docs/contracts.md)."""

from contract.cluster import Cluster, Endpoints, Node, Ssh, known_hosts_lines
from contract.problems import Collector, ContractError, InvalidInventory, Problem
from contract.schema import ROLE_ORDER, Cloud, Platform, Role
from contract.settings import Settings, parse_settings, redact_url

__all__ = [
    "ROLE_ORDER",
    "Cloud",
    "Cluster",
    "Collector",
    "ContractError",
    "Endpoints",
    "InvalidInventory",
    "Node",
    "Platform",
    "Problem",
    "Role",
    "Settings",
    "Ssh",
    "known_hosts_lines",
    "parse_settings",
    "redact_url",
]
