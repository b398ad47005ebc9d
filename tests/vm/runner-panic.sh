#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# A guest kernel panic is a failure (status 125) with the console tail
# printed, and it returns quickly, not at the timeout.
. "$(dirname "$0")/../lib/common.sh"

t0=$(date +%s)
err=$("$SODP_VM" -q -t 120 -- sh -c 'echo c > /proc/sysrq-trigger; sleep 300' 2>&1)
rc=$?
dt=$(($(date +%s) - t0))
echo "$err"
expect_eq "exit status" 125 "$rc"
echo "$err" | grep -q "FAIL: guest kernel panic" || fail "no panic verdict"
echo "$err" | grep -q "console tail" || fail "no console tail"
echo "$err" | grep -q "Kernel panic - not syncing: sysrq triggered crash" ||
	fail "console tail lacks the panic"
[ "$dt" -lt 100 ] || fail "took ${dt}s: waited for the timeout"
