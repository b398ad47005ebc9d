// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ib_umem_hmm: device page faults (hmm_range_fault), fault-ahead, huge
 * pages, and the locked spans a device reads and writes through.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/hmm.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <rdma/ib_verbs.h>

#include "umem_hmm.h"

/*
 * How long a fault keeps retrying while the range is being invalidated;
 * then it fails with -EBUSY (the engine's kworkers see no signal).
 */
#define UMEM_HMM_FAULT_TIMEOUT_MS	10000

static unsigned int fault_ahead_max = UMEM_HMM_AHEAD_MAX;
module_param(fault_ahead_max, uint, 0644);
MODULE_PARM_DESC(fault_ahead_max,
		 "Most pages a fault maps beyond the faulting range (0: off; default 512)");

static bool write_streams = true;
module_param(write_streams, bool, 0644);
MODULE_PARM_DESC(write_streams,
		 "Fault ahead of sequential writes into anonymous memory in the background (default on)");

/*
 * Fault-ahead: a fault that starts at or past the end of what the previous
 * fault of a pass asked for, and no further than what was mapped ahead of
 * it, continues that pass, so it maps a window beyond what was asked for,
 * and the window doubles each time up to fault_ahead_max pages.  Reads and
 * writes are followed apart, and IB_UMEM_HMM_PASSES passes of each at once:
 * a copy between two regions of one umem (implicit ODP) interleaves a read
 * pass and a write pass, an atomic a write pass through its targets and
 * one through its results.  A fault that continues no pass starts one in
 * place of the pass least recently continued.
 */
static bool umem_hmm_pass_continues(const struct ib_umem_hmm_pass *p, u64 start,
				    u64 end)
{
	/*
	 * (@start and @end are whole pages: a pass through unaligned buffers
	 * starts each fault in the page the previous one ended in.)
	 */
	return p->pages && start + PAGE_SIZE >= p->req_end && end > p->req_end &&
	       start <= max(p->next, p->stream_end);
}

/*
 * Returns the end of the range to fault (clamped to the umem by the
 * caller), the pass of the fault with its clock (the pass is another's
 * once its clock moved), and whether the fault continued it.
 */
static u64 umem_hmm_ahead_end(struct ib_umem_hmm *umem, u64 start, u64 end,
			      bool write, struct ib_umem_hmm_pass **passp,
			      unsigned long *used, bool *sequential)
{
	struct ib_umem_hmm_pass *passes = umem->ahead[write], *pass = NULL, *p;
	unsigned int max = READ_ONCE(fault_ahead_max);
	unsigned int pages;

	spin_lock(&umem->ahead_lock);
	for (p = passes; p < passes + IB_UMEM_HMM_PASSES; p++) {
		if (umem_hmm_pass_continues(p, start, end)) {
			pass = p;
			break;
		}
	}
	*sequential = !!pass;
	if (pass) {
		pages = pass->pages * 2;
	} else {
		pass = passes;
		for (p = passes + 1; p < passes + IB_UMEM_HMM_PASSES; p++)
			if (p->used < pass->used)
				pass = p;
		pages = UMEM_HMM_AHEAD_MIN;
		WRITE_ONCE(pass->stream_end, 0);
	}
	pages = min(pages, max);
	pass->used = ++umem->ahead_clock;
	*used = pass->used;
	WRITE_ONCE(pass->pages, pages);
	pass->req_end = end;
	/*
	 * A fault into a transparent huge page maps its whole 2 MiB: the
	 * next fault of the pass comes at the next unit at the earliest.
	 */
	pass->next = max(end + ((u64)pages << PAGE_SHIFT),
			 ALIGN(end, UMEM_HMM_BLOCK_SIZE));
	end += (u64)pages << PAGE_SHIFT;
	spin_unlock(&umem->ahead_lock);
	*passp = pass;
	return end;
}

static u64 umem_hmm_vma_end(struct ib_umem_hmm *umem, u64 addr, bool *anon);

/*
 * Write streams.  Ahead of a write only what the CPU maps already is
 * mapped synchronously (write-faulting pages the device may never touch
 * would fill them), but a sequential pass of write faults through
 * anonymous memory is a stream that will go on, and each fault of it
 * would make the device wait for page allocation and clearing.  So the
 * window ahead of it is faulted by the pass's stream work, on another CPU,
 * while the device copies, and extended as the device's writes come near
 * its end, never more than a window (at most twice fault_ahead_max pages)
 * past them.  The stream ends at its VMA's end or when its pass does.
 */
static void umem_hmm_stream_queue(struct ib_umem_hmm_pass *pass, u64 from, u64 to)
{
	lockdep_assert_held(&pass->umem->ahead_lock);
	/* A new stream, or one past a gap: never fill the pages between. */
	if (!pass->stream_end || from > pass->stream_end)
		pass->stream_done = from;
	to = min(to, pass->stream_limit);
	if (to <= max(from, pass->stream_end))
		return;
	/* The work maps [stream_done, stream_end) as it finds them. */
	WRITE_ONCE(pass->stream_end, to);
	queue_work(umem_hmm_wq, &pass->stream_work);
}

