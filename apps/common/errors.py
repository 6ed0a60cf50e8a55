"""The small exception hierarchy of the demo apps (mirrors the project's ConfigError/ArtifactMissing...)."""

from __future__ import annotations


class AppError(Exception):
    """Base of every error the demo apps raise on purpose; the CLIs print it and exit non-zero."""


class ConfigError(AppError):
    """A flag or environment variable has a value the app cannot use."""


class DataError(AppError):
    """The input data set as a whole is unusable (not a single bad row: those are skipped and counted)."""


class ArtifactMissing(AppError):
    """A file the app needs (connector jars, front-end bundle) is not where it was told to look."""


class InfluxError(AppError):
    """InfluxDB answered with an error or could not be reached."""


class InfluxAnswerError(InfluxError):
    """InfluxDB (or whatever listens on its port) answered, but not with what a 1.x /query returns."""
