#!/usr/bin/env bash
# Installs the Debian packages parley's build, tests, demo and benchmark need.
# Only what is missing is installed; as root directly, otherwise through sudo.
set -eu
pkgs=(build-essential pkg-config clang clang-format libevent-dev libpq-dev libcjson-dev
      libcurl4-openssl-dev libssl-dev libcmocka-dev postgresql postgresql-client
      curl jq wrk procps systemd python3 mandoc chromium pgbouncer haproxy lintian)
# The widget's browser test drives Debian's chromium with playwright-core from
# npm. A machine that already has Node.js (e.g. a newer one than Debian's,
# which brings its own npm) keeps it; only a missing one is installed.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
((${#missing[@]})) || { echo "deps: all present"; exit 0; }
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "deps: installing ${missing[*]}"
for _ in 1 2 3; do $SUDO apt-get update -qq && break; sleep 5; done
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
