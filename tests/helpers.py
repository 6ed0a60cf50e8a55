"""Helpers shared by tests: the project root and the environment scripts/env.sh sets up."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def project_env() -> dict[str, str]:
    """The environment a user gets after `. scripts/env.sh` (PATH with .venv and the built pulumi)."""
    out = subprocess.run(
        ["bash", "-c", ". scripts/env.sh >/dev/null 2>&1 && env -0"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def run(
    cmd: list[str],
    *,
    cwd: Path | str = ROOT,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command with the project environment; on failure show its output in the assertion."""
    full_env = {**project_env(), **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, text=True, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}"
            f"\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return proc


def pulumi_bin() -> str:
    return os.path.join(project_env()["FASTDATA_TOOLS"], "pulumi", "bin", "pulumi")


MEASURED: list[str] = []


def report(message: str) -> None:
    """A figure a test measured: listed in the run's summary (tests/conftest.py), whatever the capture."""
    MEASURED.append(message)


def local_spark(app: str, cores: int, shuffle_partitions: int) -> Any:
    """A small local SparkSession bound to loopback, UTC, no UI (JVM start-up is most of a test's cost)."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(f"local[{cores}]").appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        # Short-lived test JVM: C1-only JIT and the serial GC start faster than the server defaults.
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )  # fmt: skip
    session.sparkContext.setLogLevel("ERROR")
    return session
