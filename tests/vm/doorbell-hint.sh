#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The verbs tests where the kernel's work has a CPU beside the poster: a
# guest of two CPUs in one NUMA node (the suite's guest has a node per
# CPU, where a stream of posts runs in its doorbells).  So every case runs
# with streams handed to the work too, and doorbell_hint,
# doorbell_hint_faulting and doorbell_hint_read_faults measure the hint: a
# warm stream rings rarely, one that faults pages in for writing runs in
# its doorbells, one that faults them in for reading only rings rarely.
. "$(dirname "$0")/../lib/common.sh"

out=$("$SODP_VM" -q -m 3G -c 2 -t 300 -- env SODP_SRC="$SODP_SRC" SODP_BUILD="$SODP_BUILD" \
	"$SODP_SRC/tests/guest/sodp-verbs.sh" 2>&1)
rc=$?
echo "$out"
expect_eq "exit status" 0 "$rc"
echo "$out" | grep -q "^doorbells for 512 posts in batches of 64: " ||
	fail "doorbell_hint did not measure a stream"
echo "$out" | grep -q "^doorbells for 64 posts into new pages: " ||
	fail "doorbell_hint_faulting did not measure a stream"
echo "$out" | grep -q "^doorbells for 64 posts from pages the device faults in for reading: " ||
	fail "doorbell_hint_read_faults did not measure a stream"
