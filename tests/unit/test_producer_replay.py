"""The replay loop (pacing, cap, loop, limit, delivery accounting), the metrics endpoint and the CLI.

Kafka is replaced by a recording stand-in with confluent-kafka's produce/poll/flush shape, and time by a
fake clock that ``stop.wait`` advances, so nothing here waits for real.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest

from apps.common.errors import ConfigError, DataDamaged, DataError
from apps.producer import main as producer_main
from apps.producer.parse import CrimeEvent, parse_rows, sort_by_event_time
from apps.producer.replay import ReplayConfig, ReplayStats, flush, replay, slice_length
from apps.producer.source import open_dataset
from tests.unit.test_producer_metrics import parse_exposition

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "chicago-crimes-2015-10-17_18.csv"
T0 = datetime(2015, 10, 17, 14, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeStop(threading.Event):
    """``wait`` advances the fake clock instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        self.clock.now += timeout or 0.0
        return self.is_set()


class RecordingSink:
    """Stand-in for confluent_kafka.Producer: records sends; deliveries are confirmed (or failed) on poll."""

    def __init__(self, clock: FakeClock, fail_ids: set[int] | None = None, full_times: int = 0) -> None:
        self.clock, self.fail_ids, self.full_times = clock, fail_ids or set(), full_times
        self.sent: list[tuple[float, bytes, dict[str, Any]]] = []
        self.pending: list[tuple[Any, dict[str, Any]]] = []

    def produce(self, topic: str, *, value: bytes, key: bytes, on_delivery: Any) -> None:
        if self.full_times:
            self.full_times -= 1
            raise BufferError("Local: Queue full")
        doc = json.loads(value)
        self.sent.append((self.clock.now, key, doc))
        self.pending.append((on_delivery, doc))

    def poll(self, timeout: float) -> int:
        served, self.pending = self.pending, []
        for callback, doc in served:
            callback("KafkaError{code=MSG_TIMED_OUT}" if doc["id"] in self.fail_ids else None, None)
        return len(served)

    def flush(self, timeout: float) -> int:
        self.poll(0)
        return 0


def make_event(i: int, minutes: float) -> CrimeEvent:
    return CrimeEvent(
        id=i, case_number=f"HY{i}", event_time=T0 + timedelta(minutes=minutes), primary_type="THEFT",
        type_slug="theft", description="", location_description="", arrest=False, domestic=False, beat="",
        district=f"{i % 3:03d}", ward=None, community_area=None, fbi_code="06", lat=41.9, lon=-87.7,
    )  # fmt: skip


def run(
    events: list[CrimeEvent], sink: RecordingSink | None = None, **config: Any
) -> tuple[RecordingSink, ReplayStats]:
    clock = FakeClock()
    sink = sink or RecordingSink(clock)
    sink.clock = clock
    stats = ReplayStats("crimes.raw", clock=clock)
    replay(events, sink, ReplayConfig(**config), stats, FakeStop(clock), clock=clock)
    flush(sink, stats, 1.0)
    return sink, stats


def test_whole_sample_replayed_in_event_time_order_and_all_delivered() -> None:
    with SAMPLE.open(newline="") as f:
        events = sort_by_event_time(parse_rows(f).events)
    sink, stats = run(events, speedup=1e9, max_eps=1e9, loop=False)
    snap = stats.snapshot()
    assert snap["sent"] == snap["delivered"] == 897 and snap["delivery_failures"] == 0
    times = [datetime.fromisoformat(doc["event_time"]) for _, _, doc in sink.sent]
    assert times == sorted(times)
    assert sink.sent[0][2]["event_time"] == "2015-10-17T14:05:00-05:00"
    assert sink.sent[-1][1] == sink.sent[-1][2]["district"].encode()  # keyed by district
    assert snap["sim_clock"] == "2015-10-18T23:50:00-05:00" and snap["state"] == "done"


