#!/usr/bin/env bash
# Vagrant VM (root): write /etc/symbolstream.env (mode 0600) and install, enable and
# (re)start symbolstream.service, which runs the release build from /vagrant on port
# 5000 against the system Redis and MariaDB. Re-runnable; always restarts the service
# so that a new build is picked up.
#
# It succeeds only when GET /health answers 200 with status "ok" (Redis and MariaDB
# reachable by the service with the configured credentials). Any other answer, a 503
# included, within SYMBOLSTREAM_HEALTH_TIMEOUT seconds makes it print the last health
# body, the unit's status and journal, and exit 1, so that `vagrant up` fails loudly.
# (It used to take any HTTP answer as "serving": every non-root deployment answered
# 503 to everything and `vagrant up` still ended green; issue 12.)
#
# Environment: SYMBOLSTREAM_REDIS_PASSWORD, SYMBOLSTREAM_MARIADB_DATABASE,
#   SYMBOLSTREAM_MARIADB_USER, SYMBOLSTREAM_MARIADB_PASSWORD (default og each),
#   SYMBOLSTREAM_SERVICE_USER (default vagrant),
#   SYMBOLSTREAM_HEALTH_TIMEOUT (seconds to wait for a healthy answer, default 60),
#   SYMBOLSTREAM_ENV_FILE, SYMBOLSTREAM_UNIT_DIR, SYMBOLSTREAM_HEALTH_URL (for testing;
#   defaults /etc/symbolstream.env, /etc/systemd/system, http://127.0.0.1:5000/health),
#   --files-only (write the files, no systemctl), --wait-only (only the health wait).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FILES_ONLY=0
WAIT_ONLY=0
[ "${1:-}" = --files-only ] && FILES_ONLY=1
[ "${1:-}" = --wait-only ] && WAIT_ONLY=1
HEALTH_URL="${SYMBOLSTREAM_HEALTH_URL:-http://127.0.0.1:5000/health}"
HEALTH_TIMEOUT="${SYMBOLSTREAM_HEALTH_TIMEOUT:-60}"
[[ "$HEALTH_TIMEOUT" =~ ^[0-9]+$ ]] || {
    printf 'install-service: error: SYMBOLSTREAM_HEALTH_TIMEOUT must be a number of seconds\n' >&2
    exit 1
}
ENV_FILE="${SYMBOLSTREAM_ENV_FILE:-/etc/symbolstream.env}"
UNIT_DIR="${SYMBOLSTREAM_UNIT_DIR:-/etc/systemd/system}"
SERVICE_USER="${SYMBOLSTREAM_SERVICE_USER:-vagrant}"
BINARY=/vagrant/.build/release/symbolstream

log() { printf 'install-service: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Waits for GET /health to answer 200 with status "ok"; otherwise shows why and fails.
wait_healthy() {
    local body code="" deadline=$((SECONDS + HEALTH_TIMEOUT))
    body="$(mktemp)"
    while :; do
        code="$(curl -s -o "$body" -m 2 -w '%{http_code}' "$HEALTH_URL" || true)"
        # The top-level status is ok | degraded (MariaDB unreachable) | unavailable;
        # the dependencies' own are up | down.
        if [ "$code" = 200 ] && grep -Eq '"status" *: *"ok"' "$body"; then
            log "symbolstream is healthy (GET $HEALTH_URL: 200, status ok)"
            rm -f "$body"
            return 0
        fi
        [ "$SECONDS" -lt "$deadline" ] || break
        sleep 1
    done
    case "$code" in
    000 | "") log "GET $HEALTH_URL: no answer for ${HEALTH_TIMEOUT}s" ;;
    *) log "GET $HEALTH_URL answered $code, not 200 with status ok, for ${HEALTH_TIMEOUT}s; the last body:" ;;
    esac
    # /health names each dependency's error and never a password (Tests/e2e/test_secrets.py).
    if [ -s "$body" ]; then
        sed 's/^/    /' "$body" >&2
        printf '\n' >&2
    fi
    rm -f "$body"
    if [ "$WAIT_ONLY" -eq 0 ]; then
        systemctl --no-pager status symbolstream >&2 || true
        journalctl -u symbolstream -n 40 --no-pager >&2 || true
    fi
    die "symbolstream is not healthy: see /health above and \`journalctl -u symbolstream\`"
}

if [ "$WAIT_ONLY" -eq 1 ]; then
    wait_healthy
    exit 0
fi

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

wait_healthy
