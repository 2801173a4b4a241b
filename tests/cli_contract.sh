#!/usr/bin/env bash
# The CLI contract (issues 16 and 18): one command table drives parsing, help,
# the man pages and the completions; typos get the nearest name; only `init`
# creates a database; --format json is one document and jsonl one object a
# line; --offset / --limit select the same rows in every format.
# usage: cli_contract.sh path/to/churnwatch path/to/build-dir
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
BIN=$(realpath "$1"); BUILD=$(realpath "$2")
T=$(mktemp -d /tmp/cw-contract-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"
export CHURNWATCH_CONFIG=
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# expect NAME WANT_RC WANT_TEXT -- ARGS...: exit code and a text in stdout+stderr.
expect() {
  local name=$1 want_rc=$2 want=$3; shift 4
  local out rc
  out=$("$BIN" "$@" 2>&1); rc=$?
  if [ "$rc" = "$want_rc" ] && [[ "$out" == *"$want"* ]]; then ok; else
    bad "$name: want exit $want_rc and '$want', got exit $rc: $(echo "$out" | head -3)"
  fi
}

complete_words() { # complete_words WORD...: what bash completes for the last word
  bash -c '
    complete() { :; }
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    _churnwatch
    echo "${COMPREPLY[*]}"' sh "$BUILD/completions/churnwatch.bash" "$@"
}

# ---- the table is consistent with itself -----------------------------------
out=$("$BIN" help --check 2>&1) && ok || bad "help --check: $out"
# Every option the bash completion offers for a command is in its help, and
# every command of the completion is in `churnwatch help`.
cmds=$("$BIN" help | sed -n '/^Commands:/,/^$/p' | awk 'NF && !/Commands:/ {print $1}')
[ "$(echo "$cmds" | wc -l)" -ge 25 ] && ok || bad "help lists $(echo "$cmds" | wc -l) commands"
nopts=0
for c in $cmds; do
  [ "$c" = help ] && continue
  h=$("$BIN" help "$c")
  for o in $(complete_words churnwatch "$c" --); do
    nopts=$((nopts + 1))
    [[ "$h" == *"$o "* || "$h" == *"$o"$'\n'* ]] || bad "help $c does not name $o"
  done
done
[ "$nopts" -ge 150 ] && ok || bad "the completion offers only $nopts options"
# The options of the issue's examples are listed.
"$BIN" help report | grep -q '^Options of report plays:' && ok || bad "help report omits plays"
"$BIN" help backtest | grep -q -- '--suggest-weights' && ok || bad "help backtest omits --suggest-weights"
"$BIN" help exit-codes | grep -q '^  7  another' && ok || bad "help exit-codes"

# ---- suggestions ---------------------------------------------------------------
expect "option typo" 2 "score: unknown option '--asof' (did you mean --as-of?)" -- score --asof 2025-01-01
expect "option typo with value" 2 "(did you mean --format?)" -- metrics --formt=json
expect "sub option typo" 2 "(did you mean --gross-margin?)" -- report ltv --gross-margn 0.5
expect "command typo" 2 "'scroe' is not a command (did you mean 'score'?)" -- scroe
expect "subcommand typo" 2 "report: 'cohrts' is not a subcommand (did you mean 'cohorts'?)" -- report cohrts
expect "alerts subcommand typo" 2 "(did you mean 'snooze'?)" -- alerts snoze 1
expect "help typo" 2 "no help for 'repot' (did you mean 'report'?)" -- help repot
expect "nothing near" 2 "unknown option '--zzzzzz' (see \`churnwatch help score\`)" -- score --zzzzzz
expect "missing value" 2 "score: option '--db' needs a value" -- score --db
expect "flag with value" 2 "option '--quiet' takes no value" -- score --quiet=1
expect "format value" 2 "--format xml: expected table, csv, json or jsonl" -- alerts list --format xml
expect "alerts show csv" 2 "alerts show: --format csv: expected table, json or jsonl" -- alerts show 1 --format csv

# ---- init and missing databases ------------------------------------------------
# (paths: the SQLite store, whatever CW_TEST_BACKEND says)
expect "init" 0 "init: created new.db" -- init --db new.db
[ "$(stat -c %a new.db)" = 600 ] && ok || bad "init: mode $(stat -c %a new.db)"
expect "init twice" 0 "new.db is already a churnwatch database" -- init --db new.db
echo "not a database" >text.db
expect "init over another file" 4 "text.db exists and is not a churnwatch database" -- init --db text.db
for c in "score" "train" "predict" "backtest" "run" "deliver" "serve" "status" "ingest x.csv" \
         "metrics --as-of 2025-01-01" "alerts list" "outbox list" "tasks" "token list" \
         "report revenue" "evaluate --as-of 2025-01-01" "quarantine list"; do
  # shellcheck disable=SC2086
  out=$("$BIN" $c --db typo.db 2>&1); rc=$?
  if [ $rc = 5 ] && [[ "$out" == *"typo.db: no such database (create it with \`churnwatch init --db typo.db\`)"* ]] &&
     [ ! -e typo.db ]; then ok; else bad "$c on a missing database: exit $rc, $out"; fi
done

# ---- formats, offset and limit -------------------------------------------------
"$BIN" simulate --accounts 30 --months 4 --seed 5 --out w >/dev/null 2>&1
DB_w=$(cw_db w)
"$BIN" init --db "$DB_w" 2>/dev/null
"$BIN" ingest --db "$DB_w" --progress never --quiet w/*.csv
"$BIN" metrics --db "$DB_w" --from 2025-02-03 --to 2025-04-28 --every 7d --quiet
"$BIN" score --db "$DB_w" --quiet >/dev/null
"$BIN" run --db "$DB_w" --as-of 2025-04-28 --deliver no --backfill --quiet 2>/dev/null
"$BIN" token create --db "$DB_w" --role read --name 'quote " name' >/dev/null 2>&1
"$BIN" token create --db "$DB_w" --role write --name two >/dev/null 2>&1
# check_rows NAME ARGS...: json is one array holding exactly the jsonl lines;
# --offset 1 --limit 2 gives rows 2 and 3 of the full list, in json and jsonl.
check_rows() {
  local name=$1; shift
  "$BIN" "$@" --format jsonl >all.jsonl 2>/dev/null || { bad "$name jsonl failed"; return; }
  "$BIN" "$@" --format json >all.json 2>/dev/null || { bad "$name json failed"; return; }
  "$BIN" "$@" --format json --offset 1 --limit 2 >part.json 2>/dev/null
  "$BIN" "$@" --format jsonl --offset 1 --limit 2 >part.jsonl 2>/dev/null
  python3 - "$name" <<'PY' && ok || bad "$name: json / jsonl / offset / limit disagree"
import json, sys
lines = [json.loads(l) for l in open("all.jsonl")]
doc = json.load(open("all.json"))
part = json.load(open("part.json"))
partl = [json.loads(l) for l in open("part.jsonl")]
assert isinstance(doc, list) and len(lines) >= 3, (sys.argv[1], len(lines))
assert doc == lines, sys.argv[1]
assert part == lines[1:3] == partl, sys.argv[1]
PY
}
check_rows "score" score --db "$DB_w" --no-compute --quiet
check_rows "metrics" metrics --db "$DB_w" --no-compute --quiet
check_rows "alerts list" alerts list --db "$DB_w"
n=$("$BIN" token list --db "$DB_w" --format jsonl | wc -l)
[ "$n" = 2 ] && ok || bad "token list jsonl: $n lines"
"$BIN" token list --db "$DB_w" --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [t["name"] for t in d] == ["quote \" name", "two"] and [t["role"] for t in d] == ["read", "write"], d' &&
  ok || bad "token list json"
[ "$("$BIN" token list --db "$DB_w" --offset 1 | tail -n +2 | awk '{print $2}')" = write ] && ok ||
  bad "token list --offset 1"
"$BIN" token list --db "$DB_w" --format csv >tok.csv
"$BIN" token list --db "$DB_w" --format jsonl >tok.jsonl
python3 - <<'PY' && ok || bad "token list csv: not the jsonl objects"
import csv, json
rows = list(csv.DictReader(open("tok.csv", newline="")))
objs = [json.loads(l) for l in open("tok.jsonl")]
assert [r["name"] for r in rows] == ['quote " name', "two"], rows
assert [list(r) for r in rows] == [list(o) for o in objs], rows
assert all(r[k] == ("" if v is None else str(v)) for r, o in zip(rows, objs) for k, v in o.items()), rows
PY
# Table and csv take the same slice as json (column account_id / account).
"$BIN" alerts list --db "$DB_w" --format json >all.json
want=$(python3 -c 'import json; print(" ".join(str(r["id"]) for r in json.load(open("all.json"))[1:3]))')
got=$("$BIN" alerts list --db "$DB_w" --offset 1 --limit 2 | awk '$2 ~ /^[0-9][0-9][0-9][0-9]-/ {printf "%s%s", s, $1; s=" "}')
[ "$got" = "$want" ] && ok || bad "alerts table --offset 1 --limit 2: '$got', want '$want'"
"$BIN" score --db "$DB_w" --no-compute --format json >all.json
want=$(python3 -c 'import json; print(" ".join(r["account_id"] for r in json.load(open("all.json"))[1:3]))')
got=$("$BIN" score --db "$DB_w" --no-compute --format csv --offset 1 --limit 2 | tail -n +2 | cut -d, -f2 | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$want" ] && ok || bad "score csv --offset 1 --limit 2: '$got', want '$want'"
got=$("$BIN" score --db "$DB_w" --no-compute --offset 1 --limit 2 | tail -n +4 | awk '{printf "%s%s", s, $1; s=" "}')
[ "$got" = "$want" ] && ok || bad "score table --offset 1 --limit 2: '$got', want '$want'"
# A date where a month is meant means its month.
[ "$("$BIN" report revenue --db "$DB_w" --from 2025-02-17 --to 2025-03-31T12:00:00Z --format json)" = \
  "$("$BIN" report revenue --db "$DB_w" --from 2025-02 --to 2025-03 --format json)" ] && ok ||
  bad "report revenue --from DATE is not its month"
expect "alerts show json is one object" 0 '{"id":' -- alerts show 1 --db "$DB_w" --format json

# ---- the report skeleton (report_fmt.c): every report in every format ----------
# report_rows NAME KEY ARGS...: jsonl is one object a line; json is one document
# whose KEY array equals those lines (KEY "-": the json document has a shape of
# its own, checked elsewhere); csv has a header naming the jsonl keys and one
# line per jsonl object with the same values; --offset 1 --limit 2 selects
# lines 2 and 3 in csv, jsonl and the json document's KEY array.
report_rows() {
  local name=$1 key=$2; shift 2
  "$BIN" "$@" --format jsonl >r.jsonl 2>/dev/null || { bad "$name jsonl failed"; return; }
  "$BIN" "$@" --format json >r.json 2>/dev/null || { bad "$name json failed"; return; }
  "$BIN" "$@" --format csv >r.csv 2>/dev/null || { bad "$name csv failed"; return; }
  "$BIN" "$@" --format csv --offset 1 --limit 2 >p.csv 2>/dev/null
  "$BIN" "$@" --format jsonl --offset 1 --limit 2 >p.jsonl 2>/dev/null
  "$BIN" "$@" --format json --offset 1 --limit 2 >p.json 2>/dev/null
  python3 - "$name" "$key" <<'PY' && ok || bad "$name: json / jsonl / csv / offset / limit disagree"
import csv, json, sys
name, key = sys.argv[1], sys.argv[2]
lines = [json.loads(l) for l in open("r.jsonl")]
assert len(lines) >= 1, name
if key != "-":
    assert json.load(open("r.json"))[key] == lines, name
def same(c, j):  # a csv cell and a json value
    if j is None:  # undefined; ltv's all-segments row is "(all)" in csv
        return c in ("", "(all)")
    if isinstance(j, bool):
        return c == ("1" if j else "0")
    if isinstance(j, (dict, list)):
        return json.loads(c) == j
    if isinstance(j, (int, float)):
        return c != "" and float(c) == j
    return c == j
rows = list(csv.reader(open("r.csv", newline="")))
assert rows[0] == list(lines[0].keys()), (name, rows[0], list(lines[0].keys()))
assert len(rows) - 1 == len(lines), (name, len(rows), len(lines))
for r, l in zip(rows[1:], lines):
    assert all(same(c, j) for c, j in zip(r, l.values())), (name, r, l)
part = list(csv.reader(open("p.csv", newline="")))
assert part[0] == rows[0] and part[1:] == rows[2:4], name
assert [json.loads(l) for l in open("p.jsonl")] == lines[1:3], name
if key != "-":
    assert json.load(open("p.json"))[key] == lines[1:3], name
# money: the currency field names a currency and no field is in minor units
assert all("currency" in l for l in lines) or not any(k.startswith("mrr") for k in lines[0]), name
assert not any(k.endswith("_minor") for k in lines[0]), name
PY
}
report_rows "report revenue" periods report revenue --db "$DB_w"
report_rows "report retention" periods report retention --db "$DB_w" --by quarter
report_rows "report cohorts" rows report cohorts --db "$DB_w" --months 3
report_rows "report ltv" segments report ltv --db "$DB_w"
report_rows "report reasons" rows report reasons --db "$DB_w"
report_rows "report reasons --postmortem" rows report reasons --db "$DB_w" --postmortem
report_rows "report funnel" rows report funnel --db "$DB_w"
report_rows "report chain" accounts report chain --db "$DB_w" --from 2025-01
report_rows "report survival" rows report survival --db "$DB_w"
report_rows "report survival --by segment" rows report survival --db "$DB_w" --by segment
# Tables that keep a layout of their own take --offset/--limit too: the
# cohort triangles select cohorts (csv: a row per cohort and month), the
# post-mortem accounts the same accounts as csv.
want=$("$BIN" report cohorts --db "$DB_w" --months 3 --format csv | tail -n +2 | cut -d, -f1 | uniq | sed -n 2,3p | tr '\n' ' ')
got=$("$BIN" report cohorts --db "$DB_w" --months 3 --offset 1 --limit 2 | sed -n '/^cohort /,/^$/p' | grep '^20' | cut -d' ' -f1 | tr '\n' ' ')
[ -n "$want" ] && [ "$got" = "$want$want" ] && ok || bad "cohorts table --offset 1 --limit 2: '$got', want '$want' twice"
want=$("$BIN" report reasons --db "$DB_w" --postmortem --format csv | tail -n +2 | cut -d, -f1 | sed -n 2,3p | tr '\n' ' ')
got=$("$BIN" report reasons --db "$DB_w" --postmortem --offset 1 --limit 2 | sed -n '/^Post-mortem/,$p' | grep -E '^[^ ]+ \(.*\) churned ' | cut -d' ' -f1 | tr '\n' ' ')
[ -n "$want" ] && [ "$got" = "$want" ] && ok || bad "reasons --postmortem table --offset 1 --limit 2: '$got', want '$want'"
# The table shows the same periods and segments as the csv (one line each
# after the column header).
n_csv=$(($("$BIN" report retention --db "$DB_w" --format csv | wc -l) - 1))
n_tab=$("$BIN" report retention --db "$DB_w" | grep -c '^20[0-9][0-9]-[0-9][0-9] ')
[ "$n_csv" = "$n_tab" ] && [ "$n_csv" -ge 4 ] && ok || bad "retention: csv $n_csv rows, table $n_tab"
n_csv=$(($("$BIN" report ltv --db "$DB_w" --format csv | wc -l) - 1))
n_tab=$(("$("$BIN" report ltv --db "$DB_w" | sed -n '/^segment /,/^$/p' | grep -vc '^segment \|^$')"))
[ "$n_csv" = "$n_tab" ] && ok || bad "ltv: csv $n_csv rows, table $n_tab"
# Plain lists in four formats (the skeleton): json == jsonl lines, csv rows ==
# jsonl objects, --offset/--limit the same rows, and the table the same count.
report_rows "sources list" - sources list
report_rows "rules list" - rules list
report_rows "metrics list" - metrics list
report_rows "alerts list" - alerts list --db "$DB_w"
for l in "sources list" "rules list" "metrics list"; do
  # shellcheck disable=SC2086
  [ "$("$BIN" $l --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = \
    "$(("$("$BIN" $l | wc -l)" - 1))" ] && ok || bad "$l: json and table counts differ"
  # shellcheck disable=SC2086
  [ "$("$BIN" $l --offset 2 --limit 3 | tail -n +2 | awk '{print $1}' | tr '\n' ' ')" = \
    "$("$BIN" $l --format csv --offset 2 --limit 3 | tail -n +2 | cut -d, -f1 | tr '\n' ' ')" ] && ok ||
    bad "$l: table and csv --offset 2 --limit 3 differ"
done
# metrics' table: --offset/--limit select whole blocks (snapshot x account).
blocks=$("$BIN" metrics --db "$DB_w" --no-compute --quiet | grep -c '^[0-9]')
got=$("$BIN" metrics --db "$DB_w" --no-compute --quiet --offset 1 --limit 2 | grep '^[0-9]' | tr -s ' ' | tr '\n' '|')
want=$("$BIN" metrics --db "$DB_w" --no-compute --quiet | grep '^[0-9]' | sed -n 2,3p | tr -s ' ' | tr '\n' '|')
[ "$blocks" -ge 3 ] && [ "$got" = "$want" ] && ok || bad "metrics table --offset 1 --limit 2: '$got', want '$want'"
[ "$("$BIN" metrics --db "$DB_w" --no-compute --quiet --limit 1 | tail -n +2 | grep -c '^[0-9]')" = 0 ] && ok ||
  bad "metrics table --limit 1 shows more than one block"
# Money in major units, worked out here from the database: MRR at a month's
# end is each account's last subscription change before the next month,
# summed, over 100 (USD); the report's `mrr_end` must be exactly that.
"$BIN" report revenue --db "$DB_w" --format jsonl >rev.jsonl
python3 - "$CW_TEST_LIB" "$DB_w" <<'PY' && ok || bad "report revenue: mrr_end is not the database's MRR / 100"
import json, sys, calendar, datetime
sys.path.insert(0, sys.argv[1])
from cwdb import cw_q
subs = cw_q(sys.argv[2], "SELECT account, effective_at, mrr_minor, currency FROM subscriptions")
rows = [json.loads(l) for l in open("rev.jsonl")]
assert len(rows) >= 3
for r in rows:
    y, m = map(int, r["period"].split("-"))
    nxt = calendar.timegm(datetime.date(y + m // 12, m % 12 + 1, 1).timetuple())
    last = {}
    for acc, at, mrr, cur in sorted(subs, key=lambda s: s[1]):
        if at < nxt:
            last[acc] = mrr
    want = sum(last.values())
    assert r["currency"] == "USD" and {c for *_, c in subs} == {"USD"}
    text = "%d.%02d" % (want // 100, want % 100)
    assert "%.2f" % r["mrr_end"] == text, (r["period"], r["mrr_end"], text)
PY
# Exact decimals for each exponent: JPY has none, KWD three, EUR two; csv and
# json print minor / 10^exp without float noise (values from the input CSV).
printf 'account_id,name,segment,contract_start,seats,mrr_minor,currency,status\nJ1,J,smb,2025-01-01,1,123457,JPY,active\n' >jpy_a.csv
printf 'account_id,effective_at,mrr_minor,currency,seats\nJ1,2025-01-01,123457,JPY,1\n' >jpy_s.csv
printf 'account_id,name,segment,contract_start,seats,mrr_minor,currency,status\nK1,K,smb,2025-01-01,1,1000005,KWD,active\n' >kwd_a.csv
printf 'account_id,effective_at,mrr_minor,currency,seats\nK1,2025-01-01,1000005,KWD,1\n' >kwd_s.csv
printf 'account_id,name,segment,contract_start,seats,mrr_minor,currency,status\nE1,E,smb,2025-01-01,1,10000001,EUR,active\n' >eur_a.csv
printf 'account_id,effective_at,mrr_minor,currency,seats\nE1,2025-01-01,10000001,EUR,1\n' >eur_s.csv
declare -A cdb=()
for cur in jpy kwd eur; do
  cdb[$cur]=$(cw_db $cur)
  "$BIN" init --db "${cdb[$cur]}" >/dev/null 2>&1
  "$BIN" ingest --db "${cdb[$cur]}" --quiet --kind accounts ${cur}_a.csv >/dev/null 2>&1
  "$BIN" ingest --db "${cdb[$cur]}" --quiet --kind subscriptions ${cur}_s.csv >/dev/null 2>&1
done
got=$("$BIN" report revenue --db "${cdb[jpy]}" --format csv | sed -n 2p | cut -d, -f2,4,9)
[ "$got" = "JPY,123457,123457" ] && ok || bad "JPY revenue csv: '$got'"
got=$("$BIN" report revenue --db "${cdb[kwd]}" --format jsonl | head -1 | python3 -c 'import sys; l = sys.stdin.read(); print(l[l.index("\"mrr_end\""):].split(",")[0])')
[ "$got" = '"mrr_end":1000.005' ] && ok || bad "KWD revenue jsonl: '$got'"
got=$("$BIN" report revenue --db "${cdb[eur]}" --format json | grep -o '"currency":"EUR","mrr_start":0.00,"new":100000.01')
[ -n "$got" ] && ok || bad "EUR revenue json: $("$BIN" report revenue --db "${cdb[eur]}" --format json | head -2)"
got=$("$BIN" report revenue --db "${cdb[eur]}" | grep -o '100,000.01' | wc -l)
[ "$got" = 2 ] && ok || bad "EUR revenue table: new and MRR end 100,000.01 ($got)"

# ---- man pages -----------------------------------------------------------------
for m in churnwatch.1 churnwatch.conf.5; do
  [ -s "$BUILD/man/$m" ] || { bad "$m not generated"; continue; }
  if command -v groff >/dev/null; then
    w=$(groff -man -Tutf8 -ww -z "$BUILD/man/$m" 2>&1)
    [ -z "$w" ] && ok || bad "$m: groff warnings: $w"
  fi
done
if command -v man >/dev/null; then
  page=$(MANWIDTH=100 man -l "$BUILD/man/churnwatch.1" 2>/dev/null | col -b)
  [[ "$page" == *"--as-of DATE"* && "$page" == *"EXIT STATUS"* && "$page" == *"churnwatch init [--db F]"* ]] &&
    ok || bad "man -l churnwatch.1 lacks options or sections"
  page=$(MANWIDTH=100 man -l "$BUILD/man/churnwatch.conf.5" 2>/dev/null | col -b)
  [[ "$page" == *"max_errors = 20"* && "$page" == *"[deliver]"* ]] && ok || bad "man -l churnwatch.conf.5"
fi

# ---- completions ---------------------------------------------------------------
[ "$(complete_words churnwatch rep)" = report ] && ok || bad "churnwatch rep<TAB>: '$(complete_words churnwatch rep)'"
[ "$(complete_words churnwatch report --fo)" = --format ] && ok ||
  bad "churnwatch report --fo<TAB>: '$(complete_words churnwatch report --fo)'"
[ "$(complete_words churnwatch report survival --conf)" = --confidence ] && ok || bad "report survival --conf<TAB>"
[ "$(complete_words churnwatch score --format js)" = "json jsonl" ] && ok || bad "score --format js<TAB>"
[ "$(complete_words churnwatch --db x.db alerts sn)" = snooze ] && ok || bad "alerts sn<TAB> after --db x.db"
[ "$(complete_words churnwatch help exit)" = exit-codes ] && ok || bad "help exit<TAB>"
if command -v zsh >/dev/null; then
  zsh -n "$BUILD/completions/_churnwatch" && ok || bad "zsh completion does not parse"
fi
[ "$(head -1 "$BUILD/completions/_churnwatch")" = "#compdef churnwatch" ] && ok || bad "zsh #compdef"

echo "cli_contract: $pass passed, $fail failed"
[ "$fail" = 0 ]
