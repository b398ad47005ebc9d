#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Allocation failures (failslab and fail_page_alloc) aimed at our modules,
# on the debug kernel.  x86_64 has no stack-trace filter for them, so they
# are aimed by task: task-filter, and make-it-fail on
#  1. the test process around its calls into ib_umem_hmm's test driver
#     (registration, faults, prefetch, DMA mapping),
#  2. the verbs and raw fuzzers on sodp0 (every verb: PD, CQ, QP, SRQ, AH
#     and MR creation, ODP and implicit registration, modify, post),
#  3. the workers of the sodp engine and of ib_umem_hmm (their own
#     worker pools, given a priority nobody else uses): traffic, and the
#     device's ODP page faults in it.
# User pages themselves never fail (ignore-gfp-highmem): a process that
# cannot get memory is the OOM killer's business, not ours.  Each phase
# must inject failures; every call ends in success or a documented error,
# a failed transfer in an error completion; checked data is right; after
# the processes exit the device and ib_umem_hmm hold what they held before;
# then sodp0 still works.  Kernel reports and leaks are the suite's checks.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

dbg=/sys/kernel/debug
wqs=/sys/devices/virtual/workqueue
seconds=${SODP_INJECT_SECONDS:-15}
seed=${SODP_FUZZ_SEED:-$(date +%s)}
fuzz=$SODP_BUILD/tests/sodp-fuzz
[ -d "$dbg/failslab" ] && [ -d "$dbg/fail_page_alloc" ] ||
	fail "no failslab/fail_page_alloc: run on the debug kernel (tools/sodp-test-debug)"
echo "seed $seed, $seconds s per phase"

TIMES=1000000		# "times" counts down as failures are injected

# inject PERCENT: failures for tasks with make-it-fail, with that chance.
inject() {
	local a
	for a in failslab fail_page_alloc; do
		echo Y > "$dbg/$a/task-filter"
		echo N > "$dbg/$a/ignore-gfp-wait"
		echo 1 > "$dbg/$a/interval"
		echo 0 > "$dbg/$a/space"
		echo 0 > "$dbg/$a/verbose"
		echo "$TIMES" > "$dbg/$a/times"
		echo "$1" > "$dbg/$a/probability"
	done
	echo Y > "$dbg/fail_page_alloc/ignore-gfp-highmem"
	echo 0 > "$dbg/fail_page_alloc/min-order"
}

# stop_injecting: prints how many allocations were failed.
stop_injecting() {
	local a n=0
	for a in failslab fail_page_alloc; do
		echo 0 > "$dbg/$a/probability"
		n=$((n + TIMES - $(cat "$dbg/$a/times")))
	done
	echo "$n"
}

# mark_engine 0|1: make-it-fail on the workers of our workqueues' pools
# and on their rescuers.  Workers come and go: called again and again, so
# with shell builtins only (a fork per process takes seconds here).
mark_engine() {
	local pools p comm id
	pools=" $(cat "$wqs/sodp/pool_ids" "$wqs/ib_umem_hmm/pool_ids" |
		  sed 's/[0-9]*:\([0-9]*\)/\1/g' | tr '\n' ' ') "
	for p in /proc/[0-9]*; do
		read -r comm 2> /dev/null < "$p/comm" || continue
		case $comm in
		sodp | ib_umem_hmm) ;;
		kworker/u*)
			id=${comm#kworker/u}
			[[ "$pools" == *" ${id%%:*} "* ]] || continue
			;;
		*) continue ;;
		esac
		echo "$1" 2> /dev/null > "$p/make-it-fail"
	done
}

sodp_setup sodp0 sodpnet0 10.77.0.1/24
load_sodp_module umem_hmm_test
echo 0 > /proc/sys/kernel/numa_balancing
state0=$(sodp_state sodp0)

# 1. ib_umem_hmm through its test driver.
inject 10
SODP_INJECT_FAILURES=task SODP_INJECT_SECONDS=$seconds \
	"$SODP_BUILD/tests/umem-hmm-tests" alloc_failures || {
	stop_injecting > /dev/null
	fail "ib_umem_hmm under allocation failures"
}
n=$(stop_injecting)
echo "phase 1 (ib_umem_hmm test driver): $n allocations failed"
[ "$n" -gt 0 ] || fail "phase 1 injected nothing"
for stat in umems pages_mapped tracking_bytes; do
	expect_eq "umem_hmm_test_virt $stat" 0 "$(umem_hmm_stat umem_hmm_test_virt "$stat")"
done

# 2. The verbs of sodp0, from the fuzzers' own threads.
inject 5
SODP_INJECT_FAILURES=task sodp_fuzz_both "$seed" "$seconds"
n=$(stop_injecting)
echo "phase 2 (verbs and raw commands): $n allocations failed"
[ "$n" -gt 0 ] || fail "phase 2 injected nothing"
sodp_settle sodp0 "$state0" "after phase 2"

# 3. The engine: its workers alone fail, the fuzzers' traffic meets it.
echo -1 > "$wqs/sodp/nice"
echo -1 > "$wqs/ib_umem_hmm/nice"
inject 20
mark_engine 1
SODP_INJECT_FAILURES=engine sodp_fuzz_both "$((seed + 100))" "$seconds" &
pair=$!
while kill -0 "$pair" 2> /dev/null; do
	mark_engine 1
	sleep 0.5
done
wait "$pair"
rc=$?
n=$(stop_injecting)
mark_engine 0
echo 0 > "$wqs/sodp/nice"
echo 0 > "$wqs/ib_umem_hmm/nice"
[ "$rc" = 0 ] || exit "$rc"
echo "phase 3 (engine workers): $n allocations failed"
[ "$n" -gt 0 ] || fail "phase 3 injected nothing"
grep -q "transfers checked ([1-9]" /tmp/fuzz-verbs.log ||
	echo "(no checked transfer failed in phase 3)"
sodp_settle sodp0 "$state0" "after phase 3"

# Nothing failing any more: sodp0 and ib_umem_hmm work as before.
out=$("$fuzz" verbs "$((seed + 200))" 3) || fail "verbs fuzzing after the injection"
echo "$out"
grep -q "transfers checked (0 failed)" <<< "$out" ||
	fail "checked transfers fail after the injection"
"$SODP_BUILD/tests/umem-hmm-tests" data implicit || fail "ib_umem_hmm after the injection"
sodp_settle sodp0 "$state0" "at the end"
unload_sodp_modules umem_hmm_test
exit 0
