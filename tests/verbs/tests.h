/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * The sodp verbs test cases.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_TESTS_VERBS_TESTS_H
#define SODP_TESTS_VERBS_TESTS_H

#include <infiniband/verbs.h>

int vt_wait_async(struct ibv_context *ctx, enum ibv_event_type type, double seconds);

int test_rc_send(void);
int test_rc_send_imm(void);
int test_rc_write(void);
int test_rc_write_imm(void);
int test_rc_read(void);
int test_rc_atomics(void);
int test_rc_atomics_concurrent(void);
int test_rc_inline_unsignaled(void);
int test_ud_send(void);
int test_srq(void);
int test_cq_events(void);
int test_cq_resize(void);

int test_err_bad_lkey(void);
int test_err_remote_access(void);
int test_err_mr_rights(void);
int test_err_short_recv(void);
int test_err_rnr(void);
int test_err_no_peer(void);
int test_err_flush(void);
int test_err_cq_overrun(void);
int test_port_events(void);

int test_stress_many_qps(void);
int test_kill_mid_transfer(void);
int test_provider_abi(void);

int test_odp_cold(void);
int test_odp_atomics(void);
int test_odp_holes(void);
int test_odp_dontneed(void);
int test_odp_thp(void);
int test_odp_counters(void);
int test_odp_advise(void);
int test_odp_no_pin(void);
int test_odp_fork(void);
int test_odp_churn(void);
int test_odp_huge_range(void);

#endif
