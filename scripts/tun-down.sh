#!/usr/bin/env bash
# Deletes a TUN device made by scripts/tun-up.sh (its address goes with it).
#
#   sudo scripts/tun-down.sh NAME
#
# Acts on the current network namespace. A device that is not there is not an error.
set -euo pipefail

usage() {
  echo "usage: tun-down.sh NAME   (a TUN device made by scripts/tun-up.sh)" >&2
  exit 2
}

if [ "$#" -ne 1 ] || [ -z "$1" ]; then usage; fi
name=$1

command -v ip >/dev/null 2>&1 || { echo "tun-down.sh: the ip command is missing (apt-get install iproute2)" >&2; exit 1; }

if ! ip link show dev "$name" >/dev/null 2>&1; then
  echo "tun-down.sh: no device $name here; nothing to do" >&2
  exit 0
fi
if ! ip -details link show dev "$name" | grep -q 'tun type tun'; then
  echo "tun-down.sh: $name is not a TUN device; not touching it" >&2
  exit 1
fi
[ "$(id -u)" = 0 ] || { echo "tun-down.sh: deleting a TUN device needs root: sudo $0 $name" >&2; exit 1; }
ip tuntap del dev "$name" mode tun
echo "tun-down.sh: deleted TUN device $name" >&2
