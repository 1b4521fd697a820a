#!/bin/sh
# Installs (or upgrades) Gnomon on Raspberry Pi OS Lite, bookworm, 64-bit: the Pi 5 flow, which also
# works on a Pi 3/4 running Raspberry Pi OS (docs/appliance.md, image/README.md "Pi 5").
# Run ON the Pi, as root, from an unpacked release tarball (image/pi5/make-release.sh):
#
#   tar xzf gnomon-VERSION-linux-arm64.tar.gz
#   sudo gnomon-VERSION/install-on-raspios.sh
#   sudo reboot                     # when it says so (the UART and PPS lines of config.txt)
#
# Running it again (or from a newer tarball) is an upgrade: the same steps, nothing doubled; your
# /etc/gnomon/ntp.conf, /etc/default/gnomon and the web password are kept. The previous Gnomon is
# kept as /opt/gnomon.old. On Gnomon's own Debian image it upgrades Gnomon the same way, leaving the
# boot files to Debian's raspi-firmware.
set -eu

SRC=$(cd "$(dirname "$0")" && pwd)
# The tarball's layout, or the repository's (image/pi5/ beside image/rootfs/) with GNOMON_APP=DIR.
ROOTFS=$SRC/rootfs
[ -d "$ROOTFS" ] || ROOTFS=$SRC/../rootfs
APP=${GNOMON_APP:-$SRC/opt/gnomon}
BUNDLED_NODE=$SRC/node
BOOT=/boot/firmware
[ -f "$BOOT/config.txt" ] || BOOT=/boot
# shellcheck source-path=SCRIPTDIR source=boot-config.sh
. "$SRC/boot-config.sh"

say() { printf 'gnomon install: %s\n' "$*"; }
die() {
  printf 'gnomon install: error: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
case $arch in
  arm64 | aarch64) ;;
  *) die "this is a $arch system; Gnomon's release is for 64-bit Raspberry Pi OS (arm64)" ;;
esac
[ -f "$APP/dist/src/cli/main.js" ] || die "$APP/dist/src/cli/main.js is missing: run this from an unpacked release tarball"
[ -f "$ROOTFS/usr/lib/systemd/system/gnomon.service" ] || die "$ROOTFS is not Gnomon's root file system overlay"
model=unknown
if [ -r /proc/device-tree/model ]; then model=$(tr -d '\0' </proc/device-tree/model); fi
# Without a running systemd (a chroot into a Raspberry Pi OS image), units are only enabled and masked.
if [ -d /run/systemd/system ]; then live=yes; else live=no; fi
say "installing on: $model, boot files in $BOOT, systemd running: $live"

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# 1. Node 20. Raspberry Pi OS bookworm's nodejs is 18; the tarball carries the official arm64 binary.
NODE=/usr/bin/node
if [ -x /usr/bin/node ] && [ "$(node_major /usr/bin/node)" -ge 20 ] && ! [ -L /usr/bin/node ]; then
  say "using the system's Node $(/usr/bin/node -v)"
else
  [ -x "$BUNDLED_NODE/bin/node" ] || die "no Node >= 20 here and none in the tarball ($BUNDLED_NODE)"
  rm -rf /usr/lib/gnomon/node.new
  install -d /usr/lib/gnomon
  cp -a "$BUNDLED_NODE" /usr/lib/gnomon/node.new
  rm -rf /usr/lib/gnomon/node
  mv /usr/lib/gnomon/node.new /usr/lib/gnomon/node
  if [ ! -e /usr/bin/node ] || [ -L /usr/bin/node ]; then
    ln -sfn /usr/lib/gnomon/node/bin/node /usr/bin/node
  else
    # /usr/bin/node belongs to Debian's nodejs package (18): leave it, point the service at ours.
    NODE=/usr/lib/gnomon/node/bin/node
  fi
  say "Node $("$NODE" -v) at $NODE"
fi

# 2. Gnomon at /opt/gnomon, swapped in whole; the previous one stays as /opt/gnomon.old.
rm -rf /opt/gnomon.new
cp -a "$APP" /opt/gnomon.new
if [ -d /opt/gnomon ]; then
  rm -rf /opt/gnomon.old
  mv /opt/gnomon /opt/gnomon.old
fi
mv /opt/gnomon.new /opt/gnomon
say "Gnomon $("$NODE" -p 'require("/opt/gnomon/package.json").version') at /opt/gnomon"

# 3. The overlay's files that fit Raspberry Pi OS (its own kernel and overlays: not our .dtbo files,
# raspi-firmware-custom or kernel hook, which are for Debian's image).
for f in usr/lib/systemd/system/gnomon.service usr/lib/systemd/system/gnomon-firstboot.service \
  usr/lib/systemd/system/gnomon-bootpassword.service usr/lib/systemd/system-preset/20-gnomon.preset \
  usr/lib/sysusers.d/gnomon.conf usr/lib/udev/rules.d/99-gnomon.rules usr/lib/gnomon/firstboot.sh \
  etc/issue.d/gnomon.issue; do
  install -D -m "$([ -x "$ROOTFS/$f" ] && echo 0755 || echo 0644)" "$ROOTFS/$f" "/$f"
