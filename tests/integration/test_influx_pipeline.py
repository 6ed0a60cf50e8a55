"""The processor's InfluxDB writes against a real influxd 1.x: idempotent setup, overwrite on re-write,
and the count reconciliation of a streaming run that is restarted mid-way.

A private influxd runs on loopback ports in a temporary directory (Debian's `influxdb` package, listed in
scripts/apt-packages.txt). Kafka is not needed here: the streaming test feeds the same queries from a
text-file stream of Kafka-shaped JSON records, which checkpoints offsets and window state the same way.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from apps.common import influx as influx_cli
from apps.common.influx import InfluxClient
from apps.processor.aggregate import AggregationConfig, aggregate, parse_events
from apps.processor.main import start_queries
from apps.processor.sink import InfluxWriter
from tests.helpers import local_spark

pytestmark = pytest.mark.integration

# Recent, so the points fall inside the retention policy (older ones are refused by InfluxDB).
BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throw-away influxd; yields its base URL. Its log is printed when the test fails to start it."""
    binary = shutil.which("influxd")
    if binary is None:
        pytest.fail("influxd is not installed: run scripts/setup.sh (apt package 'influxdb')")
    root = tmp_path_factory.mktemp("influxd")
    http_port = free_port()
    config = root / "influxdb.conf"
    config.write_text(
        f"""reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
"""
    )
    log = (root / "influxd.log").open("w")
    proc = subprocess.Popen([binary, "-config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if requests.get(f"{url}/ping", timeout=1).status_code == 204:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"influxd did not start: {(root / 'influxd.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_spark("processor-integration", cores=2, shuffle_partitions=2)
    yield session
    session.stop()


def sums(client: InfluxClient, db: str) -> dict[str, Any]:
    """Totals and point counts of both measurements (every point, whatever its time)."""
    out: dict[str, Any] = {}
    for measurement in ("crime_counts", "crime_cells"):
        q = f'SELECT sum("count") AS total, count("count") AS points FROM "{measurement}"'
        series = client.query(q, db=db)[0].get("series", [])
        out[measurement] = tuple(series[0]["values"][0][1:]) if series else (0, 0)
    return out


def records(n: int, start_ms: int = 0, step_ms: int = 700) -> list[str]:
    types = ["theft", "battery", "criminal_damage", "narcotics"]
    return [
        json.dumps({
            "id": i, "event_time": (BASE - timedelta(days=3650) + timedelta(minutes=i)).isoformat(),
            "emit_time": (BASE + timedelta(milliseconds=start_ms + i * step_ms)).isoformat(),
            "type_slug": types[i % len(types)], "lat": 41.70 + (i % 7) * 0.05, "lon": -87.80 + (i % 5) * 0.06,
        })
        for i in range(n)
    ]  # fmt: skip


def test_ensure_db_is_idempotent(influxd: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = InfluxClient(influxd)
    assert client.ensure_database("crimes", "demo", "7d") == [
        'CREATE DATABASE "crimes"',
        'CREATE RETENTION POLICY "demo" ON "crimes" DURATION 7d REPLICATION 1 DEFAULT',
    ]
    assert client.ensure_database("crimes", "demo", "7d") == []
    assert influx_cli.main(["ensure-db", "--influx-url", influxd, "--retention", "2d"]) == 0
    assert "changed: ALTER RETENTION POLICY" in capsys.readouterr().out
    assert influx_cli.main(["ensure-db", "--influx-url", influxd, "--retention", "2d"]) == 0
    assert "no change" in capsys.readouterr().out
    (rp,) = [
        r
        for r in client.query('SHOW RETENTION POLICIES ON "crimes"')[0]["series"][0]["values"]
        if r[0] == "demo"
    ]
    assert rp[1] == "48h0m0s" and rp[-1] is True


def test_writing_the_same_batch_twice_overwrites(influxd: str, spark: Any, tmp_path: Path) -> None:
    client = InfluxClient(influxd)
    client.ensure_database("batch_db", "demo", "7d")
    (tmp_path / "r.txt").write_text("\n".join(records(120)) + "\n")
    result = aggregate(parse_events(spark.read.text(str(tmp_path))), AggregationConfig())
    writer = InfluxWriter(client, "batch_db", "demo")
    writer.type_counts_batch()(result.type_counts, 0)
    writer.cell_counts_batch()(result.cell_counts, 0)
    first = sums(client, "batch_db")
    assert first["crime_counts"][0] == 120 == first["crime_cells"][0]
    writer.type_counts_batch()(result.type_counts, 0)  # the same batch again: a replay after a crash
    writer.cell_counts_batch()(result.cell_counts, 0)
    assert sums(client, "batch_db") == first


def run_available_now(spark: Any, source: Path, checkpoints: Path, writer: InfluxWriter) -> None:
    raw = spark.readStream.format("text").load(str(source))
    queries = start_queries(raw, AggregationConfig(), writer, "available-now", str(checkpoints))
    for query in queries:
        query.awaitTermination(180)
        assert query.exception() is None


def test_streaming_restart_and_replay_count_every_event_once(
    influxd: str, spark: Any, tmp_path: Path
) -> None:
    """Run 1 sees part of the stream, run 2 (a restart from the checkpoint) the rest, with windows that
    straddle the restart; run 3 replays everything with a fresh checkpoint. Sums stay equal to the events."""
    client = InfluxClient(influxd)
    client.ensure_database("stream_db", "demo", "7d")
    writer = InfluxWriter(client, "stream_db", "demo")
    source, checkpoints = tmp_path / "in", tmp_path / "ckpt"
    source.mkdir()
    all_records = records(300)  # 300 events, 0.7 s apart: 210 s of emit time, 22 type windows
    (source / "part1.txt").write_text("\n".join(all_records[:137]) + "\n")
    run_available_now(spark, source, checkpoints, writer)
    assert sums(client, "stream_db")["crime_counts"][0] == 137

    (source / "part2.txt").write_text("\n".join(all_records[137:]) + "\n")  # arrives while "down"
    run_available_now(spark, source, checkpoints, writer)  # restart: resumes from the checkpoint
    after_restart = sums(client, "stream_db")
    assert after_restart["crime_counts"][0] == 300 == after_restart["crime_cells"][0]

    run_available_now(spark, source, tmp_path / "fresh-ckpt", writer)  # full replay, no checkpoint
    assert sums(client, "stream_db") == after_restart
    clock = client.query('SELECT last("sim_ts") FROM "replay_clock"', db="stream_db")[0]["series"][0]
    assert clock["values"][0][1] == int(
        (BASE - timedelta(days=3650) + timedelta(minutes=299)).timestamp() * 1000
    )


def test_the_batch_totals_over_the_archive_equal_the_streaming_counts(
    influxd: str, spark: Any, tmp_path: Path
) -> None:
    """The archive query and the counts run side by side over the same stream, restarted half-way; the
    batch job's per-type totals over the Parquet archive equal the streaming counts in InfluxDB, and no
    record is archived twice (a malformed one is archived, not counted)."""
    from apps.batch.main import reconcile, streaming_counts, totals

    client = InfluxClient(influxd)
    client.ensure_database("archive_db", "demo", "7d")
    writer = InfluxWriter(client, "archive_db", "demo")
    source, checkpoints, archive = tmp_path / "in", tmp_path / "ckpt", tmp_path / "archive"
    source.mkdir()
    all_records = records(200)
    (source / "part1.txt").write_text("\n".join(all_records[:90]) + "\nnot json\n")
    for part in ("part1", "part2"):
        if part == "part2":
            (source / "part2.txt").write_text("\n".join(all_records[90:]) + "\n")
        raw = spark.readStream.format("text").load(str(source))
        for query in start_queries(
            raw, AggregationConfig(), writer, "available-now", str(checkpoints), str(archive)
        ):
            query.awaitTermination(180)
            assert query.exception() is None
    result = totals(spark.read.parquet(str(archive)))
    assert result["records"] == 201 and result["events"] == 200 and result["malformed"] == 1
    assert sorted(p.name for p in archive.iterdir() if p.name.startswith("event_date="))  # partitioned
    streaming = streaming_counts(client, "archive_db", "demo")
    assert sum(streaming.values()) == 200
    assert reconcile(result["by_type"], streaming) == {}
    assert sum(result["by_district"].values()) == 200
