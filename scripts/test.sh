#!/usr/bin/env bash
# Installs what smolftp's tests need and runs them all: formatting, lints, unit tests, whole
# sessions on the in-process cable, the golden ladder, determinism, the tshark checks of the
# demo capture, the TUN tests (tests/tun.rs: each in a network namespace of its own, against
# curl, lftp, Python's ftplib, vsftpd and tshark), and a short run of the fuzz targets
# (scripts/fuzz.sh, which installs cargo-fuzz).
#
# Peers: tshark, curl, lftp, vsftpd, ip (iproute2), python3, chromium, tcpdump,
# rsvg-convert (librsvg2-bin). As root the missing ones are
# installed with apt-get (no service is started by the installation). In CI (CI=true) a missing
# peer is an error, never a skip; elsewhere, without root, the tests that need it skip and say
# why.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

# Debian package for each peer that is missing. vsftpd lives in /usr/sbin, which is not on
# every user's PATH. python3 is kept as it is when it runs (e.g. from pyenv).
missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have tshark || missing+=(tshark)
have curl || missing+=(curl)
have lftp || missing+=(lftp)
have vsftpd || missing+=(vsftpd)
have ip || missing+=(iproute2)
python3 -c 'import ftplib' >/dev/null 2>&1 || missing+=(python3)
# tests/pictures.rs renders the SVG ladder with headless Chromium and librsvg; tcpdump makes
# the kernel captures of tests/analysis.rs.
have chromium || missing+=(chromium)
have rsvg-convert || missing+=(librsvg2-bin)
have tcpdump || missing+=(tcpdump)
# scripts/vendor-check.sh rebuilds vendor/smoltcp with patch(1).
have patch || missing+=(patch)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # Installing vsftpd would start its daemon on this machine: a policy-rc.d that answers 101
    # ("action forbidden") keeps invoke-rc.d from starting any service during the install.
    policy=/usr/sbin/policy-rc.d
    made_policy=
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\n# made by smolftp scripts/test.sh for one apt-get install\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      made_policy=1
      trap 'rm -f "$policy"' EXIT
    fi
    before=$(pgrep -x vsftpd || true)
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
    if [ -n "$made_policy" ]; then
      rm -f "$policy"
      trap - EXIT
    fi
    # Belt and braces: a vsftpd daemon that the installation started anyway is stopped, by PID.
    for pid in $(pgrep -x vsftpd || true); do
      if ! grep -qx "$pid" <<<"$before"; then
        log "stopping the vsftpd daemon (PID $pid) that the installation started"
        kill "$pid" || true
      fi
    done
  else
    log "missing and this is not root: ${missing[*]}; the tests that need them will skip" \
      "(sudo apt-get install ${missing[*]})"
  fi
fi

# In CI, or wherever the peers could be installed, a test that cannot find them fails.
if [ "${CI:-}" = "true" ] || [ "$(id -u)" = 0 ]; then
  export SMOLFTP_REQUIRE_PEERS=1
fi

log "vendor check (scripts/vendor-check.sh)"
bash scripts/vendor-check.sh
log "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
log "cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
log "cargo test"
cargo test --all-targets
# Last: the fuzz targets (fuzz/), 30 s each on the stable toolchain. In CI or as root a missing
# cargo-fuzz is installed and a failed installation fails the run; elsewhere it may skip.
# smoltcp's own test suite on our patched tree (1 min 42 s of CPU from a cold build).
log "smoltcp's own tests on vendor/smoltcp (scripts/smoltcp-test.sh)"
bash scripts/smoltcp-test.sh
log "fuzzing (scripts/fuzz.sh)"
bash scripts/fuzz.sh
