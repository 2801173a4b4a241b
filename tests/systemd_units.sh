#!/usr/bin/env bash
# The systemd units (dist/systemd/, docs/operations.md) pass `systemd-analyze
# verify` with nothing to say: exit 0 and no warning (verify exits 0 on an
# unknown key or a bad value, so any output fails the test; a deliberately
# broken copy checks that it would). Their ExecStart= points at the binary
# under test, as the installed units point at the installed one. Also:
# the hardening the issue asks for is there, and the timer is daily.
# usage: systemd_units.sh churnwatch BUILD_DIR/systemd
set -euo pipefail
BIN=$(realpath "$1")
UNITS=$(realpath "$2")
fail() { echo "systemd_units.sh: $*"; exit 1; }
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd_units.sh: SKIPPED: systemd-analyze is not installed (scripts/install-deps.sh installs systemd)"
  exit 77
fi
T=$(mktemp -d /tmp/cw-units-XXXXXX)
trap 'rm -rf "$T"' EXIT
for u in churnwatch-serve.service churnwatch-run.service churnwatch-run.timer; do
  [ -f "$UNITS/$u" ] || fail "$UNITS/$u missing"
  sed -E "s|^ExecStart=[^ ]*/churnwatch |ExecStart=$BIN |" "$UNITS/$u" >"$T/$u"
done
grep -q "^ExecStart=$BIN " "$T/churnwatch-serve.service" || fail "serve: ExecStart not rewritten"
cd "$T"
verify() { SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "$@" 2>&1; }
out=$(verify ./churnwatch-serve.service ./churnwatch-run.service ./churnwatch-run.timer) ||
  fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"

# The check is not vacuous: a bad value and an unknown key are reported.
sed 's/^ProtectSystem=strict/ProtectSystem=bogus\nNoSuchKey=1/' churnwatch-serve.service >bad.service
out=$(verify ./bad.service) || true
echo "$out" | grep -q "NoSuchKey" || fail "verify did not report an unknown key: $out"

for u in churnwatch-serve.service churnwatch-run.service; do
  for k in DynamicUser=yes User=churnwatch StateDirectory=churnwatch ProtectSystem=strict \
           NoNewPrivileges=yes PrivateTmp=yes ProtectHome=yes CapabilityBoundingSet= \
           RestrictAddressFamilies= SystemCallFilter=@system-service UMask=0077; do
    grep -q "^$k" "$u" || fail "$u: no $k"
  done
done
grep -q "^Type=oneshot" churnwatch-run.service || fail "run: not a oneshot"
grep -q "^OnCalendar=\*-\*-\* 02:30:00" churnwatch-run.timer || fail "timer: not daily"
grep -q "^Persistent=yes" churnwatch-run.timer || fail "timer: a missed day is not caught up"
# The calendar spec is what systemd reads as once a day.
systemd-analyze calendar --iterations=2 '*-*-* 02:30:00' | grep -q "Iter. #2" ||
  fail "systemd-analyze calendar rejects the timer's spec"
echo "systemd_units.sh: ok"
