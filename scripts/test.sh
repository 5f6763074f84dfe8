#!/usr/bin/env bash
#
# scripts/test.sh -- the project's one test command (CI runs exactly this via .ci/run).
#
# Usage:
#   ./scripts/test.sh [EXTRA_CARGO_ARGS...]
#
#   Runs, from the repo root (works from any cwd):
#     1. cargo test --workspace --all-targets --locked --features routing/s3 EXTRA_CARGO_ARGS...
#     2. cargo test --workspace --doc --locked
#     3. scripts/schemathesis.sh: the server binary that step 1 built, against its own
#        /openapi.json (skipped when EXTRA_CARGO_ARGS select packages with -p)
#     4. scripts/browser-test.sh: the web client in Debian's Chromium driven by Playwright
#        (installs chromium, nodejs and npm as root when missing, and web/node_modules;
#        skipped with step 3)
#   EXTRA_CARGO_ARGS go to step 1 only. Examples:
#     ./scripts/test.sh -p proximity            # only the proximity crate (step 1)
#     ./scripts/test.sh -- --nocapture          # args after `--` reach the test binaries
#   Note: cargo silently ignores -p when --workspace is given, so if the extra
#   args contain -p/--package, step 1 is run without --workspace.
#
# Backends:
#   PostgreSQL  DATABASE_URL=postgres://... set  -> used as is (must be a superuser:
#               tests create and drop their own databases).
#               unset -> a throwaway cluster is initdb'ed under /tmp/geo-test.*,
#               started on a free 127.0.0.1 port (trust auth, fsync=off), and
#               stopped/removed on exit.
#   Redis       REDIS_URL=redis://... set -> used as is; unset -> throwaway
#               redis-server on a free port, killed on exit.
#   etcd        no shared server: the service-discovery tests start (and
#               restart) their own instances on free ports.
#   The binaries (initdb/pg_ctl from the highest /usr/lib/postgresql/*/bin or PATH,
#   redis-server and etcd) are needed in all cases, because the fault-injection
#   tests start their own instances. When missing: as root on Debian/Ubuntu they
#   are apt-get installed (etcd from etcd-server, whose own daemon is kept from
#   starting on 2379); otherwise the install command is printed and we exit 1.
#   The shared servers on 5432/6379 are never touched.
#
# Exported to the tests (DATABASE_URL and REDIS_URL are then UNSET, so tests of
# the embedded defaults really run embedded):
#   GEO_TEST_DATABASE_URL, GEO_TEST_REDIS_URL   backend URLs
#   GEO_TEST_PG_BIN          dir containing initdb/pg_ctl (may be preset to override)
#   GEO_TEST_REDIS_SERVER    path of redis-server         (may be preset to override)
#   GEO_TEST_ETCD            path of etcd                 (may be preset to override)
#   GEO_TEST_MOTO_SERVER     path of moto_server (S3-compatible; pip-installed when missing)
#
# Step 1 builds with `--features routing/s3` so the S3 tile-storage path is tested.
#
# Developer switch:
#   TEST_SH_PROVISION_ONLY=1 ./scripts/test.sh
#     provision the backends, check them (psql 'select 1', redis-cli ping),
#     print the exports, clean up and exit -- no cargo.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/services.sh
. "$ROOT/scripts/lib/services.sh"

# ------------------------------------------------------------ phase timing --
_now() { if [ -n "${EPOCHREALTIME:-}" ]; then printf '%s' "${EPOCHREALTIME/,/.}"; else date +%s; fi; }
PHASES=()          # "name<TAB>seconds<TAB>status"
PHASE_NAME="" PHASE_START=""
T_START=$(_now)
phase_begin() { PHASE_NAME=$1 PHASE_START=$(_now); }
phase_end() {
  local status=${1:-ok}
  [ -n "$PHASE_NAME" ] || return 0
  PHASES+=("$PHASE_NAME"$'\t'"$(awk -v a="$PHASE_START" -v b="$(_now)" 'BEGIN{printf "%.1f", b-a}')"$'\t'"$status")
  PHASE_NAME=""
}

on_exit() {
  local rc=$?
  set +e
  [ -n "$PHASE_NAME" ] && phase_end "FAILED (exit $rc)"
  svc_cleanup
  if [ "${#PHASES[@]}" -gt 0 ]; then
    echo
    echo "==> timing"
    local p name secs status
    for p in "${PHASES[@]}"; do
      IFS=$'\t' read -r name secs status <<<"$p"
      printf '    %-12s %8ss  %s\n' "$name" "$secs" "$status"
    done
    printf '    %-12s %8ss\n' total "$(awk -v a="$T_START" -v b="$(_now)" 'BEGIN{printf "%.1f", b-a}')"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ----------------------------------------------------------------- toolchain --
if [ -z "${TEST_SH_PROVISION_ONLY:-}" ] && ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    cat >&2 <<'EOF'
error: `cargo` not found. Install the Rust toolchain with rustup:

    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
    . "$HOME/.cargo/env"

(see https://rustup.rs), then re-run ./scripts/test.sh
EOF
    exit 1
  fi
fi

# ----------------------------------------------------------------- provision --
phase_begin provision

DB_URL=${DATABASE_URL:-}
RD_URL=${REDIS_URL:-}
case "$DB_URL" in
  "" | postgres://* | postgresql://*) ;;
  *) svc_die "DATABASE_URL is set but is not a postgres:// URL: $DB_URL (unset it to use a throwaway PostgreSQL)" ;;
esac
case "$RD_URL" in
  "" | redis://* | rediss://* | redis+unix://* | unix://*) ;;
  *) svc_die "REDIS_URL is set but is not a redis:// URL: $RD_URL (unset it to use a throwaway Redis)" ;;
