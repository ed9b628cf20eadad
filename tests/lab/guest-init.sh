#!/bin/sh
# PID 1 of the lab's guests: static busybox and Debian's own kernel modules, nothing else.
# What the guest does is picked by hm_* words on the kernel command line, which the kernel
# hands to init as environment variables:
#   hm_role=idle       boot and stay up (also: ignores the ACPI power button, runs no agent)
#   hm_role=fill       write hm_mib MiB straight to /dev/vda, 1 MiB at a time
#   hm_role=readonly   mount /dev/vda (ext4, errors=remount-ro) and write hm_mib MiB into it
#   hm_role=balloon    once MemTotal drops below hm_below kB (balloon inflated from the host),
#                      allocate hm_alloc_pct % of MemTotal
#   hm_beat=N          print "hm: up UPTIME" every N seconds (the host reads it from the console)
# Everything is printed on the serial console, which the host logs to a file.
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /mnt

say() { echo "hm: $*"; }

# Modules in dependency order (modprobe --show-depends on the host); a CPU-specific one
# (crc32c-intel under emulation) may refuse to load: its generic twin is in the list too.
while read -r m; do insmod "/lib/modules/$m" 2>/dev/null; done < /etc/modules.order
echo "${hm_sysrq:-1}" > /proc/sys/kernel/sysrq

heartbeat() {
    while :; do
        read -r up _ < /proc/uptime
        say "up $up"
        sleep "${hm_beat:-2}"
    done
}

read -r up _ < /proc/uptime
say "ready role=${hm_role:-idle} uptime=$up"
heartbeat &

case "${hm_role:-idle}" in
fill)
    # With QEMU's default error policy a write the host cannot store pauses the whole
    # guest: the loop just stops, and goes on where it was once the domain is resumed.
    i=0
    while [ "$i" -lt "${hm_mib:-64}" ]; do
        if ! dd if=/dev/zero of=/dev/vda bs=1M count=1 seek="$i" oflag=direct 2>/dev/null; then
            say "fill: write error at $i MiB"
            break
        fi
        i=$((i + 1))
        [ $((i % 4)) -eq 0 ] && say "fill: $i MiB written"
    done
    say "fill: done, $i MiB written"
    ;;
readonly)
    mount -t ext4 -o errors=remount-ro /dev/vda /mnt && say "readonly: /dev/vda mounted on /mnt"
    dd if=/dev/zero of=/mnt/fill bs=1M count="${hm_mib:-64}" 2>/dev/null
    sync
    # Failed data writes alone never make ext4 read-only; a failed metadata or journal
    # write does. Go on changing metadata (new directories, new journal blocks: clusters
    # the thin image has not got yet) until ext4 gives up.
    i=0
    while [ "$i" -lt 100 ]; do
        if ! mkdir "/mnt/meta$i" 2>/dev/null || ! touch "/mnt/meta$i/f" 2>/dev/null; then
            say "readonly: cannot write to /mnt any more"
            break
        fi
        sync
        i=$((i + 1))
    done
    ;;
balloon)
    while :; do
        total=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
        [ "$total" -lt "${hm_below:-150000}" ] && break
        sleep 1
    done
    # more than is free, less than MemTotal: the kernel's overcommit check lets it through
    # (it refuses outright one allocation larger than all of RAM) and the OOM killer acts
    alloc=$((total * ${hm_alloc_pct:-90} / 100))
    say "balloon: MemTotal is $total kB, allocating $alloc kB"
    dd if=/dev/zero of=/dev/null bs="${alloc}k" count=1 2>/dev/null \
        && say "balloon: allocation succeeded" || say "balloon: allocation failed"
    ;;
esac

wait
