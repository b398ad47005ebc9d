// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * umem_hmm_test's device memory: what a GPU does to a process's pages
 * through HMM, so that ODP can be tested over memory a device holds.
 *
 * Device-private memory is a range of free physical address space given
 * struct pages (memremap_pages(), MEMORY_DEVICE_PRIVATE).  The CPU cannot
 * address it: a page there is a special swap entry in the process's page
 * tables, and a CPU fault on it calls migrate_to_ram().  Being simulated,
 * each device page keeps its data in a system page of ours
 * (zone_device_data), the "device's local memory".
 *
 * Device-coherent memory is guest RAM the kernel was told to leave alone
 * (memmap=SIZE$ADDR on its command line, given here as the coherent_addr
 * and coherent_size parameters), added as MEMORY_DEVICE_COHERENT: the CPU
 * and DMA reach it in place, as CXL-like memory.
 *
 * UMEM_HMM_TEST_MIGRATE moves a range of the caller there and back
 * (migrate_vma_*); UMEM_HMM_TEST_WHERE tells where each page is.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/rdma/umem_hmm_test.h>

#include "umem_hmm_test.h"

#if UMEM_HMM_TEST_DMEM

/* Pages handed to one migrate_vma_setup(). */
#define DMEM_BATCH	512
/* Device memory is added in subsections of this size. */
#define DMEM_ALIGN	SZ_2M

static unsigned int private_mb = 128;
module_param(private_mb, uint, 0444);
MODULE_PARM_DESC(private_mb, "device-private memory, MiB, even (0: none)");

static unsigned long coherent_addr;
module_param(coherent_addr, ulong, 0444);
MODULE_PARM_DESC(coherent_addr, "physical address of RAM reserved with memmap= for device-coherent memory");

static unsigned long coherent_size;
module_param(coherent_size, ulong, 0444);
MODULE_PARM_DESC(coherent_size, "its size in bytes (0: no device-coherent memory)");

struct dmem_region {
	struct dev_pagemap pagemap;
	bool present;
	/* The free list; irqsave: a coherent page may be freed in softirq. */
	spinlock_t lock;
	struct page *free;		/* linked through zone_device_data */
	unsigned long nfree;
	unsigned long npages;
};

static struct dmem_region dmem_private, dmem_coherent;

/* The pgmap owner of both: hmm and migrate_vma match pages against it. */
static int dmem_owner;

static atomic64_t dmem_stat_to_device, dmem_stat_to_system, dmem_stat_faulted_back;

static bool dmem_in(const struct dmem_region *r, struct page *page)
{
	u64 phys = PFN_PHYS(page_to_pfn(page));

	return r->present && phys >= r->pagemap.range.start &&
	       phys <= r->pagemap.range.end;
}

/* The system page holding a device page's data: its own if coherent. */
static struct page *dmem_data_page(struct page *dpage)
{
	return dmem_in(&dmem_private, dpage) ? dpage->zone_device_data : dpage;
}

void *umem_hmm_test_dmem_owner(void)
{
	return dmem_private.present ? &dmem_owner : NULL;
}

void *umem_hmm_test_dmem_kaddr(struct page *dpage)
{
	return page_address(dmem_data_page(dpage));
}

/* A free device page, locked and referenced, with its data page. */
static struct page *dmem_alloc_page(struct dmem_region *r)
{
	struct page *dpage, *data = NULL;
	unsigned long flags;

	if (r == &dmem_private) {
		data = alloc_page(GFP_HIGHUSER);
		if (!data)
			return NULL;
	}
	spin_lock_irqsave(&r->lock, flags);
	dpage = r->free;
	if (dpage) {
		r->free = dpage->zone_device_data;
		r->nfree--;
	}
	spin_unlock_irqrestore(&r->lock, flags);
	if (!dpage) {
		if (data)
			__free_page(data);
		return NULL;
	}
	zone_device_page_init(dpage, &r->pagemap, 0);
	dpage->zone_device_data = data;
	return dpage;
}

