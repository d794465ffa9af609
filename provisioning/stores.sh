#!/usr/bin/env bash
# Local Redis + MariaDB for SymbolStream development and tests, run as the CURRENT
# user as plain background processes on 127.0.0.1 (no systemd, no root needed).
#
# Usage:
#   provisioning/stores.sh COMMAND [--profile NAME] [--redis-cluster]
#
# Commands:
#   start            start Redis and MariaDB (each only if not already running), create
#                    the database and user, write .data/<profile>/env, print the env
#   stop             stop both cleanly (fall back to SIGTERM, then SIGKILL)
#   restart          stop, then start
#   status           one line per store; exit 0 when both run, 3 otherwise
#   env              print the `export SYMBOLSTREAM_...` lines for the profile
#   start-redis | stop-redis | restart-redis | kill-redis
#   start-mariadb | stop-mariadb | restart-mariadb | kill-mariadb
#                    act on one store only (kill-* sends SIGKILL: a crash, for
#                    fault-injection tests; start-* brings it back)
#   reset            stop both and delete the profile's data folder
#
# Redis Cluster (a profile started with --redis-cluster, and the `cluster` profile):
#   Redis is then 6 redis-server processes in cluster mode on 127.0.0.1, nodes 1-6 on
#   ports BASE..BASE+5 (cluster bus: port + 10000), 3 primaries and 3 replicas made by
#   `redis-cli --cluster create --cluster-replicas 1`; each node has its own AOF and
#   nodes.conf under .data/<profile>/redis-<N>/. `start` waits for cluster_state:ok
#   and for every replica to have synced (only then can it take over).
#   The mode sticks to the profile (recorded in its env file) until `reset`. The same
#   commands act on the whole cluster (start-redis, stop-redis, kill-redis, ...), and:
#   start-redis-node N | stop-redis-node N | kill-redis-node N
#                    one node only (kill: SIGKILL, for failover tests; start: it
#                    comes back, as a replica if its replica took over meanwhile,
#                    and the command waits until the node sees cluster_state:ok
#                    and, as a replica, has synced with its primary)
#   The env file then has SYMBOLSTREAM_REDIS_CLUSTER=127.0.0.1:BASE,... (every node,
#   as seeds) instead of SYMBOLSTREAM_REDIS_HOST/_PORT.
#   Settings (besides the password and AOF settings below, which apply to every node):
#   SYMBOLSTREAM_REDIS_CLUSTER_PORT      BASE, the port of node 1 (`cluster`: 7001)
#   SYMBOLSTREAM_CLUSTER_NODE_TIMEOUT    cluster-node-timeout in ms (default 5000;
#       tests use 1000): how long a primary may be unreachable before its replica
#       takes over. cluster-require-full-coverage is off, so the other primaries'
#       slots keep being served meanwhile.
#
# Typical use:
#   eval "$(provisioning/stores.sh start --profile test)"   # or: . .data/test/env
#
# Profiles (data under <repo>/.data/<profile>/, which git ignores):
#   dev      Redis 6380, MariaDB 3307   (the default; or set SYMBOLSTREAM_PROFILE)
#   test     Redis 6381, MariaDB 3308
#   cluster  Redis Cluster 7001-7006, MariaDB 3309
#   other    any name [A-Za-z0-9_-]; needs SYMBOLSTREAM_REDIS_PORT (with
#            --redis-cluster: SYMBOLSTREAM_REDIS_CLUSTER_PORT) and SYMBOLSTREAM_MARIADB_PORT
#
# Settings: `start` records them in .data/<profile>/env. While any store of the profile
# runs, the record wins (every command talks to what is running); a `start` with both
# stopped lets these environment variables override the record (or the defaults):
#   SYMBOLSTREAM_REDIS_PORT, SYMBOLSTREAM_MARIADB_PORT   ports (ignored when
#       SYMBOLSTREAM_PROFILE names another profile: they came from its env file)
#   SYMBOLSTREAM_REDIS_PASSWORD          Redis requirepass            (default og)
#   SYMBOLSTREAM_REDIS_APPENDFSYNC       always | everysec | no       (default everysec)
#   SYMBOLSTREAM_REDIS_MAXMEMORY         e.g. 2gb (default: no limit; policy noeviction)
#   SYMBOLSTREAM_MARIADB_DATABASE, SYMBOLSTREAM_MARIADB_USER, SYMBOLSTREAM_MARIADB_PASSWORD
#                                        (default og / og / og)
#   SYMBOLSTREAM_MARIADB_BUFFER_POOL     innodb_buffer_pool_size      (default 1G)
#   SYMBOLSTREAM_MARIADB_LOG_FILE_SIZE   innodb_log_file_size         (default 512M)
#   SYMBOLSTREAM_DATA_ROOT               folder holding the profiles  (default <repo>/.data)
#   SYMBOLSTREAM_STORES_TIMEOUT          seconds to wait for a store to come up or go
#                                        down (default 120)
#
# Progress goes to stderr; stdout carries only the env lines (start, env) or the
# status lines. Passwords appear only in the env file and in the env output.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" # mariadbd lives in /usr/sbin

