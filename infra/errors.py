"""The exceptions the Pulumi side raises on purpose.

Kept separate from roles/ (the Fabric side) so that the Pulumi program and the policy pack import nothing
that runs over SSH.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class InfraError(Exception):
    """Base of every error the Pulumi program raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One invalid stack-config value: the fully qualified key and what is allowed instead."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(InfraError, ValueError):
    """The stack configuration is invalid. Carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"invalid stack configuration ({len(self.problems)} {noun}):\n{lines}")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.problems)


class MissingComponent(InfraError):
    """The selected cloud's component module is not part of this checkout."""
