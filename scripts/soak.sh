#!/usr/bin/env bash
# Longer soak of the impaired cable (virtual clock, no root needed): SEEDS seeds (default 1000)
# of --loss 5 --duplicate 2 --reorder 2 --corrupt 1, each a RETR and a STOR of 256 KiB that must
# arrive byte-identical. Prints the slowest simulated session.
#   scripts/soak.sh [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SMOLFTP_SOAK_SEEDS="${1:-1000}" cargo test --release --test cable_soak -- --nocapture
