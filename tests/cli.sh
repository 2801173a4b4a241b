#!/usr/bin/env bash
# Runs the CLI cases in tests/cli/cases.txt: each line gives the expected
# exit code, a hand-worked text the output must contain, and the arguments.
# The whole output (stdout then stderr interleaved as written, through the
# filter `normalise` below) must also equal the case's golden file,
# tests/cli/golden/NAME.out, where NAME is the arguments with every run of
# characters other than [A-Za-z0-9._=,+-] turned into one '_', leading '-'
# and '_' dropped (cut at 100 characters, plus a hash of the arguments when
# cut or empty), and '.N' added for the Nth case of the same name (N >= 2).
# usage: cli.sh [--update] path/to/churnwatch path/to/cases.txt [source-dir]
# --update (`make golden`) rewrites the golden files from this build's output
# and deletes those no case names any more; exit code and expected text are
# still checked. Review the diff (git diff tests/cli/golden) before committing.
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib/db.sh"
UPDATE=0
if [ "${1:-}" = --update ]; then UPDATE=1; shift; fi
BIN=$(realpath "$1"); CASES=$(realpath "$2"); SRC=${3:+$(realpath "$3")}
GOLDEN=$(dirname "$CASES")/golden
T=$(mktemp -d /tmp/cw-cli-XXXXXX)
trap 'cw_db_cleanup; rm -rf "$T"' EXIT
cd "$T"
VERSION=$(CHURNWATCH_CONFIG= "$BIN" --version | head -1 | awk '{print $2}')
TODAY=$(date -u +%F); YESTERDAY=$(date -u -d yesterday +%F)
# The documented filter (docs/testing.md): what differs from run to run or
# machine to machine becomes a placeholder — the scratch directory <TMP>,
# churnwatch's version <VERSION>, a timestamp of today or yesterday (UTC; the
# data's own dates are years back), also in the compact form of file names
# (20261207T125915Z), <NOW>, a date of today or yesterday <TODAY>, a duration
# printed as "N.N s" or "load|compute|peers N.NN" <SECONDS>, and a rate
# "N rows/s" <N> rows/s.
normalise() {
  sed -E -e "s#$T#<TMP>#g" \
    -e "s#churnwatch $VERSION#churnwatch <VERSION>#g" \
    -e "s#($TODAY|$YESTERDAY)[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z?#<NOW>#g" \
    -e "s#(${TODAY//-/}|${YESTERDAY//-/})T[0-9]{6}Z#<NOW>#g" \
    -e "s#($TODAY|$YESTERDAY)#<TODAY>#g" \
    -e "s#[0-9]+\.[0-9]+ s\b#<SECONDS>#g" \
    -e "s#\b(load|compute|peers) [0-9]+\.[0-9]+#\1 <SECONDS>#g" \
    -e "s#[0-9]+ rows/s#<N> rows/s#g"
}
# golden_name ARGS: the golden file's name of a case (without .N and .out).
golden_name() {
  local n
  n=$(printf '%s' "$1" | LC_ALL=C sed -E 's/[^A-Za-z0-9._=,+-]+/_/g; s/^[-_]+//; s/_+$//')
  if [ -z "$n" ] || [ ${#n} -gt 100 ]; then
    n="${n:0:100}-$(printf '%s' "$1" | md5sum | cut -c1-8)"
  fi
  printf '%s' "${n#-}"
}
declare -A seen=()
declare -A used=()
[ $UPDATE -eq 1 ] && mkdir -p "$GOLDEN"
mkdir good
printf 'account_id,name,segment,contract_start,seats,mrr_minor,currency,status\r\nA1,Acme,smb,2025-01-01,10,25000,USD,active\r\nA2,Beta,mid,2025-01-01,5,1000,USD,active\r\n' >good/accounts.csv
printf 'user_id,account_id,provisioned_at\nU1,A1,2025-01-02\n' >good/users.csv
printf 'ts,account_id,user_id,event\n2025-01-05T10:00:00Z,A1,U1,login\n' >good/events.csv
printf 'ts,account_id,user_id,event\n2025-01-06T10:00:00Z,A1,U1,login\n2025-02-30T10:00:00Z,A1,U1,login\n' >bad_events.csv
printf '[ingest]\n; comment\nmax_errors = lots\n' >bad.conf
printf '[store]\ncolour = blue\n' >unknown.conf
printf '[metric.reports_per_user]\ntype = count\nevents = report_created\nper = active_user\n\n[metric.r]\ntype = ratio\nnumerator = reports_per_user\ndenominator = seats\n' >custom.conf
printf '[metric.x]\nevents = a\n' >custom_notype.conf
printf '[metric.y]\ntype = ratio\nnumerator = active_users\ndenominator = nope\n' >custom_badref.conf
printf '[metric.tenure_days]\ntype = count\nevents = *\n' >custom_builtin.conf
printf '[metric.z]\ntype = count\nevents = *\nwindow = 0\n' >custom_window.conf
printf '[group.voice]\nweight = 1\n[measure.licence_activation]\ngroup = usage\nlinear = 0:0, 1:100\n' >sc_bad.conf
printf '[group.usage]\nweight = 1\n[measure.a]\ngroup = usage\nmetric = logins\nlinear = 0:0, 1:100\n' >sc_metric.conf
sqlite3 new.db 'PRAGMA user_version=99; CREATE TABLE t(x);'
printf '[rule.x]\nwhen = licence_activaton < 0.5\n' >rules_bad.conf
printf '[rule.nps_detractor]\nenabled = false\n\n[playbook.p]\nactions = csm_task, nope\n' >rules_badaction.conf
printf '[rule.nps_detractor]\nenabled = false\n' >rules_off.conf
mkdir rev
printf 'account_id,name,segment,contract_start,seats,mrr_minor,currency,status\nR1,Up,smb,2025-01-01,2,15000,USD,active\nR2,Gone,smb,2025-01-01,0,0,USD,active\nR3,Euro,eu,2025-01-01,1,100,EUR,active\n' >rev/accounts.csv
printf 'account_id,effective_at,mrr_minor,currency,seats\nR1,2025-01-01,10000,USD,1\nR1,2025-02-10,15000,USD,2\nR2,2025-01-15,5000,USD,1\nR2,2025-02-20,0,USD,0\n' >rev/subscriptions.csv
printf 'account_id,effective_at,mrr_minor,currency,seats\nR3,2025-03-01,100,EUR,1\n' >rev/subscriptions_eur.csv
# Mappings (docs/importers.md): a CRM companies CSV through [source.crm].
printf '[source.crm]\nkind = accounts\nfiles = crm-*.csv\naccount_id = Record ID\nname = Company name\nsegment = '"'"'smb'"'"'\nseats = Number of Employees\nmrr_minor = Annual Revenue\nmrr_minor.unit = major\nmrr_minor.scale = 1/12\ncurrency = '"'"'USD'"'"'\ncontract_start = Create Date\nstatus = '"'"'active'"'"'\n' >src.conf
printf '[source.crm]\nkind = accounts\nmrr_minor.unit = cents\n' >src_bad.conf
printf 'Record ID,Company name,Number of Employees,Annual Revenue,Create Date,Website\n101,Acme,25,"$120,000.00",2024-03-10 09:30,acme.com\n' >crm.csv
cp crm.csv crm-2024.csv
printf '[source.e]\nkind = events\neach = items\nts = each.t\naccount_id = '"'"'A1'"'"'\nevent = '"'"'x'"'"'\n' >src_each.conf
printf '[source.p]\npreset = nope\n' >src_preset.conf
# A 280-byte line (inih cut lines at 199 bytes; any length up to 64 KiB reads).
{ printf '[source.crm]\nkind = accounts\nsegment.map = '; printf 'a=smb, %.0s' $(seq 40); printf '\n'; } >src_long.conf
# The configuration syntax (docs/configuration.md): each of these changed a
# rule's condition silently while check-config said ok.
printf '[rule.x]\nwhen = licence_activation < 0.5\n    or health_score < 99\n' >cfg_cont.conf
printf '[rule.x]\nwhen = licence_activation < 0.5\nwhen = health_score < 99\n' >cfg_dupkey.conf
printf '[rule.x]\nwhen = licence_activation < 0.5\n\n[rule.x]\nenabled = false\n' >cfg_dupsection.conf
printf '[rule.x]\nwhen = licence_activation < 0.5\0 or health_score < 99\n' >cfg_nul.conf
# A 4,000-byte expression on one line (docs/rules.md allows 4,096).
{ printf '[rule.long]\nwhen = licence_activation < 0.5'; printf ' or licence_activation < 0.5%.0s' $(seq 140); printf '\n'; } >cfg_longwhen.conf
{ printf '[rule.x]\nwhen = '; head -c 70000 /dev/zero | tr '\0' 'x'; printf '\n'; } >cfg_toolong.conf
printf 'Record ID,Company name,Lifecycle Stage,Number of Employees,Annual Revenue,Create Date,Company owner\n201,Gamma,customer,3,"$1,200",2024-01-02 03:04,x\n' >example.csv
printf 'Record ID,Company name,Number of Employees,Annual Revenue,Create Date\n102,Beta,5,"12,00",2024-03-10\n' >crm_bad.csv
# Real data in (docs/data-model.md): money units, timestamps, kind detection,
# users from events, the quarantine of the daily run.
mkdir units
printf 'account_id,name,segment,contract_start,seats,mrr,currency,status\nM1,Acme,smb,2025-01-01,10,10,USD,active\n' >units/bare_mrr.csv
printf 'account_id,name,segment,contract_start,seats,mrr_major,currency,status\nM2,Acme,smb,2025-01-01,10,10.50,USD,active\n' >units/major.csv
printf 'account_id,name,segment,contract_start,seats,mrr_minor,currency,status\nM3,Acme,smb,2025-01-01,10,10.50,USD,active\n' >units/minor_decimal.csv
printf 'account_id,name,segment,contract_start,seats,mrr_minor,currency,status\nM4,Acme,smb,2025,10,1000,USD,active\n' >units/year.csv
printf 'ts,account_id,event\n1735689600000,A1,login\n' >units/ms.csv
printf 'visitor_id,stage,at,price,currency\nv1,visit,2025-01-01,5,USD\n' >units/price.csv
printf 'Account Name,Account Owner,Type,Industry,Billing State/Province,Annual Revenue,Created Date,Account ID\nAcme,Jo,Customer,Software,CA,100000,2025-01-01,001\n' >units/salesforce.csv
printf 'Record ID,Company name,Company owner,Create Date,Phone Number,Last Activity Date,City,Country/Region,Industry,Number of Employees,Annual Revenue,Lifecycle Stage\n1,Acme,Jo,2025-01-01,1,2025-01-01,X,Y,Z,10,100,customer\n' >units/hubspot.csv
printf 'timestamp,account,user,action\n2025-01-05T10:00:00Z,A1,U1,login\n' >units/event_table.csv
printf 'event,feature,tier,ts,account_id\nlogin,Login,basic,2025-01-05,A1\n' >units/two_kinds.csv
printf 'ts,account_id,user_id,event\n2025-01-07T10:00:00Z,A1,U7,login\n2025-01-06T09:00:00Z,A1,U7,login\n' >units/new_user.csv
mkdir qdrop
cp good/accounts.csv good/users.csv qdrop/
printf 'ts,account_id,user_id,event\n2025-01-05T10:00:00Z,A1,U1,login\n2025-02-30T10:00:00Z,A1,U1,login\n' >qdrop/events.csv
# Only `init` creates a database: the databases the cases use, made empty.
# On PostgreSQL (tests/lib/db.sh) a case's argument NAME.db stands for the
# database's URI, and the URI in the output reads NAME.db again, so that the
# golden files serve both backends; other *.db arguments stay SQLite paths.
declare -A dburi=()
for d in x m m2 m3 ob q rev u u2; do
  cw_is_pg && dburi[$d.db]=$(cw_db $d) && dburi[./$d.db]=${dburi[$d.db]}
  CHURNWATCH_CONFIG= "$BIN" init --db "${dburi[$d.db]:-$d.db}" 2>/dev/null
done
# backend_args ARGS: ARGS with every database name replaced by its URI.
backend_args() {
  local - w words=()
  set -f
  for w in $1; do words+=("${dburi[$w]:-$w}"); done
  printf '%s' "${words[*]}"
}
# backend_out TEXT: TEXT with every database URI read back as its name.
backend_out() {
  local t=$1 d
  for d in "${!dburi[@]}"; do [[ $d == ./* ]] || t=${t//"${dburi[$d]}"/$d}; done
  printf '%s' "$t"
}
pass=0 fail=0
while IFS='|' read -r code expect args; do
  case "$code" in ''|\#*) continue ;; esac
  # shellcheck disable=SC2086
  out=$(CHURNWATCH_CONFIG= "$BIN" $(backend_args "$args") 2>&1 </dev/null); rc=$?
  cw_is_pg && out=$(backend_out "$out")
  name=$(golden_name "$args")
  seen[$name]=$((${seen[$name]:-0} + 1))
  [ "${seen[$name]}" -gt 1 ] && name="$name.${seen[$name]}"
  used[$name.out]=1
  gold="$GOLDEN/$name.out"
  norm=$(printf '%s\n' "$out" | normalise)
  if [ $UPDATE -eq 1 ]; then
    printf '%s\n' "$norm" >"$gold"
  fi
  if [ "$rc" != "$code" ] || [[ "$out" != *"$expect"* ]]; then
    fail=$((fail + 1))
    echo "FAIL: churnwatch $args"
    echo "  expected exit $code and '$expect'; got exit $rc:"
    echo "$out" | head -8 | sed 's/^/    /'
  elif [ ! -f "$gold" ]; then
    fail=$((fail + 1))
    echo "FAIL: churnwatch $args: no golden file $gold (make golden writes it)"
  elif ! diff -u --label "golden/$name.out" --label "churnwatch $args" "$gold" <(printf '%s\n' "$norm") >diff.out; then
    fail=$((fail + 1))
    echo "FAIL: churnwatch $args: output differs from golden/$name.out (make golden rewrites it):"
    head -30 diff.out | sed 's/^/    /'
  else
    pass=$((pass + 1))
  fi
done <"$CASES"
if [ $UPDATE -eq 1 ]; then
  for f in "$GOLDEN"/*.out; do
    [ -e "$f" ] || continue
    [ -n "${used[$(basename "$f")]:-}" ] || { rm -f "$f"; echo "removed unused $(basename "$f")"; }
  done
fi
# The shipped example configuration is exactly `config show` with defaults.
if [ -n "$SRC" ]; then
  if diff <(tail -n +7 "$SRC/churnwatch.conf.example") <(CHURNWATCH_CONFIG= "$BIN" config show) >/dev/null &&
     CHURNWATCH_CONFIG= "$BIN" --config "$SRC/churnwatch.conf.example" config show >/dev/null; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1)); echo "FAIL: churnwatch.conf.example differs from 'config show'"
  fi
fi
# A database is created private (0600) whatever the umask, and so are its
# WAL and shared-memory files: it holds e-mail addresses and token hashes.
if cw_sqlite_only "database_created_private: modes of perm.db, -wal, -shm"; then
  (umask 022 && CHURNWATCH_CONFIG= "$BIN" init --db perm.db >/dev/null 2>&1 &&
    CHURNWATCH_CONFIG= "$BIN" ingest --db perm.db --progress never good/accounts.csv >/dev/null 2>&1)
  modes=$(stat -c '%a' perm.db perm.db-wal perm.db-shm 2>/dev/null | sort -u | tr '\n' ' ')
  if [ "$modes" = "600 " ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1)); echo "FAIL: database_created_private: modes of perm.db, -wal, -shm: '$modes' (want 600)"
  fi
fi
echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
