#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Devices come and go: several at once, port state follows the netdev,
# "rdma link del" with a process holding resources, deleting the netdev,
# and unloading the module with devices present.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

sodp_setup sodp0 sodpnet0 10.77.0.1/24
sodp_setup sodp1 sodpnet1 10.77.1.1/24
rdma link add sodp2 type sodp netdev sodpnet0 2>/dev/null &&
	fail "a second sodp device on the same netdev"
ibv_devices | grep -q sodp1 || fail "sodp1 not listed"

# The name of an existing device on a free netdev: refused, and the device
# that has the name is untouched (the failed add used to end in list_del
# corruption and a BUG in sodp_dealloc_driver).  The netdev is free for a
# device of another name afterwards.
ip link add sodpnet4 type dummy || fail "cannot create sodpnet4"
sodp_created+=("sodp4:sodpnet4")
ip addr add 10.77.4.1/24 dev sodpnet4
ip link set sodpnet4 up
rdma link add sodp0 type sodp netdev sodpnet4 2>/dev/null &&
	fail "a second device named sodp0"
ibv_devinfo -d sodp0 | grep -q "PORT_ACTIVE" || fail "sodp0 not active after the refused add"
SODP_TEST_DEVICE=sodp0 SODP_TEST_NETDEV=sodpnet0 "$SODP_BUILD/tests/sodp-verbs-tests" rc_write ||
	fail "traffic on sodp0 after the refused add"
rdma link add sodp4 type sodp netdev sodpnet4 || fail "rdma link add sodp4 after the refused add"
ibv_devices | grep -qw sodp4 || fail "sodp4 not listed"
rdma link del sodp4 || fail "rdma link del sodp4"
ibv_devices | grep -qw sodp4 && fail "sodp4 still listed"
ibv_devices | grep -qw sodp0 || fail "sodp0 gone with sodp4"

# Traffic between two devices of this kernel.
SODP_TEST_DEVICE=sodp1 "$SODP_BUILD/tests/sodp-verbs-tests" rc_write ud_send ||
	fail "traffic on sodp1"

# Port state follows the netdev.
ip link set sodpnet1 down
ibv_devinfo -d sodp1 | grep -q "PORT_DOWN" || fail "port not down"
ip link set sodpnet1 up
ibv_devinfo -d sodp1 | grep -q "PORT_ACTIVE" || fail "port not active again"

# rdma link del while a process holds resources (a pingpong server with
# its QP, CQ, MR and posted receives, waiting for a client): it returns at
# once, the device and its resources are gone, the process can still exit.
ibv_rc_pingpong -d sodp1 -g 1 > /tmp/bw.log 2>&1 &
bw=$!
sleep 1
[ "$(sodp_resources sodp1 | cut -d' ' -f3)" -gt 1 ] || fail "holder has no QP"
timeout 30 rdma link del sodp1 || fail "rdma link del with live resources"
ibv_devices | grep -q sodp1 && fail "sodp1 still listed"
kill "$bw"
timeout 30 tail --pid=$bw -f /dev/null || fail "holder cannot exit"

# Deleting the netdev removes its device.
ip link del sodpnet0
for _ in $(seq 50); do
	ibv_devices | grep -q sodp0 || break
	sleep 0.1
done
ibv_devices | grep -q sodp0 && fail "sodp0 outlived its netdev"

# A netdev that rxe uses too: deleting it removes both devices, whichever
# came first.  A lookup that took the first device of any driver bound to
# the netdev could see rxe's and leave sodp's, whose hold on the netdev
# then made the deletion wait for ever.
# rxe takes UDP port 4791 when its module loads up to 6.x; from 7.x on
# (per network namespace) when its first device there is added, and then
# cannot be added after a sodp device holds the port: that is refused.
modprobe rdma_rxe || fail "rdma_rxe does not load"
rxe_port_at_load=0
grep -q ":12B7 " /proc/net/udp && rxe_port_at_load=1
for order in "sodp rxe" "rxe sodp"; do
	ip link add sodpnet5 type dummy || fail "cannot create sodpnet5"
	ip addr add 10.77.5.1/24 dev sodpnet5
	ip link set sodpnet5 up
	for drv in $order; do
		if [ "$order" = "sodp rxe" ] && [ $drv = rxe ] && [ $rxe_port_at_load = 0 ]; then
			rdma link add rxe5 type rxe netdev sodpnet5 2> /dev/null &&
				fail "rxe5 added although sodp5 holds UDP port 4791"
			continue
		fi
		rdma link add ${drv}5 type $drv netdev sodpnet5 || fail "rdma link add ${drv}5"
	done
	timeout 30 ip link del sodpnet5 || fail "deleting a netdev shared with rxe ($order)"
	for _ in $(seq 50); do
		ls /sys/class/infiniband | grep -qE "sodp5|rxe5" || break
		sleep 0.1
	done
	ls /sys/class/infiniband | grep -qE "sodp5|rxe5" &&
		fail "a device outlived sodpnet5 ($order)"
done
rmmod rdma_rxe

# Unloading with a device present removes it.
sodp_setup sodp3 sodpnet3 10.77.3.1/24
unload_sodp_modules rdma_sodp
ls /sys/class/infiniband | grep -q sodp && fail "devices left after rmmod"
exit 0
