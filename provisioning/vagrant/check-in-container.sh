#!/usr/bin/env bash
# `vagrant up` without Vagrant: boots a real Debian 12 (systemd) in a container and
# does to it what Vagrant does with the project's Vagrantfile, then checks the result.
#
#   provisioning/vagrant/check-in-container.sh        (as root; ./test.sh runs it last)
#
# 1. The box. debian/bookworm64 stands in as a debootstrap of bookworm with what that
#    box has and a minimal debootstrap lacks: sudo, dbus, libpam-systemd, and a
#    `vagrant` user with passwordless sudo. Built once, cached as a tar in
#    .data/vagrant-box-bookworm.tar; every run starts from a fresh copy of it.
# 2. `vagrant up`. The Vagrantfile is read by Ruby itself (check/vagrantfile-plan.rb:
#    the box, hostname, synced folder and its rsync excludes, the shell provisioners
#    with their scripts, args, env and privileges). The source is copied to /vagrant
#    with those excludes (rsync, owned by vagrant), the container is booted with
#    `systemd-nspawn --register=no --keep-unit -b`, and each provisioner runs as Vagrant
#    runs it: the script uploaded to /tmp/vagrant-shell as vagrant, then the same
#    command line (`chmod +x … && K="V" … /tmp/vagrant-shell "ARG" …`) written to
#    `sudo -E -H bash -l` (privileged) or `bash -l` (privileged: false), started as
#    vagrant from its home the way sshd starts a command.
# 3. It asserts: every provisioner exits 0; redis-server and mariadb enabled and active,
#    with the password, AOF, noeviction, loopback only and the og database;
#    symbolstream.service enabled, active, running as vagrant (not root), /health 200;
#    an initial, a followup, the dashboards and /requests answer right and the rows
#    reach MariaDB; the service comes back after `systemctl restart` and after a
#    `kill -9` of its main pid (Restart=); install-service.sh fails, showing /health,
#    when the service answers 503 (a wrong Redis password); after a clean reboot of the
#    container everything is back with the data kept; a second run of every provisioner
#    (`vagrant provision`) exits 0, leaves the stores running untouched and the
#    service healthy with the data kept.
#
# Stand-ins for what a VM would download (no Internet here); each is logged as it is set up:
#   - Swift: the host's toolchain at /opt/swift, bind-mounted read-only at /opt/swift
#     (the prefix install-swift.sh uses, so it takes its "already installed" path).
#   - Swift packages: the host's package copies at /opt/swift-packages, bind-mounted
#     read-only, with the host's `git config --system` url.*.insteadOf lines in the
#     container's /etc/gitconfig, plus safe.directory for each copy (they belong to
#     root, the build runs as vagrant).
#   - apt: the host's apt sources and its mirror settings (files of
#     /etc/apt/apt.conf.d that set Acquire::Check-Valid-Until / Check-Date), reached
#     through a relay on the host (check/apt-relay.py) that forwards plain-HTTP
#     requests to the hosts of those sources and nothing else.
#   - Network: the container has a network namespace of its own (a veth pair on a
#     private /30, no route out, no DNS), so ports 5000, 6379 and 3306 inside it
#     cannot collide with the host's. The forwarded port's far end is checked:
#     port 5000 at the container's address.
#   - The VM's memory and CPU settings do not apply (a container shares the host's).
#
# Leaves the host as it was: on exit, also on failure or Ctrl-C, the container is
# stopped, the relay ended, the network namespace and veth removed, the cgroups and
# run-time folders it created removed, anything mounted under its work folder
# unmounted, and the container's root deleted (SYMBOLSTREAM_KEEP_CONTAINER=1 keeps the
# stopped root in .data/vagrant-check/root for a look).
#
# Environment:
#   SYMBOLSTREAM_KEEP_CONTAINER=1       keep the container's root after the run
#   SYMBOLSTREAM_REBUILD_BOX=1          rebuild the cached box
#   SYMBOLSTREAM_DEBIAN_MIRROR          debootstrap's mirror (default: the host's apt source)
#   SYMBOLSTREAM_PROVISION_TIMEOUT      seconds one provisioner may take (default 2400)
# Logs (console, each provisioner, the relay) go to .artifacts/vagrant-check/.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
DATA="$REPO_ROOT/.data"
BOX_TAR="$DATA/vagrant-box-bookworm.tar"
WORK="$DATA/vagrant-check"
ROOTFS="$WORK/root"
PLAN="$WORK/plan"
ARTIFACTS="$REPO_ROOT/.artifacts/vagrant-check"
KEEP="${SYMBOLSTREAM_KEEP_CONTAINER:-0}"
PROVISION_TIMEOUT="${SYMBOLSTREAM_PROVISION_TIMEOUT:-2400}"
MACHINE="symbolstream-check-$$"
NETNS="ssvagrant$$"
VETH_HOST="ssvh$$"
VETH_CONTAINER="ssvc$$"
SWIFT_HOST_PREFIX=/opt/swift
PACKAGES_HOST_DIR=/opt/swift-packages

