"""The exceptions the Pulumi side raises on purpose.

Kept separate from roles/ (the Fabric side) so that the Pulumi program and the policy pack import nothing
that runs over SSH.
"""

from __future__ import annotations

from collections.abc import Sequence

from contract.problems import ContractError, Problem
from contract.settings import redact_url

__all__ = ["ConfigError", "InfraError", "MissingComponent", "Problem"]


class InfraError(Exception):
    """Base of every error the Pulumi program raises on purpose."""


class ConfigError(InfraError, ContractError):
    """The stack configuration is invalid. Carries every problem found, not just the first."""

    what = "invalid stack configuration"

    def __init__(self, problems: Sequence[Problem]) -> None:
        # a value echoed back may be a URL with user:password@ in it: never print the credentials
        super().__init__([Problem(p.key, redact_url(p.message)) for p in problems])


class MissingComponent(InfraError):
    """The selected cloud's component module is not part of this checkout."""
