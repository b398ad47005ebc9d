/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Helpers shared between the files of ib_umem_hmm test cases (the cases
 * themselves register with CHECK_CASE()).
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_TESTS_UMEM_HMM_TESTS_H
#define SODP_TESTS_UMEM_HMM_TESTS_H

/* Run fn in a forked child; its result is the test's. */
int run_in_child(int (*fn)(void));

#endif
