#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# ODP on sodp0: the ODP cases, then every opcode case again with ODP MRs
# and with one implicit MR; the stock tools' ODP modes; swap on zram so
# that pages the device used can be reclaimed.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

# Automatic NUMA balancing would add invalidations the counters then see.
echo 0 > /proc/sys/kernel/numa_balancing 2>/dev/null
# Swap, so that pages the device used can be reclaimed: zram, or a loop
# device over a tmpfs file where the kernel has no zram.
if modprobe zram num_devices=1 2>/dev/null; then
	swapdev=/dev/zram0
	echo 512M > /sys/block/zram0/disksize
else
	modprobe loop 2>/dev/null
	truncate -s 512M /tmp/swapfile
	swapdev=$(losetup -f --show /tmp/swapfile) || fail "no zram, no loop"
fi
mkswap "$swapdev" > /dev/null && swapon "$swapdev" || fail "swap on $swapdev"
trap 'swapoff "$swapdev"; unload_sodp_modules umem_hmm_test; sodp_teardown' EXIT

sodp_setup
# The simulated device memory of the odp_dmem_ cases.
load_umem_hmm_test
rc=0
ops="rc_send rc_send_imm rc_write rc_write_imm rc_read rc_atomics
     rc_atomics_concurrent rc_inline_unsignaled ud_send ud_sge_max srq cq_events
     qp_ex_rc qp_ex_ud cq_ex uc_ops mw_type1 mw_type2 xrc_ops xrc_wr_ex
     xrc_shared atomic_write mcast_ud import_device"
t=$SODP_BUILD/tests/sodp-verbs-tests
# Every odp_ case runs here (they need swap), every other one in sodp-verbs.
mapfile -t odp_cases < <("$t" --list | grep '^odp_')
[ ${#odp_cases[@]} -gt 0 ] || fail "no odp_ case listed"
"$t" "${odp_cases[@]}" || rc=1
echo "== every opcode with ODP MRs"
SODP_TEST_MR=odp "$t" $ops stress_many_qps || rc=1
echo "== every opcode with one implicit MR"
SODP_TEST_MR=implicit "$t" $ops || rc=1
# The ODP benchmark's matrix, small: every opcode, every placement of ODP,
# cold and warm passes with new data each, every byte checked (a READ
# whose landing pages were busy once failed here).
echo "== the ODP benchmark matrix, 8 MiB regions"
rows=$(SODP_BENCH_MIB=8 timeout 300 "$SODP_BUILD/tools/bench/sodp-odp-bench" | wc -l)
[ "$rows" = 82 ] || { echo "FAIL: sodp-odp-bench printed $rows rows, not 82"; rc=1; }

info=$(ibv_devinfo -v -d sodp0)
for cap in ODP_SUPPORT ODP_SUPPORT_IMPLICIT SUPPORT_SEND SUPPORT_RECV \
	   SUPPORT_WRITE SUPPORT_READ SUPPORT_ATOMIC SUPPORT_SRQ; do
	echo "$info" | grep -qw "$cap" || { echo "FAIL: ibv_devinfo lacks $cap"; rc=1; }
done

# Debian's ibv_rc_pingpong with -o (ODP), -O (implicit), -P (prefetch).
for args in "-o" "-o -O" "-o -P" "-o -O -P"; do
	ibv_rc_pingpong -d sodp0 -g 1 -n 100 $args > /tmp/pp.srv 2>&1 &
	wait_listen 18515
	timeout 60 ibv_rc_pingpong -d sodp0 -g 1 -n 100 $args 127.0.0.1 > /tmp/pp.cli 2>&1 ||
		{ cat /tmp/pp.cli; echo "FAIL: ibv_rc_pingpong $args"; rc=1; }
	wait || rc=1
done
# Debian's perftest 4.5 --odp (it refuses ODP atomics itself: "ODP does
# not support ATOMICS for now", so ib_atomic_bw is not run with it).
for tool in ib_write_bw ib_read_bw ib_send_bw; do
	f0=$(sodp_counter sodp0 page_faults)
	timeout 120 $tool -d sodp0 -x 1 -F --odp -n 300 > /tmp/pt.srv 2>&1 &
	wait_listen 18515
	timeout 120 $tool -d sodp0 -x 1 -F --odp -n 300 127.0.0.1 > /tmp/pt.cli 2>&1 ||
		{ cat /tmp/pt.cli; echo "FAIL: $tool --odp"; rc=1; }
	wait || rc=1
	[ "$(sodp_counter sodp0 page_faults)" -gt "$f0" ] ||
		{ echo "FAIL: $tool --odp faulted nothing"; rc=1; }
done
exit $rc
