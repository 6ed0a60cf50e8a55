"""The exceptions the Pulumi side raises on purpose.

Kept separate from roles/ (the Fabric side) so that the Pulumi program and the policy pack import nothing
that runs over SSH.
"""

from __future__ import annotations

from contract.problems import ContractError, Problem

__all__ = ["ConfigError", "InfraError", "MissingComponent", "Problem"]


class InfraError(Exception):
    """Base of every error the Pulumi program raises on purpose."""


class ConfigError(InfraError, ContractError):
    """The stack configuration is invalid. Carries every problem found, not just the first."""

    what = "invalid stack configuration"


class MissingComponent(InfraError):
    """The selected cloud's component module is not part of this checkout."""
