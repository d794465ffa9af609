#!/usr/bin/env bash
# Vagrant VM (root, systemd): configure and start the SYSTEM redis-server and mariadb
# services for SymbolStream, and create its database and user. Re-runnable: files
# are rewritten only when their content changes, and a service is restarted only
# then (or when it is not running).
#
#   provisioning/vagrant/configure-stores.sh [--config-only]
#
# --config-only writes the configuration files and exits (no systemctl, no SQL);
# with the *_FILE variables below pointing at copies, it is how the edits are tested
# off the VM.
#
# Environment:
#   SYMBOLSTREAM_REDIS_PASSWORD       requirepass                     (default og)
#   SYMBOLSTREAM_REDIS_APPENDFSYNC    always | everysec | no          (default always: an
#                                     acknowledged event survives a power cut)
#   SYMBOLSTREAM_MARIADB_DATABASE, SYMBOLSTREAM_MARIADB_USER, SYMBOLSTREAM_MARIADB_PASSWORD
#                                     (default og / og / og)
#   SYMBOLSTREAM_MARIADB_BUFFER_POOL  innodb_buffer_pool_size         (default 1G)
#   REDIS_CONF_FILE      (default /etc/redis/redis.conf)
#   REDIS_INCLUDE_FILE   (default /etc/redis/symbolstream.conf)
#   MARIADB_CNF_FILE     (default /etc/mysql/mariadb.conf.d/60-symbolstream.cnf)
set -euo pipefail

CONFIG_ONLY=0
[ "${1:-}" = --config-only ] && CONFIG_ONLY=1

REDIS_CONF_FILE="${REDIS_CONF_FILE:-/etc/redis/redis.conf}"
REDIS_INCLUDE_FILE="${REDIS_INCLUDE_FILE:-/etc/redis/symbolstream.conf}"
MARIADB_CNF_FILE="${MARIADB_CNF_FILE:-/etc/mysql/mariadb.conf.d/60-symbolstream.cnf}"
REDIS_PASSWORD="${SYMBOLSTREAM_REDIS_PASSWORD:-og}"
APPENDFSYNC="${SYMBOLSTREAM_REDIS_APPENDFSYNC:-always}"
DB="${SYMBOLSTREAM_MARIADB_DATABASE:-og}"
DB_USER="${SYMBOLSTREAM_MARIADB_USER:-og}"
DB_PASSWORD="${SYMBOLSTREAM_MARIADB_PASSWORD:-og}"
BUFFER_POOL="${SYMBOLSTREAM_MARIADB_BUFFER_POOL:-1G}"

log() { printf 'configure-stores: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

case "$APPENDFSYNC" in always | everysec | no) ;; *) die "SYMBOLSTREAM_REDIS_APPENDFSYNC must be always, everysec or no" ;; esac

# install_file CONTENT PATH MODE OWNER -> exit 0 when the file changed.
install_file() {
    local content="$1" path="$2" mode="$3" owner="$4"
    if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ]; then
        return 1
    fi
    local tmp
    tmp="$(mktemp "$path.XXXXXX")"
    printf '%s\n' "$content" >"$tmp"
    chmod "$mode" "$tmp"
    if [ "$(id -u)" -eq 0 ]; then chown "$owner" "$tmp" 2>/dev/null || true; fi
    mv -f "$tmp" "$path"
    log "wrote $path"
    return 0
}

# ------------------------------------------------------------------ Redis config
redis_changed=0
redis_quoted_password="\"$(printf '%s' "$REDIS_PASSWORD" | sed 's/["\\]/\\&/g')\""
redis_include="# SymbolStream settings (provisioning/vagrant/configure-stores.sh; rewritten on provision).
# Included at the end of redis.conf, so these win over the stock values.
bind 127.0.0.1
protected-mode yes
appendonly yes
appendfsync $APPENDFSYNC
# AOF is the persistence; no RDB snapshots.
save \"\"
# Eviction would silently lose events and aggregates.
maxmemory-policy noeviction
hash-max-listpack-entries 512
requirepass $redis_quoted_password"
install_file "$redis_include" "$REDIS_INCLUDE_FILE" 0640 redis:redis && redis_changed=1

[ -f "$REDIS_CONF_FILE" ] || die "$REDIS_CONF_FILE not found (is redis-server installed?)"
include_line="include $REDIS_INCLUDE_FILE"
# The include must be the LAST line (later directives override earlier ones).
if [ "$(grep -v '^[[:space:]]*$' "$REDIS_CONF_FILE" | tail -n 1)" != "$include_line" ]; then
    tmp="$(mktemp "$REDIS_CONF_FILE.XXXXXX")"
    grep -vxF "$include_line" "$REDIS_CONF_FILE" >"$tmp" || true
    printf '\n# Added by SymbolStream provisioning; keep it last.\n%s\n' "$include_line" >>"$tmp"
    chmod --reference="$REDIS_CONF_FILE" "$tmp"
    chown --reference="$REDIS_CONF_FILE" "$tmp" 2>/dev/null || true
    mv -f "$tmp" "$REDIS_CONF_FILE"
    log "added '$include_line' at the end of $REDIS_CONF_FILE"
    redis_changed=1
