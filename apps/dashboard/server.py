"""The dashboard's HTTP server: a WSGI app (built bundle + JSON API + /healthz) served by waitress.

``python -m apps.dashboard --help``. The front-end bundle is built once by apps/dashboard/build.sh (npm +
esbuild, no CDN at run time); the server refuses to start without it rather than serve a blank page.

What reaches the browser is deliberately narrow:
- files: ``/`` (index.html) and the files under ``dist/`` except source maps; the static directory is
  the web/ source tree in a deployment (package.json, src/, node_modules/ sit beside the bundle), so
  anything else is a 404, never a file;
- errors: a short JSON body with a reference; InfluxDB's URL, the query and its answer go to the log
  only (they describe the internal network and the schema);
- connections that stop sending before their request is complete are closed after ``--read-timeout``
  seconds (waitress's ``channel_timeout``), so idle or half-open sockets do not pile up. The timeout
  counts silence, not total time: a client that trickles a byte every few seconds keeps its socket
  until the 32 KiB header cap; waitress's connection limit (100) bounds how many such sockets exist.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import mimetypes
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import waitress  # type: ignore[import-untyped]  # no types-waitress in the dev pins
from waitress import wasyncore

from apps.common.cli import HelpFormatter, env_flag, non_negative_int, positive_int
from apps.common.errors import ArtifactMissing, ConfigError, InfluxAnswerError, InfluxError
from apps.common.influx import InfluxClient, add_connection_flags
from apps.dashboard.api import DashboardApi

log = logging.getLogger("apps.dashboard")

WEB_DIR = Path(__file__).resolve().parent / "web"
# What build.sh produces; index.html references exactly these (a unit test keeps the two in step).
BUNDLE_FILES = ("dist/app.js", "dist/app.css")
BUNDLE_DIR = "dist"
DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
# One path segment of a bundle file: no dot first (so no "..", no hidden files), nothing that needs
# escaping. esbuild's output names (app.js, app.css, chunk-AB12.js) all fit.
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
# Suffixes that are in dist/ after a build but are not part of what the page loads: source maps give
# away the source tree.
_NOT_SERVED_SUFFIXES = (".map",)

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

DESCRIPTION = """\
Live dashboard of the crime demo: per-type time series, a heat map of recent events over Chicago, the
events/s and the simulated clock, refreshed every few seconds from InfluxDB. Served by waitress.

