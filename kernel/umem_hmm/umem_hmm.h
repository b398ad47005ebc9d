/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * ib_umem_hmm internals shared by its source files.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef UMEM_HMM_H
#define UMEM_HMM_H

#include <linux/bits.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched/mm.h>
#include <linux/xarray.h>
#include <rdma/ib_umem_hmm.h>
#include <rdma/ib_verbs.h>

/*
 * Page tracking.  A umem's span is cut into blocks of 512 pages (2 MiB,
 * aligned, so a block is exactly one PMD-sized huge page).  A block's
 * entries are allocated when a fault first maps a page in it, and freed
 * when an invalidation leaves it with none; each is one unsigned long per
 * 4 KiB page: the page frame number and the state bits below.  A
 * virtual-DMA device derives its DMA address from the pfn; only a
 * bus-mastering device needs the parallel dma[] block.
 */
#define UMEM_HMM_BLOCK_SHIFT	21
#define UMEM_HMM_BLOCK_SIZE	(1UL << UMEM_HMM_BLOCK_SHIFT)
#define UMEM_HMM_BLOCK_PAGES	(UMEM_HMM_BLOCK_SIZE >> PAGE_SHIFT)

#define UMEM_HMM_VALID		BIT(63)	/* mapped for the device to read */
#define UMEM_HMM_WRITABLE	BIT(62)	/* ... and to write */
#define UMEM_HMM_DIRTY_BIT	61	/* the device was given it to write */
#define UMEM_HMM_DIRTY		BIT(UMEM_HMM_DIRTY_BIT)
#define UMEM_HMM_HUGE		BIT(60)	/* its block is one DMA-mapped unit */
#define UMEM_HMM_DEVICE		BIT(59)	/* the owner's device-private page */
#define UMEM_HMM_PFN_MASK	GENMASK(51, 0)

/* Implicit ODP: one child umem per aligned chunk of the address space. */
#define UMEM_HMM_CHUNK_SHIFT	30

/* Fault-ahead window, in pages: starts here, doubles per sequential fault. */
#define UMEM_HMM_AHEAD_MIN	16
#define UMEM_HMM_AHEAD_MAX	UMEM_HMM_BLOCK_PAGES

/* Pages handed to one hmm_range_fault() call (its pfn array: 4 KiB). */
#define UMEM_HMM_FAULT_PAGES	512

/* Asynchronous prefetches queued per umem; more are dropped (a hint). */
#define UMEM_HMM_PREFETCH_MAX	64

extern struct dentry *umem_hmm_debugfs_root;
extern struct workqueue_struct *umem_hmm_wq;

static inline bool umem_hmm_bus_dma(const struct ib_umem_hmm *umem)
{
	return !ib_uses_virt_dma(umem->hdev->ibdev);
}

static inline unsigned long umem_hmm_index(const struct ib_umem_hmm *umem,
					   u64 addr)
{
	return (addr - umem->base) >> PAGE_SHIFT;
}

/*
 * One block's tracking.  A umem touching up to UMEM_HMM_FLAT_BLOCKS
 * blocks (8 GiB; every implicit child) finds its blocks in a flat array,
 * a pointer per block allocated with it, so that the lookup of every
 * device access is one load; a bigger one in an xarray, so that
 * registering terabytes allocates nothing in proportion to the length.
 * Blocks are installed with no lock held and freed under the umem's lock
 * held for writing: holding it for reading keeps the block one found.
 */
struct umem_hmm_block {
	unsigned long entries[UMEM_HMM_BLOCK_PAGES];
	dma_addr_t dma[];		/* bus-DMA devices only */
};

#define UMEM_HMM_FLAT_BLOCKS	4096

static inline unsigned long umem_hmm_slot(const struct ib_umem_hmm *umem,
					  u64 addr)
{
	return umem_hmm_index(umem, addr) % UMEM_HMM_BLOCK_PAGES;
}

static inline unsigned long umem_hmm_block_index(const struct ib_umem_hmm *umem,
						 u64 addr)
{
	return umem_hmm_index(umem, addr) / UMEM_HMM_BLOCK_PAGES;
}

static inline u64 umem_hmm_block_start(const struct ib_umem_hmm *umem,
				       unsigned long b)
{
	return umem->base + ((u64)b << UMEM_HMM_BLOCK_SHIFT);
}

/* Block @b, or NULL if it is not in use. */
static inline struct umem_hmm_block *
umem_hmm_block_at(struct ib_umem_hmm *umem, unsigned long b)
{
	if (umem->flat)
		return READ_ONCE(umem->flat[b]);
	return xa_load(&umem->blocks, b);
}

/* The block holding the page at @addr, or NULL if it is not in use. */
static inline struct umem_hmm_block *
umem_hmm_block(struct ib_umem_hmm *umem, u64 addr)
{
	return umem_hmm_block_at(umem, umem_hmm_block_index(umem, addr));
}

/* The end of the block holding @addr, or @end if that comes first. */
static inline u64 umem_hmm_block_end(u64 addr, u64 end)
{
	return min_t(u64, ALIGN_DOWN(addr, UMEM_HMM_BLOCK_SIZE) +
			  UMEM_HMM_BLOCK_SIZE, end);
}

/* The entry of the page at @addr, or NULL if its block was never used. */
static inline unsigned long *umem_hmm_entry(struct ib_umem_hmm *umem, u64 addr)
{
	struct umem_hmm_block *blk = umem_hmm_block(umem, addr);

	return blk ? &blk->entries[umem_hmm_slot(umem, addr)] : NULL;
}

