#!/usr/bin/env bash
# Build the dashboard's front-end bundle: npm ci (exact versions from package-lock.json), then esbuild into
# apps/dashboard/web/dist/ (git-ignored). Run once per checkout or in the artifact-cache build; the server
# serves the result and never reaches a CDN.
#   apps/dashboard/build.sh            build
#   apps/dashboard/build.sh --clean    remove node_modules/ and dist/ first
set -euo pipefail
web="$(cd "$(dirname "$0")/web" && pwd)"
cd "$web"
if [ "${1:-}" = "--clean" ]; then rm -rf node_modules dist; fi
command -v npm >/dev/null || { echo "build.sh: npm not found: install Node.js 20 (apt-get install nodejs npm)" >&2; exit 1; }
npm ci --no-audit --no-fund
npm run build
for f in dist/app.js dist/app.css; do
    [ -s "$f" ] || { echo "build.sh: esbuild did not produce $web/$f" >&2; exit 1; }
done
echo "dashboard bundle: $web/dist ($(du -sh dist | cut -f1))"
