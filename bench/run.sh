#!/usr/bin/env bash
# Runs every benchmark case side by side and rewrites BENCHMARKS.md.
#
#   bench/run.sh                  # the full run: 10M preloaded requests (~20-30 min)
#   bench/run.sh --events 1000000 --duration 5    # a quicker smoke run
#   bench/run.sh --scale          # only the scale-out cases (bench/scale.py, ~6 min):
#                                 # 16 shards vs 1, memory, the Redis Cluster
#
# Installs the Debian packages, builds in release mode, prepares a Python venv
# with Flask + gunicorn for the reference app, starts its own Redis and MariaDB
# (profile "bench": fresh data in .data/bench-stores, ports 6389/3389), runs
# bench/run.py, stops the stores. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
command="bench/run.sh${*:+ $*}"

provisioning/install-packages.sh
echo "bench: building (release)…" >&2
swift build -c release --product symbolstream
swift build -c release --product noop-server
swift build -c release --product stream-client

if [[ ! -x .data/bench/venv/bin/python ]]; then
    mkdir -p .data/bench
    python3 -m venv .data/bench/venv
fi
.data/bench/venv/bin/pip install -q -r bench/reference/requirements.txt

export SYMBOLSTREAM_REDIS_PORT="${BENCH_REDIS_PORT:-6389}" SYMBOLSTREAM_MARIADB_PORT="${BENCH_MARIADB_PORT:-3389}"
SYMBOLSTREAM_DATA_ROOT="$PWD/.data/bench-stores" provisioning/stores.sh stop --profile bench >/dev/null 2>&1 || true
rm -rf .data/bench-stores .data/bench/env
SYMBOLSTREAM_DATA_ROOT="$PWD/.data/bench-stores" provisioning/stores.sh start --profile bench >/dev/null
trap 'SYMBOLSTREAM_DATA_ROOT="$PWD/.data/bench-stores" provisioning/stores.sh stop --profile bench >/dev/null 2>&1 || true' EXIT
cp .data/bench-stores/bench/env .data/bench/env

if [[ "${1:-}" == --scale ]]; then
    shift
    python3 bench/scale.py --command "$command" "$@"
else
    python3 bench/run.py --command "$command" "$@"
fi