log() { printf 'stores[%s]: %s\n' "${PROFILE:-?}" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

# ---------------------------------------------------------------- arguments

COMMAND=""
NODE=""
CLUSTER_FLAG=0
PROFILE="${SYMBOLSTREAM_PROFILE:-dev}"
PROFILE_FROM_ENV="${SYMBOLSTREAM_PROFILE:-}"
while [ "$#" -gt 0 ]; do
    case "$1" in
    --profile | -p)
        [ "$#" -ge 2 ] || die "--profile needs a name"
        PROFILE="$2"
        shift 2
        ;;
    --profile=*)
        PROFILE="${1#--profile=}"
        shift
        ;;
    --redis-cluster)
        CLUSTER_FLAG=1
        shift
        ;;
    -h | --help | help) usage 0 ;;
    -*) die "unknown option: $1" ;;
    *)
        if [ -n "$COMMAND" ] && [[ "$COMMAND" == *-redis-node ]] && [ -z "$NODE" ]; then
            NODE="$1"
        else
            [ -z "$COMMAND" ] || die "one command at a time (got '$COMMAND' and '$1')"
            COMMAND="$1"
        fi
        shift
        ;;
    esac
done
[ -n "$COMMAND" ] || usage 2
[[ "$PROFILE" =~ ^[A-Za-z0-9_-]+$ ]] || die "bad profile name '$PROFILE'"
if [[ "$COMMAND" == *-redis-node ]]; then
    [[ "$NODE" =~ ^[1-6]$ ]] || die "$COMMAND needs a node number 1-6"
fi

DATA_ROOT="${SYMBOLSTREAM_DATA_ROOT:-$REPO_ROOT/.data}"
DIR="$DATA_ROOT/$PROFILE"
ENV_FILE="$DIR/env"
TIMEOUT="${SYMBOLSTREAM_STORES_TIMEOUT:-120}"
IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

REDIS_PIDFILE="$DIR/redis.pid"
REDIS_LOG="$DIR/redis.log"
REDIS_CONF="$DIR/redis.conf"
REDIS_DIR="$DIR/redis"
# Redis Cluster nodes: node N has port CFG_REDIS_CLUSTER_PORT + N - 1 and its files
# under $DIR/redis-<N> (see node_* below).
CLUSTER_NODES="1 2 3 4 5 6"
MARIADB_PIDFILE="$DIR/mariadb.pid"
MARIADB_LOG="$DIR/mariadb.err"
MARIADB_DATADIR="$DIR/mariadb"
MARIADB_INIT_MARKER="$MARIADB_DATADIR/.symbolstream-initialized"

# ---------------------------------------------------------------- configuration

# Settings live in CFG_* variables, built in layers (a later layer wins):
#   defaults of the profile < environment < what .data/<profile>/env recorded
# except for `start*` while none of the profile's stores runs, where the environment
# wins over the record: that is how settings are changed (stop, then start with new
# variables). So a running instance is always addressed with the settings it got.
config_defaults() {
    CFG_REDIS_PORT="" CFG_MARIADB_PORT=""
    # standalone: one redis-server; cluster: six (see "Redis Cluster" above).
    CFG_REDIS_MODE=standalone CFG_REDIS_CLUSTER_PORT="" CFG_CLUSTER_NODE_TIMEOUT=5000
    case "$PROFILE" in
    dev) CFG_REDIS_PORT=6380 CFG_MARIADB_PORT=3307 ;;
    test) CFG_REDIS_PORT=6381 CFG_MARIADB_PORT=3308 ;;
    cluster) CFG_REDIS_MODE=cluster CFG_REDIS_CLUSTER_PORT=7001 CFG_MARIADB_PORT=3309 ;;
    esac
    CFG_REDIS_PASSWORD=og
    CFG_MARIADB_DATABASE=og
    CFG_MARIADB_USER=og
    CFG_MARIADB_PASSWORD=og
    CFG_MARIADB_SOCKET="$(socket_path)"
}

config_apply_environment() {
    local redis_port="${SYMBOLSTREAM_REDIS_PORT:-}" mariadb_port="${SYMBOLSTREAM_MARIADB_PORT:-}"
    local cluster_port="${SYMBOLSTREAM_REDIS_CLUSTER_PORT:-}"
    # After `. .data/dev/env`, SYMBOLSTREAM_PROFILE=dev and the ports are dev's: they
    # must not leak into another profile.
    if [ -n "$PROFILE_FROM_ENV" ] && [ "$PROFILE_FROM_ENV" != "$PROFILE" ] &&
        { [ -n "$redis_port" ] || [ -n "$mariadb_port" ] || [ -n "$cluster_port" ]; }; then
        log "ignoring SYMBOLSTREAM_REDIS_PORT/SYMBOLSTREAM_REDIS_CLUSTER_PORT/SYMBOLSTREAM_MARIADB_PORT: they belong to profile '$PROFILE_FROM_ENV'"
        redis_port="" mariadb_port="" cluster_port=""
    fi
    CFG_REDIS_PORT="${redis_port:-$CFG_REDIS_PORT}"
    CFG_MARIADB_PORT="${mariadb_port:-$CFG_MARIADB_PORT}"
    CFG_REDIS_CLUSTER_PORT="${cluster_port:-$CFG_REDIS_CLUSTER_PORT}"
    CFG_CLUSTER_NODE_TIMEOUT="${SYMBOLSTREAM_CLUSTER_NODE_TIMEOUT:-$CFG_CLUSTER_NODE_TIMEOUT}"
    [ "$CLUSTER_FLAG" -eq 0 ] || CFG_REDIS_MODE=cluster
    CFG_REDIS_PASSWORD="${SYMBOLSTREAM_REDIS_PASSWORD:-$CFG_REDIS_PASSWORD}"
    CFG_MARIADB_DATABASE="${SYMBOLSTREAM_MARIADB_DATABASE:-$CFG_MARIADB_DATABASE}"
    CFG_MARIADB_USER="${SYMBOLSTREAM_MARIADB_USER:-$CFG_MARIADB_USER}"
    CFG_MARIADB_PASSWORD="${SYMBOLSTREAM_MARIADB_PASSWORD:-$CFG_MARIADB_PASSWORD}"
}

