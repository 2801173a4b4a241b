#!/usr/bin/env bash
# Ingest throughput benchmark — a measurement, not a test.
#
#   bench/ingest.sh [ACCOUNTS] [MONTHS] [RUNS]     (defaults: 2000 12 3)
#
# Simulates a world (2000 accounts x 12 months is about 10M events), loads
# the small tables once, then times, RUNS times each on a fresh copy of that
# database:
#   churnwatch  `churnwatch ingest events.csv`: parse, validate every field,
#               resolve references, de-duplicate, roll up, commit (WAL).
#   re-ingest   the same file again into the loaded database (all duplicates).
#   reference   `sqlite3 .import` of the same CSV into an empty table: no
#               validation, no rollup, one TEXT row per line — measured in the
#               same run on the same machine.
#   mapped      the same events through a [source] mapping (docs/importers.md),
#               against the native path on the same rows: a CSV with renamed
#               headers against the native CSV; against native JSON Lines:
#               JSON Lines with the same renamed keys; "renamed + nested"
#               JSON Lines (the same information, keys renamed, the account,
#               user and value one object down: acct.id, who.id,
#               props.value); and JSON Lines shaped like Segment's (renamed
#               keys, nested context.groupId and properties.value, plus
#               `type` and 27% more bytes: a harsher case). MAPPED=0 skips
#               this part.
# Prints medians (wall seconds, events/s, MB/s) and peak RSS as a Markdown
# table, ready for docs/benchmarks.md. BIN=path/to/churnwatch times another
# build (e.g. the one before a change) on the same data; BASE=path/to/churnwatch
# runs that build's mapped part too, interleaved run by run with BIN's (a
# before/after table); CORE=0 runs only the mapped part.
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${1:-2000} MONTHS=${2:-12} RUNS=${3:-3}
BIN=${BIN:-$PWD/build/churnwatch}
OUT=$PWD/bench/out
mkdir -p "$OUT"
W=$OUT/world-$ACCOUNTS-$MONTHS
if [ ! -f "$W/manifest.json" ]; then
  "$BIN" simulate --accounts "$ACCOUNTS" --months "$MONTHS" --seed 1 --out "$W" >/dev/null
