#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it:
#   1. release build: unit tests (cmocka), CLI cases and end-to-end tests (ctest);
#      a packager's Release build (-O3), warnings fatal; then every script test
#      again on PostgreSQL (a throwaway cluster, scripts/pg-cluster.sh; the
#      _pg twins the release tree registers with -DCW_TEST_PG=ON: ctest -L pg,
#      with the driver's server tests). CW_PG_MATRIX=0 skips it.
#   2. the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer
#   3. the unit tests and the program's commands under valgrind (memcheck, leaks are errors)
#   4. style: clang-format + banned functions
#   5. a short libFuzzer run of every parser target
# Ends with one "N passed, M failed" line; exits non-zero if anything failed.
set -uo pipefail
CW_PG_MATRIX=${CW_PG_MATRIX:-1}
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)
passed=0 failed=0 failures=()
step() {
  local name=$1; shift
  echo "==> $name"
  if "$@"; then passed=$((passed + 1)); echo "<== $name: ok"
  else failed=$((failed + 1)); failures+=("$name"); echo "<== $name: FAILED"; fi
}
build() { # dir, cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j "$JOBS" >/dev/null
}
ctest_in() { (cd "$1" && ctest --output-on-failure -j "$JOBS" "${@:2}"); }
# The PostgreSQL matrix, in a subshell: a throwaway cluster (stopped and
# removed on any exit), a build tree with the _pg twins, ctest -L pg.
pg_matrix() (
  cluster=$PWD/scripts/pg-cluster.sh # absolute: the trap runs after the cd below
  dir=$(mktemp -d /tmp/cw-pg-XXXXXX) || exit 1
  trap '"$cluster" stop "$dir"' EXIT
  trap 'exit 130' INT TERM
  env=$("$cluster" start "$dir") || exit 1
  eval "$env"
  echo "PostgreSQL test cluster: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER"
  # the driver's own server tests (test_pg_driver) get a database of their own
  createdb cw_driver_unit || exit 1
  export CW_TEST_PG="dbname=cw_driver_unit" CW_TEST_BACKEND=pg
  cd build && ctest --output-on-failure -j "$JOBS" -L pg
)
valgrind_units() {
  local rc=0
  for t in build/tests/test_*; do
    [ -x "$t" ] || continue
    echo "valgrind $t"
    local trc=0
    (cd build && valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
       "../$t" >/tmp/cw-vg.$$ 2>&1) || trc=$?
    # 77: a test that needs what this step lacks (test_pg_driver's server) skipped
    [ $trc -eq 0 ] || [ $trc -eq 77 ] || { tail -30 /tmp/cw-vg.$$; rc=1; }
  done
  # The program itself on a small world: simulate, ingest, metrics.
  local w; w=$(mktemp -d /tmp/cw-vgw-XXXXXX)
  for cmd in "simulate --accounts 20 --months 3 --seed 5 --out $w/w" \
             "init --db $w/v.db" \
             "ingest --db $w/v.db --progress never $w/w/accounts.csv $w/w/subscriptions.csv $w/w/users.csv $w/w/features.csv $w/w/events.csv $w/w/tickets.csv $w/w/surveys.csv $w/w/goals.csv $w/w/goal_measurements.csv $w/w/trainings.csv $w/w/journey.csv" \
             "metrics --db $w/v.db --from 2025-02-01 --to 2025-03-29 --every 14d --quiet --format csv" \
             "status --db $w/v.db" \
             "report revenue --db $w/v.db --format csv" \
             "report cohorts --db $w/v.db" "report ltv --db $w/v.db" \
             "report reasons --db $w/v.db --postmortem" "report funnel --db $w/v.db" \
             "report chain --db $w/v.db" \
             "score --db $w/v.db --quiet" "score --db $w/v.db --no-compute --account A000001" \
             "score --db $w/v.db --no-compute --format json" \
             "report survival --db $w/v.db --by cohort --format json" \
             "run --db $w/v.db --as-of 2025-03-29" "alerts list --db $w/v.db --all" \
             "report plays --db $w/v.db" \
             "deliver --db $w/v.db --dry-run" "outbox list --db $w/v.db" "tasks list --db $w/v.db" \
             "token create --db $w/v.db --role read" "token list --db $w/v.db" \
             "report html --db $w/v.db --out $w/report.html"; do
    echo "valgrind churnwatch ${cmd%% --db*}"
    # shellcheck disable=SC2086
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
      build/churnwatch $cmd >/dev/null 2>/tmp/cw-vg.$$ || { tail -30 /tmp/cw-vg.$$; rc=1; }
  done
  # The importers: presets (CSV, JSON Lines, a JSON document), a mapping
  # check without a database, billing periods, and a daily run that
  # quarantines a bad row.
  local V=tests/data/vendors P=tests/data/periods
  mkdir -p "$w/drop" && printf 'ts,account_id,user_id,event\n2025-03-28T10:00:00Z,NOPE,,login\n' >"$w/drop/bad.csv"
  for cmd in "init --db $w/p.db" "init --db $w/q.db" \
             "ingest --db $w/p.db --progress never --preset hubspot $V/hubspot/companies.csv" \
             "ingest --db $w/p.db --progress never --preset segment $V/segment/events.jsonl" \
             "ingest --db $w/p.db --progress never --preset zendesk $V/zendesk/tickets.csv" \
             "ingest --db $w/p.db --progress never --preset stripe --data-end 2025-06-30 $V/stripe/subscriptions.json" \
             "sources check --preset hubspot $V/hubspot/companies.csv" \
             "ingest --db $w/q.db --progress never --data-end 2025-06-30 $P/accounts.csv $P/periods.csv" \
             "report revenue --db $w/q.db --format csv" \
             "run --db $w/v.db --as-of 2025-03-29 --drop $w/drop --skip-bad" \
             "quarantine list --db $w/v.db --format json" "status --db $w/v.db --format json"; do
    echo "valgrind churnwatch ${cmd%% --*}"
    # shellcheck disable=SC2086
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
      build/churnwatch $cmd >/dev/null 2>/tmp/cw-vg.$$ || { tail -30 /tmp/cw-vg.$$; rc=1; }
  done
  # The model commands need history: a 200-account, 15-month world, built
  # with the release binary, then train / predict / backtest under valgrind.
  local bin=build/churnwatch m=$w/m
  "$bin" simulate --accounts 200 --months 15 --seed 5 --start 2024-01-01 --out "$m" >/dev/null &&
    "$bin" init --db "$w/m.db" 2>/dev/null &&
    "$bin" ingest --db "$w/m.db" --progress never "$m"/*.csv >/dev/null &&
    "$bin" metrics --db "$w/m.db" --from 2024-02-05 --to 2025-03-24 --every 7d --quiet >/dev/null &&
    "$bin" score --db "$w/m.db" --quiet --limit 1 >/dev/null || { echo "model world"; rc=1; }
  for cmd in "train --db $w/m.db --activate --threads 1" "predict --db $w/m.db --top 3" \
             "backtest --db $w/m.db --threads 1" "backtest --db $w/m.db --suggest-weights"; do
    echo "valgrind churnwatch ${cmd%% --db*}"
    # shellcheck disable=SC2086
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
      "$bin" $cmd >/dev/null 2>/tmp/cw-vg.$$ || { tail -30 /tmp/cw-vg.$$; rc=1; }
  done
  rm -rf "$w" /tmp/cw-vg.$$
  return $rc
}

# One release tree serves both backends: it registers the _pg twins
# (label pg), which the PostgreSQL step runs.
step "release build" build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCW_WERROR=ON -DCW_TEST_PG=ON
# A packager's optimised Release build (-O3 finds warnings -O2 does not),
# warnings fatal so none creeps in; built, not run.
step "packager Release build" build build-pkg -DCMAKE_BUILD_TYPE=Release -DCW_WERROR=ON
step "release tests" ctest_in build -LE pg
if [ "$CW_PG_MATRIX" = 1 ]; then
  step "release tests on PostgreSQL" pg_matrix
fi
step "asan+ubsan build" build build-asan -DCMAKE_BUILD_TYPE=Debug -DCW_SANITIZE=ON -DCW_WERROR=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  step "asan+ubsan tests" ctest_in build-asan
step "valgrind (unit tests)" valgrind_units
step "style" scripts/check-style.sh
step "fuzz (${FUZZ_SECONDS:-20}s per target)" scripts/run-fuzz.sh build-fuzz

echo
if [ $failed -gt 0 ]; then echo "failed steps: ${failures[*]}"; fi
echo "test steps: $passed passed, $failed failed"
[ $failed -eq 0 ]
