#!/usr/bin/env bash
# Safe defaults (issue 18): the database and its -wal / -shm files are 0600
# whatever the umask; `status` is read-only (the database file's bytes and
# mtime unchanged, an older schema not migrated, and it works on a
# read-only database in a read-only folder); secrets are masked in
# `config show`, `deliver --dry-run` and error messages. On PostgreSQL
# (CW_TEST_BACKEND=pg) the parts about SQLite's files are skipped and
# `status` read-only means the same content (cw_dump) before and after.
# usage: safe_defaults.sh churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-safe-XXXXXX)
trap 'cw_db_cleanup; kill $(jobs -p) 2>/dev/null || true; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
cd "$T"
fail() { echo "safe_defaults.sh: $*"; exit 1; }
mode() { stat -c %a "$1"; }

"$BIN" simulate --accounts 20 --months 2 --seed 3 --start 2025-01-01 --out world >/dev/null

# 1. Modes: created 0600 under the most permissive umask.
umask 000
DB_s=$(cw_db s) # $T/s.db on SQLite
"$BIN" init --db "$DB_s" 2>/dev/null
"$BIN" ingest --quiet --db "$DB_s" world/*.csv
if cw_sqlite_only "mode of s.db"; then
  [ "$(mode s.db)" = 600 ] || fail "s.db has mode $(mode s.db), want 600"
fi
# A rejects file holds raw rows: 0600 too.
printf 'ts,account_id,user_id,event\n2025-01-05T10:00:00Z,NOPE,,login\n' >bad.csv
"$BIN" ingest --quiet --db "$DB_s" --skip-bad --rejects rejects.jsonl bad.csv 2>/dev/null
[ -s rejects.jsonl ] || fail "no rejects file written"
[ "$(mode rejects.jsonl)" = 600 ] || fail "rejects.jsonl has mode $(mode rejects.jsonl), want 600"
# The -wal and -shm files exist while a connection is open: the server's.
if cw_sqlite_only "modes of s.db-wal and s.db-shm while serve runs"; then
  "$BIN" serve --db s.db --listen 127.0.0.1:0 >serve.out 2>serve.err &
  pid=$!
  for _ in $(seq 200); do grep -q serving serve.out 2>/dev/null && break; sleep 0.05; done
  grep -q serving serve.out || { cat serve.err; fail "serve did not start"; }
  for f in s.db-wal s.db-shm; do
    [ -e $f ] || fail "$f missing while serve runs"
    [ "$(mode $f)" = 600 ] || fail "$f has mode $(mode $f), want 600"
  done
  kill $pid
  wait $pid || true
fi
umask 022

# 2. status is read-only: same bytes, same mtime, json and table alike.
if cw_is_pg; then
  sum0=$(cw_dump "$DB_s" | sha256sum)
  "$BIN" status --db "$DB_s" >/dev/null
  "$BIN" status --db "$DB_s" --format json >st.json
  [ "$(cw_dump "$DB_s" | sha256sum)" = "$sum0" ] || fail "status changed the database"
else
  sum0=$(sha256sum s.db | cut -d' ' -f1)
  mt0=$(stat -c %Y.%y s.db)
  sleep 1.1 # a write would show in the mtime
  "$BIN" status --db s.db >/dev/null
  "$BIN" status --db s.db --format json >st.json
  [ "$(sha256sum s.db | cut -d' ' -f1)" = "$sum0" ] || fail "status changed the database"
  [ "$(stat -c %Y.%y s.db)" = "$mt0" ] || fail "status changed the database's mtime"
fi
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["rows"]["accounts"] == 20, d' \
  st.json || fail "status --format json: wrong accounts count"

if cw_sqlite_only "an older schema (PRAGMA user_version), a read-only database file"; then
  # An older schema is reported, not migrated.
  cp s.db old.db
  python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA user_version=3"); c.commit(); c.close()' old.db
  set +e
  "$BIN" status --db old.db >/dev/null 2>old.err
  rc=$?
  set -e
  [ $rc -ne 0 ] || fail "status on schema 3: exit 0"
  grep -q "schema version 3" old.err || { cat old.err; fail "status on schema 3: no reason"; }
  v=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA user_version").fetchone()[0])' old.db)
  [ "$v" = 3 ] || fail "status migrated an old database (user_version now $v)"

  # A read-only database in a read-only folder (a backup on read-only media).
  mkdir ro
  cp s.db ro/r.db
  chmod 0444 ro/r.db
  chmod 0555 ro
  chmod 0755 "$T"
  if [ "$(id -u)" = 0 ]; then
    # root writes anyway: read as nobody, who may not write there
    command -v setpriv >/dev/null || { echo "safe_defaults.sh: no setpriv, read-only case skipped"; exit 0; }
    cp "$BIN" "$T/cw"
    chmod 0755 "$T/cw"
    RUN=(setpriv --reuid=65534 --regid=65534 --clear-groups "$T/cw")
  else
    RUN=("$BIN")
  fi
  "${RUN[@]}" status --db "$T/ro/r.db" --format json >ro.json 2>ro.err || { cat ro.err; fail "status on a read-only database failed"; }
  cmp -s <(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"])' st.json) \
    <(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"])' ro.json) ||
    fail "status on the read-only copy differs"
  [ ! -e ro/r.db-wal ] && [ ! -e ro/r.db-shm ] || fail "files appeared in the read-only folder"
fi

# 3. Secrets masked in config show, deliver --dry-run and errors.
cat >sec.conf <<'EOF'
[deliver]
smtp_url = smtps://mailer:SMTPPASS@smtp.example.com:465
[action.hook]
type = webhook
url = https://bot:URLPASS@hooks.example.com/in?token=QTOKEN
secret = INLINESECRET
EOF
"$BIN" --config sec.conf config show >show.txt
for s in SMTPPASS URLPASS QTOKEN INLINESECRET; do
  ! grep -q $s show.txt || fail "config show prints $s"
done
grep -qx 'url = https://bot:\*\*\*@hooks.example.com/in?token=\*\*\*' show.txt || fail "config show: url not masked as expected"
grep -qx 'secret = \*\*\*' show.txt || fail "config show: secret not masked"

# An error quoting a URL with credentials.
set +e
"$BIN" --config sec.conf --set 'deliver.smtp_url=ftp://u:ERRPASS@h' check-config >/dev/null 2>err.txt
set -e
! grep -q ERRPASS err.txt || fail "an error message prints the password: $(cat err.txt)"
grep -q 'ftp://u:\*\*\*@h' err.txt || { cat err.txt; fail "error message: URL not masked"; }

# deliver --dry-run: queue one webhook message through a rule, then look.
cat >>sec.conf <<'EOF'
[rule.always]
scope = account
when = 1 > 0
severity = warning
playbook = p
[playbook.p]
actions = hook
control_share = 0
EOF
"$BIN" --config sec.conf run --db "$DB_s" --as-of 2025-02-20 --deliver no >/dev/null 2>run.err || { cat run.err; fail "run failed"; }
"$BIN" --config sec.conf deliver --db "$DB_s" --dry-run --limit 3 >dry.txt 2>dry.err
grep -q 'POST https://bot:\*\*\*@hooks.example.com/in?token=\*\*\*' dry.txt || { head dry.txt; fail "dry run: URL not masked"; }
for s in URLPASS QTOKEN INLINESECRET; do
  ! grep -q $s dry.txt dry.err || fail "deliver --dry-run prints $s"
done
echo "safe_defaults.sh: ok"
