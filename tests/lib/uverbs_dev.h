/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * The uverbs character device of an RDMA device, for tests that talk to
 * the kernel past libibverbs.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_TESTS_UVERBS_DEV_H
#define SODP_TESTS_UVERBS_DEV_H

/* Open /dev/infiniband/uverbsN of @ibdev (O_RDWR | O_CLOEXEC); fd or -1. */
int open_uverbs(const char *ibdev);

#endif
