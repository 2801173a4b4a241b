#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the test suite (tests/lib/db.sh,
# CW_TEST_BACKEND=pg).
#   scripts/pg-cluster.sh start DIR   initdb in DIR, start the server, print
#                                     `export PGHOST=… PGPORT=… PGUSER=…`
#   scripts/pg-cluster.sh stop DIR    stop the server and remove DIR
# The server listens only on a Unix socket inside DIR (listen_addresses=''),
# trusts that socket, runs with fsync=off, and has a role `churnwatch` with
# LOGIN and CREATEDB but not SUPERUSER: the product must work without it.
# initdb refuses to run as root, so as root the cluster belongs to a
# dedicated user ($CW_PG_OSUSER, default: the system user cwpg, created when
# missing, else nobody). Both commands are idempotent; start leaves nothing
# running and nothing of its own in DIR when it fails. DIR must be a folder
# this script made or an empty one (mktemp -d): stop refuses anything else.
# Test hook: CW_PG_CLUSTER_FAIL=after-start fails start once the server runs.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
MARK=.cw-pg-cluster
ROLE=churnwatch

die() { echo "pg-cluster: $*" >&2; exit 1; }
usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }

# as_owner CMD...: run CMD as the cluster's OS user (root cannot run initdb).
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    (cd "$DIR" && setpriv --reuid="$OSUSER" --regid="$OSUSER" --init-groups -- "$@")
  else
    "$@"
  fi
}

pick_osuser() {
  OSUSER=$(id -un)
  [ "$(id -u)" = 0 ] || return 0
  OSUSER=${CW_PG_OSUSER:-cwpg}
  if ! id -u "$OSUSER" >/dev/null 2>&1; then
    if [ "$OSUSER" = cwpg ] && command -v useradd >/dev/null &&
       useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cwpg 2>/dev/null; then
      :
    else
      OSUSER=nobody
    fi
  fi
  id -u "$OSUSER" >/dev/null 2>&1 || die "no OS user to own the cluster ($OSUSER)"
}

# The cluster's OS user: recorded in DIR/env, else chosen now.
load_osuser() {
  if [ "$(id -u)" != 0 ]; then OSUSER=$(id -un)
  elif [ -f "$DIR/env" ]; then OSUSER=$(sed -n 's/^OSUSER=//p' "$DIR/env")
  else pick_osuser; fi
}

# stop_server MODE: stop the server if it runs; loud if it does not stop.
stop_server() {
  [ -f "$DIR/data/postmaster.pid" ] || return 0
  as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -m "$1" -w -t 30 stop >/dev/null 2>&1 ||
    as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  if running; then echo "pg-cluster: the server in $DIR did not stop" >&2; return 1; fi
}

running() { [ -f "$DIR/data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; }

print_env() {
  # shellcheck disable=SC1091
  . "$DIR/env"
  echo "export PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER"
}

# Failure path of start: the server stopped, our files gone, the log shown.
cleanup_failed() {
  local rc=$?
  trap - EXIT
  [ $rc -eq 0 ] && return 0
  echo "pg-cluster: start failed (exit $rc)" >&2
  stop_server immediate || exit $rc # never remove the files of a live server
  [ -f "$DIR/log" ] && { echo "--- server log:" >&2; tail -20 "$DIR/log" >&2; }
  [ -f "$DIR/initdb.log" ] && { echo "--- initdb:" >&2; tail -20 "$DIR/initdb.log" >&2; }
  if [ -f "$DIR/$MARK" ]; then
    rm -rf "${DIR:?}/data" "${DIR:?}/sock" "$DIR/log" "$DIR/initdb.log" "$DIR/env" "${DIR:?}/$MARK"
  fi
  exit $rc
}

start() {
  [ -d "$DIR" ] && DIR=$(cd "$DIR" && pwd)
  [ -f "$DIR/$MARK" ] && load_osuser
  if [ -f "$DIR/$MARK" ] && [ -f "$DIR/env" ] && running; then
    print_env
    return 0
  fi
  if [ -e "$DIR" ] && [ ! -f "$DIR/$MARK" ] && [ -n "$(ls -A "$DIR")" ]; then
    die "$DIR is not empty and is not a cluster of this script"
  fi
  [ -x "$PGBIN/initdb" ] || die "$PGBIN/initdb not found (Debian package postgresql-15)"
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  trap cleanup_failed EXIT
  # A leftover of an interrupted start: begin again.
  if [ -f "$DIR/$MARK" ]; then
    stop_server immediate
    rm -rf "${DIR:?}/data" "${DIR:?}/sock" "$DIR/log" "$DIR/initdb.log" "$DIR/env"
  fi
  : >"$DIR/$MARK"
  pick_osuser
  mkdir -p "$DIR/data" "$DIR/sock"
  chmod 0700 "$DIR/data"
  chmod 0755 "$DIR" "$DIR/sock"
  touch "$DIR/log" "$DIR/initdb.log"
  if [ "$(id -u)" = 0 ]; then
    chown "$OSUSER:" "$DIR/data" "$DIR/sock" "$DIR/log" "$DIR/initdb.log"
    # The server must reach DIR through every parent folder.
    setpriv --reuid="$OSUSER" --regid="$OSUSER" --init-groups -- test -x "$DIR/data" ||
      die "$OSUSER cannot reach $DIR (a parent folder is closed to others; use mktemp -d under /tmp)"
  fi
  as_owner "$PGBIN/initdb" -D "$DIR/data" -A trust -U cwadmin -E UTF8 --locale=C.UTF-8 \
    --no-instructions >"$DIR/initdb.log" 2>&1 || die "initdb failed"
  local port
  port=${CW_PG_PORT:-$((20000 + (RANDOM * 32768 + RANDOM + $$) % 40000))}
  cat >>"$DIR/data/postgresql.conf" <<CONF
# scripts/pg-cluster.sh: a throwaway test cluster
listen_addresses = ''
unix_socket_directories = '$DIR/sock'
port = $port
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
  as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 start >/dev/null ||
    die "the server did not start"
  if [ "${CW_PG_CLUSTER_FAIL:-}" = after-start ]; then die "injected failure (CW_PG_CLUSTER_FAIL=after-start)"; fi
  psql -XAtq -v ON_ERROR_STOP=1 -h "$DIR/sock" -p "$port" -U cwadmin -d postgres \
    -c "CREATE ROLE $ROLE LOGIN CREATEDB NOSUPERUSER NOCREATEROLE" \
    -c "CREATE DATABASE $ROLE OWNER $ROLE" >/dev/null || die "could not create the role $ROLE"
  printf 'PGHOST=%s\nPGPORT=%s\nPGUSER=%s\nOSUSER=%s\n' "$DIR/sock" "$port" "$ROLE" "$OSUSER" >"$DIR/env"
  trap - EXIT
  print_env
}

stop() {
  [ -e "$DIR" ] || return 0
  [ -f "$DIR/$MARK" ] || [ -z "$(ls -A "$DIR")" ] || die "$DIR is not a cluster of this script; not removing it"
  DIR=$(cd "$DIR" && pwd)
  load_osuser
  stop_server fast || die "not removing $DIR"
  rm -rf "${DIR:?}"
}

[ $# -eq 2 ] || usage
DIR=$2
[ -n "$DIR" ] || usage
case $1 in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
