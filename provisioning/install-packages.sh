#!/usr/bin/env bash
# Install the Debian packages SymbolStream needs to build, test and run.
#
#   provisioning/install-packages.sh [EXTRA_PACKAGE ...]
#
# - Idempotent and fast: when every package is already installed (checked with
#   dpkg-query) apt is not touched at all, and nothing is printed except one line.
# - Runs `apt-get update` only when something is missing.
# - Never starts system services: while apt runs, a temporary policy-rc.d that
#   forbids starting services is put in place (an existing one is left alone).
#   The local stores are started by provisioning/stores.sh as the current user;
#   in Vagrant, provisioning/vagrant/configure-stores.sh starts the system ones.
# - Uses sudo when not root.
#
# Environment:
#   SYMBOLSTREAM_APT_OPTIONS   extra options for `apt-get install` (word-split),
#                              e.g. "--no-install-recommends".
set -euo pipefail

PACKAGES=(
    redis-server
    mariadb-server
    libhiredis-dev
    libmariadb-dev
    pkg-config
    wrk
    chromium
    libjs-chart.js
    python3
    python3-requests
    python3-prometheus-client
    python3-venv
    curl
    haproxy
    ca-certificates
)
PACKAGES+=("$@")

log() { printf 'install-packages: %s\n' "$*" >&2; }

# Packages whose status is not "install ok installed" (dpkg abbreviation "ii").
# One dpkg-query call for all of them: this is the whole cost of a no-op run.
installed="$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null |
    awk '$2 == "ii" { sub(/:.*/, "", $1); print $1 }' || true)"
missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! grep -qxF -- "${pkg%%:*}" <<<"$installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    log "all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        log "not root and sudo is not installed; cannot install: ${missing[*]}"
        exit 1
    fi
    SUDO=(sudo)
fi

# Keep apt from starting services (redis-server, mariadb) in package scripts.
POLICY=/usr/sbin/policy-rc.d
policy_created=0
cleanup() {
    if [ "$policy_created" -eq 1 ]; then
        "${SUDO[@]}" rm -f "$POLICY"
    fi
}
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# Temporary, from SymbolStream provisioning/install-packages.sh\nexit 101\n' |
        "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 0755 "$POLICY"
    policy_created=1
fi

export DEBIAN_FRONTEND=noninteractive
APT_ENV=(env DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a)
read -r -a extra_opts <<<"${SYMBOLSTREAM_APT_OPTIONS:-}"

log "missing: ${missing[*]}"
log "apt-get update"
"${SUDO[@]}" "${APT_ENV[@]}" apt-get update -qq
log "apt-get install ${missing[*]}"
"${SUDO[@]}" "${APT_ENV[@]}" apt-get install -y -q \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${extra_opts[@]}" "${missing[@]}"
log "done"
