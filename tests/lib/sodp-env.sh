# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Guest tests on an sodp device: load rdma_sodp, create sodp0 on a dummy
# netdev (10.77.0.1/24) and point libibverbs at the provider in the build
# tree.  Source after common.sh.

sodp_created=()
sodp_loaded_module=0

# Remove what sodp_setup made, the module too if it loaded it (tests share
# one guest: the next one finds the kernel as this one did).
sodp_teardown() {
	local entry
	for entry in "${sodp_created[@]}"; do
		rdma link del "${entry%%:*}" 2>/dev/null
		ip link del "${entry#*:}" 2>/dev/null
	done
	sodp_created=()
	if [ "$sodp_loaded_module" = 1 ]; then
		sodp_loaded_module=0
		rmmod rdma_sodp 2>/dev/null
	fi
}
trap sodp_teardown EXIT

# sodp_setup [NAME [NETDEV [ADDR]]]
sodp_setup() {
	local name=${1:-sodp0} nd=${2:-sodpnet0} addr=${3:-10.77.0.1/24}

	grep -q "^rdma_sodp " /proc/modules || sodp_loaded_module=1
	load_sodp_module rdma_sodp
	ip link add "$nd" type dummy || fail "cannot create $nd"
	sodp_created+=("$name:$nd")
	ip addr add "$addr" dev "$nd"
	ip link set "$nd" up
	rdma link add "$name" type sodp netdev "$nd" || fail "rdma link add $name"
	export RDMAV_DRIVERS=$SODP_BUILD/providers/sodp/libsodp
	export SODP_TEST_DEVICE=$name SODP_TEST_NETDEV=$nd
	# The GID table fills asynchronously from the netdev's addresses.
	for _ in $(seq 50); do
		grep -q "0000:0000:0000:0000:0000:ffff" \
			/sys/class/infiniband/"$name"/ports/1/gids/* 2>/dev/null && return 0
		sleep 0.1
	done
	fail "$name has no IPv4 GID"
}

# sodp_resources NAME: "pd cq qp mr" counts of the device (rdma netlink)
sodp_resources() {
	rdma resource show "$1" | sed -n 's/.* pd \([0-9]*\) cq \([0-9]*\) qp \([0-9]*\) cm_id [0-9]* mr \([0-9]*\).*/\1 \2 \3 \4/p'
}

# sodp_counter DEVICE NAME: a hw counter of port 1 (sysfs)
sodp_counter() {
	cat "/sys/class/infiniband/$1/ports/1/hw_counters/$2"
}

# sodp_state NAME: what the device holds: its resource counts, and the
# umems and mapped pages of its ib_umem_hmm device.
sodp_state() {
	echo "resources '$(sodp_resources "$1")', umems $(umem_hmm_stat "$1" umems), pages mapped $(umem_hmm_stat "$1" pages_mapped)"
}

# sodp_settle NAME STATE WHAT: wait (10 s at most) until the device holds
# STATE again (destruction after a process exits is the kernel's), or fail.
sodp_settle() {
	for _ in $(seq 100); do
		[ "$(sodp_state "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	fail "$3: left $(sodp_state "$1") (before: $2)"
}

# sodp_fuzz_both SEED SECONDS: sodp-fuzz in verbs mode (SEED) and raw mode
# (SEED + 1) at once on $SODP_TEST_DEVICE, to the end of their time; logs in
# /tmp/fuzz-{verbs,raw}.log; fails on a violation.
sodp_fuzz_both() {
	local fuzz=$SODP_BUILD/tests/sodp-fuzz v r rv rr
	"$fuzz" verbs "$1" "$2" > /tmp/fuzz-verbs.log 2>&1 &
	v=$!
	"$fuzz" raw "$(($1 + 1))" "$2" > /tmp/fuzz-raw.log 2>&1 &
	r=$!
	wait "$v"; rv=$?
	wait "$r"; rr=$?
	cat /tmp/fuzz-verbs.log /tmp/fuzz-raw.log
	[ "$rv" = 0 ] || fail "verbs fuzzing (seed $1)"
	[ "$rr" = 0 ] || fail "raw fuzzing (seed $(($1 + 1)))"
}
