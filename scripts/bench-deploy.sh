#!/usr/bin/env bash
# Benchmark (not a test): `fab deploy` wall time on fresh nodes with 1 agent and with 3 agents (the ratio
# shows fan-out efficiency; target <= 1.25), the no-op re-run time (target <= 10 s for 5 nodes), and the
# cluster's peak memory (sum of the containers' peaks). Prints the figures and the commands.
#
#   ./scripts/bench-deploy.sh            uses throw-away stacks bench-1 and bench-3 (own bridge/subnet),
#                                        created from stacks/Pulumi.local.yaml and destroyed afterwards
#   KEEP=1 ./scripts/bench-deploy.sh     keep the 3-agent cluster running afterwards
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
cd "$FASTDATA_ROOT"
[ "$(id -u)" = 0 ] || { echo "bench-deploy: needs root (LXC containers)" >&2; exit 1; }
"$here/fetch-artifacts.sh" >/dev/null

make_stack() { # $1 stack, $2 agents, $3 subnet octet
    python - "$1" "$2" "$3" <<'EOF'
import sys, yaml
stack, agents, octet = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cfg = yaml.safe_load(open("stacks/Pulumi.local.yaml"))
c = cfg["config"]
c["fastdata:nodes"]["agent"]["count"] = agents
c["fastdata:kafka"] = {"brokers": agents, "replicationFactor": min(3, agents),
                       "minInsyncReplicas": 2 if agents >= 3 else 1, "partitions": 6}
c["fastdata:local"] = {"bridge": f"fdbench{agents}", "subnet": f"10.98.{octet}.0/24"}
open(f"stacks/Pulumi.{stack}.yaml", "w").write(yaml.safe_dump(cfg))
EOF
}
cleanup() {
    for s in bench-1 bench-3; do
        [ "${KEEP:-0}" = 1 ] && [ $s = bench-3 ] && continue
        pulumi destroy --stack $s --yes --skip-preview >/dev/null 2>&1 || true
        pulumi stack rm --stack $s --yes --force >/dev/null 2>&1 || true
        rm -f "stacks/Pulumi.$s.yaml"
    done
}
trap cleanup EXIT

peak_mib() { # $1 container: peak memory in MiB (cgroup v2 memory.peak, or v1 max_usage_in_bytes)
    local f
    for f in "/sys/fs/cgroup/lxc.payload.$1/memory.peak" "/sys/fs/cgroup/memory/lxc.payload.$1/memory.max_usage_in_bytes" \
             "/sys/fs/cgroup/memory/lxc/$1/memory.max_usage_in_bytes"; do
        [ -r "$f" ] && { echo $(( $(cat "$f") / 1048576 )); return; }
    done
    echo 0
}

cpu_ms() { # $1 container: CPU time used so far, in ms (cgroup v1 cpuacct.usage, or v2 cpu.stat usage_usec)
    local f="/sys/fs/cgroup/cpuacct/lxc.payload.$1/cpuacct.usage"
    if [ -r "$f" ]; then echo $(( $(cat "$f") / 1000000 )); return; fi
    f="/sys/fs/cgroup/lxc.payload.$1/cpu.stat"
    if [ -r "$f" ]; then echo $(( $(awk '$1 == "usage_usec" {print $2}' "$f") / 1000 )); return; fi
    echo 0
}
cluster_cpu_ms() { # $1 stack: the sum over its containers
    local total=0 c
    for c in $(lxc-ls | tr ' ' '\n' | grep "^fastdata-$1-" || true); do total=$((total + $(cpu_ms "$c"))); done
    echo $total
}

declare -A wall
for agents in 1 3; do
    stack="bench-$agents"
    pulumi stack rm --stack "$stack" --yes --force >/dev/null 2>&1 || true
    make_stack "$stack" "$agents" $((20 + agents))
    pulumi stack init "$stack" >/dev/null
    pulumi up --stack "$stack" --yes --skip-preview >/dev/null
    cpu0=$(cluster_cpu_ms "$stack")
    start=$(date +%s.%N)
    fab deploy --stack "$stack" >"/tmp/bench-deploy-$agents.log"
    wall[$agents]=$(python -c "print(round($(date +%s.%N) - $start, 1))")
    cpu=$(( ($(cluster_cpu_ms "$stack") - cpu0) / 1000 ))
    echo "deploy on fresh nodes, $agents agent(s): ${wall[$agents]} s   (command: fab deploy --stack $stack)"
    # On one machine all nodes share its cores: the nodes' CPU time over the core count is a floor no
    # fan-out can beat here (on a cloud each node has its own cores).
    echo "  CPU time used by the nodes: $cpu s; on $(nproc) cores that alone takes >= $((cpu / $(nproc))) s"
done
stack=bench-3
start=$(date +%s.%N)
fab deploy --stack "$stack" >/tmp/bench-deploy-noop.log
noop=$(python -c "print(round($(date +%s.%N) - $start, 1))")
grep -E "^deploy: " /tmp/bench-deploy-noop.log
echo "no-op re-run, 5 nodes: $noop s (target <= 10)   (command: fab deploy --stack $stack, converged)"
echo "fan-out efficiency, deploy(3 agents) / deploy(1 agent): $(python -c "print(round(${wall[3]} / ${wall[1]}, 2))") (target <= 1.25)"
total=0
for c in $(lxc-ls | tr ' ' '\n' | grep "^fastdata-bench-3-" || true); do
    m=$(peak_mib "$c")
    echo "  $c peak memory: $m MiB"
    total=$((total + m))
done
echo "cluster peak memory (sum of container peaks, 3-agent cluster with the demo running): $total MiB"
