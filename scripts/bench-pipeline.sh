#!/usr/bin/env bash
# Benchmark (not a test) of the demo pipeline on a deployed local cluster: raw Kafka produce->consume
# throughput, sustained end-to-end events/s into InfluxDB, p95 latency sent->counted, and their ratio.
#   ./scripts/bench-pipeline.sh [--stack local] [--events 50000] [--probes 20]
# Needs a cluster deployed with the demo (./scripts/demo.sh). Stops the demo producer while it runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
cd "$FASTDATA_ROOT"
echo "command: $0 $*"
exec python "$here/bench_pipeline.py" "$@"
