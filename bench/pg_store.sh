#!/usr/bin/env bash
# SQLite vs PostgreSQL store benchmark — a measurement, not a test.
#
#   bench/pg_store.sh [ACCOUNTS] [MONTHS] [RUNS] [SNAPSHOTS] [SERVE_ACCOUNTS] [SECONDS]
#                     (defaults: 2000 12 3 52 100000 20)
#
# On the same machine in the same run, against a SQLite file and a
# PostgreSQL database (PGHOST/PGPORT/PGUSER from the environment; when PGHOST
# is unset a throwaway cluster is started with scripts/pg-cluster.sh and
# removed at exit):
#   ingest    `churnwatch ingest events.csv` of a simulated world (seed 1, as
#             bench/ingest.sh) into a database holding the small tables,
#             fresh each run (a file copy; CREATE DATABASE … TEMPLATE on PG).
#   metrics   `churnwatch metrics --from .. --to .. --every $EVERY --threads 2`:
#             SNAPSHOTS snapshots EVERY days apart (EVERY=7d by default; 104
#             snapshots fit a 12-month world with EVERY=3d) ending on the
#             world's last day, into
#             the database the last ingest run left (stored snapshots are
#             deleted before each run, not timed).
#   serve     the at-risk list (GET /api/v1/accounts) under wrk for SECONDS:
#             one `serve --threads 2` on SQLite vs two `serve --threads 1`
#             processes on PostgreSQL (the same 2 worker threads in all),
#             each PG process hit by its own wrk (-t1, half the connections)
#             at the same time; requests/s are summed, p50/p99 are the worse
#             of the two. The data is bench/serve.sh's (accounts, 12 weekly
#             scores, one model's predictions), copied to PG with `db copy`
#             (timed: COPY into PostgreSQL).
# PARTS=serve runs only the serve part, PARTS=store only ingest and metrics.
# BIN=path/to/churnwatch measures another build (e.g. the one before a change).
# Medians of RUNS (ingest, metrics; IRUNS=n sets the ingest runs apart); peak RSS is churnwatch's own
# (/usr/bin/time -v), not the PostgreSQL server's. Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${1:-2000} MONTHS=${2:-12} RUNS=${3:-3} SNAPS=${4:-52} SACC=${5:-100000} SECS=${6:-20}
EVERY=${EVERY:-7d}
BIN=${BIN:-$PWD/build/churnwatch}
OUT=$PWD/bench/out
mkdir -p "$OUT"
PGTMP=
cleanup() {
  for p in ${SPIDS:-}; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for d in run base serve; do pgdrop "$d" 2>/dev/null || true; done
  [ -z "$PGTMP" ] || scripts/pg-cluster.sh stop "$PGTMP" >/dev/null
}
trap cleanup EXIT
if [ -z "${PGHOST:-}" ]; then
  PGTMP=$(mktemp -d)
  eval "$(scripts/pg-cluster.sh start "$PGTMP")"
fi
psqlc() { PGOPTIONS='-c client_min_messages=error' psql -X -q -v ON_ERROR_STOP=1 -d "${2:-postgres}" -c "$1" >/dev/null; }
PGPFX=cwbench_$$
pgurl() { echo "postgresql:///${PGPFX}_$1"; }
pgdrop() { psqlc "DROP DATABASE IF EXISTS ${PGPFX}_$1"; }