done
# Yours once installed: kept on upgrade.
for f in etc/gnomon/ntp.conf etc/default/gnomon; do
  if [ -e "/$f" ]; then
    say "keeping your /$f (the release's is in $ROOTFS/$f)"
  else
    install -D -m 0644 "$ROOTFS/$f" "/$f"
  fi
done

# 4. The user gnomon, in dialout and (Raspberry Pi OS) gpio; its directories.
systemd-sysusers gnomon.conf
if getent group gpio >/dev/null; then usermod -a -G gpio gnomon; fi
install -d -o gnomon -g gnomon -m 0750 /etc/gnomon /var/lib/gnomon
install -d -o gnomon -g gnomon -m 0755 /var/log/ntpstats
chown gnomon:gnomon /etc/gnomon/ntp.conf
chmod 0640 /etc/gnomon/ntp.conf

# 5. The command, with the Node chosen above; the service too when it is not /usr/bin/node.
cat >/usr/bin/gnomon <<EOF
#!/bin/sh
exec $NODE --max-semi-space-size=1 --optimize-for-size --v8-pool-size=1 /opt/gnomon/dist/src/cli/main.js "\$@"
EOF
chmod 0755 /usr/bin/gnomon
dropin=/etc/systemd/system/gnomon.service.d/node.conf
if [ "$NODE" != /usr/bin/node ]; then
  install -d "$(dirname "$dropin")"
  cat >"$dropin" <<EOF
# install-on-raspios.sh: /usr/bin/node is Debian's nodejs (< 20); Gnomon runs on its own Node.
[Service]
ExecStart=
ExecStart=$NODE --max-semi-space-size=1 --optimize-for-size --v8-pool-size=1 /opt/gnomon/dist/src/cli/main.js serve --config /etc/gnomon/ntp.conf --web \${GNOMON_WEB} \$GNOMON_ARGS
EOF
else
  rm -f "$dropin"
fi
ln -sfn /run/gnomon-firstboot/password.issue /etc/issue.d/gnomon-password.issue

# 6. Boot files: the UART and PPS lines in config.txt, no serial console in cmdline.txt. On Gnomon's
# Debian image (raspi-firmware), config.txt is generated from /etc/default/raspi-firmware*: refresh
# our overlays and their config lines there instead (an upgrade of the image's Gnomon).
before=$(cat "$BOOT/config.txt" "$BOOT/cmdline.txt" 2>/dev/null | cksum)
if [ -x /etc/kernel/postinst.d/z50-raspi-firmware ]; then
  for f in etc/default/raspi-firmware-custom etc/kernel/postinst.d/z51-gnomon-overlays \
    usr/lib/gnomon/overlays/disable-bt.dtbo usr/lib/gnomon/overlays/pps-gpio.dtbo \
    usr/lib/gnomon/overlays/disable-bt.dts usr/lib/gnomon/overlays/pps-gpio.dts; do
    install -D -m "$([ -x "$ROOTFS/$f" ] && echo 0755 || echo 0644)" "$ROOTFS/$f" "/$f"
  done
  /etc/kernel/postinst.d/z51-gnomon-overlays
  say "Debian's raspi-firmware manages config.txt: overlays refreshed, run update-initramfs -u to regenerate config.txt"
else
  gnomon_edit_config_txt "$BOOT/config.txt"
  gnomon_edit_cmdline_txt "$BOOT/cmdline.txt"
fi
after=$(cat "$BOOT/config.txt" "$BOOT/cmdline.txt" 2>/dev/null | cksum)

# 7. Services: no other time daemon, no login on the GPS's UART, Bluetooth's UART helper off where
# Bluetooth gave up the PL011 (Pi 3/4/Zero 2).
now=
if [ "$live" = yes ]; then
  systemctl daemon-reload
  now=--now
fi
systemctl disable $now systemd-timesyncd.service >/dev/null 2>&1 || true
systemctl mask systemd-timesyncd.service serial-getty@ttyAMA0.service serial-getty@serial0.service
case $model in
  *"Pi 3"* | *"Pi 4"* | *"Compute Module 3"* | *"Compute Module 4"* | *"Zero 2"*)
    systemctl disable $now hciuart.service >/dev/null 2>&1 || true
    ;;
esac
for other in chrony.service ntpsec.service ntp.service openntpd.service; do
  if systemctl is-enabled --quiet "$other" 2>/dev/null; then
    say "warning: $other is enabled; it conflicts with gnomon.service (systemctl disable --now $other)"
  fi
done
systemctl enable gnomon.service gnomon-firstboot.service gnomon-bootpassword.service
if [ "$live" = yes ]; then
  udevadm control --reload-rules 2>/dev/null || true
  udevadm trigger --subsystem-match=tty --subsystem-match=pps --subsystem-match=gpio 2>/dev/null || true
fi

# 8. The web admin password now (from $BOOT/gnomon-password.txt, else generated and printed here),
# and the first boot's other steps (SSH host keys and the root partition exist already: no change).
/usr/lib/gnomon/firstboot.sh || say "warning: first-boot steps failed; they run again at the next boot"

if [ "$live" = no ]; then
  say "installed; gnomon.service starts at the next boot"
elif [ "$before" != "$after" ]; then
  say "config.txt/cmdline.txt changed (originals: *.gnomon-orig): reboot now (sudo reboot)"
else
  systemctl restart gnomon.service
  say "gnomon.service restarted: systemctl status gnomon; gnomon status"
fi
