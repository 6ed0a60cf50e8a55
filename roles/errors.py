"""The small exception hierarchy of roles/: every error names what went wrong and what to do."""

from __future__ import annotations


class FastdataError(Exception):
    """Base of every error fastdata raises on purpose."""


class ConfigError(FastdataError, ValueError):
    """Settings (the ClusterSpec slice in the inventory) are invalid."""


class InventoryError(FastdataError, ValueError):
    """The `cluster` stack output is missing, malformed, or cannot be read."""


class HostKeyRejected(InventoryError):
    """A node presented a host key that the inventory does not pin (unknown or changed)."""


class OperationError(FastdataError):
    """An operation failed on one or more hosts; carries every host's result."""


class HealthCheckError(FastdataError):
    """A readiness gate did not pass within its timeout."""


class ArtifactMissing(FastdataError):
    """An artifact the nodes need is not in the local cache (or its checksum is wrong)."""
