"""The processor's I/O: ``foreachBatch`` writers that send aggregates to InfluxDB as line protocol.

Each writer collects only aggregated rows (bounded: types x updated windows, cells x updated windows),
never raw events. A failed write raises, which fails the query; on restart Spark re-runs the same batch
from its checkpoint and the deterministic points overwrite whatever part was written before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pyspark.sql import DataFrame

from apps.common.influx import InfluxClient
from apps.processor import lineproto
from apps.processor.aggregate import clock_summary

log = logging.getLogger(__name__)

PRECISION = "ms"


class InfluxWriter:
    """Writes line protocol to one database (and optionally a non-default retention policy)."""

    def __init__(self, client: InfluxClient, db: str, rp: str | None = None) -> None:
        self.client, self.db, self.rp = client, db, rp

    def write(self, lines: list[str]) -> int:
        return self.client.write(lines, self.db, precision=PRECISION, rp=self.rp) if lines else 0

    def type_counts_batch(self) -> Callable[[DataFrame, int], None]:
        def write_batch(batch: DataFrame, batch_id: int) -> None:
            rows = [row.asDict() for row in batch.collect()]
            written = self.write(lineproto.type_count_lines(rows))
            log.info("crime_counts batch %d: %d points", batch_id, written)

        return write_batch

    def cell_counts_batch(self) -> Callable[[DataFrame, int], None]:
        def write_batch(batch: DataFrame, batch_id: int) -> None:
            rows = [row.asDict() for row in batch.collect()]
            written = self.write(lineproto.cell_count_lines(rows))
            log.info("crime_cells batch %d: %d points", batch_id, written)

        return write_batch

    def clock_batch(self, trigger_s: float) -> Callable[[DataFrame, int], None]:
        """replay_clock: latest simulated time and events/s, stamped with the batch's newest emit time."""
        last_wall: list[float] = []  # the previous batch's wall time, kept in the closure on the driver

        def write_batch(batch: DataFrame, batch_id: int) -> None:
            summary = clock_summary(batch).collect()[0]
            now = time.monotonic()
            elapsed = now - last_wall[0] if last_wall else trigger_s
            last_wall[:] = [now]
            events, malformed = int(summary["events"] or 0), int(summary["malformed"] or 0)
            if malformed:
                log.warning(
                    "batch %d: %d Kafka records were not crime events (bad JSON, no emit_time or "
                    "type_slug) and are not counted",
                    batch_id,
                    malformed,
                )
            if not events:
                return
            eps = events / max(elapsed, 1e-3)
            self.write(
                [lineproto.clock_line(summary["sim_ts"], eps, events, malformed, summary["emit_ts_max"])]
            )

        return write_batch
