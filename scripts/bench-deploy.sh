#!/usr/bin/env bash
# Benchmark (not a test): deploy wall time with 1 agent and with 3 agents (ratio = fan-out efficiency,
# target <= 1.25), the no-op re-run time (target <= 10 s for 5 nodes) and the cluster's peak memory.
# Needs a fresh local stack per size; uses the stack config override fastdata:nodes.agent.count.
# Usage: ./scripts/bench-deploy.sh [STACK]   (default: local; the stack is destroyed and re-created)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
cd "$FASTDATA_ROOT"
stack="${1:-local}"
declare -A wall
for agents in 1 3; do
    pulumi destroy --stack "$stack" --yes --skip-preview >/dev/null
    pulumi config set --stack "$stack" --path 'fastdata:nodes.agent.count' "$agents"
    pulumi config set --stack "$stack" --path 'fastdata:kafka.replicationFactor' "$agents"
    pulumi up --stack "$stack" --yes --skip-preview >/dev/null
    start=$(date +%s.%N)
    fab deploy --stack "$stack" >"/tmp/bench-deploy-$agents.log"
    wall[$agents]=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
    echo "deploy, $agents agent(s): ${wall[$agents]} s   (command: fab deploy --stack $stack)"
done
start=$(date +%s.%N)
fab deploy --stack "$stack" >/tmp/bench-deploy-noop.log
noop=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
echo "no-op re-run: $noop s (target <= 10)   (command: fab deploy --stack $stack, converged)"
echo "fan-out efficiency (3 agents / 1 agent): $(python3 -c "print(round(${wall[3]} / ${wall[1]}, 2))") (target <= 1.25)"
peak=0
for c in $(lxc-ls); do
    m=$(cat "/sys/fs/cgroup/lxc.payload.$c/memory.peak" 2>/dev/null || echo 0)
    echo "  $c peak memory: $((m / 1048576)) MiB"
    peak=$((peak + m))
done
echo "cluster peak memory (sum of container peaks): $((peak / 1048576)) MiB"
pulumi config rm --stack "$stack" --path 'fastdata:nodes.agent.count' || true
pulumi config rm --stack "$stack" --path 'fastdata:kafka.replicationFactor' || true
