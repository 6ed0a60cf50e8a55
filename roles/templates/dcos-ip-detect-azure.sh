#!/usr/bin/env bash
# Rendered by fastdata (roles/dcos.py), genconf/ip-detect for cloud azure: the first NIC's private IPv4
# from the Azure Instance Metadata Service (stable across reboots, unlike a route lookup during boot).
set -o nounset -o errexit -o pipefail
URL='http://169.254.169.254/metadata/instance/network/interface/0/ipv4/ipAddress/0/privateIpAddress?api-version=2021-02-01&format=text'
for attempt in 1 2 3; do
  if ip=$(curl -fsS -m 2 -H 'Metadata: true' "$URL"); then
    echo "$ip"
    exit 0
  fi
  sleep "$attempt"
done
echo "ip-detect: no private IPv4 from the Azure instance metadata service" >&2
exit 1
