"""The program: read the spec once, declare the selected cloud's component, export its outputs."""

from __future__ import annotations

import importlib
from typing import Protocol

import pulumi

from infra import capacity, plugins
from infra.errors import InfraError, MissingComponent
from infra.inventory import StackOutputs
from infra.spec import Cloud, ClusterSpec, load_spec


class ClusterComponent(Protocol):
    cluster: pulumi.Output[dict]
    outputs: StackOutputs


# module, class: imported only for the selected cloud, so a stack never loads another cloud's SDK and
# a component that is not in this checkout yet fails only the stacks that select it
COMPONENTS = {
    Cloud.AWS: ("infra.aws", "AwsCluster"),
    Cloud.AZURE: ("infra.azure", "AzureCluster"),
    Cloud.LOCAL: ("infra.local", "LocalCluster"),
}


def component_class(cloud: Cloud) -> type:
    module_name, class_name = COMPONENTS[cloud]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise  # the module exists but one of its own imports is missing: show that error as is
        raise MissingComponent(
            f"fastdata:cloud is {cloud.value}, but {module_name.replace('.', '/')}.py ({class_name}) is not "
            "part of this checkout"
        ) from err
    cls: type = getattr(module, class_name)
    return cls


def build(spec: ClusterSpec) -> ClusterComponent:
    component: ClusterComponent = component_class(spec.cloud)(spec.name, spec)
    return component


def main() -> None:
    try:
        spec = load_spec()  # every problem at once, before any resource is declared
        for note in capacity.check_capacity(spec):  # the workload must fit the sizes
            pulumi.log.warn(note)
        plugins.require_plugin(spec.cloud)  # a cloud stack without its plugin: say how to install it
        cluster = build(spec)
    except InfraError as err:
        # RunError ends the program with just the message: the problems are the user's to fix, a
        # traceback through this program would only hide them
        raise pulumi.RunError(str(err)) from err
    export(cluster.outputs)


def export(outputs: StackOutputs) -> None:
    """`cluster` for Fabric (a secret: it carries the key), `sshPrivateKey` (a secret), and the plain
    outputs people look up without --show-secrets: nodes, endpoints, dashboardUrl, knownHosts,
    sshCommand, image."""
    pulumi.export("cluster", outputs.cluster)
    pulumi.export("sshPrivateKey", outputs.private_key)
    for name, value in outputs.plain.items():
        pulumi.export(name, value)