/*
 * Called on every locked write: a few loads unless the device has come
 * within half a window of a stream's end, when the stream is extended
 * to a window past the device.  The window doubles, as for faults, up to
 * twice fault_ahead_max: with transparent huge pages a fault maps (and
 * clears) a whole 2 MiB unit, and the next unit must be started while the
 * device is still at the beginning of the current one.  May run with a
 * span held: queueing the umem's own work allocates nothing.
 */
static void umem_hmm_stream_advance(struct ib_umem_hmm *umem, u64 pos)
{
	struct ib_umem_hmm_pass *p;
	unsigned int pages;
	u64 end, window;

	for (p = umem->ahead[1]; p < umem->ahead[1] + IB_UMEM_HMM_PASSES; p++) {
		end = READ_ONCE(p->stream_end);
		window = (u64)READ_ONCE(p->pages) << PAGE_SHIFT;
		if (!end || pos > end || pos + window / 2 < end)
			continue;
		spin_lock(&umem->ahead_lock);
		/* Again under the lock: the stream may have ended or restarted. */
		end = p->stream_end;
		window = (u64)p->pages << PAGE_SHIFT;
		if (end && pos <= end && pos + window / 2 >= end) {
			pages = min(p->pages * 2, 2 * READ_ONCE(fault_ahead_max));
			WRITE_ONCE(p->pages, pages);
			umem_hmm_stream_queue(p, end,
					      PAGE_ALIGN(pos) + ((u64)pages << PAGE_SHIFT));
		}
		spin_unlock(&umem->ahead_lock);
	}
}

/* Is [start, end) clear of what the pass's stream work has yet to map? */
static bool umem_hmm_stream_covers(struct ib_umem_hmm_pass *pass, u64 start,
				   u64 end)
{
	bool covers;

	spin_lock(&pass->umem->ahead_lock);
	covers = start >= pass->stream_end ||
		 min(end, pass->stream_end) <= pass->stream_done;
	spin_unlock(&pass->umem->ahead_lock);
	return covers;
}

/*
 * A device fault inside the windows a stream work has yet to map
 * ([stream_done, stream_end)) waits until the work has mapped its pages
 * rather than fault (and allocate, and clear) them beside it; not for the
 * rest of the window, which the work maps a unit at a time while the
 * device goes on.  Returns true if it waited.
 */
static bool umem_hmm_stream_wait(struct ib_umem_hmm *umem, u64 start, u64 end)
{
	struct ib_umem_hmm_pass *p;
	bool waited = false;

	/*
	 * The work wakes us at each unit and as it ends; the timeout only
	 * bounds a wait on a stream that ended (or moved) with no work left.
	 */
	for (p = umem->ahead[1]; p < umem->ahead[1] + IB_UMEM_HMM_PASSES; p++) {
		while (!umem_hmm_stream_covers(p, start, end) &&
		       work_busy(&p->stream_work)) {
			wait_event_timeout(umem->stream_wq,
					   umem_hmm_stream_covers(p, start, end),
					   msecs_to_jiffies(10));
			waited = true;
		}
	}
	return waited;
}

/* An unmap ends the write streams: the range may be mapped anew, by a file. */
void umem_hmm_stream_end(struct ib_umem_hmm *umem)
{
	struct ib_umem_hmm_pass *p;

	spin_lock(&umem->ahead_lock);
	for (p = umem->ahead[1]; p < umem->ahead[1] + IB_UMEM_HMM_PASSES; p++)
		WRITE_ONCE(p->stream_end, 0);
	spin_unlock(&umem->ahead_lock);
	wake_up_all(&umem->stream_wq);
}

/*
 * Map a pass's stream window a transparent-huge-page unit at a time,
 * telling waiting faults after each, so that the device is held up only
 * by the pages it is about to touch.
 */
static void umem_hmm_stream_work(struct work_struct *work)
{
	struct ib_umem_hmm_pass *pass = container_of(work, struct ib_umem_hmm_pass,
						     stream_work);
	struct ib_umem_hmm *umem = pass->umem;
	u64 start, end;
	bool anon;

	for (;;) {
		spin_lock(&umem->ahead_lock);
		start = pass->stream_done;
		end = pass->stream_end;
		spin_unlock(&umem->ahead_lock);
		if (start >= end)
			break;
		/*
		 * A hint: an error (no memory) just ends it here.  The VMA is
		 * looked at again for each unit, and an unmap ends the
		 * stream (see umem_hmm_invalidate()), so pages of a file are
		 * not filled ahead (but for a file mapped in place of the
		 * memory between the look and the unit's fault).
		 */
		end = min3(end, umem_hmm_vma_end(umem, start, &anon),
			   ALIGN(start + 1, UMEM_HMM_BLOCK_SIZE));
		if (!anon || end <= start || READ_ONCE(umem->dying) ||
		    umem_hmm_map_leaf(umem, start, end, IB_UMEM_HMM_WRITE, true))
			end = U64_MAX;
		spin_lock(&umem->ahead_lock);
		/* Unless the stream ended, or restarted elsewhere, meanwhile. */
		if (pass->stream_done == start)
			pass->stream_done = min(end, pass->stream_end);
		spin_unlock(&umem->ahead_lock);
		wake_up_all(&umem->stream_wq);
		if (end == U64_MAX)
			break;
	}
	wake_up_all(&umem->stream_wq);
}