/* The last reference to a device page went: it is free again. */
static void dmem_folio_free(struct folio *folio)
{
	struct page *page = &folio->page;
	struct dmem_region *r = container_of(folio->pgmap, struct dmem_region,
					     pagemap);
	unsigned long flags;

	if (r == &dmem_private)
		__free_page(page->zone_device_data);
	spin_lock_irqsave(&r->lock, flags);
	page->zone_device_data = r->free;
	r->free = page;
	r->nfree++;
	spin_unlock_irqrestore(&r->lock, flags);
}

/*
 * Fill @args->dst for the device pages collected in @args->src: a system
 * page each, with the data copied.  Returns 0 or -ENOMEM (the pages left
 * without a destination stay where they are).
 */
static int dmem_copy_to_system(struct migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		if (!spage || !(args->src[i] & MIGRATE_PFN_MIGRATE) ||
		    !(dmem_in(&dmem_private, spage) || dmem_in(&dmem_coherent, spage)))
			continue;
		dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, args->vma,
				       args->start + (i << PAGE_SHIFT));
		if (!dpage)
			return -ENOMEM;
		lock_page(dpage);
		copy_highpage(dpage, dmem_data_page(spage));
		args->dst[i] = migrate_pfn(page_to_pfn(dpage)) |
			       (args->src[i] & MIGRATE_PFN_WRITE);
	}
	return 0;
}

static u64 dmem_migrated(const struct migrate_vma *args)
{
	u64 n = 0;
	unsigned long i;

	for (i = 0; i < args->npages; i++)
		if (args->dst[i] && (args->src[i] & MIGRATE_PFN_MIGRATE))
			n++;
	return n;
}

/*
 * Fill @args->dst for the system pages collected in @args->src: a page of
 * @r each, with the data copied.  Returns 0 or -ENOMEM (the pages left
 * without a destination stay where they are).
 */
static int dmem_copy_to_device(struct migrate_vma *args, struct dmem_region *r)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		/* NULL: nothing there yet (or the zero page); it starts zeroed. */
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = dmem_alloc_page(r);
		if (!dpage)
			return -ENOMEM;
		if (spage)
			copy_highpage(dmem_data_page(dpage), spage);
		else
			clear_highpage(dmem_data_page(dpage));
		args->dst[i] = migrate_pfn(page_to_pfn(dpage)) |
			       (args->src[i] & MIGRATE_PFN_WRITE);
	}
	return 0;
}

/*
 * Move the pages of [start, end) of @vma to @r, or (@r NULL) the device
 * pages among them back to system memory; *@moved: how many moved.
 * @fault_page: the page of a migrate_to_ram() fault, else NULL.
 */
static int dmem_move(struct vm_area_struct *vma, u64 start, u64 end,
		     struct dmem_region *r, struct page *fault_page,
		     unsigned long *src, unsigned long *dst, u64 *moved)
{
	struct migrate_vma args = {
		.vma = vma,
		.src = src,
		.dst = dst,
		.start = start,
		.end = end,
		.pgmap_owner = &dmem_owner,
		.flags = r ? MIGRATE_VMA_SELECT_SYSTEM :
			     MIGRATE_VMA_SELECT_DEVICE_PRIVATE |
			     MIGRATE_VMA_SELECT_DEVICE_COHERENT,
		.fault_page = fault_page,
	};
	int ret;

	memset(dst, 0, ((end - start) >> PAGE_SHIFT) * sizeof(*dst));
	ret = migrate_vma_setup(&args);
	if (ret)
		return ret;
	ret = r ? dmem_copy_to_device(&args, r) : dmem_copy_to_system(&args);
	migrate_vma_pages(&args);
	*moved = dmem_migrated(&args);
	migrate_vma_finalize(&args);
	return ret;
}

