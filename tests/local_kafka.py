"""Real Kafka brokers on this machine for the integration tier, no containers: the default Kafka's jars
from the artifact cache, an inventory whose agents sit on loopback addresses (so the product's commands run
unchanged through tests.mesos_cluster.LocalRemote), broker JVMs started, awaited and stopped."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from contract import Cluster
from roles.engine.spec import DeploySpec
from roles.packages import kafka
from tests.unit.test_engine import inventory_dict, spec_from

ROOT = Path(__file__).resolve().parents[1]


def kafka_libs(version: str) -> Path:
    """Kafka `version`'s jars from the artifact cache, fetched (from Maven Central) when missing."""
    cache = Path(os.environ.get("FASTDATA_CACHE", ROOT / ".cache")) / "artifacts"
    tar = cache / f"kafka-libs-{version}.tar"
    if not tar.exists():
        subprocess.run(
            [str(ROOT / "scripts" / "fetch-artifacts.sh"), "--kafka", version], check=True, timeout=1800
        )
    return tar


def loopback_cluster(net: str, agents: int, version: str) -> tuple[DeploySpec, Cluster]:
    """An inventory of `agents` brokers (replication 3) with agent-i on `net`<i+1>, host keys re-keyed."""
    data = inventory_dict(agents)
    for n in data["nodes"]:
        if n["role"] == "agent":
            n["privateIp"] = f"{net}{int(n['name'].split('-')[1]) + 1}"
    data["ssh"]["knownHosts"] = "\n".join(
        f"{n['privateIp']} {line.split(' ', 1)[1]}"
        for n, line in zip(data["nodes"], data["ssh"]["knownHosts"].splitlines(), strict=True)
    )
    data["settings"]["kafka"] = {"brokers": agents, "replicationFactor": 3}
    data["settings"]["versions"]["kafka"] = version
    return spec_from(data, {})


def start_broker(classpath: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    """`kafka.Kafka config` in a 256 MB JVM, its output appended to `log`."""
    out = open(log, "ab")  # noqa: SIM115 - kept open for the process
    return subprocess.Popen(
        ["java", "-Xms256m", "-Xmx256m", "-XX:+UseSerialGC", "-cp", classpath, "kafka.Kafka", str(config)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "LOG_DIR": str(log.parent)},
    )


def wait_listening(proc: subprocess.Popen[bytes], ip: str, log: Path, timeout: float = 180) -> None:
    """Until the broker accepts connections on ip:9092; its log's tail if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the broker on {ip} exited: {log.read_text()[-2000:]}")
        probe = subprocess.run(
            ["bash", "-c", f"timeout 2 bash -c '</dev/tcp/{ip}/{kafka.CLIENT_PORT}' 2>/dev/null"], check=False
        )
        if probe.returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(f"the broker on {ip} is not listening after {timeout:.0f}s")


def stop_all(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
