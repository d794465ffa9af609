#!/usr/bin/env bash
# Runs every test, from a bare Debian 12 machine with Swift.
#
# Installs the Debian packages (sudo when not root), starts throwaway Redis and
# MariaDB on loopback (fresh data in .data/test, removed first), builds, runs
# the Swift tests (unit, store and route tests), then the end-to-end tests that
# drive the built server over HTTP, the fault tests (Tests/fault) and the fuzz
# run (Tests/fuzz, schemathesis in a venv under .data), the provisioning tests
# (Tests/provisioning); then `vagrant up` in a booted Debian 12 container
# (provisioning/vagrant/check-in-container.sh, root only). Stops the stores on exit.
#
# The servers those tests start run unprivileged, as in production: as
# SYMBOLSTREAM_SERVE_USER (default nobody) when this runs as root, else as the
# current user (Tests/e2e/harness.py fails any test whose server runs as root).
#
# SYMBOLSTREAM_KEEP_STORES=1 leaves the stores running for a look afterwards.
# SYMBOLSTREAM_TEST_PROFILE=name (with SYMBOLSTREAM_REDIS_PORT and
# SYMBOLSTREAM_MARIADB_PORT) uses other ports, so that two checkouts can test at once.
# A throwaway Redis Cluster (3 primaries, 3 replicas) with its MariaDB
# (.data/<profile>cluster) starts beside them during the build; the traffic,
# dashboard and /stream suites run again against it through HAProxy in front
# of two fronts, and Tests/fault/test_cluster_faults.py breaks it.
# SYMBOLSTREAM_TEST_CLUSTER_PROFILE=name (default <profile>cluster) with
# SYMBOLSTREAM_TEST_CLUSTER_PORT (node 1's port, default 7011: nodes 7011-7016)
# and SYMBOLSTREAM_TEST_CLUSTER_MARIADB_PORT (default 3310) for the cluster; the
# Swift cluster tests take SYMBOLSTREAM_CLUSTER_TEST_PROFILE and
# SYMBOLSTREAM_CLUSTER_TEST_PORT (Tests/ClusterTestSupport, default 7101-7106).
# SYMBOLSTREAM_SKIP_CONTAINER=1 skips the container check (about 15-25 minutes: it
# installs the VM's packages and builds the release from scratch); CI runs it.
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
staged=""
cleanup() {
    if [[ "${SYMBOLSTREAM_KEEP_STORES:-0}" != 1 ]]; then
        provisioning/stores.sh stop --profile "$profile" >/dev/null 2>&1 || true
        provisioning/stores.sh stop --profile "$cluster_profile" >/dev/null 2>&1 || true
    fi
    if [[ -n "$staged" ]]; then rm -rf "$staged"; fi
}
trap cleanup EXIT

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
if [[ "$(id -u)" -eq 0 ]]; then
    export SYMBOLSTREAM_SERVE_USER="${SYMBOLSTREAM_SERVE_USER:-nobody}"
    serve_as=(setpriv --reuid="$SYMBOLSTREAM_SERVE_USER" --regid="$(id -g "$SYMBOLSTREAM_SERVE_USER")" --clear-groups --)
    # A checkout in a folder closed to other users (/root, say): the servers get a
    # copy of the binary in a folder they can reach (it finds its libraries in the
    # toolchain, by an absolute RUNPATH).
    if ! "${serve_as[@]}" test -x "$SYMBOLSTREAM_BINARY"; then
        staged="$(mktemp -d /tmp/symbolstream-serve.XXXXXX)"
        chmod 0755 "$staged"
        cp "$SYMBOLSTREAM_BINARY" "$staged/symbolstream"
        SYMBOLSTREAM_BINARY="$staged/symbolstream"
        step "$SYMBOLSTREAM_SERVE_USER cannot reach .build/debug here: the servers run a copy in $staged"
    fi
    "${serve_as[@]}" test -x "$SYMBOLSTREAM_BINARY" || { echo "test.sh: $SYMBOLSTREAM_SERVE_USER cannot run $SYMBOLSTREAM_BINARY" >&2; exit 1; }
fi
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

for test in Tests/provisioning/test_*.py; do
    step "provisioning: $test"
    "$python" "$test"
done

# `vagrant up` in a booted Debian 12 (systemd-nspawn), with the Vagrantfile's
# provisioners, checked end to end; see provisioning/vagrant/check-in-container.sh.
# The test stores' settings exported above are not the VM's: the Vagrantfile must
# see the environment a user would have, so they are left out.
if [[ "${SYMBOLSTREAM_SKIP_CONTAINER:-0}" == 1 ]]; then
    step "vagrant up in a container: skipped (SYMBOLSTREAM_SKIP_CONTAINER=1)"
elif [[ "$(id -u)" -ne 0 ]]; then
    step "vagrant up in a container: skipped (needs root for debootstrap and systemd-nspawn)"
else
    step "vagrant up in a booted Debian 12 container (provisioning/vagrant/check-in-container.sh)"
    mapfile -t store_vars < <(sed -n 's/^export \(SYMBOLSTREAM_[A-Z_]*\)=.*/\1/p' ".data/$profile/env")
    store_vars+=(SYMBOLSTREAM_CLUSTER_PROFILE)
    env "${store_vars[@]/#/--unset=}" provisioning/vagrant/check-in-container.sh
fi

step "all tests passed in $((SECONDS - started))s"
