#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# rdma-core's own test suite (Debian's python3-pyverbs, its tests in
# /usr/share/doc/rdma-core/tests) on sodp0, made on the guest's virtio NIC
# (the rdma_cm tests look for the netdev under the device's device/net/).
# No test may fail or error, and every skip must have a known reason
# (pyverbs-run.py judges the run).
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

suite=/usr/share/doc/rdma-core/tests
[ -f "$suite/run_tests.py" ] || fail "python3-pyverbs is not installed"
nd=eth0
modprobe virtio_net 2> /dev/null
for _ in $(seq 50); do
	[ -e /sys/class/net/$nd ] && break
	sleep 0.1
done
[ -e /sys/class/net/$nd/device ] || fail "$nd: no NIC with a device (run with --net user)"

nr_huge=$(cat /proc/sys/vm/nr_hugepages)
cleanup() {
	echo "$nr_huge" > /proc/sys/vm/nr_hugepages
	ip addr del 10.79.0.1/24 dev $nd 2>/dev/null
	sodp_teardown
}
trap cleanup EXIT

grep -q "^rdma_sodp " /proc/modules || sodp_loaded_module=1
load_sodp_module rdma_sodp
ip addr add 10.79.0.1/24 dev $nd
ip link set $nd up
rdma link add sodp0 type sodp netdev $nd || fail "rdma link add sodp0"
sodp_created+=("sodp0:")
export RDMAV_DRIVERS=$SODP_BUILD/providers/sodp/libsodp
gid=
for _ in $(seq 50); do
	for f in /sys/class/infiniband/sodp0/ports/1/gids/*; do
		grep -q '0000:0000:0000:0000:0000:ffff:0a4f:0001' "$f" 2>/dev/null &&
			gid=$(basename "$f") && break 2
	done
	sleep 0.1
done
[ -n "$gid" ] || fail "sodp0 has no GID of 10.79.0.1"
[ -e /sys/class/infiniband/sodp0/device/net/$nd ] || fail "sodp0's device/net/ lacks $nd"
# The huge page tests of the ODP and parent domain cases.
echo 16 > /proc/sys/vm/nr_hugepages

work=$(mktemp -d)
cp -r "$suite" "$work/" && gunzip -f "$work"/tests/*.gz
timeout 900 python3 "$SODP_SRC/tests/guest/pyverbs-run.py" "$work/tests" sodp0 "$gid" \
	> "$work/pyverbs.log" 2>&1
rc=$?
sed -n '/^pyverbs on /,$p' "$work/pyverbs.log"
if [ "$rc" != 0 ]; then
	grep -E -A25 '^(FAIL|ERROR):' "$work/pyverbs.log" | head -n 150
	fail "pyverbs (status $rc)"
fi