/* The block of a locked span holding @addr: the span's own, looked up once. */
static inline struct umem_hmm_block *
umem_hmm_span_block(const struct ib_umem_hmm_span *span, u64 addr)
{
	struct ib_umem_hmm *umem = span->leaf;

	if (umem_hmm_block_index(umem, addr) == umem_hmm_block_index(umem, span->start))
		return span->blk;
	return umem_hmm_block(umem, addr);
}

static inline u64 umem_hmm_start_page(const struct ib_umem_hmm *umem)
{
	return ALIGN_DOWN(umem->address, PAGE_SIZE);
}

static inline u64 umem_hmm_end_page(const struct ib_umem_hmm *umem)
{
	return ALIGN(ib_umem_hmm_end(umem), PAGE_SIZE);
}

static inline void umem_hmm_stat_add(struct ib_umem_hmm *umem,
				     enum ib_umem_hmm_stat stat, s64 val)
{
	atomic64_add(val, &umem->hdev->stats[stat]);
}

void umem_hmm_stat_max(struct ib_umem_hmm *umem, enum ib_umem_hmm_stat stat,
		       s64 val);

/* umem_hmm_range.c */
struct ib_umem_hmm *umem_hmm_alloc_leaf(struct ib_umem_hmm_device *hdev,
					struct mm_struct *mm, u64 addr,
					u64 length, int access,
					const struct ib_umem_hmm_ops *ops,
					void *priv);
void umem_hmm_free_leaf(struct ib_umem_hmm *umem);
int umem_hmm_alloc_blocks(struct ib_umem_hmm *umem, u64 start, u64 end,
			  const unsigned long *hmm_pfns);

/*
 * A task inside hmm_range_fault() for a umem: an invalidation it causes
 * itself by migrating device memory back is counted (see
 * umem_hmm_count_from_device()).
 */
struct umem_hmm_faulter {
	struct list_head node;
	struct task_struct *task;
};

/* Is [addr, addr + length) inside the umem?  -EINVAL if not. */
static inline int umem_hmm_check_range(const struct ib_umem_hmm *umem, u64 addr,
				       u64 length)
{
	if (!length || addr < umem->address || addr + length < addr ||
	    addr + length > ib_umem_hmm_end(umem))
		return -EINVAL;
	return 0;
}

/* umem_hmm_fault.c */
int umem_hmm_map_leaf(struct ib_umem_hmm *umem, u64 start, u64 end,
		      unsigned int flags, bool prefetch);
int umem_hmm_map_range(struct ib_umem_hmm *umem, u64 addr, u64 length,
		       unsigned int flags, bool prefetch);
void umem_hmm_passes_init(struct ib_umem_hmm *umem);
void umem_hmm_passes_cancel(struct ib_umem_hmm *umem);
void umem_hmm_stream_end(struct ib_umem_hmm *umem);
void umem_hmm_count_from_device(struct ib_umem_hmm *umem,
				const struct mmu_notifier_range *range);

/* umem_hmm_implicit.c */
struct ib_umem_hmm *umem_hmm_child_get(struct ib_umem_hmm *root, u64 addr,
				       bool create);

/*
 * The child of implicit @root covering @addr, with a reference, if it is
 * the one used last; else NULL.  Children are freed after an RCU grace
 * period, which waits for code running with preemption disabled: so
 * this RCU read side costs no call.
 */
static inline struct ib_umem_hmm *umem_hmm_child_hint(struct ib_umem_hmm *root,
						      u64 addr)
{
	struct ib_umem_hmm *child;

	rcu_read_lock_sched();
	child = rcu_dereference_sched(root->child_hint);
	if (child && ((child->address ^ addr) >> UMEM_HMM_CHUNK_SHIFT ||
		      !refcount_inc_not_zero(&child->users)))
		child = NULL;
	rcu_read_unlock_sched();
	return child;
}

/* The child covering @addr, with a reference: see umem_hmm_child_get(). */
static inline struct ib_umem_hmm *umem_hmm_child(struct ib_umem_hmm *root,
						 u64 addr, bool create)
{
	return umem_hmm_child_hint(root, addr) ?:
	       umem_hmm_child_get(root, addr, create);
}

static inline void umem_hmm_child_put(struct ib_umem_hmm *child)
{
	struct ib_umem_hmm *root = child->parent;
	bool idle = !READ_ONCE(child->npages);

	/*
	 * The xarray keeps a reference until the reaper takes it out, and
	 * the reaper may free the child as soon as this one is dropped:
	 * nothing of it is read after.
	 */
	WARN_ON_ONCE(refcount_dec_and_test(&child->users));
	if (idle)
		queue_work(umem_hmm_wq, &root->reap_work);
}

void umem_hmm_child_idle(struct ib_umem_hmm *child);
void umem_hmm_release_children(struct ib_umem_hmm *root);
void umem_hmm_reap_work(struct work_struct *work);

static inline u64 umem_hmm_chunk_end(u64 addr)
{
	return min_t(u64, ALIGN_DOWN(addr, 1ULL << UMEM_HMM_CHUNK_SHIFT) +
			  (1ULL << UMEM_HMM_CHUNK_SHIFT), TASK_SIZE);
}

#endif /* UMEM_HMM_H */
