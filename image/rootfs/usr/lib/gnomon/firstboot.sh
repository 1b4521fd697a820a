#!/bin/sh
# Gnomon's first boot (gnomon-firstboot.service; docs/appliance.md), as root:
#   1. SSH host keys (the image ships none, so every card gets its own);
#   2. root's SSH keys from authorized_keys on the FAT partition, if there is one;
#   3. the root partition and its ext4 file system grown to the whole SD card;
#   4. the web admin password: from gnomon-password.txt on the FAT partition (consumed and
#      deleted), else generated and shown once: on the console, in the journal and above the
#      console login prompt until the next reboot. Never a default password.
# Every step is idempotent; the marker file is written only when all of them succeeded. The steps
# run in a `||` list, where `set -e` does not apply: each one returns its own failures.
#
#   firstboot.sh                      all of the above
#   firstboot.sh web-password         step 4 alone
#   firstboot.sh password-from-boot   step 4 from the FAT partition's file only (gnomon-bootpassword.service)
#
# The environment variables below exist for the tests (test/unit/image/); the units set none.
set -eu

BOOT=${GNOMON_BOOT:-/boot/firmware}
ETC=${GNOMON_ETC:-/etc/gnomon}
RUNDIR=${GNOMON_FIRSTBOOT_RUN:-/run/gnomon-firstboot}
DONE=${GNOMON_FIRSTBOOT_DONE:-/var/lib/misc/gnomon-firstboot.done}
OWNER=${GNOMON_OWNER:-gnomon}
PASSWORD_FILE="$ETC/web-password"
BOOT_PASSWORD="$BOOT/gnomon-password.txt"
BOOT_KEYS="$BOOT/authorized_keys"
ROOT_SSH=${GNOMON_ROOT_SSH:-/root/.ssh}

say() { printf 'gnomon-firstboot: %s\n' "$*"; }

# The gnomon CLI: /usr/bin/gnomon knows which Node to use (Raspberry Pi OS may have an older one at
# /usr/bin/node, install-on-raspios.sh); GNOMON_CLI replaces it in tests.
gnomon_cli() {
  if [ -n "${GNOMON_CLI:-}" ]; then
    # shellcheck disable=SC2086 # a command line with its arguments, on purpose
    $GNOMON_CLI "$@"
  elif [ -x /usr/bin/gnomon ]; then
    /usr/bin/gnomon "$@"
  else
    /usr/bin/node /opt/gnomon/dist/src/cli/main.js "$@"
  fi
}

ssh_host_keys() {
  if ! command -v ssh-keygen >/dev/null 2>&1; then
    say "ssh-keygen is not installed: no SSH host keys"
    return 0
  fi
  ssh-keygen -A || return 1
  say "SSH host keys:"
  for key in /etc/ssh/ssh_host_*_key.pub; do
    [ -e "$key" ] && ssh-keygen -l -f "$key"
  done
  return 0
}

root_ssh_keys() {
  [ -f "$BOOT_KEYS" ] || return 0
  install -d -m 0700 "$ROOT_SSH" || return 1
  # Appended, without the FAT file's carriage returns; duplicates are harmless.
  tr -d '\r' <"$BOOT_KEYS" >>"$ROOT_SSH/authorized_keys" || return 1
  chmod 0600 "$ROOT_SSH/authorized_keys" || return 1
  rm -f "$BOOT_KEYS"
  say "root's SSH keys installed from $BOOT_KEYS (deleted from the FAT partition)"
}

