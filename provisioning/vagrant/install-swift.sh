#!/usr/bin/env bash
# Vagrant VM (root): install the Swift toolchain from swift.org's release tarball for
# Debian 12 into /opt/swift (binaries in /opt/swift/usr/bin) and put it on PATH via
# /etc/profile.d/swift.sh. Skipped when that Swift version is already there.
# The tarball's GPG signature is checked against swift.org's published keys; set
# SWIFT_SHA256 to also pin the tarball's checksum.
#
# Needs: curl, ca-certificates, gnupg and the toolchain's runtime packages, which
# the Vagrantfile installs first through provisioning/install-packages.sh.
#
# Environment: SWIFT_VERSION (default 6.3.1), SWIFT_PREFIX (default /opt/swift),
#              SWIFT_SHA256 (optional).
set -euo pipefail

SWIFT_VERSION="${SWIFT_VERSION:-6.3.1}"
PREFIX="${SWIFT_PREFIX:-/opt/swift}"

log() { printf 'install-swift: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Put the toolchain on every login shell's PATH, unless some profile script already does.
write_profile() {
    if grep -qsF "$PREFIX/usr/bin" /etc/profile.d/*.sh; then
        return 0
    fi
    # shellcheck disable=SC2016 # $PATH is for the profile script, not expanded here
    printf '# Swift toolchain (SymbolStream provisioning)\ncase ":$PATH:" in *":%s:"*) ;; *) export PATH="$PATH:%s" ;; esac\n' \
        "$PREFIX/usr/bin" "$PREFIX/usr/bin" >/etc/profile.d/swift.sh
    chmod 0644 /etc/profile.d/swift.sh
    log "wrote /etc/profile.d/swift.sh"
}

installed_version() { # path to swift -> "6.3.1" or nothing
    "$1" --version 2>/dev/null | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -n 1
}

if [ -x "$PREFIX/usr/bin/swift" ] && [ "$(installed_version "$PREFIX/usr/bin/swift")" = "$SWIFT_VERSION" ]; then
    log "Swift $SWIFT_VERSION already in $PREFIX"
    write_profile
    exit 0
fi
if command -v swift >/dev/null 2>&1 && [ "$(installed_version "$(command -v swift)")" = "$SWIFT_VERSION" ]; then
    log "Swift $SWIFT_VERSION already on PATH at $(command -v swift)"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "run as root"
case "$(uname -m)" in
x86_64) platform=debian12 ;;
aarch64 | arm64) platform=debian12-aarch64 ;;
*) die "no Swift toolchain for $(uname -m)" ;;
esac
for tool in curl gpg tar; do
    command -v "$tool" >/dev/null || die "$tool is missing (install curl gnupg tar)"
done

name="swift-$SWIFT_VERSION-RELEASE-$platform"
url="https://download.swift.org/swift-$SWIFT_VERSION-release/$platform/swift-$SWIFT_VERSION-RELEASE/$name.tar.gz"
work="$(mktemp -d /var/tmp/swift-install.XXXXXX)"
trap 'rm -rf "$work"' EXIT

log "downloading $url"
curl -fSL --retry 5 --retry-delay 3 --progress-bar -o "$work/$name.tar.gz" "$url"
curl -fsSL --retry 5 -o "$work/$name.tar.gz.sig" "$url.sig"
curl -fsSL --retry 5 -o "$work/all-keys.asc" https://swift.org/keys/all-keys.asc

log "verifying the signature"
export GNUPGHOME="$work/gnupg"
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --import "$work/all-keys.asc" 2>/dev/null
if ! gpg --batch --verify "$work/$name.tar.gz.sig" "$work/$name.tar.gz" 2>"$work/verify.log"; then
    cat "$work/verify.log" >&2
    die "bad signature on $name.tar.gz"
fi
grep -E 'Good signature' "$work/verify.log" >&2 || true
if [ -n "${SWIFT_SHA256:-}" ]; then
    echo "$SWIFT_SHA256  $work/$name.tar.gz" | sha256sum -c - >&2 || die "checksum mismatch"
fi

log "unpacking into $PREFIX"
rm -rf "$PREFIX.new"
mkdir -p "$PREFIX.new"
tar -xzf "$work/$name.tar.gz" -C "$PREFIX.new" --strip-components=1
[ -x "$PREFIX.new/usr/bin/swift" ] || die "unexpected tarball layout (no usr/bin/swift)"
rm -rf "$PREFIX.old"
[ ! -e "$PREFIX" ] || mv "$PREFIX" "$PREFIX.old"
mv "$PREFIX.new" "$PREFIX"
rm -rf "$PREFIX.old"
write_profile
log "installed: $("$PREFIX/usr/bin/swift" --version 2>&1 | head -n 1)"
