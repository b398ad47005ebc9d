// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ib_umem_hmm: registration, page tracking and invalidation of a range.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>
#include <rdma/ib_verbs.h>

#include "umem_hmm.h"

static void umem_hmm_account_tracking(struct ib_umem_hmm *umem, s64 bytes)
{
	umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_TRACKING_BYTES, bytes);
}

/* The bytes of one block's allocation. */
static size_t umem_hmm_block_size(const struct ib_umem_hmm *umem)
{
	return sizeof(struct umem_hmm_block) +
	       (umem_hmm_bus_dma(umem) ?
		UMEM_HMM_BLOCK_PAGES * sizeof(dma_addr_t) : 0);
}

/* The bytes one block's tracking takes, with its xarray slot if any. */
static size_t umem_hmm_block_bytes(const struct ib_umem_hmm *umem)
{
	return umem_hmm_block_size(umem) + (umem->flat ? 0 : sizeof(void *));
}

/* The number of blocks the umem's span covers. */
static unsigned long umem_hmm_nblocks(const struct ib_umem_hmm *umem)
{
	return umem_hmm_block_index(umem, umem_hmm_end_page(umem) - 1) + 1;
}

/* The first block in use at index *@b or after, up to @last; NULL if none. */
static struct umem_hmm_block *umem_hmm_next_block(struct ib_umem_hmm *umem,
						  unsigned long *b,
						  unsigned long last)
{
	if (!umem->flat)
		return xa_find(&umem->blocks, b, last, XA_PRESENT);
	for (; *b <= last; ++*b) {
		struct umem_hmm_block *blk = READ_ONCE(umem->flat[*b]);

		if (blk)
			return blk;
	}
	return NULL;
}

/* Every block in use from index @first to @last: a range may be terabytes. */
#define umem_hmm_for_each_block(umem, b, blk, first, last)		\
	for ((b) = (first);						\
	     ((blk) = umem_hmm_next_block((umem), &(b), (last)));	\
	     (b)++)

/* Install @blk as block @b; returns what was there (or an xarray error). */
static struct umem_hmm_block *umem_hmm_install_block(struct ib_umem_hmm *umem,
						     unsigned long b,
						     struct umem_hmm_block *blk)
{
	if (umem->flat)
		return cmpxchg(&umem->flat[b], NULL, blk);
	return xa_cmpxchg(&umem->blocks, b, NULL, blk, GFP_KERNEL_ACCOUNT);
}

/* Take block @b out; its lookups hold the lock, we hold it for writing. */
static void umem_hmm_erase_block(struct ib_umem_hmm *umem, unsigned long b)
{
	lockdep_assert_held_write(&umem->lock);
	if (umem->flat)
		WRITE_ONCE(umem->flat[b], NULL);
	else
		xa_erase(&umem->blocks, b);
}

static bool umem_hmm_block_empty(const struct umem_hmm_block *blk)
{
	unsigned long i;

	for (i = 0; i < UMEM_HMM_BLOCK_PAGES; i++)
		if (blk->entries[i])
			return false;
	return true;
}

/*
 * Unmap the device's view of the pages in [start, end): the driver first
 * stops using them, then each page is DMA-unmapped and, if the device was
 * given it to write, marked dirty (its data must reach swap or the file).
 * Called with umem->lock held for writing; returns the pages unmapped.
 */
