#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# A guest that never finishes is killed at the timeout: status 124 with the
# console tail, never a hang of the caller.
. "$(dirname "$0")/../lib/common.sh"

t0=$(date +%s)
err=$("$SODP_VM" -q -t 25 -- sleep 100000 2>&1)
rc=$?
dt=$(($(date +%s) - t0))
echo "$err"
expect_eq "exit status" 124 "$rc"
echo "$err" | grep -q "timed out after 25s" || fail "no timeout verdict"
echo "$err" | grep -q "console tail" || fail "no console tail"
[ "$dt" -lt 45 ] || fail "took ${dt}s for a 25s timeout"
