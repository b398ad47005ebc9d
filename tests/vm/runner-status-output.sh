#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The guest command's output and exit status come back; the results folder
# is writable from the guest and holds the guest's dmesg afterwards.
. "$(dirname "$0")/../lib/common.sh"

r=$(mktemp -d)
trap 'rm -rf "$r"' EXIT
out=$("$SODP_VM" -q -t 120 -r "$r" -- sh -c \
	'echo "out: $(uname -r) $SODP_GUEST"; echo written > $SODP_RESULTS/file; echo to-stderr >&2; exit 7')
rc=$?
echo "$out"
expect_eq "exit status" 7 "$rc"
echo "$out" | grep -qx "out: $(ls /lib/modules | sort -V | tail -n 1) 1" ||
	echo "$out" | grep -q "^out: .* 1$" || fail "stdout missing"
echo "$out" | grep -qx "to-stderr" || fail "stderr missing"
expect_eq "guest wrote results" written "$(cat "$r/file")"
grep -q "sodp-vm: command end, status 7" "$r/dmesg" || fail "dmesg not saved"

# A command that succeeds gives 0, and the guest root is read-only.
"$SODP_VM" -q -t 120 -- sh -c '! touch /usr/sodp-ro-test 2>/dev/null && touch /tmp/x' ||
	fail "status 0 / read-only root"
