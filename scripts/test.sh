#!/usr/bin/env bash
# Installs what smolftp's tests need and runs them all: formatting, lints, unit tests, whole
# sessions on the in-process cable, the golden ladder, determinism, and the tshark checks of
# the demo capture.
#
# Peers: tshark. As root it is installed with apt-get when missing. In CI (CI=true) a missing
# peer is an error, never a skip; elsewhere, without root, the tshark tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

if ! command -v tshark >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    log "installing tshark (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq tshark >/dev/null
  else
    log "tshark is missing and this is not root: the tshark tests will skip (sudo apt-get install tshark)"
  fi
fi

# In CI, or wherever the peers could be installed, a test that cannot find them fails.
if [ "${CI:-}" = "true" ] || [ "$(id -u)" = 0 ]; then
  export SMOLFTP_REQUIRE_PEERS=1
fi

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
log "cargo test"
cargo test --all-targets