config_apply_env_file() {
    [ -f "$ENV_FILE" ] || return 0
    local line key value
    while IFS= read -r line; do
        [[ "$line" =~ ^export\ (SYMBOLSTREAM_[A-Z_]+)=(.*)$ ]] || continue
        key="${BASH_REMATCH[1]}"
        value="$(unquote "${BASH_REMATCH[2]}")"
        case "$key" in
        SYMBOLSTREAM_REDIS_PORT) CFG_REDIS_PORT="$value" CFG_REDIS_MODE=standalone ;;
        SYMBOLSTREAM_REDIS_PASSWORD) CFG_REDIS_PASSWORD="$value" ;;
        SYMBOLSTREAM_MARIADB_PORT) CFG_MARIADB_PORT="$value" ;;
        SYMBOLSTREAM_MARIADB_SOCKET) CFG_MARIADB_SOCKET="$value" ;;
        SYMBOLSTREAM_MARIADB_DATABASE) CFG_MARIADB_DATABASE="$value" ;;
        SYMBOLSTREAM_MARIADB_USER) CFG_MARIADB_USER="$value" ;;
        SYMBOLSTREAM_MARIADB_PASSWORD) CFG_MARIADB_PASSWORD="$value" ;;
        SYMBOLSTREAM_REDIS_CLUSTER) CFG_REDIS_MODE=cluster ;;
        SYMBOLSTREAM_REDIS_CLUSTER_PORT) CFG_REDIS_CLUSTER_PORT="$value" ;;
        SYMBOLSTREAM_CLUSTER_NODE_TIMEOUT) CFG_CLUSTER_NODE_TIMEOUT="$value" ;;
        esac
    done <"$ENV_FILE"
}

config_check() {
    if [ "$CFG_REDIS_MODE" = cluster ]; then
        if [ -z "$CFG_REDIS_CLUSTER_PORT" ] || [ -z "$CFG_MARIADB_PORT" ]; then
            die "profile '$PROFILE' has no default ports: set SYMBOLSTREAM_REDIS_CLUSTER_PORT and SYMBOLSTREAM_MARIADB_PORT"
        fi
        [[ "$CFG_REDIS_CLUSTER_PORT$CFG_MARIADB_PORT" =~ ^[0-9]+$ ]] || die "ports must be numbers"
        # Each node's cluster bus listens on its port + 10000.
        if [ "$CFG_REDIS_CLUSTER_PORT" -lt 1024 ] || [ "$CFG_REDIS_CLUSTER_PORT" -gt 55530 ]; then
            die "SYMBOLSTREAM_REDIS_CLUSTER_PORT must be in 1024-55530 (bus ports are 10000 higher)"
        fi
        if ! [[ "$CFG_CLUSTER_NODE_TIMEOUT" =~ ^[0-9]+$ ]] || [ "$CFG_CLUSTER_NODE_TIMEOUT" -lt 100 ]; then
            die "SYMBOLSTREAM_CLUSTER_NODE_TIMEOUT must be a number of milliseconds, at least 100"
        fi
        return 0
    fi
    if [ -z "$CFG_REDIS_PORT" ] || [ -z "$CFG_MARIADB_PORT" ]; then
        die "profile '$PROFILE' has no default ports: set SYMBOLSTREAM_REDIS_PORT and SYMBOLSTREAM_MARIADB_PORT"
    fi
    [[ "$CFG_REDIS_PORT$CFG_MARIADB_PORT" =~ ^[0-9]+$ ]] || die "ports must be numbers"
}

load_config() {
    config_defaults
    config_apply_environment
    config_apply_env_file
    config_check
}

any_store_running() {
    local n
    live_pid "$REDIS_PIDFILE" redis-server >/dev/null && return 0
    for n in $CLUSTER_NODES; do
        live_pid "$(node_pidfile "$n")" redis-server >/dev/null && return 0
    done
    live_pid "$MARIADB_PIDFILE" mariadbd >/dev/null
}

load_config_for_start() {
    config_defaults
    if any_store_running; then
        config_apply_environment
        config_apply_env_file
    else
        config_apply_env_file
        config_apply_environment
        CFG_MARIADB_SOCKET="$(socket_path)"
    fi
    config_check
}

# A unix socket path must fit in sun_path (108 bytes); deep checkouts get one in /tmp.
socket_path() {
    local sock="$DIR/mysql.sock"
    if [ "${#sock}" -gt 100 ]; then
        sock="${TMPDIR:-/tmp}/symbolstream-$(id -u)-$PROFILE-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1).sock"
    fi
    printf '%s' "$sock"
}

# Single-quote a value for the shell.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
unquote() {
    local v="$1"
    if [[ "$v" == \'*\' ]]; then
        v="${v:1:${#v}-2}"
        v="${v//\'\\\'\'/\'}"
    fi
    printf '%s' "$v"
}

env_lines() {
    local k v redis_keys="REDIS_HOST REDIS_PORT"
    # A cluster is named by its nodes (seeds), never by one host and port: a
    # single-server client pointed at one node would only get MOVED replies.
    [ "$CFG_REDIS_MODE" != cluster ] || redis_keys="REDIS_CLUSTER REDIS_CLUSTER_PORT CLUSTER_NODE_TIMEOUT"
    printf '# SymbolStream local stores, profile %s (provisioning/stores.sh)\n' "$PROFILE"
    for k in PROFILE $redis_keys REDIS_PASSWORD MARIADB_HOST MARIADB_PORT \
        MARIADB_SOCKET MARIADB_USER MARIADB_PASSWORD MARIADB_DATABASE; do
        case "$k" in
        PROFILE) v="$PROFILE" ;;
        REDIS_CLUSTER) v="$(cluster_seeds)" ;;
        REDIS_HOST | MARIADB_HOST) v=127.0.0.1 ;;
        *)
            local var="CFG_$k"
            v="${!var}"
            ;;
        esac
        printf 'export SYMBOLSTREAM_%s=%s\n' "$k" "$(shq "$v")"
    done
}

