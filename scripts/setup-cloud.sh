#!/usr/bin/env bash
# Install what an AWS or Azure stack needs beyond ./scripts/setup.sh: the Pulumi resource plugins aws and
# azure-native, at exactly the versions of the pinned pulumi-aws / pulumi-azure-native packages in
# pyproject.toml, into $PULUMI_HOME/plugins (scripts/env.sh). Idempotent; the local stack needs neither.
#
#   ./scripts/setup-cloud.sh                          download them (get.pulumi.com / GitHub releases)
#   FASTDATA_PLUGIN_DIR=DIR ./scripts/setup-cloud.sh  offline: install from DIR, which holds for each plugin
#                                                     its release tarball (pulumi-resource-aws-v7.51.1-linux-amd64.tar.gz),
#                                                     or its binary (pulumi-resource-aws), or a folder named
#                                                     pulumi-resource-aws-v7.51.1 with the binary inside
#   ./scripts/setup.sh --cloud  (or FASTDATA_CLOUD=1) runs this after the rest of setup
#
# Exit status: 0 when both plugins are installed, 1 otherwise (with the command that would fix it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"
cd "$FASTDATA_ROOT"
log() { printf 'setup-cloud: %s\n' "$*" >&2; }

command -v pulumi >/dev/null 2>&1 || { log "no pulumi CLI on PATH: run ./scripts/setup.sh first"; exit 1; }
pin() { sed -n "s/^ *\"$1==\([0-9.]*\)\",*$/\1/p" pyproject.toml; }
arch=$(uname -m); case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
plugins="${PULUMI_HOME}/plugins"

failed=0
for entry in aws:pulumi-aws azure-native:pulumi-azure-native; do
    name=${entry%%:*} package=${entry#*:}
    version=$(pin "$package")
    [ -n "$version" ] || { log "no pinned $package==X.Y.Z in pyproject.toml"; failed=1; continue; }
    if [ -x "$plugins/resource-$name-v$version/pulumi-resource-$name" ] \
        && [ ! -e "$plugins/resource-$name-v$version.partial" ]; then
        continue  # already installed
    fi
    if [ -n "${FASTDATA_PLUGIN_DIR:-}" ]; then
        src=""
        for cand in "$FASTDATA_PLUGIN_DIR/pulumi-resource-$name-v$version-linux-$arch.tar.gz" \
            "$FASTDATA_PLUGIN_DIR/pulumi-resource-$name-v$version.tar.gz" \
            "$FASTDATA_PLUGIN_DIR/pulumi-resource-$name-v$version" \
            "$FASTDATA_PLUGIN_DIR/pulumi-resource-$name"; do
            [ -e "$cand" ] && { src=$cand; break; }
        done
        if [ -z "$src" ]; then
            log "FASTDATA_PLUGIN_DIR=$FASTDATA_PLUGIN_DIR has no pulumi-resource-$name-v$version-linux-$arch.tar.gz," \
                "pulumi-resource-$name-v$version/ or pulumi-resource-$name: put one there and re-run"
            failed=1; continue
        fi
        log "installing the $name plugin v$version from $src"
        pulumi plugin install resource "$name" "v$version" --file "$src" >/dev/null \
            || { log "pulumi plugin install resource $name v$version --file $src failed (see above)"; failed=1; }
        continue
    fi
    log "downloading the $name plugin v$version"
    if ! out=$(timeout 300 pulumi plugin install resource "$name" "v$version" 2>&1); then
        log "could not download the $name plugin v$version: $(printf '%s' "$out" | tail -n1)"
        log "  offline: fetch pulumi-resource-$name-v$version-linux-$arch.tar.gz on a machine that can reach" \
            "get.pulumi.com (or https://github.com/pulumi/pulumi-$name/releases), copy it to a directory DIR here, then:"
        log "    FASTDATA_PLUGIN_DIR=DIR ./scripts/setup-cloud.sh"
        failed=1
    fi
done
if [ $failed = 0 ]; then
    log "cloud plugins ready in $plugins (aws v$(pin pulumi-aws), azure-native v$(pin pulumi-azure-native))"
fi
exit $failed
