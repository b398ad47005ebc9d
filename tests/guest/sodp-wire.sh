#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# RoCEv2 on the wire, in one kernel: two network namespaces joined by veth
# pairs are two hosts as far as sodp knows (a namespace's devices reach
# another's only through UDP 4791).
#
#   sodpwA (sodpw0, 10.81.0.1) <-veth-> sodpwB (sodpw1, 10.81.0.2)
#   sodpwA (sodpw2, 10.82.0.1) <-veth-> initial namespace (rxe0, 10.82.0.2)
#
# Debian's rdma_rxe binds UDP 4791 in the initial namespace only; it must
# load here (a failure to is a failure of this test).  Then: every opcode
# both ways, data checked (sodp-wire-xfer), with pinned, ODP and implicit
# ODP memory on the sodp sides and page_faults rising there; stock tools
# (ibverbs pingpongs, UC's with its data checked, XRC's sodp to sodp,
# perftest with --odp, rdma_cm's rping, ucmatose and
# udaddy) sodp to sodp, sodp to rxe and rxe to sodp; loss, duplication,
# reordering and corruption (netem) with the counters that show the
# retransmissions and the ICRC at work; a peer gone: IBV_WC_RETRY_EXC_ERR.
# timeout-factor: 3
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

X=$SODP_BUILD/tests/sodp-wire-xfer
PT=$SODP_BUILD/perftest/patched
nsA="ip netns exec sodpwA"
nsB="ip netns exec sodpwB"

wire_cleanup() {
	rdma link del rxe0 2> /dev/null
	for d in sodpw0 sodpw1 sodpw2; do rdma link del $d 2> /dev/null; done
	ip netns del sodpwA 2> /dev/null
	ip netns del sodpwB 2> /dev/null
	ip link del sodpwI 2> /dev/null
	modprobe -r rdma_rxe 2> /dev/null
	sodp_teardown
}
trap wire_cleanup EXIT

# No sodp device may hold UDP 4791 in this namespace when rxe loads.
modprobe rdma_rxe || fail "rdma_rxe does not load"
grep -q "^rdma_sodp " /proc/modules || sodp_loaded_module=1
load_sodp_module rdma_sodp
export RDMAV_DRIVERS=$SODP_BUILD/providers/sodp/libsodp