void umem_hmm_passes_init(struct ib_umem_hmm *umem)
{
	struct ib_umem_hmm_pass *p;

	for (p = umem->ahead[1]; p < umem->ahead[1] + IB_UMEM_HMM_PASSES; p++) {
		INIT_WORK(&p->stream_work, umem_hmm_stream_work);
		p->umem = umem;
	}
	init_waitqueue_head(&umem->stream_wq);
}

/* Nothing locks the umem any more, so nothing queues a stream again. */
void umem_hmm_passes_cancel(struct ib_umem_hmm *umem)
{
	struct ib_umem_hmm_pass *p;

	for (p = umem->ahead[1]; p < umem->ahead[1] + IB_UMEM_HMM_PASSES; p++)
		cancel_work_sync(&p->stream_work);
}

static u64 umem_hmm_entry_dma(struct ib_umem_hmm *umem,
			      struct umem_hmm_block *blk, u64 addr,
			      unsigned long e)
{
	if (umem_hmm_bus_dma(umem))
		return blk->dma[umem_hmm_slot(umem, addr)];
	return (uintptr_t)page_address(pfn_to_page(e & UMEM_HMM_PFN_MASK));
}

/*
 * A device fault that meets a page in another driver's device-private
 * memory has the kernel migrate it back (that pgmap's migrate_to_ram, run
 * by the faulting task), which invalidates with MMU_NOTIFY_MIGRATE and that
 * owner.  Such invalidations caused by our own faults count their pages:
 * exactly the pages brought back where the driver migrates the faulting
 * page alone; with one that migrates a range around it (or whose migration
 * then fails for some page), the range.  Called by the invalidation, in
 * the migrating task.
 */
void umem_hmm_count_from_device(struct ib_umem_hmm *umem,
				const struct mmu_notifier_range *range)
{
	struct umem_hmm_faulter *f;
	bool ours = false;
	u64 start, end;

	if (range->event != MMU_NOTIFY_MIGRATE || !range->owner ||
	    range->owner == umem->dev_private_owner)
		return;
	spin_lock(&umem->ahead_lock);
	list_for_each_entry(f, &umem->faulters, node) {
		if (f->task == current) {
			ours = true;
			break;
		}
	}
	spin_unlock(&umem->ahead_lock);
	start = max_t(u64, range->start, umem_hmm_start_page(umem));
	end = min_t(u64, range->end, umem_hmm_end_page(umem));
	if (ours && start < end)
		umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_PAGES_FROM_DEVICE,
				  (end - start) >> PAGE_SHIFT);
}

/*
 * Install what hmm_range_fault() found for one page.  The umem is write
 * locked and the notifier sequence was checked, so @hmm_pfn is what the CPU
 * maps now.  Returns 1 if the page was newly mapped, 0 if it already was
 * (its permission resynchronised), or a negative errno.
 */
static int umem_hmm_install_page(struct ib_umem_hmm *umem,
				 struct umem_hmm_block *blk, u64 addr,
				 unsigned long hmm_pfn)
{
	unsigned long slot = umem_hmm_slot(umem, addr);
	unsigned long *e = &blk->entries[slot];
	struct page *page = hmm_pfn_to_page(hmm_pfn);
	unsigned long pfn = page_to_pfn(page);
	unsigned long state = UMEM_HMM_VALID;

	if (hmm_pfn & HMM_PFN_WRITE)
		state |= UMEM_HMM_WRITABLE;
	/* Only the owner's (ib_umem_hmm_set_owner()): the CPU cannot address it. */
	if (is_device_private_page(page))
		state |= UMEM_HMM_DEVICE;

	if (*e & UMEM_HMM_VALID) {
		if ((*e & UMEM_HMM_PFN_MASK) == pfn) {
			*e = (*e & ~UMEM_HMM_WRITABLE) | (state & UMEM_HMM_WRITABLE);
			return 0;
		}
		/* Cannot happen under the sequence check; never use a stale page. */
		WARN_ONCE(1, "ib_umem_hmm: page changed without invalidation\n");
		return -EFAULT;
	}

	if (umem_hmm_bus_dma(umem) && !(state & UMEM_HMM_DEVICE)) {
		struct ib_device *ibdev = umem->hdev->ibdev;
		u64 dma = ib_dma_map_page(ibdev, page, 0, PAGE_SIZE,
					  DMA_BIDIRECTIONAL);

		if (ib_dma_mapping_error(ibdev, dma))
			return -EFAULT;
		blk->dma[slot] = dma;
	}
	*e = pfn | state;
	return 1;
}