started=$SECONDS
log() { printf '[vagrant-check %s +%ss] %s\n' "$(date -u +%H:%M:%S)" "$((SECONDS - started))" "$*" >&2; }
die() {
    log "FAIL: $*"
    exit 1
}

# ---------------------------------------------------------------- preconditions

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, systemd-nspawn, a network namespace)"
[ -x "$SWIFT_HOST_PREFIX/usr/bin/swift" ] || die "no Swift toolchain at $SWIFT_HOST_PREFIX to stand in for the download"
[ -d "$PACKAGES_HOST_DIR" ] || die "no Swift package copies at $PACKAGES_HOST_DIR"
mkdir -p "$DATA" "$WORK" "$ARTIFACTS"
exec 8>"$DATA/.vagrant-check.lock"
flock -n 8 || die "another check-in-container.sh runs in this checkout ($DATA/.vagrant-check.lock)"
rm -f "$ARTIFACTS"/*.log

# The host tools: debootstrap, systemd-nspawn (systemd-container), Ruby for the
# Vagrantfile, rsync; apt is not touched when they are there.
"$REPO_ROOT/provisioning/install-packages.sh" debootstrap systemd-container ruby rsync iproute2 util-linux

# ---------------------------------------------------------------- cleanup

# What existed before, so that cleanup removes only what this run created.
had_run_netns=0
[ -e /run/netns ] && had_run_netns=1
had_run_systemd=0
[ -e /run/systemd ] && had_run_systemd=1
had_nspawn_dir=0
[ -e /run/systemd/nspawn ] && had_nspawn_dir=1
had_run_mount=0 # libmount's state folder, made by mount(8) and umount(8) (debootstrap, cleanup)
[ -e /run/mount ] && had_run_mount=1

NSPAWN_PID=""
CONTAINER_PID=""
RELAY_PID=""
CGROUPS=() # the cgroups this run made for the container (nspawn puts its own below)
NETNS_MADE=0

container_running() { [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; }

# Every process in this run's cgroups (the container's and nspawn's).
cgroup_pids() {
    local cg
    for cg in "${CGROUPS[@]}"; do
        [ -d "$cg" ] && find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -u
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if container_running; then
        log "cleanup: stopping the container"
        stop_container 60 || true
    fi
    if container_running || [ -n "$(cgroup_pids)" ]; then
        log "cleanup: killing what is left of the container"
        kill -KILL "$NSPAWN_PID" 2>/dev/null
        cgroup_pids | xargs -r kill -KILL 2>/dev/null
        sleep 1
    fi
    if [ -n "$RELAY_PID" ] && kill -0 "$RELAY_PID" 2>/dev/null; then
        kill -TERM "$RELAY_PID"
        wait "$RELAY_PID" 2>/dev/null
        tail -n 1 "$WORK/relay.out" 2>/dev/null | sed 's/^/    /' >&2
    fi
    if [ "$NETNS_MADE" -eq 1 ]; then
        ip link delete "$VETH_HOST" 2>/dev/null
        ip netns delete "$NETNS" 2>/dev/null
    fi
    # debootstrap mounts /proc and /sys in its target; a failure can leave them.
    findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
    # `ip netns add` bind-mounts /run/netns onto itself; undo that if it made it.
    if [ "$had_run_netns" -eq 0 ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
        umount /run/netns 2>/dev/null
        rmdir /run/netns 2>/dev/null
    fi
    # nspawn's run-time folders (locks, propagation), on a host without systemd.
    rm -rf "/run/systemd/nspawn/propagate/$MACHINE" "/run/systemd/nspawn/unix-export/$MACHINE"
    if [ "$had_nspawn_dir" -eq 0 ]; then rm -rf /run/systemd/nspawn; fi
    if [ "$had_run_systemd" -eq 0 ]; then rmdir /run/systemd 2>/dev/null; fi
    if [ "$had_run_mount" -eq 0 ]; then rmdir /run/mount 2>/dev/null; fi # only if empty
    local cg
    for cg in "${CGROUPS[@]}"; do
        [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    if [ "$KEEP" = 1 ]; then
        log "cleanup: kept the container's root in $ROOTFS (SYMBOLSTREAM_KEEP_CONTAINER=1)"
    elif [ -d "$ROOTFS" ]; then
        log "cleanup: deleting the container's root ($(du -sh "$ROOTFS" 2>/dev/null | cut -f1))"
        rm -rf --one-file-system "$ROOTFS"
    fi
    rm -rf --one-file-system "$WORK/box.tmp" # a box build cut short
    if [ "$rc" -eq 0 ]; then
        log "PASS in $((SECONDS - started))s; host cleaned up"
    else
        log "FAILED (exit $rc) after $((SECONDS - started))s; host cleaned up; logs in $ARTIFACTS"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- the Vagrantfile

log "reading the Vagrantfile (Ruby, check/vagrantfile-plan.rb)"
ruby "$SCRIPT_DIR/check/vagrantfile-plan.rb" "$REPO_ROOT/Vagrantfile" "$PLAN"
box="$(cat "$PLAN/box")"
[ "$box" = debian/bookworm64 ] || die "the Vagrantfile's box is $box; this check builds a debootstrap of Debian 12 (bookworm) to stand in for debian/bookworm64"
read -r sync_host sync_guest sync_type <"$PLAN/synced_folder"
[ "$sync_type" = rsync ] || die "the synced folder's type is $sync_type; the check copies the source as the rsync type does (unset SYMBOLSTREAM_SYNC_TYPE)"
HOSTNAME_VM="$(cat "$PLAN/hostname")"
SSH_USER="$(cat "$PLAN/ssh_user")"
mapfile -t PROVISIONERS < <(find "$PLAN/provisioners" -mindepth 1 -maxdepth 1 -type d | sort)
# Port 5000 is often taken on a host (macOS's AirPlay Receiver): Vagrant must pick another.
grep -qE '^5000 [0-9]+ [^ ]+ true$' "$PLAN/forwarded_ports" ||
    die "the Vagrantfile's forwarded port for guest 5000 lacks auto_correct: true"
log "box $box, hostname $HOSTNAME_VM, $sync_host -> $sync_guest ($sync_type), forwarded ports: $(tr '\n' ';' <"$PLAN/forwarded_ports")"
log "provisioners: $(for p in "${PROVISIONERS[@]}"; do printf '%s[%s] ' "${p##*/}" "$(cat "$p/shell")"; done)"

