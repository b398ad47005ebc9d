#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# ib_umem_hmm through its test driver: every case of umem-hmm-tests, then
# the module's own counters must be back to zero and unloading must be
# clean (ib_umem_hmm_device_cleanup() warns on anything left).
. "$SODP_SRC/tests/lib/common.sh"

load_umem_hmm_test
# Automatic NUMA balancing (the guest has two nodes) unmaps and migrates
# pages at random; the cases count mappings exactly, so it is turned off
# (migration itself is tested by inval_migrate).
echo 0 > /proc/sys/kernel/numa_balancing
"$SODP_BUILD/tests/umem-hmm-tests" "$@"
rc=$?
for dev in umem_hmm_test_virt umem_hmm_test_bus; do
	for stat in umems pages_mapped tracking_bytes; do
		v=$(umem_hmm_stat "$dev" "$stat")
		[ "$v" = 0 ] || { echo "FAIL: $dev $stat = $v after the tests"; rc=1; }
	done
done
cat /sys/kernel/debug/ib_umem_hmm/umem_hmm_test_virt/stats
unload_sodp_modules umem_hmm_test ib_umem_hmm
exit $rc
