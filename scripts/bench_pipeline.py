"""Benchmark of the demo pipeline on a deployed local cluster (a report, never a test: it does not judge).

Measures, in one run, with the demo producer stopped (restarted afterwards, also on Ctrl-C or an error):
  1. raw Kafka produce->consume: demo-shaped events produced at full speed (idempotent, acks=all, the
     demo producer's settings) for --raw-seconds into a temporary topic laid out like crimes.raw, consumed
     at the same time; the figure is the consumed rate after a warm-up. The topic is deleted afterwards.
  2. the pipeline's sustained rate, by a rate staircase: demo-shaped events paced by a token bucket into
     crimes.raw at --start-rate, doubling up to --max-rate, --step-seconds per step, stopping after the
     first step that fails. A step passes when
       - the benchmark's producer kept the rate (achieved >= 95 % of it),
       - the end-to-end lag stays bounded: lag = events produced so far - events counted in InfluxDB
         (crime_counts, probe type excluded), sampled every second. It saws with the micro-batches, so
         the test compares maxima: the maximum over the last quarter of the step is at most three
         micro-batches of events (3 x trigger x rate) and at most one micro-batch above the maximum over
         the second quarter (the first quarter is warm-up),
       - the p95 latency event -> InfluxDB is under 2 x the trigger, over at least --min-samples samples.
         Latency samples are probe events (apps.probe's type, counted apart from real crime types) sent
         at a steady cadence during the step, all with the probe's one key, so they stay in one partition
         and are counted in send order: probe n's latency is the time the InfluxDB probe count first
         reaches n minus its send time (the count is polled every 0.25 s).
     The sustained rate is the highest passing step; the ratio is sustained / raw (target >= 0.5).
  3. where the work ran: tasks (and task time) per executor host during the staircase, from the
     processor driver's REST API, and partition leaders per broker of crimes.raw (and of the raw topic).
  4. per step, Spark's own view of the processor: micro-batch durations per query (from the driver's jobs)
     against the trigger, the executors' busy fraction (task run time / wall time x cores), the driver's
     "falling behind" warnings; and the CPU each node container used, and the machine's.
  5. the peak memory of each node container (cgroup memory.current / memory.usage_in_bytes, sampled every
     second; it includes the page cache) and the peak of their sum.

Prints a JSON report, then a short summary. Run it through scripts/bench-pipeline.sh.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import signal
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from types import FrameType
from typing import Any

import requests
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.probe import PROBE_SLUG, probe_event  # noqa: E402
from apps.producer.main import kafka_config  # noqa: E402
from apps.producer.parse import parse_rows, sort_by_event_time  # noqa: E402
from apps.producer.replay import encode_event  # noqa: E402
from roles.engine import inventory as inv_mod  # noqa: E402
from roles.engine.connection import SshRemote, connect, load_private_key  # noqa: E402
from roles.engine.inventory import Cluster  # noqa: E402

TOPIC = "crimes.raw"
INFLUX_DB = "crimes"
PROCESSOR_APP = "crime-processor"
PRODUCER_UNIT = "fastdata-producer"
PROCESSOR_UNIT = "fastdata-processor"
DATASET = ROOT / "data" / "chicago-crimes-2015-10-17_18.csv"
# The demo producer's settings (lz4, linger 20 ms, idempotent, acks=all) under the benchmark's client id;
# a local queue of some seconds of events at the raw rate: deep enough that it never paces the token bucket,
# short enough that full speed means the brokers' pace, not a backlog flushed after the clock stops.
PRODUCER_EXTRA = "client.id=fastdata-bench,queue.buffering.max.messages=100000"


class BenchError(Exception):
    """The benchmark could not measure (the cluster is not in the state it needs)."""


def mono() -> float:
    return time.monotonic()


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- demo-shaped events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventPool:
    """The sample's events, each pre-encoded around its emit time: sending costs two byte joins, so the
    token bucket (one Python thread) keeps its rate far above what the pipeline takes."""

    keys: list[bytes]
    parts: list[tuple[bytes, bytes]]  # the JSON value before and after the emit time

    @classmethod
    def load(cls) -> EventPool:
        with open(DATASET, encoding="utf-8") as fh:
            events = sort_by_event_time(parse_rows(fh).events)
        marker = datetime(1999, 1, 1, tzinfo=UTC)
        marker_text = b'"1999-01-01T00:00:00.000Z"'
        keys, parts = [], []
        for event in events:
            key, value = encode_event(event, marker)
            before, sep, after = value.partition(marker_text)
            if not sep:
                raise BenchError("encode_event no longer writes emit_time as expected: update the benchmark")
            keys.append(key)
            parts.append((before + b'"', b'"' + after))
        if not keys:
            raise BenchError(f"{DATASET} holds no events")
        return cls(keys, parts)

    def message(self, i: int, emit: bytes) -> tuple[bytes, bytes]:
        n = i % len(self.keys)
        before, after = self.parts[n]
        return self.keys[n], before + emit + after


# --- Kafka -----------------------------------------------------------------------------------------------


@dataclass
class SendCounters:
    """Written by the producing thread and the delivery callback, read by the samplers (int stores are
    atomic in CPython)."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    last_error: str = ""

    def on_delivery(self, err: Any, _msg: Any) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            self.last_error = str(err)


