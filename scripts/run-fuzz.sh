#!/usr/bin/env bash
# run-fuzz.sh BUILD_DIR — builds the libFuzzer targets (fuzz/) with clang in
# BUILD_DIR and runs each for FUZZ_SECONDS seconds (default 20), starting
# from a scratch copy of its seed corpus (fuzz/corpus/<target>/), so the
# checked-in seeds never change. Exits non-zero if the build fails or any
# target finds a crash, a leak or a timeout; the reproducer is kept as
# BUILD_DIR/fuzz/<target>-crash-* (run the target on it to replay).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "$1")
secs=${FUZZ_SECONDS:-20}
targets=(fuzz_csv fuzz_time fuzz_jsonl fuzz_expr fuzz_template fuzz_mapping fuzz_jsonscan fuzz_config)

# A build directory configured with another compiler would silently stay so.
if [ -f "$build/CMakeCache.txt" ] &&
  ! grep -q '^CMAKE_C_COMPILER:[A-Z]*=.*clang' "$build/CMakeCache.txt"; then
  echo "run-fuzz: $build was configured without clang; remove it first" >&2
  exit 2
fi
cd "$root"
CC=clang cmake -S . -B "$build" -DCW_FUZZ=ON -DCW_TESTS=OFF -DCW_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/cw-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  cp -R fuzz/corpus/"$t"/. "$work/$t/"
  log="$build/fuzz/$t.log"
  if "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz/$t-" "$work/$t" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "$t: ok, ${execs:-?} runs in ${secs}s, corpus $(ls "$work/$t" | wc -l) inputs"
  else
    echo "$t: FAILED (log: $log)"
    grep -E 'ERROR|SUMMARY|Test unit written|deadly signal' "$log" | head -20 || true
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failures in ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets clean"