esac

find_binaries() {
  PG_BIN=${GEO_TEST_PG_BIN:-}
  if [ -n "$PG_BIN" ]; then
    if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
      svc_die "GEO_TEST_PG_BIN=$PG_BIN does not contain initdb and pg_ctl"
    fi
  else
    PG_BIN=$(svc_find_pg_bin || true)
  fi
  REDIS_SERVER=${GEO_TEST_REDIS_SERVER:-}
  if [ -n "$REDIS_SERVER" ]; then
    [ -x "$REDIS_SERVER" ] || svc_die "GEO_TEST_REDIS_SERVER=$REDIS_SERVER is not executable"
  else
    REDIS_SERVER=$(svc_find_redis_server || true)
  fi
  ETCD=${GEO_TEST_ETCD:-}
  if [ -n "$ETCD" ]; then
    [ -x "$ETCD" ] || svc_die "GEO_TEST_ETCD=$ETCD is not executable"
  else
    ETCD=$(svc_find_etcd || true)
  fi
}

find_binaries
missing=()
[ -n "$PG_BIN" ] || missing+=(postgresql)
[ -n "$REDIS_SERVER" ] || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  svc_ensure_packages "${missing[@]}"   # installs as root, or prints the command and exits 1
  find_binaries
  [ -n "$PG_BIN" ] || svc_die "postgresql installed but initdb/pg_ctl still not found"
  [ -n "$REDIS_SERVER" ] || svc_die "redis-server installed but still not found"
fi
if [ -z "$ETCD" ]; then
  svc_install_etcd   # installs etcd-server as root, or prints the command and exits 1
  find_binaries
  [ -n "$ETCD" ] || svc_die "etcd-server installed but etcd still not found"
fi

if [ -z "$DB_URL" ]; then
  svc_start_postgres "$PG_BIN"
  DB_URL=$SVC_PG_URL
else
  svc_log "using DATABASE_URL=$DB_URL (no throwaway postgres)"
fi
if [ -z "$RD_URL" ]; then
  svc_start_redis "$REDIS_SERVER"
  RD_URL=$SVC_REDIS_URL
else
  svc_log "using REDIS_URL=$RD_URL (no throwaway redis)"
fi

# S3-compatible server for the tile-storage tests (moto from PyPI, started by the tests).
if [ -z "${GEO_TEST_MOTO_SERVER:-}" ]; then
  if ! command -v moto_server >/dev/null 2>&1; then
    svc_log "installing moto[server] from PyPI (S3-compatible test server)"
    python3 -m pip install --quiet 'moto[server]>=5,<6' || svc_die "pip install 'moto[server]' failed"
    hash -r
  fi
  GEO_TEST_MOTO_SERVER=$(command -v moto_server) || svc_die "moto_server not on PATH after pip install"
fi
export GEO_TEST_MOTO_SERVER

export GEO_TEST_DATABASE_URL="$DB_URL"
export GEO_TEST_REDIS_URL="$RD_URL"
export GEO_TEST_PG_BIN="$PG_BIN"
export GEO_TEST_REDIS_SERVER="$REDIS_SERVER"
export GEO_TEST_ETCD="$ETCD"
unset DATABASE_URL REDIS_URL

phase_end

if [ -n "${TEST_SH_PROVISION_ONLY:-}" ]; then
  phase_begin check
  psql_bin="$PG_BIN/psql"
  [ -x "$psql_bin" ] || psql_bin=psql
  svc_log "TEST_SH_PROVISION_ONLY: checking backends"
  "$psql_bin" "$GEO_TEST_DATABASE_URL" -v ON_ERROR_STOP=1 -c 'select 1'
  pong=$(redis-cli -u "$GEO_TEST_REDIS_URL" ping)
  echo "redis: $pong"
  [ "$pong" = "PONG" ] || svc_die "redis did not answer PONG"
  "$GEO_TEST_ETCD" --version
  env | grep '^GEO_TEST_' | sort | sed 's/^/    export /'
  phase_end
  exit 0
fi

# ---------------------------------------------------------------- build+test --
# -p/--package among the extra args: drop --workspace (cargo would ignore -p).
first_scope=(--workspace)
for arg in "$@"; do
  case "$arg" in
    --) break ;;
    -p | -p?* | --package | --package=*) first_scope=(); break ;;
  esac
done

backends="postgres=$GEO_TEST_DATABASE_URL redis=$GEO_TEST_REDIS_URL"
phase_begin build+test
echo "==> [1/4] cargo test ${first_scope[*]+"${first_scope[*]} "}--all-targets --locked --features routing/s3${*:+ $*}  ($backends)"
cargo test "${first_scope[@]+"${first_scope[@]}"}" --all-targets --locked --features routing/s3 "$@"
echo "==> [2/4] cargo test --workspace --doc --locked  ($backends)"
cargo test --workspace --doc --locked
phase_end

# The server against its own OpenAPI document (generated requests, every check).
if [ "${#first_scope[@]}" -gt 0 ]; then
  phase_begin schemathesis
  echo "==> [3/4] scripts/schemathesis.sh  (target/debug/geostack against its /openapi.json)"
  "$ROOT/scripts/schemathesis.sh"
  phase_end
  phase_begin browser
  echo "==> [4/4] scripts/browser-test.sh  (Playwright on Chromium against target/debug/geostack)"
  "$ROOT/scripts/browser-test.sh"
  phase_end
else
  echo "==> [3/4] scripts/schemathesis.sh and [4/4] scripts/browser-test.sh skipped: -p selected packages"
fi
