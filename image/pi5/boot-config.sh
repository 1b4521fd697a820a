# shellcheck shell=sh
# Gnomon's edits to Raspberry Pi OS's boot files, sourced by install-on-raspios.sh (and the tests,
# test/unit/image/). Idempotent: running them again on their own output changes nothing.
#
#   gnomon_edit_config_txt FILE    one block between the marker lines, replaced on every run
#   gnomon_edit_cmdline_txt FILE   no serial console (console=serial0/serial1/ttyAMA*/ttyS*)
#
# Each writes FILE.tmp and renames it over FILE, only when the content changes, and keeps the
# file it first changed as FILE.gnomon-orig.

GNOMON_BEGIN='# >>> gnomon: install-on-raspios.sh writes this block again at every run'
GNOMON_END='# <<< gnomon'

# The block: the UART on GPIO 14/15 for the GPS (Pi 5: dtparam=uart0=on; Pi 3/4/Zero 2: Bluetooth
# moved off the PL011) and kernel PPS on GPIO 18. It ends in [all] for whatever follows.
gnomon_config_block() {
  cat <<EOF
$GNOMON_BEGIN
[all]
enable_uart=1
dtoverlay=pps-gpio,gpiopin=18
[pi5]
dtparam=uart0=on
[pi3]
dtoverlay=disable-bt
[pi4]
dtoverlay=disable-bt
[pi02]
dtoverlay=disable-bt
[all]
$GNOMON_END
EOF
}

# Replaces FILE with FILE.tmp if they differ; keeps the first original as FILE.gnomon-orig.
gnomon_replace() {
  if cmp -s "$1.tmp" "$1"; then
    rm -f "$1.tmp"
    return 0
  fi
  [ -e "$1.gnomon-orig" ] || cp -p "$1" "$1.gnomon-orig"
  chmod --reference="$1" "$1.tmp" 2>/dev/null || true
  mv -f "$1.tmp" "$1"
}

gnomon_edit_config_txt() {
  file=$1
  [ -f "$file" ] || : >>"$file"
  # Everything but an earlier block, then the block at the end (so its lines win: the last one does).
  awk -v begin="$GNOMON_BEGIN" -v end="$GNOMON_END" '
    $0 == begin { skip = 1; next }
    skip && $0 == end { skip = 0; next }
    !skip { lines[++n] = $0 }
    END {
      while (n > 0 && lines[n] == "") n--   # no growing run of blank lines before the block
      for (i = 1; i <= n; i++) print lines[i]
    }' "$file" >"$file.tmp" || return 1
  if [ -s "$file.tmp" ]; then echo >>"$file.tmp"; fi
  gnomon_config_block >>"$file.tmp" || return 1
  gnomon_replace "$file"
}

gnomon_edit_cmdline_txt() {
  file=$1
  [ -f "$file" ] || return 0
  # One line of space-separated arguments; the serial consoles go, the rest stays in order.
  awk '{
    out = ""
    for (i = 1; i <= NF; i++) {
      if ($i ~ /^console=(serial[0-9]+|ttyAMA[0-9]+|ttyS[0-9]+)(,.*)?$/) continue
      out = out (out == "" ? "" : " ") $i
    }
    print out
    exit
  }' "$file" >"$file.tmp" || return 1
  if ! [ -s "$file.tmp" ] || ! grep -q 'root=' "$file.tmp"; then
    rm -f "$file.tmp"
    echo "gnomon: $file has no root= argument; left alone" >&2
    return 1
  fi
  gnomon_replace "$file"
}
