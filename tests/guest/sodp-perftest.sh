#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Debian's perftest (4.5) on sodp0.  Under TCG its bandwidth figures mean
# little (see DESIGN.md): each test must just complete.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

sodp_setup
# perf TOOL ARGS: server and client on sodp0, both must succeed.
perf() {
	local tool=$1 srv
	shift
	timeout 120 "$tool" -d sodp0 -x 1 -F "$@" > /tmp/$tool.srv 2>&1 &
	srv=$!
	wait_listen 18515
	timeout 120 "$tool" -d sodp0 -x 1 -F "$@" 127.0.0.1 > /tmp/$tool.cli 2>&1 ||
		{ cat /tmp/$tool.cli; fail "$tool client"; }
	wait "$srv" || { cat /tmp/$tool.srv; fail "$tool server"; }
	grep -A1 "#bytes" /tmp/$tool.cli
}
perf ib_write_bw -s 65536 -n 500
perf ib_read_bw -s 65536 -n 500
perf ib_send_bw -s 65536 -n 500
perf ib_atomic_bw -n 500
perf ib_write_lat -s 8 -n 500
perf ib_send_bw -a -n 100
