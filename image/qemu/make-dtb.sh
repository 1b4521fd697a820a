#!/bin/sh
# image/qemu/make-dtb.sh OUT.dtb [QEMU MACHINE ARGS...]
# The device tree of QEMU's `virt` machine with a pps-gpio node on the PL061 line that the monitor
# command `system_powerdown` pulses (virt-pps.dtsi). The machine arguments must be the ones the guest
# boots with (CPU count and memory size are in the tree); default: the boot test's.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 OUT.dtb [-M virt -cpu ... -smp N -m MB]" >&2; exit 2; }
out=$1
shift
[ $# -gt 0 ] || set -- -M virt -cpu cortex-a72 -smp 2 -m 2048
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# -M virt,dumpdtb=F: the first -M argument gains the dumpdtb option.
args=""
machine=""
while [ $# -gt 0 ]; do
  if [ "$1" = -M ] && [ -z "$machine" ]; then machine=$2; shift 2; continue; fi
  args="$args $1"
  shift
done
[ -n "$machine" ] || machine=virt
# shellcheck disable=SC2086 # the remaining machine arguments are words
qemu-system-aarch64 -M "$machine,dumpdtb=$tmp/virt.dtb" $args -display none >/dev/null 2>&1 ||
  { echo "make-dtb: qemu-system-aarch64 -M $machine,dumpdtb failed" >&2; exit 1; }
dtc -q -I dtb -O dts -o "$tmp/virt.dts" "$tmp/virt.dtb"
pl061=$(grep -Eo '^	pl061@[0-9a-f]+' "$tmp/virt.dts" | head -n 1 | tr -d '\t')
[ -n "$pl061" ] || { echo "make-dtb: no pl061 node in QEMU's virt device tree" >&2; exit 1; }
grep -q 'gpio-keys' "$tmp/virt.dts" || echo "make-dtb: note: no gpio-keys node to remove" >&2
{
  cat "$tmp/virt.dts"
  sed "s|@PL061@|$pl061|" "$HERE/virt-pps.dtsi"
} >"$tmp/virt-pps.dts"
dtc -q -I dts -O dtb -o "$out" "$tmp/virt-pps.dts"
cp "$tmp/virt-pps.dts" "${out%.dtb}.dts"
echo "make-dtb: $out (pps-gpio on $pl061 line 3, gpio-keys removed)"
