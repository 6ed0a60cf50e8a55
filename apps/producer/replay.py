"""Event-time replay: pacing with a speed-up factor and a rate cap, looping, and the producer's counters.

The loop talks to anything with confluent-kafka's ``produce/poll/flush`` shape and takes the clock as
arguments, so tests drive it without Kafka and without waiting.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apps.producer.parse import SKIP_REASONS, CrimeEvent

EPS_WINDOW_S = 10.0


class KafkaSink(Protocol):
    def produce(
        self, topic: str, *, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]
    ) -> None: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...


@dataclass(frozen=True)
class ReplayConfig:
    topic: str = "crimes.raw"
    speedup: float = 1800.0
    max_eps: float = 200.0
    loop: bool = True
    limit: int = 0  # 0: no limit
    slice_length: timedelta | None = None  # how far each loop shifts event times; None: derived


def slice_length(events: Sequence[CrimeEvent]) -> timedelta:
    """Span of the (sorted) slice plus one average gap, so loop n+1's first event follows loop n's last."""
    if len(events) < 2:
        return timedelta(minutes=1)
    span = events[-1].event_time - events[0].event_time
    return span + span / (len(events) - 1) if span > timedelta(0) else timedelta(minutes=1)


class ReplayStats:
    """Thread-safe counters: the replay thread and the delivery callback write, the HTTP endpoint reads."""

    def __init__(self, topic: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.started = clock()
        self.topic = topic
        self.state = "loading"
        self.rows = 0
        self.parsed = 0
        self.outside_slice = 0
        self.skipped: Counter[str] = Counter({reason: 0 for reason in SKIP_REASONS})
        self.first_skipped: dict[str, int] = {}  # reason -> first data row skipped for it
        self.sent = 0
        self.delivered = 0
        self.delivery_failures = 0
        self.last_delivery_error = ""
        self.loop = 0
        self.sim_time: datetime | None = None
        self._recent: deque[float] = deque()

    def record_sent(self, sim_time: datetime, loop: int) -> None:
        now = self._clock()
        with self._lock:
            self.sent += 1
            self.sim_time = sim_time
            self.loop = loop
            self._recent.append(now)
            self._trim(now)

    def on_delivery(self, err: Any, msg: Any) -> None:
        """confluent-kafka delivery callback (runs inside poll/flush)."""
        with self._lock:
            if err is None:
                self.delivered += 1
            else:
                self.delivery_failures += 1
                self.last_delivery_error = str(err)

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0] < now - EPS_WINDOW_S:
            self._recent.popleft()

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            self._trim(now)
            window = min(EPS_WINDOW_S, max(now - self.started, 1e-9))
            return {
                "state": self.state,
                "topic": self.topic,
                "rows_read": self.rows,
                "parsed_events": self.parsed,
                "outside_slice": self.outside_slice,
                "skipped": dict(sorted(self.skipped.items())),
                "skipped_total": sum(self.skipped.values()),
                "first_skipped_row": dict(sorted(self.first_skipped.items())),
                "sent": self.sent,
                "delivered": self.delivered,
                "delivery_failures": self.delivery_failures,
                "in_flight": self.sent - self.delivered - self.delivery_failures,
                "last_delivery_error": self.last_delivery_error,
                "events_per_second": round(len(self._recent) / window, 3),
                "loop": self.loop,
                "sim_clock": self.sim_time.isoformat() if self.sim_time else None,
                "sim_ts": int(self.sim_time.timestamp() * 1000) if self.sim_time else None,
                "uptime_s": round(now - self.started, 3),
            }


def encode_event(event: CrimeEvent, emit_time: datetime) -> tuple[bytes, bytes]:
    """(key, value) of the Kafka record: keyed by district so one district's events stay in order."""
    value = json.dumps(event.to_json_dict(emit_time), separators=(",", ":")).encode("utf-8")
    return (event.district or "unknown").encode("utf-8"), value


def replay(
    events: Sequence[CrimeEvent],
    sink: KafkaSink,
    config: ReplayConfig,
    stats: ReplayStats,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Send ``events`` (sorted by event time) paced by event time / speedup, at most ``max_eps`` per second.

    Returns when the slice is done (no loop), ``limit`` events were sent, or ``stop`` is set. Falling
    behind (the cap, a slow broker) never drops events: the simulated clock just runs late.
    """
    if not events:
        return
    shift_per_loop = config.slice_length or slice_length(events)
    sim_origin = events[0].event_time
    wall_origin = clock()
    min_gap = 1.0 / config.max_eps
    next_allowed = wall_origin
    loop_no = 0
    stats.state = "replaying"
    while True:
        shift = shift_per_loop * loop_no
        for event in events:
            if config.limit and stats.sent >= config.limit:
                return
            sim_time = event.event_time + shift
            due = max(wall_origin + (sim_time - sim_origin).total_seconds() / config.speedup, next_allowed)
            wait = due - clock()
            if wait > 0 and stop.wait(wait):
                return
            if stop.is_set():
                return
            key, value = encode_event(event.shifted(shift) if loop_no else event, wall_clock())
            if not _produce(sink, config.topic, key, value, stats, stop):
                return
            stats.record_sent(sim_time, loop_no)
            next_allowed = max(due, clock()) + min_gap
            sink.poll(0)  # serve delivery callbacks as we go
        if not config.loop:
            return
        loop_no += 1


def _produce(
    sink: KafkaSink, topic: str, key: bytes, value: bytes, stats: ReplayStats, stop: threading.Event
) -> bool:
    """produce(), waiting for room when librdkafka's local queue is full (BufferError) instead of dropping.

    Returns False (nothing sent) only when asked to stop while waiting for room.
    """
    while True:
        try:
            sink.produce(topic, value=value, key=key, on_delivery=stats.on_delivery)
            return True
        except BufferError:
            sink.poll(0.5)
            if stop.is_set():
                return False


def flush(sink: KafkaSink, stats: ReplayStats, timeout_s: float) -> int:
    """Wait until every sent event is confirmed or failed; returns the number still unconfirmed."""
    stats.state = "flushing"
    deadline = time.monotonic() + timeout_s
    remaining = sink.flush(max(0.0, timeout_s))
    while remaining and time.monotonic() < deadline:
        remaining = sink.flush(max(0.1, deadline - time.monotonic()))
    stats.state = "done"
    return remaining
