#!/usr/bin/env bash
# A private lab network for two smoltcp hosts with the kernel as the router between them.
#
#   sudo scripts/lab-netns.sh up [NS]      # build network namespace NS (default smolftp-lab)
#   sudo scripts/lab-netns.sh down [NS]    # delete it, and everything in it
#
# Inside NS (nothing is added to the machine's own interfaces or routes):
#
#   smolftp server 10.1.0.2 ==TUN smolftp-s== 10.1.0.1 [kernel, ip_forward=1] 10.2.0.1 ==TUN smolftp-c== 10.2.0.2 smolftp client
#
# `up` prints the server and client command lines to run there with `ip netns exec`. Running
# `up` again on an existing namespace keeps it and makes sure every piece is in place.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

usage() {
  cat >&2 <<'EOF2'
usage: lab-netns.sh up|down [NS]
  up    create network namespace NS (default smolftp-lab) with lo, TUN devices smolftp-s
        (kernel side 10.1.0.1/24) and smolftp-c (kernel side 10.2.0.1/24) and IP forwarding
  down  delete NS with its devices
EOF2
  exit 2
}

die() {
  printf 'lab-netns.sh: %s\n' "$*" >&2
  exit 1
}

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then usage; fi
action=$1
ns=${2:-smolftp-lab}
case $action in up | down) ;; *) usage ;; esac
if ! [[ $ns =~ ^[A-Za-z0-9_.-]{1,64}$ ]]; then
  printf 'lab-netns.sh: bad namespace name %q\n' "$ns" >&2
  usage
fi

command -v ip >/dev/null 2>&1 || die "the ip command is missing (apt-get install iproute2)"
[ "$(id -u)" = 0 ] || die "network namespaces need root: sudo $0 $*"

ns_exists() { ip netns list | awk '{print $1}' | grep -qx -- "$ns"; }

if [ "$action" = down ]; then
  if ! ns_exists; then
    echo "lab-netns.sh: no namespace $ns; nothing to do" >&2
    exit 0
  fi
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  if [ -n "$pids" ]; then
    echo "lab-netns.sh: note: processes still run in $ns (PIDs: $pids); the namespace lives on until they exit" >&2
  fi
  for dev in smolftp-s smolftp-c; do
    ip netns exec "$ns" bash "$here/tun-down.sh" "$dev" 2>/dev/null || true
  done
  ip netns del "$ns"
  echo "lab-netns.sh: deleted namespace $ns" >&2
  exit 0
fi

# up
owner=${SUDO_USER:-$(id -un)}
if ns_exists; then
  echo "lab-netns.sh: namespace $ns exists already; completing it" >&2
else
  ip netns add "$ns"
  echo "lab-netns.sh: created namespace $ns" >&2
fi
ip -n "$ns" link set dev lo up
ip netns exec "$ns" bash "$here/tun-up.sh" smolftp-s 10.1.0.1/24 "$owner" 2>/dev/null ||
  die "could not make TUN device smolftp-s in $ns (try: ip netns exec $ns $here/tun-up.sh smolftp-s 10.1.0.1/24)"
ip netns exec "$ns" bash "$here/tun-up.sh" smolftp-c 10.2.0.1/24 "$owner" 2>/dev/null ||
  die "could not make TUN device smolftp-c in $ns (try: ip netns exec $ns $here/tun-up.sh smolftp-c 10.2.0.1/24)"
# /proc/sys/net belongs to the namespace of the process that opens it: this sets NS's only.
ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
[ "$(ip netns exec "$ns" cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || die "could not enable ip_forward in $ns"

bin=smolftp
if [ -x "$root/target/release/smolftp" ]; then
  bin=$root/target/release/smolftp
elif ! command -v smolftp >/dev/null 2>&1; then
  bin="$root/target/release/smolftp"
  echo "lab-netns.sh: build smolftp first: cargo build --release" >&2
fi

cat >&2 <<EOF
lab-netns.sh: namespace $ns is ready:
  smolftp server 10.1.0.2 --[smolftp-s]-- 10.1.0.1 kernel router 10.2.0.1 --[smolftp-c]-- 10.2.0.2 smolftp client

Run the server (one terminal; Ctrl-C stops it and completes the capture):
  sudo ip netns exec $ns $bin server --tun smolftp-s --ip 10.1.0.2/24 --gateway 10.1.0.1 --root DIR --capture server.pcapng
Run the client (another terminal):
  sudo ip netns exec $ns $bin client --tun smolftp-c --ip 10.2.0.2/24 --gateway 10.2.0.1 --capture client.pcapng 10.1.0.2 dir 'get readme.txt'
Watch either link live from the kernel's side:
  sudo ip netns exec $ns wireshark -k -i smolftp-s
  (there smolftp's runs of segments show merged, as off a NIC with GRO; give it --no-coalesce
  to see each segment there; its own --capture has every segment either way)
Tear it down:
  sudo $0 down $ns
EOF
