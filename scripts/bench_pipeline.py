"""Benchmark of the demo pipeline on a deployed local cluster (not a test: it reports, it does not judge).

Measures, in one run:
  1. raw Kafka produce->consume throughput on the cluster (events shaped like the demo's, same topic layout),
  2. sustained end-to-end events/s: the producer at full speed -> Kafka -> Spark -> counts in InfluxDB,
  3. p95 latency from an event sent to its count being visible in InfluxDB, under that load,
and prints the ratio pipeline/raw (target >= 0.5). Run it through scripts/bench-pipeline.sh.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.probe import PROBE_SLUG, probe_count, probe_event  # noqa: E402
from apps.producer.parse import parse_rows, sort_by_event_time  # noqa: E402
from apps.producer.replay import encode_event  # noqa: E402
from roles.engine import inventory as inv_mod  # noqa: E402
from roles.engine.connection import connect, load_private_key  # noqa: E402


def total_counted(influx: str) -> int:
    q = f'SELECT sum("count") FROM crime_counts WHERE "type" != \'{PROBE_SLUG}\''
    resp = requests.get(f"{influx}/query", params={"db": "crimes", "q": q}, timeout=10)
    resp.raise_for_status()
    series = resp.json()["results"][0].get("series") or []
    return int(series[0]["values"][0][1] or 0) if series else 0


def sample_events(n: int) -> list[tuple[bytes, bytes]]:
    with open(ROOT / "data" / "chicago-crimes-2015-10-17_18.csv", encoding="utf-8") as fh:
        events = sort_by_event_time(parse_rows(fh).events)
    now = datetime.now(UTC)
    return [encode_event(events[i % len(events)], now) for i in range(n)]


def producer(bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "queue.buffering.max.messages": 1_000_000,
        }
    )


def produce_all(p: Producer, topic: str, msgs: list[tuple[bytes, bytes]]) -> None:
    """Send everything as fast as the client allows (waiting only when its local queue is full)."""
    for key, value in msgs:
        while True:
            try:
                p.produce(topic, value=value, key=key)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    if p.flush(120) != 0:
        raise RuntimeError(f"{len(p)} events to {topic} were still undelivered after 120 s")


def raw_kafka(bootstrap: str, partitions: int, rf: int, n: int) -> dict[str, float]:
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    min_isr = "2" if rf >= 3 else "1"
    created = admin.create_topics([NewTopic(topic, partitions, rf, config={"min.insync.replicas": min_isr})])
    created[topic].result(60)
    try:
        msgs = sample_events(n)
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": topic,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        consumer.poll(1)  # join the group before the clock starts
        got = 0
        done = threading.Event()

        def consume() -> None:
            nonlocal got
            while got < n and not done.is_set():
                batch = consumer.consume(1000, 1.0)
                got += sum(1 for m in batch if m.error() is None)

        t = threading.Thread(target=consume)
        start = time.monotonic()
        t.start()
        produce_all(producer(bootstrap), topic, msgs)
        produced_s = time.monotonic() - start
        t.join(300)
        done.set()
        elapsed = time.monotonic() - start
        consumer.close()
        return {
            "events": n,
            "consumed": got,
            "produce_eps": n / produced_s,
            "produce_consume_eps": got / elapsed,
        }
    finally:
        admin.delete_topics([topic])


def settled_total(influx: str, quiet_s: float = 15, timeout: float = 300) -> int:
    """The counted total once the processor has caught up (unchanged for `quiet_s`)."""
    last, since, deadline = total_counted(influx), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1)
        now = total_counted(influx)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return last


def pipeline(bootstrap: str, influx: str, n: int, probes: int) -> dict[str, Any]:
    before = settled_total(influx)  # events sent before the demo producer stopped are not ours
    msgs = sample_events(n)
    latencies: list[float] = []
    stop = threading.Event()

    def probe_loop() -> None:
        p = producer(bootstrap)
        for _ in range(probes):
            if stop.is_set():
                return
            seen = probe_count(influx, "crimes")
            now = datetime.now(UTC)
            key, value = encode_event(probe_event(), now)
            sent = time.monotonic()
            p.produce("crimes.raw", value=value, key=key)
            p.flush(30)
            while probe_count(influx, "crimes") <= seen and time.monotonic() - sent < 120:
                time.sleep(0.1)
            latencies.append(time.monotonic() - sent)

    prober = threading.Thread(target=probe_loop)
    start = time.monotonic()
    prober.start()
    produce_all(producer(bootstrap), "crimes.raw", msgs)
    sent_s = time.monotonic() - start
    deadline = time.monotonic() + 600
    counted = total_counted(influx) - before
    while counted < n and time.monotonic() < deadline:
        time.sleep(0.5)
        counted = total_counted(influx) - before
    elapsed = time.monotonic() - start
    stop.set()
    prober.join(180)
    latencies.sort()
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)] if latencies else float("nan")
    return {
        "events": n,
        "counted": counted,
        "send_s": sent_s,
        "end_to_end_s": elapsed,
        "pipeline_eps": counted / elapsed,
        "latency_samples": len(latencies),
        "latency_p50_s": statistics.median(latencies) if latencies else float("nan"),
        "latency_p95_s": p95,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stack", default="local")
    ap.add_argument("--events", type=int, default=50_000, help="events for each measurement")
    ap.add_argument("--probes", type=int, default=20, help="latency samples during the pipeline run")
    args = ap.parse_args()

    inv = inv_mod.load_stack(args.stack)
    master = inv.masters[0]
    bootstrap = ",".join(f"{a.private_ip}:9092" for a in inv.agents)
    influx = f"http://{inv.public_agents[0].private_ip}:8086"
    k = inv.settings.get("kafka", {})
    partitions, rf = int(k.get("partitions", 6)), min(int(k.get("replicationFactor", 3)), len(inv.agents))

    remote = connect(inv, master, load_private_key(inv.ssh.private_key))
    remote.run("systemctl stop fastdata-producer")  # measure our load only
    try:
        print(f"raw Kafka: {args.events} events, {partitions} partitions, RF {rf} ...", flush=True)
        raw = raw_kafka(bootstrap, partitions, rf, args.events)
        print(f"pipeline: {args.events} events at full speed, {args.probes} latency probes ...", flush=True)
        pipe = pipeline(bootstrap, influx, args.events, args.probes)
    finally:
        remote.run("systemctl start fastdata-producer", check=False)
        remote.close()
    ratio = pipe["pipeline_eps"] / raw["produce_consume_eps"] if raw["produce_consume_eps"] else float("nan")
    report = {
        "command": " ".join(sys.argv),
        "stack": args.stack,
        "raw_kafka": raw,
        "pipeline": pipe,
        "ratio_pipeline_over_raw": ratio,
    }
    print(json.dumps(report, indent=2, default=float))
    print(f"\nraw Kafka produce->consume: {raw['produce_consume_eps']:.0f} events/s")
    print(
        f"pipeline (producer -> InfluxDB counts): {pipe['pipeline_eps']:.0f} events/s "
        f"({pipe['counted']}/{pipe['events']} counted)"
    )
    print(
        f"latency sent -> counted: p50 {pipe['latency_p50_s']:.1f}s, p95 {pipe['latency_p95_s']:.1f}s "
        f"({pipe['latency_samples']} samples)"
    )
    print(f"ratio pipeline/raw: {ratio:.2f} (target >= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
