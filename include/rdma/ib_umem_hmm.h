/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * ib_umem_hmm: on-demand paging of user memory for RDMA devices, built on
 * the kernel's HMM mirror (mmu_interval_notifier + hmm_range_fault).
 *
 * A umem mirrors a range of a process's address space (or all of it, for
 * implicit ODP) without pinning anything.  The device maps pages when it
 * needs them (a "fault"), and the core tells the driver to stop using pages
 * before the kernel takes them back (an "invalidation").  DMA mapping of
 * every page is done here, against the ib_device: a virtual-DMA device gets
 * kernel addresses, a bus-mastering device gets bus addresses.
 *
 * Locking rule for drivers: while a span is locked (ib_umem_hmm_lock() until
 * ib_umem_hmm_unlock()), invalidations of that umem wait.  Do not allocate
 * memory that may enter reclaim, touch user memory, or call
 * ib_umem_hmm_map()/ib_umem_hmm_lock() without IB_UMEM_HMM_TRYLOCK on
 * another umem while holding a span: reclaim may need to invalidate the
 * very pages the span holds.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef _RDMA_IB_UMEM_HMM_H
#define _RDMA_IB_UMEM_HMM_H

#include <linux/atomic.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

struct ib_device;
struct ib_umem_hmm;
struct umem_hmm_block;
struct dentry;

/* Per-device statistics; names in ib_umem_hmm_stat_names[]. */
enum ib_umem_hmm_stat {
	/* device accesses that faulted (or waited for a write stream's pages) */
	IB_UMEM_HMM_STAT_FAULTS,
	IB_UMEM_HMM_STAT_PAGES_FAULTED,		/* 4 KiB pages they mapped */
	IB_UMEM_HMM_STAT_INVALIDATIONS,		/* invalidations that unmapped */
	IB_UMEM_HMM_STAT_PAGES_INVALIDATED,	/* 4 KiB pages they unmapped */
	IB_UMEM_HMM_STAT_PREFETCH_REQUESTS,
	IB_UMEM_HMM_STAT_PAGES_PREFETCHED,	/* 4 KiB pages prefetch mapped */
	IB_UMEM_HMM_STAT_FAULT_NS_SUM,		/* time spent serving faults */
	IB_UMEM_HMM_STAT_FAULT_NS_MAX,
	IB_UMEM_HMM_STAT_PAGES_MAPPED,		/* now mapped (gauge) */
	IB_UMEM_HMM_STAT_TRACKING_BYTES,	/* page tracking memory (gauge) */
	IB_UMEM_HMM_STAT_UMEMS,			/* live umems incl. children */
	IB_UMEM_HMM_STAT_PAGES_FROM_DEVICE,	/* pages faults migrated back */
	IB_UMEM_HMM_NUM_STATS
};

extern const char *const ib_umem_hmm_stat_names[IB_UMEM_HMM_NUM_STATS];

/**
 * struct ib_umem_hmm_device - what ib_umem_hmm keeps per RDMA device
 * @ibdev: the device pages are DMA-mapped for
 * @stats: counters, indexed by enum ib_umem_hmm_stat
 * @write_faults: see ib_umem_hmm_write_faults()
 * @debugfs: /sys/kernel/debug/ib_umem_hmm/<name>
 *
 * Embedded in the driver's device; see ib_umem_hmm_device_init().
 */
struct ib_umem_hmm_device {
	struct ib_device *ibdev;
	atomic64_t stats[IB_UMEM_HMM_NUM_STATS];
	atomic64_t write_faults;
	struct dentry *debugfs;
};

/**
 * ib_umem_hmm_write_faults - the device's faults for writing so far
 * @hdev: the device
 *
 * Those of IB_UMEM_HMM_STAT_FAULTS that were for writing: the kind that
 * allocates and clears pages (or waits for a write stream doing it), where
 * a fault for reading mostly maps pages the CPU has.  A driver may keep
 * its work where it is while they go on, leaving other CPUs to the
 * fault-ahead work.
 *
 * Return: their number since ib_umem_hmm_device_init().
 */
static inline s64 ib_umem_hmm_write_faults(const struct ib_umem_hmm_device *hdev)
{
	return atomic64_read(&hdev->write_faults);
}

/**
 * struct ib_umem_hmm_ops - driver callbacks
 * @invalidate: pages of @umem in [@start, @end) are about to be unmapped.
 *	Called with the umem write-locked (no span of it is held), before the
 *	DMA unmap.  The device must not use those pages after it returns.
 *	It may sleep but must not allocate memory that can enter reclaim.
 *	Never called from a non-blockable invalidation (one that finds
 *	pages mapped is refused; one that finds none needs no call).
 */
struct ib_umem_hmm_ops {
	void (*invalidate)(struct ib_umem_hmm *umem, u64 start, u64 end);
};

/* Flags of ib_umem_hmm_map(), ib_umem_hmm_lock(), ib_umem_hmm_prefetch() */
#define IB_UMEM_HMM_WRITE	(1U << 0) /* the device will write */
#define IB_UMEM_HMM_NO_FAULT	(1U << 1) /* only pages the CPU maps */
#define IB_UMEM_HMM_TRYLOCK	(1U << 2) /* lock: never wait, -EAGAIN */
#define IB_UMEM_HMM_ASYNC	(1U << 3) /* prefetch: return at once */

/*
 * Private to ib_umem_hmm: the sequential passes of device faults it follows
 * at once in each direction (a copy inside one implicit umem; an atomic's
 * targets and its results), for fault-ahead.
 */
#define IB_UMEM_HMM_PASSES	2

