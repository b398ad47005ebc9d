# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# NVMe over RDMA with the kernel's own target (nvmet-rdma, a RAM disk
# exported) and host (nvme-rdma, connected by nvme-cli), for guest tests.
# Source after common.sh.

nvme_nqn=nqn.2026-12.org.sodp:nvme-test
nvme_cfg=/sys/kernel/config/nvmet
nvme_disk=/dev/ram0
# The guest's root is read-only: the host's identity is made here.
nvme_hostnqn=nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)

# nvme_modules: load what the target and the host need.
nvme_modules() {
	local m
	command -v nvme > /dev/null || fail "nvme-cli is not installed"
	for m in nvmet nvmet-rdma nvme-rdma; do
		modprobe "$m" || fail "modprobe $m"
	done
	grep -q " configfs " /proc/mounts || mount -t configfs none /sys/kernel/config
}

# nvme_target_up ADDR: export a 64 MiB RAM disk on ADDR:4420.
nvme_target_up() {
	local s=$nvme_cfg/subsystems/$nvme_nqn p=$nvme_cfg/ports/1
	modprobe brd rd_nr=1 rd_size=65536 || fail "modprobe brd"
	mkdir "$s" || fail "nvmet subsystem"
	echo 1 > "$s/attr_allow_any_host"
	mkdir "$s/namespaces/1"
	echo "$nvme_disk" > "$s/namespaces/1/device_path"
	echo 1 > "$s/namespaces/1/enable" || fail "nvmet namespace"
	mkdir "$p"
	echo rdma > "$p/addr_trtype"
	echo ipv4 > "$p/addr_adrfam"
	echo "$1" > "$p/addr_traddr"
	echo 4420 > "$p/addr_trsvcid"
	ln -s "$s" "$p/subsystems/$nvme_nqn" || fail "nvmet-rdma port on $1 (see dmesg)"
}

nvme_target_down() {
	local s=$nvme_cfg/subsystems/$nvme_nqn p=$nvme_cfg/ports/1
	rm -f "$p/subsystems/$nvme_nqn"
	rmdir "$p" 2> /dev/null
	echo 0 > "$s/namespaces/1/enable" 2> /dev/null
	rmdir "$s/namespaces/1" 2> /dev/null
	rmdir "$s" 2> /dev/null
	modprobe -r brd 2> /dev/null
}

# nvme_host_up ADDR: connect to ADDR:4420 over RDMA; sets nvme_ctrl (the
# controller) and nvme_ns (its namespace's block device).
nvme_host_up() {
	local b
	timeout 60 nvme connect -t rdma -a "$1" -s 4420 -n "$nvme_nqn" \
		--hostnqn="$nvme_hostnqn" || { dmesg | tail -20; fail "nvme connect $1"; }
	nvme_ctrl=$(grep -lx "$nvme_nqn" /sys/class/nvme/nvme*/subsysnqn | head -1)
	nvme_ctrl=$(basename "$(dirname "$nvme_ctrl")")
	[ -n "$nvme_ctrl" ] || fail "no controller after nvme connect"
	[ "$(cat "/sys/class/nvme/$nvme_ctrl/transport")" = rdma ] || fail "not over rdma"
	for _ in $(seq 100); do
		for b in /sys/block/nvme*n1; do
			grep -qsx "$nvme_nqn" "$b/device/subsysnqn" || continue
			nvme_ns=$(basename "$b")
			[ -b "/dev/$nvme_ns" ] && return 0
		done
		sleep 0.1
	done
	fail "no namespace block device after nvme connect"
}

nvme_host_down() {
	timeout 60 nvme disconnect -n "$nvme_nqn" > /dev/null || fail "nvme disconnect"
}

# nvme_write_verify BLOCKS OFFSET [DISK]: random 4 KiB blocks written
# through the namespace (direct I/O) and read back through it; with DISK
# (the target's, in the same guest), found there too.
nvme_write_verify() {
	local n=$1 off=$2 disk=${3:-}
	head -c $((n * 4096)) /dev/urandom > /tmp/nvme-w
	dd if=/tmp/nvme-w of="/dev/$nvme_ns" bs=4K seek="$off" count="$n" \
		oflag=direct conv=notrunc status=none || fail "write $n blocks at $off"
	dd if="/dev/$nvme_ns" of=/tmp/nvme-r bs=4K skip="$off" count="$n" \
		iflag=direct status=none || fail "read $n blocks at $off"
	cmp -s /tmp/nvme-w /tmp/nvme-r || fail "read back differs: $n blocks at $off"
	[ -n "$disk" ] || return 0
	dd if="$disk" of=/tmp/nvme-r bs=4K skip="$off" count="$n" iflag=direct status=none
	cmp -s /tmp/nvme-w /tmp/nvme-r || fail "target disk differs: $n blocks at $off"
}

# nvme_fs_verify: ext4 on the namespace, files written, remounted (caches
# dropped) and compared, then checked by fsck.
nvme_fs_verify() {
	local mnt=/tmp/nvme-mnt i
	mkfs.ext4 -q -F "/dev/$nvme_ns" || fail "mkfs.ext4"
	mkdir -p "$mnt"
	mount "/dev/$nvme_ns" "$mnt" || fail "mount"
	for i in 1 2 3 4; do
		head -c $((i * 3 * 1024 * 1024 + i * 777)) /dev/urandom > "/tmp/nvme-f$i"
		cp "/tmp/nvme-f$i" "$mnt/f$i"
	done
	umount "$mnt"
	echo 3 > /proc/sys/vm/drop_caches
	mount "/dev/$nvme_ns" "$mnt" || fail "mount again"
	for i in 1 2 3 4; do
		cmp -s "/tmp/nvme-f$i" "$mnt/f$i" || fail "file f$i differs after remount"
	done
	umount "$mnt"
	fsck.ext4 -fn "/dev/$nvme_ns" > /dev/null 2>&1 || fail "fsck.ext4 found errors"
	echo "ext4 on the remote namespace: 4 files written, remounted and compared"
}
