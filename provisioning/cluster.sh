#!/usr/bin/env bash
# SymbolStream scaled out on one machine, for trying it and for tests: a Redis
# Cluster (3 primaries + 3 replicas) and MariaDB (provisioning/stores.sh, the
# `cluster` profile), N stateless `symbolstream serve` fronts, each with its
# archiver, and HAProxy in front of them on http://localhost:5000.
#
# Usage:
#   provisioning/cluster.sh up [--fronts N]   install, build (release), start it all
#   provisioning/cluster.sh down [--stores]   stop HAProxy and the fronts (and the stores)
#   provisioning/cluster.sh status            one line per process
#   provisioning/cluster.sh kill-front N      SIGKILL front N (fault tests)
#   provisioning/cluster.sh start-front N     start front N again
#   provisioning/cluster.sh env               the SYMBOLSTREAM_* lines of the deployment
#   provisioning/cluster.sh haproxy-config    HAProxy's configuration for these ports, on stdout
#
# Ports: HAProxy SYMBOLSTREAM_PORT (5000); front N on SYMBOLSTREAM_FRONT_PORT+N-1
# (5101, 5102, …); Redis nodes and MariaDB as the stores profile says
# (`cluster`: 7001-7006 and 3309). Everything listens on 127.0.0.1 only.
#
# Settings (environment):
#   SYMBOLSTREAM_CLUSTER_PROFILE   stores profile (default cluster)
#   SYMBOLSTREAM_FRONTS            fronts started by `up` (default 2)
#   SYMBOLSTREAM_PORT              HAProxy's port (default 5000)
#   SYMBOLSTREAM_FRONT_PORT        port of front 1 (default 5101)
#   SYMBOLSTREAM_BINARY            the symbolstream binary (default: build release)
#   SYMBOLSTREAM_FRONT_ARGS        extra `serve` arguments for every front
#                                  (e.g. "--redis-replicas-ack 1")
#   SYMBOLSTREAM_SERVE_USER        when run as root, the user the fronts run as
#                                  (default nobody: nothing needs root at run time)
#   SYMBOLSTREAM_CLUSTER_NODE_TIMEOUT  passed to stores.sh (failover after this many ms)
#
# Logs and pid files: .data/<profile>/front-N.{log,pid}, haproxy.{cfg,pid,log}.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" # haproxy lives in /usr/sbin

PROFILE="${SYMBOLSTREAM_CLUSTER_PROFILE:-cluster}"
DIR="${SYMBOLSTREAM_DATA_ROOT:-$REPO_ROOT/.data}/$PROFILE"
FRONTS="${SYMBOLSTREAM_FRONTS:-2}"
PORT="${SYMBOLSTREAM_PORT:-5000}"
FRONT_PORT="${SYMBOLSTREAM_FRONT_PORT:-5101}"
TIMEOUT="${SYMBOLSTREAM_STORES_TIMEOUT:-120}"

log() { printf 'cluster[%s]: %s\n' "$PROFILE" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

COMMAND="${1:-}"
[ -n "$COMMAND" ] || usage 2
shift
ARG=""
STOP_STORES=0
while [ "$#" -gt 0 ]; do
    case "$1" in
    --fronts)
        [ "$#" -ge 2 ] || die "--fronts needs a number"
        FRONTS="$2"
        shift 2
        ;;
    --stores)
        STOP_STORES=1
        shift
        ;;
    -h | --help) usage 0 ;;
    *)
        ARG="$1"
        shift
        ;;
    esac
done
[[ "$FRONTS" =~ ^[1-9][0-9]?$ ]] || die "--fronts must be 1-99"

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

binary() {
    if [ -n "${SYMBOLSTREAM_BINARY:-}" ]; then
        printf '%s\n' "$SYMBOLSTREAM_BINARY"
    else
        printf '%s\n' "$REPO_ROOT/.build/release/symbolstream"
    fi
}

