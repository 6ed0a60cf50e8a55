#!/usr/bin/env bash
# Rendered by fastdata (roles/dcos.py), genconf/ip-detect for cloud aws: the instance's private IPv4 from
# the instance metadata service. IMDSv2 (a session token first): the stock dcos/dcos gen/ip-detect/aws.sh
# uses IMDSv1, which fails where launch templates require tokens (reference dcos-mesos.md 1.3).
set -o nounset -o errexit -o pipefail
IMDS=http://169.254.169.254/latest
for attempt in 1 2 3; do
  if token=$(curl -fsS -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$IMDS/api/token") &&
     ip=$(curl -fsS -m 2 -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/local-ipv4"); then
    echo "$ip"
    exit 0
  fi
  sleep "$attempt"
done
echo "ip-detect: no private IPv4 from the EC2 instance metadata service (IMDSv2)" >&2
exit 1