def bench_producer(bootstrap: str) -> Producer:
    return Producer(kafka_config(bootstrap, PRODUCER_EXTRA))


def produce(p: Producer, topic: str, key: bytes, value: bytes, counters: SendCounters) -> None:
    while True:
        try:
            p.produce(topic, value=value, key=key, on_delivery=counters.on_delivery)
            return
        except BufferError:
            p.poll(0.01)


def leaders_per_broker(admin: AdminClient, topic: str) -> dict[str, Any]:
    md = admin.list_topics(topic, timeout=15)
    meta = md.topics.get(topic)
    if meta is None or meta.error is not None:
        raise BenchError(f"topic {topic}: no metadata ({meta.error if meta else 'absent'})")
    hosts = {b.id: f"{b.host}:{b.port}" for b in md.brokers.values()}
    leaders = Counter(hosts.get(p.leader, f"broker {p.leader}") for p in meta.partitions.values())
    under = sum(1 for p in meta.partitions.values() if len(p.isrs) < len(p.replicas))
    return {
        "partitions": len(meta.partitions),
        "leaders_per_broker": dict(sorted(leaders.items())),
        "under_replicated_partitions": under,
    }


def wait_for_leaders(admin: AdminClient, topic: str, partitions: int, timeout_s: float = 30) -> None:
    """Until the new topic's metadata shows a leader for every partition: assigning it before that makes
    the consumer's first offset lookups fail (librdkafka retries them, but the clock would be running)."""
    deadline = mono() + timeout_s
    while mono() < deadline:
        meta = admin.list_topics(topic, timeout=10).topics.get(topic)
        found = meta.partitions.values() if meta is not None and meta.error is None else []
        if len(found) == partitions and all(p.leader >= 0 for p in found):
            return
        time.sleep(0.5)
    raise BenchError(f"topic {topic}: not every partition has a leader {timeout_s:.0f}s after its creation")


def at(samples: list[tuple[float, int]], t: float) -> int:
    """The last cumulative value recorded at or before ``t`` (0 before the first sample)."""
    value = 0
    for ts, v in samples:
        if ts > t:
            break
        value = v
    return value


def raw_kafka(
    bootstrap: str, partitions: int, rf: int, min_isr: int, seconds: float, pool: EventPool
) -> dict:
    """Full-speed produce -> consume on a temporary topic laid out like crimes.raw, for ``seconds``."""
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"min.insync.replicas": str(min_isr)}
    admin.create_topics([NewTopic(topic, partitions, rf, config=config)])[topic].result(60)
    try:
        wait_for_leaders(admin, topic, partitions)
        consumed: list[tuple[float, int]] = []
        ready, done = threading.Event(), threading.Event()
        errors: list[str] = []

        def consume() -> None:
            c = Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "group.id": topic,
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                }
            )
            try:
                # Assigned, not subscribed: no group join to wait for (nor a rebalance mid-run).
                c.assign([TopicPartition(topic, n, OFFSET_BEGINNING) for n in range(partitions)])
                ready.set()
                got = 0
                while not done.is_set():
                    batch = c.consume(10_000, 0.2)
                    bad = [str(m.error()) for m in batch if m.error() is not None]
                    got += len(batch) - len(bad)
                    consumed.append((mono(), got))
                    errors.extend(bad[:1])
            except KafkaException as exc:
                errors.append(str(exc))
                ready.set()
            finally:
                c.close()

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        if not ready.wait(90) or errors:
            raise BenchError(f"the raw-topic consumer did not start: {errors or 'timed out'}")
        p, counters = bench_producer(bootstrap), SendCounters()
        emit = iso_now().encode()
        start = mono()
        end = start + seconds
        while mono() < end:
            for _ in range(1000):
                key, value = pool.message(counters.sent, emit)
                produce(p, topic, key, value, counters)
                counters.sent += 1
            p.poll(0)
        produced_s = mono() - start
        p.flush(120)
        wait_until = mono() + 60
        while (consumed[-1][1] if consumed else 0) < counters.sent and mono() < wait_until:
            time.sleep(0.2)
        done.set()
        consumer.join(30)
        warmup = min(5.0, seconds / 4)
        window = consumed_in = 0.0
        if consumed:
            window = seconds - warmup
            consumed_in = at(consumed, start + seconds) - at(consumed, start + warmup)
        layout = leaders_per_broker(admin, topic)
        return {
            "topic": f"{topic} (deleted)",
            "partitions": partitions,
            "replication_factor": rf,
            "seconds": seconds,
            "produced": counters.sent,
            "delivered": counters.delivered,
            "delivery_failures": counters.failed,
            "consumed": consumed[-1][1] if consumed else 0,
            "produce_eps": counters.sent / produced_s,
            "consume_eps_after_warmup": consumed_in / window if window else 0.0,
            "consumer_lag_at_end_of_produce": counters.sent - at(consumed, start + produced_s),
            "consumer_errors": errors[:5],
            "warmup_s": warmup,
            "layout": layout,
        }
    finally:
        admin.delete_topics([topic])[topic].result(60)


