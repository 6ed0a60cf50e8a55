#!/usr/bin/env bash
# Benchmark (not a test) of the demo pipeline on a deployed local cluster, in one run: raw Kafka
# produce->consume at full speed; the pipeline's sustained rate by a rate staircase (paced events into
# crimes.raw, --start-rate doubling up to --max-rate, --step-seconds each, until a step's lag grows or its
# p95 event->InfluxDB latency over >= 100 probe samples reaches 2 x the trigger); the ratio sustained/raw;
# tasks per executor host and partition leaders per broker; Spark's batch durations and the nodes' CPU
# per step; each node container's peak memory. Prints a JSON report and a summary (--help: the options).
#   ./scripts/bench-pipeline.sh [--stack local] [--step-seconds 60] [--max-rate 64000] [--json-out FILE]
# Needs a cluster deployed with the demo (./scripts/demo.sh), run on the machine of its containers. Stops the
# demo producer while it runs and starts it again afterwards; deletes its temporary topic.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
cd "$FASTDATA_ROOT"
echo "command: $0 $*"
exec python "$here/bench_pipeline.py" "$@"
