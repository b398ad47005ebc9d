#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The verbs tests on sodp0 (every opcode, every error, stress, kills, races),
# then the device must hold no resource, and unloading must be clean.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

sodp_setup
base=$(sodp_resources sodp0)
# The odp_ cases need swap and run in sodp-odp.
cases=("$@")
[ ${#cases[@]} -gt 0 ] ||
	mapfile -t cases < <("$SODP_BUILD/tests/sodp-verbs-tests" --list | grep -v '^odp_')
"$SODP_BUILD/tests/sodp-verbs-tests" "${cases[@]}"
rc=$?
now=$(sodp_resources sodp0)
echo "resources (pd cq qp mr): before '$base', after '$now'"
[ "$now" = "$base" ] || { echo "FAIL: resources left behind"; rc=1; }
rdma link del sodp0 || rc=1
unload_sodp_modules rdma_sodp
exit $rc
