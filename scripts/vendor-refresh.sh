#!/usr/bin/env bash
# Regenerates vendor/smoltcp from pristine smoltcp 0.14.0 plus vendor/patches/*.patch, applied
# in name order: the only way to change the vendored tree. To add or change a patch, edit a
# scratch copy (e.g. `scripts/vendor-refresh.sh && cp -r vendor/smoltcp /tmp/a && cp -r
# vendor/smoltcp /tmp/b`, change /tmp/b, `diff -ruN` them into vendor/patches/NNNN-name.patch
# with its reason in a header above the first `---`), run this script, then
# scripts/vendor-check.sh. Commit the patch and vendor/smoltcp together (`git add -f`: the
# crate's own .gitignore hides its Cargo.lock).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/vendor-lib.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build_patched "$tmp"
rm -rf vendor/smoltcp.new
mv "$tmp/smoltcp" vendor/smoltcp.new
# A local build directory survives the refresh.
if [ -d vendor/smoltcp/target ]; then
  mv vendor/smoltcp/target vendor/smoltcp.new/target
fi
rm -rf vendor/smoltcp
mv vendor/smoltcp.new vendor/smoltcp
echo "vendor/smoltcp regenerated: smoltcp $SMOLTCP_VERSION + $(ls vendor/patches/*.patch 2>/dev/null | wc -l) patches"
