#!/usr/bin/env bash
# Build the Pulumi CLI, the Python language host and the dynamic-provider launcher from Go modules,
# at exactly the version of the `pulumi` Python SDK pinned in pyproject.toml, into .tools/pulumi/bin.
#
# Why build: this project's machines reach package registries only (no get.pulumi.com). The Go module
# proxy serves Pulumi's modules; tools/pulumi-cli and tools/pulumi-python-host are committed wrapper
# modules (go.mod + go.sum) because `go install pkg@version` refuses Pulumi's replace directives.
# See docs/reference/toolchain-offline.md section 1 and README "Pulumi CLI".
#
# Idempotent: does nothing when .tools/pulumi/bin/pulumi already reports the pinned version, or when a
# `pulumi` of that version is on PATH (then it is linked, not rebuilt). FASTDATA_REBUILD_PULUMI=1 forces.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$FASTDATA_ROOT"

log() { printf 'build-pulumi: %s\n' "$*" >&2; }
die() { printf 'build-pulumi: error: %s\n' "$*" >&2; exit 1; }

want="v$(sed -n 's/^ *"pulumi==\([0-9.]*\)",*$/\1/p' pyproject.toml)"
[ "$want" != "v" ] || die "could not read the pinned pulumi version (\"pulumi==X.Y.Z\") from pyproject.toml"
bin="$FASTDATA_TOOLS/pulumi/bin"
mkdir -p "$bin"

version_of() { "$1" version 2>/dev/null | head -n1 | tr -d '[:space:]'; }

# The build inputs: a change to the wrapper modules or the host's source means a rebuild.
sources=$(cd tools && find pulumi-cli pulumi-python-host -type f \( -name 'go.mod' -o -name 'go.sum' -o -name '*.go' \) \
    | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)

complete() {
    grep -qx "sources=$sources" "$FASTDATA_TOOLS/pulumi/BUILD_INFO" 2>/dev/null && [ -x "$bin/pulumi" ] \
        && [ -x "$bin/pulumi-language-python" ] && [ -x "$bin/pulumi-language-python-exec" ] \
        && [ -x "$bin/pulumi-resource-pulumi-python" ] && [ "$(version_of "$bin/pulumi")" = "$want" ]
}

if [ "${FASTDATA_REBUILD_PULUMI:-0}" != 1 ] && complete; then
    exit 0
fi

# An official install of the same version (get.pulumi.com tarball, brew, ...) ships all four files together.
if [ "${FASTDATA_REBUILD_PULUMI:-0}" != 1 ] && sys=$(PATH="${PATH//$bin:/}" command -v pulumi 2>/dev/null) \
    && [ "$(version_of "$sys")" = "$want" ]; then
    sysdir=$(dirname "$(readlink -f "$sys")")
    if [ -x "$sysdir/pulumi-language-python" ] && [ -x "$sysdir/pulumi-resource-pulumi-python" ]; then
        log "using the pulumi $want already installed in $sysdir (linked into $bin)"
        for f in pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python; do
            ln -sf "$sysdir/$f" "$bin/$f"
        done
        printf 'version=%s\nlinked=%s\nsources=%s\n' "$want" "$sysdir" "$sources" > "$FASTDATA_TOOLS/pulumi/BUILD_INFO"
        exit 0
    fi
fi

# --- a Go toolchain new enough for the wrapper modules (scripts/go-env.sh) ------------------------------
need_go=$(sed -n 's/^go \([0-9.]*\)$/\1/p' tools/pulumi-cli/go.mod)
. "$(dirname "$0")/go-env.sh"
GO=$(fastdata_go "$need_go") || die "no Go >= $need_go (see above)"

ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$want"
log "building Pulumi CLI $want and the Python language host with $("$GO" version | cut -d' ' -f3) (several minutes on 2 cores; module and build caches in $FASTDATA_CACHE/go)"
start=$(date +%s)
stage=$(mktemp -d "$FASTDATA_TOOLS/pulumi/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

(cd tools/pulumi-cli && "$GO" build "${FASTDATA_GO_FLAGS[@]}" -ldflags "$ldflags" \
    -o "$stage/" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) \
    || die "go build of the Pulumi CLI failed (see above); the module proxy must serve every module in tools/pulumi-cli/go.sum"
# The Python language host is fastdata's own (tools/pulumi-python-host/cmd/pulumi-language-python): upstream's
# host module is not served by the module proxy here. It depends only on sdk/v3 at the CLI's version.
host_sdk=$(cd tools/pulumi-python-host && "$GO" list -m -f '{{.Version}}' github.com/pulumi/pulumi/sdk/v3) \
    || die "could not read the sdk/v3 version of tools/pulumi-python-host/go.mod"
[ "$host_sdk" = "$want" ] || die "tools/pulumi-python-host requires sdk/v3 $host_sdk but the CLI is $want; run" \
    "(cd tools/pulumi-python-host && GOFLAGS=-mod=mod go get github.com/pulumi/pulumi/sdk/v3@$want && go mod tidy)"
host_start=$(date +%s)
(cd tools/pulumi-python-host && "$GO" build "${FASTDATA_GO_FLAGS[@]}" -ldflags "$ldflags" \
    -o "$stage/" ./cmd/pulumi-language-python) \
    || die "go build of pulumi-language-python (tools/pulumi-python-host) failed (see above)"
log "built the Python language host in $(( $(date +%s) - host_start ))s"

# The executor and the dynamic-provider launcher are scripts inside the sdk/v3 module at the same version.
sdk=$(cd tools/pulumi-cli && "$GO" list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$stage/"
install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$stage/"

for f in "$stage"/*; do mv -f "$f" "$bin/"; done
secs=$(( $(date +%s) - start ))
got=$(version_of "$bin/pulumi")
[ "$got" = "$want" ] || die "built pulumi reports '$got', expected '$want'"
printf 'version=%s\nbuilt_at=%s\nbuild_seconds=%s\ngo=%s\nsources=%s\n' "$want" "$(date -u +%FT%TZ)" \
    "$secs" "$("$GO" env GOVERSION)" "$sources" > "$FASTDATA_TOOLS/pulumi/BUILD_INFO"
log "built pulumi $got in ${secs}s -> $bin (recorded in $FASTDATA_TOOLS/pulumi/BUILD_INFO)"
