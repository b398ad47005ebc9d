#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Two guests (1 vCPU each) on one Ethernet segment of their own (a QEMU
# multicast socket with a port chosen per run, so parallel runs do not
# meet): sodp to sodp, then sodp to Debian's rdma_rxe and back, with the
# stock tools (tests/wire/two-guests), and NVMe over RDMA.
# timeout-factor: 2
. "$(dirname "$0")/../lib/common.sh"

res=$(mktemp -d)
trap 'rm -rf "$res"' EXIT
net=socket:239.83.$((RANDOM % 250)).$((RANDOM % 250)):$((20000 + RANDOM % 20000))
pids=()
for r in a b; do
	# The kernel the suite runs on (SODP_VM_ARGS: tools/sodp-test --kernel,
	# the debug lane), as the guest tests do.
	# shellcheck disable=SC2086
	"$SODP_VM" -q ${SODP_VM_ARGS:-} -m 1536M -c 1 -t 1500 --net "$net" --name "$r" \
		--mac "52:54:00:83:00:0$([ $r = a ] && echo 1 || echo 2)" -- \
		env SODP_SRC="$SODP_SRC" SODP_BUILD="$SODP_BUILD" \
		"$SODP_SRC/tests/wire/two-guests" "$r" > "$res/$r.log" 2>&1 &
	pids+=($!)
done
rc=0
for i in 0 1; do
	wait "${pids[$i]}" || rc=1
done
for r in a b; do
	echo "==== guest $r"
	cat "$res/$r.log"
done
[ "$rc" = 0 ] || fail "a guest failed"
for r in a b; do
	grep -q "two-guests $r: done" "$res/$r.log" || fail "guest $r did not finish"
done