# The settings the provisioners get (the Vagrantfile's STORE_ENV), for the assertions.
plan_env() { # NAME DEFAULT
    local value
    value="$(grep -ho "$1=\"[^\"]*\"" "$PLAN"/provisioners/*/stdin | head -n 1 | sed -e "s/^$1=\"//" -e 's/"$//')"
    printf '%s' "${value:-$2}"
}
REDIS_PASSWORD="$(plan_env SYMBOLSTREAM_REDIS_PASSWORD og)"
DB_NAME="$(plan_env SYMBOLSTREAM_MARIADB_DATABASE og)"
DB_USER="$(plan_env SYMBOLSTREAM_MARIADB_USER og)"
DB_PASSWORD="$(plan_env SYMBOLSTREAM_MARIADB_PASSWORD og)"

# ---------------------------------------------------------------- the box

debian_mirror() {
    if [ -n "${SYMBOLSTREAM_DEBIAN_MIRROR:-}" ]; then
        printf '%s' "$SYMBOLSTREAM_DEBIAN_MIRROR"
        return
    fi
    # The host's first plain Debian source (deb822 or one-line format).
    local found
    found="$({
        grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{ for (i = 2; i <= NF; i++) print $i }'
        grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; break } }'
    } | grep -v -- '-security' | grep '/debian/\?$' | head -n 1 || true)"
    printf '%s' "${found:-http://deb.debian.org/debian}"
}

build_box() {
    local tmp="$WORK/box.tmp" mirror
    mirror="$(debian_mirror)"
    rm -rf --one-file-system "$tmp"
    mkdir -p "$tmp"
    log "box: debootstrap bookworm from $mirror (cached afterwards as $BOX_TAR)"
    if ! debootstrap --include=sudo,dbus,libpam-systemd bookworm "$tmp/root" "$mirror" >"$ARTIFACTS/debootstrap.log" 2>&1; then
        tail -n 30 "$ARTIFACTS/debootstrap.log" >&2
        die "debootstrap failed (log: $ARTIFACTS/debootstrap.log)"
    fi
    # What the Vagrant box adds to a plain Debian: the vagrant user, passwordless sudo.
    chroot "$tmp/root" useradd --create-home --shell /bin/bash --user-group vagrant
    printf 'vagrant ALL=(ALL) NOPASSWD: ALL\n' >"$tmp/root/etc/sudoers.d/vagrant"
    chmod 0440 "$tmp/root/etc/sudoers.d/vagrant"
    rm -f "$tmp/root/etc/hostname" "$tmp/root/etc/resolv.conf"
    rm -rf "$tmp/root/var/cache/apt/archives/"*.deb
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$tmp/root" -cf "$BOX_TAR.tmp" .
    mv -f "$BOX_TAR.tmp" "$BOX_TAR"
    rm -rf --one-file-system "$tmp"
    log "box: built ($(du -h "$BOX_TAR" | cut -f1))"
}

# A run killed outright (SIGKILL) can leave debootstrap's mounts behind.
{ findmnt -rn -o TARGET | grep -F "$WORK/" || true; } | sort -r | xargs -r -n1 umount -l
box_started=$SECONDS
box_state=cached
if [ "${SYMBOLSTREAM_REBUILD_BOX:-0}" = 1 ] || [ ! -s "$BOX_TAR" ]; then
    build_box
    box_state=built
else
    log "box: cached $BOX_TAR ($(du -h "$BOX_TAR" | cut -f1); SYMBOLSTREAM_REBUILD_BOX=1 rebuilds it)"
fi
box_seconds=$((SECONDS - box_started))

rm -rf --one-file-system "$ROOTFS"
mkdir -p "$ROOTFS"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$ROOTFS" -xf "$BOX_TAR"
log "fresh container root from the box in $ROOTFS"

# ---------------------------------------------------------------- what vagrant up sets up

# Vagrant sets the hostname (config.vm.hostname) on up, as its Debian guest plugin does.
printf '%s\n' "$HOSTNAME_VM" >"$ROOTFS/etc/hostname"
printf '127.0.1.1\t%s\n' "$HOSTNAME_VM" >>"$ROOTFS/etc/hosts"

# The private network has no DNS; a resolv.conf without nameserver fails lookups at
# once (glibc tries 127.0.0.1) instead of timing out.
printf '# No DNS in the check'"'"'s private network: apt goes through the host relay.\n' >"$ROOTFS/etc/resolv.conf"

# Stand-in: apt uses the host's sources and mirror settings, through the relay.
rm -f "$ROOTFS/etc/apt/sources.list"
mirror_hosts=()
for src in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$src" ] || continue
    cp "$src" "$ROOTFS/etc/apt/${src#/etc/apt/}"
    while read -r url; do
        case "$url" in
        http://*) mirror_hosts+=("$(sed -E 's#^http://([^/:]+).*#\1#' <<<"$url")") ;;
        *) log "warning: $src uses $url, which the plain-HTTP relay does not carry" ;;
        esac
    done < <({ grep -hs '^URIs:' "$src" | awk '{ for (i = 2; i <= NF; i++) print $i }'; grep -hs '^deb' "$src" | grep -o '[a-z]*://[^ ]*'; } || true)
done
mapfile -t mirror_hosts < <(printf '%s\n' "${mirror_hosts[@]}" | sort -u)
[ "${#mirror_hosts[@]}" -gt 0 ] || die "no http:// apt source on the host to relay to"
apt_conf_copied=()
for conf in /etc/apt/apt.conf.d/*; do
    if [ -f "$conf" ] && grep -qE 'Check-Valid-Until|Check-Date' "$conf"; then
        cp "$conf" "$ROOTFS/etc/apt/apt.conf.d/"
        apt_conf_copied+=("${conf##*/}")
    fi