struct ib_umem_hmm_pass {
	u64 req_end;			/* end of what its last fault asked for */
	u64 next;			/* ... and of what it mapped ahead */
	unsigned int pages;		/* the window */
	unsigned long used;		/* ahead_clock at its last fault */
	/* Of write passes only: the stream faulting ahead of the pass. */
	u64 stream_end;			/* faulted ahead up to here */
	u64 stream_done;		/* ... of which the work has mapped this much */
	u64 stream_limit;		/* ... and never past here (its VMA) */
	struct work_struct stream_work;	/* maps [stream_done, stream_end) */
	struct ib_umem_hmm *umem;
};

/**
 * struct ib_umem_hmm - a mirrored range of a process's address space
 * @hdev: the device it is mapped for
 * @address: first byte (0 for an implicit umem)
 * @length: bytes (TASK_SIZE for an implicit umem)
 * @access: IB_ACCESS_* flags it was registered with
 * @implicit: covers the whole address space through children
 * @priv: the driver's
 * @dev_private_owner: see ib_umem_hmm_set_owner()
 *
 * The remaining fields are private to ib_umem_hmm.
 */
struct ib_umem_hmm {
	struct ib_umem_hmm_device *hdev;
	u64 address;
	u64 length;
	int access;
	bool implicit;
	void *priv;
	void *dev_private_owner;

	/* private: */
	const struct ib_umem_hmm_ops *ops;
	struct mm_struct *mm;
	struct ib_umem_hmm *parent;
	struct mmu_interval_notifier notifier;
	struct rw_semaphore lock;	/* entries; write: map, invalidate */
	u64 base;			/* address rounded down to a block */
	struct umem_hmm_block **flat;	/* block index -> page entries, */
	struct xarray blocks;		/* ... or, if no flat, here */
	unsigned long npages;		/* mapped pages, under lock */
	refcount_t users;		/* child: xarray + lockers */
	struct rcu_head rcu;

	spinlock_t ahead_lock;		/* fault-ahead state, faulters */
	struct list_head faulters;	/* tasks in hmm_range_fault() */
	/* [0]: passes of read faults, [1]: of write faults */
	struct ib_umem_hmm_pass ahead[2][IB_UMEM_HMM_PASSES];
	unsigned long ahead_clock;	/* counts faults, for pass reuse */
	wait_queue_head_t stream_wq;	/* faults waiting for a stream */

	struct mutex children_lock;	/* implicit: creating/reaping */
	struct xarray children;		/* implicit: chunk index -> child */
	struct ib_umem_hmm __rcu *child_hint;	/* implicit: the last one used */
	struct work_struct reap_work;

	atomic_t prefetches;		/* async prefetches in flight */
	bool dying;			/* released: prefetches skip their work */
};

/**
 * struct ib_umem_hmm_span - a locked, mapped part of a umem
 * @leaf: the umem holding the pages (a child for an implicit umem)
 * @start: first byte locked
 * @len: bytes locked from @start
 * @write: locked for writing
 */
struct ib_umem_hmm_span {
	struct ib_umem_hmm *leaf;
	u64 start;
	u64 len;
	bool write;
	/* private: the tracking block of @start, looked up once */
	void *blk;
};

int ib_umem_hmm_device_init(struct ib_umem_hmm_device *hdev,
			    struct ib_device *ibdev, const char *name);
void ib_umem_hmm_device_cleanup(struct ib_umem_hmm_device *hdev);

struct ib_umem_hmm *ib_umem_hmm_get(struct ib_umem_hmm_device *hdev,
				    u64 addr, u64 length, int access,
				    const struct ib_umem_hmm_ops *ops,
				    void *priv);
struct ib_umem_hmm *ib_umem_hmm_get_implicit(struct ib_umem_hmm_device *hdev,
					     int access,
					     const struct ib_umem_hmm_ops *ops,
					     void *priv);
void ib_umem_hmm_release(struct ib_umem_hmm *umem);
void ib_umem_hmm_set_owner(struct ib_umem_hmm *umem, void *owner);

int ib_umem_hmm_map(struct ib_umem_hmm *umem, u64 addr, u64 length,
		    unsigned int flags);
int ib_umem_hmm_lock(struct ib_umem_hmm *umem, u64 addr, u64 length,
		     unsigned int flags, struct ib_umem_hmm_span *span);
void ib_umem_hmm_unlock(struct ib_umem_hmm_span *span);
u64 ib_umem_hmm_span_dma(const struct ib_umem_hmm_span *span, u64 addr,
			 u64 *contig);
struct page *ib_umem_hmm_span_device_page(const struct ib_umem_hmm_span *span,
					  u64 addr);
int ib_umem_hmm_prefetch(struct ib_umem_hmm *umem, u64 addr, u64 length,
			 unsigned int flags);

/* ib_umem_hmm_page_state() bits */
#define IB_UMEM_HMM_PAGE_MAPPED		(1U << 0)
#define IB_UMEM_HMM_PAGE_WRITABLE	(1U << 1)
#define IB_UMEM_HMM_PAGE_DIRTY		(1U << 2)
#define IB_UMEM_HMM_PAGE_HUGE		(1U << 3)
#define IB_UMEM_HMM_PAGE_DEVICE		(1U << 4) /* the owner's device page */

int ib_umem_hmm_page_state(struct ib_umem_hmm *umem, u64 addr,
			   unsigned long npages, u8 *state);

static inline u64 ib_umem_hmm_end(const struct ib_umem_hmm *umem)
{
	return umem->address + umem->length;
}

#endif /* _RDMA_IB_UMEM_HMM_H */