/*
 * A PMD-mapped huge page whose 2 MiB lies inside the umem and whose block
 * holds nothing else is mapped as one unit: one DMA mapping, 512 entries.
 * Returns the pages newly mapped, 0 if the block is not eligible, or a
 * negative errno.
 */
static int umem_hmm_install_huge(struct ib_umem_hmm *umem,
				 struct umem_hmm_block *blk, u64 addr,
				 unsigned long hmm_pfn)
{
	u64 unit = ALIGN_DOWN(addr, UMEM_HMM_BLOCK_SIZE);
	unsigned long *entries = blk->entries;
	unsigned long pfn, state = UMEM_HMM_VALID | UMEM_HMM_HUGE;
	unsigned long i;

	if (hmm_pfn_to_map_order(hmm_pfn) != UMEM_HMM_BLOCK_SHIFT - PAGE_SHIFT ||
	    is_device_private_page(hmm_pfn_to_page(hmm_pfn)) ||
	    unit < umem_hmm_start_page(umem) ||
	    unit + UMEM_HMM_BLOCK_SIZE > umem_hmm_end_page(umem))
		return 0;
	for (i = 0; i < UMEM_HMM_BLOCK_PAGES; i++)
		if (entries[i] & UMEM_HMM_VALID)
			return 0;

	pfn = page_to_pfn(hmm_pfn_to_page(hmm_pfn)) -
	      ((addr - unit) >> PAGE_SHIFT);
	if (hmm_pfn & HMM_PFN_WRITE)
		state |= UMEM_HMM_WRITABLE;

	if (umem_hmm_bus_dma(umem)) {
		struct ib_device *ibdev = umem->hdev->ibdev;
		u64 dma = ib_dma_map_page(ibdev, pfn_to_page(pfn), 0,
					  UMEM_HMM_BLOCK_SIZE, DMA_BIDIRECTIONAL);

		if (ib_dma_mapping_error(ibdev, dma))
			return -EFAULT;
		for (i = 0; i < UMEM_HMM_BLOCK_PAGES; i++)
			blk->dma[i] = dma + (i << PAGE_SHIFT);
	}
	for (i = 0; i < UMEM_HMM_BLOCK_PAGES; i++)
		entries[i] = (pfn + i) | state;
	return UMEM_HMM_BLOCK_PAGES;
}

/*
 * Did hmm_range_fault() report one of the owner's device pages read-only
 * (after fork() or mprotect(): hmm reports them as they are, faulting
 * nothing)?
 */
static bool umem_hmm_device_readonly(const unsigned long *pfns,
				     unsigned long npages)
{
	unsigned long i;

	for (i = 0; i < npages; i++)
		if ((pfns[i] & (HMM_PFN_VALID | HMM_PFN_WRITE)) == HMM_PFN_VALID &&
		    is_device_private_page(hmm_pfn_to_page(pfns[i])))
			return true;
	return false;
}

/* One hmm_range_fault() pass over at most UMEM_HMM_FAULT_PAGES pages. */
static int umem_hmm_fault_range(struct ib_umem_hmm *umem, u64 start, u64 end,
				unsigned int flags, unsigned long *pfns,
				unsigned long *mapped)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(UMEM_HMM_FAULT_TIMEOUT_MS);
	struct hmm_range range = {
		.notifier = &umem->notifier,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		.dev_private_owner = umem->dev_private_owner,
	};
	struct umem_hmm_faulter me = { .task = current };
	struct umem_hmm_block *blk = NULL;
	u64 addr;
	int ret;

	if (!(flags & IB_UMEM_HMM_NO_FAULT)) {
		range.default_flags = HMM_PFN_REQ_FAULT;
		if (flags & IB_UMEM_HMM_WRITE)
			range.default_flags |= HMM_PFN_REQ_WRITE;
	}

	if (!mmget_not_zero(umem->mm))
		return -EFAULT;
