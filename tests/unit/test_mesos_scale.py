"""Scaling on mesos against the Marathon double: a drained (or removed) agent's broker app is deleted by
the next deploy, a new agent gets its broker app, and the drain and balance steps are the standalone's."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from roles.packages import kafka_reassign, marathon, marathon_scale
from roles.platforms import mesos
from tests.mesos_cluster import mesos_spec
from tests.unit.test_mesos_gates import Cluster, cluster, deployed  # noqa: F401 - the fixture

pytestmark = [pytest.mark.unit, pytest.mark.double]


def _app_ids(c: Cluster) -> list[str]:
    remote = c.remote_for(c.inv.masters[0])
    out = remote.run(f"curl -sS {marathon.marathon_url(c.inv)}/v2/apps").stdout
    return sorted(a["id"] for a in json.loads(out)["apps"])


def test_a_drained_agents_broker_app_is_pruned_and_the_rest_stay(
    cluster: Cluster,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployed(cluster, tmp_path, monkeypatch)
    assert "/fastdata/kafka/broker-3" in _app_ids(cluster)
    remote = cluster.remote_for(cluster.inv.masters[0])
    converged = marathon_scale.prune_planner(mesos.BROKER_APPS, mesos.package_apps)(
        cluster.spec, cluster.inv, cluster.inv.masters[0]
    )[0]
    assert converged.check(remote).ok, "every broker app belongs to a node of the inventory"
    drained = dataclasses.replace(cluster.spec, drained=frozenset({"agent-2"}))
    [op] = marathon_scale.prune_planner(mesos.BROKER_APPS, mesos.package_apps)(
        drained, cluster.inv, cluster.inv.masters[0]
    )
    before = op.check(remote)
    assert not before.ok and before.detail.startswith("/fastdata/kafka/broker-3 run(s) for nodes that left")
    op.apply(remote)
    assert op.check(remote).ok
    ids = _app_ids(cluster)
    assert "/fastdata/kafka/broker-3" not in ids
    assert {"/fastdata/kafka/broker-1", "/fastdata/kafka/broker-2", "/fastdata/spark/dispatcher"} <= set(ids)


def test_a_new_agent_gets_its_broker_app(tmp_path: Path) -> None:
    spec, inv = mesos_spec(tmp_path, masters=1, agents=4, demo=True)
    inv = dataclasses.replace(
        inv,
        settings=dataclasses.replace(inv.settings, kafka=dataclasses.replace(inv.settings.kafka, brokers=4)),
    )
    spec = dataclasses.replace(spec, settings=inv.settings)
    ids = [a["id"] for a in mesos.package_apps(spec, inv)]
    assert ids[:4] == [f"/fastdata/kafka/broker-{i}" for i in range(1, 5)]


def test_mesos_drains_and_balances_like_standalone() -> None:
    assert mesos.PLATFORM.drain == (kafka_reassign.DRAIN_BROKER,)
    demo_steps = [s.planner.__name__ for s in mesos.PLATFORM.steps if s.phase == "demo"]
    topic = demo_steps.index("plan_topic")
    assert demo_steps[topic + 1] == "plan_balance", demo_steps  # the topic exists, then it is spread
