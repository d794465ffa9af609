#!/usr/bin/env bash
# Runs every test, from a bare Debian 12 machine with Swift.
#
# Installs the Debian packages (sudo when not root), starts throwaway Redis and
# MariaDB on loopback (fresh data in .data/test, removed first), builds, runs
# the Swift tests (unit, store and route tests), then the end-to-end tests that
# drive the built server over HTTP. Stops the stores on exit.
# SYMBOLSTREAM_KEEP_STORES=1 leaves them running for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*" >&2; }
started=$SECONDS

step "packages"
provisioning/install-packages.sh

step "throwaway Redis and MariaDB (.data/test)"
provisioning/stores.sh stop --profile test >/dev/null 2>&1 || true
rm -rf .data/test
provisioning/stores.sh start --profile test
if [[ "${SYMBOLSTREAM_KEEP_STORES:-0}" != 1 ]]; then
    trap 'provisioning/stores.sh stop --profile test >/dev/null 2>&1 || true' EXIT
fi
set -a
# shellcheck disable=SC1091
source .data/test/env
set +a

step "build"
swift build --build-tests

step "swift tests (unit, stores against the real servers, routes)"
swift test --skip-build

python=""
for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import requests' 2>/dev/null; then
        python=$candidate
        break
    fi
done
[[ -n "$python" ]] || { echo "test.sh: no python3 with the requests module (python3-requests)" >&2; exit 1; }

export SYMBOLSTREAM_BINARY="$PWD/.build/debug/symbolstream"
for test in Tests/e2e/test_*.py; do
    step "end to end: $test"
    "$python" "$test"
done

step "all tests passed in $((SECONDS - started))s"