/* A CPU (or a device's hmm_range_fault()) touched a device-private page. */
static vm_fault_t dmem_migrate_to_ram(struct vm_fault *vmf)
{
	unsigned long src, dst;
	u64 start = vmf->address & PAGE_MASK, moved = 0;
	int ret;

	ret = dmem_move(vmf->vma, start, start + PAGE_SIZE, NULL, vmf->page,
			&src, &dst, &moved);
	atomic64_add(moved, &dmem_stat_faulted_back);
	if (ret == -ENOMEM)
		return VM_FAULT_OOM;
	return ret ? VM_FAULT_SIGBUS : 0;
}

static const struct dev_pagemap_ops dmem_ops = {
	.folio_free = dmem_folio_free,
	.migrate_to_ram = dmem_migrate_to_ram,
};

static int dmem_migrate(struct mm_struct *mm, struct umem_hmm_test_migrate *m)
{
	struct dmem_region *r = NULL;
	unsigned long *src, *dst;
	u64 addr, end = m->addr + m->length;
	int ret = 0;

	if (m->reserved || !PAGE_ALIGNED(m->addr) || !m->length || end < m->addr)
		return -EINVAL;
	switch (m->to) {
	case UMEM_HMM_TEST_MEM_SYSTEM:
		break;
	case UMEM_HMM_TEST_MEM_PRIVATE:
		r = &dmem_private;
		break;
	case UMEM_HMM_TEST_MEM_COHERENT:
		r = &dmem_coherent;
		break;
	default:
		return -EINVAL;
	}
	if (r && !r->present)
		return -EOPNOTSUPP;
	src = kcalloc(DMEM_BATCH, sizeof(*src), GFP_KERNEL);
	dst = kcalloc(DMEM_BATCH, sizeof(*dst), GFP_KERNEL);
	if (!src || !dst) {
		ret = -ENOMEM;
		goto out;
	}

	m->migrated = 0;
	mmap_read_lock(mm);
	for (addr = m->addr; addr < end && !ret;) {
		struct vm_area_struct *vma = vma_lookup(mm, addr);
		u64 next, moved = 0;

		if (!vma) {
			ret = -EFAULT;
			break;
		}
		next = min3(end, (u64)vma->vm_end, addr + DMEM_BATCH * PAGE_SIZE);
		next = PAGE_ALIGN(next);
		ret = dmem_move(vma, addr, next, r, NULL, src, dst, &moved);
		m->migrated += moved;
		addr = next;
	}
	mmap_read_unlock(mm);
	atomic64_add(m->migrated, r ? &dmem_stat_to_device : &dmem_stat_to_system);
out:
	kfree(src);
	kfree(dst);
	return ret;
}

static bool dmem_where_invalidate(struct mmu_interval_notifier *mni,
				  const struct mmu_notifier_range *range,
				  unsigned long cur_seq)
{
	mmu_interval_set_seq(mni, cur_seq);
	return true;
}

static const struct mmu_interval_notifier_ops dmem_where_ops = {
	.invalidate = dmem_where_invalidate,
};

static u8 dmem_where_page(unsigned long hmm_pfn)
{
	struct page *page;

	if (!(hmm_pfn & HMM_PFN_VALID))
		return UMEM_HMM_TEST_MEM_NONE;
	page = hmm_pfn_to_page(hmm_pfn);
	if (dmem_in(&dmem_private, page))
		return UMEM_HMM_TEST_MEM_PRIVATE;
	if (dmem_in(&dmem_coherent, page))
		return UMEM_HMM_TEST_MEM_COHERENT;
	return UMEM_HMM_TEST_MEM_SYSTEM;
}

