#!/bin/sh
# /init of the test VM's initramfs (busybox). Loads virtio + 9p, mounts the host's root read-only at
# /newroot, gives it writable tmpfs for /tmp, /run and /var, mounts the host's exchange directory and the
# checkout under test (at the path it has on the host), then
# serves commands: the host drops cmd-N.sh into the exchange directory; each runs chrooted in the host's
# root and leaves cmd-N.out, cmd-N.err and, last, cmd-N.rc. A file named `poweroff` ends the VM.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p; do
  insmod /modules/$m.ko || echo "vm-init: insmod $m failed"
done

fail() {
  echo "vm-init: $*"
  poweroff -f
}

R=/newroot
mkdir -p $R
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose root9 $R || fail "cannot mount the host root"
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs shm $R/dev/shm
for d in tmp run var; do mount -t tmpfs -o mode=755 $d $R/$d || fail "cannot mount tmpfs on /$d"; done
chmod 1777 $R/tmp
mkdir -p $R/var/tmp $R/var/lib $R/var/log $R/var/cache $R/run/lock
chmod 1777 $R/var/tmp
ln -s /run $R/var/run
ln -s /run/lock $R/var/lock
X=/tmp/vm-exchange
mkdir -p $R$X
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none exchange $R$X || fail "cannot mount the exchange directory"
# The checkout again, at its own path: it may lie under /tmp, /run or /var, which the tmpfs mounts hide.
C=$(cat $R$X/checkout-path)
mkdir -p $R$C 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose checkout $R$C || fail "cannot mount the checkout at $C"

# The kernel asks for modules (schedulers, conntrack helpers) with /sbin/modprobe in this root:
# hand that to the host's modprobe. Absolute paths after chroot: this busybox prefers its own applets
# to the host programs of the same name.
mkdir -p /sbin
printf '#!/bin/sh\nexec /bin/chroot %s /sbin/modprobe "$@"\n' $R > /sbin/modprobe
chmod 755 /sbin/modprobe
echo /sbin/modprobe > /proc/sys/kernel/modprobe

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TMPDIR=/tmp LANG=C.UTF-8
chroot $R /sbin/ip link set lo up
chroot $R /bin/sh -c 'modprobe ip_vs && modprobe nf_conntrack' > $R$X/setup.log 2>&1
echo "$(cut -d' ' -f1 /proc/uptime)" > $R$X/ready

n=0
while [ ! -e $R$X/poweroff ]; do
  if [ -e $R$X/cmd-$n.sh ]; then
    chroot $R /bin/sh $X/cmd-$n.sh > $R$X/cmd-$n.out 2> $R$X/cmd-$n.err < /dev/null
    echo $? > $R$X/cmd-$n.rc.tmp
    mv $R$X/cmd-$n.rc.tmp $R$X/cmd-$n.rc
    n=$((n + 1))
  else
    sleep 0.1
  fi
done
sync
poweroff -f
