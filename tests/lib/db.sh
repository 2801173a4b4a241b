# shellcheck shell=bash
# tests/lib/db.sh — the database of a shell test, on either backend.
# Sourced by tests/*.sh near their top (cw_db reads $PWD when called):
#   . "$(dirname "$(realpath "$0")")/lib/db.sh"
# By default every database is a SQLite file in the current folder. With
# CW_TEST_BACKEND=pg (ctest's *_pg twins, scripts/pg-cluster.sh for the
# server: PGHOST, PGPORT, PGUSER) every database is a fresh PostgreSQL
# database, dropped again by cw_db_cleanup (call it from the EXIT trap).
#   cw_db NAME             print a new database for --db: $PWD/NAME.db, or
#                          postgresql:///cw_TEST_NAME_PID?host=…&port=…
#   cw_db_clone SRC NAME   a copy of database SRC (closed: no connection open)
#   cw_db_adopt DB         drop DB too in cw_db_cleanup (made by another program)
#   cw_db_reset DB         empty DB again (rm of the files / drop + create)
#   cw_q [-csv] DB [SQL]   run SQL (or stdin), rows printed `|`-separated like
#                          `sqlite3 DB SQL`; write SQL that prints the same on
#                          both (no booleans or floats in the select list)
#   cw_dump DB [TABLE…]    the whole content, canonical, without TABLEs
#   cw_tables DB TABLE…    the rows of TABLEs (SELECT * FROM each; on PG
#                          sorted on all columns)
#   cw_integrity DB        prints ok if the database is sound
#   cw_hex COL             SQL for COL's bytes as upper-case hex (hex(COL))
#   cw_date COL            SQL for the UTC date of epoch seconds COL
#                          (date(COL, 'unixepoch'))
#   cw_datetime COL        the same as 'YYYY-MM-DD HH:MM:SS' (datetime(COL, 'unixepoch'))
#   cw_sqlite_only WHAT    true on SQLite; on PG prints "SKIP (pg): WHAT", false
#   cw_is_pg               true when the backend is PostgreSQL

CW_TEST_BACKEND=${CW_TEST_BACKEND:-sqlite}
case $CW_TEST_BACKEND in
  sqlite) ;;
  pg)
    if [ -z "${PGHOST:-}" ] || [ -z "${PGPORT:-}" ]; then
      echo "db.sh: CW_TEST_BACKEND=pg needs PGHOST and PGPORT (eval \"\$(scripts/pg-cluster.sh start DIR)\")" >&2
      exit 1
    fi
    export PGUSER=${PGUSER:-churnwatch}
    # psql, createdb and dropdb from the server's own folder: Debian's
    # /usr/bin ones are a Perl wrapper, ~0.1 s more a call under load.
    if _cw_b=$(pg_config --bindir 2>/dev/null) && [ -x "$_cw_b/psql" ]; then PATH=$_cw_b:$PATH; fi
    # The databases this test created, one per line, shared with $(…) subshells.
    CW_DB_REGISTRY=$(mktemp "${TMPDIR:-/tmp}/cw-dbs-XXXXXX") || exit 1
    # A signal ends the test through exit, so that its EXIT trap drops them.
    trap 'exit 130' INT
    trap 'exit 143' TERM
    ;;
  *) echo "db.sh: CW_TEST_BACKEND must be sqlite or pg, not '$CW_TEST_BACKEND'" >&2; exit 1 ;;
esac
CW_TEST_NAME=${CW_TEST_NAME:-$(basename "$0" .sh)}
# This folder, for Python snippets: sys.path.insert(0, CW_TEST_LIB); import cwdb
CW_TEST_LIB=$(dirname "${BASH_SOURCE[0]}")
CW_TEST_LIB=$(cd "$CW_TEST_LIB" && pwd)

cw_is_pg() { [ "$CW_TEST_BACKEND" = pg ]; }