write_env_file() {
    local tmp="$ENV_FILE.tmp.$$"
    (
        umask 077
        env_lines >"$tmp"
    )
    mv -f "$tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------- helpers

# A process that has exited but not yet been reaped (a zombie) counts as gone.
is_gone() { [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null || echo Z)" = Z ]; }

# pid from a pidfile if that process is alive and is the expected program.
live_pid() { # pidfile comm
    local pid comm
    [ -f "$1" ] || return 1
    pid="$(tr -dc '0-9' <"$1" 2>/dev/null || true)"
    [ -n "$pid" ] || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
    [ "$comm" = "$2" ] || return 1
    ! is_gone "$pid" || return 1 # a killed daemon stays a zombie until init reaps it
    printf '%s' "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_gone() { # pid seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        is_gone "$1" && return 0
        sleep 0.1
    done
    is_gone "$1"
}

terminate() { # pid name
    log "$2 (pid $1) did not stop in time; sending SIGTERM"
    kill -TERM "$1" 2>/dev/null || true
    wait_gone "$1" 30 && return 0
    log "$2 (pid $1) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$1" 2>/dev/null || true
    wait_gone "$1" 10 || die "could not kill $2 (pid $1)"
}

show_log_tail() { # file
    if [ -f "$1" ]; then
        log "last lines of $1:"
        tail -n 25 "$1" | sed 's/^/    /' >&2
    fi
}

lock_profile() {
    mkdir -p "$DATA_ROOT"
    exec 9>"$DATA_ROOT/.$PROFILE.lock"
    if ! flock -w "$TIMEOUT" 9; then
        die "another stores.sh is busy with profile '$PROFILE' (lock $DATA_ROOT/.$PROFILE.lock)"
    fi
}

prepare_dir() {
    mkdir -p "$DIR"
    chmod 0700 "$DIR"
}

# ---------------------------------------------------------------- Redis

rcli() { REDISCLI_AUTH="$CFG_REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$CFG_REDIS_PORT" "$@"; }

redis_ping() { [ "$(rcli ping 2>/dev/null </dev/null)" = PONG ]; }

write_redis_conf() {
    local fsync="${SYMBOLSTREAM_REDIS_APPENDFSYNC:-everysec}"
    case "$fsync" in always | everysec | no) ;; *) die "SYMBOLSTREAM_REDIS_APPENDFSYNC must be always, everysec or no" ;; esac
    local tmp="$REDIS_CONF.tmp.$$"
    (
        umask 077
        {
            echo "# Written by provisioning/stores.sh on every start; edits are lost."
            echo "port $CFG_REDIS_PORT"
            echo "bind 127.0.0.1"
            echo "protected-mode yes"
            echo "daemonize yes"
            echo "pidfile \"$REDIS_PIDFILE\""
            echo "logfile \"$REDIS_LOG\""
            echo "dir \"$REDIS_DIR\""
            echo "appendonly yes"
            echo "appendfsync $fsync"
            echo "# AOF is the persistence; no RDB snapshots (they only cost forks)."
            echo "save \"\""
            echo "maxmemory-policy noeviction"
            [ -z "${SYMBOLSTREAM_REDIS_MAXMEMORY:-}" ] || echo "maxmemory $SYMBOLSTREAM_REDIS_MAXMEMORY"
            echo "hash-max-listpack-entries 512"
            printf 'requirepass "%s"\n' "$(printf '%s' "$CFG_REDIS_PASSWORD" | sed 's/["\\]/\\&/g')"
        } >"$tmp"
    )
    mv -f "$tmp" "$REDIS_CONF"
}

start_redis_server() {
    local pid i reply
    if pid="$(live_pid "$REDIS_PIDFILE" redis-server)"; then
        for ((i = 0; i < TIMEOUT * 10; i++)); do
            redis_ping && {
                log "redis already running (pid $pid, 127.0.0.1:$CFG_REDIS_PORT)"
                return 0
            }
            reply="$(rcli ping 2>&1 </dev/null || true)"
            case "$reply" in
            *LOADING*) ;; # still loading the AOF
            *) die "redis pid $pid is alive but does not answer on 127.0.0.1:$CFG_REDIS_PORT: ${reply:-no reply}" ;;
            esac
            sleep 0.1
        done
        die "redis pid $pid still loading after ${TIMEOUT}s"
    fi
    if port_in_use "$CFG_REDIS_PORT"; then
        die "port $CFG_REDIS_PORT is in use by another process (not this profile's Redis); set SYMBOLSTREAM_REDIS_PORT or stop it"
    fi
    command -v redis-server >/dev/null || die "redis-server not installed (run provisioning/install-packages.sh)"
    mkdir -p "$REDIS_DIR"
    rm -f "$REDIS_PIDFILE"
    write_redis_conf
    log "starting redis on 127.0.0.1:$CFG_REDIS_PORT (data $REDIS_DIR)"
    if ! redis-server "$REDIS_CONF" </dev/null >>"$REDIS_LOG" 2>&1 9>&-; then
        show_log_tail "$REDIS_LOG"
        die "redis-server failed to start"
    fi
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        if redis_ping; then
            log "redis up (pid $(cat "$REDIS_PIDFILE" 2>/dev/null || echo '?'))"
            return 0
        fi
        if [ "$i" -gt 20 ] && [ ! -s "$REDIS_PIDFILE" ]; then
            break # daemon exited without writing its pidfile
        fi
        sleep 0.1
    done
    show_log_tail "$REDIS_LOG"
    die "redis did not answer PING on 127.0.0.1:$CFG_REDIS_PORT within ${TIMEOUT}s"
}

