#!/usr/bin/env bash
# Runs every test, from a bare Debian 12 machine with Swift.
#
# Installs the Debian packages (sudo when not root), starts throwaway Redis and
# MariaDB on loopback (fresh data in .data/test, removed first), builds, runs
# the Swift tests (unit, store and route tests), then the end-to-end tests that
# drive the built server over HTTP, the fault tests (Tests/fault) and the fuzz
# run (Tests/fuzz, schemathesis in a venv under .data). Stops the stores on exit.
# SYMBOLSTREAM_KEEP_STORES=1 leaves them running for a look afterwards.
# SYMBOLSTREAM_TEST_PROFILE=name (with SYMBOLSTREAM_REDIS_PORT and
# SYMBOLSTREAM_MARIADB_PORT) uses other ports, so that two checkouts can test at once.
set -euo pipefail
cd "$(dirname "$0")"
profile="${SYMBOLSTREAM_TEST_PROFILE:-test}"

step() { printf '\n==> %s\n' "$*" >&2; }
started=$SECONDS

step "packages"
provisioning/install-packages.sh

step "throwaway Redis and MariaDB (.data/$profile)"
provisioning/stores.sh stop --profile "$profile" >/dev/null 2>&1 || true
rm -rf ".data/$profile"
provisioning/stores.sh start --profile "$profile" >/dev/null
if [[ "${SYMBOLSTREAM_KEEP_STORES:-0}" != 1 ]]; then
    trap 'provisioning/stores.sh stop --profile "$profile" >/dev/null 2>&1 || true' EXIT
fi
set -a
# shellcheck disable=SC1091
source ".data/$profile/env"
set +a

step "build"
swift build --build-tests

step "swift tests (unit, stores against the real servers, routes)"
swift test --skip-build

python=""
for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import requests, prometheus_client' 2>/dev/null; then
        python=$candidate
        break
    fi
done
[[ -n "$python" ]] || { echo "test.sh: no python3 with the requests and prometheus_client modules (python3-requests, python3-prometheus-client)" >&2; exit 1; }

export SYMBOLSTREAM_BINARY="$PWD/.build/debug/symbolstream"
for test in Tests/e2e/test_*.py; do
    step "end to end: $test"
    "$python" "$test"
done

# Fault tests break the profile's stores for real (stop, kill, freeze, restart).
for test in Tests/fault/test_*.py; do
    step "faults: $test"
    "$python" "$test"
done

# The fuzz run needs schemathesis from PyPI, in a venv that git ignores.
venv=.data/pyvenv
step "fuzz: Python venv $venv (Tests/fuzz/requirements.txt)"
if [[ ! -x "$venv/bin/python" ]]; then
    "$(command -v /usr/bin/python3 || command -v python3)" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r Tests/fuzz/requirements.txt
for test in Tests/fuzz/test_*.py; do
    step "fuzz: $test"
    "$venv/bin/python" "$test"
done

step "all tests passed in $((SECONDS - started))s"