done
log "stand-in: apt sources of the host (mirrors: ${mirror_hosts[*]}), its mirror settings (${apt_conf_copied[*]:-none}), through a relay on the host"

# Stand-in: the Swift package copies and the host's git insteadOf for them.
mkdir -p "$ROOTFS$SWIFT_HOST_PREFIX" "$ROOTFS$PACKAGES_HOST_DIR"
gitconfig="$ROOTFS/etc/gitconfig"
: >"$gitconfig"
while read -r key value; do
    git config --file "$gitconfig" --add "$key" "$value"
done < <(git config --system --get-regexp '^url\..*\.insteadof$' || true)
[ -s "$gitconfig" ] || die "the host's git config --system has no url.*.insteadOf for $PACKAGES_HOST_DIR"
while read -r repo; do
    git config --file "$gitconfig" --add safe.directory "$repo"
done < <(find "$PACKAGES_HOST_DIR" -mindepth 1 -maxdepth 3 -type d -name '*.git' | sort)
log "stand-in: $PACKAGES_HOST_DIR bind-mounted read-only, /etc/gitconfig: $(git config --file "$gitconfig" --get-regexp '^url\.' | wc -l) insteadOf rules from the host, safe.directory for $(git config --file "$gitconfig" --get-all safe.directory | wc -l) copies"
log "stand-in: the host's Swift toolchain $SWIFT_HOST_PREFIX bind-mounted read-only at $SWIFT_HOST_PREFIX ($("$SWIFT_HOST_PREFIX/usr/bin/swift" --version 2>/dev/null | head -n 1))"

# ---------------------------------------------------------------- network

# A private /30 that no host route covers (only the default route may match).
pick_subnet() {
    local i third
    for i in $(seq 0 255); do
        third=$((($$ + i) % 256))
        if ! ip -4 -o route show match "10.213.$third.1" | grep -qv '^default' &&
            ! ip -4 -o addr show | grep -q " 10\.213\.$third\."; then
            printf '10.213.%s' "$third"
            return 0
        fi
    done
    return 1
}
subnet="$(pick_subnet)" || die "no free 10.213.x.0/30 for the container's network"
HOST_IP="$subnet.1"
CONTAINER_IP="$subnet.2"
ip netns add "$NETNS"
NETNS_MADE=1
ip link add "$VETH_HOST" type veth peer name "$VETH_CONTAINER"
ip link set "$VETH_CONTAINER" netns "$NETNS"
ip addr add "$HOST_IP/30" dev "$VETH_HOST"
ip link set "$VETH_HOST" up
ip -n "$NETNS" link set lo up
ip -n "$NETNS" link set "$VETH_CONTAINER" name eth0
ip -n "$NETNS" addr add "$CONTAINER_IP/30" dev eth0
ip -n "$NETNS" link set eth0 up
log "network: namespace $NETNS, host $HOST_IP ($VETH_HOST) <-> container $CONTAINER_IP (eth0), no route out, no DNS"

