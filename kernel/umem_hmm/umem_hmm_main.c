// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ib_umem_hmm: an ib_umem on-demand-paging backend built on HMM.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/module.h>
#include <linux/debugfs.h>

#include "umem_hmm.h"

struct dentry *umem_hmm_debugfs_root;

static int __init ib_umem_hmm_init(void)
{
	umem_hmm_debugfs_root = debugfs_create_dir("ib_umem_hmm", NULL);
	return 0;
}

static void __exit ib_umem_hmm_exit(void)
{
	debugfs_remove_recursive(umem_hmm_debugfs_root);
}

module_init(ib_umem_hmm_init);
module_exit(ib_umem_hmm_exit);

MODULE_AUTHOR("The sodp authors");
MODULE_DESCRIPTION("ib_umem on-demand paging backend built on HMM");
MODULE_LICENSE("Dual BSD/GPL");
