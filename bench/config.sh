#!/usr/bin/env bash
# Configuration loading benchmark — a measurement, not a test.
#
#   bench/config.sh [RULES...]        (default: 1000 8000 50000 200000)
#
# Writes a churnwatch.conf with RULES [rule.NAME] sections (each with a
# description and a `when`, every tenth naming a playbook; one [playbook.*]
# per 100 rules, over at most 200 [action.*]) and times `churnwatch check-config` on
# it: parsing, rule compilation, playbook/action linking. Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/build/churnwatch}
OUT=$PWD/bench/out
mkdir -p "$OUT"
[ $# -gt 0 ] || set -- 1000 8000 50000 200000
echo "| rules | file MiB | check-config s | peak RSS MiB |"
echo "|---|---|---|---|"
for N in "$@"; do
  F=$OUT/config-$N.conf
  if [ ! -f "$F" ]; then
    awk -v n="$N" 'BEGIN {
      for (p = 0; p < n / 100 && p < 200; p++)
        printf "[action.a%d]\ntype = jsonl\nfile = alerts-%d.jsonl\n\n", p, p
      for (p = 0; p < n / 100; p++)
        printf "[playbook.p%d]\nactions = a%d, csm_task\n\n", p, p % 200
      for (i = 0; i < n; i++) {
        printf "[rule.r%d]\ndescription = generated rule %d\n", i, i
        printf "when = licence_activation < %d and health_score < 50\n", i % 100
        if (i % 10 == 0 && n >= 100) printf "playbook = p%d\n", int(i / 100)
        printf "\n"
      }
    }' >"$F"
  fi
  MIB=$(awk -v b="$(stat -c %s "$F")" 'BEGIN { printf "%.1f", b / 1048576 }')
  if /usr/bin/time -o "$OUT/time" -f "%e %M" timeout "${TIMEOUT:-120}" \
      "$BIN" check-config --config "$F" >/dev/null; then
    read -r S K <"$OUT/time"
    echo "| $N | $MIB | $S | $((K / 1024)) |"
  else
    echo "| $N | $MIB | failed or over ${TIMEOUT:-120} s | - |"
  fi
done
