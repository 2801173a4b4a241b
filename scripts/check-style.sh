#!/usr/bin/env bash
# Style check run by `make test`: clang-format conformance (.clang-format)
# and the banned-function list (atoi, sprintf, strcpy, … : use strtol,
# snprintf and bounded copies). Exits non-zero on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find include lib src tests fuzz bench -name '*.[ch]')
[ -n "$files" ] || { echo "style: no sources found"; exit 1; }
rc=0
if ! clang-format --dry-run -Werror $files 2>/tmp/cw-style.$$; then
  head -40 /tmp/cw-style.$$
  echo "style: clang-format differences (run: clang-format -i <file>)"
  rc=1
fi
rm -f /tmp/cw-style.$$
banned='\b(atoi|atol|atoll|atof|sprintf|vsprintf|strcpy|strcat|strncat|strtok|gets|tmpnam|mktemp)[[:space:]]*\('
if grep -nE "$banned" $files; then
  echo "style: banned functions used (see scripts/check-style.sh)"
  rc=1
fi
n=$(echo "$files" | wc -w)
if [ $rc -eq 0 ]; then echo "style: $n files clean"; fi
exit $rc
