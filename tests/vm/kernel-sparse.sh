#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The modules build clean under sparse (C=2: every file, with the kernel's
# lock context and address-space checks), the compiler's W=1 and modpost,
# against this system's newest kernel headers (Debian 12's, with its
# sparse; a build tree made for another kernel in a chroot has the same
# sources).  Reports from the kernel's own headers are shown, not counted.
. "$(dirname "$0")/../lib/common.sh"
. "$SODP_SRC/tools/lib/kernel.sh"

command -v sparse > /dev/null || fail "sparse is not installed (tools/sodp-deps)"
kdir=/usr/src/linux-headers-$(sodp_newest_headers)
[ -f "$kdir/Makefile" ] || fail "no kernel headers at $kdir"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
log=$(SODP_KBUILD_CHROOT= "$SODP_SRC/tools/kbuild" "$SODP_SRC" "$out" "$kdir" C=2 2>&1)
rc=$?
echo "$log"
expect_eq "module build" 0 "$rc"
reports=$(grep -E "^$out/.*: (warning|error): |^WARNING: " <<< "$log")
[ -z "$reports" ] || fail "sparse, W=1 or modpost reports: $(wc -l <<< "$reports")"
echo "sparse, W=1 and modpost: clean"
