#!/usr/bin/env bash
# Runs smolftp's fuzz targets (fuzz/, cargo-fuzz + libFuzzer) for a bounded time each:
#
#   scripts/fuzz.sh [SECONDS] [TARGET]   # default 30 s for each target; e.g. scripts/fuzz.sh 600
#   scripts/fuzz.sh 3600 server_session  # one target only (command_parser, server_session)
#
# Two targets can run at once, one script each (a long run in the background, say): each uses
# its own scratch directory, and the build is shared.
#
# On the stable toolchain. cargo-fuzz's default AddressSanitizer build needs `-Zsanitizer`,
# which stable rustc refuses; the fuzzed code (src/ftp) is safe Rust, where a panic or an
# overflow (debug assertions are on) is the bug to find, so the targets are built without a
# sanitizer (`-s none`), which stable accepts and which runs several times faster.
# SMOLFTP_FUZZ_SANITIZER=address builds with ASan instead: stable rustc ships the ASan runtime
# for x86_64 Linux, and RUSTC_BOOTSTRAP=1 lets it take the nightly flag (a deliberate escape
# hatch of rustc, not a supported interface, hence not the default).
#
# Each target starts from its committed seeds (fuzz/corpus/TARGET, only read) and writes what
# it finds into a scratch directory, so the repository is never changed; with
# SMOLFTP_FUZZ_CORPUS=DIR the grown corpus is kept in DIR/TARGET instead, to go on from it
# later. A crash (panic, failed invariant, timeout, out of memory) is kept in
# fuzz/artifacts/TARGET/, printed in base64, and makes the script exit 1.
#
# cargo-fuzz is installed (cargo install --locked) when missing. In CI (CI=true) or as root a
# failed installation is an error; elsewhere the fuzzing is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

seconds=${1:-30}
# libFuzzer reads -max_total_time=0 as "no limit": only a positive number of seconds is taken.
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ] || [ "$seconds" -gt 86400 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET]  (1..86400 seconds per target, default 30)" >&2
  exit 2
fi
targets=(command_parser server_session)
if [ $# -ge 2 ]; then
  known=" ${targets[*]} "
  if [[ "$known" != *" $2 "* ]]; then
    echo "unknown fuzz target: $2 (one of: ${targets[*]})" >&2
    exit 2
  fi
  targets=("$2")
fi
must_fuzz=
if [ "${CI:-}" = "true" ] || [ "$(id -u)" = 0 ]; then
  must_fuzz=1
fi

# --- cargo-fuzz -------------------------------------------------------------------------------
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz (cargo install --locked cargo-fuzz)"
  start=$SECONDS
  if ! timeout 1200 cargo install --locked cargo-fuzz; then
    if [ -n "$must_fuzz" ]; then
      log "FAILED: cargo-fuzz could not be installed, and in CI (or as root) fuzzing is required"
      exit 1
    fi
    log "SKIPPED fuzzing: cargo-fuzz could not be installed (try: cargo install --locked cargo-fuzz)"
    exit 0
  fi
  log "cargo-fuzz installed in $((SECONDS - start)) s"
fi
log "$(cargo fuzz --version), $(rustc --version)"

# --- build ------------------------------------------------------------------------------------
sanitizer=${SMOLFTP_FUZZ_SANITIZER:-none}
case "$sanitizer" in
  none) ;;
  address) export RUSTC_BOOTSTRAP=1 ;;
  *)
    echo "SMOLFTP_FUZZ_SANITIZER must be none or address, not $sanitizer" >&2
    exit 2
    ;;
esac
# Release build with debug assertions (integer overflow checks included).
build_flags=(--release --debug-assertions --sanitizer "$sanitizer")
log "building the fuzz targets (sanitizer: $sanitizer)"
start=$SECONDS
timeout 1800 cargo fuzz build "${build_flags[@]}"
log "built in $((SECONDS - start)) s"

# --- run --------------------------------------------------------------------------------------
scratch=$(mktemp -d "${TMPDIR:-/tmp}/smolftp-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# server_session makes and removes a small directory tree for every input: on a disk file
# system that journals (ext4) this is ten times slower than in memory, so it runs in /dev/shm
# when there is one.
run_tmp=${TMPDIR:-/tmp}
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  run_tmp=/dev/shm
fi

failed=()
for target in "${targets[@]}"; do
  if [ -n "${SMOLFTP_FUZZ_CORPUS:-}" ]; then
    corpus=$SMOLFTP_FUZZ_CORPUS/$target
  else
    corpus=$scratch/corpus-$target
  fi
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  out=$scratch/$target.log
  log "fuzzing $target for $seconds s (new inputs go to $corpus)"
  start=$SECONDS
  status=0
  # libFuzzer stops after -max_total_time; -timeout makes a hanging input a crash; the outer
  # timeout bounds the whole run even if libFuzzer itself gets stuck.
  TMPDIR=$run_tmp timeout --kill-after=10 $((seconds + 120)) \
    cargo fuzz run "${build_flags[@]}" "$target" "$corpus" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -dict=fuzz/ftp.dict -print_final_stats=1 >"$out" 2>&1 || status=$?
  # The whole log minus the line per new input and the dictionary libFuzzer recommends.
  awk '/^###### Recommended dictionary/ { skip = 1 }
       !skip && !/^#[0-9]+[[:space:]]+(NEW|REDUCE)/ && !/^[[:space:]]+NEW_FUNC/ { print }
       /^###### End of recommended dictionary/ { skip = 0 }' "$out" >&2
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out" | tail -1 || true)
  rate=$(grep -Eo 'stat::average_exec_per_sec:[[:space:]]*[0-9]+' "$out" | grep -Eo '[0-9]+$' || true)
  runs=$(grep -Eo 'stat::number_of_executed_units:[[:space:]]*[0-9]+' "$out" | grep -Eo '[0-9]+$' || true)
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    log "CRASH in $target (exit $status) after $((SECONDS - start)) s"
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
      log "the run did not stop by itself and was killed"
    fi
    for artifact in $(grep -Eo 'Test unit written to [^ ]+' "$out" | awk '{print $5}' || true); do
      log "crash input: $artifact"
      log "reproduce: cargo fuzz run ${build_flags[*]} $target $artifact"
      log "base64 of the input: $(base64 -w0 "$artifact")"
    done
  else
    log "$target: no crash in $((SECONDS - start)) s: ${runs:-?} runs, ${rate:-?} runs/s; ${done_line:-}"
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  log "FAILED: crashes in ${failed[*]}"
  exit 1
fi
log "fuzzing: no crash in ${targets[*]}"