static unsigned long umem_hmm_unmap(struct ib_umem_hmm *umem, u64 start,
				    u64 end)
{
	struct ib_device *ibdev = umem->hdev->ibdev;
	unsigned long unmapped = 0, b;
	struct umem_hmm_block *blk;
	u64 addr;
	s64 freed = 0;

	lockdep_assert_held_write(&umem->lock);

	start = max(start, umem_hmm_start_page(umem));
	end = min(end, umem_hmm_end_page(umem));
	if (start >= end || !umem->npages)
		return 0;

	/* A huge unit is mapped and unmapped whole. */
	addr = ALIGN_DOWN(start, UMEM_HMM_BLOCK_SIZE);
	if (addr >= umem->base) {
		unsigned long *e = umem_hmm_entry(umem, max(addr, umem_hmm_start_page(umem)));

		if (e && (*e & UMEM_HMM_HUGE))
			start = addr;
	}
	addr = ALIGN(end, UMEM_HMM_BLOCK_SIZE);
	if (addr != end) {
		unsigned long *e = umem_hmm_entry(umem, end - PAGE_SIZE);

		if (e && (*e & UMEM_HMM_HUGE))
			end = addr;
	}

	if (umem->ops && umem->ops->invalidate)
		umem->ops->invalidate(umem, max(start, umem->address),
				      min(end, ib_umem_hmm_end(umem)));

	umem_hmm_for_each_block(umem, b, blk, umem_hmm_block_index(umem, start),
				umem_hmm_block_index(umem, end - 1)) {
		u64 from = umem_hmm_block_start(umem, b);
		u64 to = umem_hmm_block_end(from, end);
		unsigned long before = unmapped;

		for (addr = max(start, from); addr < to; addr += PAGE_SIZE) {
			unsigned long slot = umem_hmm_slot(umem, addr);
			unsigned long e = blk->entries[slot];

			if (!(e & UMEM_HMM_VALID))
				continue;
			if (umem_hmm_bus_dma(umem) && !(e & UMEM_HMM_DEVICE)) {
				if (!(e & UMEM_HMM_HUGE))
					ib_dma_unmap_page(ibdev, blk->dma[slot],
							  PAGE_SIZE, DMA_BIDIRECTIONAL);
				else if (!slot)
					ib_dma_unmap_page(ibdev, blk->dma[0],
							  UMEM_HMM_BLOCK_SIZE,
							  DMA_BIDIRECTIONAL);
			}
			/*
			 * The CPU mapping still exists (invalidation runs
			 * before the page tables change), so the page is
			 * alive; our write lock keeps other invalidations
			 * from racing with set_page_dirty.  The owner's
			 * device pages were neither DMA-mapped nor are they
			 * the CPU's to write back.
			 */
			if ((e & UMEM_HMM_DIRTY) && !(e & UMEM_HMM_DEVICE))
				set_page_dirty(compound_head(pfn_to_page(e & UMEM_HMM_PFN_MASK)));
			blk->entries[slot] = 0;
			unmapped++;
		}
		/*
		 * Tracking lives only where pages are mapped: a block left
		 * empty goes (faults allocate it again, after this sequence).
		 */
		if (unmapped != before && umem_hmm_block_empty(blk)) {
			umem_hmm_erase_block(umem, b);
			kfree(blk);
			freed += umem_hmm_block_bytes(umem);
		}
	}

	umem_hmm_account_tracking(umem, -freed);
	umem->npages -= unmapped;
	umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_PAGES_MAPPED, -(s64)unmapped);
	return unmapped;
}

static bool umem_hmm_mapped_in(struct ib_umem_hmm *umem, u64 start, u64 end)
{
	struct umem_hmm_block *blk;
	unsigned long b;
	u64 addr;

	if (!umem->npages)
		return false;
	start = max(start, umem_hmm_start_page(umem));
	end = min(end, umem_hmm_end_page(umem));
	if (start >= end)
		return false;
	umem_hmm_for_each_block(umem, b, blk, umem_hmm_block_index(umem, start),
				umem_hmm_block_index(umem, end - 1)) {
		u64 from = umem_hmm_block_start(umem, b);
		u64 to = umem_hmm_block_end(from, end);

		for (addr = max(start, from); addr < to; addr += PAGE_SIZE)
			if (blk->entries[umem_hmm_slot(umem, addr)] & UMEM_HMM_VALID)
				return true;
	}
	return false;
}