fi

# ------------------------------------------------------------------ MariaDB config
mariadb_changed=0
mariadb_cnf="# SymbolStream settings (provisioning/vagrant/configure-stores.sh; rewritten on provision).
# A write-heavy, durable archive.
[mariadbd]
bind-address                   = 127.0.0.1
skip-name-resolve
max_connections                = 200
innodb_buffer_pool_size        = $BUFFER_POOL
innodb_log_file_size           = 512M
innodb_log_buffer_size         = 32M
innodb_flush_log_at_trx_commit = 1
max_allowed_packet             = 64M
character-set-server           = utf8mb4
default-time-zone              = '+00:00'"
install_file "$mariadb_cnf" "$MARIADB_CNF_FILE" 0644 root:root && mariadb_changed=1

if [ "$CONFIG_ONLY" -eq 1 ]; then
    exit 0
fi

# ------------------------------------------------------------------ services
command -v systemctl >/dev/null || die "systemctl not found: this script is for the Vagrant VM (use provisioning/stores.sh elsewhere)"

rcli() { REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p 6379 "$@" </dev/null 2>/dev/null; }
rcli_nopass() { redis-cli -h 127.0.0.1 -p 6379 "$@" </dev/null 2>/dev/null; }

# Switching AOF on through the config file alone would make a Redis that has data in
# an RDB file start EMPTY (it loads only the AOF). So turn it on live first; Redis
# then writes the AOF from memory.
if systemctl is-active --quiet redis-server; then
    for cli in rcli rcli_nopass; do
        if [ "$("$cli" config get appendonly | tail -n 1)" = no ]; then
            log "enabling AOF on the running Redis before restarting it"
            "$cli" config set appendonly yes >/dev/null
            for _ in $(seq 1 600); do
                info="$("$cli" info persistence || true)"
                if grep -q '^aof_rewrite_in_progress:0' <<<"$info" && grep -q '^aof_rewrite_scheduled:0' <<<"$info"; then
                    break
                fi
                sleep 0.5
            done
            break
        fi
    done
fi

systemctl enable --quiet redis-server mariadb
if [ "$redis_changed" -eq 1 ] || ! systemctl is-active --quiet redis-server; then
    log "restarting redis-server"
    systemctl restart redis-server
fi
if [ "$mariadb_changed" -eq 1 ] || ! systemctl is-active --quiet mariadb; then
    log "restarting mariadb"
    systemctl restart mariadb
fi

for i in $(seq 1 120); do
    [ "$(rcli ping)" = PONG ] && break
    [ "$i" -lt 120 ] || {
        journalctl -u redis-server -n 30 --no-pager >&2 || true
        die "redis-server does not answer PING with the configured password"
    }
    sleep 0.5
done
log "redis-server up (127.0.0.1:6379, AOF $(rcli config get appendonly | tail -n 1), policy $(rcli config get maxmemory-policy | tail -n 1))"

for i in $(seq 1 120); do
    mariadb-admin --protocol=socket ping >/dev/null 2>&1 && break
    [ "$i" -lt 120 ] || {
        journalctl -u mariadb -n 30 --no-pager >&2 || true
        die "mariadb does not accept connections"
    }
    sleep 0.5
done

sql_string() {
    local v="${1//\\/\\\\}"
    printf "'%s'" "${v//\'/\'\'}"
}
db_ident="\`${DB//\`/\`\`}\`"
u="$(sql_string "$DB_USER")"
pw="$(sql_string "$DB_PASSWORD")"
log "ensuring database $DB and user $DB_USER"
# root@localhost authenticates through the unix socket (Debian's default); the SQL is
# fed on stdin so the password never shows in `ps`.
mariadb --protocol=socket -uroot <<SQL
CREATE DATABASE IF NOT EXISTS $db_ident CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS $u@'127.0.0.1' IDENTIFIED BY $pw;
CREATE USER IF NOT EXISTS $u@'localhost' IDENTIFIED BY $pw;
ALTER USER $u@'127.0.0.1' IDENTIFIED BY $pw;
ALTER USER $u@'localhost' IDENTIFIED BY $pw;
GRANT ALL PRIVILEGES ON $db_ident.* TO $u@'127.0.0.1';
GRANT ALL PRIVILEGES ON $db_ident.* TO $u@'localhost';
SQL
log "mariadb up (127.0.0.1:3306, database $DB)"
