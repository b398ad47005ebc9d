#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# NVMe over RDMA on sodp0: the kernel's nvmet-rdma target exports a RAM
# disk, the kernel's nvme-rdma host connects to it with nvme-cli, and data
# goes through fast registration (the host registers every I/O buffer by a
# REG_MR work request; the target answers with SEND with Invalidate).
# Checked: a block-level write and read-back at several sizes and offsets
# (direct I/O), the same bytes on the target's disk, a filesystem made,
# filled and checked on the remote namespace, and nothing left behind: no
# MR of the device after the disconnect, and `rdma link del` with the
# controller connected finishes.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"
. "$SODP_SRC/tests/lib/nvme-rdma.sh"

mrs() { rdma resource show mr dev sodp0 2> /dev/null | wc -l; }

sodp_setup
nvme_modules
trap 'nvme_host_down 2> /dev/null; nvme_target_down; sodp_teardown' EXIT
nvme_target_up 10.77.0.1
nvme_host_up 10.77.0.1
echo "connected: $nvme_ctrl, /dev/$nvme_ns, over rdma; MRs of sodp0: $(mrs)"
[ "$(mrs)" -gt 0 ] || fail "the host registered no MR"

nvme_write_verify 1 0 "$nvme_disk"
nvme_write_verify 2 1 "$nvme_disk"
nvme_write_verify 257 3 "$nvme_disk"
nvme_write_verify 1024 700 "$nvme_disk"
echo "block write/read-back verified (4 KiB to 4 MiB, direct I/O)"
nvme_fs_verify

nvme_host_down
for _ in $(seq 50); do
	[ "$(mrs)" = 0 ] && break
	sleep 0.1
done
[ "$(mrs)" = 0 ] || fail "MRs left after the disconnect: $(rdma resource show mr dev sodp0)"

# The device goes while a controller is connected: the host and the target
# let go of it (their ib clients' remove), and nothing hangs.
nvme_host_up 10.77.0.1
timeout 120 rdma link del sodp0 || fail "rdma link del with NVMe connected"
sodp_created=()
ip link del sodpnet0 2> /dev/null
for _ in $(seq 100); do
	[ -e "/sys/class/nvme/$nvme_ctrl" ] || break
	sleep 0.1
done
echo "rdma link del with a connected controller: done"
nvme disconnect -n "$nvme_nqn" > /dev/null 2>&1
nvme_target_down
trap sodp_teardown EXIT
for m in nvme-rdma nvmet-rdma; do
	modprobe -r "$m" || fail "modprobe -r $m"
done
echo "sodp-nvme: PASS"
