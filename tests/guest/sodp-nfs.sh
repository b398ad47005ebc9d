#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# NFS over RDMA on sodp0: the kernel's NFS server (nfsd with svcrdma)
# exports a directory, the kernel's NFS client mounts it with proto=rdma
# (xprtrdma: every chunk registered by a REG_MR work request and
# invalidated by LOCAL_INV or the server's SEND with Invalidate).
# Checked: the mount runs over RDMA (mountstats) and through sodp0 (its
# packet counters); files written through the mount (buffered and direct
# I/O, sizes that are no multiple of a page) are the same bytes in the
# exported directory and read back the same after a remount; files
# written on the server read the same through the mount.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

export_dir=/tmp/nfs-export
mnt=/tmp/nfs-mnt

command -v exportfs > /dev/null || fail "nfs-kernel-server is not installed"
sodp_setup
for m in nfsd rpcrdma; do
	modprobe "$m" || fail "modprobe $m"
done

nfs_cleanup() {
	umount -f "$mnt" 2> /dev/null
	[ -e /proc/fs/nfsd/threads ] && echo 0 > /proc/fs/nfsd/threads
	exportfs -ua 2> /dev/null
	pkill -x rpc.mountd
	umount /proc/fs/nfsd 2> /dev/null
	umount /var/lib/nfs 2> /dev/null
	sodp_teardown
}
trap nfs_cleanup EXIT

# The server, NFSv4 only (no rpcbind): the guest's root is read-only, so
# the state nfs-utils keeps goes to a tmpfs.
mount -t tmpfs none /var/lib/nfs || fail "tmpfs on /var/lib/nfs"
mkdir -p /var/lib/nfs/v4recovery "$export_dir" "$mnt"
touch /var/lib/nfs/etab /var/lib/nfs/rmtab
mount -t nfsd nfsd /proc/fs/nfsd || fail "mount nfsd"
exportfs -o rw,sync,no_root_squash,insecure,no_subtree_check,fsid=0 \
	10.77.0.0/24:"$export_dir" || fail "exportfs"
rpc.mountd -N 2 -N 3 || fail "rpc.mountd"
echo "-2 -3 +4 +4.1 +4.2" > /proc/fs/nfsd/versions
# The shortest grace period: a new server refuses opens for that long.
echo 10 > /proc/fs/nfsd/nfsv4leasetime
echo 10 > /proc/fs/nfsd/nfsv4gracetime
echo 4 > /proc/fs/nfsd/threads || fail "nfsd threads"
echo "rdma 20049" > /proc/fs/nfsd/portlist || fail "nfsd: no RDMA listener on 20049 (dmesg)"
grep -q "^rdma 20049" /proc/fs/nfsd/portlist || fail "nfsd portlist: $(cat /proc/fs/nfsd/portlist)"

p0=$(sodp_counter sodp0 sent_pkts)
timeout 60 mount -t nfs4 -o proto=rdma,port=20049,vers=4.2 10.77.0.1:/ "$mnt" ||
	{ dmesg | tail -20; fail "mount over RDMA"; }
grep -A 20 " $mnt " /proc/self/mountstats | grep -q "xprt:[[:space:]]*rdma" ||
	fail "the mount is not over RDMA: $(grep -A 20 " $mnt " /proc/self/mountstats | grep xprt)"

# Through the mount, into the export.
for i in 1 2 3; do
	head -c $((i * 2 * 1024 * 1024 + i * 1111)) /dev/urandom > "/tmp/nfs-f$i"
	cp "/tmp/nfs-f$i" "$mnt/f$i" || fail "write f$i"
done
head -c $((3 * 1024 * 1024)) /dev/urandom > /tmp/nfs-d
dd if=/tmp/nfs-d of="$mnt/d" bs=64K oflag=direct status=none || fail "direct write"
sync
for f in f1 f2 f3; do
	cmp -s "/tmp/nfs-$f" "$export_dir/$f" || fail "$f differs in the export"
done
cmp -s /tmp/nfs-d "$export_dir/d" || fail "the direct write differs in the export"
dd if="$mnt/d" of=/tmp/nfs-r bs=64K iflag=direct status=none || fail "direct read"
cmp -s /tmp/nfs-d /tmp/nfs-r || fail "direct read differs"

# From the export, through the mount (no cache: remounted).
head -c $((5 * 1024 * 1024 + 4321)) /dev/urandom > "$export_dir/s"
umount "$mnt" || fail "umount"
echo 3 > /proc/sys/vm/drop_caches
timeout 60 mount -t nfs4 -o proto=rdma,port=20049,vers=4.2 10.77.0.1:/ "$mnt" ||
	fail "mount again"
for f in f1 f2 f3; do
	cmp -s "/tmp/nfs-$f" "$mnt/$f" || fail "$f differs read back after a remount"
done
cmp -s "$export_dir/s" "$mnt/s" || fail "the server's file differs through the mount"
umount "$mnt" || fail "umount"
pkts=$(($(sodp_counter sodp0 sent_pkts) - p0))
echo "nfs over rdma: files checked both ways; $pkts packets through sodp0"
# (About 20 MiB went each way, at most 4 KiB a packet.)
[ "$pkts" -ge 5000 ] || fail "only $pkts packets through sodp0"
echo "sodp-nfs: PASS"
