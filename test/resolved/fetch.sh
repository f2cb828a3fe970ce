#!/bin/bash
# test/resolved/fetch.sh DIR: Debian's systemd-resolved unpacked into DIR/root, not installed: installing it
# would take over the host's /etc/resolv.conf. test/names-e2e.test.ts runs it in namespaces of its own.
# The package of the installed systemd's version (its binary uses systemd's shared library), else the newest.
set -euo pipefail
out=$(realpath -m "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$(dpkg-query -W -f '${Version}' systemd)
cd "$work"
download() { apt-get download -q -o APT::Sandbox::User=root "$@" >/dev/null 2>&1; }
# A machine whose package lists were never fetched (every package already installed) gets them first.
fetch() { download "systemd-resolved=$version" || download systemd-resolved; }
fetch || { apt-get update -qq && fetch; } || { echo "fetch.sh: cannot download systemd-resolved" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
dpkg-deb -x systemd-resolved_*.deb "$out/root"
echo "$version" >"$out/stamp"