# --- InfluxDB --------------------------------------------------------------------------------------------


class Counts:
    """Sums of crime_counts since a time: one per thread (a requests.Session is not shared)."""

    def __init__(self, url: str, since_ms: int) -> None:
        self.url, self.since_ms, self.session = url, since_ms, requests.Session()

    def _sum(self, op: str) -> int:
        q = (
            f'SELECT sum("count") FROM "crime_counts" WHERE "type" {op} \'{PROBE_SLUG}\' '
            f"AND time >= {self.since_ms}ms"
        )
        resp = self.session.get(f"{self.url}/query", params={"db": INFLUX_DB, "q": q}, timeout=10)
        resp.raise_for_status()
        series = resp.json()["results"][0].get("series") or []
        return int(series[0]["values"][0][1] or 0) if series else 0

    def events(self) -> int:
        return self._sum("!=")

    def probes(self) -> int:
        return self._sum("=")


def settle(counts: Counts, quiet_s: float, timeout_s: float) -> int:
    """The counted total once the processor has caught up (unchanged for ``quiet_s``)."""
    last, since, deadline = counts.events(), mono(), mono() + timeout_s
    while mono() < deadline:
        time.sleep(1)
        now = counts.events()
        if now != last:
            last, since = now, mono()
        elif mono() - since >= quiet_s:
            return last
    raise BenchError(
        f"the counts in InfluxDB did not settle within {timeout_s:.0f}s of stopping the demo producer: "
        "is the processor keeping up at all?"
    )


# --- node containers: memory and CPU from their cgroups --------------------------------------------------


@dataclass
class Cgroup:
    container: str
    memory: Path | None
    cpu: Path | None
    cpu_unit_s: float  # seconds per unit of the cpu file's figure

    @classmethod
    def find(cls, container: str) -> Cgroup:
        v2 = Path("/sys/fs/cgroup") / f"lxc.payload.{container}"
        v1_mem = Path("/sys/fs/cgroup/memory") / f"lxc.payload.{container}" / "memory.usage_in_bytes"
        v1_cpu = Path("/sys/fs/cgroup/cpuacct") / f"lxc.payload.{container}" / "cpuacct.usage"
        memory = v2 / "memory.current" if (v2 / "memory.current").exists() else None
        memory = memory or (v1_mem if v1_mem.exists() else None)
        if (v2 / "cpu.stat").exists():
            return cls(container, memory, v2 / "cpu.stat", 1e-6)
        return cls(container, memory, v1_cpu if v1_cpu.exists() else None, 1e-9)

    def memory_bytes(self) -> int | None:
        return int(self.memory.read_text()) if self.memory else None

    def cpu_s(self) -> float | None:
        if self.cpu is None:
            return None
        text = self.cpu.read_text()
        if self.cpu.name == "cpu.stat":
            text = next(line.split()[1] for line in text.splitlines() if line.startswith("usage_usec"))
        return int(text) * self.cpu_unit_s


def host_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


class MemorySampler(threading.Thread):
    """Every second: each container's memory; keeps each one's peak and the peak of their sum."""

    def __init__(self, cgroups: list[Cgroup]) -> None:
        super().__init__(daemon=True)
        self.cgroups = [c for c in cgroups if c.memory is not None]
        self.missing = [c.container for c in cgroups if c.memory is None]
        self.peak: dict[str, int] = {}
        self.peak_total = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            total = 0
            for c in self.cgroups:
                try:
                    value = c.memory_bytes() or 0
                except OSError:
                    continue
                self.peak[c.container] = max(self.peak.get(c.container, 0), value)
                total += value
            self.peak_total = max(self.peak_total, total)
            self.stop.wait(1.0)

    def report(self) -> dict[str, Any]:
        mib = 1024 * 1024
        return {
            "peak_mib": {k: round(v / mib) for k, v in sorted(self.peak.items())},
            "sum_of_peaks_mib": round(sum(self.peak.values()) / mib),
            "peak_of_sum_mib": round(self.peak_total / mib),
            "unreadable": self.missing,
            "note": "cgroup memory.current (v2) or memory.usage_in_bytes (v1), sampled every second; "
            "includes the page cache",
        }


class CpuMeter:
    """CPU seconds each container (and the machine) used between start() and stop()."""

    def __init__(self, cgroups: list[Cgroup]) -> None:
        self.cgroups = cgroups
        self._start: dict[str, float | None] = {}
        self._host: tuple[float, float] = (0.0, 0.0)
        self._t = 0.0

    def start(self) -> None:
        self._start = {c.container: c.cpu_s() for c in self.cgroups}
        self._host, self._t = host_cpu(), mono()

    def stop(self) -> dict[str, Any]:
        wall = mono() - self._t
        used: dict[str, float] = {}
        for c in self.cgroups:
            before, after = self._start.get(c.container), c.cpu_s()
            if before is not None and after is not None:
                used[c.container] = round((after - before) / wall, 2)
        busy, total = host_cpu()
        host_busy = (busy - self._host[0]) / max(total - self._host[1], 1.0)
        return {"cores_used_per_container": used, "host_busy_fraction": round(host_busy, 2)}


