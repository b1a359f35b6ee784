#!/usr/bin/env bash
# Creates a persistent TUN device for smolftp, owned by a user so that smolftp then runs
# without root, gives the kernel's side of it an address and brings it up.
#
#   sudo scripts/tun-up.sh NAME HOST_CIDR [USER]
#   sudo scripts/tun-up.sh smolftp0 10.7.0.1/24          # then, as yourself:
#   smolftp server --tun smolftp0 --ip 10.7.0.2/24 --root DIR
#
# HOST_CIDR is the kernel's address on the device; smolftp takes another address of the same
# subnet with --ip. USER defaults to $SUDO_USER, else the caller. Running it again on a device
# that exists keeps the device (and its owner) and makes sure the address is there and the link
# up. It acts on the current network namespace: run it under `ip netns exec NS` to build a lab
# away from the machine's own interfaces. Undo with scripts/tun-down.sh NAME.
set -euo pipefail

usage() {
  cat >&2 <<'EOF'
usage: tun-up.sh NAME HOST_CIDR [USER]
  NAME       TUN device to create (at most 15 characters), e.g. smolftp0
  HOST_CIDR  the kernel's address on it, e.g. 10.7.0.1/24 (smolftp then uses 10.7.0.2/24)
  USER       owner of the device, who may run smolftp on it without root
             (default: $SUDO_USER, else the caller)
EOF
  exit 2
}

die() {
  printf 'tun-up.sh: %s\n' "$*" >&2
  exit 1
}

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then usage; fi
name=$1
cidr=$2
user=${3:-${SUDO_USER:-$(id -un)}}

if [ -z "$name" ] || [ "${#name}" -gt 15 ] || ! [[ $name =~ ^[A-Za-z0-9_.-]+$ ]]; then
  printf 'tun-up.sh: bad device name %q (1 to 15 of A-Z a-z 0-9 _ . -)\n' "$name" >&2
  usage
fi
if ! [[ $cidr =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$ ]]; then
  printf 'tun-up.sh: bad address %q (want IPv4/PREFIX, e.g. 10.7.0.1/24)\n' "$cidr" >&2
  usage
fi
for i in 1 2 3 4; do
  if [ "${BASH_REMATCH[$i]}" -gt 255 ]; then
    printf 'tun-up.sh: bad address %q (octet above 255)\n' "$cidr" >&2
    usage
  fi
done
if [ "${BASH_REMATCH[5]}" -lt 1 ] || [ "${BASH_REMATCH[5]}" -gt 30 ]; then
  printf 'tun-up.sh: bad prefix length in %q (1 to 30: smolftp needs another address in it)\n' "$cidr" >&2
  usage
fi
if ! id -u "$user" >/dev/null 2>&1; then
  printf 'tun-up.sh: no such user %q\n' "$user" >&2
  usage
fi

command -v ip >/dev/null 2>&1 || die "the ip command is missing (apt-get install iproute2)"
[ "$(id -u)" = 0 ] || die "creating a TUN device needs root: sudo $0 $*"
[ -c /dev/net/tun ] || die "/dev/net/tun is missing (modprobe tun; in a container, pass the device in)"

if ip link show dev "$name" >/dev/null 2>&1; then
  if ! ip -details link show dev "$name" | grep -q 'tun type tun'; then
    die "$name exists and is not a TUN device (see: ip -details link show dev $name)"
  fi
  echo "tun-up.sh: $name exists already; keeping it (to change its owner: scripts/tun-down.sh $name first)" >&2
else
  ip tuntap add dev "$name" mode tun user "$user"
  echo "tun-up.sh: created TUN device $name owned by $user" >&2
fi

if ip -4 -o addr show dev "$name" | grep -qw "inet $cidr"; then
  echo "tun-up.sh: $name already has $cidr" >&2
else
  ip addr add "$cidr" dev "$name"
  echo "tun-up.sh: kernel side of $name is $cidr" >&2
fi
ip link set dev "$name" up

# The owner opens the device through /dev/net/tun: most distributions make it mode 0666, some
# containers 0600 (root only), and then owning the device is not enough.
if [ "$user" != root ] && command -v runuser >/dev/null 2>&1 &&
  ! runuser -u "$user" -- test -r /dev/net/tun -a -w /dev/net/tun 2>/dev/null; then
  echo "tun-up.sh: warning: $user cannot open /dev/net/tun (mode $(stat -L -c %a /dev/net/tun));" \
    "smolftp needs it: sudo chmod 0666 /dev/net/tun (the usual mode)" >&2
fi

# Suggest an address for smolftp: the kernel's address plus one (minus one at the top).
IFS=./ read -r a b c d _ <<<"$cidr"
if [ "$d" -lt 254 ]; then peer=$((d + 1)); else peer=$((d - 1)); fi
prefix=${cidr#*/}
if [ "$user" = root ]; then as="Then run:"; else as="As $user, without root:"; fi
cat >&2 <<EOF
tun-up.sh: $name is up. $as
  smolftp server --tun $name --ip $a.$b.$c.$peer/$prefix --root DIR
  smolftp client --tun $name --ip $a.$b.$c.$peer/$prefix SERVER_IP 'dir' 'get FILE'
  wireshark -k -i $name        # watch it live from the kernel's side (smolftp --no-coalesce: segment by segment)
EOF
