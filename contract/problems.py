"""Validation that reports every problem at once, each naming its key and what is allowed."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One invalid value: the fully qualified key and what is allowed instead."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ContractError(ValueError):
    """Input that breaks the contract; carries every problem found, not just the first."""

    what = "invalid input"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{self.what} ({len(self.problems)} {noun}):\n{lines}")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.problems)


class InvalidInventory(ContractError):
    what = "invalid inventory"


class Collector:
    """Collects problems so that one run reports all of them; keys are written `<prefix><key>`."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.problems: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(Problem(f"{self.prefix}{key}", message))

    def check(self, ok: bool, key: str, message: str) -> bool:
        if not ok:
            self.add(key, message)
        return ok

    def raise_if_any(self, error: type[ContractError] = ContractError) -> None:
        if self.problems:
            raise error(self.problems)


# --- converters: the value, or None when it is not of the kind ----------------------------------------
# Stack config reaches the program as strings (Pulumi hands over strings); inventories and tests carry
# native JSON values. Both are accepted where the meaning is unambiguous.


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def field(
    c: Collector,
    obj: Mapping[str, Any],
    key: str,
    name: str,
    default: T,
    convert: Callable[[Any], T | None],
    expected: str,
) -> T:
    """One field of an object: converted, or the default with a problem recorded."""
    if name not in obj or obj[name] is None:
        return default
    value = convert(obj[name])
    if value is None:
        c.add(f"{key}.{name}", f"must be {expected} (got {obj[name]!r})")
        return default
    return value


def obj(c: Collector, value: Any, key: str, allowed: set[str] | frozenset[str]) -> dict[str, Any]:
    """An object-valued key: its known fields; unknown ones and a wrong type are problems."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        c.add(key, f"must be an object with keys {sorted(allowed)} (got {value!r})")
        return {}
    for unknown in sorted(set(value) - set(allowed)):
        c.add(f"{key}.{unknown}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
    return dict(value)
