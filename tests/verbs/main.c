// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-verbs-tests: the verbs tests, run in the VM against an sodp device
 * ($SODP_TEST_DEVICE, default sodp0).  Arguments name the cases to run.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <stdio.h>

#include "../lib/check.h"
#include "tests.h"

static const struct check_case cases[] = {
	{ "provider_abi", test_provider_abi },
	{ "rc_send", test_rc_send },
	{ "rc_send_imm", test_rc_send_imm },
	{ "rc_write", test_rc_write },
	{ "rc_write_imm", test_rc_write_imm },
	{ "rc_read", test_rc_read },
	{ "rc_atomics", test_rc_atomics },
	{ "rc_atomics_concurrent", test_rc_atomics_concurrent },
	{ "rc_inline_unsignaled", test_rc_inline_unsignaled },
	{ "ud_send", test_ud_send },
	{ "srq", test_srq },
	{ "cq_events", test_cq_events },
	{ "cq_resize", test_cq_resize },
	{ "err_bad_lkey", test_err_bad_lkey },
	{ "err_remote_access", test_err_remote_access },
	{ "err_mr_rights", test_err_mr_rights },
	{ "err_short_recv", test_err_short_recv },
	{ "err_rnr", test_err_rnr },
	{ "err_no_peer", test_err_no_peer },
	{ "err_flush", test_err_flush },
	{ "err_cq_overrun", test_err_cq_overrun },
	{ "port_events", test_port_events },
	{ "stress_many_qps", test_stress_many_qps },
	{ "kill_mid_transfer", test_kill_mid_transfer },
	{ "odp_cold", test_odp_cold },
	{ "odp_atomics", test_odp_atomics },
	{ "odp_holes", test_odp_holes },
	{ "odp_dontneed", test_odp_dontneed },
	{ "odp_thp", test_odp_thp },
	{ "odp_counters", test_odp_counters },
	{ "odp_advise", test_odp_advise },
	{ "odp_no_pin", test_odp_no_pin },
	{ "odp_fork", test_odp_fork },
	{ "odp_churn", test_odp_churn },
	{ "odp_huge_range", test_odp_huge_range },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check_main(cases, argc, argv);
}