# Starts a command in the background, output appended to LOGFILE, as the
# user the fronts run as (the current one, or an unprivileged one for root),
# and writes its pid to PIDFILE. exec, so that the pid is the server's own,
# not a subshell's: a kill of the pid file must reach the server.
spawn_as_service_user() {
    local pidfile="$1" logfile="$2"
    shift 2
    if [ "$(id -u)" -eq 0 ]; then
        local user="${SYMBOLSTREAM_SERVE_USER:-nobody}"
        set -- setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --clear-groups -- "$@"
    fi
    (exec "$@" >>"$logfile" 2>&1 </dev/null) &
    printf '%s\n' "$!" >"$pidfile"
}

load_env() {
    [ -f "$DIR/env" ] || die "no $DIR/env: run '$0 up' first"
    set -a
    # shellcheck disable=SC1091
    source "$DIR/env"
    set +a
    [ -n "${SYMBOLSTREAM_REDIS_CLUSTER:-}" ] || die "profile $PROFILE is not a Redis Cluster profile"
}

front_port() { printf '%s\n' "$((FRONT_PORT + $1 - 1))"; }

start_front() {
    local n="$1" port pidfile logfile bin
    port="$(front_port "$n")"
    pidfile="$DIR/front-$n.pid"
    logfile="$DIR/front-$n.log"
    if pid_alive "$pidfile"; then
        log "front $n already runs (pid $(cat "$pidfile"))"
        return
    fi
    bin="$(binary)"
    [ -x "$bin" ] || die "$bin is missing"
    load_env
    # A stable archiver consumer name per front: a restarted front re-reads
    # what it had been given but not archived.
    # shellcheck disable=SC2086
    spawn_as_service_user "$pidfile" "$logfile" \
        "$bin" serve --host 127.0.0.1 --port "$port" --archiver-consumer "front-$n" ${SYMBOLSTREAM_FRONT_ARGS:-}
    local deadline=$((SECONDS + TIMEOUT))
    until curl -fs -o /dev/null -m 2 "http://127.0.0.1:$port/health"; do
        pid_alive "$pidfile" || die "front $n exited; see $logfile: $(tail -n 5 "$logfile")"
        [ "$SECONDS" -lt "$deadline" ] || die "front $n not healthy after ${TIMEOUT}s; see $logfile"
        sleep 0.2
    done
    log "front $n serving on 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

stop_pid() {
    local pidfile="$1" name="$2" signal="${3:-TERM}"
    pid_alive "$pidfile" || {
        rm -f "$pidfile"
        return 0
    }
    local pid
    pid="$(cat "$pidfile")"
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name did not stop on SIG$signal; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    log "$name stopped"
}

# HAProxy's configuration for fronts 1..FRONTS, on stdout (also what the
# end-to-end tests' ClusterDeployment runs HAProxy with: `haproxy-config`).
haproxy_config() {
    {
        cat <<CFG
# Written by provisioning/cluster.sh: HAProxy in front of $FRONTS SymbolStream fronts.
global
    # HAProxy needs two descriptors per connection: stay within a default ulimit.
    maxconn 4000
    log stdout format raw local0 warning

defaults
    mode http
    log global
    option dontlognull
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # /stream WebSockets: a quiet connection may stay this long.
    timeout tunnel 1h
    # A request is retried on another front only if it never reached one (a
    # POST must not be sent twice); a front that stops answering is taken
    # out after two failed health checks, half a second apart.
    retries 2
    retry-on conn-failure
    option redispatch

frontend symbolstream
    bind 127.0.0.1:$PORT
    default_backend fronts

backend fronts
    balance roundrobin
    # 200 while the front can take events (Redis up); 503 otherwise.
    option httpchk GET /health
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
CFG
        for n in $(seq 1 "$FRONTS"); do
            printf '    server front%s 127.0.0.1:%s check\n' "$n" "$(front_port "$n")"
        done
    }
}

write_haproxy_config() {
    local cfg="$DIR/haproxy.cfg"
    haproxy_config >"$cfg"
    haproxy -c -q -f "$cfg" || die "haproxy rejects $cfg"
}

start_haproxy() {
    local pidfile="$DIR/haproxy.pid"
    stop_pid "$pidfile" haproxy >/dev/null 2>&1 || true
    if ss -ltn "sport = :$PORT" 2>/dev/null | grep -q LISTEN; then
        die "port $PORT is taken; set SYMBOLSTREAM_PORT to another"
    fi
    write_haproxy_config
    haproxy -D -p "$pidfile" -f "$DIR/haproxy.cfg" >>"$DIR/haproxy.log" 2>&1 ||
        die "HAProxy did not start: $(tail -n 3 "$DIR/haproxy.log")"
    local deadline=$((SECONDS + 30))
    until curl -fs -o /dev/null -m 2 "http://127.0.0.1:$PORT/health"; do
        [ "$SECONDS" -lt "$deadline" ] || die "HAProxy does not answer 200 on :$PORT; see $DIR/haproxy.log"
        sleep 0.2
    done
    log "HAProxy on http://127.0.0.1:$PORT in front of $FRONTS fronts"
}

cmd_up() {
    "$SCRIPT_DIR/install-packages.sh" haproxy
    "$SCRIPT_DIR/stores.sh" start --profile "$PROFILE" --redis-cluster >/dev/null
    mkdir -p "$DIR"
    if [ -z "${SYMBOLSTREAM_BINARY:-}" ]; then
        log "building (release)…"
        (cd "$REPO_ROOT" && swift build -c release --product symbolstream) >&2
    fi
    # The fronts run unprivileged: the binary and its folder must be reachable.
    chmod o+rx "$DIR" 2>/dev/null || true
    for n in $(seq 1 "$FRONTS"); do start_front "$n"; done
    echo "$FRONTS" >"$DIR/fronts"
    start_haproxy
    cmd_env
}

fronts_started() { cat "$DIR/fronts" 2>/dev/null || echo "$FRONTS"; }

cmd_down() {
    stop_pid "$DIR/haproxy.pid" haproxy
    for n in $(seq 1 "$(fronts_started)"); do stop_pid "$DIR/front-$n.pid" "front $n"; done
    [ "$STOP_STORES" -eq 0 ] || "$SCRIPT_DIR/stores.sh" stop --profile "$PROFILE"
}

cmd_status() {
    local rc=0
    if pid_alive "$DIR/haproxy.pid"; then echo "haproxy: running on :$PORT (pid $(cat "$DIR/haproxy.pid"))"; else
        echo "haproxy: stopped"
        rc=3
    fi
    for n in $(seq 1 "$(fronts_started)"); do
        if pid_alive "$DIR/front-$n.pid"; then echo "front $n: running on :$(front_port "$n") (pid $(cat "$DIR/front-$n.pid"))"; else
            echo "front $n: stopped"
            rc=3
        fi
    done
    "$SCRIPT_DIR/stores.sh" status --profile "$PROFILE" || rc=3
    return "$rc"
}

cmd_env() {
    load_env
    local name
    printf "export SYMBOLSTREAM_URL='%s'\n" "http://127.0.0.1:$PORT"
    for name in SYMBOLSTREAM_REDIS_CLUSTER SYMBOLSTREAM_REDIS_PASSWORD SYMBOLSTREAM_MARIADB_PORT SYMBOLSTREAM_MARIADB_USER \
        SYMBOLSTREAM_MARIADB_PASSWORD SYMBOLSTREAM_MARIADB_DATABASE; do
        printf "export %s='%s'\n" "$name" "${!name:-}"
    done
}

case "$COMMAND" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) cmd_env ;;
haproxy-config) haproxy_config ;;
kill-front)
    [[ "$ARG" =~ ^[1-9][0-9]?$ ]] || die "kill-front needs a front number"
    stop_pid "$DIR/front-$ARG.pid" "front $ARG" KILL
    ;;
start-front)
    [[ "$ARG" =~ ^[1-9][0-9]?$ ]] || die "start-front needs a front number"
    start_front "$ARG"
    ;;
help) usage 0 ;;
*) die "unknown command '$COMMAND' (up, down, status, env, haproxy-config, kill-front N, start-front N)" ;;
esac
