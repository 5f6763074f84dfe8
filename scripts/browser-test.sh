#!/usr/bin/env bash
#
# scripts/browser-test.sh -- the web client in a real browser: Playwright (npm) driving
# Debian's Chromium against target/debug/geostack on the embedded default with the sample
# city. scripts/test.sh runs it after the cargo tests.
#
# Usage:
#   ./scripts/browser-test.sh [EXTRA_PLAYWRIGHT_ARGS...]
#
#   1. installs what is missing: chromium, nodejs and npm from Debian (as root), and
#      web/node_modules with `npm ci` (pinned by web/package-lock.json);
#   2. rebuilds the bundle and fails if it differs from the checked-in web/dist (the binary
#      embeds web/dist, so a stale bundle would test old code);
#   3. starts the server on a free port (fresh DATA_DIR, JWT secret of its own), waits for
#      /readyz, runs `npx playwright test` in web/, stops the server.
#
# Screenshots of every test are kept in web/test-results/ (also on success).
#
# Environment:
#   GEOSTACK_BIN     the server binary (default target/debug/geostack)
#   CHROMIUM_PATH    the browser (default /usr/bin/chromium)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=lib/services.sh
. "$ROOT/scripts/lib/services.sh"

BIN=${GEOSTACK_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/geostack}
[ -x "$BIN" ] || svc_die "$BIN not found: build it with cargo build (or scripts/test.sh)"
# Absolute, since the tests run from web/.
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# ------------------------------------------------------------------ install --
export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
missing=()
[ -x "$CHROMIUM_PATH" ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  svc_ensure_packages "${missing[@]}"
fi
[ -x "$CHROMIUM_PATH" ] || svc_die "no browser at $CHROMIUM_PATH (apt-get install chromium)"

cd "$ROOT/web"
# A copy of the lock file in node_modules marks an install made from exactly this lock.
if ! cmp -s package-lock.json node_modules/.geostack-installed-lock 2>/dev/null; then
  svc_log "installing the web client's packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.geostack-installed-lock
fi

svc_log "rebuilding web/dist and comparing with the checked-in bundle"
BUILT=$(mktemp -d /tmp/geo-web-dist.XXXXXX)
WEB_DIST="$BUILT" node build.mjs >/dev/null
if ! diff -rq "$BUILT" dist >/dev/null; then
  diff -rq "$BUILT" dist >&2 || true
  rm -rf "$BUILT"
  svc_die "web/dist is stale: run (cd web && npm run build), rebuild the server, and commit web/dist"
fi
rm -rf "$BUILT"

# ------------------------------------------------------------------- server --
WORK=$(mktemp -d /tmp/geo-browser.XXXXXX)
SERVER_PID=""
cleanup() {
  local rc=$?
  set +e
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  if [ "$rc" -ne 0 ] && [ -f "$WORK/server.log" ]; then
    echo "--- last lines of the server's log ($WORK/server.log) ---" >&2
    tail -n 40 "$WORK/server.log" >&2
    echo "--- (kept $WORK; screenshots in web/test-results) ---" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(svc_free_port)
BASE=http://127.0.0.1:$PORT
export JWT_SECRET DATA_DIR="$WORK/data"
JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
svc_log "starting $BIN on $BASE (DATA_DIR=$DATA_DIR)"
env -u DATABASE_URL -u REDIS_URL -u PUBSUB_REDIS_URLS -u LOCATION_CACHE_URLS -u TILES_URL \
  -u SERVICES -u RATE_LIMIT_PER_IP -u PUBLIC_URL \
  LISTEN_ADDR="127.0.0.1:$PORT" INDEX_REFRESH_AT=off SAMPLE_DATA="$ROOT/data/helsinki.osm.pbf" \
  RUST_LOG=warn "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
ready=""
for _ in $(seq 1 600); do
  kill -0 "$SERVER_PID" 2>/dev/null || svc_die "the server exited before it was ready"
  if curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
[ -n "$ready" ] || svc_die "the server was not ready within 120 s"

# ---------------------------------------------------------------------- run --
export GEOSTACK_URL=$BASE
GEOSTACK_ADMIN_TOKEN=$("$BIN" token --sub 0 --admin)
export GEOSTACK_ADMIN_TOKEN
export GEOSTACK_TOKEN_CMD="$BIN token --sub"
svc_log "playwright ($CHROMIUM_PATH) against $BASE; screenshots in web/test-results"
npx playwright test "$@"