again:
	if (fatal_signal_pending(current)) {
		ret = -EINTR;
		goto out;
	}
	range.notifier_seq = mmu_interval_read_begin(&umem->notifier);
	ret = mmap_read_lock_killable(umem->mm);
	if (ret)
		goto out;
	spin_lock(&umem->ahead_lock);
	list_add(&me.node, &umem->faulters);
	spin_unlock(&umem->ahead_lock);
	ret = hmm_range_fault(&range);
	spin_lock(&umem->ahead_lock);
	list_del(&me.node);
	spin_unlock(&umem->ahead_lock);
	mmap_read_unlock(umem->mm);
	if (ret == -EBUSY && time_before(jiffies, timeout)) {
		cond_resched();
		goto again;
	}
	if (ret)
		goto out;
	/*
	 * The device must write a page the owner holds read-only: fault the
	 * range as anyone would, which migrates the owner's pages back and
	 * lets the CPU's write fault (and its COW) make them writable.
	 */
	if ((range.default_flags & HMM_PFN_REQ_WRITE) && range.dev_private_owner &&
	    umem_hmm_device_readonly(pfns, (end - start) >> PAGE_SHIFT)) {
		range.dev_private_owner = NULL;
		goto again;
	}
	/* Tracking for what came back, allocated before the lock. */
	ret = umem_hmm_alloc_blocks(umem, start, end, pfns);
	if (ret)
		goto out;

	down_write(&umem->lock);
	if (mmu_interval_read_retry(&umem->notifier, range.notifier_seq)) {
		up_write(&umem->lock);
		if (time_after(jiffies, timeout)) {
			ret = -EBUSY;
			goto out;
		}
		cond_resched();
		goto again;
	}
	for (addr = start; addr < end; addr += PAGE_SIZE) {
		unsigned long hmm_pfn = pfns[(addr - start) >> PAGE_SHIFT];
		int n;

		if (addr == start || IS_ALIGNED(addr, UMEM_HMM_BLOCK_SIZE))
			blk = umem_hmm_block(umem, addr);
		if (!(hmm_pfn & HMM_PFN_VALID) || (hmm_pfn & HMM_PFN_ERROR))
			continue;
		/*
		 * Allocated above; only an invalidation frees a block, and the
		 * sequence check would have seen it.
		 */
		if (WARN_ON_ONCE(!blk)) {
			ret = -EFAULT;
			break;
		}
		n = umem_hmm_install_huge(umem, blk, addr, hmm_pfn);
		if (n > 0) {
			*mapped += n;
			/* Skip the rest of this unit. */
			addr = ALIGN_DOWN(addr, UMEM_HMM_BLOCK_SIZE) +
			       UMEM_HMM_BLOCK_SIZE - PAGE_SIZE;
			continue;
		}
		if (!n)
			n = umem_hmm_install_page(umem, blk, addr, hmm_pfn);
		if (n < 0) {
			ret = n;
			break;
		}
		*mapped += n;
	}
	umem->npages += *mapped;
	umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_PAGES_MAPPED, *mapped);
	up_write(&umem->lock);
out:
	mmput_async(umem->mm);
	return ret;
}

/*
 * End of the VMA holding @addr, or @addr if there is none; *@anon: whether
 * it is private anonymous memory.
 */
static u64 umem_hmm_vma_end(struct ib_umem_hmm *umem, u64 addr, bool *anon)
{
	struct vm_area_struct *vma;
	u64 end = addr;

	*anon = false;
	if (!mmget_not_zero(umem->mm))
		return addr;
	if (!mmap_read_lock_killable(umem->mm)) {
		vma = vma_lookup(umem->mm, addr);
		if (vma) {
			end = vma->vm_end;
			*anon = vma_is_anonymous(vma);
		}
		mmap_read_unlock(umem->mm);
	}
	mmput_async(umem->mm);
	return end;
}

static bool umem_hmm_all_present(struct ib_umem_hmm *umem, u64 start, u64 end,
				 unsigned int flags);

/* A device fault that began at @t0 is over, having mapped @pages pages. */
static void umem_hmm_count_fault(struct ib_umem_hmm *umem, ktime_t t0,
				 unsigned long pages, unsigned int flags)
{
	s64 ns = ktime_to_ns(ktime_sub(ktime_get(), t0));

	if (flags & IB_UMEM_HMM_WRITE)
		atomic64_inc(&umem->hdev->write_faults);
	umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_FAULTS, 1);
	umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_PAGES_FAULTED, pages);
	umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_FAULT_NS_SUM, ns);
	umem_hmm_stat_max(umem, IB_UMEM_HMM_STAT_FAULT_NS_MAX, ns);
}

/*
 * umem_hmm_map_leaf - map [start, end) of a leaf umem for the device
 *
 * Without IB_UMEM_HMM_NO_FAULT every page must become mapped (a fault),
 * and pages beyond @end, in the same VMA, are faulted ahead as the access
 * pattern warrants.  With it, only pages the CPU maps now are mapped.
 * Called with no umem lock held.  Returns 0 or a negative errno: -EFAULT
 * for an address with no VMA (or a VMA the device cannot use), -EPERM for
 * a write to a read-only mapping.
 */
