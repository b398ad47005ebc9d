/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Helpers shared between the files of sodp verbs test cases (the cases
 * themselves register with CHECK_CASE()).
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_TESTS_VERBS_TESTS_H
#define SODP_TESTS_VERBS_TESTS_H

#include <infiniband/verbs.h>

int vt_wait_async(struct ibv_context *ctx, enum ibv_event_type type, double seconds);
/* A hw counter of $SODP_TEST_DEVICE (sodp0), read past the core's cache. */
uint64_t hw_counter(const char *name);

#endif
