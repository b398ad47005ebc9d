#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The modules build clean under sparse (C=2: every file, with the kernel's
# lock context and address-space checks) and the compiler's W=1, against
# the headers the build tree was configured with.
. "$(dirname "$0")/../lib/common.sh"

command -v sparse > /dev/null || fail "sparse is not installed (tools/sodp-deps)"
kdir=$(sed -n 's/^SODP_KERNEL_DIR:PATH=//p' "$SODP_BUILD/CMakeCache.txt")
[ -d "$kdir" ] || fail "no kernel headers configured in $SODP_BUILD"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
log=$("$SODP_SRC/tools/kbuild" "$SODP_SRC" "$out" "$kdir" C=2 2>&1)
rc=$?
echo "$log"
expect_eq "module build" 0 "$rc"
reports=$(grep -E ': (warning|error): ' <<< "$log")
[ -z "$reports" ] || fail "sparse or W=1 reports: $(wc -l <<< "$reports")"
echo "sparse and W=1: clean"
