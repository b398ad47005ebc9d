/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * The ib_umem_hmm test cases, and helpers shared between their files.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_TESTS_UMEM_HMM_TESTS_H
#define SODP_TESTS_UMEM_HMM_TESTS_H

/* Run fn in a forked child; its result is the test's. */
int run_in_child(int (*fn)(void));

int test_no_pin(void);
int test_memlock(void);
int test_data(void);
int test_data_bus_dma(void);
int test_write_bounds(void);
int test_cas(void);
int test_errors(void);
int test_stats(void);
int test_prefetch_modes(void);
int test_fault_ahead(void);
int test_huge(void);
int test_implicit(void);
int test_implicit_idle(void);
int test_tracking_bytes(void);
int test_gather(void);

int test_inval_munmap(void);
int test_inval_map_fixed(void);
int test_inval_dontneed(void);
int test_inval_mremap(void);
int test_inval_mprotect(void);
int test_inval_fork_parent(void);
int test_inval_fork_child(void);
int test_inval_thp_split(void);
int test_inval_migrate(void);
int test_inval_shared(void);
int test_inval_truncate(void);
int test_inval_waits_for_device(void);

int test_churn(void);
int test_kill_mid_fault(void);
int test_close_with_mappings(void);

int test_alloc_failures(void);

#endif
