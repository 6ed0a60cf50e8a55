"""argparse helpers shared by the apps: every knob is a flag with an environment-variable fallback.

Precedence is flag > environment variable > default, and ``--help`` shows the variable and the default
so that a Marathon app definition or a systemd unit can be written from the help text alone.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from apps.common.errors import AppError, ConfigError


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keep the hand-wrapped description and epilog, and show defaults."""


def env_flag(
    parser: argparse.ArgumentParser | Any,
    flag: str,
    env: str,
    default: Any,
    help: str,
    type: Callable[[str], Any] = str,
    **kwargs: Any,
) -> None:
    """Add ``flag`` whose default comes from environment variable ``env`` (converted with ``type``)."""
    raw = os.environ.get(env)
    value = default
    if raw is not None and raw != "":
        try:
            value = type(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"environment variable {env}={raw!r} is invalid for {flag}: {exc}") from exc
    parser.add_argument(flag, default=value, type=type, help=f"{help} [env {env}]", **kwargs)


def env_bool_flag(
    parser: argparse.ArgumentParser | Any, flag: str, env: str, default: bool, help: str
) -> None:
    """A ``--x/--no-x`` switch whose default comes from ``env`` (true/false/1/0/yes/no)."""
    raw = os.environ.get(env)
    value = default
    if raw is not None and raw != "":
        value = parse_bool(raw, env)
    parser.add_argument(
        flag, default=value, action=argparse.BooleanOptionalAction, help=f"{help} [env {env}]"
    )


def parse_bool(raw: str, name: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: use true/false (or 1/0, yes/no)")


def positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError(f"must be > 0, got {raw}")
    return value


def positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"must be > 0, got {raw}")
    return value


def non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"must be >= 0, got {raw}")
    return value


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> None:
    """Run an app's ``main``: configure logging once, turn AppError into a one-line message and exit 2."""
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code = main(argv)
    except AppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)