stop_redis_server() { # [kill]
    local pid
    if ! pid="$(live_pid "$REDIS_PIDFILE" redis-server)"; then
        log "redis not running"
        rm -f "$REDIS_PIDFILE"
        return 0
    fi
    if [ "${1:-}" = kill ]; then
        log "killing redis (pid $pid) with SIGKILL"
        kill -KILL "$pid"
        wait_gone "$pid" 10 || die "redis pid $pid survived SIGKILL"
        return 0
    fi
    log "stopping redis (pid $pid)"
    # SHUTDOWN fsyncs the AOF before exiting; the connection then just closes.
    rcli shutdown </dev/null >/dev/null 2>&1 || true
    wait_gone "$pid" 30 || terminate "$pid" redis
    rm -f "$REDIS_PIDFILE"
    log "redis stopped"
}

status_redis_server() {
    local pid
    if pid="$(live_pid "$REDIS_PIDFILE" redis-server)" && redis_ping; then
        printf 'redis    %-5s running  pid %-7s 127.0.0.1:%s  %s\n' "$PROFILE" "$pid" "$CFG_REDIS_PORT" "$REDIS_DIR"
        return 0
    elif [ -n "${pid:-}" ]; then
        printf 'redis    %-5s alive but not answering  pid %s  127.0.0.1:%s\n' "$PROFILE" "$pid" "$CFG_REDIS_PORT"
    else
        printf 'redis    %-5s stopped  (port %s)\n' "$PROFILE" "$CFG_REDIS_PORT"
    fi
    return 1
}

# ---------------------------------------------------------------- Redis Cluster

node_port() { printf '%s' "$((CFG_REDIS_CLUSTER_PORT + $1 - 1))"; }
node_dir() { printf '%s' "$DIR/redis-$1"; }
node_pidfile() { printf '%s' "$DIR/redis-$1.pid"; }
node_log() { printf '%s' "$DIR/redis-$1.log"; }
node_conf() { printf '%s' "$DIR/redis-$1.conf"; }

cluster_seeds() {
    local n seeds=""
    for n in $CLUSTER_NODES; do seeds+="${seeds:+,}127.0.0.1:$(node_port "$n")"; done
    printf '%s' "$seeds"
}

ncli() { # node args...
    local n="$1"
    shift
    REDISCLI_AUTH="$CFG_REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$(node_port "$n")" "$@"
}

node_ping() { [ "$(ncli "$1" ping 2>/dev/null </dev/null)" = PONG ]; }

# One field of a node's CLUSTER INFO (empty when the node does not answer).
node_cluster_info() { # node field
    ncli "$1" cluster info 2>/dev/null </dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

write_node_conf() { # node
    local n="$1" fsync="${SYMBOLSTREAM_REDIS_APPENDFSYNC:-everysec}" conf tmp password
    case "$fsync" in always | everysec | no) ;; *) die "SYMBOLSTREAM_REDIS_APPENDFSYNC must be always, everysec or no" ;; esac
    conf="$(node_conf "$n")"
    tmp="$conf.tmp.$$"
    password="$(printf '%s' "$CFG_REDIS_PASSWORD" | sed 's/["\\]/\\&/g')"
    (
        umask 077
        {
            echo "# Written by provisioning/stores.sh on every start; edits are lost."
            echo "port $(node_port "$n")"
            echo "bind 127.0.0.1"
            echo "protected-mode yes"
            echo "daemonize yes"
            echo "pidfile \"$(node_pidfile "$n")\""
            echo "logfile \"$(node_log "$n")\""
            echo "dir \"$(node_dir "$n")\""
            echo "appendonly yes"
            echo "appendfsync $fsync"
            echo "save \"\""
            echo "maxmemory-policy noeviction"
            [ -z "${SYMBOLSTREAM_REDIS_MAXMEMORY:-}" ] || echo "maxmemory $SYMBOLSTREAM_REDIS_MAXMEMORY"
            echo "hash-max-listpack-entries 512"
            printf 'requirepass "%s"\n' "$password"
            # Replicas authenticate to their primary with the same password.
            printf 'masterauth "%s"\n' "$password"
            echo "cluster-enabled yes"
            echo "cluster-config-file nodes.conf"
            echo "cluster-node-timeout $CFG_CLUSTER_NODE_TIMEOUT"
            echo "# A primary down takes only its own slots down, not the whole cluster."
            echo "cluster-require-full-coverage no"
            echo "# One replica per primary: nothing to gain by waiting for others before a sync."
            echo "repl-diskless-sync-delay 0"
        } >"$tmp"
    )
    mv -f "$tmp" "$conf"
}

start_redis_node() { # node
    local n="$1" pid i port pidfile log
    port="$(node_port "$n")"
    pidfile="$(node_pidfile "$n")"
    log="$(node_log "$n")"
    if pid="$(live_pid "$pidfile" redis-server)"; then
        for ((i = 0; i < TIMEOUT * 10; i++)); do
            node_ping "$n" && {
                log "redis node $n already running (pid $pid, 127.0.0.1:$port)"
                return 0
            }
            sleep 0.1
        done
        die "redis node $n (pid $pid) is alive but does not answer on 127.0.0.1:$port"
    fi
    for p in "$port" "$((port + 10000))"; do
        if port_in_use "$p"; then
            die "port $p is in use by another process (not this profile's node $n); set SYMBOLSTREAM_REDIS_CLUSTER_PORT or stop it"
        fi
    done
    command -v redis-server >/dev/null || die "redis-server not installed (run provisioning/install-packages.sh)"
    mkdir -p "$(node_dir "$n")"
    rm -f "$pidfile"
    write_node_conf "$n"
    log "starting redis node $n on 127.0.0.1:$port (data $(node_dir "$n"))"
    if ! redis-server "$(node_conf "$n")" </dev/null >>"$log" 2>&1 9>&-; then
        show_log_tail "$log"
        die "redis-server (node $n) failed to start"
    fi
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        node_ping "$n" && return 0
        if [ "$i" -gt 20 ] && [ ! -s "$pidfile" ]; then
            break
        fi
        sleep 0.1
    done
    show_log_tail "$log"
    die "redis node $n did not answer PING on 127.0.0.1:$port within ${TIMEOUT}s"
}