grow_root() {
  # -r: raw output; without it findmnt pads the column ("254:2  ") and the sysfs lookup below misses.
  majmin=$(findmnt -n -r -o MAJ:MIN /) || { say "cannot find the root device; not growing it"; return 0; }
  fstype=$(findmnt -n -r -o FSTYPE /)
  sys=/sys/dev/block/$majmin
  if [ ! -e "$sys/partition" ]; then
    say "the root file system is not on a partition ($majmin); not growing it"
    return 0
  fi
  part=$(cat "$sys/partition")
  dev=/dev/$(basename "$(readlink -f "$sys")")
  disk=/dev/$(basename "$(readlink -f "$sys/..")")
  if ! command -v growpart >/dev/null 2>&1; then
    say "growpart (cloud-guest-utils) is not installed; $dev keeps its size"
    return 0
  fi
  # growpart: 0 grown, 1 with NOCHANGE already the largest it can be, anything else an error.
  rc=0
  out=$(growpart "$disk" "$part" 2>&1) || rc=$?
  say "growpart $disk $part: $out"
  if [ "$rc" -ne 0 ] && ! printf '%s' "$out" | grep -q NOCHANGE; then
    say "growpart failed ($rc)"
    return 1
  fi
  case $fstype in
    ext2 | ext3 | ext4) resize2fs "$dev" ;;
    *) say "root file system is $fstype, not ext4: not resizing it" ;;
  esac
}

# Reads the password from standard input (first line) into the password file, owned by $OWNER.
set_password() {
  gnomon_cli passwd --file "$PASSWORD_FILE" --owner "$OWNER"
}

password_from_boot() {
  [ -f "$BOOT_PASSWORD" ] || return 1
  rc=0
  set_password <"$BOOT_PASSWORD" || rc=$?
  # The plain-text password leaves the FAT partition whatever happened.
  rm -f "$BOOT_PASSWORD"
  sync
  if [ "$rc" -eq 0 ]; then
    say "web admin password set from $BOOT_PASSWORD (now deleted)"
    return 0
  fi
  say "the password in $BOOT_PASSWORD was refused (at least 8 characters); it was deleted"
  return 1
}

generate_password() {
  # 16 characters from 55 unambiguous ones: about 92 bits.
  # A bounded read first: `tr </dev/urandom | head` leaves tr writing into a closed pipe ("Broken pipe" in the journal).
  password=$(head -c 4096 /dev/urandom | LC_ALL=C tr -dc 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789' | cut -c 1-16)
  [ "${#password}" -eq 16 ] || return 1
  printf '%s\n' "$password" | set_password || return 1
  # Shown at the console login prompt until the next reboot (/etc/issue.d/gnomon-password.issue
  # links here; /run is a tmpfs).
  install -d -m 0700 "$RUNDIR" || return 1
  cat >"$RUNDIR/password.issue" <<EOF || return 1
Gnomon web admin password, generated on first boot (shown here until the next reboot):

    $password

Change it with: sudo gnomon passwd --owner gnomon

EOF
  chmod 0600 "$RUNDIR/password.issue"
  say "================================================================"
  say "web admin password (generated): $password"
  say "(also in this boot's journal: journalctl -u gnomon-firstboot; and above the console login prompt until reboot)"
  say "change it with: sudo gnomon passwd --owner gnomon"
  say "================================================================"
}

web_password() {
  if password_from_boot; then
    return 0
  fi
  if [ -s "$PASSWORD_FILE" ]; then
    say "web admin password already set in $PASSWORD_FILE; keeping it"
    return 0
  fi
  generate_password
}

case ${1:-all} in
  all)
    # A failed step does not stop the others; the service fails and runs again at the next boot.
    failed=
    for step in ssh_host_keys root_ssh_keys grow_root web_password; do
      $step || { failed="$failed $step"; say "$step failed"; }
    done
    if [ -n "$failed" ]; then
      say "failed:$failed; trying again at the next boot"
      exit 1
    fi
    install -d "$(dirname "$DONE")"
    : >"$DONE"
    say "done"
    ;;
  web-password)
    web_password || exit 1
    ;;
  password-from-boot)
    password_from_boot || exit 1
    ;;
  *)
    echo "usage: $0 [all|web-password|password-from-boot]" >&2
    exit 2
    ;;
esac