def test_pacing_follows_event_time_divided_by_speedup() -> None:
    events = [make_event(i, m) for i, m in enumerate([0, 0, 10, 70])]  # minutes
    sink, _ = run(events, speedup=60.0, max_eps=1000.0, loop=False)
    offsets = [round(t - sink.sent[0][0], 3) for t, _, _ in sink.sent]
    # 60x: 10 simulated minutes take 10 s; the second event at the same time waits only for the cap (1 ms).
    assert offsets == [0.0, 0.001, 10.0, 70.0]


def test_rate_cap_spaces_events_and_never_drops_them() -> None:
    events = [make_event(i, 0) for i in range(10)]
    sink, stats = run(events, speedup=1e9, max_eps=5.0, loop=False)
    offsets = [round(t - sink.sent[0][0], 3) for t, _, _ in sink.sent]
    assert offsets == [round(0.2 * i, 3) for i in range(10)]
    assert stats.snapshot()["sent"] == 10


def test_loop_shifts_event_times_by_the_slice_length_and_limit_stops() -> None:
    events = [make_event(i, m) for i, m in enumerate([0, 30, 60])]
    assert slice_length(events) == timedelta(minutes=90)  # span 60 min + average gap 30 min
    sink, stats = run(events, speedup=1e6, max_eps=1e6, loop=True, limit=7)
    times = [doc["event_time"] for _, _, doc in sink.sent]
    assert len(times) == 7 and stats.snapshot()["loop"] == 2
    assert times[3] == (T0 + timedelta(minutes=90)).isoformat()  # loop 1 starts one slice later
    assert times[6] == (T0 + timedelta(minutes=180)).isoformat()
    assert [doc["id"] for _, _, doc in sink.sent] == [0, 1, 2, 0, 1, 2, 0]


def test_full_local_queue_is_waited_out_not_dropped() -> None:
    clock = FakeClock()
    sink, stats = run([make_event(1, 0), make_event(2, 1)], RecordingSink(clock, full_times=3),
                      speedup=1e9, max_eps=1e9, loop=False)  # fmt: skip
    assert [doc["id"] for _, _, doc in sink.sent] == [1, 2]
    assert stats.snapshot()["sent"] == 2


def test_delivery_failures_are_counted_and_reported() -> None:
    clock = FakeClock()
    _, stats = run([make_event(i, i) for i in range(5)], RecordingSink(clock, fail_ids={3}),
                   speedup=1e9, max_eps=1e9, loop=False)  # fmt: skip
    snap = stats.snapshot()
    assert (snap["sent"], snap["delivered"], snap["delivery_failures"], snap["in_flight"]) == (5, 4, 1, 0)
    assert "MSG_TIMED_OUT" in snap["last_delivery_error"]


def test_metrics_endpoint_serves_prometheus_text_json_and_health() -> None:
    stats = ReplayStats("crimes.raw")
    stats.skipped["missing_coordinates"] += 102
    stats.record_sent(T0, 0)
    server = producer_main.start_metrics_server("127.0.0.1", 0, stats)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with urlopen(f"{base}/metrics", timeout=5) as resp:
            ctype, text = resp.headers["Content-Type"], resp.read().decode()
        as_json = json.load(urlopen(f"{base}/metrics.json", timeout=5))
        negotiated = json.load(urlopen(Request(f"{base}/metrics", headers={"Accept": "application/json"})))
        health = json.load(urlopen(f"{base}/healthz", timeout=5))
    finally:
        server.shutdown()
        server.server_close()
    assert ctype.startswith("text/plain; version=0.0.4")
    samples = parse_exposition(text)
    assert samples['fastdata_producer_skipped_rows_total{reason="missing_coordinates"}'] == 102
    assert samples["fastdata_producer_sent_total"] == 1
    assert samples["fastdata_producer_sim_time_seconds"] == T0.timestamp()
    for metrics in (as_json, negotiated):
        assert metrics["sent"] == 1 and metrics["skipped"]["missing_coordinates"] == 102
        assert metrics["skipped_total"] == 102 and metrics["sim_ts"] == int(T0.timestamp() * 1000)
        assert metrics["events_per_second"] > 0
    assert health["status"] == "ok"


