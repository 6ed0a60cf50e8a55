"""The InfluxDB helper's pure parts: durations and the plan of statements for database + retention."""

from __future__ import annotations

import pytest

from apps.common.errors import ConfigError
from apps.common.influx import RetentionPolicy, duration_seconds, plan_database, quote_ident

pytestmark = pytest.mark.unit

WEEK = 7 * 86400.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", WEEK), ("1w", WEEK), ("168h0m0s", WEEK), ("36h", 129600.0), ("1h30m", 5400.0), ("INF", 0.0),
     ("0s", 0.0), ("500ms", 0.5)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("bad", ["", "7", "seven days", "7d x", "d7"])
def test_bad_durations_are_named(bad: str) -> None:
    with pytest.raises(ConfigError, match="is not a duration"):
        duration_seconds(bad)


def test_fresh_server_gets_database_and_default_policy() -> None:
    assert plan_database(["_internal"], [], "crimes", "demo", "7d") == [
        'CREATE DATABASE "crimes"',
        'CREATE RETENTION POLICY "demo" ON "crimes" DURATION 7d REPLICATION 1 DEFAULT',
    ]


def test_converged_server_needs_nothing() -> None:
    rps = [RetentionPolicy("autogen", 0.0, False), RetentionPolicy("demo", WEEK, True)]
    assert plan_database(["_internal", "crimes"], rps, "crimes", "demo", "1w") == []


@pytest.mark.parametrize(
    "current", [RetentionPolicy("demo", 86400.0, True), RetentionPolicy("demo", WEEK, False)]
)
def test_drifted_policy_is_altered(current: RetentionPolicy) -> None:
    assert plan_database(
        ["crimes"], [RetentionPolicy("autogen", 0.0, True), current], "crimes", "demo", "7d"
    ) == ['ALTER RETENTION POLICY "demo" ON "crimes" DURATION 7d DEFAULT']


def test_unsafe_names_are_refused() -> None:
    assert quote_ident("crimes") == '"crimes"'
    with pytest.raises(ConfigError, match="not a usable InfluxDB name"):
        quote_ident('crimes"; DROP DATABASE x')
