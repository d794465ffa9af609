#!/usr/bin/env bash
# Runs every test, from a bare Debian 12 machine with Swift.
#
# Installs the Debian packages (sudo when not root), starts throwaway Redis and
# MariaDB on loopback (fresh data in .data/test, removed first) and, beside
# them, a throwaway Redis Cluster (3 primaries, 3 replicas) with its MariaDB
# (.data/testcluster), builds, runs the Swift tests (unit, store and route
# tests), then the end-to-end tests that drive the built server over HTTP (the
# traffic, dashboard and /stream suites also against the cluster: two fronts
# behind HAProxy), the fault tests (Tests/fault, the cluster's too) and the fuzz
# run (Tests/fuzz, schemathesis in a venv under .data). Stops the stores on exit.
# SYMBOLSTREAM_KEEP_STORES=1 leaves them running for a look afterwards.
# SYMBOLSTREAM_TEST_PROFILE=name (with SYMBOLSTREAM_REDIS_PORT and
# SYMBOLSTREAM_MARIADB_PORT) uses other ports, so that two checkouts can test at
# once; likewise SYMBOLSTREAM_TEST_CLUSTER_PROFILE=name (default <profile>cluster)
# with SYMBOLSTREAM_TEST_CLUSTER_PORT (node 1's port, default 7011: nodes
# 7011-7016, cluster bus 17011-17016) and SYMBOLSTREAM_TEST_CLUSTER_MARIADB_PORT
# (default 3310) for the cluster; the Swift cluster tests take
# SYMBOLSTREAM_CLUSTER_TEST_PROFILE and SYMBOLSTREAM_CLUSTER_TEST_PORT
# (Tests/ClusterTestSupport, default clustertest on 7101-7106).
set -euo pipefail
cd "$(dirname "$0")"
profile="${SYMBOLSTREAM_TEST_PROFILE:-test}"
cluster_profile="${SYMBOLSTREAM_TEST_CLUSTER_PROFILE:-${profile}cluster}"

step() { printf '\n==> %s\n' "$*" >&2; }
started=$SECONDS

step "packages"
provisioning/install-packages.sh

step "throwaway Redis and MariaDB (.data/$profile)"
provisioning/stores.sh stop --profile "$profile" >/dev/null 2>&1 || true
rm -rf ".data/$profile"
provisioning/stores.sh start --profile "$profile" >/dev/null
if [[ "${SYMBOLSTREAM_KEEP_STORES:-0}" != 1 ]]; then
    trap 'provisioning/stores.sh stop --profile "$profile" >/dev/null 2>&1 || true
          provisioning/stores.sh stop --profile "$cluster_profile" >/dev/null 2>&1 || true' EXIT
fi

# The cluster starts in the background while the build runs; a short
# cluster-node-timeout, so that a replica takes over a killed primary in seconds.
step "throwaway Redis Cluster and MariaDB (.data/$cluster_profile), in the background"
provisioning/stores.sh stop --profile "$cluster_profile" >/dev/null 2>&1 || true
rm -rf ".data/$cluster_profile"
mkdir -p .data
SYMBOLSTREAM_PROFILE="$cluster_profile" \
    SYMBOLSTREAM_REDIS_CLUSTER_PORT="${SYMBOLSTREAM_TEST_CLUSTER_PORT:-7011}" \
    SYMBOLSTREAM_MARIADB_PORT="${SYMBOLSTREAM_TEST_CLUSTER_MARIADB_PORT:-3310}" \
    SYMBOLSTREAM_CLUSTER_NODE_TIMEOUT=1000 SYMBOLSTREAM_MARIADB_BUFFER_POOL=256M \
    provisioning/stores.sh start --profile "$cluster_profile" --redis-cluster \
    >".data/$cluster_profile.start.log" 2>&1 &
cluster_start=$!
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

step "waiting for the Redis Cluster (.data/$cluster_profile)"
wait "$cluster_start" || {
    cat ".data/$cluster_profile.start.log" >&2
    echo "test.sh: the Redis Cluster stores profile $cluster_profile did not start" >&2
    exit 1
}
export SYMBOLSTREAM_CLUSTER_PROFILE="$cluster_profile"
# The same suites through HAProxy in front of two fronts on the cluster
# (Tests/e2e/harness.py ClusterDeployment), checked the same way.
for test in Tests/e2e/test_traffic.py Tests/e2e/test_dashboard.py Tests/e2e/test_stream.py; do
    step "end to end on the cluster (HAProxy, 2 fronts): $test"
    SYMBOLSTREAM_E2E_DEPLOYMENT=cluster "$python" "$test"
done

# Fault tests break the profiles' stores for real (stop, kill, freeze, restart;
# the cluster's nodes, fronts and archivers: test_cluster_faults.py).
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
