#!/usr/bin/env bash
# The run lock (issue 22): two overlapping `churnwatch run`s on one database
# and drop folder. One completes fully; the other exits 7 ("another run is in
# progress (pid N since T)") having changed nothing; with --wait the second
# one runs after the first and finds nothing new. usage: run_lock.sh churnwatch
set -euo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1")
T=$(mktemp -d /tmp/cw-lock-XXXXXX)
trap 'cw_db_cleanup; kill $(jobs -p) 2>/dev/null || true; rm -rf "$T"' EXIT
cd "$T"
fail() { echo "run_lock.sh: $*"; exit 1; }
# Holds the lock from outside churnwatch: the test's own flock(2), as a run would.
hold() { python3 -c 'import fcntl,sys,time
f = open(sys.argv[1], "a+"); fcntl.flock(f, fcntl.LOCK_EX)
f.truncate(0); f.write("4242 1700000000\n"); f.flush(); open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))' "$@"; }
# Waits until somebody holds the lock file $1.
until_held() { for _ in $(seq 400); do
  python3 -c 'import fcntl,sys
f = open(sys.argv[1], "a+")
try: fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError: sys.exit(0)
sys.exit(1)' "$1" 2>/dev/null && return 0; sleep 0.05; done; fail "nobody took $1"; }

# The lock is a flock(2) on a file beside the database, held and watched here
# from outside churnwatch: a SQLite matter until PostgreSQL has its own lock.
if ! cw_sqlite_only "the run lock on DB.run.lock"; then exit 77; fi

"$BIN" simulate --accounts 300 --months 6 --seed 5 --start 2025-01-01 --out world >/dev/null
rm -rf world/truth world/manifest.json
n=$(ls world/*.csv | wc -l)

# 1. Deterministic: the lock is held; a run exits 7 at once, names the holder
# and touches neither the database nor the drop folder.
cp -r world drop0
DB_h=$(cw_db h)
"$BIN" init --db "$DB_h" >/dev/null 2>&1
"$BIN" run --db "$DB_h" --as-of 2025-05-01 --deliver no 2>/dev/null # a database to compare
cw_dump "$DB_h" >h1.sql
hold "$DB_h.run.lock" held0 5 &
until [ -e held0 ]; do sleep 0.05; done
set +e
"$BIN" run --db "$DB_h" --drop drop0 --as-of 2025-07-01 --deliver no 2>busy0.err
rc=$?
set -e
[ $rc -eq 7 ] || { cat busy0.err; fail "held lock: exit $rc, want 7"; }
grep -q "another run is in progress (pid 4242 since 2023-11-14T22:13:20Z" busy0.err ||
  fail "held lock message: $(cat busy0.err)"
cw_dump "$DB_h" >h2.sql
cmp -s h1.sql h2.sql || fail "a refused run changed the database"
[ "$(ls drop0/*.csv | wc -l)" -eq "$n" ] && [ ! -e drop0/done ] || fail "a refused run moved files"
# --wait shorter than the holder: still 7, after about that long.
set +e
s=$(date +%s.%N)
"$BIN" run --db "$DB_h" --drop drop0 --as-of 2025-07-01 --deliver no --wait 0.5 2>busy1.err
rc=$?
set -e
[ $rc -eq 7 ] || fail "--wait 0.5 on a held lock: exit $rc, want 7"
python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $s >= 0.5 else 1)" || fail "--wait did not wait"
wait

# 2. Two real runs at once: the first completes, the second is refused.
cp -r world drop
DB_r=$(cw_db r)
"$BIN" init --db "$DB_r" >/dev/null 2>&1
"$BIN" run --db "$DB_r" --drop drop --as-of 2025-07-01 --deliver no 2>a.err &
a=$!
until_held "$DB_r.run.lock"
set +e
"$BIN" run --db "$DB_r" --drop drop --as-of 2025-07-01 --deliver no 2>b.err
rc=$?
wait $a
arc=$?
set -e
[ $arc -eq 0 ] || { cat a.err; fail "first run: exit $arc"; }
[ $rc -eq 7 ] || { cat b.err; fail "overlapping run: exit $rc, want 7"; }
grep -q "another run is in progress (pid $a since " b.err || fail "overlap message: $(cat b.err)"
[ "$(wc -l <b.err)" -eq 1 ] || fail "the refused run did something: $(cat b.err)"
grep -q "ingested $n file(s)" a.err && grep -q "1 snapshot computed" a.err &&
  grep -q "^evaluate 2025-07-01" a.err || fail "first run incomplete: $(cat a.err)"
[ "$(ls drop/done/*.csv | wc -l)" -eq "$n" ] || fail "first run did not move every file"

# 3. With --wait the second run waits for the first, then has nothing new.
rm -rf drop "$DB_r.run.lock"
cw_db_reset "$DB_r"
"$BIN" init --db "$DB_r" >/dev/null 2>&1
cp -r world drop
"$BIN" run --db "$DB_r" --drop drop --as-of 2025-07-01 --deliver no 2>a.err &
a=$!
until_held "$DB_r.run.lock"
"$BIN" run --db "$DB_r" --drop drop --as-of 2025-07-01 --deliver no --wait 300 2>b.err ||
  { cat b.err; fail "waiting run failed"; }
wait $a || { cat a.err; fail "first run failed"; }
grep -q "ingested $n file(s)" a.err || fail "first run: $(cat a.err)"
grep -q "no new files in drop" b.err && grep -q "0 snapshot computed, 1 already stored" b.err ||
  fail "waiting run: $(cat b.err)"

# The exit code is documented.
"$BIN" help exit-codes | grep -q "^  7  another .churnwatch run. is in progress" || fail "help exit-codes"
echo "run_lock.sh: ok"
