#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Every module built from kernel/ loads and unloads (dmesg is checked by
# the guest suite).
. "$SODP_SRC/tests/lib/common.sh"

mods=$(find "$SODP_KO" -name '*.ko' -printf '%f\n' | sed 's/\.ko$//' | sort)
[ -n "$mods" ] || fail "no modules built in $SODP_KO"
for m in $mods; do
	load_sodp_module "$m"
	grep -q "^$m " /proc/modules || fail "$m not in /proc/modules"
	echo "loaded $m"
done
unload_sodp_modules $mods
for m in $mods; do
	! grep -q "^$m " /proc/modules || fail "$m still loaded"
done
echo "unloaded: $mods"
