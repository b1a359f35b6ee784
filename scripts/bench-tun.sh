#!/usr/bin/env bash
# Benchmark on real kernels: RETR of one file with curl (active mode) from `smolftp server` on a
# TUN device, and from vsftpd over a veth pair, at MTU 1500 and then 9000, RUNS (3) rounds each,
# interleaved (each round downloads once from every variant and from vsftpd, so a machine whose
# speed drifts moves them all alike); prints one table of the best rates and one of the medians,
# each with ratios to vsftpd's, with the machine's core count and load, so runs on two machines
# compare as ratios. smolftp runs as:
#   plain        plain TUN (runs of segments coalesced into one frame per write, the default)
#   plain+cap    the same with --capture to /dev/shm (every frame, pcapng, commented)
#   plain+gro    plain with --gro (the kernel takes our frames in on a NAPI thread, with GRO)
#   1by1         plain with --no-coalesce (one frame per write, on the TUN writer thread)
#   offload      --offload (TSO: the kernel cuts our 64 KiB sends)
#   offload+mss  --offload --capture-segments mss (each send recorded as its MSS-sized frames)
#   baseline     plain, by the binary BASELINE names (only when set: e.g. a build of main, to
#                compare two versions in one run)
# Needs root, curl and vsftpd (scripts/test.sh installs them). Everything runs in two network
# namespaces made here and deleted at the end, even on failure.
#
#   sudo [BASELINE=path/to/smolftp] scripts/bench-tun.sh [SIZE_MIB] [RUNS]   (1024 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib=${1:-1024}
runs=${2:-3}
if ! [[ $size_mib =~ ^[0-9]+$ ]] || [ "$size_mib" -lt 1 ] || ! [[ $runs =~ ^[0-9]+$ ]] || [ "$runs" -lt 1 ]; then
  echo "usage: bench-tun.sh [SIZE_MIB] [RUNS]" >&2
  exit 2
fi
[ "$(id -u)" = 0 ] || { echo "bench-tun.sh: needs root (namespaces, TUN, veth)" >&2; exit 1; }
for tool in curl vsftpd ip; do
  command -v "$tool" >/dev/null || { echo "bench-tun.sh: $tool is missing (sudo apt-get install $tool)" >&2; exit 1; }
done

ns_client=smolftp-bc-$$
ns_vsftpd=smolftp-bv-$$
work=$(mktemp -d /tmp/smolftp-bench-tun.XXXXXX)
shm=$(mktemp -d /dev/shm/smolftp-bench-tun.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$ns_client" 2>/dev/null || true
  ip netns del "$ns_vsftpd" 2>/dev/null || true
  rm -rf "$work" "$shm"
}
trap cleanup EXIT

cargo build --release --quiet
smolftp=$PWD/target/release/smolftp

mkdir -p "$work/root" "$work/empty"
head -c $((size_mib << 20)) /dev/urandom > "$work/root/big.bin"
chmod 755 "$work" "$work/root"; chmod 644 "$work/root/big.bin"

ip netns add "$ns_client"
ip netns add "$ns_vsftpd"
inc() { ip netns exec "$ns_client" "$@"; }
inv() { ip netns exec "$ns_vsftpd" "$@"; }
inc ip link set lo up
inv ip link set lo up
inc ip tuntap add dev sbench mode tun
inc ip addr add 10.8.0.1/24 dev sbench
inc ip link set sbench up
inc ip link add vbench type veth peer name vbench-v netns "$ns_vsftpd"
inc ip addr add 10.9.0.1/24 dev vbench
inc ip link set vbench up
inv ip addr add 10.9.0.2/24 dev vbench-v
inv ip link set vbench-v up

cat > "$work/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=10.9.0.2
background=NO
anonymous_enable=YES
local_enable=NO
anon_root=$work/root
pasv_enable=NO
port_enable=YES
connect_from_port_20=YES
secure_chroot_dir=$work/empty
seccomp_sandbox=NO
use_sendfile=YES
xferlog_enable=NO
CONF
# `ip netns exec` execs the program, so $! is the program's own PID.
ip netns exec "$ns_vsftpd" vsftpd "$work/vsftpd.conf" &
pids+=($!)

