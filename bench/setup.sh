#!/bin/sh
# Installs the external tools the benchmark compares against (Debian/Ubuntu, needs root).
# run.mjs calls it when one of them is missing; it is safe to run again.
set -eu
need=""
command -v restic    >/dev/null 2>&1 || need="$need restic"
command -v borg      >/dev/null 2>&1 || need="$need borgbackup"
command -v zstd      >/dev/null 2>&1 || need="$need zstd"
command -v sqlite3   >/dev/null 2>&1 || need="$need sqlite3"
command -v sha256sum >/dev/null 2>&1 || need="$need coreutils"
command -v tar       >/dev/null 2>&1 || need="$need tar"
# GNU time (not the shell keyword) reports the peak RSS of a command with -f %M.
[ -x /usr/bin/time ] || need="$need time"
if [ -z "$need" ]; then
  echo "setup: all tools present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup: missing:$need; install them with: sudo apt-get install -y$need" >&2
  exit 1
fi
echo "setup: installing$need"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $need
