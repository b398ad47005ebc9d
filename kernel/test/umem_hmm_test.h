/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * umem_hmm_test internals: the device memory part (umem_hmm_test_dmem.c),
 * built where the kernel has device-private memory with the API it uses.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef UMEM_HMM_TEST_H
#define UMEM_HMM_TEST_H

#include <linux/mm_types.h>

#include "sodp_compat.h"

#if IS_ENABLED(CONFIG_DEVICE_PRIVATE) && defined(HAVE_DEVMAP_FOLIO_FREE)
#define UMEM_HMM_TEST_DMEM 1

int umem_hmm_test_dmem_init(void);
void umem_hmm_test_dmem_exit(void);
long umem_hmm_test_dmem_ioctl(struct mm_struct *mm, unsigned int cmd,
			      void __user *arg);
/* The pgmap owner of the device-private memory, NULL if there is none. */
void *umem_hmm_test_dmem_owner(void);
/* Where a device-private page's data is, for the CPU. */
void *umem_hmm_test_dmem_kaddr(struct page *dpage);

#else
#define UMEM_HMM_TEST_DMEM 0

static inline int umem_hmm_test_dmem_init(void)
{
	return 0;
}

static inline void umem_hmm_test_dmem_exit(void)
{
}

static inline long umem_hmm_test_dmem_ioctl(struct mm_struct *mm,
					    unsigned int cmd, void __user *arg)
{
	/* No device memory on this kernel: the tests skip, saying so. */
	return -EOPNOTSUPP;
}

static inline void *umem_hmm_test_dmem_owner(void)
{
	return NULL;
}

static inline void *umem_hmm_test_dmem_kaddr(struct page *dpage)
{
	return NULL;
}
#endif

#endif /* UMEM_HMM_TEST_H */
