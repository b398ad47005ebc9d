/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * ib_umem_hmm internals shared by its source files.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef UMEM_HMM_H
#define UMEM_HMM_H

struct dentry;

/* /sys/kernel/debug/ib_umem_hmm: per-device statistics live below it. */
extern struct dentry *umem_hmm_debugfs_root;

#endif /* UMEM_HMM_H */
