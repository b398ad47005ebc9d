#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The provider under AddressSanitizer (tools/sodp-build's second tree,
# $SODP_BUILD/asan): libibverbs loads the instrumented libsodp for the verbs
# tests and for each mode of the fuzzer.  A read or write of freed or
# unowned memory in user space (the provider's, or a test's) and, after
# the verbs tests, memory nobody freed are reported by ASan and fail the
# test: the kernel's own checks see none of them.  (The fuzzer leaves its
# objects for the kernel to clean up at exit: no leak check there.)  The
# fuzzer's seed is printed; set SODP_FUZZ_SEED (and SODP_FUZZ_SECONDS) to
# replay a run.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

asan=$SODP_BUILD/asan
[ -x "$asan/tests/sodp-verbs-tests" ] && [ -x "$asan/tests/sodp-fuzz" ] ||
	fail "no AddressSanitizer build in $asan (tools/sodp-build makes it)"
seed=${SODP_FUZZ_SEED:-$(date +%s)}
seconds=${SODP_FUZZ_SECONDS:-4}
sodp_setup sodp0 sodpnet0 10.77.0.1/24
export RDMAV_DRIVERS=$asan/providers/sodp/libsodp
# Every report ends the process with status 99, told apart from a test's own.
asan_options=exitcode=99:abort_on_error=0
state0=$(sodp_state sodp0)

# run LOG CMD...: CMD's status; its output in LOG, shown when ASan spoke.
# A provider libibverbs could not load (then it would use another): 98.
run() {
	local log=$1 rc
	shift
	"$@" > "$log" 2>&1
	rc=$?
	if grep -q "couldn't load driver" "$log"; then
		grep -m3 "couldn't load driver" "$log"
		rc=98
	fi
	if grep -q "Sanitizer" "$log"; then
		grep -B5 -A40 -m1 "ERROR: .*Sanitizer" "$log"
		rc=99
	fi
	return "$rc"
}

# The odp_ cases need swap and run in sodp-odp.
mapfile -t cases < <("$asan/tests/sodp-verbs-tests" --list | grep -v '^odp_')
ASAN_OPTIONS=$asan_options:detect_leaks=1 \
	run /tmp/asan-verbs.log "$asan/tests/sodp-verbs-tests" "${cases[@]}"
rc=$?
tail -n 3 /tmp/asan-verbs.log
[ "$rc" = 0 ] || fail "verbs tests under ASan (status $rc, log above)"
sodp_settle sodp0 "$state0" "after the verbs tests"

i=0
for mode in verbs raw race; do
	s=$((seed + i++))
	ASAN_OPTIONS=$asan_options:detect_leaks=0 \
		run /tmp/asan-fuzz-$mode.log "$asan/tests/sodp-fuzz" "$mode" "$s" "$seconds"
	rc=$?
	tail -n 2 /tmp/asan-fuzz-$mode.log
	[ "$rc" = 0 ] || fail "$mode fuzzing under ASan (seed $s, status $rc)"
	sodp_settle sodp0 "$state0" "after $mode fuzzing"
done
echo "verbs tests and fuzzing (seed $seed, $seconds s a mode): no report"
exit 0
