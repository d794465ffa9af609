#!/usr/bin/env bash
# Runs SymbolStream on http://localhost:5000 with its own Redis and MariaDB.
#
# On a bare Debian 12 machine with Swift: installs the Debian packages it needs
# (sudo when not root), starts Redis and MariaDB as the current user on
# loopback with their data in .data/dev (kept between runs), builds in release
# mode and serves in the foreground. Ctrl-C stops the service gracefully; the
# stores keep running (`provisioning/stores.sh stop --profile dev` stops them).
# Extra arguments go to `symbolstream serve`, e.g. `./run.sh --host 0.0.0.0`.
set -euo pipefail
cd "$(dirname "$0")"

provisioning/install-packages.sh
provisioning/stores.sh start --profile dev
set -a
# shellcheck disable=SC1091
source .data/dev/env
set +a

echo "run.sh: building (release)…" >&2
swift build -c release --product symbolstream
exec .build/release/symbolstream serve --port "${SYMBOLSTREAM_PORT:-5000}" "$@"
