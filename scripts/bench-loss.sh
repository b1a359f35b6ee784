#!/usr/bin/env bash
# Benchmark of loss recovery (issue 16): time of curl RETR (active mode) of one file from
# `smolftp server --min-rto 200` on a TUN device and from vsftpd (the kernel's TCP) over a veth
# pair, with the same random loss on both paths: nftables in the client's namespace drops LOSS %
# of the packets each way on both interfaces (this kernel has no netem; nft's `numgen random`
# is not seeded, so each run loses different packets: RUNS runs each, the median reported).
# Prints the times and the ratio smolftp / vsftpd per loss rate. Needs root, curl, vsftpd, nft
# and ethtool (apt-get install nftables ethtool). Everything runs in two network namespaces made here and
# deleted at the end, even on failure.
#
#   sudo scripts/bench-loss.sh [SIZE_MIB [RUNS [LOSS%...]]]     (default 5 3 2 10)
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib=${1:-5}
runs=${2:-3}
shift $(($# < 2 ? $# : 2))
losses=("$@")
[ ${#losses[@]} -gt 0 ] || losses=(2 10)
if ! [[ $size_mib =~ ^[0-9]+$ && $runs =~ ^[0-9]+$ ]] || [ "$size_mib" -lt 1 ] || [ "$runs" -lt 1 ]; then
  echo "usage: bench-loss.sh [SIZE_MIB [RUNS [LOSS%...]]]" >&2
  exit 2
fi
[ "$(id -u)" = 0 ] || { echo "bench-loss.sh: needs root (namespaces, TUN, veth, nft)" >&2; exit 1; }
for tool in curl vsftpd ip nft ethtool; do
  command -v "$tool" >/dev/null || { echo "bench-loss.sh: $tool is missing" >&2; exit 1; }
done

ns_client=smolftp-lc-$$
ns_vsftpd=smolftp-lv-$$
work=$(mktemp -d /tmp/smolftp-bench-loss.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$ns_client" 2>/dev/null || true
  ip netns del "$ns_vsftpd" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# SMOLFTP=path runs that binary instead of building the release one.
if [ -n "${SMOLFTP:-}" ]; then
  smolftp=$SMOLFTP
else
  cargo build --release --quiet
  smolftp=$PWD/target/release/smolftp
fi

mkdir -p "$work/root" "$work/empty"
head -c $((size_mib << 20)) /dev/urandom > "$work/root/big.bin"
chmod 755 "$work" "$work/root"; chmod 644 "$work/root/big.bin"

ip netns add "$ns_client"
ip netns add "$ns_vsftpd"
inc() { ip netns exec "$ns_client" "$@"; }
inv() { ip netns exec "$ns_vsftpd" "$@"; }
inc ip link set lo up
inv ip link set lo up
inc ip tuntap add dev lbench mode tun
inc ip addr add 10.8.0.1/24 dev lbench
inc ip link set lbench up
inc ip link add vlbench type veth peer name vlbench-v netns "$ns_vsftpd"
inc ip addr add 10.9.0.1/24 dev vlbench
inc ip link set vlbench up
inv ip addr add 10.9.0.2/24 dev vlbench-v
inv ip link set vlbench-v up
# Frame-sized packets on the veth, as on the TUN device and on a wire: with TSO/GSO/GRO the
# kernel would hand nft 64 KiB packets and a 2 % "loss" would hit 45 times fewer frames.
for offload in tso gso gro; do
  inc ethtool -K vlbench "$offload" off >/dev/null 2>&1 || true
  inv ethtool -K vlbench-v "$offload" off >/dev/null 2>&1 || true
done

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
ip netns exec "$ns_vsftpd" vsftpd "$work/vsftpd.conf" &
pids+=($!)
# `ip netns exec` execs the program, so $! is smolftp's own PID.
# SERVER_FLAGS: the smolftp server's TCP flags (default `--min-rto 200`; add `--tlp`).
# shellcheck disable=SC2086
ip netns exec "$ns_client" "$smolftp" server --tun lbench --ip 10.8.0.2/24 \
  ${SERVER_FLAGS:---min-rto 200} --root "$work/root" 2>"$work/server.log" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done

set_loss() { # drop $1 % of the packets each way on both of the client's interfaces
  inc nft delete table inet loss 2>/dev/null || true
  inc nft add table inet loss
  inc nft "add chain inet loss in { type filter hook input priority 0; }"
  inc nft "add chain inet loss out { type filter hook output priority 0; }"
  inc nft add rule inet loss in numgen random mod 1000 '<' $(($1 * 10)) drop
  inc nft add rule inet loss out numgen random mod 1000 '<' $(($1 * 10)) drop
}

secs() { # seconds curl takes to fetch URL intact (sha256 checked), or "fail"
  local t
  t=$(inc timeout 400 curl -sS -P - --connect-timeout 10 --max-time 390 -o "$work/got.bin" \
    -w '%{time_total}' "$1" 2>>"$work/curl.log") || { echo fail; return; }
  if cmp -s "$work/got.bin" "$work/root/big.bin"; then echo "$t"; else echo fail; fi
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END { print a[int((NR + 1) / 2)] }'; }

printf 'RETR of %s MiB with curl -P -, random loss both ways (nft), median of %s runs, seconds\n' \
  "$size_mib" "$runs"
printf 'smolftp server flags: %s\n' "${SERVER_FLAGS:---min-rto 200}"
printf '%-6s %-34s %-34s %s\n' loss "smolftp (runs)" "vsftpd (runs)" "ratio"
for loss in "${losses[@]}"; do
  set_loss "$loss"
  s=(); v=()
  for _ in $(seq "$runs"); do
    s+=("$(secs ftp://10.8.0.2/big.bin)")
    v+=("$(secs ftp://10.9.0.2/big.bin)")
  done
  ms=$(median "${s[@]}"); mv=$(median "${v[@]}")
  ratio=$(awk -v a="$ms" -v b="$mv" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else print "-" }')
  printf '%-6s %-34s %-34s %s\n' "$loss%" "$ms (${s[*]})" "$mv (${v[*]})" "$ratio"
done
