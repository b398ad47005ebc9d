#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# A kernel report in the guest's dmesg after the command started fails the
# run even when the command itself succeeds.
. "$(dirname "$0")/../lib/common.sh"

err=$("$SODP_VM" -q -t 120 -- sh -c \
	'echo "WARNING: CPU: 0 PID: 1 at sodp-injected-report" > /dev/kmsg' 2>&1)
rc=$?
echo "$err"
expect_eq "exit status" 125 "$rc"
echo "$err" | grep -q "sodp-injected-report" || fail "report not printed"
echo "$err" | grep -q "FAIL: kernel reported a problem" || fail "no verdict"
