"""The one SIGTERM/SIGINT handler of the long-running apps (producer, processor): ask the loop to stop.

systemd and Marathon stop an app with SIGTERM, a terminal with SIGINT; both mean "finish what is in
flight and exit" (the producer waits for Kafka's confirmations, the processor stops its queries at a
batch boundary), so the handler only sets an event the app's loop watches.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_on_signals(stop: threading.Event, what: str) -> Callable[[], None]:
    """Set ``stop`` on SIGTERM/SIGINT, logging ``what`` happens next; returns a function that restores
    the previous handlers. Must be called from the main thread (a Python rule for signal handlers)."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: %s", signal.Signals(signum).name, what)
        stop.set()

    previous: dict[int, Any] = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
