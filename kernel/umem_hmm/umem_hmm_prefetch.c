// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ib_umem_hmm: prefetch, the semantics of ibv_advise_mr().
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/slab.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>

#include "umem_hmm.h"

struct umem_hmm_prefetch_work {
	struct work_struct work;
	struct ib_umem_hmm *umem;
	u64 addr;
	u64 length;
	unsigned int flags;
};

static int umem_hmm_prefetch_sync(struct ib_umem_hmm *umem, u64 addr,
				  u64 length, unsigned int flags)
{
	umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_PREFETCH_REQUESTS, 1);
	return umem_hmm_map_range(umem, addr, length, flags, true);
}

static void umem_hmm_prefetch_work(struct work_struct *work)
{
	struct umem_hmm_prefetch_work *pw =
		container_of(work, struct umem_hmm_prefetch_work, work);
	struct ib_umem_hmm *umem = pw->umem;

	/*
	 * Best effort, as ibv_advise_mr() without IBV_ADVISE_MR_FLAG_FLUSH;
	 * nothing to do once the umem is being released.
	 */
	if (!READ_ONCE(umem->dying))
		umem_hmm_prefetch_sync(umem, pw->addr, pw->length, pw->flags);
	kfree(pw);
	/*
	 * The umem may be freed as soon as the count drops: wake_up_var()
	 * only uses its address as a key, it does not touch it.
	 */
	if (atomic_dec_and_test(&umem->prefetches))
		wake_up_var(&umem->prefetches);
}

/**
 * ib_umem_hmm_prefetch - map pages before the device needs them
 * @umem: the umem
 * @addr: first byte
 * @length: bytes
 * @flags: IB_UMEM_HMM_WRITE (IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE),
 *	IB_UMEM_HMM_NO_FAULT (..._PREFETCH_NO_FAULT: map only what the CPU
 *	maps now), IB_UMEM_HMM_ASYNC (no IB_UVERBS_ADVISE_MR_FLAG_FLUSH:
 *	queue the work and return at once)
 *
 * Return: 0 or, when synchronous, the errors of ib_umem_hmm_map().  An
 * asynchronous prefetch reports only -EINVAL (range) and -ENOMEM.
 */
int ib_umem_hmm_prefetch(struct ib_umem_hmm *umem, u64 addr, u64 length,
			 unsigned int flags)
{
	struct umem_hmm_prefetch_work *pw;
	int ret = umem_hmm_check_range(umem, addr, length);

	if (ret)
		return ret;
	if (!(flags & IB_UMEM_HMM_ASYNC))
		return umem_hmm_prefetch_sync(umem, addr, length, flags);

	/*
	 * A hint: with UMEM_HMM_PREFETCH_MAX queued for this umem, drop it
	 * rather than let a process queue work without bound.
	 * ib_umem_hmm_release() waits for this count to drop to zero.
	 */
	if (!atomic_add_unless(&umem->prefetches, 1, UMEM_HMM_PREFETCH_MAX))
		return 0;
	pw = kmalloc(sizeof(*pw), GFP_KERNEL_ACCOUNT);
	if (!pw) {
		if (atomic_dec_and_test(&umem->prefetches))
			wake_up_var(&umem->prefetches);
		return -ENOMEM;
	}
	INIT_WORK(&pw->work, umem_hmm_prefetch_work);
	pw->umem = umem;
	pw->addr = addr;
	pw->length = length;
	pw->flags = flags & ~IB_UMEM_HMM_ASYNC;
	queue_work(umem_hmm_wq, &pw->work);
	return 0;
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_prefetch);
