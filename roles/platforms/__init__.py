"""Every platform the deploy engine can run, by the inventory's `platform` (contract.Platform)."""

from __future__ import annotations

from contract import Platform as PlatformName
from roles.engine.executor import Platform
from roles.platforms import dcos, mesos, standalone

PLATFORMS: dict[PlatformName, Platform] = {
    PlatformName.STANDALONE: standalone.PLATFORM,
    PlatformName.MESOS: mesos.PLATFORM,
    PlatformName.DCOS: dcos.PLATFORM,
}