int umem_hmm_map_leaf(struct ib_umem_hmm *umem, u64 start, u64 end,
		      unsigned int flags, bool prefetch)
{
	bool fault = !(flags & IB_UMEM_HMM_NO_FAULT);
	unsigned long mapped = 0, *pfns;
	u64 limit = umem_hmm_end_page(umem);
	ktime_t t0 = ktime_get();
	unsigned int ahead_flags;
	u64 addr, req_end, vma_end = 0;
	struct ib_umem_hmm_pass *pass;
	bool sequential, anon = false;
	unsigned long used;
	int ret;

	start = ALIGN_DOWN(start, PAGE_SIZE);
	end = ALIGN(end, PAGE_SIZE);
	req_end = end;
	if (fault && !prefetch) {
		if (umem_hmm_stream_wait(umem, start, end) &&
		    umem_hmm_all_present(umem, start, end, flags)) {
			/* A fault all the same: it waited for the stream's pages. */
			umem_hmm_count_fault(umem, t0, 0, flags);
			return 0;
		}
		end = umem_hmm_ahead_end(umem, start, end, flags & IB_UMEM_HMM_WRITE,
					 &pass, &used, &sequential);
		end = min(end, limit);
		if (end > req_end) {
			vma_end = umem_hmm_vma_end(umem, req_end - PAGE_SIZE, &anon);
			end = max(req_end, min(end, vma_end));
		}
		if (end > req_end && sequential && anon && (flags & IB_UMEM_HMM_WRITE) &&
		    READ_ONCE(write_streams)) {
			spin_lock(&umem->ahead_lock);
			/* Unless a fault since (the VMA lookup sleeps) took the pass. */
			if (pass->used == used) {
				pass->stream_limit = min(vma_end, limit);
				umem_hmm_stream_queue(pass, req_end, end);
			}
			spin_unlock(&umem->ahead_lock);
			end = req_end;
		}
	}

	/*
	 * Ahead of a write, only what the CPU maps already: write-faulting
	 * pages the device never touches would fill them (anonymous memory)
	 * or dirty them (files, written back for nothing).
	 */
	ahead_flags = flags & IB_UMEM_HMM_WRITE ? flags | IB_UMEM_HMM_NO_FAULT : flags;
	/* Zeroed: newer kernels carry some input bits of it into the output. */
	pfns = kcalloc(UMEM_HMM_FAULT_PAGES, sizeof(*pfns), GFP_KERNEL);
	if (!pfns)
		return -ENOMEM;

	for (addr = start; addr < end;) {
		u64 next = min_t(u64, end, addr + UMEM_HMM_FAULT_PAGES * PAGE_SIZE);
		unsigned long n = 0;

		/* Keep what was asked for and the fault-ahead in separate passes. */
		if (addr < req_end)
			next = min(next, req_end);

		ret = umem_hmm_fault_range(umem, addr, next,
					   addr < req_end ? flags : ahead_flags,
					   pfns, &n);
		mapped += n;
		/* An error past what was asked for only ends the fault-ahead. */
		if (ret && addr >= req_end) {
			ret = 0;
			break;
		}
		if (ret)
			break;
		addr = next;
	}
	kfree(pfns);

	if (prefetch)
		umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_PAGES_PREFETCHED, mapped);
	else if (fault)
		umem_hmm_count_fault(umem, t0, mapped, flags);
	return ret;
}

/*
 * Is every page of [start, end) mapped with the access @flags need?  With
 * @dirty, a write lock's pages are marked dirty on the way (if the answer
 * is no, some of them were marked for nothing: harmless).  *@first, if not
 * NULL: the block of @start.
 */
static __always_inline bool umem_hmm_present(struct ib_umem_hmm *umem, u64 start,
					     u64 end, unsigned int flags, bool dirty,
					     void **first)
{
	unsigned long need = UMEM_HMM_VALID;
	u64 addr;

	if (flags & IB_UMEM_HMM_WRITE)
		need |= UMEM_HMM_WRITABLE;
	for (addr = ALIGN_DOWN(start, PAGE_SIZE); addr < end;) {
		struct umem_hmm_block *blk = umem_hmm_block(umem, addr);
		u64 next = umem_hmm_block_end(addr, end);

		if (!blk)
			return false;
		if (first && addr <= start)
			*first = blk;
		for (; addr < next; addr += PAGE_SIZE) {
			unsigned long *e = &blk->entries[umem_hmm_slot(umem, addr)];

			if ((*e & need) != need)
				return false;
			if (dirty && !(*e & UMEM_HMM_DIRTY))
				set_bit(UMEM_HMM_DIRTY_BIT, e);
		}
	}
	return true;
}

/* Faults a lock makes before it gives up: invalidations outpacing it. */
#define UMEM_HMM_LOCK_TRIES	16