static bool umem_hmm_invalidate(struct mmu_interval_notifier *mni,
				const struct mmu_notifier_range *range,
				unsigned long cur_seq)
{
	struct ib_umem_hmm *umem = container_of(mni, struct ib_umem_hmm, notifier);
	unsigned long unmapped;

	if (range->event == MMU_NOTIFY_UNMAP)
		umem_hmm_stream_end(umem);
	umem_hmm_count_from_device(umem, range);
	if (mmu_notifier_range_blockable(range)) {
		down_write(&umem->lock);
	} else {
		if (!down_write_trylock(&umem->lock))
			return false;
		/*
		 * The driver's invalidate may sleep: a range holding mapped
		 * pages can only be invalidated where blocking is allowed, and
		 * one holding none needs no call to the driver at all.
		 */
		if (umem_hmm_mapped_in(umem, range->start, range->end)) {
			up_write(&umem->lock);
			return false;
		}
		mmu_interval_set_seq(mni, cur_seq);
		up_write(&umem->lock);
		return true;
	}

	mmu_interval_set_seq(mni, cur_seq);
	unmapped = umem_hmm_unmap(umem, range->start, range->end);
	if (unmapped) {
		umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_INVALIDATIONS, 1);
		umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_PAGES_INVALIDATED, unmapped);
	}
	up_write(&umem->lock);

	if (unmapped && umem->parent && !READ_ONCE(umem->npages))
		umem_hmm_child_idle(umem);
	return true;
}

static const struct mmu_interval_notifier_ops umem_hmm_notifier_ops = {
	.invalidate = umem_hmm_invalidate,
};

/* Did hmm_range_fault() return any page in [from, to) of [start, ...)? */
static bool umem_hmm_any_valid(const unsigned long *hmm_pfns, u64 start,
			       u64 from, u64 to)
{
	u64 addr;

	for (addr = from; addr < to; addr += PAGE_SIZE)
		if (hmm_pfns[(addr - start) >> PAGE_SHIFT] & HMM_PFN_VALID)
			return true;
	return false;
}

/*
 * Charge the allocations that follow to the memory cgroup of the process
 * whose memory the umem mirrors: the owner pays, not whoever faults (a
 * peer's thread, a kworker).  Give umem_hmm_charge_end() what it returns
 * and *@old.
 */
static struct mem_cgroup *umem_hmm_charge_owner(struct ib_umem_hmm *umem,
						struct mem_cgroup **old)
{
	struct mem_cgroup *memcg = get_mem_cgroup_from_mm(umem->mm);

	*old = set_active_memcg(memcg);
	return memcg;
}

static void umem_hmm_charge_end(struct mem_cgroup *memcg, struct mem_cgroup *old)
{
	set_active_memcg(old);
	mem_cgroup_put(memcg);
}

/*
 * Make sure a block exists for every page hmm_range_fault() returned in
 * [start, end) (@hmm_pfns holds its result): only there, so that asking
 * for ranges with nothing mapped allocates nothing.  Charged to the
 * memory cgroup of the process whose memory it is.  No umem lock is held
 * (this may reclaim).
 */
int umem_hmm_alloc_blocks(struct ib_umem_hmm *umem, u64 start, u64 end,
			  const unsigned long *hmm_pfns)
{
	size_t size = umem_hmm_block_size(umem);
	struct mem_cgroup *memcg = NULL, *old_memcg = NULL;
	bool charging = false;
	int ret = 0;
	u64 from;

	for (from = start; from < end; from = umem_hmm_block_end(from, end)) {
		unsigned long b = umem_hmm_block_index(umem, from);
		struct umem_hmm_block *blk, *old;

		if (umem_hmm_block_at(umem, b) ||
		    !umem_hmm_any_valid(hmm_pfns, start, from,
					umem_hmm_block_end(from, end)))
			continue;
		if (!charging) {
			memcg = umem_hmm_charge_owner(umem, &old_memcg);
			charging = true;
		}
		blk = kzalloc(size, GFP_KERNEL_ACCOUNT);
		if (!blk) {
			ret = -ENOMEM;
			break;
		}
		/* Two faults may race to allocate the same block. */
		old = umem_hmm_install_block(umem, b, blk);
		if (old) {
			kfree(blk);
			if (xa_is_err(old)) {
				ret = xa_err(old);
				break;
			}
			continue;
		}
		umem_hmm_account_tracking(umem, umem_hmm_block_bytes(umem));
	}
	if (charging)
		umem_hmm_charge_end(memcg, old_memcg);
	return ret;
}