fi
EVENTS=$(python3 -c "import json;print(json.load(open('$W/manifest.json'))['events'])")
BYTES=$(stat -c %s "$W/events.csv")
rm -f "$OUT"/base.db*
"$BIN" init --db "$OUT/base.db" >/dev/null 2>&1
ls "$W"/*.csv | grep -v events.csv | xargs "$BIN" ingest --db "$OUT/base.db" --progress never >/dev/null

measure() { # label, command...; appends "label seconds rss_kib" to $OUT/times
  local label=$1; shift
  /usr/bin/time -f "%e %M %U %S" -o "$OUT/t.$$" "$@" >/dev/null 2>"$OUT/err.$$" || { cat "$OUT/err.$$"; exit 1; }
  awk '{print $3 + $4}' "$OUT/t.$$" >"$OUT/cpu.$$"
  echo "$label $(awk '{print $1, $2}' "$OUT/t.$$")" >>"$OUT/times"
}
: >"$OUT/times"
for i in $(seq "$RUNS"); do
  [ "${CORE:-1}" = 1 ] || break # CORE=0: only the mapped table
  rm -f "$OUT"/run.db*; cp "$OUT/base.db" "$OUT/run.db"
  "$BIN" init --db "$OUT/run.db" >/dev/null 2>&1
  measure churnwatch "$BIN" ingest --db "$OUT/run.db" --progress never "$W/events.csv"
  measure re-ingest "$BIN" ingest --db "$OUT/run.db" --progress never "$W/events.csv"
  rm -f "$OUT"/ref.db*
  measure reference sqlite3 "$OUT/ref.db" -cmd ".mode csv" ".import $W/events.csv events"
done
if [ "${MAPPED:-1}" = 1 ]; then
  # The same rows in the other shapes, written once per world.
  if [ ! -f "$W/events-nested.jsonl" ]; then
    python3 - "$W" <<'PY'
import csv, json, sys
w = sys.argv[1]
with open(f"{w}/events.csv", newline="") as f, open(f"{w}/events-renamed.csv", "w", newline="") as rc, \
     open(f"{w}/events-native.jsonl", "w") as nj, open(f"{w}/events-mapped.jsonl", "w") as mj, \
     open(f"{w}/events-renamed.jsonl", "w") as rj, open(f"{w}/events-nested.jsonl", "w") as nn:
    r = csv.DictReader(f)
    out = csv.writer(rc, lineterminator="\n")
    out.writerow(["Time", "Account", "User", "Event Name", "Amount", "Message ID"])
    for row in r:
        g = lambda k: row.get(k) or ""
        out.writerow([g("ts"), g("account_id"), g("user_id"), g("event"), g("value"), g("event_id")])
        ren = {"Time": g("ts"), "Account": g("account_id"), "User": g("user_id"),
               "Event Name": g("event"), "Amount": g("value"), "Message ID": g("event_id")}
        rj.write(json.dumps({k: v for k, v in ren.items() if v}, separators=(",", ":")) + "\n")
        n = {k: v for k, v in row.items() if v}
        # Renamed + nested: the native line's information, no more.
        t = {"when": g("ts"), "acct": {"id": g("account_id")}}
        if g("user_id"): t["who"] = {"id": g("user_id")}
        t["what"] = g("event")
        if g("value"): t["props"] = {"value": g("value")}
        if g("event_id"): t["id"] = g("event_id")
        nn.write(json.dumps(t, separators=(",", ":")) + "\n")
        nj.write(json.dumps(n, separators=(",", ":")) + "\n")
        m = {"type": "track", "timestamp": g("ts"), "context": {"groupId": g("account_id")},
             "event": g("event")}
        if g("user_id"): m["userId"] = g("user_id")
        if g("value"): m["properties"] = {"value": float(g("value"))}
        if g("event_id"): m["messageId"] = g("event_id")
        mj.write(json.dumps(m, separators=(",", ":")) + "\n")
PY
  fi
  cat >"$OUT/bench.conf" <<'INI'
[source.renamed]
kind = events
ts = Time
account_id = Account
user_id = User
event = Event Name
value = Amount
event_id = Message ID

[source.nested]
kind = events
ts = when
account_id = acct.id
user_id = who.id
event = what
value = props.value
event_id = id

[source.segment_like]
kind = events
where = type in track, page
ts = timestamp
account_id = context.groupId
user_id = userId
event = event
value = properties.value
event_id = messageId
INI
  for i in $(seq "$RUNS"); do
    for shape in "native-csv:$W/events.csv:" "mapped-csv:$W/events-renamed.csv:--source renamed" \
                 "native-jsonl:$W/events-native.jsonl:" \
                 "mapped-jsonl:$W/events-renamed.jsonl:--source renamed" \
                 "renamed+nested-jsonl:$W/events-nested.jsonl:--source nested" \
                 "segment-jsonl:$W/events-mapped.jsonl:--source segment_like"; do
      IFS=: read -r label file src <<<"$shape"
      # BASE=path/to/churnwatch: that build too, run by run with BIN's.
      for bin in ${BASE:+"$BASE"} "$BIN"; do
        pre=; [ "$bin" = "${BASE:-}" ] && pre=before@
        rm -f "$OUT"/run.db*; cp "$OUT/base.db" "$OUT/run.db"
        # shellcheck disable=SC2086
        measure "$pre$label" "$bin" --config "$OUT/bench.conf" ingest --db "$OUT/run.db" --progress never $src "$file"
        # CPU seconds too: on a shared machine they vary less than wall time.
        echo "${pre}cpu-$label $(awk '{print $1}' "$OUT/cpu.$$") 0" >>"$OUT/times"
      done
    done
  done
fi
rm -f "$OUT/t.$$" "$OUT/err.$$" "$OUT/cpu.$$"
python3 - "$OUT/times" "$EVENTS" "$BYTES" "$RUNS" <<'PY'
import statistics, sys, platform, os, subprocess
times, events, size, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = {}
for line in open(times):
    label, secs, rss = line.split()
    rows.setdefault(label, []).append((float(secs), int(rss)))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {cpu}, {os.cpu_count()} cores; {events:,} events, {size/1e6:.0f} MB CSV; median of {runs} runs")
print()
if "reference" in rows:
    print("| what | median s | events/s | MB/s | peak RSS MiB | vs reference |")
    print("|---|---|---|---|---|---|")
    ref = statistics.median(s for s, _ in rows["reference"])
for label in ("churnwatch", "re-ingest", "reference") if "reference" in rows else ():
    s = statistics.median(x for x, _ in rows[label])
    rss = max(r for _, r in rows[label]) / 1024
    print(f"| {label} | {s:.2f} | {events/s:,.0f} | {size/1e6/s:.0f} | {rss:.0f} | {ref/s:.2f}x |")
if "mapped-csv" in rows:
    builds = [("before", "before@"), ("after", "")] if "before@mapped-csv" in rows else [(None, "")]
    b = "| build " if builds[0][0] else ""
    print()
    print(f"{b}| same rows | native s (CPU s) | mapped s (CPU s) | mapped events/s | peak RSS MiB, native / mapped | cost, wall | cost, CPU |")
    print(f"{'|---' if b else ''}|---|---|---|---|---|---|---|")
    med = lambda k: statistics.median(x for x, _ in rows[k])
    rss = lambda k: max(r for _, r in rows[k]) / 1024
    for name, pre in builds:
        for shape, native in (("csv", "csv"), ("jsonl", "jsonl"), ("renamed+nested-jsonl", "jsonl"),
                              ("segment-jsonl", "jsonl")):
            mk = pre + (shape if "-" in shape else f"mapped-{shape}")
            nk = f"{pre}native-{native}"
            n, m = med(nk), med(mk)
            nc = med(f"{pre}cpu-native-{native}")
            mc = med(f"{pre}cpu-" + (shape if "-" in shape else f"mapped-{shape}"))
            print(f"{'| ' + name + ' ' if name else ''}| {shape} | {n:.2f} ({nc:.2f}) | {m:.2f} ({mc:.2f}) | "
                  f"{events/m:,.0f} | {rss(nk):.0f} / {rss(mk):.0f} | "
                  f"{100*(m-n)/n:+.1f}% | {100*(mc-nc)/nc:+.1f}% |")
PY
