#!/bin/sh
# Gnomon's image setup (image/README.md, "Overlay contract"). Run as root, once image/rootfs/ has been
# copied over the image's root and every package is installed, without a running systemd:
#
#   chroot ROOTFS /usr/lib/gnomon/setup-image.sh        # inside the arm64 chroot (the image build)
#   setup-image.sh ROOTFS                               # from outside, on a root tree (the tests)
#
# It creates the user gnomon, gives it its directories, enables gnomon.service and its first-boot
# units, masks systemd-timesyncd and the serial gettys on the GPS's UART, removes the SSH host keys
# (each card makes its own at first boot), and points raspi-firmware at Gnomon's boot configuration,
# then regenerates /boot/firmware/config.txt and cmdline.txt (only inside the chroot).
#
# Environment: GNOMON_ROOTPART (default LABEL=RASPIROOT): the root= of cmdline.txt, unless
# /etc/default/raspi-firmware sets ROOTPART already.
set -eu

ROOT=${1:-/}
ROOT=${ROOT%/}
R=$ROOT # prefix for paths; empty for /
ROOTPART_DEFAULT=${GNOMON_ROOTPART:-LABEL=RASPIROOT}

say() { printf 'setup-image: %s\n' "$*"; }
die() {
  printf 'setup-image: error: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root"
[ -f "$R/usr/lib/systemd/system/gnomon.service" ] || die "$R/usr/lib/systemd/system/gnomon.service is missing: copy image/rootfs/ over the root first"

# 1. The user and group gnomon (system ids), in dialout; from the same sysusers.d file systemd reads at boot.
if command -v systemd-sysusers >/dev/null 2>&1; then
  # A bare name is looked up in the root's sysusers.d folders (an absolute path would be the host's).
  systemd-sysusers --root="${R:-/}" gnomon.conf
elif [ -z "$R" ]; then
  getent group gnomon >/dev/null || groupadd --system gnomon
  getent passwd gnomon >/dev/null ||
    useradd --system --gid gnomon --home-dir /var/lib/gnomon --no-create-home \
      --shell /usr/sbin/nologin --comment "Gnomon NTP server" gnomon
  usermod -a -G dialout gnomon
else
  die "systemd-sysusers is needed to create the user in $R"
fi
uid=$(awk -F: '$1 == "gnomon" { print $3 }' "$R/etc/passwd")
gid=$(awk -F: '$1 == "gnomon" { print $3 }' "$R/etc/group")
if [ -z "$uid" ] || [ -z "$gid" ]; then die "the user gnomon was not created"; fi
say "user gnomon: uid $uid, gid $gid, groups: $(awk -F: '$4 ~ /(^|,)gnomon(,|$)/ { printf "%s ", $1 }' "$R/etc/group")"

# 2. Its directories. /etc/gnomon is the daemon's too: `gnomon config` and the web page replace
# ntp.conf there atomically (ntp.conf.tmp, .prev, .lock, ntp.conf.history/) and gnomon passwd
# writes web-password. systemd makes /var/lib/gnomon, /var/log/ntpstats and /run/gnomon at each start.
install -d -o "$uid" -g "$gid" -m 0750 "$R/etc/gnomon" "$R/var/lib/gnomon"
install -d -o "$uid" -g "$gid" -m 0755 "$R/var/log/ntpstats"
if [ -f "$R/etc/gnomon/ntp.conf" ]; then
  chown "$uid:$gid" "$R/etc/gnomon/ntp.conf"
  chmod 0640 "$R/etc/gnomon/ntp.conf"
fi
chmod 0755 "$R/usr/lib/gnomon/firstboot.sh" "$R/usr/lib/gnomon/setup-image.sh" "$R/etc/kernel/postinst.d/z51-gnomon-overlays"

# 3. Units. systemctl edits the symlinks offline, in a chroot or with --root.
systemctl --root="${R:-/}" enable gnomon.service gnomon-firstboot.service gnomon-bootpassword.service
systemctl --root="${R:-/}" disable systemd-timesyncd.service >/dev/null 2>&1 || true
# ttyAMA0 is the GPS; serial0 is its alias (Raspberry Pi OS); nothing may run a login on them.
systemctl --root="${R:-/}" mask systemd-timesyncd.service serial-getty@ttyAMA0.service serial-getty@serial0.service

# 4. No SSH host keys in the image (the first boot makes them, gnomon-firstboot.service).
rm -f "$R"/etc/ssh/ssh_host_*_key "$R"/etc/ssh/ssh_host_*_key.pub

# 5. The command, and the console's view of a generated password (gnomon-firstboot writes it to /run).
ln -sfn /opt/gnomon/dist/src/cli/main.js "$R/usr/bin/gnomon"
install -d "$R/etc/issue.d"
ln -sfn /run/gnomon-firstboot/password.issue "$R/etc/issue.d/gnomon-password.issue"

# 6. Boot configuration, the Debian way: raspi-firmware's kernel hook writes config.txt and
# cmdline.txt from /etc/default/raspi-firmware (CONSOLES: no serial console, the UART is the GPS's;
# ROOTPART: the chroot's own root would be wrong) and appends /etc/default/raspi-firmware-custom.
defaults=$R/etc/default/raspi-firmware
if [ -f "$defaults" ]; then
  if grep -q '^CONSOLES=' "$defaults"; then
    sed -i 's/^CONSOLES=.*/CONSOLES="tty0"/' "$defaults"
  else
    printf '\n# Gnomon: the console on the screen only; the UART on GPIO 14/15 is the GPS.\nCONSOLES="tty0"\n' >>"$defaults"
  fi
  if ! grep -q '^ROOTPART=' "$defaults"; then
    printf '\n# Gnomon: the root file system by label (the image is built in a chroot).\nROOTPART=%s\n' "$ROOTPART_DEFAULT" >>"$defaults"
  fi
  say "$defaults: $(grep -E '^(CONSOLES|ROOTPART)=' "$defaults" | tr '\n' ' ')"
else
  say "warning: $defaults is absent (raspi-firmware not installed yet?): install raspi-firmware before running this script, or the serial console stays on the GPS's UART"
fi
if [ -z "$R" ]; then
  if [ -x /etc/kernel/postinst.d/z50-raspi-firmware ] && ls /boot/vmlinuz-* >/dev/null 2>&1; then
    DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware
    say "/boot/firmware/cmdline.txt: $(cat /boot/firmware/cmdline.txt)"
  fi
  /etc/kernel/postinst.d/z51-gnomon-overlays
  # The config must be one the installed daemon accepts (only when Node and Gnomon are in place).
  if [ -x /usr/bin/node ] && [ -f /opt/gnomon/dist/src/cli/main.js ] && [ -f /etc/gnomon/ntp.conf ]; then
    /usr/bin/node /opt/gnomon/dist/src/cli/main.js config validate --config /etc/gnomon/ntp.conf
  fi
fi
say "done"
