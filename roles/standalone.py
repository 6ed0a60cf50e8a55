"""The standalone platform: Kafka (KRaft) + Spark standalone on plain systemd units.

The same executor runs mesos and dcos; a platform is only its steps, restart handlers and gates.
"""

from __future__ import annotations

from roles import common, demo, kafka, spark
from roles.engine import Gate, Handler, Op, Platform, Settings, Step
from roles.inventory import Inventory, Node
from roles.ops import restart_unit, unit_active


def plan_kafka_tools(settings: Settings, inventory: Inventory, node: Node) -> list[Op]:
    return [kafka.tools_log4j_op()]


PLATFORM = Platform(
    name="standalone",
    steps=(
        # JVMs: the Spark master (and the demo's processor) on masters, Kafka and Spark workers on agents;
        # public agents run InfluxDB and the dashboard, so no Java there.
        *common.steps(java_roles=("master", "agent")),
        Step("masters", ("master",), spark.plan_master),
        Step("agents", ("agent",), kafka.plan_broker),
        Step("agents", ("agent",), plan_kafka_tools),
        Step("agents", ("agent",), spark.plan_worker),
        Step("packages", ("master", "agent"), spark.plan_connector),
        *demo.steps(),
    ),
    handlers={
        **common.handlers(),
        kafka.HANDLER: Handler(
            kafka.HANDLER,
            "Kafka broker restarted (rolling)",
            restart_unit(kafka.UNIT),
            kafka.broker_listening,
            rolling=True,
            timeout=120,
        ),
        "restart-spark-master": Handler(
            "restart-spark-master",
            "Spark master restarted",
            restart_unit(spark.MASTER_UNIT),
            unit_active(spark.MASTER_UNIT),
        ),
        "restart-spark-worker": Handler(
            "restart-spark-worker",
            "Spark worker restarted",
            restart_unit(spark.WORKER_UNIT),
            unit_active(spark.WORKER_UNIT),
            rolling=False,
        ),
        **demo.handlers(),
    },
    gates=(
        Gate("platform up", "Kafka controller quorum formed", kafka.probe_quorum, 180, after_phase="agents"),
        Gate("platform up", "all Kafka brokers registered", kafka.probe_brokers, 120, after_phase="agents"),
        Gate(
            "platform up",
            "no under-replicated partitions",
            kafka.probe_under_replicated,
            180,
            after_phase="agents",
        ),
        Gate("platform up", "all Spark workers registered", spark.probe_workers, 120, after_phase="agents"),
        *demo.GATES,
    ),
    units=(
        common.SERVER_UNIT,
        kafka.UNIT,
        spark.MASTER_UNIT,
        spark.WORKER_UNIT,
        "influxdb.service",
        *demo.UNITS.values(),
    ),
    configs=(
        "/etc/kafka",
        "/etc/systemd/system/kafka.service",
        "/etc/systemd/system/spark-master.service",
        "/etc/systemd/system/spark-worker.service",
        "/var/lib/kafka/data/meta.properties",
        *demo.CONFIGS,
    ),
)