rate() { # curl's average download rate for URL, in Gbit/s
  local bytes_per_s
  bytes_per_s=$(inc timeout 600 curl -sS -P - --connect-timeout 10 --max-time 590 \
    -o /dev/null -w '%{speed_download}' "$1" || echo 0)
  awk -v b="$bytes_per_s" 'BEGIN { printf "%.2f", b * 8 / 1e9 }'
}

best() { printf '%s\n' "$@" | sort -g | tail -1; }
ratio() { awk -v s="$1" -v v="$2" 'BEGIN { if (v > 0) printf "%.2f", s / v; else print "-" }'; }

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The rate of one download from `smolftp server FLAGS` (BIN: another build), a fresh capture
# file each time.
smolftp_rate() {
  local mtu=$1 flags=$2 bin=${3:-$smolftp} server
  # `ip netns exec` execs the program, so $! is smolftp's own PID.
  # shellcheck disable=SC2086
  ip netns exec "$ns_client" "$bin" server --tun sbench --ip 10.8.0.2/24 --mtu "$mtu" \
    --root "$work/root" $flags 2>"$work/server.log" &
  server=$!
  pids+=("$server")
  for _ in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done
  rate ftp://10.8.0.2/big.bin
  kill -INT "$server"
  wait "$server" || true
  rm -f "$shm/cap.pcapng"
}

variants=(plain plain+cap plain+gro 1by1 offload offload+mss)
declare -A flags_of=(
  [plain]=""
  [plain+cap]="--capture $shm/cap.pcapng"
  [plain+gro]="--gro"
  [1by1]="--no-coalesce"
  [offload]="--offload"
  [offload+mss]="--offload --capture $shm/cap.pcapng --capture-segments mss"
)
if [ -n "${BASELINE:-}" ]; then
  [ -x "$BASELINE" ] || { echo "bench-tun.sh: BASELINE=$BASELINE is not an executable" >&2; exit 1; }
  variants+=(baseline)
  flags_of[baseline]=""
fi

printf 'RETR of %s MiB with curl -P - (active mode), %s interleaved rounds, Gbit/s; %s cores; load before: %s\n' \
  "$size_mib" "$runs" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
header() {
  printf '%-12s' "$1"
  for v in "${variants[@]}"; do printf ' %-11s' "$v"; done
  printf ' %-8s| ratios to vsftpd:' vsftpd
  for v in "${variants[@]}"; do printf ' %s' "$v"; done
  printf '\n'
}
row() { # LABEL RATE... VSFTPD
  local label=$1 vs=${*: -1} r
  printf '%-12s' "$label"
  for r in "${@:2:$#-2}"; do printf ' %-11s' "$r"; done
  printf ' %-8s|' "$vs"
  for r in "${@:2:$#-2}"; do printf ' %s' "$(ratio "$r" "$vs")"; done
  printf '\n'
}
header 'MTU'
for mtu in 1500 9000; do
  inc ip link set sbench mtu "$mtu"
  inc ip link set vbench mtu "$mtu"
  inv ip link set vbench-v mtu "$mtu"
  declare -A got=()
  for round in $(seq "$runs"); do
    for v in "${variants[@]}"; do
      if [ "$v" = baseline ]; then
        r=$(smolftp_rate "$mtu" "" "$BASELINE")
      else
        r=$(smolftp_rate "$mtu" "${flags_of[$v]}")
      fi
      got[$v]+=" $r"
    done
    got[vsftpd]+=" $(rate ftp://10.9.0.2/big.bin)"
    [ -z "${VERBOSE:-}" ] || {
      printf '  round %s, MTU %s:' "$round" "$mtu" >&2
      for v in "${variants[@]}" vsftpd; do printf ' %s %s' "$v" "${got[$v]##* }" >&2; done
      printf '\n' >&2
    }
  done
  bests=() medians=()
  for v in "${variants[@]}" vsftpd; do
    # shellcheck disable=SC2086
    bests+=("$(best ${got[$v]})")
    # shellcheck disable=SC2086
    medians+=("$(median ${got[$v]})")
  done
  row "$mtu best" "${bests[@]}"
  row "$mtu median" "${medians[@]}"
  unset got
done
printf 'load after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
