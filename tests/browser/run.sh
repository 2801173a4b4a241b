#!/usr/bin/env bash
# End-to-end browser test of the dashboard: takes the world of the API tests
# (tests/serve/world.py: the real pipeline, simulate to run), copied from
# WORLD (ctest's serve_world fixture) or built when WORLD is not given,
# starts `churnwatch serve`, and drives Debian's Chromium headless through
# Playwright (playwright-core from the build tree's npm ci, pinned in
# web/package-lock.json) with dashboard.mjs. Screenshots are kept in
# BUILD/browser-artifacts/. Exit 77 (ctest: skipped) only when Chromium
# cannot start at all; every other problem fails.
# usage: run.sh path/to/churnwatch BUILD_DIR [WORLD]
set -uo pipefail
. "$(dirname "$(realpath "$0")")/../lib/db.sh"
BIN=$(realpath "$1")
BUILD=$(realpath "$2")
WORLD=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export NODE_PATH="$BUILD/web/node_modules"
if [ ! -d "$NODE_PATH/playwright-core" ]; then
  echo "FAIL: $NODE_PATH/playwright-core missing (the build's npm ci did not run)"; exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "SKIP: $CHROMIUM not found (scripts/install-deps.sh installs chromium)"; exit 77
fi
T=$(mktemp -d /tmp/cw-browser-XXXXXX)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; cw_db_cleanup; rm -rf "$T"; }
trap cleanup EXIT
if [ -n "$WORLD" ]; then
  python3 "$HERE/../serve/world.py" copy "$WORLD" "$T" || { echo "FAIL: copying the world"; exit 1; }
else
  python3 "$HERE/../serve/world.py" build "$BIN" "$T/world-src" &&
    python3 "$HERE/../serve/world.py" copy "$T/world-src" "$T" || { echo "FAIL: building the world"; exit 1; }
  WORLD=$T/world-src
fi
[ -f "$T/world-src/db" ] && cw_db_adopt "$(cat "$T/world-src/db")"
cw_db_adopt "$(cat "$T/db")" # world.py's copy: this test drops it
DB=$(cat "$T/db")
python3 "$HERE/../serve/world.py" expect "$WORLD" >"$T/expect.json" || { echo "FAIL: expected values"; exit 1; }
export CHURNWATCH_CONFIG=
# Named users: a CSM and a viewer (passwords on stdin, never in argv).
echo "carl's password 1" | "$BIN" user add carl --db "$DB" --email carl@example.com --role csm --password-stdin &&
  echo "vera's password 2" | "$BIN" user add vera --db "$DB" --email vera@example.com --role viewer --password-stdin ||
  { echo "FAIL: user add"; exit 1; }
export CW_WORLD_PY="$HERE/../serve/world.py" CW_TEST_DIR="$T"
"$BIN" serve --db "$DB" --listen 127.0.0.1:0 >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
for _ in $(seq 50); do grep -qs "http://" "$T/serve.out" && break; sleep 0.1; done
URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/serve.out") || { echo "FAIL: server did not start"; cat "$T/serve.err"; exit 1; }
mkdir -p "$BUILD/browser-artifacts"
"$BIN" report html --db "$DB" --out "$T/report.html" --accounts 5 || { echo "FAIL: report html"; exit 1; }
node "$HERE/dashboard.mjs" "$URL" "$(cat "$T/read.token")" "$(cat "$T/write.token")" \
  "$CHROMIUM" "$BUILD/browser-artifacts" "$T/report.html" "$T/expect.json"
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 77 ] && { echo "server stderr:"; tail -20 "$T/serve.err"; }
exit $rc
