#!/usr/bin/env bash
# Proves that vendor/smoltcp is pristine smoltcp 0.14.0 plus vendor/patches/*.patch and nothing
# else: rebuilds that tree in a temporary directory and compares every byte (and the file list).
# Exit 0 when they are equal, 1 with the differences listed when not. Change vendor/smoltcp only
# by editing a patch and running scripts/vendor-refresh.sh. A `target/` left in vendor/smoltcp by
# a local `cargo test` there is ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/vendor-lib.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build_patched "$tmp"
if diff -r --no-dereference -x target "$tmp/smoltcp" vendor/smoltcp >"$tmp/diff"; then
  echo "vendor/smoltcp = smoltcp $SMOLTCP_VERSION + $(ls vendor/patches/*.patch 2>/dev/null | wc -l) patches: ok"
else
  sed -e "s|$tmp/smoltcp|expected|g" "$tmp/diff" | head -n 60 >&2
  echo "vendor/smoltcp differs from smoltcp $SMOLTCP_VERSION + vendor/patches (above: expected vs vendored)." >&2
  echo "Never edit vendor/smoltcp by hand: change a patch in vendor/patches and run scripts/vendor-refresh.sh." >&2
  exit 1
fi
