#!/bin/sh
# The systemd units in tools/systemd pass `systemd-analyze verify`, with
# ExecStart pointed at the tracebox just built (verify checks that it is
# executable). Usage: verify_units.sh SOURCE_DIR TRACEBOX_BINARY
set -eu
src=$1
bin=$2
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze is not installed: skipped"
    exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for f in "$src"/tools/systemd/*.service "$src"/tools/systemd/*.timer; do
    sed "s#/usr/local/bin/tracebox#$bin#" "$f" > "$dir/$(basename "$f")"
done
systemd-analyze verify --man=no "$dir"/*
echo "verified: $(ls "$dir" | tr '\n' ' ')"
