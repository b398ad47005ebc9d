#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Teardown while busy: the fuzzer and ODP churn traffic run, then the
# device goes away under them: "rdma link del", or the module unloaded
# (its users are disassociated, as on hardware).  Every process gets out
# in bounded time, and nothing stays behind.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

seed=${SODP_FUZZ_SEED:-$(date +%s)}
echo "seed $seed"

# busy NAME: start traffic on device NAME; pids in $pids.
busy() {
	pids=()
	SODP_TEST_DEVICE=$1 "$SODP_BUILD/tests/sodp-fuzz" verbs "$seed" 60 > /dev/null 2>&1 &
	pids+=($!)
	SODP_TEST_DEVICE=$1 "$SODP_BUILD/tests/sodp-fuzz" raw "$((seed + 1))" 60 > /dev/null 2>&1 &
	pids+=($!)
	SODP_TEST_DEVICE=$1 SODP_CHURN_SECONDS=60 \
		"$SODP_BUILD/tests/sodp-verbs-tests" odp_churn > /dev/null 2>&1 &
	pids+=($!)
	sleep "$(awk -v s="$seed$2" 'BEGIN { srand(s); printf "%.2f", 1 + 2 * rand() }')"
}

# gone: the processes end by themselves once their device is gone.
gone() {
	local p
	for p in "${pids[@]}"; do
		timeout 60 tail --pid="$p" -f /dev/null || fail "process $p still running 60 s after $1"
	done
}

for round in 1 2 3; do
	sodp_setup "sodp$round" "stormnet$round" "10.78.$round.1/24"
	busy "sodp$round" "$round"
	if [ "$round" = 2 ]; then
		how="rmmod rdma_sodp"
		timeout 30 rmmod rdma_sodp || fail "rmmod rdma_sodp while busy"
	else
		how="rdma link del sodp$round"
		timeout 30 rdma link del "sodp$round" || fail "$how while busy"
	fi
	ls /sys/class/infiniband | grep -q "sodp$round" && fail "sodp$round still there after $how"
	gone "$how"
	sodp_teardown
	echo "round $round: $how under 3 busy processes; all exited"
done

# With nobody left, the modules unload, and ib_umem_hmm held nothing.
unload_sodp_modules rdma_sodp ib_umem_hmm
exit 0
