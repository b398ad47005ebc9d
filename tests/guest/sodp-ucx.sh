#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Debian's UCX 1.13 (ucx-utils) on sodp0, choosing nothing but the device
# (and, both ends being on one host, UCX_TLS to keep UCP off shared memory):
# ucx_info lists sodp0's transports; ucx_perftest's put, get, active
# message and tag bandwidth and latency pass over it (UCT over rc_verbs;
# UCP over rc_verbs with ud_verbs for wire-up, and over ud_verbs alone, so
# UD receives must look as on mlx5); and with UCX_IB_REG_METHODS=odp UCX
# registers one implicit ODP region, which the device then faults in (the
# page_faults counter moves).
#
# UCX 1.13.1 itself cannot close an MD in its ODP mode:
# uct_ib_md_release_reg_method() passes the global ODP memory handle to
# uct_ib_mem_dereg() where that now takes a params struct, so ucp_cleanup()
# reads a pointer out of the handle's keys and may crash (SIGSEGV in
# uct_ib_md_close), on any device, after the transfers are done.  That
# crash, and only it, is tolerated in the ODP runs.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

command -v ucx_perftest > /dev/null || fail "ucx-utils is not installed (tools/sodp-deps)"
sodp_setup
export UCX_NET_DEVICES=sodp0:1
info=$(ucx_info -d) || fail "ucx_info -d"
for tl in rc_verbs ud_verbs; do
	echo "$info" | grep -A1 "Transport: $tl" | grep -q "Device: sodp0:1" ||
		fail "ucx_info -d lists no $tl on sodp0:1"
done

port=13337
# exited_ok LOG STATUS: 0, or (in ODP mode) UCX 1.13's crash at cleanup.
exited_ok() {
	[ "$2" = 0 ] && return 0
	[ -n "${UCX_IB_REG_METHODS:-}" ] && [ "$2" = 139 ] &&
		grep -q "uct_ib_md_close" "$1" && echo "(UCX 1.13 crashed in uct_ib_md_close after the run)"
}

# perf NAME ARGS...: an ucx_perftest server and client; prints the result.
perf() {
	local name=$1 srv rc
	shift
	port=$((port + 1))
	timeout 120 ucx_perftest -p "$port" "$@" > "/tmp/ucx-$name.srv" 2>&1 &
	srv=$!
	wait_listen "$port"
	timeout 120 ucx_perftest -p "$port" "$@" 10.77.0.1 > "/tmp/ucx-$name.cli" 2>&1
	rc=$?
	exited_ok "/tmp/ucx-$name.cli" "$rc" ||
		{ cat "/tmp/ucx-$name.cli" "/tmp/ucx-$name.srv"; fail "ucx_perftest $name (exit $rc)"; }
	wait "$srv"
	rc=$?
	exited_ok "/tmp/ucx-$name.srv" "$rc" ||
		{ cat "/tmp/ucx-$name.srv"; fail "ucx_perftest $name server (exit $rc)"; }
	# The final line: latency (usec) and bandwidth (MB/s) columns.
	grep -qE "^ *Final:" "/tmp/ucx-$name.cli" || fail "ucx_perftest $name: no result"
	echo "$name: $(grep -E "^ *Final:" "/tmp/ucx-$name.cli" | tail -n 1)"
}

# UCT: one-sided put and get (zero-copy), active messages.
uct=(-d sodp0:1 -x rc_verbs)
perf put_bw "${uct[@]}" -t put_bw -D zcopy -s 65536 -n 1000
perf put_lat "${uct[@]}" -t put_lat -s 8 -n 1000
perf get_bw "${uct[@]}" -t get -D zcopy -s 65536 -n 1000
perf am_lat "${uct[@]}" -t am_lat -s 8 -n 1000
# UCP: tag matching over RC (UD for wire-up), then over UD alone.
export UCX_TLS=rc_verbs,ud_verbs
perf tag_bw -t tag_bw -s 65536 -n 1000
perf tag_lat -t tag_lat -s 8 -n 1000
UCX_TLS=ud_verbs perf tag_lat_ud -t tag_lat -s 8 -n 1000

# UCX's ODP mode: an implicit ODP region; the device faults pages in.
faults0=$(sodp_counter sodp0 page_faults)
UCX_IB_REG_METHODS=odp perf tag_bw_odp -t tag_bw -s 1048576 -n 100
UCX_IB_REG_METHODS=odp perf put_bw_odp "${uct[@]}" -t put_bw -D zcopy -s 1048576 -n 100
faulted=$(($(sodp_counter sodp0 page_faults) - faults0))
echo "with UCX_IB_REG_METHODS=odp: $faulted pages faulted in by sodp0"
[ "$faulted" -gt 0 ] || fail "UCX's ODP mode did not use ODP (no page faults)"
exit 0
