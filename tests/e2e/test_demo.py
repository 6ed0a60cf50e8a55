"""The whole demo on a local cluster: `./scripts/demo.sh` brings it up; data flows from the producer through
Kafka and Spark into InfluxDB; counts reconcile with what the producer sent, also across a processor
restart; the dashboard, rendered in headless Chromium, shows the series and the heat map."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
import requests
import yaml

from roles.demo import common
from roles.engine import inventory as inv_mod
from roles.engine.connection import connect, load_private_key
from roles.packages import kafka, kafka_reassign
from tests.cluster import inventory, pulumi, throwaway_stack
from tests.helpers import ROOT, report, run

pytestmark = pytest.mark.e2e

STACK = "it-demo"
PROBE = "fastdata_probe"
# A lively replay: the 1000-row sample spans ~34 simulated hours; at 1200x it loops every ~100 s.
OVERRIDES = {
    "local": {"bridge": "fdit3", "subnet": "10.98.10.0/24"},
    "demo": {"enabled": True, "speedup": 1200, "maxEventsPerSecond": 200},
    # the processor's executors follow the agents: the scale-out test wants one on the new worker
    "spark": {"executorsPerAgent": 1},
}


@pytest.fixture(scope="module")
def demo() -> Iterator[dict[str, Any]]:
    with throwaway_stack(STACK, OVERRIDES, up=False):
        started = time.monotonic()
        proc = run([str(ROOT / "scripts" / "demo.sh"), "--stack", STACK], timeout=2400)
        report(f"./scripts/demo.sh --stack {STACK}: {time.monotonic() - started:.0f}s")
        cluster = inventory(STACK)
        yield {
            "output": proc.stdout,
            "cluster": cluster,
            "influx": f"http://{cluster['endpoints']['publicAgents'][0]}:8086",
            "dashboard": f"http://{cluster['endpoints']['publicAgents'][0]}",
            "master": next(n for n in cluster["nodes"] if n["role"] == "master"),
        }


def influx(base: str, query: str) -> list[list[Any]]:
    resp = requests.get(f"{base}/query", params={"db": "crimes", "q": query}, timeout=10)
    resp.raise_for_status()
    series = resp.json()["results"][0].get("series") or []
    return [row for s in series for row in s["values"]]


def counted(base: str) -> int:
    rows = influx(base, f'SELECT sum("count") FROM crime_counts WHERE "type" != \'{PROBE}\'')
    return int(rows[0][1]) if rows else 0


def on_master(demo: dict[str, Any], command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a command on the master over SSH with the inventory's key and pinned host key."""
    return on_node(demo, demo["master"]["name"], command, timeout)


