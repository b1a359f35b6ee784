#!/usr/bin/env bash
# Benchmark on real kernels: RETR of one file with curl (active mode) from `smolftp server` on a
# TUN device (plain, then with --offload: TSO by the kernel), and from vsftpd over a veth pair,
# at MTU 1500 and then 9000; prints the rates and their ratios to vsftpd's. Needs root, curl and vsftpd (scripts/test.sh installs them). Everything runs
# in two network namespaces made here and deleted at the end, even on failure.
#
#   sudo scripts/bench-tun.sh [SIZE_MIB]      (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib=${1:-1024}
if ! [[ $size_mib =~ ^[0-9]+$ ]] || [ "$size_mib" -lt 1 ]; then
  echo "usage: bench-tun.sh [SIZE_MIB]" >&2
  exit 2
fi
[ "$(id -u)" = 0 ] || { echo "bench-tun.sh: needs root (namespaces, TUN, veth)" >&2; exit 1; }
for tool in curl vsftpd ip; do
  command -v "$tool" >/dev/null || { echo "bench-tun.sh: $tool is missing (sudo apt-get install $tool)" >&2; exit 1; }
done

ns_client=smolftp-bc-$$
ns_vsftpd=smolftp-bv-$$
work=$(mktemp -d /tmp/smolftp-bench-tun.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$ns_client" 2>/dev/null || true
  ip netns del "$ns_vsftpd" 2>/dev/null || true
  rm -rf "$work"
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
ratio() { awk -v s="$1" -v v="$2" 'BEGIN { printf "%.2f", s / v }'; }

printf 'RETR of %s MiB with curl -P - (active mode), best of 2, Gbit/s\n' "$size_mib"
printf '%-6s %-14s %-20s %-16s %s\n' MTU "smolftp TUN" "smolftp --offload" "vsftpd veth" "ratios to vsftpd"
for mtu in 1500 9000; do
  inc ip link set sbench mtu "$mtu"
  inc ip link set vbench mtu "$mtu"
  inv ip link set vbench-v mtu "$mtu"
  rates=()
  for flags in "" "--offload"; do
    # `ip netns exec` execs the program, so $! is smolftp's own PID.
    # shellcheck disable=SC2086
    ip netns exec "$ns_client" "$smolftp" server --tun sbench --ip 10.8.0.2/24 --mtu "$mtu" \
      --root "$work/root" $flags 2>"$work/server.log" &
    server=$!
    pids+=("$server")
    for _ in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done
    rates+=("$(best "$(rate ftp://10.8.0.2/big.bin)" "$(rate ftp://10.8.0.2/big.bin)")")
    kill -INT "$server"
    wait "$server" || true
  done
  v=$(best "$(rate ftp://10.9.0.2/big.bin)" "$(rate ftp://10.9.0.2/big.bin)")
  printf '%-6s %-14s %-20s %-16s %s / %s\n' "$mtu" "${rates[0]}" "${rates[1]}" "$v" \
    "$(ratio "${rates[0]}" "$v")" "$(ratio "${rates[1]}" "$v")"
done
