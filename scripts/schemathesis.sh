#!/usr/bin/env bash
#
# scripts/schemathesis.sh -- checks the server against its own OpenAPI document with
# schemathesis (property-based API testing, from PyPI): every operation of /openapi.json
# but the WebSocket upgrade, with generated valid and invalid requests, every check
# (no 5xx, only documented statuses, content types, headers and bodies, valid data
# accepted, invalid data refused, auth enforced, resources usable after create and gone
# after delete, ...). Any failure fails the script.
#
# Usage:
#   ./scripts/schemathesis.sh [EXTRA_SCHEMATHESIS_ARGS...]
#
#   It starts target/debug/geostack, which the test build makes (`cargo test --workspace
#   --all-targets ...` builds it for services/server/tests/binary.rs; scripts/test.sh runs
#   this script after that), on the embedded default (SQLite and the in-process cache in a
#   temporary DATA_DIR, loaded from data/helsinki.osm.pbf) on a free port; registers a user
#   and mints an admin token for it with `geostack token`, so that authenticated
#   operations are exercised; runs schemathesis; stops the server and removes DATA_DIR.
#
# Environment:
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (default 100; about 30 s)
#   SCHEMATHESIS_SEED          seed of the run (default fixed, so a run can be repeated;
#                              `random` for a new one each time)
#   GEOSTACK_BIN               the server binary (default target/debug/geostack)
#
# schemathesis is installed (pinned) into a virtualenv under
# ${XDG_CACHE_HOME:-~/.cache}/geostack/ when missing. The custom string formats of the
# document (`place`, `lat-lng`, `cursor`, ...) get their generators, and the rules across
# parameters their filters, from scripts/schemathesis_hooks.py; scripts/schemathesis.toml
# holds the one check turned off for one operation, with its reason.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

BIN=${GEOSTACK_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/geostack}
[ -x "$BIN" ] || die "$BIN not found: build it with
    cargo test --workspace --all-targets --features routing/s3 --no-run --locked"

# ------------------------------------------------------------------ install --
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/geostack/schemathesis-$SCHEMATHESIS_VERSION
ST=$VENV/bin/schemathesis
if ! [ -x "$ST" ] || ! "$ST" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION from PyPI into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    || die "pip install schemathesis==$SCHEMATHESIS_VERSION failed"
fi

# ------------------------------------------------------------------- server --
WORK=$(mktemp -d /tmp/geo-schemathesis.XXXXXX)
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
    echo "--- (kept $WORK) ---" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
BASE=http://127.0.0.1:$PORT
export JWT_SECRET
JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
log "starting $BIN on $BASE (DATA_DIR=$WORK/data)"
env -u DATABASE_URL -u REDIS_URL -u PUBSUB_REDIS_URLS -u LOCATION_CACHE_URLS -u TILES_URL \
  -u SAMPLE_DATA -u SERVICES -u RATE_LIMIT_PER_IP \
  DATA_DIR="$WORK/data" LISTEN_ADDR="127.0.0.1:$PORT" INDEX_REFRESH_AT=off \
  RUST_LOG=warn "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

ready=""
for _ in $(seq 1 600); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    die "the server exited before it was ready"
  fi
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "$BASE/readyz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
[ -n "$ready" ] || die "the server was not ready within 120 s"

# A registered user with an admin token, so that every operation can succeed, and a few
# more users to befriend.
ADMIN=$("$BIN" token --sub 0 --admin)
USER_IDS=$(python3 - "$BASE/v1/users" "$ADMIN" <<'PY'
import json, sys, urllib.request
ids = []
for name in ["schemathesis"] + [f"friend {i}" for i in range(1, 6)]:
    request = urllib.request.Request(
        sys.argv[1],
        data=json.dumps({"name": name}).encode(),
        headers={"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"},
    )
    ids.append(str(json.load(urllib.request.urlopen(request, timeout=10))["id"]))
print(",".join(ids))
PY
) || die "registering the test users failed"
CALLER_ID=${USER_IDS%%,*}
TOKEN=$("$BIN" token --sub "$CALLER_ID" --admin)

# ------------------------------------------------------------------- run --
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-100}
SEED=${SCHEMATHESIS_SEED:-20251207}
seed_args=(--seed "$SEED")
[ "$SEED" = random ] && seed_args=()

cmd=("$ST" --config-file "$ROOT/scripts/schemathesis.toml" run "$BASE/openapi.json"
  --exclude-path /v1/ws/friends
  --exclude-path /v1/ws/navigation
  --header "Authorization: Bearer $TOKEN"
  --max-examples "$MAX_EXAMPLES"
  "${seed_args[@]}"
  --request-timeout 30
  "$@")
log "schemathesis $SCHEMATHESIS_VERSION: ${cmd[*]/Bearer */Bearer \$TOKEN}"
export SCHEMATHESIS_HOOKS="$ROOT/scripts/schemathesis_hooks.py" PYTHONDONTWRITEBYTECODE=1
export GEOSTACK_CALLER_ID="$CALLER_ID" GEOSTACK_USER_IDS="$USER_IDS"
"${cmd[@]}"