/*
 * The flat block array of a umem small enough to have one, charged to the
 * owner (an implicit child is created by whoever faults first).
 */
static int umem_hmm_alloc_flat(struct ib_umem_hmm *umem)
{
	unsigned long n = umem_hmm_nblocks(umem);
	struct mem_cgroup *memcg, *old_memcg;

	if (n > UMEM_HMM_FLAT_BLOCKS)
		return 0;
	memcg = umem_hmm_charge_owner(umem, &old_memcg);
	umem->flat = kvcalloc(n, sizeof(*umem->flat), GFP_KERNEL_ACCOUNT);
	umem_hmm_charge_end(memcg, old_memcg);
	if (!umem->flat)
		return -ENOMEM;
	umem_hmm_account_tracking(umem, n * sizeof(*umem->flat));
	return 0;
}

static void umem_hmm_free_flat(struct ib_umem_hmm *umem)
{
	if (!umem->flat)
		return;
	umem_hmm_account_tracking(umem, -(s64)(umem_hmm_nblocks(umem) *
					       sizeof(*umem->flat)));
	kvfree(umem->flat);
}

/* A umem that tracks pages itself: explicit, or a child of an implicit one. */
struct ib_umem_hmm *umem_hmm_alloc_leaf(struct ib_umem_hmm_device *hdev,
					struct mm_struct *mm, u64 addr,
					u64 length, int access,
					const struct ib_umem_hmm_ops *ops,
					void *priv)
{
	struct ib_umem_hmm *umem;
	int ret;

	umem = kzalloc(sizeof(*umem), GFP_KERNEL);
	if (!umem)
		return ERR_PTR(-ENOMEM);
	umem->hdev = hdev;
	umem->address = addr;
	umem->length = length;
	umem->access = access;
	umem->ops = ops;
	umem->priv = priv;
	umem->mm = mm;
	init_rwsem(&umem->lock);
	spin_lock_init(&umem->ahead_lock);
	INIT_LIST_HEAD(&umem->faulters);
	umem_hmm_passes_init(umem);
	atomic_set(&umem->prefetches, 0);
	refcount_set(&umem->users, 1);

	umem->base = ALIGN_DOWN(addr, UMEM_HMM_BLOCK_SIZE);
	xa_init(&umem->blocks);
	ret = umem_hmm_alloc_flat(umem);
	if (ret)
		goto err_free;

	mmgrab(mm);
	ret = mmu_interval_notifier_insert(&umem->notifier, mm,
					   umem_hmm_start_page(umem),
					   umem_hmm_end_page(umem) -
					   umem_hmm_start_page(umem),
					   &umem_hmm_notifier_ops);
	if (ret)
		goto err_mmdrop;
	umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_UMEMS, 1);
	return umem;

err_mmdrop:
	mmdrop(mm);
	umem_hmm_free_flat(umem);
err_free:
	kfree(umem);
	return ERR_PTR(ret);
}

void umem_hmm_free_leaf(struct ib_umem_hmm *umem)
{
	struct umem_hmm_block *blk;
	unsigned long b;
	s64 bytes = 0;

	/*
	 * Unmap (and dirty) while the notifier is still registered: a
	 * concurrent munmap waits for our lock in its invalidation, so every
	 * page is still alive when set_page_dirty() touches it.
	 */
	/* A child's own flag: its stream work stops at the next unit. */
	WRITE_ONCE(umem->dying, true);
	umem_hmm_passes_cancel(umem);

	down_write(&umem->lock);
	umem_hmm_unmap(umem, umem_hmm_start_page(umem), umem_hmm_end_page(umem));
	up_write(&umem->lock);

	/* After this no invalidation runs, nor will run, on the umem. */
	mmu_interval_notifier_remove(&umem->notifier);

	umem_hmm_for_each_block(umem, b, blk, 0, umem_hmm_nblocks(umem) - 1) {
		kfree(blk);
		bytes += umem_hmm_block_bytes(umem);
	}
	xa_destroy(&umem->blocks);
	umem_hmm_account_tracking(umem, -bytes);
	umem_hmm_free_flat(umem);
	umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_UMEMS, -1);
	mmdrop(umem->mm);
	/* Implicit lookups may still hold the pointer under RCU. */
	kfree_rcu(umem, rcu);
}

