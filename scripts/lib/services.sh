# shellcheck shell=bash
#
# scripts/lib/services.sh -- throwaway PostgreSQL / Redis for the test suite,
# and the etcd binary its discovery tests run.
#
# Sourced by scripts/test.sh; not meant to be run directly. Everything this
# file starts is recorded in the SVC_* variables below and torn down by
# svc_cleanup, which only ever touches the instances *this* shell started
# (its own data directory / its own pid). The machine's shared servers
# (PostgreSQL on 5432, Redis on 6379) are never stopped or reconfigured.
#
# Public functions:
#   svc_find_pg_bin          -> prints the dir holding initdb/pg_ctl (highest version)
#   svc_find_redis_server    -> prints the path of redis-server
#   svc_find_etcd            -> prints the path of etcd
#   svc_ensure_packages PKG… -> apt-get installs PKGs as root, else prints the
#                               install command and exits 1
#   svc_install_etcd         -> svc_ensure_packages etcd-server, without leaving
#                               the package's own etcd running on 2379
#   svc_start_postgres BIN   -> starts a throwaway cluster, sets SVC_PG_URL
#   svc_start_redis    BIN   -> starts a throwaway redis,   sets SVC_REDIS_URL
#   svc_cleanup              -> stops what was started, removes temp dirs

SVC_WORK=""          # /tmp/geo-test.XXXXXX (holds pg/ and redis/)
SVC_PG_BIN=""        # bin dir of the cluster we started (for pg_ctl stop)
SVC_PG_DATA=""       # data dir of the cluster we started
SVC_PG_URL=""
SVC_REDIS_PID=""
SVC_REDIS_URL=""
SVC_APT_UPDATED=""   # set once `apt-get update` has run
SVC_POLICY_RC_D=""   # a policy-rc.d this shell created (removed by svc_cleanup)

SVC_INSTALL_HINT="sudo apt-get install -y postgresql redis-server etcd-server"

svc_log() { printf '==> %s\n' "$*" >&2; }
svc_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

svc_is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------- discovery --

# Version of the initdb in dir $1 ("15.14"), or nothing if unusable.
_svc_pg_version() {
  [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] || return 0
  "$1/initdb" --version 2>/dev/null | awk '{print $NF; exit}'
}

