#!/usr/bin/env bash
# Installs the Debian packages churnwatch needs to build and test, when any
# is missing. Idempotent and quiet when everything is present. Uses sudo
# when not root.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev clang-format valgrind
      libsqlite3-dev sqlite3 libjansson-dev libcmocka-dev zlib1g-dev
      python3 time liblinear-dev libxgboost-dev python3-sklearn python3-xgboost
      libcurl4-openssl-dev libmicrohttpd-dev libssl-dev wrk nodejs chromium
      libpq-dev postgresql-15   # the PostgreSQL store (lib/store/pg/) and its throwaway test cluster
      tzdata   # tzdata: IANA zones for mappings' .zone (lib/core/tz.c reads /usr/share/zoneinfo)
      systemd  # systemd: systemd-analyze verify on dist/systemd/ (tests/systemd_units.sh)
      zsh groff man-db) # the generated zsh completion and man pages are checked (tests/cli_contract.sh)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian ships npm separately from nodejs; a nodesource nodejs bundles it.
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
