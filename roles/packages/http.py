"""HTTP from a node: curl run over SSH (the APIs the platforms expose listen on private addresses), and a
pure parser of its output, so probes and gates are batchable and testable with fake output."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from roles.engine.connection import Remote, RunResult
from roles.engine.executor import Check

q = shlex.quote

HTTP_MARK = "@@fastdata-http "


@dataclass(frozen=True)
class HttpResponse:
    status: int  # 0: nothing answered
    body: str
    error: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except json.JSONDecodeError:
            return None

    def describe(self) -> str:
        if self.status == 0:
            return f"no answer ({self.error.strip() or 'connection failed'})"
        return f"HTTP {self.status} {self.body.strip()[:200]}"


def http_command(
    method: str, url: str, body_file: str | None = None, headers: Mapping[str, str] | None = None
) -> str:
    """curl printing the body, then a marker line with the status (000 when nothing answered).
    `body_file` "-" reads the body from stdin; `headers` replace the default JSON Content-Type."""
    if headers is None:
        headers = {"Content-Type": "application/json"} if body_file else {}
    sent = "".join(f" -H {q(f'{k}: {v}')}" for k, v in headers.items())
    data = f" --data-binary @{q(body_file)}" if body_file else ""
    return f"curl -sS --max-time 10 -X {method}{sent}{data} -w '\\n{HTTP_MARK}%{{http_code}}' {q(url)}"


def parse_http(res: RunResult) -> HttpResponse:
    body, _, status = res.stdout.rpartition(f"\n{HTTP_MARK}")
    code = int(status.strip()) if status.strip().isdigit() else 0
    return HttpResponse(code, body, res.stderr)


def http(
    remote: Remote,
    method: str,
    url: str,
    body_file: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    return parse_http(remote.run(http_command(method, url, body_file, headers), check=False, timeout=30))


def http_ok(port: int, path: str) -> Callable[[Remote], Check]:
    """Restart health of a daemon with an HTTP health endpoint, asked on the restarted node."""

    def check(r: Remote) -> Check:
        resp = http(r, "GET", f"http://{r.node.private_ip}:{port}{path}")
        return Check(resp.status == 200, f"{path} on port {port}: {resp.describe()}")

    return check