svc_find_pg_bin() {
  local cands=() d p best="" best_ver="" v
  # PATH first (resolving symlinks such as /usr/local/bin/initdb ->
  # /usr/lib/postgresql/15/bin/initdb), then every Debian-style install.
  for p in initdb pg_ctl; do
    if command -v "$p" >/dev/null 2>&1; then
      d=$(dirname "$(readlink -f "$(command -v "$p")")")
      cands+=("$d")
    fi
  done
  for d in /usr/lib/postgresql/*/bin; do
    [ -d "$d" ] && cands+=("$d")
  done
  for d in "${cands[@]+"${cands[@]}"}"; do
    v=$(_svc_pg_version "$d")
    [ -n "$v" ] || continue
    if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$best_ver" "$v" | sort -V | tail -n1)" != "$best_ver" ]; then
      best=$d best_ver=$v
    fi
  done
  [ -n "$best" ] && printf '%s\n' "$best"
}

svc_find_redis_server() {
  local p
  for p in "$(command -v redis-server 2>/dev/null || true)" /usr/bin/redis-server /usr/local/bin/redis-server /usr/sbin/redis-server; do
    if [ -n "$p" ] && [ -x "$p" ]; then
      # Not resolved with readlink: Debian's redis-server is a symlink to
      # redis-check-rdb, which dispatches on argv[0].
      printf '%s\n' "$p"
      return 0
    fi
  done
  return 0
}

svc_find_etcd() {
  local p
  for p in "$(command -v etcd 2>/dev/null || true)" /usr/bin/etcd /usr/local/bin/etcd; do
    if [ -n "$p" ] && [ -x "$p" ]; then
      printf '%s\n' "$p"
      return 0
    fi
  done
  return 0
}

# Install Debian packages (root only); otherwise explain and exit 1.
svc_ensure_packages() {
  [ "$#" -gt 0 ] || return 0
  if svc_is_root && command -v apt-get >/dev/null 2>&1; then
    svc_log "installing missing packages: $* (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "$SVC_APT_UPDATED" ]; then
      apt-get update
      SVC_APT_UPDATED=1
    fi
    apt-get install -y --no-install-recommends "$@"
    return 0
  fi
  {
    echo "error: missing test dependencies: $*"
    echo "Install them with:"
    echo
    echo "    $SVC_INSTALL_HINT"
    echo
    echo "or point the tests at existing servers with DATABASE_URL=postgres://... and REDIS_URL=redis://..."
  } >&2
  exit 1
}

_svc_drop_policy_rc_d() {
  if [ -n "$SVC_POLICY_RC_D" ]; then
    rm -f "$SVC_POLICY_RC_D"
    SVC_POLICY_RC_D=""
  fi
}

# Debian's etcd-server starts a system etcd on 2379 from its postinst (init
# script, or the systemd unit where systemd runs) and enables it at boot. The
# tests only need the binary -- they start their own instances on free ports --
# so that daemon would just hold 2379 and /var/lib/etcd. While installing, a
# policy-rc.d denying every start keeps invoke-rc.d and deb-systemd-invoke from
# starting it (an existing policy-rc.d is the admin's and stays in charge);
# afterwards anything the package did start is stopped and its boot-time start
# disabled. Only called when etcd was missing, so an etcd someone installed and
# runs on purpose is never touched.
svc_install_etcd() {
  if svc_is_root && command -v apt-get >/dev/null 2>&1 && [ ! -e /usr/sbin/policy-rc.d ]; then
    SVC_POLICY_RC_D=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# Temporary (scripts/lib/services.sh): no service starts while etcd-server installs.\nexit 101\n' \
      >"$SVC_POLICY_RC_D"
    chmod 755 "$SVC_POLICY_RC_D"
  fi
  svc_ensure_packages etcd-server   # as root; otherwise prints the command and exits 1
  _svc_drop_policy_rc_d
  if [ -d /run/systemd/system ]; then
    systemctl stop etcd.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/etcd ]; then
    # The init script stops only the daemon recorded in its own pid file.
    /etc/init.d/etcd stop >/dev/null 2>&1 || true
  fi
  deb-systemd-helper disable etcd.service >/dev/null 2>&1 || true
  update-rc.d etcd disable >/dev/null 2>&1 || true
  if _svc_port_in_use 2379; then
    svc_log "warning: something still listens on 127.0.0.1:2379 (the tests do not use it)"
  fi
  return 0
}

# ------------------------------------------------------------------ helpers --

_svc_port_in_use() {
  # Succeeds if something accepts connections on 127.0.0.1:$1.
  if command -v ss >/dev/null 2>&1; then
    ss -Htln "sport = :$1" 2>/dev/null | grep -q . && return 0
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a currently free TCP port on 127.0.0.1.
svc_free_port() {
  local p=""
  if command -v python3 >/dev/null 2>&1; then
    p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || true)
  fi
  if [[ "$p" =~ ^[0-9]+$ ]] && ! _svc_port_in_use "$p"; then
    printf '%s\n' "$p"
    return 0
  fi
  local i
  for i in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    if ! _svc_port_in_use "$p"; then
      printf '%s\n' "$p"
      return 0
    fi
  done
  svc_die "could not find a free TCP port"
}

_svc_workdir() {
  if [ -z "$SVC_WORK" ]; then
    SVC_WORK=$(mktemp -d /tmp/geo-test.XXXXXX)
    chmod 711 "$SVC_WORK"   # the postgres user must be able to traverse it
  fi
}

# Run a command as the postgres system user when we are root (initdb refuses
# to run as root), from a directory that user can read.
_svc_as_pg() {
  if svc_is_root; then
    if command -v runuser >/dev/null 2>&1; then
      (cd "$SVC_WORK" && runuser -u postgres -- "$@")
    else
      local q
      q=$(printf '%q ' "$@")
      (cd "$SVC_WORK" && su postgres -s /bin/sh -c "$q")
    fi
  else
    "$@"
  fi
}

# ------------------------------------------------------------------ postgres --

svc_start_postgres() {
  local bin=$1 dir port attempt isready
  _svc_workdir
  dir="$SVC_WORK/pg"
  mkdir -p "$dir"
  if svc_is_root; then
    id -u postgres >/dev/null 2>&1 ||
      useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
    chown postgres: "$dir"
  fi
  chmod 700 "$dir"

  SVC_PG_BIN=$bin
  SVC_PG_DATA="$dir/data"
  svc_log "initdb ($("$bin/initdb" --version)) in $SVC_PG_DATA"
  if ! _svc_as_pg "$bin/initdb" -D "$SVC_PG_DATA" -A trust -U postgres -E UTF8 --locale=C --no-sync \
        >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    svc_die "initdb failed"
  fi

  # A port picked as free can be grabbed by someone else before postgres
  # binds it; retry a few times with a fresh port.
  for attempt in 1 2 3; do
    port=$(svc_free_port)
    if _svc_as_pg "$bin/pg_ctl" start -w -t 60 -D "$SVC_PG_DATA" -l "$dir/postgres.log" \
         -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
         >/dev/null 2>&1; then
      break
    fi
    svc_log "postgres failed to start on port $port (attempt $attempt), log:"
    port=""
    tail -n 20 "$dir/postgres.log" >&2 || true
  done
  [ -n "$port" ] || svc_die "could not start throwaway postgres (see above)"

  isready="$bin/pg_isready"
  [ -x "$isready" ] || isready=$(command -v pg_isready || true)
  if [ -n "$isready" ]; then
    local i
    for i in $(seq 1 60); do
      "$isready" -q -h 127.0.0.1 -p "$port" -U postgres && break
      [ "$i" -eq 60 ] && svc_die "postgres on port $port not ready after 30s"
      sleep 0.5
    done
  fi
  SVC_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  svc_log "postgres ready: $SVC_PG_URL (data $SVC_PG_DATA)"
}

# --------------------------------------------------------------------- redis --

# PING a redis at 127.0.0.1:$1; succeeds on PONG.
_svc_redis_ping() {
  local reply=""
  if command -v redis-cli >/dev/null 2>&1; then
    reply=$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null || true)
  else
    reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 &&
              IFS= read -r -t 2 line <&3 && printf '%s' "$line") 2>/dev/null || true)
    reply=${reply#+}; reply=${reply%$'\r'}
  fi
  [ "$reply" = "PONG" ]
}

svc_start_redis() {
  local server=$1 dir port attempt i
  _svc_workdir
  dir="$SVC_WORK/redis"
  mkdir -p "$dir"
  for attempt in 1 2 3; do
    port=$(svc_free_port)
    "$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --daemonize no --dir "$dir" >"$dir/redis.log" 2>&1 &
    SVC_REDIS_PID=$!
    for i in $(seq 1 60); do
      _svc_redis_ping "$port" && break
      kill -0 "$SVC_REDIS_PID" 2>/dev/null || break
      sleep 0.25
    done
    if _svc_redis_ping "$port"; then
      SVC_REDIS_URL="redis://127.0.0.1:$port"
      svc_log "redis ready: $SVC_REDIS_URL (pid $SVC_REDIS_PID)"
      return 0
    fi
    svc_log "redis failed to start on port $port (attempt $attempt), log:"
    tail -n 20 "$dir/redis.log" >&2 || true
    kill "$SVC_REDIS_PID" 2>/dev/null || true
    wait "$SVC_REDIS_PID" 2>/dev/null || true
    SVC_REDIS_PID=""
  done
  svc_die "could not start throwaway redis-server"
}

# ------------------------------------------------------------------- cleanup --

svc_cleanup() {
  set +e
  _svc_drop_policy_rc_d
  if [ -n "$SVC_REDIS_PID" ]; then
    kill "$SVC_REDIS_PID" 2>/dev/null
    local i
    for i in $(seq 1 40); do
      kill -0 "$SVC_REDIS_PID" 2>/dev/null || break
      sleep 0.25
    done
    kill -9 "$SVC_REDIS_PID" 2>/dev/null
    wait "$SVC_REDIS_PID" 2>/dev/null
    SVC_REDIS_PID=""
  fi
  if [ -n "$SVC_PG_DATA" ] && [ -f "$SVC_PG_DATA/postmaster.pid" ]; then
    local pid
    pid=$(head -n1 "$SVC_PG_DATA/postmaster.pid" 2>/dev/null)
    _svc_as_pg "$SVC_PG_BIN/pg_ctl" stop -D "$SVC_PG_DATA" -m immediate -w -t 30 >/dev/null 2>&1
    if [[ "$pid" =~ ^[0-9]+$ ]]; then
      # pg_ctl returns once the pid file is gone; wait for our postmaster
      # itself to exit (a zombie awaiting reaping by init counts as gone),
      # and kill it if pg_ctl could not stop it.
      local i st
      for i in $(seq 1 40); do
        st=$(ps -o stat= -p "$pid" 2>/dev/null || true)
        [ -z "$st" ] || [[ "$st" == Z* ]] && break
        [ "$i" -eq 20 ] && kill -9 "$pid" 2>/dev/null
        sleep 0.25
      done
    fi
  fi
  SVC_PG_DATA=""
  if [ -n "$SVC_WORK" ] && [[ "$SVC_WORK" == /tmp/geo-test.* ]]; then
    rm -rf "$SVC_WORK"
  fi
  SVC_WORK=""
}
