#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Debian's ibverbs-utils on sodp0: ibv_devinfo -v shows a RoCE device with
# an active port; the RC, UD, UC, SRQ and XRC SRQ pingpongs complete.
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

sodp_setup
info=$(ibv_devinfo -v -d sodp0) || fail "ibv_devinfo"
echo "$info" | head -20
for want in "transport:[[:space:]]*InfiniBand" "state:[[:space:]]*PORT_ACTIVE" \
	    "link_layer:[[:space:]]*Ethernet" "max_qp:[[:space:]]*4096" \
	    "GID\[.*\]:.*::ffff:10.77.0.1, RoCE v2"; do
	echo "$info" | grep -Eq "$want" || fail "ibv_devinfo lacks '$want'"
done

# pingpong NAME ARGS: server and client on sodp0, both must succeed, and
# the server print $summary (the tools' "N bytes in S seconds = ..." line;
# ibv_xsrq_pingpong prints none but the addresses it exchanged).
summary="iters in"
pingpong() {
	local tool=$1 srv
	shift
	"$tool" -d sodp0 -g 1 "$@" > /tmp/$tool.srv 2>&1 &
	srv=$!
	wait_listen 18515
	timeout 60 "$tool" -d sodp0 -g 1 "$@" 127.0.0.1 || fail "$tool client"
	wait "$srv" || { cat /tmp/$tool.srv; fail "$tool server"; }
	grep -q "$summary" /tmp/$tool.srv || fail "$tool server output"
}
pingpong ibv_rc_pingpong -n 500 -s 4096
pingpong ibv_rc_pingpong -n 200 -s 65536 -m 1024
pingpong ibv_ud_pingpong -n 500 -s 1024
pingpong ibv_uc_pingpong -n 500 -s 4096 -c
pingpong ibv_srq_pingpong -n 200 -q 4
pingpong ibv_rc_pingpong -n 100 -e
summary="remote: LID 0000, QPN RECV"
pingpong ibv_xsrq_pingpong -n 200 -s 4096
pingpong ibv_xsrq_pingpong -n 200 -s 65536 -m 1024 -o
pingpong ibv_xsrq_pingpong -n 50 -e
