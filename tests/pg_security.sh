#!/usr/bin/env bash
# The PostgreSQL store's credentials (issue 17, docs/postgres.md):
#   1. store.password_env: a role with a password connects with it, and the
#      password appears in no output (config show, status, doctor, json
#      logs, serve, a failed command's error); an unset variable is exit 3;
#   2. a password written in --db is warned about, honoured, and masked;
#   3. libpq parameters pass through: sslmode=require reaches libpq (its own
#      "server does not support SSL" against a listener that answers no);
#   4. the rights of docs/postgres.md "The role": an owner of its database
#      alone runs init, run and serve; a role with SELECT only reads
#      (status, serve) and a write fails with the server's permission error.
# PostgreSQL only (77 elsewhere). Needs the cluster of scripts/pg-cluster.sh:
# its superuser ($CW_PG_ADMIN, default cwadmin) makes the roles and edits
# pg_hba.conf (password lines for this test's roles, removed at exit).
# usage: pg_security.sh churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
cw_is_pg || { echo "SKIP: PostgreSQL only (CW_TEST_BACKEND=pg)"; exit 77; }
ADMIN=${CW_PG_ADMIN:-cwadmin}
T=$(mktemp -d /tmp/cw-pgsec-XXXXXX)
OWN=cw_sec_own_$$ RO=cw_sec_ro_$$ DBN=cw_sec_$$
PW1="Own-pw-$$-$RANDOM-xyzzy" PW2="Ro-pw-$$-$RANDOM-plugh"
HBA=
SPID=
fail() { echo "pg_security.sh: $*"; exit 1; }
adm() { psql -X -q -At -v ON_ERROR_STOP=1 -U "$ADMIN" -d postgres "$@"; }
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
  if [ -n "$HBA" ]; then
    sed -i "/ cw_sec_[a-z]*_$$ /d" "$HBA" && adm -c 'SELECT pg_reload_conf()' >/dev/null
  fi
  adm -c "DROP DATABASE IF EXISTS $DBN WITH (FORCE)" 2>/dev/null
  adm -c "DROP ROLE IF EXISTS $RO" -c "DROP ROLE IF EXISTS $OWN" 2>/dev/null
  cw_db_cleanup
  if [ -n "${CW_TEST_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap 'cleanup || true' EXIT
cd "$T"
# Only what this test gives: no PGPASSWORD, no ~/.pgpass.
unset PGPASSWORD PGUSER
export PGPASSFILE=$T/no-pgpass

# The roles: one owns the database and has no other right; one may only read.
adm -c "CREATE ROLE $OWN LOGIN PASSWORD '$PW1' NOSUPERUSER NOCREATEDB NOCREATEROLE" \
    -c "CREATE ROLE $RO LOGIN PASSWORD '$PW2' NOSUPERUSER NOCREATEDB NOCREATEROLE" \
    -c "CREATE DATABASE $DBN OWNER $OWN" -c "REVOKE ALL ON DATABASE $DBN FROM PUBLIC"
# (PostgreSQL 15: the database owner owns public through pg_database_owner)
psql -X -q -U "$ADMIN" -d "$DBN" -c "REVOKE ALL ON SCHEMA public FROM PUBLIC"
# Password authentication for them, ahead of the cluster's trust lines.
HBA=$(adm -c 'SHOW hba_file')
sed -i "1i local all $OWN scram-sha-256\nlocal all $RO scram-sha-256" "$HBA"
adm -c 'SELECT pg_reload_conf()' >/dev/null
sleep 0.2

KV="host=$PGHOST port=$PGPORT dbname=$DBN user=$OWN"
KV_RO="host=$PGHOST port=$PGPORT dbname=$DBN user=$RO"
# cw NAME ARGS...: churnwatch ARGS, stdout+stderr to NAME.out (all kept for
# the final grep), its exit code in NAME.rc; never fails the script.
cw() { local n=$1; shift; set +e; "$BIN" "$@" >"$n.out" 2>&1; echo $? >"$n.rc"; set -e; }
rc() { cat "$1.rc"; }
want() { [ "$(rc "$1")" = "$2" ] || { cat "$1.out"; fail "$1: exit $(rc "$1"), want $2"; }; }
has() { grep -q -- "$2" "$1.out" || { cat "$1.out"; fail "$1: no '$2' in its output"; }; }

# 1. Without a password the role cannot connect: libpq's own message.
cw nopw status --db "$KV"
[ "$(rc nopw)" != 0 ] || fail "connected without a password"
has nopw "password"
# store.password_env naming an unset variable: a configuration error.
unset CW_SEC_NOPE
cw unset status --db "$KV" --set store.password_env=CW_SEC_NOPE
want unset 3
has unset "store.password_env: environment variable CW_SEC_NOPE is not set"

# 2. password_env: init, run, token, status, doctor, config show, json logs.
export CW_SEC_PW=$PW1
P=(--set store.password_env=CW_SEC_PW)
cw init init --db "$KV" "${P[@]}"
want init 0
"$BIN" simulate --accounts 80 --months 4 --seed 3 --start 2025-01-01 --out drop >/dev/null
rm -rf drop/truth drop/manifest.json
cw run run --db "$KV" "${P[@]}" --drop drop --as-of 2025-04-01
want run 0
cw token token create --db "$KV" "${P[@]}" --role read --name sec
want token 0
cw wtoken token create --db "$KV" "${P[@]}" --role write --name secw
want wtoken 0
TOKEN=$(grep -o '^cw_[^ ]*' token.out | head -1)
[ -n "$TOKEN" ] || { cat token.out; fail "no token printed"; }
cw status status --db "$KV" "${P[@]}"
want status 0
cw json --log-format json status --db "$KV" "${P[@]}"
want json 0
cw doctor doctor --db "$KV" "${P[@]}"
has doctor "database: .*schema"
cw show config show --set "store.db=$KV" "${P[@]}"
has show "password_env = CW_SEC_PW"
# A failing query (the role may not create a database object elsewhere) and a
# failing connection (no such database) both say why, masked.
cw baddb status --db "host=$PGHOST port=$PGPORT dbname=${DBN}_nope user=$OWN" "${P[@]}"
[ "$(rc baddb)" != 0 ] || fail "status on a missing database succeeded"
has baddb "does not exist"
cw badjson --log-format json status --db "host=$PGHOST port=$PGPORT dbname=${DBN}_nope user=$OWN" "${P[@]}"
[ "$(rc badjson)" != 0 ] || fail "status on a missing database succeeded (json)"

# serve as the owner: /metrics and an API read, the startup line.
serve_up() { # NAME ARGS...: starts serve, sets SPID and PORT
  local n=$1; shift
  "$BIN" serve --listen 127.0.0.1:0 "$@" >"$n.out" 2>"$n.err" &
  SPID=$!
  for _ in $(seq 200); do grep -q serving "$n.out" 2>/dev/null && break; sleep 0.05; done
  grep -q serving "$n.out" || { cat "$n.out" "$n.err"; fail "$n: serve did not start"; }
  PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$n.out")
}
# get NAME PATH: GET PATH from the server with the read token into NAME.out
get() {
  local code
  code=$(curl -s -m 30 -o "$1.out" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT$2") || true
  [ "$code" = 200 ] || { cat "$1.out"; fail "$1: GET $2 answered $code"; }
}
serve_down() { kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=; cat "$1.err" >>"$1.out"; }
serve_up serve --db "$KV" "${P[@]}"
get metrics /metrics
get api /api/v1/alerts
serve_down serve

# 3. A password inside --db: warned about, still used, masked everywhere.
unset CW_SEC_PW
URI="postgresql://$OWN:$PW1@/$DBN?host=$PGHOST&port=$PGPORT"
cw ustatus status --db "$URI"
want ustatus 0
has ustatus "warning: store.db holds a password"
cw ushow config show --set "store.db=$URI"
has ushow "warning: store.db holds a password"
has ushow "db = postgresql://$OWN:\*\*\*@/$DBN"
cw udoctor doctor --db "$URI"
has udoctor "database: postgresql://$OWN:\*\*\*@"
cw ujson --log-format json status --db "$URI"
want ujson 0
KVPW="$KV password=$PW1"
cw kshow config show --set "store.db=$KVPW"
has kshow "password=\*\*\*"
cw kstatus status --db "$KVPW"
want kstatus 0
# failures: a wrong database, a wrong password, in both spellings
cw ubad status --db "postgresql://$OWN:$PW1@/${DBN}_nope?host=$PGHOST&port=$PGPORT"
[ "$(rc ubad)" != 0 ] || fail "status on a missing database succeeded"
has ubad "cannot connect to PostgreSQL"
cw kbad --log-format json status --db "host=$PGHOST port=$PGPORT dbname=${DBN}_nope user=$OWN password=$PW1"
[ "$(rc kbad)" != 0 ] || fail "status on a missing database succeeded"
cw wrongpw status --db "postgresql://$OWN:${PW1}x@/$DBN?host=$PGHOST&port=$PGPORT"
has wrongpw "password authentication failed"
serve_up userve --db "$URI"
get umetrics /metrics
serve_down userve
grep -q "postgresql://$OWN:\*\*\*@" userve.out || { cat userve.out; fail "serve: no masked db line"; }

# 4. sslmode and other parameters reach libpq: a listener that answers "no"
# to SSL makes libpq's own complaint, sslmode=disable talks on.
python3 - >ssl.port <<'EOF' &
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True); sys.stdout.close()
for _ in range(2):
    c, _a = s.accept(); c.settimeout(5)
    try:
        if c.recv(8)[4:8] == b"\x04\xd2\x16\x2f": c.sendall(b"N")  # SSLRequest: no
    except OSError: pass
    c.close()
EOF
LPID=$!
for _ in $(seq 100); do [ -s ssl.port ] && break; sleep 0.05; done
SSLPORT=$(cat ssl.port)
cw ssl status --db "postgresql://$OWN@127.0.0.1:$SSLPORT/$DBN?sslmode=require&connect_timeout=3"
[ "$(rc ssl)" != 0 ] || fail "sslmode=require against a non-SSL server succeeded"
has ssl "server does not support SSL, but SSL was required"
cw nossl status --db "postgresql://$OWN@127.0.0.1:$SSLPORT/$DBN?sslmode=disable&connect_timeout=3"
[ "$(rc nossl)" != 0 ] || fail "a fake server answered"
if grep -q "does not support SSL" nossl.out; then cat nossl.out; fail "sslmode=disable asked for SSL"; fi
kill $LPID 2>/dev/null || true
wait $LPID 2>/dev/null || true
cw badssl status --db "postgresql://$OWN@/$DBN?host=$PGHOST&port=$PGPORT&sslmode=bogus"
has badssl "sslmode"

# 5. The read-only role: SELECT on the tables, nothing else.
psql -X -q -U "$ADMIN" -d "$DBN" -v ON_ERROR_STOP=1 \
  -c "GRANT CONNECT ON DATABASE $DBN TO $RO" -c "GRANT USAGE ON SCHEMA public TO $RO" \
  -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO $RO"
export CW_SEC_RO=$PW2
R=(--set store.password_env=CW_SEC_RO)
cw rostatus status --db "$KV_RO" "${R[@]}"
want rostatus 0
cw rojson --log-format json status --db "$KV_RO" "${R[@]}"
want rojson 0
cw rodoctor doctor --db "$KV_RO" "${R[@]}"
has rodoctor "ok    database: .*schema"
serve_up roserve --db "$KV_RO" "${R[@]}"
get roapi /api/v1/alerts
get rometrics /metrics
# an API write: refused by the server, answered as an error (not a crash)
WTOKEN=$(grep -o '^cw_[^ ]*' wtoken.out | head -1)
AID=$(grep -o '"id":[0-9]*' roapi.out | head -1 | cut -d: -f2)
code=$(curl -s -m 30 -o roack.out -w '%{http_code}' -X POST -H "Authorization: Bearer $WTOKEN" \
  -H 'Content-Type: application/json' -d '{"by":"sec"}' "http://127.0.0.1:$PORT/api/v1/alerts/$AID/ack") || true
case $code in 5??) ;; *) cat roack.out; fail "read-only role: ack answered $code, want 5xx" ;; esac
kill -0 "$SPID" || fail "serve died on a refused write"
serve_down roserve
cw rowrite token create --db "$KV_RO" "${R[@]}" --role read --name nope
[ "$(rc rowrite)" != 0 ] || fail "the read-only role wrote a token"
has rowrite "permission denied"
cw rorun run --db "$KV_RO" "${R[@]}" --drop drop --as-of 2025-04-02
[ "$(rc rorun)" != 0 ] || fail "the read-only role ran a run"
has rorun "permission denied"

# 6. No password anywhere in what churnwatch printed.
for pw in "$PW1" "$PW2"; do
  if grep -l -F -- "$pw" ./*.out; then fail "a password was printed (files above)"; fi
done
echo "pg_security: ok"
