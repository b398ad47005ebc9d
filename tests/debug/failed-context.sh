#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Processes whose context creation fails must not leak.  ib_core's
# resource tracking takes a reference on the task that asks for a
# context; Linux 6.1 drops it when GET_CONTEXT fails on the write path but
# not on the ioctl path (what libibverbs uses), so every such process left
# its task_struct, signal_struct and creds behind (kmemleak, found by the
# fuzzers: their garbage, and failed allocations, make context creation
# fail).  The debug kernel carries the fix
# (tools/debug-kernel/patches/0001-*.patch); this test fails without it.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

kml=/sys/kernel/debug/kmemleak
processes=20
[ -w "$kml" ] || fail "no kmemleak: run on the debug kernel (tools/sodp-test-debug)"
sodp_setup sodp0 sodpnet0 10.77.0.1/24

# task_leaks: leaked task_structs (allocated right in copy_process, where
# dup_task_struct is inlined), after a scan.
task_leaks() {
	echo scan > "$kml"
	awk '/^unreferenced object/ { obj = 1 }
	     obj && /backtrace:/ { first = 1; next }
	     first { if (/ (copy_process|dup_task_struct)\+/) n++; obj = first = 0 }
	     END { print n + 0 }' "$kml"
}

before=$(task_leaks)
"$SODP_BUILD/tests/sodp-failed-context" sodp0 "$processes" ||
	fail "GET_CONTEXT did not fail as documented"
# kmemleak leaves objects younger than 5 s alone, and exited tasks are
# freed after an RCU grace period.
sleep 6
task_leaks > /dev/null
after=$(task_leaks)
[ "$after" = "$before" ] ||
	fail "$((after - before)) task_structs of the $processes processes leaked"
echo "$processes processes, each refused a context twice (driver and ib_core): no task leaked"
