#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The verbs fuzzer on sodp0: random verb sequences and raw uverbs garbage
# (commands, ioctls, rings), two processes at once, then both again killed
# at a random moment, then the race mode: threads resetting, erroring and
# destroying QPs and replacing regions under other threads' traffic, where
# no call may hang.  Every call got a documented answer, checked data was
# right, and after the processes are gone the device and ib_umem_hmm hold
# exactly what they held before.  The seed is printed; set SODP_FUZZ_SEED
# (and SODP_FUZZ_SECONDS) to replay a run.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

seed=${SODP_FUZZ_SEED:-$(date +%s)}
seconds=${SODP_FUZZ_SECONDS:-15}
fuzz=$SODP_BUILD/tests/sodp-fuzz
sodp_setup sodp0 sodpnet0 10.77.0.1/24
echo "seed $seed, $seconds s per run"

state0=$(sodp_state sodp0)

# Both modes at once, to the end of their time.
sodp_fuzz_both "$seed" "$seconds"
grep -q "device was removed" /tmp/fuzz-verbs.log /tmp/fuzz-raw.log &&
	fail "EIO from a device that is still there"
sodp_settle sodp0 "$state0" "after the fuzzers exited"

# Killed in the middle of whatever they were doing.
for i in 1 2 3; do
	"$fuzz" verbs "$((seed + 10 + i))" 60 > /dev/null 2>&1 &
	v=$!
	"$fuzz" raw "$((seed + 20 + i))" 60 > /dev/null 2>&1 &
	r=$!
	sleep "$(awk -v s="$seed" -v i="$i" 'BEGIN { srand(s + i); printf "%.2f", 0.5 + 3 * rand() }')"
	kill -9 "$v" "$r"
	wait "$v" "$r" 2> /dev/null
	sodp_settle sodp0 "$state0" "after kill round $i"
done
echo "kill rounds: 3, back to $state0"

# Control verbs racing traffic (SEED + 2, after verbs' and raw's).  A call
# stuck for 20 s is reported and the process _exit()s, but a thread stuck
# in the kernel keeps it from going away: wait for the exit or the report.
"$fuzz" race "$((seed + 2))" "$seconds" > /tmp/fuzz-race.log 2>&1 &
p=$!
while kill -0 "$p" 2> /dev/null && ! grep -q "stuck for" /tmp/fuzz-race.log; do
	sleep 0.5
done
if grep -q "stuck for" /tmp/fuzz-race.log; then
	cat /tmp/fuzz-race.log
	fail "race fuzzing (seed $((seed + 2))): a call hung"
fi
wait "$p"
rc=$?
cat /tmp/fuzz-race.log
grep -q "device was removed" /tmp/fuzz-race.log &&
	fail "EIO from a device that is still there"
[ "$rc" = 0 ] || fail "race fuzzing (seed $((seed + 2)))"
sodp_settle sodp0 "$state0" "after the race fuzzer exited"
exit 0