/* A snapshot of where the pages are: hmm as the owner, faulting nothing. */
static int dmem_where(struct mm_struct *mm, const struct umem_hmm_test_where *w)
{
	struct mmu_interval_notifier notifier;
	struct hmm_range range = {
		.notifier = &notifier,
		.start = w->addr,
		.end = w->addr + (w->npages << PAGE_SHIFT),
		.dev_private_owner = &dmem_owner,
	};
	unsigned long *pfns;
	u8 *where;
	u64 i;
	int ret;

	if (!PAGE_ALIGNED(w->addr) || !w->npages || w->npages > SZ_1M ||
	    range.end < range.start || range.end > TASK_SIZE)
		return -EINVAL;
	pfns = kvcalloc(w->npages, sizeof(*pfns), GFP_KERNEL);
	where = kvmalloc(w->npages, GFP_KERNEL);
	range.hmm_pfns = pfns;
	ret = -ENOMEM;
	if (!pfns || !where)
		goto out;
	ret = mmu_interval_notifier_insert(&notifier, mm, range.start,
					   range.end - range.start,
					   &dmem_where_ops);
	if (ret)
		goto out;
	do {
		range.notifier_seq = mmu_interval_read_begin(&notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(mm);
		if (ret == -EBUSY && fatal_signal_pending(current))
			ret = -EINTR;
	} while (ret == -EBUSY);
	mmu_interval_notifier_remove(&notifier);
	if (ret)
		goto out;
	for (i = 0; i < w->npages; i++)
		where[i] = dmem_where_page(pfns[i]);
	if (copy_to_user(u64_to_user_ptr(w->where), where, w->npages))
		ret = -EFAULT;
out:
	kvfree(pfns);
	kvfree(where);
	return ret;
}

long umem_hmm_test_dmem_ioctl(struct mm_struct *mm, unsigned int cmd,
			      void __user *arg)
{
	switch (cmd) {
	case UMEM_HMM_TEST_MIGRATE: {
		struct umem_hmm_test_migrate m;
		int ret;

		if (copy_from_user(&m, arg, sizeof(m)))
			return -EFAULT;
		ret = dmem_migrate(mm, &m);
		if (copy_to_user(arg, &m, sizeof(m)))
			return -EFAULT;
		return ret;
	}
	case UMEM_HMM_TEST_WHERE: {
		struct umem_hmm_test_where w;

		if (copy_from_user(&w, arg, sizeof(w)))
			return -EFAULT;
		return dmem_where(mm, &w);
	}
	case UMEM_HMM_TEST_DMEM_STATS: {
		struct umem_hmm_test_dmem_stats st = {
			.private_pages = dmem_private.npages,
			.coherent_pages = dmem_coherent.npages,
			.private_used = dmem_private.npages - READ_ONCE(dmem_private.nfree),
			.coherent_used = dmem_coherent.npages - READ_ONCE(dmem_coherent.nfree),
			.to_device = atomic64_read(&dmem_stat_to_device),
			.to_system = atomic64_read(&dmem_stat_to_system),
			.faulted_back = atomic64_read(&dmem_stat_faulted_back),
		};

		return copy_to_user(arg, &st, sizeof(st)) ? -EFAULT : 0;
	}
	}
	return -ENOTTY;
}

static int dmem_region_init(struct dmem_region *r, enum memory_type type,
			    u64 start, u64 size)
{
	unsigned long pfn;
	void *p;

	spin_lock_init(&r->lock);
	r->pagemap.type = type;
	r->pagemap.range.start = start;
	r->pagemap.range.end = start + size - 1;
	r->pagemap.nr_range = 1;
	r->pagemap.ops = &dmem_ops;
	r->pagemap.owner = &dmem_owner;
	p = memremap_pages(&r->pagemap, numa_node_id());
	if (IS_ERR(p))
		return PTR_ERR(p);
	r->npages = size >> PAGE_SHIFT;
	for (pfn = PHYS_PFN(start); pfn < PHYS_PFN(start + size); pfn++) {
		struct page *page = pfn_to_page(pfn);

		page->zone_device_data = r->free;
		r->free = page;
	}
	r->nfree = r->npages;
	r->present = true;
	return 0;
}

static bool dmem_all_free(struct dmem_region *r)
{
	unsigned long flags;
	bool all;

	spin_lock_irqsave(&r->lock, flags);
	all = r->nfree == r->npages;
	spin_unlock_irqrestore(&r->lock, flags);
	return all;
}

/* One pass bringing the pages in use in @r back to system memory. */
static void dmem_evict(struct dmem_region *r, unsigned long *src,
		       unsigned long *dst)
{
	unsigned long i;

	memset(dst, 0, r->npages * sizeof(*dst));
	migrate_device_range(src, PHYS_PFN(r->pagemap.range.start), r->npages);
	for (i = 0; i < r->npages; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
		lock_page(dpage);
		copy_highpage(dpage, dmem_data_page(spage));
		dst[i] = migrate_pfn(page_to_pfn(dpage)) | (src[i] & MIGRATE_PFN_WRITE);
	}
	migrate_device_pages(src, dst, r->npages);
	migrate_device_finalize(src, dst, r->npages);
}

/*
 * Bring every page still in @r back to system memory, then unmap it.  A
 * pass skips pages it cannot lock or that have extra references (a fault
 * migrating one, a short-lived pin): passes repeat until all are free,
 * since memunmap_pages() waits for that without end.
 */
static void dmem_region_exit(struct dmem_region *r)
{
	unsigned long *src, *dst, passes = 0;

	if (!r->present)
		return;
	src = kvcalloc(r->npages, sizeof(*src), GFP_KERNEL | __GFP_NOFAIL);
	dst = kvcalloc(r->npages, sizeof(*dst), GFP_KERNEL | __GFP_NOFAIL);
	while (!dmem_all_free(r)) {
		dmem_evict(r, src, dst);
		if (dmem_all_free(r))
			break;
		if (++passes % 1000 == 0)
			pr_warn("umem_hmm_test: %lu device pages still busy\n",
				r->npages - READ_ONCE(r->nfree));
		msleep(20);
	}
	kvfree(src);
	kvfree(dst);
	memunmap_pages(&r->pagemap);
	r->present = false;
}

static struct resource *dmem_private_res;

/*
 * The coherent range must be RAM the kernel was told to leave alone
 * (memmap=SIZE$ADDR makes it "Reserved"), never System RAM or anything
 * else: it becomes anonymous memory of processes.
 */
static int dmem_coherent_check(void)
{
	u64 end;

	if (check_add_overflow((u64)coherent_addr, (u64)coherent_size, &end) ||
	    !IS_ALIGNED(coherent_addr | coherent_size, DMEM_ALIGN))
		return -EINVAL;
	if (region_intersects(coherent_addr, coherent_size, IORESOURCE_SYSTEM_RAM,
			      IORES_DESC_NONE) != REGION_DISJOINT ||
	    region_intersects(coherent_addr, coherent_size, IORESOURCE_MEM,
			      IORES_DESC_RESERVED) != REGION_INTERSECTS)
		return -EINVAL;
	return 0;
}

int umem_hmm_test_dmem_init(void)
{
	u64 size = (u64)private_mb << 20;
	int ret;

	if (!IS_ALIGNED(size, DMEM_ALIGN))
		return -EINVAL;
	if (size) {
		dmem_private_res = request_free_mem_region(&iomem_resource, size,
							   "umem_hmm_test");
		if (IS_ERR(dmem_private_res))
			return PTR_ERR(dmem_private_res);
		ret = dmem_region_init(&dmem_private, MEMORY_DEVICE_PRIVATE,
				       dmem_private_res->start, size);
		if (ret)
			goto err_res;
	}
	if (coherent_size) {
		ret = dmem_coherent_check();
		if (ret) {
			pr_err("umem_hmm_test: coherent memory must be 2 MiB-aligned RAM reserved with memmap=\n");
			goto err_private;
		}
		ret = dmem_region_init(&dmem_coherent, MEMORY_DEVICE_COHERENT,
				       coherent_addr, coherent_size);
		if (ret)
			goto err_private;
	}
	return 0;

err_private:
	dmem_region_exit(&dmem_private);
err_res:
	if (size)
		release_mem_region(dmem_private_res->start, size);
	return ret;
}

void umem_hmm_test_dmem_exit(void)
{
	dmem_region_exit(&dmem_coherent);
	if (dmem_private.present) {
		dmem_region_exit(&dmem_private);
		release_mem_region(dmem_private_res->start,
				   resource_size(dmem_private_res));
	}
}
#endif /* UMEM_HMM_TEST_DMEM */
