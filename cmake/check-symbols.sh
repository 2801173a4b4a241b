#!/bin/sh
# Fails when a static library defines a global symbol without the project's
# cw_ prefix (docs/architecture.md: every exported name is cw_…, so the
# library can be linked into anything without clashes). Run after each
# build of the library by CMake. Usage: check-symbols.sh LIB.a
lib=$1
bad=$(nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' |
      grep -v -E '^(cw_|__|\.|asan\.|sancov\.)' | sort -u)
if [ -n "$bad" ]; then
  echo "$lib: global symbols without the cw_ prefix (make them static or rename them):" >&2
  echo "$bad" | sed 's/^/  /' >&2
  exit 1
fi
