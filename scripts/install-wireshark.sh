#!/usr/bin/env bash
# Installs smolftp into the current user's Wireshark, no root needed:
#   - the extcap "smolftp-demo" (a wrapper that execs `smolftp extcap`), so Wireshark lists
#     "smolftp lab" among its capture interfaces;
#   - wireshark/smolftp.lua, the post-dissector that turns our frame comments into smolftp.*
#     fields (personal Lua plugins folder);
#   - the configuration profile "smolftp" (columns, coloring rules).
# Usage: scripts/install-wireshark.sh [PATH/TO/smolftp]   (or SMOLFTP_BIN=...)
#        scripts/install-wireshark.sh --uninstall
# The binary defaults to target/release/smolftp, then target/debug/smolftp, then `smolftp` on
# PATH. Folders follow HOME and XDG_CONFIG_HOME (`tshark -G folders` shows Wireshark's).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="${XDG_CONFIG_HOME:-$HOME/.config}/wireshark"
# Personal extcap folders: Wireshark up to 4.0 reads the first, 4.2 and later the second.
extcap_dirs=("$config/extcap" "$HOME/.local/lib/wireshark/extcap")
lua_dir="$HOME/.local/lib/wireshark/plugins"
profile_dir="$config/profiles/smolftp"

if [ "${1:-}" = "--uninstall" ]; then
    for d in "${extcap_dirs[@]}"; do rm -f "$d/smolftp"; done
    rm -f "$lua_dir/smolftp.lua"
    rm -rf "$profile_dir"
    echo "install-wireshark: removed smolftp from Wireshark's personal folders"
    exit 0
fi

bin="${1:-${SMOLFTP_BIN:-}}"
if [ -z "$bin" ]; then
    for c in "$here/target/release/smolftp" "$here/target/debug/smolftp"; do
        if [ -x "$c" ]; then bin="$c"; break; fi
    done
fi
if [ -z "$bin" ]; then bin="$(command -v smolftp || true)"; fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "install-wireshark: no smolftp binary found: run \`cargo build --release\` first," \
         "or give its path: scripts/install-wireshark.sh PATH/TO/smolftp" >&2
    exit 1
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
if ! "$bin" extcap --extcap-interfaces | grep -q '^interface {value=smolftp-demo}'; then
    echo "install-wireshark: $bin does not answer as an extcap (too old a smolftp?)" >&2
    exit 1
fi

for d in "${extcap_dirs[@]}"; do
    mkdir -p "$d"
    printf '#!/bin/sh\n# smolftp as a Wireshark capture interface (scripts/install-wireshark.sh)\nexec %q extcap "$@"\n' \
        "$bin" > "$d/smolftp"
    chmod 755 "$d/smolftp"
done
mkdir -p "$lua_dir" "$profile_dir"
cp "$here/wireshark/smolftp.lua" "$lua_dir/smolftp.lua"
cp "$here/wireshark/profile/preferences" "$here/wireshark/profile/colorfilters" "$profile_dir/"

echo "install-wireshark: extcap wrapper in ${extcap_dirs[*]} (runs $bin extcap)"
echo "install-wireshark: Lua post-dissector in $lua_dir/smolftp.lua"
echo "install-wireshark: profile in $profile_dir"
echo "install-wireshark: in Wireshark pick the interface \"smolftp lab\" (smolftp-demo), its" \
     "gear for the options; Edit > Configuration Profiles > smolftp for the columns."
