#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The hw counters move as the traffic says, in sysfs and in "rdma statistic".
. "$SODP_SRC/tests/lib/common.sh"
. "$SODP_SRC/tests/lib/sodp-env.sh"

sodp_setup
c() { sodp_counter sodp0 "$1"; }
sent0=$(c sent_pkts) bytes0=$(c sent_bytes) rcvd0=$(c rcvd_pkts)

# 100 round trips of 4 KiB: 200 messages of four 1 KiB packets.
ibv_rc_pingpong -d sodp0 -g 1 -n 100 -s 4096 -m 1024 > /dev/null 2>&1 &
wait_listen 18515
ibv_rc_pingpong -d sodp0 -g 1 -n 100 -s 4096 -m 1024 127.0.0.1 > /dev/null || fail "pingpong"
wait
echo "sent_pkts +$(( $(c sent_pkts) - sent0 )) rcvd_pkts +$(( $(c rcvd_pkts) - rcvd0 )) sent_bytes +$(( $(c sent_bytes) - bytes0 ))"
[ $(( $(c sent_pkts) - sent0 )) -eq 800 ] || fail "sent_pkts"
[ $(( $(c rcvd_pkts) - rcvd0 )) -eq 800 ] || fail "rcvd_pkts"
[ $(( $(c sent_bytes) - bytes0 )) -eq $((200 * 4096)) ] || fail "sent_bytes"

# Errors count where they happen.
rnr0=$(c rcvd_rnr_err) srnr0=$(c send_rnr_err) acc0=$(c rcvd_remote_access_err)
ovr0=$(c cq_overrun) rtx0=$(c completer_retry_err)
"$SODP_BUILD/tests/sodp-verbs-tests" err_rnr err_mr_rights err_cq_overrun err_no_peer > /dev/null ||
	fail "error cases"
[ "$(c rcvd_rnr_err)" -gt "$rnr0" ] || fail "rcvd_rnr_err"
[ "$(c send_rnr_err)" -gt "$srnr0" ] || fail "send_rnr_err"
[ "$(c rcvd_remote_access_err)" -gt "$acc0" ] || fail "rcvd_remote_access_err"
[ "$(c cq_overrun)" -gt "$ovr0" ] || fail "cq_overrun"
[ "$(c completer_retry_err)" -gt "$rtx0" ] || fail "completer_retry_err"

# The same through rdma netlink.
rdma statistic show link sodp0/1 | tee /tmp/stat.txt
grep -q "sent_pkts $(c sent_pkts)" /tmp/stat.txt || fail "rdma statistic"
