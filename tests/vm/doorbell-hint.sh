#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The doorbell's stream hint where the kernel's work has a CPU beside the
# poster: a guest of two CPUs in one NUMA node (the suite's guest has a
# node per CPU, where a stream runs in its doorbells and these cases
# check only that).  A warm stream hands its WQEs to the work and rings
# rarely; one that faults pages in runs in its doorbells.
. "$(dirname "$0")/../lib/common.sh"

out=$("$SODP_VM" -q -m 2G -c 2 -t 300 -- env SODP_SRC="$SODP_SRC" SODP_BUILD="$SODP_BUILD" \
	"$SODP_SRC/tests/guest/sodp-verbs.sh" doorbell_hint doorbell_hint_faulting 2>&1)
rc=$?
echo "$out"
expect_eq "exit status" 0 "$rc"
echo "$out" | grep -q "^doorbells for 512 posts in batches of 64: " ||
	fail "doorbell_hint did not measure a stream"
echo "$out" | grep -q "^doorbells for 64 posts into new pages: " ||
	fail "doorbell_hint_faulting did not measure a stream"
