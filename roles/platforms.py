"""Every platform the deploy engine can run, by the inventory's `platform` name (roles/tasks.platform_for)."""

from __future__ import annotations

from roles import dcos, mesos, standalone
from roles.engine import Platform

PLATFORMS: dict[str, Platform] = {
    standalone.PLATFORM.name: standalone.PLATFORM,
    mesos.PLATFORM.name: mesos.PLATFORM,
    dcos.PLATFORM.name: dcos.PLATFORM,
}