W=$OUT/world-$ACCOUNTS-$MONTHS
EVENTS=0
if [ "${PARTS:-all}" != serve ]; then # the serve part does not need the world
  if [ ! -f "$W/manifest.json" ]; then
    "$BIN" simulate --accounts "$ACCOUNTS" --months "$MONTHS" --seed 1 --out "$W" >/dev/null
  fi
  EVENTS=$(python3 -c "import json;print(json.load(open('$W/manifest.json'))['events'])")
  SMALL=$(ls "$W"/*.csv | grep -v events.csv)
fi

# measure LABEL CMD...: appends "LABEL wall_s peak_rss_kib" to $OUT/pgtimes.
measure() {
  local label=$1; shift
  /usr/bin/time -v -o "$OUT/pgt.$$" "$@" >/dev/null 2>"$OUT/pgerr.$$" || { cat "$OUT/pgerr.$$" "$OUT/pgt.$$"; exit 1; }
  python3 - "$label" "$OUT/pgt.$$" >>"$OUT/pgtimes" <<'PY'
import sys, re
t = open(sys.argv[2]).read()
w = re.search(r"Elapsed \(wall clock\) time.*: (.*)", t).group(1).split(":")
s = sum(float(x) * 60 ** i for i, x in enumerate(reversed(w)))
rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)
print(sys.argv[1], s, rss)
PY
}
: >"$OUT/pgtimes"

if [ "${PARTS:-all}" != serve ]; then
# ---- bases: the small tables, loaded once per backend ----
rm -f "$OUT"/pgb-base.db* "$OUT"/pgb-run.db*
"$BIN" init --db "$OUT/pgb-base.db" >/dev/null 2>&1
echo "$SMALL" | xargs "$BIN" ingest --db "$OUT/pgb-base.db" --progress never >/dev/null
pgdrop base; pgdrop run
psqlc "CREATE DATABASE ${PGPFX}_base"
"$BIN" init --db "$(pgurl base)" >/dev/null 2>&1
echo "$SMALL" | xargs "$BIN" ingest --db "$(pgurl base)" --progress never >/dev/null

# ---- ingest, then metrics on what the last run left ----
read -r FROM TO <<<"$(python3 - "$W/manifest.json" "$SNAPS" "${EVERY%d}" <<'PY'
import json, sys, datetime as dt
m = json.load(open(sys.argv[1])); n = int(sys.argv[2]); every = int(sys.argv[3])
end = dt.date.fromisoformat(m["end"]) if "end" in m else dt.date.fromisoformat(m["start"]) + dt.timedelta(days=30*m["months"])
to = end - dt.timedelta(days=1)
fr = to - dt.timedelta(days=every*(n-1))
if fr < dt.date.fromisoformat(m["start"]):
    sys.exit(f"pg_store.sh: {n} snapshots every {every}d start at {fr}, before the world's start {m['start']}")
print(fr, to)
PY
)"
CLEAR="DELETE FROM metric_snapshots; DELETE FROM account_metrics; DELETE FROM account_peers; DELETE FROM user_metrics;"
for i in $(seq "${IRUNS:-$RUNS}"); do
  rm -f "$OUT"/pgb-run.db*; cp "$OUT/pgb-base.db" "$OUT/pgb-run.db"
  measure ingest-sqlite "$BIN" ingest --db "$OUT/pgb-run.db" --progress never "$W/events.csv"
  pgdrop run; psqlc "CREATE DATABASE ${PGPFX}_run TEMPLATE ${PGPFX}_base"
  measure ingest-pg "$BIN" ingest --db "$(pgurl run)" --progress never "$W/events.csv"
done
psqlc "VACUUM ANALYZE" "${PGPFX}_run"
for i in $(seq "$RUNS"); do
  sqlite3 "$OUT/pgb-run.db" "$CLEAR"
  measure metrics-sqlite "$BIN" metrics --db "$OUT/pgb-run.db" --from "$FROM" --to "$TO" --every "$EVERY" --threads 2
  psqlc "$CLEAR" "${PGPFX}_run"
  measure metrics-pg "$BIN" metrics --db "$(pgurl run)" --from "$FROM" --to "$TO" --every "$EVERY" --threads 2
done

fi

if [ "${PARTS:-all}" != store ]; then
# ---- serve: bench/serve.sh's data, on SQLite and copied to PG ----
SDB=$OUT/serve-$SACC.db
if [ ! -f "$SDB" ]; then
  # bench/serve.sh builds it (and measures it; its output is not used here).
  bench/serve.sh "$SACC" 1 2 >/dev/null
fi
pgdrop serve; psqlc "CREATE DATABASE ${PGPFX}_serve"
"$BIN" init --db "$(pgurl serve)" >/dev/null 2>&1
measure copy-to-pg "$BIN" db copy --from "$SDB" --to "$(pgurl serve)" --replace
psqlc "VACUUM ANALYZE" "${PGPFX}_serve"
SPIDS=
start_serve() { # DB THREADS: sets URL and SPID (also appended to SPIDS)
  local o=$OUT/pgserve.$RANDOM
  "$BIN" serve --db "$1" --listen 127.0.0.1:0 --threads "$2" >"$o.out" 2>"$o.err" &
  SPID=$!
  SPIDS="$SPIDS $SPID"
  for _ in $(seq 100); do grep -qs http:// "$o.out" && break; sleep 0.1; done
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$o.out")
}
P=/api/v1/accounts
wrk1() { # URL TOKEN THREADS CONNS OUTFILE
  curl -s -o /dev/null -H "Authorization: Bearer $2" "$1$P" # cold build, not timed
  wrk -t"$3" -c"$4" -d"${SECS}s" --latency -H "Authorization: Bearer $2" "$1$P" >"$5"
}
TOK=$("$BIN" token create --db "$SDB" --role read --name pgbench 2>/dev/null)
start_serve "$SDB" 2
wrk1 "$URL" "$TOK" 2 16 "$OUT/wrk-sqlite.txt"
RSS_S=$(awk '/VmHWM/ {print $2}' /proc/$SPID/status)
kill $SPID; wait $SPID 2>/dev/null || true
TOKP=$("$BIN" token create --db "$(pgurl serve)" --role read --name pgbench 2>/dev/null)
start_serve "$(pgurl serve)" 1; U1=$URL P1=$SPID
start_serve "$(pgurl serve)" 1; U2=$URL P2=$SPID
wrk1 "$U1" "$TOKP" 1 8 "$OUT/wrk-pg1.txt" & W1=$!
wrk1 "$U2" "$TOKP" 1 8 "$OUT/wrk-pg2.txt"
wait $W1
RSS_P=$(( $(awk '/VmHWM/ {print $2}' /proc/$P1/status) + $(awk '/VmHWM/ {print $2}' /proc/$P2/status) ))
fi

python3 - "$OUT" "$EVENTS" "$ACCOUNTS" "$MONTHS" "$RUNS" "$SNAPS" "$SACC" "${RSS_S:-0}" "${RSS_P:-0}" "${PARTS:-all}" "$EVERY" <<'PY'
import sys, os, re, statistics as st, subprocess
out, events, acc, months, runs, snaps, sacc = sys.argv[1], int(sys.argv[2]), *sys.argv[3:8]
rss_s, rss_p = int(sys.argv[8]) / 1024, int(sys.argv[9]) / 1024
t = {}
for l in open(os.path.join(out, "pgtimes")):
    k, s, r = l.split(); t.setdefault(k, []).append((float(s), int(r) / 1024))
med = lambda k: st.median(x[0] for x in t[k])
rss = lambda k: max(x[1] for x in t[k])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
pgv = subprocess.run(["psql", "-XAtc", "SHOW server_version", "postgres"], capture_output=True, text=True).stdout.strip()
print(f"machine: {cpu}, {os.cpu_count()} cores; PostgreSQL {pgv} on a Unix socket; load: {open('/proc/loadavg').read().split()[:3]}")
n = lambda k: len(t[k])
parts = sys.argv[10]
if parts != "serve":
  print(f"world: {acc} accounts x {months} months, {events:,} events; median of {n('ingest-pg')} ingest and {n('metrics-pg')} metrics runs")
  print()
  every = sys.argv[11]
  runs_of = lambda k: ", ".join(f"{x[0]:.2f}" for x in t[k])
  print("| what | backend | runs (s) | median s | throughput | peak RSS MiB (churnwatch) | PG / SQLite |")
  print("|---|---|---|---|---|---|---|")
  si, pi = med("ingest-sqlite"), med("ingest-pg")
  print(f"| ingest events.csv | SQLite | {runs_of('ingest-sqlite')} | {si:.2f} | {events/si:,.0f} events/s | {rss('ingest-sqlite'):.0f} | |")
  print(f"| ingest events.csv | PostgreSQL | {runs_of('ingest-pg')} | {pi:.2f} | {events/pi:,.0f} events/s | {rss('ingest-pg'):.0f} | {si/pi:.0%} |")
  sm, pm = med("metrics-sqlite"), med("metrics-pg")
  print(f"| metrics, {snaps} snapshots every {every} | SQLite | {runs_of('metrics-sqlite')} | {sm:.2f} | {int(snaps)/sm:.2f} snapshots/s | {rss('metrics-sqlite'):.0f} | |")
  print(f"| metrics, {snaps} snapshots every {every} | PostgreSQL | {runs_of('metrics-pg')} | {pm:.2f} | {int(snaps)/pm:.2f} snapshots/s | {rss('metrics-pg'):.0f} | {sm/pm:.0%} |")
def wrk(p):
    w = open(os.path.join(out, p)).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
    lat = lambda q: re.search(rf"^\s+{q}%\s+(\S+)", w, re.M).group(1)
    non = re.search(r"Non-2xx.*:\s+(\d+)", w)
    return rps, lat(50), lat(99), int(non.group(1)) if non else 0
def ms(x):
    return float(x[:-2]) if x.endswith("ms") else float(x[:-2]) / 1000 if x.endswith("us") else float(x[:-1]) * 1000
if parts != "store":
  s = wrk("wrk-sqlite.txt"); a = wrk("wrk-pg1.txt"); b = wrk("wrk-pg2.txt")
  print()
  print(f"at-risk list (`GET /api/v1/accounts`), {sacc} accounts, wrk 16 connections in all:")
  print()
  print("| backend | servers | requests/s | p50 | p99 | non-2xx | server peak RSS MiB | PG / SQLite |")
  print("|---|---|---|---|---|---|---|---|")
  print(f"| SQLite | 1 x `--threads 2` | {s[0]:,.0f} | {s[1]} | {s[2]} | {s[3]} | {rss_s:.0f} | |")
  p50 = max(a[1], b[1], key=ms); p99 = max(a[2], b[2], key=ms)
  print(f"| PostgreSQL | 2 x `--threads 1` | {a[0]+b[0]:,.0f} ({a[0]:,.0f} + {b[0]:,.0f}) | {p50} | {p99} | {a[3]+b[3]} | {rss_p:.0f} (both) | {(a[0]+b[0])/s[0]:.0%} |")
  print()
  print(f"`db copy` of that database, SQLite to PostgreSQL (COPY): {med('copy-to-pg'):.1f} s, peak RSS {rss('copy-to-pg'):.0f} MiB")
PY
