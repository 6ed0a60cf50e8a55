"""The Pulumi resource plugins a cloud stack needs, checked before anything is declared.

The CLI never downloads plugins on its own here (scripts/env.sh sets
PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION): a missing plugin would otherwise surface as the engine's
"no resource plugin 'pulumi-resource-aws' found" after a Python traceback. The versions are those of the
pinned Python packages (pyproject.toml), which is what the SDKs ask the engine for. The local cloud needs
no plugin at all.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from contract.schema import Cloud
from infra.errors import InfraError

INSTALL_COMMAND = "./scripts/setup-cloud.sh"


@dataclass(frozen=True)
class Plugin:
    name: str  # the plugin's name: aws, azure-native
    package: str  # the Python SDK whose version it must match

    @property
    def version(self) -> str:
        return metadata.version(self.package)

    @property
    def binary(self) -> str:
        return f"pulumi-resource-{self.name}"

    def install_command(self) -> str:
        return f"pulumi plugin install resource {self.name} v{self.version}"


PLUGINS: dict[Cloud, Plugin] = {
    Cloud.AWS: Plugin("aws", "pulumi-aws"),
    Cloud.AZURE: Plugin("azure-native", "pulumi-azure-native"),
}


class MissingPlugin(InfraError):
    """The selected cloud's resource plugin is not installed; the message names the command to run."""


def plugin_dir() -> Path:
    """Where the CLI keeps plugins: $PULUMI_HOME/plugins (scripts/env.sh points PULUMI_HOME into the
    checkout), else ~/.pulumi/plugins."""
    home = os.environ.get("PULUMI_HOME") or str(Path.home() / ".pulumi")
    return Path(home) / "plugins"


def installed(plugin: Plugin, directory: Path | None = None) -> bool:
    """The pinned version in the plugin directory (a complete install: the binary is there and no
    download is half-done), or any version of the binary on PATH (the CLI accepts those too)."""
    where = (directory or plugin_dir()) / f"resource-{plugin.name}-v{plugin.version}"
    if (where / plugin.binary).is_file() and not where.with_name(where.name + ".partial").exists():
        return True
    return shutil.which(plugin.binary) is not None


def require_plugin(cloud: Cloud, directory: Path | None = None) -> None:
    """Raise MissingPlugin, naming the command to run, when `cloud` needs a plugin that is not installed."""
    plugin = PLUGINS.get(cloud)
    if plugin is None or installed(plugin, directory):
        return
    raise MissingPlugin(
        f"fastdata:cloud is {cloud.value}, which needs the Pulumi resource plugin {plugin.name} "
        f"v{plugin.version} (the version of the pinned {plugin.package} package), and it is neither in "
        f"{directory or plugin_dir()} nor on PATH. Install it with:\n"
        f"    {INSTALL_COMMAND}            (runs: {plugin.install_command()})\n"
        "Offline: put the plugin tarball (pulumi-resource-"
        f"{plugin.name}-v{plugin.version}-linux-amd64.tar.gz) or binary in a directory and run\n"
        f"    FASTDATA_PLUGIN_DIR=/that/directory {INSTALL_COMMAND}"
    )
