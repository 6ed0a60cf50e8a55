"""The apps' shared CLI plumbing: exit statuses that mean one thing each, one-line errors, and the shared
stop-on-signal handler (real signals sent to this process)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Sequence

import pytest

from apps.common.cli import EXIT_INTERNAL, EXIT_INTERRUPTED, run_main
from apps.common.errors import (
    AppError,
    ArtifactMissing,
    ConfigError,
    DataDamaged,
    DataError,
    InfluxAnswerError,
    InfluxError,
)
from apps.common.signals import stop_on_signals

pytestmark = pytest.mark.unit


def raising(exc: BaseException) -> Callable[[Sequence[str] | None], int]:
    def main(_argv: Sequence[str] | None) -> int:
        raise exc

    return main


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ConfigError("bad --port"), 2),
        (ArtifactMissing("no jar"), 2),
        (InfluxError("down"), 2),
        (InfluxAnswerError("garbage"), 2),
        (DataError("not a portal CSV"), 3),
        (DataDamaged("crimes.csv.gz is truncated"), 4),
        (ValueError("a bug"), EXIT_INTERNAL),
        (KeyboardInterrupt(), EXIT_INTERRUPTED),
    ],
)
def test_each_error_class_has_its_exit_status_and_one_line(
    exc: BaseException, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_main(raising(exc))
    assert exit_info.value.code == code
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    if isinstance(exc, Exception):
        assert str(exc) in err


def test_status_1_is_left_to_the_app() -> None:
    """No shared error class maps to 1: for the producer it means "Kafka did not confirm every event",
    for the probe "a stage did not complete" (its own ProbeFailed)."""

    def every_subclass(cls: type[AppError]) -> list[type[AppError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in every_subclass(sub))]

    shared = [cls for cls in every_subclass(AppError) if cls.__module__ == "apps.common.errors"]
    assert len(shared) >= 7 and all(cls.exit_code != 1 for cls in shared)
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda _argv: 1)
    assert exit_info.value.code == 1


def test_multi_line_message_is_printed_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_main(raising(DataError("first line\nsecond line\n")))
    assert capsys.readouterr().err == "error: first line | second line\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_on_signals_sets_the_event_and_restores(signum: int) -> None:
    before = signal.getsignal(signum)
    stop = threading.Event()
    restore = stop_on_signals(stop, "stopping")
    try:
        os.kill(os.getpid(), signum)
        assert stop.wait(5), "the handler did not set the stop event"
    finally:
        restore()
    assert signal.getsignal(signum) == before