allow=()
for h in "${mirror_hosts[@]}"; do allow+=(--allow "$h"); done
python3 -u "$SCRIPT_DIR/check/apt-relay.py" --listen "$HOST_IP:0" "${allow[@]}" --log "$ARTIFACTS/apt-relay.log" >"$WORK/relay.out" 2>&1 &
RELAY_PID=$!
for _ in $(seq 1 100); do
    grep -q '^ready ' "$WORK/relay.out" 2>/dev/null && break
    kill -0 "$RELAY_PID" 2>/dev/null || die "the apt relay did not start: $(cat "$WORK/relay.out")"
    sleep 0.1
done
relay_address="$(sed -n 's/^ready //p' "$WORK/relay.out")"
[ -n "$relay_address" ] || die "the apt relay did not get ready"
printf '// check-in-container.sh: the container reaches the mirror only through the host relay.\nAcquire::http::Proxy "http://%s/";\n' \
    "$relay_address" >"$ROOTFS/etc/apt/apt.conf.d/99symbolstream-check-relay"
log "stand-in: apt relay on $relay_address for ${mirror_hosts[*]} (log: $ARTIFACTS/apt-relay.log)"

# ---------------------------------------------------------------- the container

# Our own cgroups for nspawn (it makes payload/ and supervisor/ below the cgroup it
# starts in): two runs cannot collide, and cleanup knows exactly what to remove.
make_cgroups() {
    local line hierarchy path mountpoint
    while IFS=: read -r _ hierarchy path; do
        case "$hierarchy" in
        "") mountpoint="$(findmnt -rn -t cgroup2 -o TARGET | head -n 1)" ;;
        name=systemd) mountpoint="$(findmnt -rn -t cgroup -o TARGET,OPTIONS | awk '$2 ~ /name=systemd/ { print $1; exit }')" ;;
        *) continue ;;
        esac
        [ -n "$mountpoint" ] || continue
        line="$mountpoint${path%/}/$MACHINE"
        mkdir -p "$line"
        CGROUPS+=("$line")
    done </proc/self/cgroup
}
make_cgroups

boot() { # NUMBER
    local console="$ARTIFACTS/console-$1.log"
    (
        for cg in "${CGROUPS[@]}"; do echo "$BASHPID" >"$cg/cgroup.procs"; done
        exec systemd-nspawn --quiet --register=no --keep-unit --machine="$MACHINE" -D "$ROOTFS" -b \
            --network-namespace-path="/run/netns/$NETNS" --resolv-conf=off --link-journal=no \
            --bind-ro="$SWIFT_HOST_PREFIX" --bind-ro="$PACKAGES_HOST_DIR" --console=read-only
    ) >"$console" 2>&1 &
    NSPAWN_PID=$!
    CONTAINER_PID=""
    # nspawn's children are its own helpers at first; the container's init is the
    # child that has become systemd.
    local child
    for _ in $(seq 1 300); do
        for child in $(pgrep -P "$NSPAWN_PID" || true); do
            if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ]; then
                CONTAINER_PID="$child"
            fi
        done
        [ -n "$CONTAINER_PID" ] && break
        container_running || die "systemd-nspawn exited at once: $(tail -n 20 "$console")"
        sleep 0.1
    done
    [ -n "$CONTAINER_PID" ] || die "no systemd under systemd-nspawn after 30s"
    # Until systemd is set up, systemctl says offline or nothing (no bus yet); then
    # initializing or starting until the boot is done, and running or degraded.
    local state="" deadline=$((SECONDS + 180))
    while [ "$SECONDS" -lt "$deadline" ]; do
        state="$(cexec systemctl is-system-running 2>/dev/null || true)"
        case "$state" in running | degraded | maintenance | stopping) break ;; esac
        container_running || die "the container stopped while booting: $(tail -n 20 "$console")"
        sleep 0.5
    done
    if [ "$state" != running ]; then
        cexec systemctl --failed --no-pager >&2 || true
        tail -n 30 "$console" >&2
        die "the container's systemd is '$state' after boot $1, not running"
    fi
    log "boot $1: systemd running (nspawn $NSPAWN_PID, init $CONTAINER_PID; console: $console)"
}

stop_container() { # TIMEOUT -> 0 when it stopped by itself
    # SIGRTMIN+4 asks the container's systemd for a clean poweroff.
    kill -s RTMIN+4 "$CONTAINER_PID" 2>/dev/null || kill -TERM "$NSPAWN_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 $(($1 * 5))); do
        container_running || break
        sleep 0.2
    done
    if container_running; then
        return 1
    fi
    wait "$NSPAWN_PID" 2>/dev/null || true
    NSPAWN_PID=""
    return 0
}