stop_redis_node() { # node [kill]
    local n="$1" pid pidfile
    pidfile="$(node_pidfile "$n")"
    if ! pid="$(live_pid "$pidfile" redis-server)"; then
        log "redis node $n not running"
        rm -f "$pidfile"
        return 0
    fi
    if [ "${2:-}" = kill ]; then
        log "killing redis node $n (pid $pid) with SIGKILL"
        kill -KILL "$pid"
        wait_gone "$pid" 10 || die "redis node $n (pid $pid) survived SIGKILL"
        return 0
    fi
    log "stopping redis node $n (pid $pid)"
    # NOSAVE: there are no RDB snapshots to write (the AOF is fsynced on exit anyway).
    ncli "$n" shutdown nosave </dev/null >/dev/null 2>&1 || true
    wait_gone "$pid" 30 || terminate "$pid" "redis node $n"
    rm -f "$pidfile"
}

# One field of a node's INFO replication (empty when the node does not answer).
node_replication_info() { # node field
    ncli "$1" info replication 2>/dev/null </dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

# Waits until the nodes see the cluster whole: all 6 nodes known, cluster_state:ok,
# and each replica in sync with its primary (a replica that never synced cannot take
# over, so a failover test must not kill its primary before). A node just restarted
# needs a moment to hear from the others.
wait_cluster_ok() { # [node...]
    local nodes="${*:-$CLUSTER_NODES}" i n ok
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        ok=1
        for n in $nodes; do
            if [ "$(node_cluster_info "$n" cluster_state)" != ok ] ||
                [ "$(node_cluster_info "$n" cluster_known_nodes)" != 6 ]; then
                ok=0
                break
            fi
            if [ "$(node_replication_info "$n" role)" = slave ] &&
                [ "$(node_replication_info "$n" master_link_status)" != up ]; then
                ok=0
                break
            fi
        done
        if [ "$ok" = 1 ]; then
            log "redis cluster state ok (nodes $(cluster_seeds))"
            return 0
        fi
        sleep 0.1
    done
    for n in $nodes; do
        log "node $n: cluster_state=$(node_cluster_info "$n" cluster_state) known_nodes=$(node_cluster_info "$n" cluster_known_nodes) role=$(node_replication_info "$n" role) master_link=$(node_replication_info "$n" master_link_status)"
    done
    die "redis cluster not ok within ${TIMEOUT}s"
}

start_redis_cluster() {
    local n fresh=1 args=()
    command -v redis-cli >/dev/null || die "redis-cli not installed (run provisioning/install-packages.sh)"
    for n in $CLUSTER_NODES; do start_redis_node "$n"; done
    # Fresh nodes know only themselves and serve no slot; nodes that met before
    # (nodes.conf) find each other again by themselves.
    for n in $CLUSTER_NODES; do
        if [ "$(node_cluster_info "$n" cluster_known_nodes)" != 1 ] ||
            [ "$(node_cluster_info "$n" cluster_slots_assigned)" != 0 ]; then
            fresh=0
        fi
    done
    if [ "$fresh" = 1 ]; then
        for n in $CLUSTER_NODES; do args+=("127.0.0.1:$(node_port "$n")"); done
        log "creating the cluster: 3 primaries, 3 replicas"
        if ! REDISCLI_AUTH="$CFG_REDIS_PASSWORD" redis-cli --cluster create "${args[@]}" \
            --cluster-replicas 1 --cluster-yes </dev/null >"$DIR/cluster-create.log" 2>&1; then
            show_log_tail "$DIR/cluster-create.log"
            die "redis-cli --cluster create failed (log: $DIR/cluster-create.log)"
        fi
    fi
    wait_cluster_ok
}

stop_redis_cluster() { # [kill]
    local n
    for n in $CLUSTER_NODES; do stop_redis_node "$n" "${1:-}"; done
}

status_redis_cluster() {
    local n pid port role rc=0 state
    for n in $CLUSTER_NODES; do
        port="$(node_port "$n")"
        if pid="$(live_pid "$(node_pidfile "$n")" redis-server)" && node_ping "$n"; then
            role="$(ncli "$n" role 2>/dev/null </dev/null | head -n 1)"
            printf 'redis-%s  %-5s running  pid %-7s 127.0.0.1:%s  %s\n' "$n" "$PROFILE" "$pid" "$port" "$role"
        elif [ -n "${pid:-}" ]; then
            printf 'redis-%s  %-5s alive but not answering  pid %s  127.0.0.1:%s\n' "$n" "$PROFILE" "$pid" "$port"
            rc=1
        else
            printf 'redis-%s  %-5s stopped  (port %s)\n' "$n" "$PROFILE" "$port"
            rc=1
        fi
    done
    state=""
    for n in $CLUSTER_NODES; do
        state="$(node_cluster_info "$n" cluster_state)"
        [ -z "$state" ] || break
    done
    printf 'cluster  %-5s state %s  seeds %s\n' "$PROFILE" "${state:-unknown}" "$(cluster_seeds)"
    [ "$state" = ok ] || rc=1
    return "$rc"
}

# One Redis, or the cluster, whichever the profile has.
start_redis() { if [ "$CFG_REDIS_MODE" = cluster ]; then start_redis_cluster; else start_redis_server; fi; }
stop_redis() { if [ "$CFG_REDIS_MODE" = cluster ]; then stop_redis_cluster "$@"; else stop_redis_server "$@"; fi; }
status_redis() { if [ "$CFG_REDIS_MODE" = cluster ]; then status_redis_cluster; else status_redis_server; fi; }

require_cluster() {
    [ "$CFG_REDIS_MODE" = cluster ] || die "profile '$PROFILE' is not a Redis Cluster profile (start it with --redis-cluster)"
}

# ---------------------------------------------------------------- MariaDB

# Root over the profile's unix socket (root@localhost has no password and exists only
# in this private instance, which listens on 127.0.0.1).
mroot() { mariadb --no-defaults --protocol=socket --socket="$CFG_MARIADB_SOCKET" -uroot "$@"; }

mariadb_ping() {
    mariadb-admin --no-defaults --protocol=socket --socket="$CFG_MARIADB_SOCKET" -uroot \
        --connect-timeout=2 ping >/dev/null 2>&1 </dev/null
}

mariadb_init_datadir() {
    [ -f "$MARIADB_INIT_MARKER" ] && return 0
    if [ -d "$MARIADB_DATADIR" ]; then
        log "removing half-initialised MariaDB data dir $MARIADB_DATADIR"
        rm -rf "$MARIADB_DATADIR"
    fi
    command -v mariadb-install-db >/dev/null || die "mariadb-install-db not installed (run provisioning/install-packages.sh)"
    mkdir -p "$MARIADB_DATADIR"
    log "initialising MariaDB data dir $MARIADB_DATADIR"
    local args=(--no-defaults --datadir="$MARIADB_DATADIR" --auth-root-authentication-method=normal
        --skip-test-db --skip-name-resolve)
    [ "$IS_ROOT" -eq 0 ] || args+=(--user=root)
    if ! mariadb-install-db "${args[@]}" </dev/null >"$DIR/mariadb-install.log" 2>&1 9>&-; then
        show_log_tail "$DIR/mariadb-install.log"
        die "mariadb-install-db failed (full log: $DIR/mariadb-install.log)"
    fi
    touch "$MARIADB_INIT_MARKER"
}

sql_string() { # 'quoted' SQL string literal
    local v="${1//\\/\\\\}"
    printf "'%s'" "${v//\'/\'\'}"
}
sql_ident() { printf '%s%s%s' '`' "${1//\`/\`\`}" '`'; }

mariadb_provision() {
    local db user pw like
    db="$(sql_ident "$CFG_MARIADB_DATABASE")"
    user="$(sql_string "$CFG_MARIADB_USER")"
    pw="$(sql_string "$CFG_MARIADB_PASSWORD")"
    # Scratch databases named <db>_<anything> are granted too, for isolated tests.
    like="$(sql_ident "${CFG_MARIADB_DATABASE//_/\\_}\\_%")"
    log "ensuring database $CFG_MARIADB_DATABASE and user $CFG_MARIADB_USER"
    # Fed on stdin so that the password never shows in `ps`.
    # mariadb-install-db also creates password-less root@127.0.0.1, root@::1 and
    # root@<hostname>: drop them, leaving root@localhost, reachable only through the
    # socket in the profile folder (mode 0700, so only by this OS user).
    local host drops=""
    while IFS= read -r host; do
        [ -n "$host" ] && drops+="DROP USER IF EXISTS 'root'@$(sql_string "$host");"$'\n'
    done < <(mroot -N -B <<<"SELECT host FROM mysql.user WHERE user = 'root' AND host <> 'localhost';")
    mroot <<SQL
$drops
CREATE DATABASE IF NOT EXISTS $db CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS $user@'127.0.0.1' IDENTIFIED BY $pw;
CREATE USER IF NOT EXISTS $user@'localhost' IDENTIFIED BY $pw;
ALTER USER $user@'127.0.0.1' IDENTIFIED BY $pw;
ALTER USER $user@'localhost' IDENTIFIED BY $pw;
GRANT ALL PRIVILEGES ON $db.* TO $user@'127.0.0.1';
GRANT ALL PRIVILEGES ON $db.* TO $user@'localhost';
GRANT ALL PRIVILEGES ON $like.* TO $user@'127.0.0.1';
GRANT ALL PRIVILEGES ON $like.* TO $user@'localhost';
SQL
}

start_mariadb() {
    local pid i
    if pid="$(live_pid "$MARIADB_PIDFILE" mariadbd)"; then
        for ((i = 0; i < TIMEOUT * 10; i++)); do
            if mariadb_ping; then
                log "mariadb already running (pid $pid, 127.0.0.1:$CFG_MARIADB_PORT)"
                return 0
            fi
            sleep 0.1
        done
        show_log_tail "$MARIADB_LOG"
        die "mariadbd pid $pid is alive but does not answer on $CFG_MARIADB_SOCKET"
    fi
    if port_in_use "$CFG_MARIADB_PORT"; then
        die "port $CFG_MARIADB_PORT is in use by another process (not this profile's MariaDB); set SYMBOLSTREAM_MARIADB_PORT or stop it"
    fi
    command -v mariadbd >/dev/null || die "mariadbd not installed (run provisioning/install-packages.sh)"
    mariadb_init_datadir
    rm -f "$MARIADB_PIDFILE"
    local args=(--no-defaults
        --datadir="$MARIADB_DATADIR"
        --port="$CFG_MARIADB_PORT"
        --socket="$CFG_MARIADB_SOCKET"
        --bind-address=127.0.0.1
        --pid-file="$MARIADB_PIDFILE"
        --log-error="$MARIADB_LOG"
        --skip-name-resolve
        --max-connections=200
        --innodb-buffer-pool-size="${SYMBOLSTREAM_MARIADB_BUFFER_POOL:-1G}"
        --innodb-log-file-size="${SYMBOLSTREAM_MARIADB_LOG_FILE_SIZE:-512M}"
        --innodb-log-buffer-size=32M
        --innodb-flush-log-at-trx-commit=1
        --max-allowed-packet=64M
        --character-set-server=utf8mb4
        --default-time-zone=+00:00)
    [ "$IS_ROOT" -eq 0 ] || args+=(--user=root)
    log "starting mariadb on 127.0.0.1:$CFG_MARIADB_PORT (data $MARIADB_DATADIR)"
    # setsid: not in the caller's process group, so a Ctrl-C there does not reach it.
    setsid mariadbd "${args[@]}" </dev/null >>"$MARIADB_LOG" 2>&1 9>&- &
    local launched=$!
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        if mariadb_ping; then
            log "mariadb up (pid $(cat "$MARIADB_PIDFILE" 2>/dev/null || echo "$launched"))"
            mariadb_provision
            return 0
        fi
        if is_gone "$launched"; then
            show_log_tail "$MARIADB_LOG"
            die "mariadbd exited during startup (log: $MARIADB_LOG)"
        fi
        sleep 0.1
    done
    show_log_tail "$MARIADB_LOG"
    kill -TERM "$launched" 2>/dev/null || true
    die "mariadb did not accept connections within ${TIMEOUT}s (log: $MARIADB_LOG)"
}

stop_mariadb() { # [kill]
    local pid
    if ! pid="$(live_pid "$MARIADB_PIDFILE" mariadbd)"; then
        log "mariadb not running"
        rm -f "$MARIADB_PIDFILE"
        return 0
    fi
    if [ "${1:-}" = kill ]; then
        log "killing mariadb (pid $pid) with SIGKILL"
        kill -KILL "$pid"
        wait_gone "$pid" 10 || die "mariadbd pid $pid survived SIGKILL"
        return 0
    fi
    log "stopping mariadb (pid $pid)"
    mariadb-admin --no-defaults --protocol=socket --socket="$CFG_MARIADB_SOCKET" -uroot \
        --shutdown-timeout="$TIMEOUT" shutdown </dev/null >/dev/null 2>&1 || true
    wait_gone "$pid" "$TIMEOUT" || terminate "$pid" mariadb
    rm -f "$MARIADB_PIDFILE"
    log "mariadb stopped"
}

status_mariadb() {
    local pid
    if pid="$(live_pid "$MARIADB_PIDFILE" mariadbd)" && mariadb_ping; then
        printf 'mariadb  %-5s running  pid %-7s 127.0.0.1:%s  %s\n' "$PROFILE" "$pid" "$CFG_MARIADB_PORT" "$MARIADB_DATADIR"
        return 0
    elif [ -n "${pid:-}" ]; then
        printf 'mariadb  %-5s alive but not answering  pid %s  127.0.0.1:%s\n' "$PROFILE" "$pid" "$CFG_MARIADB_PORT"
    else
        printf 'mariadb  %-5s stopped  (port %s)\n' "$PROFILE" "$CFG_MARIADB_PORT"
    fi
    return 1
}

# ---------------------------------------------------------------- commands

case "$COMMAND" in
start)
    lock_profile
    prepare_dir
    load_config_for_start
    start_redis
    start_mariadb
    write_env_file
    env_lines
    ;;
start-redis | start-mariadb)
    lock_profile
    prepare_dir
    load_config_for_start
    "${COMMAND/-/_}"
    write_env_file
    ;;
