"""The end-to-end probe's own parts, against real servers on 127.0.0.1: its InfluxDB count through the
apps' InfluxClient (a stand-in InfluxDB), its dashboard check against the real dashboard, its flags
through the apps' CLI helpers, and its failures as one line with status 1 (Kafka is never reached here:
the first count fails before anything is produced)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps import probe
from apps.common.errors import ConfigError, InfluxAnswerError
from apps.common.influx import InfluxClient
from tests.unit.apps_http import Answer, FakeInflux, closed_port_url, dashboard, make_static_dir

pytestmark = pytest.mark.unit


@pytest.fixture
def influx() -> Iterator[FakeInflux]:
    fake = FakeInflux()
    yield fake
    fake.close()


def test_probe_count_goes_through_the_apps_influx_client(influx: FakeInflux) -> None:
    client = InfluxClient(influx.url, retries=1)
    influx.answers["crime_counts"] = Answer.results(
        [
            {
                "statement_id": 0,
                "series": [{"name": "crime_counts", "columns": ["time", "sum"], "values": [[0, 3]]}],
            }
        ]
    )
    assert probe.probe_count(client, "crimes") == 3
    assert probe.probe_count(influx.url, "crimes") == 3  # how scripts/bench_pipeline.py calls it
    assert influx.queries == [probe.count_query()] * 2 and "'fastdata_probe'" in influx.queries[0]
    influx.answers["crime_counts"] = Answer.results([{"statement_id": 0}])
    assert probe.probe_count(client, "crimes") == 0
    influx.answers["crime_counts"] = Answer(200, b"<html>proxy error</html>", "text/html")
    with pytest.raises(InfluxAnswerError, match="not JSON"):
        probe.probe_count(client, "crimes")


@pytest.mark.parametrize("influx_url", ["down", "garbage"])
def test_influx_failure_is_one_line_and_status_1(
    influx: FakeInflux, influx_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    influx.answers["crime_counts"] = Answer(200, b"{not json")
    url = closed_port_url() if influx_url == "down" else influx.url
    code = probe.main(["--influx-url", url, "--bootstrap", "127.0.0.1:1", "--timeout", "5"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("probe failed: InfluxDB") and len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_bad_influx_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must start with http"):
        probe.main(["--influx-url", "influx:8086"])


def test_flags_have_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"KAFKA_BOOTSTRAP": "k:9092", "INFLUX_URL": "http://i:8086", "INFLUX_DB": "db1",
           "DASHBOARD_URL": "http://d", "PROBE_TIMEOUT_S": "12", "TOPIC": "t"}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = probe.build_parser().parse_args([])
    got = (args.bootstrap, args.influx_url, args.influx_db, args.dashboard_url, args.timeout, args.topic)
    assert got == ("k:9092", "http://i:8086", "db1", "http://d", 12.0, "t")
    # roles/demo.py passes --timeout 100
    assert probe.build_parser().parse_args(["--timeout", "100"]).timeout == 100.0
    monkeypatch.setenv("PROBE_TIMEOUT_S", "-1")
    with pytest.raises(ConfigError, match="PROBE_TIMEOUT_S"):
        probe.build_parser()


def test_dashboard_check_against_the_real_dashboard(tmp_path: Path, influx: FakeInflux) -> None:
    static_dir = make_static_dir(tmp_path)
    with dashboard(static_dir, influx.url) as server:
        url = f"http://127.0.0.1:{server.port}"
        influx.answers["crime_counts"] = Answer.results([{"statement_id": 0, "series": [
            {"name": "crime_counts", "tags": {"type": "fastdata_probe"}, "columns": ["time", "count"],
             "values": [[0, 1]]}]}])  # fmt: skip
        probe.wait_for_dashboard(url, deadline=time.monotonic() + 5)
        influx.answers["crime_counts"] = Answer.results([{"statement_id": 0}])
        with pytest.raises(probe.ProbeFailed, match=r"does not show 'fastdata_probe' \(HTTP 200\)"):
            probe.wait_for_dashboard(url, deadline=time.monotonic())
    with pytest.raises(probe.ProbeFailed, match="unreachable"):
        probe.wait_for_dashboard(url, deadline=time.monotonic())
    assert json.loads(json.dumps(probe.probe_event().to_json_dict(probe.PROBE_EVENT_TIME)))["type_slug"] == (
        probe.PROBE_SLUG
    )
