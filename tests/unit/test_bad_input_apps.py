"""Bad input walked through the apps' two entry points, as the processes users run:

- CSV: ``python -m apps.producer --check --data FILE`` (and one real run) on crafted files;
- HTTP: ``python -m apps.dashboard`` on a 127.0.0.1 port, with a stand-in InfluxDB that answers garbage
  or is down, and requests a browser (or an attacker) could send.

Each case asserts: an error that names the field or reason (one line, on stderr or as a short JSON
body), a non-zero exit status where the process exits, no Python traceback reaching the user (stderr,
stdout, HTTP body), and nothing written outside the intended place (the producer writes nothing; the
dashboard writes nothing; the data files are left as they were).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.unit.apps_http import Answer, FakeInflux, closed_port_url, free_port, make_static_dir, request
from tests.unit.test_producer_parse import HEADER, row

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "chicago-crimes-2015-10-17_18.csv"


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file (and directory) under ``roots`` with a hash of its content: what 'nothing written' means."""
    tree: dict[str, str] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or path.is_dir():
                tree[str(path)] = "link" if path.is_symlink() else "dir"
            else:
                tree[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return tree


def app_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATA_", "KAFKA_", "INFLUX_", "DASHBOARD_"))
    }
    return {**env, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "INFO", **extra}


def assert_no_traceback(*texts: str | bytes) -> None:
    for text in texts:
        raw = text.decode(errors="replace") if isinstance(text, bytes) else text
        assert "Traceback" not in raw and 'File "' not in raw, f"a traceback reached the user:\n{raw[-2000:]}"


# --- CSV entry point --------------------------------------------------------------------------------------


def csv_bytes(*rows: str) -> bytes:
    return ("\n".join([HEADER, row(ID="1"), *rows]) + "\n").encode()


GOOD = csv_bytes()
WHOLE_GZ = gzip.compress(SAMPLE.read_bytes())


@dataclass(frozen=True)
class CsvCase:
    name: str
    content: bytes | None  # None: the file is not created
    filename: str = "crimes.csv"
    exit_code: int = 0
    error: str = ""  # regex the one stderr line must match ({path} is the data file)
    skipped: str = ""  # the reason the bad row must be counted under (exit 0)
    args: tuple[str, ...] = ("--check",)
    env: dict[str, str] = field(default_factory=dict)