stop)
    lock_profile
    load_config
    stop_redis
    stop_mariadb
    ;;
stop-redis | stop-mariadb)
    lock_profile
    load_config
    "${COMMAND/-/_}"
    ;;
kill-redis)
    lock_profile
    load_config
    stop_redis kill
    ;;
kill-mariadb)
    lock_profile
    load_config
    stop_mariadb kill
    ;;
restart)
    lock_profile
    load_config
    stop_redis
    stop_mariadb
    prepare_dir
    load_config_for_start
    start_redis
    start_mariadb
    write_env_file
    env_lines
    ;;
restart-redis)
    lock_profile
    load_config
    stop_redis
    start_redis
    ;;
restart-mariadb)
    lock_profile
    load_config
    stop_mariadb
    start_mariadb
    ;;
start-redis-node)
    lock_profile
    load_config
    require_cluster
    start_redis_node "$NODE"
    wait_cluster_ok "$NODE"
    ;;
stop-redis-node)
    lock_profile
    load_config
    require_cluster
    stop_redis_node "$NODE"
    ;;
kill-redis-node)
    lock_profile
    load_config
    require_cluster
    stop_redis_node "$NODE" kill
    ;;
status)
    load_config
    rc=0
    status_redis || rc=3
    status_mariadb || rc=3
    exit "$rc"
    ;;
env)
    load_config
    env_lines
    ;;
reset)
    lock_profile
    load_config
    stop_redis
    stop_mariadb
    case "$DIR" in
    "$DATA_ROOT"/?*) ;;
    *) die "refusing to delete '$DIR'" ;;
    esac
    log "deleting $DIR"
    rm -rf "$DIR"
    sock="$(socket_path)"
    [ "$sock" = "$DIR/mysql.sock" ] || rm -f "$sock"
    ;;
*)
    log "unknown command '$COMMAND'"
    usage 2
    ;;
esac