# _cw_pgname DB: the database name inside a postgresql:// URI.
_cw_pgname() { local n=${1#postgresql:///}; echo "${n%%\?*}"; }
_cw_psql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# _cw_pgcreate NAME [TEMPLATE]: a fresh database named after the test; URI.
_cw_pgcreate() {
  local n
  n=$(printf 'cw_%s_%s' "$CW_TEST_NAME" "$(basename "$1")" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_' '_')
  n="${n:0:50}_$$"
  dropdb --if-exists --force "$n" >/dev/null 2>&1 || true
  if [ -n "${2:-}" ]; then
    # The template must have no connection open: a reader's moment is waited out.
    local i err
    for i in $(seq 20); do
      err=$(createdb -T "$2" "$n" 2>&1) && break
      if [[ $err != *"being accessed by other users"* ]] || [ "$i" = 20 ]; then
        echo "db.sh: createdb -T $2 $n failed: $err" >&2
        return 1
      fi
      sleep 0.25
    done
  else
    createdb "$n" || { echo "db.sh: createdb $n failed" >&2; return 1; }
  fi
  grep -qx "$n" "$CW_DB_REGISTRY" || echo "$n" >>"$CW_DB_REGISTRY"
  echo "postgresql:///$n?host=$PGHOST&port=$PGPORT"
}

cw_db() {
  [ $# -eq 1 ] || { echo "usage: cw_db NAME" >&2; return 2; }
  if cw_is_pg; then
    _cw_pgcreate "$1"
  else
    case $1 in /*) echo "$1.db" ;; *) echo "$PWD/$1.db" ;; esac
  fi
}

cw_db_clone() {
  [ $# -eq 2 ] || { echo "usage: cw_db_clone SRC NAME" >&2; return 2; }
  if cw_is_pg; then
    _cw_pgcreate "$2" "$(_cw_pgname "$1")"
  else
    local dst
    dst=$(cw_db "$2")
    cp -p "$1" "$dst" || return 1
    if [ -f "$1-wal" ]; then cp -p "$1-wal" "$dst-wal" || return 1; fi
    echo "$dst"
  fi
}

cw_db_adopt() {
  cw_is_pg || return 0
  local n
  n=$(_cw_pgname "$1")
  grep -qx "$n" "$CW_DB_REGISTRY" || echo "$n" >>"$CW_DB_REGISTRY"
}

cw_db_reset() {
  if cw_is_pg; then
    local n
    n=$(_cw_pgname "$1")
    dropdb --force "$n" && createdb "$n"
  else
    rm -f "$1" "$1-wal" "$1-shm" "$1-journal"
  fi
}

cw_q() {
  local csv=
  if [ "${1:-}" = -csv ]; then csv=1; shift; fi
  local db=$1; shift
  if cw_is_pg; then
    local fmt=(-A -t -F '|')
    [ -n "$csv" ] && fmt=(--csv -t)
    if [ $# -gt 0 ]; then _cw_psql "${fmt[@]}" -d "$db" -c "$1"; else _cw_psql "${fmt[@]}" -d "$db" -f -; fi
  else
    local fmt=()
    [ -n "$csv" ] && fmt=(-csv)
    sqlite3 "${fmt[@]}" "$db" "$@"
  fi
}

# cw_dump: SQLite's .dump (lines of the excluded tables' INSERTs left out);
# on PostgreSQL every table of the schema, rows sorted on all columns, so
# that equal content gives equal text whatever the physical order.
cw_dump() {
  local db=$1; shift
  if cw_is_pg; then
    # One psql for the whole dump (a psql per table is slow under load);
    # partitions are read through their parent table. The API change
    # counter's tables are machinery, not content (any write moves it).
    local t n skip x args=()
    while IFS='|' read -r t n; do
      skip=
      for x in "$@"; do [ "$x" = "$t" ] && skip=1; done
      [ -n "$skip" ] && continue
      args+=(-c "\\echo -- table $t" -c "COPY (SELECT * FROM \"$t\" ORDER BY $(seq -s, 1 "$n")) TO STDOUT")
    done < <(_cw_psql -At -d "$db" -c "SELECT c.relname, count(a.attnum) FROM pg_class c
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
                   AND NOT c.relispartition AND c.relname NOT IN ('cw_api_version', 'cw_api_pending')
                 GROUP BY c.relname ORDER BY 1")
    [ ${#args[@]} -eq 0 ] || _cw_psql -d "$db" "${args[@]}" || return 1
  else
    [ $# -eq 0 ] && { sqlite3 "$db" .dump; return; }
    local re=() x
    for x in "$@"; do re+=(-e "^INSERT INTO \"\?$x\"\? "); done
    sqlite3 "$db" .dump | grep -v "${re[@]}"
    return "${PIPESTATUS[0]}"
  fi
}

cw_tables() {
  local db=$1 t n args=(); shift
  if cw_is_pg; then
    # Two psql in all (a psql per table is slow under load).
    local names
    names=$(printf "'%s'," "$@")
    declare -A cols=()
    while IFS='|' read -r t n; do cols[$t]=$n; done < <(_cw_psql -At -d "$db" -c "SELECT table_name,
                 count(*) FROM information_schema.columns WHERE table_schema = current_schema()
                 AND table_name IN (${names%,}) GROUP BY table_name")
    for t in "$@"; do
      n=${cols[$t]:-0}
      # a missing table: psql reports it and fails, as before
      [ "$n" -gt 0 ] || n=1
      args+=(-c "COPY (SELECT * FROM \"$t\" ORDER BY $(seq -s, 1 "$n")) TO STDOUT")
    done
    [ ${#args[@]} -eq 0 ] || _cw_psql -d "$db" "${args[@]}" || return 1
  else
    for t in "$@"; do
      sqlite3 "$db" "SELECT * FROM \"$t\"" || return 1
    done
  fi
}

# cw_integrity: PRAGMA integrity_check on SQLite; on PostgreSQL the server
# keeps its own consistency: the database answering a query is the check.
cw_integrity() {
  if cw_is_pg; then
    [ "$(_cw_psql -At -d "$1" -c "SELECT 'ok'")" = ok ] && echo ok
  else
    sqlite3 "$1" "PRAGMA integrity_check"
  fi
}

cw_hex() {
  if cw_is_pg; then echo "upper(encode($1, 'hex'))"; else echo "hex($1)"; fi
}

cw_date() {
  if cw_is_pg; then
    echo "to_char(to_timestamp($1) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
  else
    echo "date($1, 'unixepoch')"
  fi
}

cw_datetime() {
  if cw_is_pg; then
    echo "to_char(to_timestamp($1) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
  else
    echo "datetime($1, 'unixepoch')"
  fi
}

cw_sqlite_only() {
  cw_is_pg || return 0
  echo "SKIP (pg): $* (SQLite files only)"
  return 1
}

cw_db_cleanup() {
  cw_is_pg || return 0
  [ -f "${CW_DB_REGISTRY:-}" ] || return 0
  # A cleanup never fails the test: DROP DATABASE … FORCE cannot end an
  # autovacuum worker for a role without superuser rights, so a busy
  # database is retried, then left (with a word) to the cluster's removal.
  local n k ok
  while read -r n; do
    [ -n "$n" ] || continue
    ok=
    for k in 1 2 3 4 5; do
      dropdb --if-exists --force "$n" >/dev/null 2>&1 && { ok=1; break; }
      sleep 1
    done
    [ -n "$ok" ] || echo "cw_db_cleanup: could not drop $n (the cluster's removal will)" >&2
  done <"$CW_DB_REGISTRY"
  rm -f "$CW_DB_REGISTRY"
}
