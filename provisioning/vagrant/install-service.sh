#!/usr/bin/env bash
# Vagrant VM (root): write /etc/symbolstream.env (mode 0600) and install, enable and
# (re)start symbolstream.service, which runs the release build from /vagrant on port
# 5000 against the system Redis and MariaDB. Re-runnable; always restarts the service
# so that a new build is picked up.
#
# Environment: SYMBOLSTREAM_REDIS_PASSWORD, SYMBOLSTREAM_MARIADB_DATABASE,
#   SYMBOLSTREAM_MARIADB_USER, SYMBOLSTREAM_MARIADB_PASSWORD (default og each),
#   SYMBOLSTREAM_SERVICE_USER (default vagrant),
#   SYMBOLSTREAM_ENV_FILE, SYMBOLSTREAM_UNIT_DIR (for testing; defaults
#   /etc/symbolstream.env and /etc/systemd/system), --files-only (no systemctl).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FILES_ONLY=0
[ "${1:-}" = --files-only ] && FILES_ONLY=1
ENV_FILE="${SYMBOLSTREAM_ENV_FILE:-/etc/symbolstream.env}"
UNIT_DIR="${SYMBOLSTREAM_UNIT_DIR:-/etc/systemd/system}"
SERVICE_USER="${SYMBOLSTREAM_SERVICE_USER:-vagrant}"
BINARY=/vagrant/.build/release/symbolstream

log() { printf 'install-service: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# systemd EnvironmentFile value: double-quoted, with \ and " escaped.
envq() {
    local v="${1//\\/\\\\}"
    printf '"%s"' "${v//\"/\\\"}"
}

service_group="$(id -gn "$SERVICE_USER" 2>/dev/null)" || die "no user '$SERVICE_USER'"

(
    umask 077
    tmp="$(mktemp "$ENV_FILE.XXXXXX")"
    {
        echo "# SymbolStream service environment (provisioning/vagrant/install-service.sh)."
        echo "SYMBOLSTREAM_REDIS_HOST=127.0.0.1"
        echo "SYMBOLSTREAM_REDIS_PORT=6379"
        echo "SYMBOLSTREAM_REDIS_PASSWORD=$(envq "${SYMBOLSTREAM_REDIS_PASSWORD:-og}")"
        echo "SYMBOLSTREAM_MARIADB_HOST=127.0.0.1"
        echo "SYMBOLSTREAM_MARIADB_PORT=3306"
        echo "SYMBOLSTREAM_MARIADB_SOCKET=/run/mysqld/mysqld.sock"
        echo "SYMBOLSTREAM_MARIADB_USER=$(envq "${SYMBOLSTREAM_MARIADB_USER:-og}")"
        echo "SYMBOLSTREAM_MARIADB_PASSWORD=$(envq "${SYMBOLSTREAM_MARIADB_PASSWORD:-og}")"
        echo "SYMBOLSTREAM_MARIADB_DATABASE=$(envq "${SYMBOLSTREAM_MARIADB_DATABASE:-og}")"
    } >"$tmp"
    chmod 0600 "$tmp"
    mv -f "$tmp" "$ENV_FILE"
)
log "wrote $ENV_FILE (mode 0600)"

sed -e "s/@USER@/$SERVICE_USER/" -e "s/@GROUP@/$service_group/" \
    "$SCRIPT_DIR/symbolstream.service" >"$UNIT_DIR/symbolstream.service.tmp"
chmod 0644 "$UNIT_DIR/symbolstream.service.tmp"
mv -f "$UNIT_DIR/symbolstream.service.tmp" "$UNIT_DIR/symbolstream.service"
log "wrote $UNIT_DIR/symbolstream.service"

[ "$FILES_ONLY" -eq 0 ] || exit 0

[ -x "$BINARY" ] || die "$BINARY is missing: run provisioning/vagrant/build.sh first"
systemctl daemon-reload
systemctl enable --quiet symbolstream
log "restarting symbolstream"
systemctl restart symbolstream

# Any HTTP answer on port 5000 means it is serving.
for i in $(seq 1 60); do
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1:5000/health || true)"
    if [ -n "$code" ] && [ "$code" != 000 ]; then
        log "symbolstream answers on :5000 (GET /health: $code)"
        exit 0
    fi
    [ "$i" -lt 60 ] || break
    sleep 1
done
systemctl --no-pager status symbolstream >&2 || true
journalctl -u symbolstream -n 40 --no-pager >&2 || true
die "symbolstream does not answer on port 5000"