# Runs a command in the container as root, with a clean environment.
cexec() {
    nsenter -t "$CONTAINER_PID" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# Runs a command in the container as the SSH user, from its home, with the
# environment sshd gives a command (HOME, USER, LOGNAME, SHELL and its PATH).
as_ssh_user() {
    local home
    home="$(cexec getent passwd "$SSH_USER" | cut -d: -f6)"
    # shellcheck disable=SC2016 # for that sh
    nsenter -t "$CONTAINER_PID" -a env -i HOME="$home" USER="$SSH_USER" LOGNAME="$SSH_USER" \
        SHELL=/bin/bash PATH=/usr/local/bin:/usr/bin:/bin:/usr/games \
        setpriv --reuid="$SSH_USER" --regid="$SSH_USER" --init-groups -- sh -c 'cd "$HOME" && exec "$@"' sh "$@"
}

# One shell provisioner, as Vagrant runs it over SSH: upload the script as the SSH
# user, then write the command line to the remote shell (sshd: `bash -c SHELL`).
run_provisioner() { # DIR ROUND -> the provisioner's exit status
    local dir="$1" round="$2" name upload shell out rc t0=$SECONDS
    name="${dir##*/}"
    upload="$(cat "$dir/upload_path")"
    shell="$(cat "$dir/shell")"
    out="$ARTIFACTS/provision-$round-$name.log"
    # shellcheck disable=SC2016 # $1 is for that sh
    as_ssh_user sh -c 'cat >"$1"' sh "$upload" <"$dir/script"
    log "provision $round: $name ($(cat "$dir/source"); $shell)"
    set +e
    # Long apt and compiler progress goes to the log file only.
    as_ssh_user timeout --kill-after=30 "$PROVISION_TIMEOUT" bash -c "$shell" <"$dir/stdin" 2>&1 |
        tee "$out" |
        grep --line-buffered -vE '^(\[[0-9]+/[0-9]+\] |Get:[0-9]+ |Unpacking |Selecting previously|Preparing to unpack|Setting up |Processing triggers|Created symlink|\(Reading database)' |
        sed -u "s/^/    [$name] /" >&2
    rc=${PIPESTATUS[0]}
    set -e
    log "provision $round: $name exited $rc in $((SECONDS - t0))s (log: $out)"
    return "$rc"
}

provision_all() { # ROUND
    local dir
    for dir in "${PROVISIONERS[@]}"; do
        run_provisioner "$dir" "$1" || die "provisioner ${dir##*/} exited non-zero in round $1 (log: $ARTIFACTS/provision-$1-${dir##*/}.log)"
    done
}

# ---------------------------------------------------------------- assertions

URL="http://$CONTAINER_IP:5000"
BODY="$WORK/body"

# http METHOD PATH -> prints the status code; the body is in $BODY.
http() {
    curl -sS --noproxy '*' -m 10 -o "$BODY" -w '%{http_code}' -X "$1" "$URL$2" 2>/dev/null || printf '000'
}

# json EXPRESSION: evaluates a Python expression over the body as `d`.
json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$BODY" "$1"; }

expect_http() { # METHOD PATH STATUS [BODY]
    local code
    code="$(http "$1" "$2")"
    [ "$code" = "$3" ] || die "$1 $2: $code, expected $3: $(head -c 600 "$BODY" 2>/dev/null)"
    if [ "$#" -ge 4 ] && [ "$(cat "$BODY")" != "$4" ]; then
        die "$1 $2: body '$(head -c 300 "$BODY")', expected '$4'"
    fi
}

wait_healthy() { # TIMEOUT
    local i code=000
    for i in $(seq 1 "$1"); do
        code="$(http GET /health)"
        if [ "$code" = 200 ] && [ "$(json 'd["status"]')" = ok ]; then
            return 0
        fi
        sleep 1
    done
    die "GET /health: $code after ${1}s: $(head -c 800 "$BODY" 2>/dev/null)"
}

sql() { # SQL -> tab-separated rows, as the service's MariaDB user over TCP
    cexec env MYSQL_PWD="$DB_PASSWORD" mariadb --batch --skip-column-names --protocol=TCP -h 127.0.0.1 -P 3306 \
        -u "$DB_USER" "$DB_NAME" -e "$1"
}

rcli() { cexec env REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p 6379 "$@"; }

main_pid() { cexec systemctl show -p MainPID --value "$1"; }

check_stores() {
    local unit listening
    for unit in redis-server mariadb; do
        [ "$(cexec systemctl is-enabled "$unit")" = enabled ] || die "$unit is not enabled"
        [ "$(cexec systemctl is-active "$unit")" = active ] || die "$unit is not active"
    done
    cexec redis-cli -h 127.0.0.1 -p 6379 ping 2>&1 | grep -q NOAUTH || die "Redis answers without the password"
    [ "$(rcli ping)" = PONG ] || die "Redis does not take the configured password"
    [ "$(rcli config get appendonly | tail -n 1)" = yes ] || die "Redis AOF is off"
    [ "$(rcli config get appendfsync | tail -n 1)" = always ] || die "Redis appendfsync is not always"
    [ "$(rcli config get maxmemory-policy | tail -n 1)" = noeviction ] || die "Redis maxmemory-policy is not noeviction"
    [ "$(rcli config get bind | tail -n 1)" = 127.0.0.1 ] || die "Redis binds $(rcli config get bind | tail -n 1)"
    local settings
    settings="$(sql 'SELECT DATABASE(), @@bind_address, @@innodb_flush_log_at_trx_commit' 2>&1 | tr '\t' ' ')"
    [ "$settings" = "$DB_NAME 127.0.0.1 1" ] || die "MariaDB (database, bind-address, flush at commit): $settings"
    listening="$(cexec ss -Hltn | awk '{ print $4 }')"
    if grep -E ':(6379|3306)$' <<<"$listening" | grep -qvE '^(127\.0\.0\.1|\[::1\]):'; then
        die "a store listens beyond loopback: $(grep -E ':(6379|3306)$' <<<"$listening" | tr '\n' ' ')"
    fi
    for port in 6379 3306; do
        if timeout 3 bash -c "exec 3<>/dev/tcp/$CONTAINER_IP/$port" 2>/dev/null; then
            die "port $port of the container is reachable from outside it"
        fi
    done
    log "stores: redis-server and mariadb enabled and active; Redis password, AOF (always), noeviction, 127.0.0.1 only; MariaDB database $DB_NAME for $DB_USER, 127.0.0.1 only; neither reachable from the host"
}

check_service() {
    local pid uids user
    [ "$(cexec systemctl is-enabled symbolstream)" = enabled ] || die "symbolstream.service is not enabled"
    [ "$(cexec systemctl is-active symbolstream)" = active ] || die "symbolstream.service is not active"
    pid="$(main_pid symbolstream)"
    [ "${pid:-0}" -gt 0 ] || die "symbolstream.service has no main pid"
    # shellcheck disable=SC2016 # awk's fields
    uids="$(cexec awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")"
    user="$(cexec ps -o user= -p "$pid")"
    [ "$user" = "$SSH_USER" ] || die "symbolstream runs as $user, not $SSH_USER"
    case " $uids " in *" 0 "*) die "symbolstream runs with uid 0 among $uids" ;; esac
    wait_healthy 90
    log "service: symbolstream.service enabled and active, pid $pid as $user (uids $uids), GET /health 200 ok"
}

