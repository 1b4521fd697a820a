#!/bin/sh
# TEST ONLY (see smoke-probe.service): every few seconds, one block of "SMOKE key value" lines
# between "SMOKE-BEGIN n" and "SMOKE-END n" on the serial console, for test/image/boot.mjs to read.
i=0
cursor=/run/gnomon-smoke-probe.cursor
while [ "$i" -lt 200 ]; do
  echo "SMOKE-BEGIN $i"
  echo "SMOKE uptime $(cut -d' ' -f1 /proc/uptime)"
  echo "SMOKE kernel $(uname -r)"
  echo "SMOKE system $(systemctl is-system-running 2>&1)"
  echo "SMOKE firstboot $(systemctl show -p ActiveState -p Result gnomon-firstboot.service | tr '\n' ' ')"
  echo "SMOKE ssh $(systemctl is-active ssh.service 2>&1)"
  echo "SMOKE active $(systemctl is-active gnomon.service 2>&1)"
  pid=$(systemctl show -p MainPID --value gnomon.service)
  if [ -n "$pid" ] && [ "$pid" != 0 ]; then
    echo "SMOKE process $(ps -o user=,group=,pid=,args= -p "$pid")"
    echo "SMOKE caps $(grep -E '^Cap(Eff|Prm|Amb)' "/proc/$pid/status" | tr '\t\n' '  ')"
  fi
  echo "SMOKE module $(grep -E '^pps_gpio ' /proc/modules | cut -d' ' -f1,3)"
  for d in /sys/class/pps/pps*; do
    [ -e "$d/assert" ] && echo "SMOKE pps $(basename "$d") name=$(cat "$d/name") assert=$(cat "$d/assert")"
  done
  echo "SMOKE dev $(ls -l /dev/pps0 2>&1)"
  echo "SMOKE rootfs $(df -Pm / | tail -n 1) disk-mib $(($(cat /sys/block/vda/size 2>/dev/null || echo 0) / 2048)) part-mib $(($(cat /sys/block/vda/vda2/size 2>/dev/null || echo 0) / 2048))"
  echo "SMOKE mounts $(findmnt -n -o SOURCE,TARGET,FSTYPE /boot/firmware 2>&1) labels: $(find /dev/disk/by-label -mindepth 1 -printf '%f ' 2>&1) blkid: $(blkid /dev/vda1 2>&1)"
  echo "SMOKE sshkeys $(find /etc/ssh -name "ssh_host_*_key" | wc -l)"
  echo "SMOKE ip $(ip -4 -o addr show scope global | awk '{print $2, $4}' | tr '\n' ' ')"
  journalctl -b --no-pager -o short-monotonic --cursor-file="$cursor" -u gnomon.service -u gnomon-firstboot.service 2>&1 |
    sed 's/^/SMOKE journal /'
  [ "$pid" != 0 ] && gnomon status 2>&1 | sed 's/^/SMOKE status /'
  echo "SMOKE-END $i"
  i=$((i + 1))
  sleep 3
done