ip netns add sodpwA && ip netns add sodpwB || fail "ip netns add"
ip link add sodpwa0 type veth peer name sodpwb0 || fail "veth"
ip link set sodpwa0 netns sodpwA && ip link set sodpwb0 netns sodpwB
ip link add sodpwa2 type veth peer name sodpwI || fail "veth"
ip link set sodpwa2 netns sodpwA
$nsA ip addr add 10.81.0.1/24 dev sodpwa0
$nsA ip addr add fd83::1/64 dev sodpwa0 nodad
$nsB ip addr add fd83::2/64 dev sodpwb0 nodad
$nsA ip addr add 10.82.0.1/24 dev sodpwa2
$nsB ip addr add 10.81.0.2/24 dev sodpwb0
ip addr add 10.82.0.2/24 dev sodpwI
for l in lo sodpwa0 sodpwa2; do $nsA ip link set $l up; done
for l in lo sodpwb0; do $nsB ip link set $l up; done
ip link set sodpwI up
$nsA rdma link add sodpw0 type sodp netdev sodpwa0 || fail "rdma link add sodpw0"
$nsB rdma link add sodpw1 type sodp netdev sodpwb0 || fail "rdma link add sodpw1"
$nsA rdma link add sodpw2 type sodp netdev sodpwa2 || fail "rdma link add sodpw2"
rdma link add rxe0 type rxe netdev sodpwI || fail "rdma link add rxe0"
for d in sodpw0 sodpw1 sodpw2 rxe0; do
	for _ in $(seq 50); do
		grep -q "0000:0000:0000:0000:0000:ffff" /sys/class/infiniband/$d/ports/1/gids/* \
			2> /dev/null && break
		sleep 0.1
	done
done
dmesg | grep -E "sodp: sodpwa0|sodp: sodpwb0|sodp: sodpwa2" | grep -q "RoCEv2 off" &&
	fail "a sodp device has no wire"

cnt() { sodp_counter "$1" "$2"; }

# xfer DEV_A MODE_A DEV_B MODE_B [LENGTHS]: sodp-wire-xfer must pass.
xfer() {
	timeout 600 "$X" "$@" > /tmp/xfer.log 2>&1 || { cat /tmp/xfer.log; fail "wire-xfer $*"; }
	tail -n 1 /tmp/xfer.log
}

# checked NS IFNAME COMMAND...: run COMMAND while sodp-roce-check reads
# every RoCEv2 packet on IFNAME (in namespace NS), both ways: all must be
# right (ICRC, headers, DF, UDP checksum 0, pad).
checked() {
	local ns=$1 ifn=$2 chk
	shift 2
	ip netns exec "$ns" "$SODP_BUILD/tests/sodp-roce-check" "$ifn" 1200 > /tmp/chk.log 2>&1 &
	chk=$!
	sleep 1
	"$@"
	kill -TERM $chk
	wait $chk || { cat /tmp/chk.log; fail "packets on $ifn"; }
	cat /tmp/chk.log
}

# Every opcode, both ways, sodp to sodp and sodp to rxe; the devices fault
# the ODP pages they touch (zapped before every transfer).
checked sodpwA sodpwa0 xfer sodpw0 pinned sodpw1 pinned 0,1,1023,1024,1025,65537
checked sodpwA sodpwa2 xfer sodpw2 pinned rxe0 pinned 0,1,1023,1024,1025,65537
for m in "sodpw0 pinned sodpw1 pinned" "sodpw0 odp sodpw1 implicit" \
	 "sodpw0 implicit sodpw1 odp"; do
	f0=$(cnt sodpw0 page_faults) f1=$(cnt sodpw1 page_faults)
	xfer $m
	set -- $m
	[ "$2" = pinned ] || [ "$(cnt sodpw0 page_faults)" -gt "$f0" ] ||
		fail "$m: no page faults on sodpw0"
	[ "$4" = pinned ] || [ "$(cnt sodpw1 page_faults)" -gt "$f1" ] ||
		fail "$m: no page faults on sodpw1"
done
# XRC: the RC opcodes again between XRC initiator and target QPs (the
# XRCETH, XRC's request and response opcodes), packets checked.
SODP_WIRE_XRC=1 checked sodpwA sodpwa0 xfer sodpw0 odp sodpw1 pinned 0,1,1023,1025,65537
SODP_WIRE_XRC=1 xfer sodpw0 implicit sodpw1 odp 0,1025,65537
# Over IPv6 too.
for d in sodpw0 sodpw1; do
	for _ in $(seq 50); do
		grep -q "^fd83:" /sys/class/infiniband/$d/ports/1/gids/* 2> /dev/null && break
		sleep 0.1
	done
done
SODP_WIRE_IPV6=1 checked sodpwA sodpwa0 xfer sodpw0 odp sodpw1 pinned 0,1,1025,65537
for mode in pinned odp implicit; do
	f=$(cnt sodpw2 page_faults)
	xfer sodpw2 $mode rxe0 pinned
	[ $mode = pinned ] || [ "$(cnt sodpw2 page_faults)" -gt "$f" ] ||
		fail "sodpw2 $mode with rxe0: no page faults"
done
for d in sodpw0 sodpw1 sodpw2; do
	expect_eq "$d ICRC errors on a clean link" 0 "$(cnt $d rcvd_icrc_err)"
done

# tool NAME SERVER-NS SERVER-CMD CLIENT-NS CLIENT-CMD: both must succeed.
# A namespace of "-" is the initial one.
tool() {
	local name=$1 sns=$2 scmd=$3 cns=$4 ccmd=$5 srv
	[ "$sns" = - ] && sns="" || sns="ip netns exec $sns"
	[ "$cns" = - ] && cns="" || cns="ip netns exec $cns"
	$sns timeout 120 $scmd > /tmp/tool.srv 2>&1 &
	srv=$!
	sleep 2
	$cns timeout 120 $ccmd > /tmp/tool.cli 2>&1
	tool_ok "$ccmd" $? /tmp/tool.cli 20 ||
		{ cat /tmp/tool.cli /tmp/tool.srv; fail "$name: client"; }
	wait $srv
	tool_ok "$scmd" $? /tmp/tool.srv 0 || { cat /tmp/tool.srv; fail "$name: server"; }
	echo "$name: ok"
}

# SERVER-NS SERVER-DEV SERVER-IP CLIENT-NS CLIENT-DEV
pairs=("sodpwB sodpw1 10.81.0.2 sodpwA sodpw0"
       "sodpwA sodpw2 10.82.0.1 - rxe0"
       "- rxe0 10.82.0.2 sodpwA sodpw2")
for p in "${pairs[@]}"; do
	set -- $p
	tool "$5->$2 ibv_rc_pingpong" "$1" "ibv_rc_pingpong -d $2 -g 1 -n 50 -s 4099" \
		"$4" "ibv_rc_pingpong -d $5 -g 1 -n 50 -s 4099 $3"
	tool "$5->$2 ibv_ud_pingpong" "$1" "ibv_ud_pingpong -d $2 -g 1 -n 50 -s 1000" \
		"$4" "ibv_ud_pingpong -d $5 -g 1 -n 50 -s 1000 $3"
	tool "$5->$2 ibv_uc_pingpong" "$1" "ibv_uc_pingpong -d $2 -g 1 -n 50 -s 4099 -c" \
		"$4" "ibv_uc_pingpong -d $5 -g 1 -n 50 -s 4099 -c $3"
	for t in ib_write_bw ib_read_bw ib_send_bw ib_atomic_bw ib_write_lat; do
		tool "$5->$2 $t" "$1" "$t -d $2 -x 1 -F -n 200" "$4" "$t -d $5 -x 1 -F -n 200 $3"
	done
done
# XRC, sodp to sodp (Debian 12's rxe has none), every packet checked.
checked sodpwA sodpwa0 tool "sodpw0->sodpw1 ibv_xsrq_pingpong" \
	sodpwB "ibv_xsrq_pingpong -d sodpw1 -g 1 -n 50 -s 4099" \
	sodpwA "ibv_xsrq_pingpong -d sodpw0 -g 1 -n 50 -s 4099 10.81.0.2"
tool "sodpw0->sodpw1 ibv_xsrq_pingpong -o" \
	sodpwB "ibv_xsrq_pingpong -d sodpw1 -g 1 -n 50 -s 65536 -m 1024 -o" \
	sodpwA "ibv_xsrq_pingpong -d sodpw0 -g 1 -n 50 -s 65536 -m 1024 -o 10.81.0.2"
for t in ib_write_bw ib_read_bw ib_send_bw ib_atomic_bw; do
	tool "sodpw0->sodpw1 $t --odp" sodpwB "$PT/$t -d sodpw1 -x 1 -F -n 200 --odp" \
		sodpwA "$PT/$t -d sodpw0 -x 1 -F -n 200 --odp 10.81.0.2"
done
# UD multicast on the wire: mckey's receiver joins 239.2.2.2 (IGMP on its
# netdev), the sender's messages cross the veth to it.
tool "sodpw0->sodpw1 mckey" sodpwB "mckey -m 239.2.2.2 -b 10.81.0.2 -C 20" \
	sodpwA "mckey -m 239.2.2.2 -b 10.81.0.1 -s -C 20"
grep -q "data transfers complete" /tmp/tool.srv || fail "mckey receiver output"
for p in "sodpwB 10.81.0.2 sodpwA" "sodpwA 10.82.0.1 -" "- 10.82.0.2 sodpwA"; do
	set -- $p
	tool "rping to $2" "$1" "rping -s -a $2 -V -C 20 -S 2000" "$3" "rping -c -a $2 -V -C 20 -S 2000 -v"
	tool "ucmatose to $2" "$1" "ucmatose -c 2 -C 10" "$3" "ucmatose -s $2 -c 2 -C 10"
	tool "udaddy to $2" "$1" "udaddy -c 2 -C 10" "$3" "udaddy -s $2 -c 2 -C 10"
done

# A lossy wire, both directions of the sodp pair: every transfer completes
# with the right data; the counters show how.
netem() {
	$nsA tc qdisc replace dev sodpwa0 root netem "$@" || fail "netem $*"
	$nsB tc qdisc replace dev sodpwb0 root netem "$@" || fail "netem $*"
}
retrans() {
	echo $(($(cnt sodpw0 completer_retry_err) + $(cnt sodpw1 completer_retry_err) +
		$(cnt sodpw0 rcvd_seq_err) + $(cnt sodpw1 rcvd_seq_err)))
}
netem_kinds=("loss 1%" "loss 10%" "duplicate 10%" "delay 1ms reorder 75% 50%" "corrupt 10%")
# (The debug kernel is built without sch_netem.)
modprobe sch_netem 2> /dev/null || { echo "no sch_netem: lossy wire not tested"; netem_kinds=(); }
for e in "${netem_kinds[@]}"; do
	r0=$(retrans) d0=$(($(cnt sodpw0 duplicate_request) + $(cnt sodpw1 duplicate_request)))
	i0=$(($(cnt sodpw0 rcvd_icrc_err) + $(cnt sodpw1 rcvd_icrc_err)))
	netem $e
	echo "netem $e:"
	xfer sodpw0 odp sodpw1 pinned 0,1,1025,65537
	r=$(($(retrans) - r0))
	d=$(($(cnt sodpw0 duplicate_request) + $(cnt sodpw1 duplicate_request) - d0))
	i=$(($(cnt sodpw0 rcvd_icrc_err) + $(cnt sodpw1 rcvd_icrc_err) - i0))
	echo "  retransmissions and sequence NAKs $r, duplicates $d, ICRC errors $i"
	case $e in
	loss*|delay*) [ "$r" -gt 0 ] || fail "$e: nothing was sent again" ;;
	duplicate*) [ "$d" -gt 0 ] || fail "$e: no duplicate seen" ;;
	corrupt*) [ "$i" -gt 0 ] || fail "$e: no ICRC error caught" ;;
	esac
done

# Answers later than the QP's timeout (B's side delayed): the requester
# goes back, then ACKs come that acknowledge more than it has sent again
# since; it takes them and goes on.
if [ ${#netem_kinds[@]} -gt 0 ]; then
	$nsA tc qdisc del dev sodpwa0 root
	$nsB tc qdisc replace dev sodpwb0 root netem delay 100ms || fail "netem delay"
	r0=$(cnt sodpw0 completer_retry_err)
	for t in ib_write_bw ib_read_bw; do
		tool "$t, answers late" sodpwB "$t -d sodpw1 -x 1 -F -n 20 -s 16384" \
			sodpwA "$t -d sodpw0 -x 1 -F -n 20 -s 16384 10.81.0.2"
	done
	[ "$(cnt sodpw0 completer_retry_err)" -gt "$r0" ] || fail "answers late: no timeout"
fi

# The peer gone (its process killed: its QP destroyed; packets to it
# are dropped): the requester gives up after its retries.
$nsA tc qdisc del dev sodpwa0 root 2> /dev/null
$nsB tc qdisc del dev sodpwb0 root 2> /dev/null
q0=$(cnt sodpw1 rcvd_dropped_qp)
r0=$(cnt sodpw0 completer_retry_err)
"$X" sodpw0 pinned sodpw1 pinned lost || fail "no IBV_WC_RETRY_EXC_ERR with the peer gone"
expect_eq "retry_exceeded_err" 1 "$(cnt sodpw0 retry_exceeded_err)"
expect_eq "retransmissions before giving up (retry_cnt)" 7 \
	"$(($(cnt sodpw0 completer_retry_err) - r0))"
[ "$(cnt sodpw1 rcvd_dropped_qp)" -gt "$q0" ] || fail "sodpw1 did not count the packets to no QP"
exit 0