new_uuid() { cat /proc/sys/kernel/random/uuid; }

send_initial() { # UUID SYMBOL
    local code
    code="$(http POST "/initial?uuid=$1&symbol=$2")"
    [ "$code" = 200 ] || die "POST /initial: $code $(head -c 300 "$BODY")"
    case "$(cat "$BODY")" in True | False) ;; *) die "POST /initial: '$(head -c 100 "$BODY")', not True/False" ;; esac
    cat "$BODY"
}

expect_dashboard() { # SYMBOL COUNT FOLLOWUPS
    expect_http GET "/dashboard/symbol/$1" 200
    [ "$(json 'd["count"], d["followups"]')" = "($2, $3)" ] ||
        die "/dashboard/symbol/$1: $(cat "$BODY"), expected count $2 and followups $3"
}

expect_record() { # UUID GUESS FOLLOWUPS
    expect_http GET "/requests/$1" 200
    [ "$(json 'd["symbol"], d["guess"], len(d["followups"])')" = "('e', $2, $3)" ] ||
        die "/requests/$1: $(cat "$BODY")"
}

expect_rows() { # UUID "kind,symbol kind,symbol" (waits for the archive)
    local got=""
    for _ in $(seq 1 60); do
        got="$(sql "SELECT kind, symbol FROM events WHERE uuid = '$1' ORDER BY kind" | tr '\t' ',' | tr '\n' ' ' | sed 's/ $//')"
        [ "$got" = "$2" ] && return 0
        sleep 0.5
    done
    die "MariaDB rows of $1: '$got', expected '$2'"
}

# ================================================================ vagrant up

boot 1
rsync_started=$SECONDS
excludes=()
while read -r pattern; do excludes+=(--exclude "$pattern"); done <"$PLAN/rsync_excludes"
vagrant_ids="$(cexec id -u "$SSH_USER"):$(cexec id -g "$SSH_USER")"
mkdir -p "$ROOTFS$sync_guest"
# Vagrant's rsync arguments (--verbose --archive --delete -z --copy-links, owner and
# group set to the SSH user) and the Vagrantfile's excludes.
rsync --archive --delete --copy-links --no-owner --no-group --chown="$vagrant_ids" "${excludes[@]}" \
    "$sync_host/" "$ROOTFS$sync_guest/"
log "synced $sync_host -> $sync_guest ($(du -sh "$ROOTFS$sync_guest" | cut -f1), excludes $(tr '\n' ' ' <"$PLAN/rsync_excludes"), owner $SSH_USER) in $((SECONDS - rsync_started))s"

provision_started=$SECONDS
provision_all 1
provision_seconds=$((SECONDS - provision_started))
log "vagrant up: every provisioner exited 0 (${provision_seconds}s)"

check_stores
check_service
[ "$(cexec stat -c %U /vagrant/.build/release/symbolstream)" = "$SSH_USER" ] || die "the release build is not the $SSH_USER user's"