/* One caller, the hot path of every device access: inlined there. */
static int umem_hmm_lock_leaf(struct ib_umem_hmm *umem, u64 addr, u64 length,
			      unsigned int flags, struct ib_umem_hmm_span *span)
{
	unsigned int tries = 0;
	u64 end = addr + length;
	int ret;

	for (;;) {
		if (++tries > UMEM_HMM_LOCK_TRIES)
			return -EBUSY;
		/*
		 * A trylock first: down_read() would also call cond_resched().
		 * The debug checks a waiting lock makes are made anyway.
		 */
		if (!(flags & IB_UMEM_HMM_TRYLOCK)) {
			__might_sleep(__FILE__, __LINE__);
			might_lock_read(&umem->lock);
		}
		if (!down_read_trylock(&umem->lock)) {
			if (flags & IB_UMEM_HMM_TRYLOCK)
				return -EAGAIN;
			down_read(&umem->lock);
		}
		if (umem_hmm_present(umem, addr, end, flags,
				     flags & IB_UMEM_HMM_WRITE, &span->blk))
			break;
		up_read(&umem->lock);
		if (flags & IB_UMEM_HMM_NO_FAULT)
			return -EAGAIN;
		ret = umem_hmm_map_leaf(umem, addr, end, flags, false);
		if (ret)
			return ret;
	}
	if (flags & IB_UMEM_HMM_WRITE)
		umem_hmm_stream_advance(umem, end);
	span->leaf = umem;
	span->start = addr;
	span->len = length;
	span->write = flags & IB_UMEM_HMM_WRITE;
	return 0;
}

/* Already mapped as asked?  Then a map is no fault and costs no walk. */
static bool umem_hmm_all_present(struct ib_umem_hmm *umem, u64 start, u64 end,
				 unsigned int flags)
{
	bool present;

	down_read(&umem->lock);
	present = umem_hmm_present(umem, start, end, flags, false, NULL);
	up_read(&umem->lock);
	return present;
}

/* Map [addr, addr + length) of any umem, child by child if implicit. */
int umem_hmm_map_range(struct ib_umem_hmm *umem, u64 addr, u64 length,
		       unsigned int flags, bool prefetch)
{
	int ret = 0;

	while (!ret && length) {
		struct ib_umem_hmm *leaf = umem;
		u64 len = length;

		if (umem->implicit) {
			leaf = umem_hmm_child(umem, addr,
					      !(flags & IB_UMEM_HMM_NO_FAULT));
			if (IS_ERR(leaf))
				return PTR_ERR(leaf);
			len = min(length, umem_hmm_chunk_end(addr) - addr);
		}
		if (leaf && !umem_hmm_all_present(leaf, addr, addr + len, flags))
			ret = umem_hmm_map_leaf(leaf, addr, addr + len, flags,
						prefetch);
		if (umem->implicit && leaf)
			umem_hmm_child_put(leaf);
		addr += len;
		length -= len;
	}
	return ret;
}

/**
 * ib_umem_hmm_map - make pages of a umem available to the device
 * @umem: the umem
 * @addr: first byte
 * @length: bytes
 * @flags: IB_UMEM_HMM_WRITE to map for writing; IB_UMEM_HMM_NO_FAULT to map
 *	only what the CPU maps now, faulting nothing
 *
 * Returns with no lock held: the pages may be invalidated again at once.
 * Use ib_umem_hmm_lock() to access them.  Must not be called while holding
 * a span.
 *
 * Return: 0; -EINVAL if the range is not inside the umem; -EFAULT if an
 * address has no VMA or one the device cannot use; -EPERM if a write was
 * asked of a read-only mapping; -ENOMEM; -EINTR on a fatal signal; -EBUSY
 * if invalidations kept the range changing for too long.
 */
int ib_umem_hmm_map(struct ib_umem_hmm *umem, u64 addr, u64 length,
		    unsigned int flags)
{
	int ret = umem_hmm_check_range(umem, addr, length);

	return ret ? ret : umem_hmm_map_range(umem, addr, length, flags, false);
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_map);

/**
 * ib_umem_hmm_lock - map and lock pages for a device access
 * @umem: the umem
 * @addr: first byte the device will access
 * @length: bytes it will access
 * @flags: IB_UMEM_HMM_WRITE for a write; IB_UMEM_HMM_NO_FAULT to fail with
 *	-EAGAIN instead of faulting; IB_UMEM_HMM_TRYLOCK to fail with -EAGAIN
 *	instead of waiting for the lock (use it, with NO_FAULT, to lock a
 *	second umem while holding a span)
 * @span: filled in on success
 *
 * On success the pages of [@addr, @addr + @span->len) stay mapped until
 * ib_umem_hmm_unlock(): invalidations wait.  @span->len may be less than
 * @length when an implicit umem's range crosses a chunk; lock the rest
 * separately.  Written pages are marked dirty when they are unmapped.
 *
 * Return: 0, or the errors of ib_umem_hmm_map() (-EBUSY also when the
 * pages were taken back again after each of several faults), or -EAGAIN.
 */
int ib_umem_hmm_lock(struct ib_umem_hmm *umem, u64 addr, u64 length,
		     unsigned int flags, struct ib_umem_hmm_span *span)
{
	struct ib_umem_hmm *leaf = umem;
	int ret = umem_hmm_check_range(umem, addr, length);

	if (ret)
		return ret;
	if (umem->implicit) {
		leaf = umem_hmm_child(umem, addr, !(flags & IB_UMEM_HMM_NO_FAULT));
		if (IS_ERR(leaf))
			return PTR_ERR(leaf);
		if (!leaf)
			return -EAGAIN;
		length = min(length, umem_hmm_chunk_end(addr) - addr);
	}
	ret = umem_hmm_lock_leaf(leaf, addr, length, flags, span);
	if (ret && leaf != umem)
		umem_hmm_child_put(leaf);
	return ret;
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_lock);

