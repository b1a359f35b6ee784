#!/usr/bin/env bash
# Makes the README's Wireshark screenshot: the demo with 10% loss (seed 3), opened in the real
# Wireshark GUI under a virtual X server (Xvfb), with smolftp installed into a temporary
# personal folder (scripts/install-wireshark.sh) and the "smolftp" profile on, frame 19 (an RTO
# retransmission) selected. Without the GUI it writes tshark's text view of the same instead.
#   scripts/wireshark-screenshot.sh [OUT.png]      (default wireshark/screenshot.png)
# Needs: wireshark (Debian: wireshark-qt), xvfb, x11-apps (xwd), netpbm; smolftp built.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/wireshark/screenshot.png}"
bin="${SMOLFTP_BIN:-}"
for c in "$here/target/release/smolftp" "$here/target/debug/smolftp"; do
    if [ -z "$bin" ] && [ -x "$c" ]; then bin="$c"; fi
done
[ -n "$bin" ] || { echo "wireshark-screenshot: build smolftp first (cargo build)" >&2; exit 1; }

tmp="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

export HOME="$tmp/home"
unset XDG_CONFIG_HOME
mkdir -p "$HOME"
"$here/scripts/install-wireshark.sh" "$bin" >/dev/null
"$bin" demo --quiet --out "$tmp/lab.pcapng" --loss 10 --seed 3 2>/dev/null

missing=()
for t in wireshark Xvfb xwd xwdtopnm pnmtopng; do
    command -v "$t" >/dev/null || missing+=("$t")
done
if [ "${#missing[@]}" -gt 0 ]; then
    text="${out%.png}.txt"
    echo "wireshark-screenshot: no ${missing[*]}: writing tshark's view to $text instead" >&2
    tshark -C smolftp -r "$tmp/lab.pcapng" -Y 'smolftp.fault || smolftp.reason contains "retransmission"' \
        -O smolftp 2>/dev/null > "$text"
    exit 0
fi

# A free display number, a big screen, Wireshark's window filling it.
d=99
while [ -e "/tmp/.X11-unix/X$d" ] && [ "$d" -lt 120 ]; do d=$((d + 1)); done
Xvfb ":$d" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
pids+=("$!")
cat > "$HOME/.config/wireshark/recent_common" <<'RECENT'
gui.geometry_main_x: 0
gui.geometry_main_y: 0
gui.geometry_main_width: 1600
gui.geometry_main_height: 1000
gui.geom.main.x: 0
gui.geom.main.y: 0
gui.geom.main.width: 1600
gui.geom.main.height: 1000
gui.geometry_main_upper_pane: 520
privs.warn_if_elevated: FALSE
RECENT
cat > "$HOME/.config/wireshark/profiles/smolftp/recent" <<'RECENT'
gui.byte_view_show: FALSE
gui.time_format: RELATIVE
gui.time_precision: MSEC
column.width: %m, 50, %t, 60, %s, 70, %d, 70, %Cus:tcp.flags.str:0:R, 100, %Cus:tcp.seq:0:R, 45, %Cus:tcp.ack:0:R, 45, %Cus:tcp.len:0:R, 40, %Cus:tcp.window_size:0:R, 50, %Cus:smolftp.cwnd:0:R, 50, %Cus:smolftp.inflight:0:R, 55, %Cus:smolftp.reason:0:R, 300, %Cus:smolftp.fault:0:R, 300, %Cus:frame.comment:0:R, 600
RECENT
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$d" ] && break; sleep 0.1; done
DISPLAY=":$d" wireshark -C smolftp -r "$tmp/lab.pcapng" -g 19 >/dev/null 2>&1 &
pids+=("$!")
sleep "${SCREENSHOT_WAIT:-12}"
xwd -root -silent -display ":$d" | xwdtopnm 2>/dev/null | pnmtopng > "$out"
echo "wireshark-screenshot: wrote $out"
