"""The small exception hierarchy of the demo apps (mirrors the project's ConfigError/ArtifactMissing...).

Each class carries the exit status :func:`apps.common.cli.run_main` gives it, so that a status means one
thing: 2 is always "fix the configuration", 3 "this is not a usable data set", 4 "the data set is
damaged, fetch it again". 1 is left to the apps' own "ran, but the work did not complete" (the producer:
Kafka did not confirm every event).
"""

from __future__ import annotations


class AppError(Exception):
    """Base of every error the demo apps raise on purpose; the CLIs print it on one line and exit non-zero."""

    exit_code = 2


class ConfigError(AppError):
    """A flag or environment variable has a value the app cannot use."""

    exit_code = 2


class DataError(AppError):
    """The input data set as a whole is unusable (not a single bad row: those are skipped and counted)."""

    exit_code = 3


class DataDamaged(DataError):
    """The data set broke off while being read: a truncated or corrupt .gz, a download cut short.

    Not a bad row: what was read so far is a random prefix, so nothing of it is replayed.
    """

    exit_code = 4


class ArtifactMissing(AppError):
    """A file the app needs (connector jars, front-end bundle) is not where it was told to look."""


class InfluxError(AppError):
    """InfluxDB answered with an error or could not be reached."""


class InfluxAnswerError(InfluxError):
    """InfluxDB (or whatever listens on its port) answered, but not with what a 1.x /query returns."""