/**
 * ib_umem_hmm_unlock - end a device access
 * @span: from ib_umem_hmm_lock()
 */
void ib_umem_hmm_unlock(struct ib_umem_hmm_span *span)
{
	struct ib_umem_hmm *leaf = span->leaf;

	up_read(&leaf->lock);
	if (leaf->parent)
		umem_hmm_child_put(leaf);
	span->leaf = NULL;
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_unlock);

/**
 * ib_umem_hmm_span_dma - DMA address of a byte of a locked span
 * @span: a locked span
 * @addr: a byte inside it
 * @contig: if not NULL, set to the bytes from @addr that are contiguous in
 *	DMA space and inside the span (to the end of the page or huge page)
 *
 * For a virtual-DMA device the address is a kernel virtual address.
 *
 * Return: the DMA address of @addr.
 */
u64 ib_umem_hmm_span_dma(const struct ib_umem_hmm_span *span, u64 addr,
			 u64 *contig)
{
	struct ib_umem_hmm *umem = span->leaf;
	struct umem_hmm_block *blk = umem_hmm_span_block(span, addr);
	unsigned long e = blk->entries[umem_hmm_slot(umem, addr)];
	u64 page = ALIGN_DOWN(addr, PAGE_SIZE);

	/* A driver that set an owner asks ib_umem_hmm_span_device_page() first. */
	if (WARN_ON_ONCE(e & UMEM_HMM_DEVICE))
		return 0;

	if (contig) {
		u64 unit_end = (e & UMEM_HMM_HUGE) ?
			ALIGN_DOWN(addr, UMEM_HMM_BLOCK_SIZE) + UMEM_HMM_BLOCK_SIZE :
			page + PAGE_SIZE;

		*contig = min(unit_end, span->start + span->len) - addr;
	}
	return umem_hmm_entry_dma(umem, blk, page, e) + (addr - page);
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_span_dma);

/**
 * ib_umem_hmm_span_device_page - the owner's device page of a locked span
 * @span: a locked span
 * @addr: a byte inside it
 *
 * Return: the device-private page at @addr if it is one of the owner's
 * (ib_umem_hmm_set_owner()), else NULL: the page is system or
 * device-coherent memory, to be reached by ib_umem_hmm_span_dma().
 */
struct page *ib_umem_hmm_span_device_page(const struct ib_umem_hmm_span *span,
					  u64 addr)
{
	struct umem_hmm_block *blk = umem_hmm_span_block(span, addr);
	unsigned long e = blk->entries[umem_hmm_slot(span->leaf, addr)];

	return (e & UMEM_HMM_DEVICE) ? pfn_to_page(e & UMEM_HMM_PFN_MASK) : NULL;
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_span_device_page);

/**
 * ib_umem_hmm_page_state - what the device has mapped, for tests and debug
 * @umem: an explicit umem or an implicit one
 * @addr: page-aligned address inside it
 * @npages: pages to report
 * @state: one byte per page: IB_UMEM_HMM_PAGE_* bits
 *
 * A snapshot: it may be stale as soon as it returns.
 *
 * Return: 0 or -EINVAL (range).
 */
int ib_umem_hmm_page_state(struct ib_umem_hmm *umem, u64 addr,
			   unsigned long npages, u8 *state)
{
	unsigned long i;
	int ret;

	ret = umem_hmm_check_range(umem, addr, (u64)npages << PAGE_SHIFT);
	if (ret || !PAGE_ALIGNED(addr))
		return -EINVAL;
	for (i = 0; i < npages; i++, addr += PAGE_SIZE) {
		struct ib_umem_hmm *leaf = umem;
		unsigned long e = 0, *p;

		if (umem->implicit)
			leaf = umem_hmm_child(umem, addr, false);
		if (leaf) {
			down_read(&leaf->lock);
			p = umem_hmm_entry(leaf, addr);
			if (p)
				e = *p;
			up_read(&leaf->lock);
			if (leaf != umem)
				umem_hmm_child_put(leaf);
		}
		state[i] = (e & UMEM_HMM_VALID ? IB_UMEM_HMM_PAGE_MAPPED : 0) |
			   (e & UMEM_HMM_WRITABLE ? IB_UMEM_HMM_PAGE_WRITABLE : 0) |
			   (e & UMEM_HMM_DIRTY ? IB_UMEM_HMM_PAGE_DIRTY : 0) |
			   (e & UMEM_HMM_HUGE ? IB_UMEM_HMM_PAGE_HUGE : 0) |
			   (e & UMEM_HMM_DEVICE ? IB_UMEM_HMM_PAGE_DEVICE : 0);
	}
	return 0;
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_page_state);