API: /api/series?minutes=N, /api/cells?minutes=N, /api/clock, /api/config, /healthz (200 when InfluxDB
answers, 503 otherwise). Files: / (index.html) and dist/ (the built bundle, source maps excluded).
When InfluxDB fails or answers garbage the API gives 502 with a short JSON error and a reference; the
details (InfluxDB's URL, the query, its answer) are logged under that reference, never sent.
"""


def check_static_dir(static_dir: Path) -> None:
    missing = [name for name in ("index.html", *BUNDLE_FILES) if not (static_dir / name).is_file()]
    if missing:
        raise ArtifactMissing(
            f"front-end files {missing} are missing under {static_dir}: run apps/dashboard/build.sh "
            "(or point --static-dir / DASHBOARD_STATIC_DIR at the bundle from the artifact cache)"
        )


def bundle_file(static_dir: Path, path: str) -> Path | None:
    """The file a request path names, or None when it is not part of the built bundle.

    ``path`` is WSGI's PATH_INFO, already percent-decoded, so ``/%2e%2e/x`` arrives as ``/../x`` and is
    refused by the segment rule like any other dot segment.
    """
    if path in ("", "/", "/index.html"):
        target = static_dir / "index.html"
        return target if target.is_file() else None
    segments = path.split("/")[1:]  # PATH_INFO starts with "/"
    if len(segments) < 2 or segments[0] != BUNDLE_DIR or not path.startswith("/"):
        return None
    if not all(_SEGMENT.match(s) for s in segments) or segments[-1].endswith(_NOT_SERVED_SUFFIXES):
        return None
    bundle = (static_dir / BUNDLE_DIR).resolve()
    target = (static_dir / Path(*segments)).resolve()
    # A symlink inside dist/ pointing elsewhere resolves outside the bundle: refused as well.
    if not target.is_relative_to(bundle) or not target.is_file():
        return None
    return target


def _error_ref() -> str:
    """A short id that ties a browser-visible error to the log line with the details."""
    return secrets.token_hex(4)


class DashboardApp:
    """The WSGI application: routes, JSON encoding and the error policy described in the module doc."""

    def __init__(
        self, api: DashboardApi, static_dir: Path, config: dict[str, Any], ping: Callable[[], str]
    ) -> None:
        check_static_dir(static_dir)
        self.api, self.static_dir, self.client_config, self.ping = api, static_dir.resolve(), config, ping

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        try:
            if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
                return _json(start_response, 405, {"error": "only GET is served"}, [("Allow", "GET, HEAD")])
            return self.route(path, environ.get("QUERY_STRING", ""), start_response)
        except Exception:  # a bug must not hand waitress's text error (or a traceback) to the browser
            ref = _error_ref()
            log.exception("GET %s failed [ref %s]", path, ref)
            return _json(start_response, 500, {"error": "internal error", "ref": ref})

    def route(self, path: str, query_string: str, start_response: StartResponse) -> Iterable[bytes]:
        minutes = parse_qs(query_string).get("minutes", [None])[0]
        routes: dict[str, Callable[[], Any]] = {
            "/api/series": lambda: self.api.series(minutes),
            "/api/cells": lambda: self.api.cells(minutes),
            "/api/clock": self.api.clock,
            "/api/config": lambda: self.client_config,
        }
        if path in routes:
            try:
                return _json(start_response, 200, routes[path]())
            except InfluxError as exc:
                return _json(start_response, 502, self._influx_failure(path, exc))
        if path == "/healthz":
            try:
                return _json(start_response, 200, {"status": "ok", "influxdb": self.ping()})
            except InfluxError as exc:
                return _json(
                    start_response, 503, {"status": "influxdb unreachable", **self._influx_failure(path, exc)}
                )
        target = bundle_file(self.static_dir, path)
        if target is None:
            return _json(start_response, 404, {"error": "not found"})
        return _file(start_response, target)

    @staticmethod
    def _influx_failure(path: str, exc: InfluxError) -> dict[str, str]:
        ref = _error_ref()
        log.warning("GET %s: %s [ref %s]", path, exc, ref)
        what = "gave an answer the dashboard cannot read" if isinstance(exc, InfluxAnswerError) else "failed"
        return {"error": f"InfluxDB {what}; the dashboard's log has the details", "ref": ref}


def _json(
    start_response: StartResponse,
    status: int,
    payload: Any,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> list[bytes]:
    # allow_nan=False: NaN/Infinity are not JSON, the browser's JSON.parse would reject the whole answer.
    body = json.dumps(payload, sort_keys=True, allow_nan=False).encode("utf-8")
    start_response(
        _STATUS[status],
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *extra_headers,
        ],
    )
    return [body]


def _file(start_response: StartResponse, target: Path) -> list[bytes]:
    body = target.read_bytes()
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype == "application/javascript":
        ctype += "; charset=utf-8"
    start_response(
        _STATUS[200],
        [
            ("Content-Type", ctype),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [body]


_STATUS = {
    200: "200 OK",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
}


class DashboardServer:
    """waitress around :class:`DashboardApp`: ``serve_forever`` in one thread, ``shutdown`` from another.

    Only the loop thread ever touches waitress's socket map: waitress's own ``close()`` mutates it under
    the running loop, and a shutdown that depends on the trigger pipe alone hangs or fails (EBADF, seen
    once on CI) when that pipe is gone. So ``serve_forever`` runs waitress's loop one poll at a time
    (``asyncore_loop_timeout``, 1 s) and, once ``shutdown`` has let the worker threads finish, closes
    every socket itself.
    """

    def __init__(
        self, app: DashboardApp, host: str, port: int, read_timeout_s: int = 10, threads: int = 4
    ) -> None:
        try:
            self._server = self._create(app, host, port, read_timeout_s, threads)
        except OSError as exc:
            raise ConfigError(
                f"the dashboard cannot listen on {host}:{port}: {exc.strerror or exc}; is another "
                "dashboard running there? Pick another --port / DASHBOARD_PORT (< 1024 needs "
                "CAP_NET_BIND_SERVICE)"
            ) from exc
        self.port = int(self._server.effective_port)  # waitress gives it as a string
        self._stopping = threading.Event()

    @staticmethod
    def _create(app: DashboardApp, host: str, port: int, read_timeout_s: int, threads: int) -> Any:
        return waitress.create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            # Inactivity limit of a connection that has no complete request: a client that sends half
            # its headers and stops is dropped after this, as is an idle keep-alive connection.
            channel_timeout=read_timeout_s,
            # waitress checks for such connections every cleanup_interval seconds (default 30, which
            # would stretch a 10 s timeout to 40 s).
            cleanup_interval=1,
            # Every endpoint is a GET: no body is ever read; big headers are an attack or a bug.
            max_request_body_size=65536,
            max_request_header_size=32768,
        )

    def serve_forever(self) -> None:
        """waitress's ``run()`` loop until :meth:`shutdown` (or Ctrl-C); then every socket closed here."""
        server = self._server
        try:
            while server._map and not self._stopping.is_set():
                wasyncore.loop(
                    timeout=server.adj.asyncore_loop_timeout,
                    map=server._map,
                    use_poll=server.adj.asyncore_use_poll,
                    count=1,
                )
        except (SystemExit, KeyboardInterrupt):
            server.task_dispatcher.shutdown()
        finally:
            wasyncore.close_all(server._map)

    def shutdown(self) -> None:
        """Let the worker threads finish the requests they are servicing (the loop still flushes their
        responses), then stop the loop, which closes every socket (in the other order a worker still
        writing a response hits a closed socket: EBADF)."""
        self._server.task_dispatcher.shutdown()
        self._stopping.set()
        with contextlib.suppress(OSError):  # only wakes the loop early; it polls every second anyway
            self._server.trigger.pull_trigger()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apps.dashboard", description=DESCRIPTION, formatter_class=HelpFormatter
    )
    env_flag(parser, "--host", "DASHBOARD_HOST", "0.0.0.0", "address to listen on")
    env_flag(parser, "--port", "DASHBOARD_PORT", 8000, "port to listen on", type=non_negative_int)
    add_connection_flags(parser)
    env_flag(
        parser,
        "--static-dir",
        "DASHBOARD_STATIC_DIR",
        str(WEB_DIR),
        "directory with index.html and the built dist/ bundle (nothing else in it is served)",
    )
    env_flag(
        parser,
        "--tile-url",
        "DASHBOARD_TILE_URL",
        DEFAULT_TILE_URL,
        "map tile URL template, used only when the browser can reach it ('' for no tiles)",
    )
    env_flag(
        parser,
        "--refresh-ms",
        "DASHBOARD_REFRESH_MS",
        3000,
        "browser refresh interval",
        type=non_negative_int,
    )
    env_flag(
        parser,
        "--series-minutes",
        "DASHBOARD_SERIES_MINUTES",
        15,
        "time range of the series chart",
        type=non_negative_int,
    )
    env_flag(
        parser,
        "--cells-minutes",
        "DASHBOARD_CELLS_MINUTES",
        5,
        "time range of the heat map",
        type=non_negative_int,
    )
    env_flag(
        parser,
        "--read-timeout",
        "DASHBOARD_READ_TIMEOUT_S",
        10,
        "seconds a connection may stay silent before its request is complete (then it is closed)",
        type=positive_int,
    )
    env_flag(
        parser, "--threads", "DASHBOARD_THREADS", 4, "requests served at the same time", type=positive_int
    )
    return parser


def make_app(args: argparse.Namespace) -> DashboardApp:
    client = InfluxClient(args.influx_url, timeout_s=5.0, retries=1)
    api = DashboardApi(client, args.influx_db, args.series_minutes, args.cells_minutes)
    config = {
        "tile_url": args.tile_url,
        "refresh_ms": max(args.refresh_ms, 500),
        "series_minutes": args.series_minutes,
        "cells_minutes": args.cells_minutes,
        "center": [41.84, -87.68],
        "zoom": 10,
    }
    return DashboardApp(api, Path(args.static_dir), config, client.ping)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    app = make_app(args)
    server = DashboardServer(app, args.host, args.port, args.read_timeout, args.threads)
    log.info(
        "dashboard on http://%s:%d/ (InfluxDB %s, database %s; waitress, %d threads, read timeout %d s)",
        args.host,
        server.port,
        args.influx_url,
        args.influx_db,
        args.threads,
        args.read_timeout,
    )
    server.serve_forever()  # returns on Ctrl-C (waitress stops its workers); SIGTERM ends the process
    return 0
