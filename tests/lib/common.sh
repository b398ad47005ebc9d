# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Helpers for the shell tests (host and guest).

: "${SODP_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${SODP_BUILD:=$SODP_SRC/build}"
SODP_VM=$SODP_SRC/tools/sodp-vm
SODP_KO=$SODP_BUILD/kbuild/kernel

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# load_sodp_module NAME: insmod a module from the build tree (its in-kernel
# dependencies come from the guest's own /lib/modules).
load_sodp_module() {
	local ko
	ko=$(find "$SODP_KO" -name "$1.ko" | head -n 1)
	[ -n "$ko" ] || fail "module $1 not built"
	for dep in $(modinfo -F depends "$ko" | tr ',' ' '); do
		modprobe -q "$dep" 2>/dev/null || true
	done
	insmod "$ko" || fail "insmod $ko"
}
