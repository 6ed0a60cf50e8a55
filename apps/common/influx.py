"""A minimal InfluxDB 1.x HTTP client (``/ping``, ``/query``, ``/write``) and the idempotent database setup.

Run ``python -m apps.common.influx --help``: the deployment calls ``ensure-db`` to create the database and
its retention policy; nobody creates them by hand. Re-running it changes nothing and says so.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from apps.common.cli import HelpFormatter, env_flag, run_main
from apps.common.errors import ConfigError, InfluxAnswerError, InfluxError

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8086"
DEFAULT_DB = "crimes"
DEFAULT_RP = "demo"
DEFAULT_RETENTION = "7d"

_UNIT_SECONDS = {
    "ns": 1e-9,
    "u": 1e-6,
    "µ": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|u|µ|ms|s|m|h|d|w)")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def duration_seconds(text: str) -> float:
    """Seconds of an InfluxQL duration literal ("7d", "1w", "36h") or a Go duration ("168h0m0s").

    "INF" and "0s" both mean "keep forever" and give 0, as InfluxDB itself reports them.
    """
    cleaned = text.strip()
    if cleaned.upper() == "INF":
        return 0.0
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned) or not cleaned:
        raise ConfigError(f"{text!r} is not a duration: use e.g. 7d, 24h, 1w or INF")
    return total


def quote_ident(name: str) -> str:
    """Double-quote an InfluxQL identifier; refuse names that would need escaping (they are config typos)."""
    if not _IDENTIFIER.match(name):
        raise ConfigError(f"{name!r} is not a usable InfluxDB name: use letters, digits, '_', '.', '-'")
    return f'"{name}"'


@dataclass(frozen=True)
class RetentionPolicy:
    name: str
    duration_s: float
    default: bool


def plan_database(
    existing_dbs: Sequence[str],
    existing_rps: Sequence[RetentionPolicy],
    db: str,
    rp: str,
    retention: str,
) -> list[str]:
    """The InfluxQL statements that bring ``db`` and its default policy ``rp`` to the desired state.

    Pure: it takes what SHOW DATABASES / SHOW RETENTION POLICIES returned and returns [] when nothing
    needs to change, so a converged server gets no write at all.
    """
    want_s = duration_seconds(retention)
    statements = []
    if db not in existing_dbs:
        statements.append(f"CREATE DATABASE {quote_ident(db)}")
    current = next((p for p in existing_rps if p.name == rp), None)
    target = f"{quote_ident(rp)} ON {quote_ident(db)} DURATION {retention}"
    if current is None:
        statements.append(f"CREATE RETENTION POLICY {target} REPLICATION 1 DEFAULT")
    elif current.duration_s != want_s or not current.default:
        statements.append(f"ALTER RETENTION POLICY {target} DEFAULT")
    return statements


class InfluxClient:
    """Talks to one InfluxDB 1.x server. Credentials come from INFLUX_USER / INFLUX_PASSWORD when set."""

    def __init__(self, url: str = DEFAULT_URL, timeout_s: float = 10.0, retries: int = 3) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"InfluxDB URL {url!r} must start with http:// or https://")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.session = requests.Session()
        user, password = os.environ.get("INFLUX_USER"), os.environ.get("INFLUX_PASSWORD")
        if user:
            self.session.auth = (user, password or "")

    def ping(self) -> str:
        """The server version; raises InfluxError when the server does not answer /ping with 204."""
        try:
            resp = self.session.get(f"{self.url}/ping", timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise InfluxError(f"InfluxDB at {self.url} is unreachable: {exc}") from exc
        if resp.status_code != 204:
            raise InfluxError(f"InfluxDB at {self.url}/ping answered {resp.status_code}: {resp.text[:200]}")
        return resp.headers.get("X-Influxdb-Version", "unknown")

    def query(
        self, q: str, db: str | None = None, epoch: str = "ms", write: bool = False
    ) -> list[dict[str, Any]]:
        """Run InfluxQL; returns the per-statement ``results`` list, raising on any statement error."""
        params = {"q": q, "epoch": epoch}
        if db:
            params["db"] = db
        # InfluxDB 1.x refuses CREATE/ALTER over GET: those must be POSTed.
        method = "POST" if write else "GET"
        try:
            resp = self._request(method, "/query", params=params)
        except InfluxError as exc:
            raise InfluxError(f"{exc} (query: {q})") from exc
        results = self._results(resp, q)
        for result in results:
            if "error" in result:
                raise InfluxError(f"InfluxDB query failed: {result['error']} (query: {q})")
        return results

    def _results(self, resp: requests.Response, q: str) -> list[dict[str, Any]]:
        """The ``results`` list of a /query answer; InfluxAnswerError when the answer is not one.

        A proxy's HTML error page, another service on the port or a truncated body all end here, named,
        instead of as a JSONDecodeError or a KeyError further down.
        """
        where = f"InfluxDB at {self.url} answered /query"
        try:
            body = resp.json()
        except ValueError as exc:
            ctype = resp.headers.get("Content-Type", "no Content-Type")
            raise InfluxAnswerError(
                f"{where} with something that is not JSON ({ctype}: {resp.text[:80]!r}); is {self.url} "
                f"an InfluxDB 1.x HTTP API? (query: {q})"
            ) from exc
        if isinstance(body, dict) and "error" in body:
            raise InfluxError(f"InfluxDB query failed: {body['error']} (query: {q})")
        results = body.get("results", []) if isinstance(body, dict) else None
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise InfluxAnswerError(
                f'{where} with JSON that is not a query result (expected {{"results": [...]}}, got '
                f"{json.dumps(body)[:80]}) (query: {q})"
            )
        return results

    def write(
        self,
        lines: Sequence[str],
        db: str,
        precision: str = "ms",
        rp: str | None = None,
        batch_size: int = 5000,
    ) -> int:
        """POST line protocol in batches of ~5000 points (InfluxDB's advice); returns points sent."""
        params = {"db": db, "precision": precision}
        if rp:
            params["rp"] = rp
        for start in range(0, len(lines), batch_size):
            body = "\n".join(lines[start : start + batch_size]).encode("utf-8")
            try:
                self._request("POST", "/write", params=params, data=body)
            except InfluxError as exc:
                # Points older than the retention policy would be deleted anyway; failing on them would
                # fail the same Spark batch again on every restart. The rest of the batch was written.
                if "points beyond retention policy dropped" not in str(exc):
                    raise
                log.warning(
                    "InfluxDB dropped points older than retention policy %s: %s", rp or "(default)", exc
                )
        return len(lines)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP call with a short retry on connection errors and 5xx; 4xx is a caller error, no retry."""
        last = ""
        for attempt in range(1, self.retries + 1):
            try:
                resp = self.session.request(method, f"{self.url}{path}", timeout=self.timeout_s, **kwargs)
            except requests.RequestException as exc:
                last = f"unreachable: {exc}"
            else:
                if resp.status_code < 300:
                    return resp
                last = f"HTTP {resp.status_code}: {resp.text.strip()[:300]}"
                if resp.status_code < 500:
                    break
            if attempt < self.retries:
                time.sleep(0.5 * 2 ** (attempt - 1))
        raise InfluxError(f"InfluxDB {method} {self.url}{path} failed: {last}")

    def ensure_database(
        self, db: str = DEFAULT_DB, rp: str = DEFAULT_RP, retention: str = DEFAULT_RETENTION
    ) -> list[str]:
        """Create ``db`` and make ``rp`` its default policy of ``retention``; returns the statements run."""
        dbs = [row[0] for row in _rows(self.query("SHOW DATABASES"))]
        rps: list[RetentionPolicy] = []
        if db in dbs:
            result = self.query(f"SHOW RETENTION POLICIES ON {quote_ident(db)}")
            columns = _columns(result)
            for row in _rows(result):
                rec = dict(zip(columns, row, strict=False))
                rps.append(
                    RetentionPolicy(rec["name"], duration_seconds(rec["duration"]), bool(rec["default"]))
                )
        statements = plan_database(dbs, rps, db, rp, retention)
        for statement in statements:
            self.query(statement, write=True)
        return statements


def _series(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for r in results for s in r.get("series", [])]


def _rows(results: Iterable[dict[str, Any]]) -> list[list[Any]]:
    return [row for s in _series(results) for row in s.get("values", [])]


def _columns(results: Iterable[dict[str, Any]]) -> list[str]:
    series = _series(results)
    return list(series[0]["columns"]) if series else []


def add_connection_flags(parser: Any) -> None:
    """The --influx-url / --influx-db flags every app that talks to InfluxDB shares."""
    env_flag(parser, "--influx-url", "INFLUX_URL", DEFAULT_URL, "InfluxDB 1.x HTTP API base URL")
    env_flag(parser, "--influx-db", "INFLUX_DB", DEFAULT_DB, "InfluxDB database")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apps.common.influx",
        formatter_class=HelpFormatter,
        description="InfluxDB setup for the crime demo. Credentials, if the server needs them, come from "
        "INFLUX_USER / INFLUX_PASSWORD.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ensure = sub.add_parser(
        "ensure-db",
        formatter_class=HelpFormatter,
        help="create the database and its default retention policy (idempotent)",
        description="Create the database and make the retention policy its default, with the given "
        "duration. Safe to re-run: prints 'no change' when everything is already in place.",
    )
    add_connection_flags(ensure)
    env_flag(ensure, "--retention-policy", "INFLUX_RP", DEFAULT_RP, "retention policy name")
    env_flag(
        ensure,
        "--retention",
        "INFLUX_RETENTION",
        DEFAULT_RETENTION,
        "how long points are kept (InfluxQL duration: 7d, 24h, INF)",
    )
    env_flag(
        ensure, "--wait", "INFLUX_WAIT_S", 60.0, "seconds to wait for the server to answer /ping", type=float
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    duration_seconds(args.retention)  # fail on a typo before touching the server
    client = InfluxClient(args.influx_url)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            version = client.ping()
            break
        except InfluxError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)
    statements = client.ensure_database(args.influx_db, args.retention_policy, args.retention)
    if statements:
        for statement in statements:
            print(f"changed: {statement}")
    else:
        print(
            f"no change: database {args.influx_db!r} with default policy {args.retention_policy!r} "
            f"({args.retention}) already in place on InfluxDB {version}"
        )
    return 0


if __name__ == "__main__":
    run_main(main)