static bool umem_hmm_access_ok(u64 addr, u64 length)
{
	return length && addr + length > addr && addr + length <= TASK_SIZE;
}

/**
 * ib_umem_hmm_get - mirror a range of the current process for a device
 * @hdev: the device, initialised by ib_umem_hmm_device_init()
 * @addr: first byte of the range (any alignment)
 * @length: bytes in the range
 * @access: IB_ACCESS_* flags of the registration, kept for the driver
 * @ops: driver callbacks (may be NULL)
 * @priv: driver data, in umem->priv
 *
 * Nothing is faulted, pinned or charged to RLIMIT_MEMLOCK.  Registration
 * allocates a pointer per 2 MiB block the range touches, up to 4096 of
 * them (8 GiB), and nothing in proportion to a longer range; page
 * tracking comes with the first fault in each block.  Must be called in
 * the context of the process whose memory is mirrored.
 *
 * Return: the umem, or ERR_PTR(-EINVAL) for an empty range or one that
 * leaves the user address space, -ENOMEM, or the error of
 * mmu_interval_notifier_insert().
 */
struct ib_umem_hmm *ib_umem_hmm_get(struct ib_umem_hmm_device *hdev,
				    u64 addr, u64 length, int access,
				    const struct ib_umem_hmm_ops *ops,
				    void *priv)
{
	if (!umem_hmm_access_ok(addr, length))
		return ERR_PTR(-EINVAL);
	if (!current->mm)
		return ERR_PTR(-EINVAL);
	return umem_hmm_alloc_leaf(hdev, current->mm, addr, length, access,
				   ops, priv);
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_get);

/**
 * ib_umem_hmm_set_owner - let the driver that owns device memory map it
 * @umem: from ib_umem_hmm_get() or ib_umem_hmm_get_implicit(), before its
 *	first access or prefetch
 * @owner: the dev_pagemap owner of the driver's device-private memory
 *
 * By default a device fault on a page that lives in device-private memory
 * (a GPU's, through HMM) migrates it back to system memory, as a CPU fault
 * would.  With an owner, pages of that owner stay where they are and are
 * reported instead: ib_umem_hmm_span_device_page() gives the page, which
 * the owner reaches in its own memory.  They are never DMA-mapped (the
 * CPU cannot address them) and ib_umem_hmm_span_dma() must not be asked
 * for them.  Device-private pages of any other owner still migrate back.
 */
void ib_umem_hmm_set_owner(struct ib_umem_hmm *umem, void *owner)
{
	WARN_ON_ONCE(READ_ONCE(umem->npages) ||
		     (umem->implicit && !xa_empty(&umem->children)));
	umem->dev_private_owner = owner;
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_set_owner);

/**
 * ib_umem_hmm_release - stop mirroring and free a umem
 * @umem: from ib_umem_hmm_get() or ib_umem_hmm_get_implicit()
 *
 * Waits for its asynchronous prefetches, unmaps every page (calling the
 * driver's invalidate op) and frees the tracking memory.  The caller must
 * hold no span of it and start no new access.
 */
void ib_umem_hmm_release(struct ib_umem_hmm *umem)
{
	/* Queued prefetches skip their work; the one running ends its pass. */
	WRITE_ONCE(umem->dying, true);
	wait_var_event(&umem->prefetches, !atomic_read(&umem->prefetches));
	if (umem->implicit) {
		umem_hmm_release_children(umem);
		umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_UMEMS, -1);
		mmdrop(umem->mm);
		kfree(umem);
		return;
	}
	umem_hmm_free_leaf(umem);
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_release);