def on_node(
    demo: dict[str, Any], name: str, command: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    inv = inv_mod.parse_inventory(demo["cluster"])
    remote = connect(inv, inv.node(name), load_private_key(inv.ssh.private_key))
    try:
        result = remote.run(command, check=False, timeout=timeout)
    finally:
        remote.close()
    return subprocess.CompletedProcess(command, result.exit_code or 0, result.stdout, result.stderr)


def settle(base: str, seconds: float = 20, timeout: float = 240) -> int:
    """The total once it has stopped moving for `seconds` (the processor has caught up)."""
    deadline = time.monotonic() + timeout
    last, since = counted(base), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(3)
        now = counted(base)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return now
    raise AssertionError(f"counts still changing after {timeout:.0f}s (last total {last})")


def finite_replay(demo: dict[str, Any], limit: int = 0, max_eps: int = 300) -> int:
    """Replay the sample once at full speed on the master; returns the events the producer sent."""
    env = "KAFKA_BOOTSTRAP=" + ",".join(
        f"{n['privateIp']}:9092" for n in demo["cluster"]["nodes"] if n["role"] == "agent"
    )
    cmd = (
        f"cd /opt/fastdata/apps && {env} /opt/fastdata/venv/bin/python -m apps.producer --once "
        f"--speedup 1000000 --max-eps {max_eps} --metrics-port 0 {'--limit ' + str(limit) if limit else ''}"
    )
    proc = on_master(demo, cmd)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    match = re.search(r'^summary: .*"sent":\s*(\d+)', proc.stdout + proc.stderr, re.M)
    assert match, f"the producer printed no summary:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}"
    return int(match.group(1))


def test_demo_script_prints_the_urls_and_counters(demo: dict[str, Any]) -> None:
    out = demo["output"]
    assert f"dashboard         {demo['dashboard']}/" in out
    assert "live counters" in out and "sim_clock" in out


def test_at_least_five_crime_types_within_a_minute(demo: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    types: set[str] = set()
    while time.monotonic() < deadline and len(types) < 5:
        rows = influx(demo["influx"], 'SHOW TAG VALUES FROM crime_counts WITH KEY = "type"')
        types = {r[1] for r in rows} - {PROBE}
        time.sleep(2)
    assert len(types) >= 5, f"only {sorted(types)} after 60 s"


def test_counts_reconcile_with_what_was_sent_across_a_processor_restart(demo: dict[str, Any]) -> None:
    stop = on_master(demo, "systemctl stop fastdata-producer")
    assert stop.returncode == 0, stop.stderr
    try:
        before = settle(demo["influx"])
        sent = finite_replay(demo)
        after = settle(demo["influx"])
        assert after - before == sent, f"sent {sent}, counted {after - before}"

        # Again, restarting the processor while the replay runs: checkpoints + overwrite semantics
        # must neither lose nor double-count anything.
        before_restart, _ = processor_executors(demo)
        on_master(demo, "(sleep 3; systemctl restart fastdata-processor) >/dev/null 2>&1 &")
        sent2 = finite_replay(demo)
        # the restarted driver is a new application: it needs its JVM, its executors and its HDFS state
        # before it counts again, which takes longer than the quiet window of `settle`
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                app, hosts = processor_executors(demo)
                if app != before_restart and hosts:
                    break
            except (ValueError, requests.RequestException):
                pass
            time.sleep(3)
        # its first batch restores the window state from HDFS and reads the whole backlog: on a loaded
        # machine it takes longer than any quiet window, so wait for it to count something, then settle
        moved_by = time.monotonic() + 600
        while counted(demo["influx"]) == after and time.monotonic() < moved_by:
            time.sleep(3)
        final = settle(demo["influx"], seconds=30, timeout=600)
        assert final - after == sent2, f"after a processor restart: sent {sent2}, counted {final - after}"
    finally:
        on_master(demo, "systemctl start fastdata-producer")


def spark_json(host: str, port: int) -> dict[str, Any]:
    resp = requests.get(f"http://{host}:{port}/json/", timeout=10)
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    return data


def processor_executors(demo: dict[str, Any]) -> tuple[str, dict[str, int]]:
    """(the processor's application id on the Spark master, executors per agent name)."""
    master = spark_json(demo["master"]["privateIp"], 8080)
    (app,) = [a for a in master["activeapps"] if a["name"] == "crime-processor"]
    hosts: dict[str, int] = {}
    for node in (n for n in demo["cluster"]["nodes"] if n["role"] == "agent"):
        mine = [e for e in spark_json(node["privateIp"], 8081)["executors"] if e["appid"] == app["id"]]
        if mine:
            hosts[node["name"]] = len(mine)
    return app["id"], hosts


def test_the_processor_runs_on_the_cluster_with_state_on_hdfs(demo: dict[str, Any]) -> None:
    """The Spark master lists the processor as a running application with executors on two agents; HDFS
    reports every agent as a live DataNode and holds the checkpoints and the archive."""
    app, hosts = processor_executors(demo)
    assert len(hosts) >= 2, f"{app}: executors on {hosts}"
    agents = {n["privateIp"] for n in demo["cluster"]["nodes"] if n["role"] == "agent"}
    nn = demo["master"]["privateIp"]
    info = requests.get(
        f"http://{nn}:9870/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo", timeout=10
    ).json()["beans"][0]
    live = json.loads(info["LiveNodes"])
    assert info["Safemode"] == "" and {v["xferaddr"].split(":")[0] for v in live.values()} == agents
    listing = requests.get(f"http://{nn}:9870/webhdfs/v1/fastdata?op=LISTSTATUS", timeout=10)
    names = {f["pathSuffix"] for f in listing.json()["FileStatuses"]["FileStatus"]}
    assert {"checkpoints", "archive"} <= names, names


def reconcile_across(demo: dict[str, Any], fault: str, node: str, recover: str) -> None:
    """Events produced = events counted while `fault` hits `node` mid-replay; `recover` undoes it."""
    stop = on_master(demo, "systemctl stop fastdata-producer")
    assert stop.returncode == 0, stop.stderr
    try:
        before = settle(demo["influx"])
        on_node(demo, node, f"(sleep 4; {fault}) >/dev/null 2>&1 &")
        sent = finite_replay(demo, max_eps=100)
        after = settle(demo["influx"], seconds=30, timeout=400)
        assert after - before == sent, f"{fault} on {node}: sent {sent}, counted {after - before}"
    finally:
        on_node(demo, node, recover)
        on_master(demo, "systemctl start fastdata-producer")


def test_counts_reconcile_across_a_killed_spark_worker(demo: dict[str, Any]) -> None:
    """A worker running one of the processor's executors is killed (with its executors): the master
    places a replacement executor on another worker and no event is lost or counted twice."""
    _, hosts = processor_executors(demo)
    victim = sorted(hosts)[0]
    reconcile_across(
        demo, "systemctl kill --signal=KILL spark-worker.service", victim, "systemctl start spark-worker"
    )
    _, after = processor_executors(demo)
    assert sum(after.values()) >= 2, f"executors after the kill: {after}"


def test_counts_reconcile_across_a_stopped_datanode(demo: dict[str, Any]) -> None:
    reconcile_across(demo, "systemctl stop hdfs-datanode", "agent-1", "systemctl start hdfs-datanode")


def test_batch_totals_over_the_archive_equal_the_streaming_counts(demo: dict[str, Any]) -> None:
    stop = on_master(demo, "systemctl stop fastdata-producer")
    assert stop.returncode == 0, stop.stderr
    try:
        settle(demo["influx"])
        proc = run(
            ["bash", "-c", f". scripts/env.sh && fab batch --stack {shlex.quote(STACK)} --reconcile"],
            timeout=900,
        )
    finally:
        on_master(demo, "systemctl start fastdata-producer")
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    rec = result["reconciliation"]
    assert rec["differences"] == {} and rec["archive_events"] == rec["streaming_events"] > 0, rec
    assert result["records"] == result["distinct_offsets"], "a record was archived twice"
    assert sum(result["by_district"].values()) == result["events"]


class _Dom(HTMLParser):
    """Collects the attributes of elements with an id, and the legend's series names."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str]] = {}
        self.series: list[str] = []
        self.text: dict[str, str] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.by_id[a["id"]] = a
            self._current = a["id"]
        if "data-series" in a:
            self.series.append(a["data-series"])

    def handle_data(self, data: str) -> None:
        if self._current and data.strip():
            self.text.setdefault(self._current, data.strip())


def test_dashboard_in_headless_chromium_shows_series_and_heat_map(demo: dict[str, Any]) -> None:
    out_dir = ROOT / "test-results"
    out_dir.mkdir(exist_ok=True)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={out_dir / 'chromium-profile'}",
        "--window-size=1400,900",
        "--virtual-time-budget=15000",
    ]
    url = demo["dashboard"] + "/"
    shot = out_dir / "dashboard.png"
    subprocess.run(
        ["chromium", *flags, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True
    )
    assert shot.stat().st_size > 20_000, "the screenshot is (nearly) empty"
    dom = subprocess.run(
        ["chromium", *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    (out_dir / "dashboard.html").write_text(dom)
    page = _Dom()
    page.feed(dom)
    drawn = page.by_id.get("series-chart", {}).get("data-series-count", "0")
    assert drawn not in ("", "0"), "no series drawn"
    real_series = [s for s in page.series if s != PROBE]
    assert len(real_series) >= 3, f"legend shows {page.series}"
    assert int(page.by_id["heatmap"]["data-heat-points"]) > 0, "heat map has no points"
    assert re.match(r"\d{4}-\d{2}-\d{2}", page.text.get("sim-clock", "")), page.text.get("sim-clock")
    points = page.by_id["heatmap"]["data-heat-points"]
    print(f"\nscreenshot: {shot}; series: {real_series}; heat points: {points}")


def test_rerunning_the_demo_changes_nothing(demo: dict[str, Any]) -> None:
    proc = run(["bash", "-c", f". scripts/env.sh && fab deploy --stack {shlex.quote(STACK)}"], timeout=600)
    assert re.search(r"deploy: 0 changed", proc.stdout), proc.stdout[-2000:]
    assert os.path.exists(ROOT / "stacks" / f"Pulumi.{STACK}.yaml")


# --- life-cycle (issue 12): scale out, replace a lost agent, drain and scale in, with the demo running ---
# They run in this order on the stack the tests above used: 3 -> 4 agents, then agent-3 (broker 4, not a KRaft
# controller) lost and re-created.

# the agent the scale-out adds (broker id 4)
NEW = "agent-3"
NEW_BROKER = 4


@contextlib.contextmanager
def demo_producing(demo: dict[str, Any], what: str) -> Iterator[None]:
    """The demo's own producer writes at its steady rate while the block runs (deploys may restart it);
    afterwards every event it delivered is counted once. Produced = the `delivered` of the summary line
    each producer run prints when it stops (journal of fastdata-producer on the master)."""
    stop = on_master(demo, "systemctl stop fastdata-producer")
    assert stop.returncode == 0, stop.stderr
    before = settle(demo["influx"])
    since = int(time.time())
    start = on_master(demo, "systemctl start fastdata-producer")
    assert start.returncode == 0, start.stderr
    try:
        yield
        stop = on_master(demo, "systemctl stop fastdata-producer")
        assert stop.returncode == 0, stop.stderr
        journal = on_master(
            demo, f"journalctl -u fastdata-producer --since @{since} -o cat --no-pager | grep '^summary: '"
        ).stdout
        runs = [json.loads(line.split(":", 1)[1]) for line in journal.splitlines()]
        assert runs, f"{what}: no producer summary in the journal since {since}"
        sent, delivered = sum(r["sent"] for r in runs), sum(r["delivered"] for r in runs)
        assert sent == delivered > 0, f"{what}: producer runs {runs}"
        after = settle(demo["influx"], seconds=30, timeout=400)
        report(f"{what}: {delivered} events produced ({len(runs)} producer run(s)), {after - before} counted")
        assert after - before == delivered, f"{what}: produced {delivered}, counted {after - before}"
    finally:
        on_master(demo, "systemctl start fastdata-producer")


def set_agent_count(count: int) -> None:
    """nodes.agent.count in the stack file, everything else in it kept (its encryptionsalt included)."""
    path = ROOT / "stacks" / f"Pulumi.{STACK}.yaml"
    config = yaml.safe_load(path.read_text())
    config["config"]["fastdata:nodes"]["agent"]["count"] = count
    path.write_text(yaml.safe_dump(config))


def fab(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    command = " ".join(shlex.quote(a) for a in (*args, "--stack", STACK))
    return run(["bash", "-c", f". scripts/env.sh && fab {command}"], timeout=timeout)


def topics(demo: dict[str, Any]) -> dict[str, kafka_reassign.TopicState]:
    """Every topic's partitions as Kafka describes them (the product's own parser), asked on agent-0."""
    agents = [n for n in demo["cluster"]["nodes"] if n["role"] == "agent"]
    bootstrap = ",".join(f"{n['privateIp']}:{kafka.CLIENT_PORT}" for n in agents)
    version = demo["cluster"]["settings"]["versions"]["kafka"]
    command = kafka.tool_at(version, kafka_reassign.TOPICS, f"--bootstrap-server {bootstrap} --describe")
    proc = on_node(demo, "agent-0", command + " 2>/dev/null")
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    return kafka_reassign.parse_describe(proc.stdout)


def container(demo: dict[str, Any], node: str) -> str:
    return f"{demo['cluster']['name']}-{node}"  # infra/local.py names the LXC containers so


def host_key(demo: dict[str, Any], node: str) -> str:
    ip = next(n["privateIp"] for n in demo["cluster"]["nodes"] if n["name"] == node)
    known = demo["cluster"]["ssh"]["knownHosts"].splitlines()
    return next(line for line in known if line.startswith(ip + " "))


def lxc_exists(name: str) -> bool:
    return name in subprocess.run(["lxc-ls", "-1"], capture_output=True, text=True, check=True).stdout.split()


def test_scale_out_to_four_agents_spreads_kafka_and_the_processor(demo: dict[str, Any]) -> None:
    """3 -> 4 agents with the demo running: broker 4 leads partitions of crimes.raw and holds replicas,
    the new Spark worker runs executors of the processor, and every event produced is counted once."""
    started = time.monotonic()
    with demo_producing(demo, "scale out 3 -> 4"):
        set_agent_count(4)
        t0 = time.monotonic()
        pulumi(STACK, "up", "--yes", "--skip-preview")
        up_s = time.monotonic() - t0
        demo["cluster"] = inventory(STACK)
        assert NEW in {n["name"] for n in demo["cluster"]["nodes"]}
        t0 = time.monotonic()
        deploy = fab("deploy")
        deploy_s = time.monotonic() - t0
        assert f"{NEW} joins as Kafka broker {NEW_BROKER}" in deploy.stdout, deploy.stdout[-3000:]
        raw = topics(demo)[common.TOPIC]
        led = [p.partition for p in raw.partitions if p.leader == NEW_BROKER]
        held = [p.partition for p in raw.partitions if NEW_BROKER in p.replicas]
        assert led and held and all(p.in_sync for p in raw.partitions), raw
        deadline = time.monotonic() + 180
        while True:
            app, hosts = processor_executors(demo)
            if NEW in hosts or time.monotonic() > deadline:
                break
            time.sleep(5)
        assert NEW in hosts, f"{app}: executors on {hosts}, none on the new worker {NEW}"
    report(
        f"scale out 3 -> 4: {time.monotonic() - started:.0f}s (pulumi up {up_s:.0f}s, fab deploy "
        f"{deploy_s:.0f}s); broker {NEW_BROKER} leads {led}, holds {held}; executors {hosts}"
    )


# the agent the replacement test destroys: a KRaft controller (the first kafka.controllers brokers)
LOST = "agent-1"
LOST_ID = 2


def quorum_voters(demo: dict[str, Any]) -> list[kafka.Voter]:
    """The KRaft voters as `kafka-metadata-quorum describe --status` lists them (the product's parser),
    asked on agent-0 of the controllers."""
    controllers = [n for n in demo["cluster"]["nodes"] if n["role"] == "agent"][:3]
    bootstrap = ",".join(f"{n['privateIp']}:{kafka.CONTROLLER_PORT}" for n in controllers)
    version = demo["cluster"]["settings"]["versions"]["kafka"]
    command = kafka.tool_at(
        version, kafka.QUORUM_COMMAND, f"--bootstrap-controller {bootstrap} describe --status"
    )
    proc = on_node(demo, "agent-0", command + " 2>/dev/null")
    voters = kafka.parse_voters(proc.stdout)
    assert proc.returncode == 0 and voters is not None, proc.stdout[-1500:] + proc.stderr[-1500:]
    return voters


def test_a_lost_agent_is_recreated_and_rejoins(demo: dict[str, Any]) -> None:
    """agent-1's container destroyed by hand (its broker, KRaft controller, DataNode and worker die with
    it): `pulumi refresh` + `pulumi up` re-create it with a new host key and an empty disk, `fab deploy`
    re-joins it - the controller with a new directory id in place of the old voter (KIP-853); every gate
    of `fab status` passes, every partition is fully replicated, nothing is lost or doubled."""
    started = time.monotonic()
    old_key = host_key(demo, LOST)
    name = container(demo, LOST)
    assert lxc_exists(name), name
    before = {v.node_id: v.directory_id for v in quorum_voters(demo)}
    assert sorted(before) == [1, 2, 3], before
    with demo_producing(demo, f"{LOST} lost and replaced"):
        time.sleep(10)  # the producer writes to its broker too before it disappears
        subprocess.run(["lxc-stop", "-n", name, "-k"], check=True, capture_output=True, timeout=120)
        subprocess.run(["lxc-destroy", "-n", name], check=True, capture_output=True, timeout=120)
        t0 = time.monotonic()
        pulumi(STACK, "refresh", "--yes", "--skip-preview")
        pulumi(STACK, "up", "--yes", "--skip-preview")
        infra_s = time.monotonic() - t0
        demo["cluster"] = inventory(STACK)
        new_key = host_key(demo, LOST)
        assert lxc_exists(name) and new_key != old_key
        t0 = time.monotonic()
        deploy = fab("deploy")
        deploy_s = time.monotonic() - t0
        assert f"re-joins the KRaft quorum as controller {LOST_ID}" in deploy.stdout, deploy.stdout[-3000:]
        status = fab("status", timeout=900)
        assert "FAIL" not in status.stdout, status.stdout[-3000:]
        after = quorum_voters(demo)
        assert sorted(v.node_id for v in after) == [1, 2, 3], after
        renewed = {v.node_id: v.directory_id for v in after}
        assert renewed[LOST_ID] != before[LOST_ID], (
            f"controller {LOST_ID} kept directory id {before[LOST_ID]}"
        )
        assert all(renewed[i] == before[i] for i in (1, 3)), (before, renewed)
        state = topics(demo)
        lagging = [f"{t}-{p.partition}" for t, s in state.items() for p in s.partitions if not p.in_sync]
        assert not lagging, f"not fully replicated: {lagging}"
        assert any(LOST_ID in p.replicas for p in state[common.TOPIC].partitions)
    report(
        f"{LOST} (a KRaft controller) lost and replaced: {time.monotonic() - started:.0f}s (pulumi "
        f"refresh + up {infra_s:.0f}s, fab deploy {deploy_s:.0f}s); voter {LOST_ID}: directory id "
        f"{before[LOST_ID]} -> {renewed[LOST_ID]}"
    )


def test_drain_then_scale_in_to_three_agents(demo: dict[str, Any]) -> None:
    """4 -> 3 agents with the demo running: `fab drain` moves every replica off broker 4, decommissions
    its DataNode and stops its Spark worker; only then does `pulumi up` with three agents delete agent-3
    (the refusal of an undrained removal: tests/integration/test_drain_guard_local.py); `fab deploy`
    converges the nodes that stay; every gate passes and nothing is lost or doubled."""
    started = time.monotonic()
    with demo_producing(demo, "scale in 4 -> 3"):
        t0 = time.monotonic()
        drain = fab("drain", "--node", NEW, timeout=2400)
        drain_s = time.monotonic() - t0
        assert f"drain: {NEW} drained and marked" in drain.stdout, drain.stdout[-3000:]
        steps = re.findall(r"^  (.+) (\d+\.\d)s$", drain.stdout, re.M)
        hdfs_lines = re.findall(r"^drain: HDFS .*$", drain.stdout, re.M)
        state = topics(demo)
        left = [
            f"{t}-{p.partition}" for t, s in state.items() for p in s.partitions if NEW_BROKER in p.replicas
        ]
        assert not left, f"replicas still on broker {NEW_BROKER} after the drain: {left}"
        lagging = [f"{t}-{p.partition}" for t, s in state.items() for p in s.partitions if not p.in_sync]
        assert not lagging, f"not fully replicated after the drain: {lagging}"
        ip = next(n["privateIp"] for n in demo["cluster"]["nodes"] if n["name"] == NEW)
        workers = spark_json(demo["master"]["privateIp"], 8080)["workers"]
        alive = [w["id"] for w in workers if w["host"] == ip and w["state"] == "ALIVE"]
        assert not alive, f"the Spark worker on {NEW} still ALIVE after the drain: {alive}"
        set_agent_count(3)
        t0 = time.monotonic()
        pulumi(STACK, "up", "--yes", "--skip-preview")
        up_s = time.monotonic() - t0
        assert not lxc_exists(container(demo, NEW)), f"pulumi up left {container(demo, NEW)}"
        demo["cluster"] = inventory(STACK)
        assert NEW not in {n["name"] for n in demo["cluster"]["nodes"]}
        t0 = time.monotonic()
        fab("deploy")
        deploy_s = time.monotonic() - t0
        status = fab("status", timeout=900)
        assert "FAIL" not in status.stdout, status.stdout[-3000:]
    report(
        f"scale in 4 -> 3: {time.monotonic() - started:.0f}s (fab drain {drain_s:.0f}s: "
        + "; ".join(f"{what} {secs}s" for what, secs in steps)
        + f"; pulumi up {up_s:.0f}s, fab deploy {deploy_s:.0f}s)"
    )
    report("scale in 4 -> 3, the decommission as `fab drain` told it:\n  " + "\n  ".join(hdfs_lines))
