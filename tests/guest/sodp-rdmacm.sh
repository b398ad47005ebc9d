#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Debian's rdmacm-utils on sodp0: connection management MADs go through
# the GSI QP and the engine; rping verifies its data; rdma_xserver gets
# rdma_xclient's message over RC and XRC; mckey's multicast reaches two
# receivers that joined its group.  Then our own rdma_cm
# application over ODP memory (an explicit, then an implicit region): its
# data checked, and the device's page_faults and page_prefetch counters
# show that the device mapped the never-touched memory on demand (2 x 2 MiB
# per side), by faults or ahead of a write stream.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

sodp_setup
# cm NAME SERVER-ARGS -- CLIENT-ARGS
cm() {
	local tool=$1 srv sargs=() cargs=()
	shift
	while [ "$1" != -- ]; do sargs+=("$1"); shift; done
	shift
	cargs=("$@")
	timeout 60 "$tool" "${sargs[@]}" > /tmp/$tool.srv 2>&1 &
	srv=$!
	# rdma_cm ports are not TCP ports: give the server time to listen.
	sleep 1
	timeout 60 "$tool" "${cargs[@]}" > /tmp/$tool.cli 2>&1
	tool_ok "$tool" $? /tmp/$tool.cli 50 || { cat /tmp/$tool.cli; fail "$tool client"; }
	wait "$srv"
	tool_ok "$tool" $? /tmp/$tool.srv 0 || { cat /tmp/$tool.srv; fail "$tool server"; }
	tail -n 2 /tmp/$tool.cli
}
cm rping -s -a 10.77.0.1 -V -C 50 -S 4000 -- -c -a 10.77.0.1 -V -C 50 -S 4000 -v
cm ucmatose -c 4 -C 20 -- -s 10.77.0.1 -c 4 -C 20
cm udaddy -c 4 -C 20 -- -s 10.77.0.1 -c 4 -C 20

# rdma_xserver/rdma_xclient: librdmacm's endpoint API (rdma_create_ep),
# RC and XRC; an XRC server makes a target QP, then an SRQ and a region
# with the PD librdmacm takes from that QP.  A message from the client
# must complete at the server (it waits for it).
xcm() {
	local srv
	timeout 60 rdma_xserver -p "$2" -c "$1" > /tmp/xserver.log 2>&1 &
	srv=$!
	sleep 1
	timeout 60 rdma_xclient -s 10.77.0.1 -p "$2" -c "$1" > /tmp/xclient.log 2>&1 ||
		{ cat /tmp/xclient.log /tmp/xserver.log; fail "rdma_xclient -c $1"; }
	wait "$srv" || { cat /tmp/xserver.log; fail "rdma_xserver -c $1"; }
	grep -q "end 0" /tmp/xserver.log && grep -q "end 0" /tmp/xclient.log ||
		{ cat /tmp/xclient.log /tmp/xserver.log; fail "rdma_x* -c $1: no clean end"; }
	echo "rdma_xserver/rdma_xclient -c $1: the message received"
}
xcm r 7472
xcm x 7473

# mckey: two receivers join 239.1.1.1 (IGMP, ibv_attach_mcast); each gets
# every one of the sender's messages (a receiver waits for all of them).
mckey_rcv=()
for r in 1 2; do
	timeout 60 mckey -m 239.1.1.1 -b 10.77.0.1 -C 20 > /tmp/mckey.r$r 2>&1 &
	mckey_rcv+=($!)
done
sleep 1
timeout 60 mckey -m 239.1.1.1 -b 10.77.0.1 -s -C 20 > /tmp/mckey.s 2>&1 ||
	{ cat /tmp/mckey.s; fail "mckey sender"; }
for r in 1 2; do
	wait "${mckey_rcv[$((r - 1))]}" || { cat /tmp/mckey.r$r; fail "mckey receiver $r"; }
	grep -q "data transfers complete" /tmp/mckey.r$r || fail "mckey receiver $r output"
done
echo "mckey: 20 messages to 239.1.1.1, both receivers got them"

# cm_odp [implicit]
cm_odp() {
	local faults0 srv
	# Mapped on demand: by faults, or ahead of a write stream (page_prefetch).
	faults0=$(($(sodp_counter sodp0 page_faults) + $(sodp_counter sodp0 page_prefetch)))
	"$SODP_BUILD/tests/sodp-cm-odp" server 10.77.0.1 7471 "$@" > /tmp/cm-odp.srv 2>&1 &
	srv=$!
	for _ in $(seq 100); do
		grep -q listening /tmp/cm-odp.srv && break
		sleep 0.1
	done
	timeout 60 "$SODP_BUILD/tests/sodp-cm-odp" client 10.77.0.1 7471 "$@" ||
		{ cat /tmp/cm-odp.srv; fail "sodp-cm-odp client $*"; }
	wait "$srv" || { cat /tmp/cm-odp.srv; fail "sodp-cm-odp server $*"; }
	cat /tmp/cm-odp.srv
	local faulted=$(($(sodp_counter sodp0 page_faults) + $(sodp_counter sodp0 page_prefetch) - faults0))
	echo "sodp-cm-odp $*: $faulted pages mapped on demand by the device"
	[ "$faulted" -ge 1024 ] || fail "sodp-cm-odp $*: only $faulted pages mapped on demand"
}
cm_odp
cm_odp implicit
