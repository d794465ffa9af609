#!/usr/bin/env bash
# Vagrant VM, as the vagrant user (privileged: false): build SymbolStream in release
# mode in /vagrant. Incremental on re-provision.
#
# Environment: SYMBOLSTREAM_SRC (default /vagrant), SWIFT_PREFIX (default /opt/swift).
set -euo pipefail

SRC="${SYMBOLSTREAM_SRC:-/vagrant}"
export PATH="${SWIFT_PREFIX:-/opt/swift}/usr/bin:$PATH"

log() { printf 'build: %s\n' "$*" >&2; }

command -v swift >/dev/null || {
    log "error: swift not found (provisioning/vagrant/install-swift.sh installs it)"
    exit 1
}
cd "$SRC"
log "$(swift --version 2>&1 | head -n 1)"
log "swift build -c release in $SRC (a first build takes several minutes)"
start=$SECONDS
swift build -c release
bin="$(swift build -c release --show-bin-path)/symbolstream"
[ -x "$bin" ] || {
    log "error: $bin was not built"
    exit 1
}
log "built $bin in $((SECONDS - start))s"
