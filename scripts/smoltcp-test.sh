#!/usr/bin/env bash
# Runs smoltcp's own test suite on the patched tree (vendor/smoltcp), in a scratch copy so that
# the vendored tree gets no target/ and no changed Cargo.lock: with the default features (no
# congestion control) and with Reno and CUBIC. Builds in $SMOLTCP_TEST_TARGET (default
# target/smoltcp-test) so that later runs are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${SMOLTCP_TEST_TARGET:-$PWD/target/smoltcp-test}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r vendor/smoltcp "$tmp/smoltcp"
rm -rf "$tmp/smoltcp/target"
cd "$tmp/smoltcp"
export CARGO_TARGET_DIR="$target"
cargo test --quiet
cargo test --quiet --features socket-tcp-reno,socket-tcp-cubic