# --- the processor's driver (Spark REST API, docs/reference/hdfs-spark-kafka4.md B.7) ---------------------


def spark_time(text: str) -> float:
    """'2026-12-01T12:20:51.772GMT' -> epoch seconds."""
    return datetime.strptime(text.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


class Driver:
    def __init__(self, host: str) -> None:
        self.base = f"http://{host}:4040/api/v1"
        self.session = requests.Session()
        self.app_id = ""

    def get(self, path: str) -> Any:
        resp = self.session.get(f"{self.base}{path}", timeout=20)
        resp.raise_for_status()
        return resp.json()

    def connect(self) -> Driver:
        """Finds the processor's application id; returns itself."""
        apps = self.get("/applications")
        named = [a["id"] for a in apps if a.get("name") == PROCESSOR_APP]
        if not named:
            raise BenchError(f"no application {PROCESSOR_APP} at {self.base}/applications: {apps!r:.200}")
        self.app_id = named[0]
        return self

    def executors(self) -> dict[str, dict[str, Any]]:
        """Executor id -> host, tasks so far, task time so far (the driver itself runs no tasks)."""
        out = {}
        for e in self.get(f"/applications/{self.app_id}/allexecutors"):
            if e["id"] == "driver":
                continue
            out[e["id"]] = {
                "host": e["hostPort"].rsplit(":", 1)[0],
                "cores": e.get("totalCores", 0),
                "active": e.get("isActive", True),
                "tasks": e.get("totalTasks", 0),
                "task_s": e.get("totalDuration", 0) / 1000,
            }
        return out

    def batches(self, start: float, end: float, trigger_s: float) -> dict[str, Any]:
        """Micro-batches started in [start, end], per query: their span from the first job's submission to
        the last job's completion (a lower bound of the batch duration: offsets and commit logs on HDFS
        and the InfluxDB write are outside the jobs), and the interval between batch starts."""
        spans: dict[tuple[str, int], list[float]] = {}
        for job in self.get(f"/applications/{self.app_id}/jobs"):
            m = re.match(r"(\S+)\n.*\nbatch = (\d+)", job.get("description") or "", re.S)
            if not m or "completionTime" not in job:
                continue
            submitted, completed = spark_time(job["submissionTime"]), spark_time(job["completionTime"])
            span = spans.setdefault((m.group(1), int(m.group(2))), [submitted, completed])
            span[0], span[1] = min(span[0], submitted), max(span[1], completed)
        per_query: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for (query, _batch), (s, e) in spans.items():
            if start <= s <= end:
                per_query[query].append((s, e))
        out: dict[str, Any] = {}
        for query, items in sorted(per_query.items()):
            items.sort()
            durations = [e - s for s, e in items]
            gaps = [b[0] - a[0] for a, b in pairwise(items)]
            out[query] = {
                "batches": len(items),
                "job_span_mean_s": round(statistics.fmean(durations), 2),
                "job_span_max_s": round(max(durations), 2),
                "over_trigger": sum(1 for d in durations if d > trigger_s),
                "interval_mean_s": round(statistics.fmean(gaps), 2) if gaps else None,
            }
        return out

    def executor_busy(self, start: float, end: float, cores: int) -> dict[str, Any]:
        """Task run time of the stages submitted in [start, end] over the executors' core-seconds, and
        per query: tasks, run time, CPU time, GC time (run time far above CPU time: the tasks wait - on
        HDFS, Kafka, or for a CPU)."""
        per_query: dict[str, dict[str, float]] = defaultdict(
            lambda: {"tasks": 0, "run_s": 0.0, "cpu_s": 0.0, "gc_s": 0.0}
        )
        for stage in self.get(f"/applications/{self.app_id}/stages?status=complete"):
            if "submissionTime" in stage and start <= spark_time(stage["submissionTime"]) <= end:
                q = per_query[(stage.get("description") or "?").split("\n", 1)[0]]
                q["tasks"] += stage.get("numCompleteTasks", 0)
                q["run_s"] += stage.get("executorRunTime", 0) / 1000
                q["cpu_s"] += stage.get("executorCpuTime", 0) / 1e9
                q["gc_s"] += stage.get("jvmGcTime", 0) / 1000
        run_s = sum(q["run_s"] for q in per_query.values())
        capacity = max(end - start, 1e-3) * max(cores, 1)
        return {
            "tasks": sum(q["tasks"] for q in per_query.values()),
            "task_run_s": round(run_s, 1),
            "task_cpu_s": round(sum(q["cpu_s"] for q in per_query.values()), 1),
            "busy_fraction": round(run_s / capacity, 2),
            "executor_cores": cores,
            "per_query": {k: {n: round(v, 1) for n, v in q.items()} for k, q in sorted(per_query.items())},
        }


def falling_behind(remote: SshRemote, start: float, end: float) -> dict[str, Any]:
    """Spark's own 'Current batch is falling behind' warnings in the driver's journal (all queries)."""
    res = remote.run(
        f"journalctl -u {PROCESSOR_UNIT} --since @{int(start)} --until @{int(end) + 1} -o cat --no-pager "
        "| grep -o 'but spent [0-9]* milliseconds' || true",
        check=False,
    )
    spent = [int(x) / 1000 for x in re.findall(r"spent (\d+) milliseconds", res.stdout)]
    return {
        "warnings": len(spent),
        "spent_mean_s": round(statistics.fmean(spent), 2) if spent else None,
        "spent_max_s": round(max(spent), 2) if spent else None,
    }


# --- the rate staircase ----------------------------------------------------------------------------------


@dataclass
class Bench:
    bootstrap: str
    influx: str
    since_ms: int
    trigger_s: float
    min_samples: int
    drain_s: float
    pool: EventPool
    driver: Driver | None
    remote: SshRemote
    cgroups: list[Cgroup]
    executor_cores: int
    producer: Producer = field(init=False)
    counters: SendCounters = field(default_factory=SendCounters)
    index: int = 0

    def __post_init__(self) -> None:
        self.producer = bench_producer(self.bootstrap)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def run_step(bench: Bench, rate: float, seconds: float, probe_rate: float) -> dict[str, Any]:
    events_counts, probe_counts = Counts(bench.influx, bench.since_ms), Counts(bench.influx, bench.since_ms)
    base_counted, base_probes = events_counts.events(), probe_counts.probes()
    base_sent, base_failed = bench.counters.sent, bench.counters.failed
    lag: list[tuple[float, int]] = []  # (seconds into the step, lag)
    probe_sent: list[float] = []
    probe_seen: list[float] = []
    stop = threading.Event()
    start = mono()
    wall_start = time.time()

    def sample_lag() -> None:
        while not stop.is_set():
            t = mono()
            sent = bench.counters.sent - base_sent
            try:
                counted = events_counts.events() - base_counted
            except requests.RequestException:
                stop.wait(1.0)
                continue
            lag.append((t - start, sent - counted))
            stop.wait(max(0.0, 1.0 - (mono() - t)))

    def watch_probes() -> None:
        while not stop.is_set():
            try:
                seen = probe_counts.probes() - base_probes
            except requests.RequestException:
                stop.wait(0.25)
                continue
            now = mono()
            while len(probe_seen) < min(seen, len(probe_sent)):
                probe_seen.append(now)
            stop.wait(0.25)

    threads = [threading.Thread(target=f, daemon=True) for f in (sample_lag, watch_probes)]
    for t in threads:
        t.start()
    cpu = CpuMeter(bench.cgroups)
    cpu.start()
    executors_before = executors_or_nothing(bench.driver)

    # Token bucket: every ~5 ms send what the rate allows since the start (a late tick catches up).
    sent = probes = 0
    p, counters, pool = bench.producer, bench.counters, bench.pool
    while (elapsed := mono() - start) < seconds:
        emit = iso_now().encode()
        for _ in range(int(elapsed * rate) - sent):
            key, value = pool.message(bench.index, emit)
            produce(p, TOPIC, key, value, counters)
            bench.index += 1
            sent += 1
            counters.sent += 1
        while probes < int(elapsed * probe_rate) + 1:
            key, value = encode_event(probe_event(), datetime.now(UTC))
            produce(p, TOPIC, key, value, counters)
            probe_sent.append(mono())
            probes += 1
        p.poll(0)
        time.sleep(0.005)
    produced_s = mono() - start
    cpu_report = cpu.stop()
    wall_end = time.time()
    p.flush(60)

    # Drain: until every event and probe is counted (or --drain-seconds), so the next step starts clean
    # and the probes of the step's last seconds get their latency too.
    drain_deadline = mono() + bench.drain_s
    while mono() < drain_deadline:
        if lag and lag[-1][1] <= 0 and lag[-1][0] > produced_s and len(probe_seen) >= len(probe_sent):
            break
        time.sleep(0.5)
    drained_s = mono() - start - produced_s
    stop.set()
    for t in threads:
        t.join(15)

    during = [(t, v) for t, v in lag if t <= produced_s]
    quarter = produced_s / 4
    early = [v for t, v in during if quarter <= t < 2 * quarter]
    late = [v for t, v in during if t >= 3 * quarter]
    batch_events = rate * bench.trigger_s
    early_max, late_max = max(early, default=None), max(late, default=None)
    lag_bounded = (
        early_max is not None
        and late_max is not None
        and late_max <= 3 * batch_events
        and late_max <= early_max + batch_events
    )

    latencies = [seen - sent_at for seen, sent_at in zip(probe_seen, probe_sent, strict=False)]
    missing = len(probe_sent) - len(latencies)
    p95 = percentile(latencies + [math.inf] * missing, 0.95)
    latency_ok = len(latencies) >= bench.min_samples and p95 < 2 * bench.trigger_s
    achieved = sent / produced_s
    rate_ok = achieved >= 0.95 * rate
    final_lag = lag[-1][1] if lag else None

    spark: dict[str, Any] = {}
    if bench.driver:
        try:
            spark = {
                "batches_per_query": bench.driver.batches(wall_start, wall_end, bench.trigger_s),
                "executors": bench.driver.executor_busy(wall_start, wall_end, bench.executor_cores),
            }
            after = bench.driver.executors()
            spark["tasks_per_host"] = tasks_per_host(executors_before, after)
        except (requests.RequestException, ValueError, KeyError) as exc:
            spark = {"unavailable": str(exc)}
    spark["driver_log"] = falling_behind(bench.remote, wall_start, wall_end)

    failures = counters.failed - base_failed
    reasons = []
    if failures:
        reasons.append(f"{failures} events not delivered to Kafka ({counters.last_error})")
    if not rate_ok:
        reasons.append(f"the benchmark's producer reached only {achieved:.0f}/s")
    if not lag_bounded:
        reasons.append(f"lag grew (max {early_max} in the 2nd quarter, {late_max} in the last)")
    if len(latencies) < bench.min_samples:
        reasons.append(f"only {len(latencies)} latency samples (< {bench.min_samples})")
    elif not math.isfinite(p95):
        reasons.append(f"p95 latency over {bench.drain_s:.0f}s ({missing} probes never counted)")
    elif p95 >= 2 * bench.trigger_s:
        reasons.append(f"p95 latency {p95:.1f}s >= {2 * bench.trigger_s:.0f}s")
    return {
        "rate": rate,
        "passed": rate_ok and lag_bounded and latency_ok and not failures,
        "why_not": reasons,
        "seconds": round(produced_s, 1),
        "produced": sent,
        "achieved_eps": round(achieved, 1),
        "delivery_failures": failures,
        "lag": {
            "bounded": lag_bounded,
            "samples": len(during),
            "second_quarter_max": early_max,
            "last_quarter_max": late_max,
            "at_end_of_step": during[-1][1] if during else None,
            "max": max((v for _, v in during), default=None),
            "bound_3_batches": batch_events * 3,
            "after_drain": final_lag,
            "drain_s": round(drained_s, 1),
            "series_every_5s": [v for i, (_, v) in enumerate(during) if i % 5 == 0],
        },
        "latency": {
            "samples": len(latencies),
            "probes_sent": len(probe_sent),
            "never_counted": missing,
            "p50_s": round(statistics.median(latencies), 2) if latencies else None,
            "p95_s": round(p95, 2) if math.isfinite(p95) else None,
            "max_s": round(max(latencies), 2) if latencies else None,
        },
        "cpu": cpu_report,
        "spark": spark,
    }


def executors_or_nothing(driver: Driver | None) -> dict[str, dict[str, Any]]:
    try:
        return driver.executors() if driver else {}
    except requests.RequestException as exc:
        print(f"warning: the driver API did not answer ({exc}): no task counts for this step", flush=True)
        return {}


def tasks_per_host(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, Any]:
    hosts: dict[str, dict[str, float]] = defaultdict(lambda: {"executors": 0, "tasks": 0, "task_s": 0.0})
    for eid, e in after.items():
        b = before.get(eid, {"tasks": 0, "task_s": 0.0})
        h = hosts[e["host"]]
        h["executors"] += 1
        h["tasks"] += e["tasks"] - b["tasks"]
        h["task_s"] = round(h["task_s"] + e["task_s"] - b["task_s"], 1)
    return dict(sorted(hosts.items()))


def staircase(bench: Bench, args: argparse.Namespace, probe_rate: float) -> list[dict[str, Any]]:
    """Steps doubling from --start-rate until one fails. When the very first one fails, halve instead (at
    most three times) until one passes, so a slow cluster still gets a figure."""
    steps: list[dict[str, Any]] = []
    rate, factor = args.start_rate, 2.0
    while rate <= args.max_rate:
        print(f"step {rate:.0f} events/s for {args.step_seconds:.0f}s ...", flush=True)
        step = run_step(bench, rate, args.step_seconds, probe_rate)
        steps.append(step)
        lat, lag = step["latency"], step["lag"]
        print(
            f"  {'passed' if step['passed'] else 'FAILED'}: achieved {step['achieved_eps']:.0f}/s, "
            f"lag max {lag['second_quarter_max']}/{lag['last_quarter_max']} (2nd/last quarter, bound "
            f"{lag['bound_3_batches']:.0f}), after drain {lag['after_drain']} in {lag['drain_s']}s; "
            f"latency p50 {lat['p50_s']}s p95 {lat['p95_s']}s ({lat['samples']} samples)"
            + (f"; {'; '.join(step['why_not'])}" if step["why_not"] else ""),
            flush=True,
        )
        if step["passed"] and factor < 1:
            break  # found by going down: the step above already failed
        if not step["passed"]:
            if any(st["passed"] for st in steps) or len(steps) >= 4:
                break
            factor = 0.5
        rate *= factor
    return steps


# --- the demo producer, stopped while the benchmark runs -------------------------------------------------


class DemoProducerPaused:
    """Stops the demo producer (when it runs) and starts it again on exit, whatever happened."""

    def __init__(self, remote: SshRemote) -> None:
        self.remote, self.was_active = remote, False

    def __enter__(self) -> DemoProducerPaused:
        state = self.remote.run(f"systemctl is-active {PRODUCER_UNIT}", check=False).stdout.strip()
        self.was_active = state == "active"
        if self.was_active:
            self.remote.run(f"systemctl stop {PRODUCER_UNIT}")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.was_active:
            self.remote.run(f"systemctl start {PRODUCER_UNIT}", check=False)


def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt("SIGTERM")


def limits(step: dict[str, Any]) -> str:
    """Spark's and the nodes' figures of one step, in a sentence (the JSON report has them all)."""
    sp, parts = step["spark"], []
    batches = sp.get("batches_per_query") or {}
    if batches:
        n = sum(q["batches"] for q in batches.values())
        over = sum(q["over_trigger"] for q in batches.values())
        spans = ", ".join(f"{k} {q['job_span_mean_s']}s" for k, q in batches.items())
        parts.append(f"micro-batch job spans (mean) {spans}; {over}/{n} batches over the trigger")
    log = sp.get("driver_log") or {}
    if log.get("warnings"):
        parts.append(
            f"driver: {log['warnings']} 'falling behind' warnings, spent {log['spent_mean_s']}s mean"
        )
    ex = sp.get("executors")
    if ex and ex["task_run_s"]:
        per_query = ex["per_query"]
        top = max(per_query, key=lambda k: per_query[k]["run_s"])
        parts.append(
            f"executors busy {ex['busy_fraction']:.0%} of {ex['executor_cores']} cores, their tasks on CPU "
            f"{ex['task_cpu_s'] / ex['task_run_s']:.0%} of their run time; {top} takes "
            f"{per_query[top]['run_s'] / ex['task_run_s']:.0%} of the task time"
        )
    cpu = step["cpu"]
    parts.append(
        f"node containers used {sum(cpu['cores_used_per_container'].values()):.1f} cores, the machine was "
        f"{cpu['host_busy_fraction']:.0%} busy"
    )
    return "; ".join(parts)


def summary(report: dict[str, Any]) -> list[str]:
    raw, steps = report["raw_kafka"], report["staircase"]
    sustained = report["sustained_eps"]
    best = next((s for s in steps if s["passed"] and s["rate"] == sustained), None)
    lines = [
        f"sustained pipeline rate: {sustained:.0f} events/s"
        + (" (no step passed)" if best is None else f" (highest passing step of {len(steps)})"),
        f"raw Kafka produce->consume: {raw['consume_eps_after_warmup']:.0f} events/s "
        f"({raw['seconds']:.0f}s at full speed, {raw['partitions']} partitions, "
        f"RF {raw['replication_factor']})",
        f"ratio sustained/raw: {report['ratio_sustained_over_raw']:.3f} (target >= 0.5)",
    ]
    if best:
        lat = best["latency"]
        lines.append(
            f"latency event -> InfluxDB at {sustained:.0f}/s: p95 {lat['p95_s']}s, p50 {lat['p50_s']}s "
            f"over {lat['samples']} samples"
        )
    for st in steps:
        lat, lag = st["latency"], st["lag"]
        lines.append(
            f"  step {st['rate']:.0f}/s {'passed' if st['passed'] else 'failed'}: p95 {lat['p95_s']}s over "
            f"{lat['samples']} samples; lag max {lag['second_quarter_max']} -> {lag['last_quarter_max']} "
            f"(2nd -> last quarter; bound {lag['bound_3_batches']:.0f})"
        )
    bounded = [st["rate"] for st in steps if st["lag"]["bounded"]]
    if bounded and max(bounded) > sustained:
        lines.append(
            f"the lag stayed bounded up to {max(bounded):.0f}/s: latency, not throughput, decided "
            "(the staircase stops at the first failure, so higher rates were not tried)"
        )
    failed = min((s for s in steps if not s["passed"]), key=lambda s: s["rate"], default=None)
    if failed:
        lines.append(f"lowest failing step {failed['rate']:.0f}/s: {'; '.join(failed['why_not'])}")
    work = report["work"]
    lines.append(f"tasks per executor host (staircase): {json.dumps(work.get('tasks_per_host'))}")
    lines.append(f"{TOPIC} leaders per broker: {json.dumps(work['crimes_raw']['leaders_per_broker'])}")
    mem = report["memory"]
    lines.append(
        f"peak memory: {json.dumps(mem['peak_mib'])} MiB; total {mem['peak_of_sum_mib']} MiB "
        f"(sum of peaks {mem['sum_of_peaks_mib']} MiB)"
    )
    if report["ratio_sustained_over_raw"] < 0.5:
        for name, step in (("last passing step", best), ("lowest failing step", failed)):
            if step:
                lines.append(f"what limits it, at the {name} ({step['rate']:.0f}/s): {limits(step)}")
    lines.append(f"command: {report['command']}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stack", default="local")
    ap.add_argument("--step-seconds", type=float, default=60.0, help="seconds per staircase step")
    ap.add_argument("--start-rate", type=float, default=250.0, help="events/s of the first step")
    ap.add_argument("--max-rate", type=float, default=64000.0, help="no step above this rate")
    ap.add_argument("--raw-seconds", type=float, default=0.0, help="raw Kafka run (default: --step-seconds)")
    ap.add_argument("--min-samples", type=int, default=100, help="latency samples a step needs")
    ap.add_argument("--probe-rate", type=float, default=0.0, help="probes/s (default: 1.25 x min-samples)")
    ap.add_argument("--trigger-seconds", type=float, default=5.0, help="the processor's trigger interval")
    ap.add_argument("--drain-seconds", type=float, default=120.0, help="wait after a step for the counts")
    ap.add_argument("--json-out", type=Path, help="also write the JSON report here")
    args = ap.parse_args()
    probe_rate = args.probe_rate or max(2.0, 1.25 * args.min_samples / args.step_seconds)
    raw_seconds = args.raw_seconds or args.step_seconds

    inv: Cluster = inv_mod.load_stack(args.stack)
    master = inv.masters[0]
    bootstrap = ",".join(f"{a.private_ip}:9092" for a in inv.agents)
    influx = f"http://{inv.public_agents[0].private_ip}:8086"
    k, s = inv.settings.kafka, inv.settings.spark
    executors = s.executor_count(len(inv.agents))
    rf = min(k.replication_factor, len(inv.agents))
    min_isr = min(k.min_insync_replicas, rf)
    nodes = [*inv.masters, *inv.agents, *inv.public_agents]
    cgroups = [Cgroup.find(f"fastdata-{args.stack}-{n.name}") for n in nodes]
    pool = EventPool.load()
    signal.signal(signal.SIGTERM, on_sigterm)

    memory = MemorySampler(cgroups)
    memory.start()
    remote = connect(inv, master, load_private_key(inv.ssh.private_key))
    work: dict[str, Any] = {}
    driver: Driver | None = None
    try:
        driver = Driver(master.private_ip).connect()
    except (requests.RequestException, BenchError) as exc:
        print(f"warning: the processor's driver API is not answering ({exc}): no Spark figures", flush=True)
        work["spark_unavailable"] = str(exc)
    started = time.time()
    try:
        with DemoProducerPaused(remote):
            print(
                f"raw Kafka: {raw_seconds:.0f}s at full speed, {k.partitions} partitions, RF {rf} ...",
                flush=True,
            )
            raw = raw_kafka(bootstrap, k.partitions, rf, min_isr, raw_seconds, pool)
            print(f"  {raw['consume_eps_after_warmup']:.0f} events/s consumed", flush=True)
            since_ms = int((time.time() - 30) * 1000)
            print("waiting for the counts to settle (the demo producer's last events) ...", flush=True)
            settle(Counts(influx, since_ms - 600_000), quiet_s=3 * args.trigger_seconds, timeout_s=300)
            bench = Bench(
                bootstrap=bootstrap,
                influx=influx,
                since_ms=since_ms,
                trigger_s=args.trigger_seconds,
                min_samples=args.min_samples,
                drain_s=args.drain_seconds,
                pool=pool,
                driver=driver,
                remote=remote,
                cgroups=cgroups,
                executor_cores=executors * s.executor_cores,
            )
            executors_before = executors_or_nothing(driver)
            steps = staircase(bench, args, probe_rate)
            if driver:
                work["executors"] = executors_or_nothing(driver)
                work["tasks_per_host"] = tasks_per_host(executors_before, work["executors"])
            admin = AdminClient({"bootstrap.servers": bootstrap})
            work["crimes_raw"] = leaders_per_broker(admin, TOPIC)
            work["raw_topic"] = raw["layout"]
    finally:
        remote.close()
        memory.stop.set()
        memory.join(5)
    sustained = max((st["rate"] for st in steps if st["passed"]), default=0.0)
    raw_eps = raw["consume_eps_after_warmup"]
    report = {
        "command": " ".join(["./scripts/bench-pipeline.sh", *sys.argv[1:]]),
        "stack": args.stack,
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "settings": {
            "step_seconds": args.step_seconds,
            "probe_rate": round(probe_rate, 2),
            "trigger_seconds": args.trigger_seconds,
            "min_samples": args.min_samples,
            "spark_executors": f"{executors} x {s.executor_cores} core(s), {s.executor_memory}",
            "pass_rule": "achieved >= 95% of the rate; lag max over the last quarter <= 3 x trigger x rate "
            "and <= max over the 2nd quarter + trigger x rate; p95 latency < 2 x trigger over >= "
            "min_samples probes",
        },
        "raw_kafka": raw,
        "staircase": steps,
        "sustained_eps": sustained,
        "ratio_sustained_over_raw": sustained / raw_eps if raw_eps else 0.0,
        "work": work,
        "memory": memory.report(),
    }
    text = json.dumps(report, indent=2, default=float)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    print()
    print("\n".join(summary(report)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: the context managers and finally blocks have restored the cluster by now.
        print(
            "bench-pipeline: interrupted (demo producer restored, temporary topic deleted)", file=sys.stderr
        )
        sys.exit(130)
