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


# Exit statuses run_main itself gives (the AppError classes carry theirs: 2, 3, 4).
EXIT_INTERRUPTED = 130  # Ctrl-C before the app installed its own signal handling (shell convention)
EXIT_INTERNAL = 70  # an exception no app raises on purpose: a bug (sysexits' EX_SOFTWARE)


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> None:
    """Run an app's ``main``: configure logging once, turn errors into one line on stderr and an exit status.

    An AppError exits with its class's ``exit_code``. Anything else is a bug: one line too (the
    traceback is logged at DEBUG, ``LOG_LEVEL=DEBUG`` shows it), and status 70, so that it is never
    mistaken for an app's own status 1.
    """
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code = main(argv)
    except AppError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the traceback is logged (DEBUG), the user gets one line
        logging.getLogger(__name__).debug("internal error", exc_info=True)
        print(
            f"error: internal error {type(exc).__name__}: {one_line(str(exc))[:500]} (a bug: run "
            "with LOG_LEVEL=DEBUG for the traceback)",
            file=sys.stderr,
        )
        code = EXIT_INTERNAL
    sys.exit(code)


def one_line(text: str) -> str:
    """A message on one line (log scrapers and `systemctl status` show only the first)."""
    return " | ".join(part.strip() for part in text.strip().splitlines() if part.strip())