def test_metrics_port_in_use_is_a_config_error() -> None:
    stats = ReplayStats("crimes.raw")
    server = producer_main.start_metrics_server("127.0.0.1", 0, stats)
    try:
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1:\d+.*METRICS_PORT"):
            producer_main.start_metrics_server("127.0.0.1", server.server_address[1], stats)
    finally:
        server.shutdown()
        server.server_close()


def test_kafka_config_fixes_idempotence_and_acks() -> None:
    config = producer_main.kafka_config("k1:9092", "security.protocol=SSL, linger.ms=5")
    assert config["enable.idempotence"] is True and config["acks"] == "all"
    assert config["security.protocol"] == "SSL" and config["linger.ms"] == "5"
    with pytest.raises(ConfigError, match="must not set acks"):
        producer_main.kafka_config("k1:9092", "acks=1")
    with pytest.raises(ConfigError, match="not key=value"):
        producer_main.kafka_config("k1:9092", "linger.ms")


def test_gzip_file_and_http_url_are_read(tmp_path: Path) -> None:
    import http.server

    gz = tmp_path / "crimes.csv.gz"
    gz.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    with open_dataset(str(gz)) as text:
        assert len(parse_rows(text).events) == 897

    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with open_dataset(f"http://127.0.0.1:{server.server_address[1]}/crimes.csv.gz") as text:
            assert len(parse_rows(text).events) == 897
        missing = f"http://127.0.0.1:{server.server_address[1]}/missing.csv"
        with pytest.raises(DataError, match="cannot download"), open_dataset(missing):
            pass
    finally:
        server.shutdown()
    (tmp_path / "fake.gz").write_text("not gzip")
    with pytest.raises(DataError, match="not gzip"), open_dataset(str(tmp_path / "fake.gz")):
        pass
    with pytest.raises(DataError, match="does not exist"), open_dataset(str(tmp_path / "nope.csv")):
        pass
    with pytest.raises(DataError, match="is not a file"), open_dataset(str(tmp_path)):
        pass


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "cut short before the trailer"])
def test_damaged_gzip_is_data_damaged_naming_the_file(tmp_path: Path, damage: str) -> None:
    whole = gzip.compress(SAMPLE.read_bytes())
    broken = {
        "truncated": whole[: len(whole) // 2],
        "corrupt": whole[:200] + bytes(b ^ 0x5A for b in whole[200:400]) + whole[400:],
        "cut short before the trailer": whole[:-4],  # all the data, no length/CRC trailer
    }[damage]
    gz = tmp_path / "crimes.csv.gz"
    gz.write_bytes(broken)
    expected = rf"data set {re.escape(str(gz))} is truncated or corrupt.*again"
    with pytest.raises(DataDamaged, match=expected), open_dataset(str(gz)) as text:
        parse_rows(text)


def test_download_cut_short_is_data_damaged() -> None:
    """An HTTP server that promises more bytes than it sends, then hangs up."""
    body = SAMPLE.read_bytes()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_once() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body[: len(body) // 2]
            )

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/crimes.csv"
    try:
        expected = rf"data set {re.escape(url)} is truncated"
        with pytest.raises(DataDamaged, match=expected), open_dataset(url) as text:
            parse_rows(text)
    finally:
        thread.join(5)
        listener.close()


def test_check_mode_prints_counts_without_kafka(capsys: pytest.CaptureFixture[str]) -> None:
    assert producer_main.main(["--check", "--data", str(SAMPLE), "--start", "2015-10-18"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["skipped"]["missing_coordinates"] == 102
    assert out["events"] + out["outside_slice"] == 897
    assert out["first_event_time"].startswith("2015-10-18T00:")


def test_env_vars_are_fallbacks_for_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPEEDUP", "60")
    monkeypatch.setenv("LOOP", "false")
    monkeypatch.setenv("TOPIC", "t1")
    args = producer_main.build_parser().parse_args([])
    assert (args.speedup, args.loop, args.topic) == (60.0, False, "t1")
    assert producer_main.build_parser().parse_args(["--loop", "--topic", "t2"]).loop is True
    monkeypatch.setenv("MAX_EPS", "-1")
    with pytest.raises(ConfigError, match="MAX_EPS"):
        producer_main.build_parser()
