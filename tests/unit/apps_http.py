"""HTTP pieces the apps' unit tests share: a stand-in InfluxDB on 127.0.0.1 and the real dashboard server.

The stand-in is a real HTTP server (so the dashboard's real InfluxClient, with its timeouts and JSON
decoding, is what is exercised); it answers /ping like InfluxDB 1.x and /query with whatever the test
set for the measurement the query names, garbage included.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from apps.common.influx import InfluxClient
from apps.dashboard.api import DashboardApi
from apps.dashboard.server import WEB_DIR, DashboardApp, DashboardServer


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def results(cls, results: Any) -> Answer:
        return cls(200, json.dumps({"results": results}).encode())


class FakeInflux:
    """InfluxDB 1.x's HTTP API as far as the dashboard uses it; ``answers`` maps measurement -> Answer."""

    def __init__(self, answers: dict[str, Answer] | None = None, ping_status: int = 204) -> None:
        self.answers = dict(answers or {})
        self.ping_status = ping_status
        self.queries: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/ping":
                    self.send_response(fake.ping_status)
                    self.send_header("X-Influxdb-Version", "1.6.7")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                q = parse_qs(url.query).get("q", [""])[0]
                fake.queries.append(q)
                name = next((m for m in fake.answers if f'"{m}"' in q), None)
                answer = fake.answers[name] if name else Answer(400, b'{"error":"unexpected query"}')
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port_url() -> str:
    """The URL of an InfluxDB that is down."""
    return f"http://127.0.0.1:{free_port()}"


def make_static_dir(root: Path) -> Path:
    """A static dir laid out like a deployment's apps/dashboard/web: the real index.html, a stand-in
    bundle (the unit tier must not need npm) and the source tree beside it that must never be served."""
    web = root / "web"
    (web / "dist").mkdir(parents=True)
    shutil.copy(WEB_DIR / "index.html", web / "index.html")
    (web / "dist" / "app.js").write_text("console.log('bundle');\n//# sourceMappingURL=app.js.map\n")
    (web / "dist" / "app.css").write_text("body{}\n")
    (web / "dist" / "app.js.map").write_text('{"sources":["../src/main.js"]}\n')
    (web / "dist" / ".hidden").write_text("not part of the bundle\n")
    (web / "dist" / "link.js").symlink_to(web / "package.json")
    (web / "package.json").write_text('{"name": "fastdata-crime-dashboard"}\n')
    (web / "src").mkdir()
    (web / "src" / "main.js").write_text("import 'leaflet';\n")
    (web / "node_modules" / "leaflet").mkdir(parents=True)
    (web / "node_modules" / "leaflet" / "package.json").write_text("{}\n")
    (root / "secret.txt").write_text("outside the static dir\n")
    return web


@contextmanager
def dashboard(
    static_dir: Path, influx_url: str, read_timeout_s: int = 10, config: dict[str, Any] | None = None
) -> Iterator[DashboardServer]:
    """The real dashboard (waitress, real InfluxClient) on a free 127.0.0.1 port."""
    client = InfluxClient(influx_url, timeout_s=2.0, retries=1)
    app = DashboardApp(
        DashboardApi(client, "crimes"), static_dir, config or {"refresh_ms": 3000}, client.ping
    )
    server = DashboardServer(app, "127.0.0.1", 0, read_timeout_s=read_timeout_s)
    thread = threading.Thread(target=server.serve_forever, name="dashboard-under-test", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(10)
        assert not thread.is_alive(), "the dashboard server did not stop"


def request(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request with the path sent exactly as given (urllib would normalise some of them)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
