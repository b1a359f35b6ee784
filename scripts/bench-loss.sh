#!/usr/bin/env bash
# Benchmark of loss recovery (issue 16): time of curl RETR and STOR (active mode) of one file
# to and from `smolftp server --min-rto 200` and vsftpd (the kernel's TCP), both behind the very
# same lossy path: `smolftp relay` forwards between two TUN devices and loses LOSS % of the
# frames each way, seeded. Per run a fresh lab and a seed of its own (1, 2, ... RUNS); within a
# run the relay starts its random numbers over (SIGUSR1) before each transfer, so smolftp and
# vsftpd lose the same frames of their sequences. Prints one table: per loss rate and
# direction, the median of RUNS runs for each server (every run listed) and the ratio
# smolftp / vsftpd. Every transfer is checked byte for byte (cmp); a failed or damaged one is
# listed as "fail". Needs root, curl and vsftpd (apt-get install curl vsftpd). Everything runs
# in three network namespaces made here and deleted at the end, even on failure:
#
#   client ns: curl 10.9.0.1 -- bla ==[smolftp relay]== blb -- 10.9.0.2 vsftpd   (servers ns)
#                                                                  | ip_forward
#                                                     blsrv 10.10.0.1 -- 10.10.0.2 smolftp
#
#   sudo scripts/bench-loss.sh [SIZE_MIB [RUNS [LOSS%...]]]     (default 5 3 2 10)
#   SERVER_FLAGS='--min-rto 200 --tlp' sudo -E scripts/bench-loss.sh      (smolftp's TCP flags)
#   KERNEL_CC=cubic sudo -E scripts/bench-loss.sh   (vsftpd's and curl's congestion control,
#     set on their namespaces' routes, one of net.ipv4.tcp_available_congestion_control: cubic
#     is most distributions' default, reno the textbook's; default: the host's, e.g. bbr, which
#     does not back off on random loss)
#   CAPTURE_DIR=dir sudo -E scripts/bench-loss.sh 5 3 2   (keep, per loss and run, smolftp's
#     capture and stack log, a tcpdump of its TUN's kernel side, one of vsftpd's and one of curl's (client-*): to account for the time; the
#     capture slows smolftp, so take figures without it)
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
[ "$(id -u)" = 0 ] || { echo "bench-loss.sh: needs root (namespaces, TUN)" >&2; exit 1; }
for tool in curl vsftpd ip; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { echo "bench-loss.sh: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
id -u ftp >/dev/null 2>&1 || { echo "bench-loss.sh: vsftpd needs the user ftp (its package makes it)" >&2; exit 1; }
vsftpd=$(command -v vsftpd || echo /usr/sbin/vsftpd)
flags=${SERVER_FLAGS:---min-rto 200}

ns_relay=smolftp-lr-$$
ns_client=smolftp-lc-$$
ns_servers=smolftp-ls-$$
work=$(mktemp -d /tmp/smolftp-bench-loss.XXXXXX)
lab_down() { # ends every process of the lab's namespaces (all started here), deletes them
  local ns pid
  for ns in "$ns_relay" "$ns_client" "$ns_servers"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  done
  sleep 0.2
  for ns in "$ns_relay" "$ns_client" "$ns_servers"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}
cleanup() { lab_down; rm -rf "$work"; }
trap cleanup EXIT

# SMOLFTP=path runs that binary instead of building the release one.
if [ -n "${SMOLFTP:-}" ]; then
  smolftp=$SMOLFTP
else
  cargo build --release --quiet
  smolftp=$PWD/target/release/smolftp
fi

mkdir -p "$work/root/upload" "$work/empty"
head -c $((size_mib << 20)) /dev/urandom > "$work/root/big.bin"
head -c $((size_mib << 20)) /dev/urandom > "$work/up.bin"
chmod 755 "$work" "$work/root"; chmod 644 "$work/root/big.bin"
chown ftp "$work/root/upload"
cat > "$work/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=10.9.0.2
background=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=$work/root
write_enable=YES
anon_upload_enable=YES
anon_umask=022
pasv_enable=NO
port_enable=YES
connect_from_port_20=YES
secure_chroot_dir=$work/empty
seccomp_sandbox=NO
xferlog_enable=NO
CONF

inr() { ip netns exec "$ns_relay" "$@"; }
inc() { ip netns exec "$ns_client" "$@"; }
ins() { ip netns exec "$ns_servers" "$@"; }
relay_pid=

lab_up() { # LOSS SEED: the namespaces, the relay and both servers
  local i
  for ns in "$ns_relay" "$ns_client" "$ns_servers"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  inr ip tuntap add dev bla mode tun
  inr ip tuntap add dev blb mode tun
  : > "$work/relay.log"
  # `ip netns exec` execs the program, so $! is the relay's own PID.
  ip netns exec "$ns_relay" "$smolftp" relay --a bla --b blb --seed "$2" --loss "$1" \
    2>>"$work/relay.log" &
  relay_pid=$!
  disown "$relay_pid" # ended by lab_down: no "Terminated" notes from the shell
  for i in $(seq 50); do grep -q relaying "$work/relay.log" && break; sleep 0.1; done
  grep -q relaying "$work/relay.log" || { cat "$work/relay.log" >&2; exit 1; }
  ip -n "$ns_relay" link set bla netns "$ns_client"
  ip -n "$ns_relay" link set blb netns "$ns_servers"
  inc ip addr add 10.9.0.1/24 dev bla
  inc ip link set bla up
  inc ip route add 10.10.0.0/24 dev bla
  ins ip addr add 10.9.0.2/24 dev blb
  ins ip link set blb up
  ins sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
  if [ -n "${KERNEL_CC:-}" ]; then
    # The kernel TCPs' congestion control (vsftpd's and curl's), set on the routes they send
    # by (`congctl`, the kernel's per-route choice): unlike the namespace's sysctl it also
    # takes an algorithm outside net.ipv4.tcp_allowed_congestion_control (cubic in a
    # container whose host picked bbr).
    { ins ip route replace 10.9.0.0/24 dev blb src 10.9.0.2 congctl "$KERNEL_CC" &&
      inc ip route replace 10.9.0.0/24 dev bla src 10.9.0.1 congctl "$KERNEL_CC" &&
      inc ip route replace 10.10.0.0/24 dev bla congctl "$KERNEL_CC"; } ||
      { echo "bench-loss.sh: cannot set KERNEL_CC=$KERNEL_CC (available here: $(cat /proc/sys/net/ipv4/tcp_available_congestion_control))" >&2; exit 1; }
  fi
  ins ip tuntap add dev blsrv mode tun
  ins ip addr add 10.10.0.1/24 dev blsrv
  ins ip link set blsrv up
  ip netns exec "$ns_servers" "$vsftpd" "$work/vsftpd.conf" &
  disown $!
  : > "$work/server.log"
  local capture=()
  if [ -n "${CAPTURE_DIR:-}" ]; then
    mkdir -p "$CAPTURE_DIR"
    capture=(--capture "$CAPTURE_DIR/smolftp-$1-$2.pcapng" --stack-log "$CAPTURE_DIR/smolftp-$1-$2.jsonl")
    ip netns exec "$ns_servers" tcpdump -i blb -s 200 -w "$CAPTURE_DIR/vsftpd-$1-$2.pcap" \
      host 10.9.0.2 2>/dev/null &
    disown $!
    ip netns exec "$ns_servers" tcpdump -i blsrv -s 200 -w "$CAPTURE_DIR/smolftp-kernel-$1-$2.pcap" \
      2>/dev/null &
    disown $!
  fi
  if [ -n "${CAPTURE_DIR:-}" ]; then
    ip netns exec "$ns_client" tcpdump -i bla -s 200 -w "$CAPTURE_DIR/client-$1-$2.pcap" 2>/dev/null &
    disown $!
  fi
  # shellcheck disable=SC2086
  ip netns exec "$ns_servers" "$smolftp" server --tun blsrv --ip 10.10.0.2/24 \
    --gateway 10.10.0.1 --root "$work/root" --writable --anonymous-writable $flags "${capture[@]}" \
    2>>"$work/server.log" &
  disown $!
  for i in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done
  grep -q listening "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
  for i in $(seq 50); do ins grep -q ' 0200090A:0015 00000000:0000 0A' /proc/net/tcp && break; sleep 0.1; done
}

secs() { # OP HOST: seconds curl takes for OP (retr/stor) intact, or "fail"
  local t out url
  kill -USR1 "$relay_pid"
  sleep 0.3
  if [ "$1" = retr ]; then
    out=$work/got.bin
    rm -f "$out"
    url=ftp://$2/big.bin
    t=$(inc timeout 400 curl -sS -P - --connect-timeout 20 --max-time 390 -o "$out" \
      -w '%{time_total}' "$url" 2>>"$work/curl.log") || { echo fail; return; }
    cmp -s "$out" "$work/root/big.bin" && echo "$t" || echo fail
  else
    out=$work/root/upload/up-$2.bin
    rm -f "$out"
    url=ftp://$2/upload/up-$2.bin
    t=$(inc timeout 400 curl -sS -P - --connect-timeout 20 --max-time 390 -T "$work/up.bin" \
      -w '%{time_total}' "$url" 2>>"$work/curl.log") || { echo fail; return; }
    cmp -s "$out" "$work/up.bin" && echo "$t" || echo fail
  fi
}

median() { # of the numbers given; "fail" counts as slower than any time
  printf '%s\n' "$@" | sed 's/^fail$/1e99/' | sort -g |
    awk '{a[NR]=$1} END { m = a[int((NR + 1) / 2)]; print (m == "1e99" ? "fail" : m) }'
}

printf '%s MiB with curl -P -, loss both ways by smolftp relay (seeds 1..%s), median of %s runs, seconds\n' \
  "$size_mib" "$runs" "$runs"
printf 'smolftp server flags: %s; kernel congestion control: %s\n' "$flags" \
  "${KERNEL_CC:-$(cat /proc/sys/net/ipv4/tcp_congestion_control)}"
printf '%-6s %-5s %-36s %-36s %s\n' loss op "smolftp (runs)" "vsftpd (runs)" "ratio"
for loss in "${losses[@]}"; do
  declare -A got=()
  for run in $(seq "$runs"); do
    lab_up "$loss" "$run"
    for op in retr stor; do
      got[s-$op]+="$(secs $op 10.10.0.2) "
      got[v-$op]+="$(secs $op 10.9.0.2) "
    done
    lab_down
  done
  for op in retr stor; do
    read -r -a s <<<"${got[s-$op]}"
    read -r -a v <<<"${got[v-$op]}"
    ms=$(median "${s[@]}"); mv=$(median "${v[@]}")
    ratio=$(awk -v a="$ms" -v b="$mv" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-6s %-5s %-36s %-36s %s\n' "$loss%" "${op^^}" "$ms (${s[*]})" "$mv (${v[*]})" "$ratio"
  done
  unset got
done
