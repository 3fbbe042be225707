#!/usr/bin/env bash
# Builds the base image the compose test builds botbackup's Dockerfile on, without a container
# registry (none is reachable here): Debian bookworm from Debian's own packages (debootstrap
# --variant=minbase), plus this machine's Node.js (the one `npm ci` built the native modules for,
# with its headers, so better-sqlite3 and zstd-napi build in the image the same way), its CA
# bundle (npm and apt inside a build reach their registries through this machine's TLS proxy,
# if any) and the `node` user (uid 1000) the official Node image has.
#
#   test/compose/base-image.sh <docker-host>    prints the image's tag, e.g. botbackup-base:3f2a…
#
# The root filesystem is cached as a tarball in $BOTBACKUP_TEST_CACHE (default
# ~/.cache/botbackup-test), keyed by the package list, the Node version and this script, so a run
# after the first only `docker import`s it (seconds instead of minutes).
set -euo pipefail

docker_host="${1:?usage: base-image.sh <docker-host, e.g. unix:///tmp/x/docker.sock>}"
export DOCKER_HOST="$docker_host"
cache="${BOTBACKUP_TEST_CACHE:-$HOME/.cache/botbackup-test}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What the Dockerfile's stages expect of a Debian-based Node image besides node itself: TLS
# roots for npm and apt. (The build stage installs its compilers, the runtime stage tini, from
# Debian's packages as they do on the official image.)
packages="ca-certificates"
node_version="$(node --version) npm $(npm --version)"
node_pkg="$(dpkg -S "$(readlink -f "$(command -v node)")" | cut -d: -f1)"
key="$(printf '%s\n' "$packages" "$node_version" "$mirror" | cat - "$0" | sha256sum | cut -c1-16)"
tag="botbackup-base:$key"
tarball="$cache/base-$key.tar"

if ! docker image inspect "$tag" >/dev/null 2>&1; then
  if [ ! -s "$tarball" ]; then
    mkdir -p "$cache"
    root="$(mktemp -d "$cache/rootfs.XXXXXX")"
    trap 'rm -rf "$root"' EXIT
    echo "base-image: debootstrap bookworm ($packages) into $root" >&2
    debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >&2
    # Node.js exactly as installed here: its Debian package's files and links, and npm as it is now
    # (npm upgrades itself in place, so the package's list of npm's files can be out of date).
    { dpkg -L "$node_pkg" | while read -r f; do
        case "$f" in /usr/lib/node_modules/*) ;; *) { [ -e "$f" ] || [ -L "$f" ]; } && printf '%s\n' "${f#/}" ;; esac
      done; } | tar -C / --no-recursion -cf - -T - | tar -C "$root" -xf -
    tar -C / -cf - usr/lib/node_modules usr/bin/npm usr/bin/npx | tar -C "$root" -xf -
    # This machine's extra CAs (a TLS-intercepting proxy's), trusted inside the image too.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
      cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
      chroot "$root" update-ca-certificates >&2
    fi
    # npm builds native modules against the headers that came with node, not a download.
    mkdir -p "$root/usr/etc"
    printf 'nodedir=/usr\ncafile=/etc/ssl/certs/ca-certificates.crt\nfund=false\naudit=false\nupdate-notifier=false\n' >"$root/usr/etc/npmrc"
    chroot "$root" useradd --uid 1000 --create-home --shell /bin/sh node
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  fi
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["node"]' "$tarball" "$tag" >&2
fi
echo "$tag"