CSV_CASES = [
    CsvCase("truncated gzip", WHOLE_GZ[: len(WHOLE_GZ) // 3], "crimes.csv.gz", 4,
            r"data set {path} is truncated or corrupt: its gzip data broke off .*download it again"),
    CsvCase("truncated gzip, real run", WHOLE_GZ[: len(WHOLE_GZ) // 3], "crimes.csv.gz", 4,
            r"data set {path} is truncated or corrupt", args=("--once", "--metrics-port", "0"),
            env={"KAFKA_BOOTSTRAP": "127.0.0.1:1"}),  # status 4, not 1 ("Kafka did not confirm")
    CsvCase("corrupt gzip", WHOLE_GZ[:100] + bytes(255 - b for b in WHOLE_GZ[100:300]) + WHOLE_GZ[300:],
            "crimes.csv.gz", 4, r"data set {path} is truncated or corrupt"),
    CsvCase("named .gz, not gzip", GOOD, "crimes.csv.gz", 3, r"{path} is named \.gz but is not gzip data"),
    CsvCase("NUL bytes", csv_bytes(row(ID="2", Block="060XX\x00\x00S VERNON")), skipped="nul_byte"),
    CsvCase("undecodable bytes", GOOD + row(ID="2", Description="SIMPLE\xe9").encode("latin-1") + b"\n",
            skipped="undecodable_bytes"),  # a Latin-1 byte: the row is counted, not replayed altered
    CsvCase("UTF-16 file", GOOD.decode().encode("utf-16"), exit_code=3,
            error=r"the CSV header lacks column\(s\) \['ID', 'Case Number'"),
    CsvCase("missing columns", b"ID,Case Number,Date,Primary Type\n1,HY1,10/18/2015 11:50:00 PM,THEFT\n",
            exit_code=3, error=r"the CSV header lacks column\(s\) \['Latitude', 'Longitude'\]"),
    CsvCase("out-of-range coordinates", csv_bytes(row(ID="2", Latitude="36.6", Longitude="-91.7")),
            skipped="out_of_area"),
    CsvCase("NaN coordinates", csv_bytes(row(ID="2", Latitude="NaN", Longitude="NaN")),
            skipped="out_of_area"),
    CsvCase("malformed coordinates", csv_bytes(row(ID="2", Latitude="north")),
            skipped="malformed_coordinates"),
    CsvCase("unquoted comma", csv_bytes(row(ID="2", Latitude="41,9")), skipped="wrong_column_count"),
    CsvCase("empty type", csv_bytes(row(ID="2", **{"Primary Type": ""})), skipped="missing_type"),
    CsvCase("type with no tag-safe letter", csv_bytes(row(ID="2", **{"Primary Type": "???"})),
            skipped="unusable_type"),
    CsvCase("malformed date", csv_bytes(row(ID="2", Date="yesterday")), skipped="malformed_date"),
    CsvCase("empty file", b"", exit_code=3, error=r"the CSV is empty"),
    CsvCase("no replayable row", (HEADER + "\n" + row(ID="x") + "\n").encode(), exit_code=3,
            error=r"no replayable event in {path} .*'malformed_id': 1"),
    CsvCase("missing file", None, exit_code=3, error=r"data set {path} does not exist"),
    CsvCase("bad SPEEDUP", GOOD, exit_code=2, error=r"SPEEDUP='-1' is invalid for --speedup",
            env={"SPEEDUP": "-1"}),
    CsvCase("end before start", GOOD, exit_code=2, error=r"--end .* must be after --start",
            args=("--check", "--start", "2015-10-18", "--end", "2015-10-17")),
    CsvCase("unknown librdkafka setting", GOOD, exit_code=2,
            error=r"the Kafka client refused its settings .*no\.such\.setting",
            args=("--once", "--metrics-port", "0", "--producer-config", "no.such.setting=1")),
]  # fmt: skip


@pytest.mark.parametrize("case", CSV_CASES, ids=[c.name for c in CSV_CASES])
def test_csv_entry_point(case: CsvCase, tmp_path: Path) -> None:
    data_dir, cwd = tmp_path / "data", tmp_path / "cwd"
    data_dir.mkdir()
    cwd.mkdir()
    data = data_dir / case.filename
    if case.content is not None:
        data.write_bytes(case.content)
    before = snapshot(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "apps.producer", "--data", str(data), *case.args],
        cwd=cwd,
        env=app_env(**case.env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_no_traceback(proc.stdout, proc.stderr)
    assert proc.returncode == case.exit_code, proc.stderr[-2000:]
    if case.exit_code:
        # One error line, the last thing printed (log lines of what went well may come before it).
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and proc.stderr.strip().splitlines()[-1] == errors[0], proc.stderr
        assert re.fullmatch("error: .*" + case.error.format(path=re.escape(str(data))) + ".*", errors[0])
    else:
        summary = json.loads(proc.stdout)
        assert summary["skipped"][case.skipped] == 1 and summary["events"] == 1
        assert summary["first_skipped_row"] == {case.skipped: 2}
        # The reason is named where an operator looks: the log on stderr, with the row it first happened on.
        assert f"skipped 1 row(s) of {data}: {case.skipped} (first: data row 2)" in proc.stderr
    assert snapshot(tmp_path) == before, "the producer wrote (or changed) files"


# --- HTTP entry point -------------------------------------------------------------------------------------


@dataclass
class RunningDashboard:
    port: int
    influx_url: str
    stderr_path: Path
    proc: subprocess.Popen[bytes]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def start_dashboard(static_dir: Path, influx_url: str, log_dir: Path) -> RunningDashboard:
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = log_dir / f"dashboard-{port}.stderr"
    env = app_env(INFLUX_URL=influx_url, DASHBOARD_HOST="127.0.0.1", DASHBOARD_PORT=str(port),
                  DASHBOARD_STATIC_DIR=str(static_dir), DASHBOARD_READ_TIMEOUT_S="1")  # fmt: skip
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apps.dashboard"], cwd=log_dir, env=env, stdout=err, stderr=err
        )
    running = RunningDashboard(port, influx_url, stderr_path, proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            request(port, "/api/config")
            return running
        except OSError:
            assert proc.poll() is None, f"the dashboard exited:\n{running.stderr()}"
            assert time.monotonic() < deadline, f"the dashboard did not start:\n{running.stderr()}"
            time.sleep(0.1)


def stop_dashboard(running: RunningDashboard) -> None:
    running.proc.terminate()
    running.proc.wait(10)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path_factory.mktemp("site")
    static_dir = make_static_dir(root)
    before = snapshot(root)
    yield static_dir, before
    assert snapshot(root) == before, "the dashboard wrote (or changed) files"


@pytest.fixture(scope="module")
def influx() -> Iterator[FakeInflux]:
    fake = FakeInflux()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def served(
    web: tuple[Path, dict[str, str]], influx: FakeInflux, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningDashboard]:
    running = start_dashboard(web[0], influx.url, tmp_path_factory.mktemp("logs"))
    yield running
    stop_dashboard(running)


@pytest.fixture(scope="module")
def served_influx_down(
    web: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningDashboard]:
    running = start_dashboard(web[0], closed_port_url(), tmp_path_factory.mktemp("logs-down"))
    yield running
    stop_dashboard(running)


def short_error(body: bytes, running: RunningDashboard) -> str:
    """The body is a small JSON error naming no internal detail; returns its message."""
    text = body.decode()
    assert len(text) < 200, text
    for secret in (running.influx_url, "127.0.0.1", "SELECT", "crime_counts", "crime_cells", "replay_clock"):
        assert secret not in text, f"{secret!r} reached the browser: {text}"
    return str(json.loads(text)["error"])


@dataclass(frozen=True)
class HttpCase:
    name: str
    path: str
    status: int
    error: str  # regex the JSON "error" must match
    answer: Answer | None = None  # what the stand-in InfluxDB gives every query (None: down)
    method: str = "GET"


def results(series: list[dict[str, object]]) -> Answer:
    return Answer.results([{"statement_id": 0, "series": series}])


HTTP_CASES = [
    HttpCase("html instead of json", "/api/series", 502, "InfluxDB gave an answer the dashboard cannot read",
             Answer(200, b"<html><h1>502 Bad Gateway</h1></html>", "text/html")),
    HttpCase("truncated json", "/api/cells", 502, "cannot read", Answer(200, b'{"results":[{"series":[{"na')),
    HttpCase("json of the wrong shape", "/api/series", 502, "cannot read", Answer(200, b'{"results": 7}')),
    HttpCase("string where a count goes", "/api/series", 502, "cannot read",
             results([{"tags": {"type": "theft"}, "columns": ["time", "count"], "values": [[1, "lots"]]}])),
    HttpCase("NaN coordinates", "/api/cells", 502, "cannot read", Answer(200,
             b'{"results":[{"series":[{"tags":{"geohash":"dp3"},"columns":["time","count","lat","lon"],'
             b'"values":[[0,1,NaN,NaN]]}]}]}')),
    HttpCase("clock without time", "/api/clock", 502, "cannot read",
             results([{"columns": ["sim_ts", "eps"], "values": [[1, 2.0]]}])),
    HttpCase("influx error 500", "/api/series", 502, "InfluxDB failed",
             Answer(500, b"<h1>panic</h1>", "text/html")),
    HttpCase("traversal ../", "/../package.json", 404, "not found"),
    HttpCase("traversal %2e%2e", "/%2e%2e/package.json", 404, "not found"),
    HttpCase("traversal from dist", "/dist/%2e%2e/package.json", 404, "not found"),
    HttpCase("traversal out of the static dir", "/dist/%2e%2e/%2e%2e/secret.txt", 404, "not found"),
    HttpCase("encoded slash", "/dist/..%2f..%2fsecret.txt", 404, "not found"),
    HttpCase("source map", "/dist/app.js.map", 404, "not found"),
    HttpCase("package.json", "/package.json", 404, "not found"),
    HttpCase("sources", "/src/main.js", 404, "not found"),
    HttpCase("node_modules", "/node_modules/leaflet/package.json", 404, "not found"),
    HttpCase("symlink out of dist", "/dist/link.js", 404, "not found"),
    HttpCase("NUL in the path", "/dist/app.js%00", 404, "not found"),
    HttpCase("POST", "/api/series", 405, "only GET", method="POST"),
]  # fmt: skip


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c.name for c in HTTP_CASES])
def test_http_entry_point(case: HttpCase, served: RunningDashboard, influx: FakeInflux) -> None:
    influx.answers = {m: case.answer for m in ("crime_counts", "crime_cells", "replay_clock") if case.answer}
    status, headers, body = request(served.port, case.path, case.method)
    assert_no_traceback(body)
    assert (status, headers["content-type"]) == (case.status, "application/json; charset=utf-8"), body
    assert re.search(case.error, short_error(body, served))


@pytest.mark.parametrize(("path", "status"), [("/api/series", 502), ("/api/clock", 502), ("/healthz", 503)])
def test_http_influx_down(path: str, status: int, served_influx_down: RunningDashboard) -> None:
    got, _, body = request(served_influx_down.port, path)
    assert_no_traceback(body)
    assert got == status and short_error(body, served_influx_down).startswith("InfluxDB failed")


def test_http_half_finished_request_is_dropped(served: RunningDashboard) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(b"GET /api/config HTTP/1.1\r\nHost: dashboard\r\nAccept: ")
        started = time.monotonic()
        assert sock.recv(1024) == b""
        assert time.monotonic() - started <= 4.0  # DASHBOARD_READ_TIMEOUT_S=1 plus waitress's 1 s check


def test_http_oversized_headers_are_refused(served: RunningDashboard) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: d\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
        answer = sock.recv(65536)
    assert re.match(rb"HTTP/1\.[01] 431 ", answer), answer[:100]
    assert_no_traceback(answer)


def test_http_details_are_logged_not_sent_and_no_traceback(
    served: RunningDashboard, served_influx_down: RunningDashboard, influx: FakeInflux
) -> None:
    """Runs after the tables (file order): the servers' own stderr has the details, and no traceback."""
    influx.answers = {"crime_counts": Answer(200, b"<html>oops</html>", "text/html")}
    _, _, body = request(served.port, "/api/series")
    ref = json.loads(body)["ref"]
    for running in (served, served_influx_down):
        assert running.proc.poll() is None, "the dashboard died"
        assert_no_traceback(running.stderr())
    logged = [line for line in served.stderr().splitlines() if ref in line]
    assert logged and influx.url in logged[0] and 'FROM "crime_counts"' in logged[0]
    assert served_influx_down.influx_url in served_influx_down.stderr()