U1="$(new_uuid)"
g1="$(send_initial "$U1" e)"
expect_http POST "/followup?uuid=$U1" 200 hooray
expect_dashboard e 1 1
expect_record "$U1" "$g1" 1
today="$(date -u +%F)"
tomorrow="$(date -u -d tomorrow +%F)"
expect_http GET "/dashboard/range/$today/$tomorrow" 200
[ "$(json 'len(d), d[4]["symbol"], d[4]["count"]')" = "(26, 'e', 1)" ] || die "/dashboard/range/$today/$tomorrow: $(head -c 400 "$BODY")"
expect_http GET /dashboard 200
grep -qi '<html' "$BODY" || die "/dashboard is not the HTML page"
expect_http GET /metrics 200
expect_rows "$U1" "initial,e followup,e"
log "traffic: initial $g1, followup hooray, /dashboard/symbol/e, /dashboard/range, /requests, /dashboard, /metrics right; both rows in $DB_NAME.events"

# ---------------------------------------------------------------- restarts

pid="$(main_pid symbolstream)"
cexec systemctl restart symbolstream
wait_healthy 60
[ "$(main_pid symbolstream)" != "$pid" ] || die "systemctl restart did not start a new process"
expect_dashboard e 1 1
log "systemctl restart symbolstream: new pid $(main_pid symbolstream), healthy, data there"

pid="$(main_pid symbolstream)"
restarts="$(cexec systemctl show -p NRestarts --value symbolstream)"
cexec kill -KILL "$pid"
for _ in $(seq 1 60); do
    now="$(main_pid symbolstream)"
    [ "${now:-0}" -gt 0 ] && [ "$now" != "$pid" ] && break
    sleep 0.5
done
if [ "${now:-0}" -eq 0 ] || [ "$now" = "$pid" ]; then
    die "symbolstream did not come back after kill -9 of $pid"
fi
[ "$(cexec systemctl show -p NRestarts --value symbolstream)" -gt "$restarts" ] || die "NRestarts did not grow after kill -9"
wait_healthy 60
U2="$(new_uuid)"
send_initial "$U2" e >/dev/null
expect_dashboard e 2 1
log "kill -9 of $pid: back through Restart= as pid $now, healthy, takes events"

# ---------------------------------------------------------------- install-service.sh on a 503

# The service provisioner again, with a Redis password the server refuses: the service
# answers 503 to everything (like every non-root deployment did in issue 12), and the
# provisioning must fail and say why.
service_dir="$(grep -l 'install-service.sh' "$PLAN"/provisioners/*/script "$PLAN"/provisioners/*/source | head -n 1)"
service_dir="${service_dir%/*}"
rm -rf "$WORK/negative"
mkdir -p "$WORK/negative"
cp "$service_dir"/* "$WORK/negative/"
sed -i 's/SYMBOLSTREAM_REDIS_PASSWORD="[^"]*"/SYMBOLSTREAM_REDIS_PASSWORD="not-the-password" SYMBOLSTREAM_HEALTH_TIMEOUT="15"/' "$WORK/negative/stdin"
grep -q 'not-the-password' "$WORK/negative/stdin" || die "cannot give the service provisioner a wrong Redis password"
if run_provisioner "$WORK/negative" wrong-password; then
    die "install-service.sh exited 0 while the service answered 503"
fi
out="$ARTIFACTS/provision-wrong-password-negative.log"
grep -q 'answered 503' "$out" || die "install-service.sh did not report the 503 (see $out)"
grep -q '"status":"unavailable"' "$out" || die "install-service.sh did not print the /health body (see $out)"
log "install-service.sh with a wrong Redis password: exited non-zero, printed the 503 and its /health body"
run_provisioner "$service_dir" restore || die "the service provisioner failed with the right password again"
wait_healthy 60
expect_dashboard e 2 1

# ---------------------------------------------------------------- reboot

log "reboot: clean poweroff of the container"
stop_container 120 || die "the container did not power off within 120s"
boot 2
for unit in redis-server mariadb symbolstream; do
    [ "$(cexec systemctl is-active "$unit")" = active ] || die "$unit is not active after the reboot"
done
check_stores
check_service
expect_dashboard e 2 1
expect_record "$U1" "$g1" 1
expect_rows "$U1" "initial,e followup,e"
expect_rows "$U2" "initial,e"
U3="$(new_uuid)"
send_initial "$U3" e >/dev/null
expect_dashboard e 3 1
log "after the reboot: every unit active by itself, the earlier requests, counts and rows kept, new events taken"

# ---------------------------------------------------------------- vagrant provision

redis_pid="$(main_pid redis-server)"
mariadb_pid="$(main_pid mariadb)"
reprovision_started=$SECONDS
provision_all 2
reprovision_seconds=$((SECONDS - reprovision_started))
[ "$(main_pid redis-server)" = "$redis_pid" ] || die "the second provisioning restarted redis-server"
[ "$(main_pid mariadb)" = "$mariadb_pid" ] || die "the second provisioning restarted mariadb"
grep -q 'already installed' "$ARTIFACTS"/provision-2-*packages*.log || die "the second provisioning installed packages again"
check_service
expect_dashboard e 3 1
expect_rows "$U3" "initial,e"
log "vagrant provision: every provisioner exited 0 again (${reprovision_seconds}s), stores untouched, service healthy, data kept"

log "timings: box ${box_seconds}s ($box_state), first provisioning ${provision_seconds}s, second ${reprovision_seconds}s"
