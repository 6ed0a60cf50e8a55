#!/usr/bin/env bash
# Rendered by fastdata (roles/dcos.py), genconf/ip-detect for cloud local: the address of the interface
# that reaches the first master ({master}) over the cluster's private network; on a master that is its
# own address, as master_list requires (reference dcos-mesos.md 1.3, like gen/ip-detect/azure.sh).
set -o nounset -o errexit -o pipefail
ip=$(ip -4 -o route get {master} | sed -n 's/.* src \([0-9.]*\).*/\1/p')
if [ -z "$ip" ]; then
  echo "ip-detect: no route to the first master {master}" >&2
  exit 1
fi
echo "$ip"
