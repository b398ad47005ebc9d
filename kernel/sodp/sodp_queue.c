// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: the rings of the data path, shared with user space by mmap()
 * of the uverbs file (or private to the kernel for kernel consumers).
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/vmalloc.h>
#include <rdma/uverbs_ioctl.h>

#include "sodp.h"

struct sodp_mmap_entry {
	struct rdma_user_mmap_entry rdma;
	void *addr;
};

/*
 * The ring's pages go into the process one by one: the ring is charged to
 * the process's memory cgroup (__vmalloc with __GFP_ACCOUNT), which
 * vmalloc_user() would not do, and remap_vmalloc_range() takes only
 * vmalloc_user() memory.
 */
int sodp_mmap(struct ib_ucontext *uctx, struct vm_area_struct *vma)
{
	struct rdma_user_mmap_entry *entry;
	struct sodp_mmap_entry *sentry;
	unsigned long off;
	int ret = 0;

	entry = rdma_user_mmap_entry_get(uctx, vma);
	if (!entry)
		return -EINVAL;
	sentry = container_of(entry, struct sodp_mmap_entry, rdma);
	if (vma->vm_end - vma->vm_start != entry->npages << PAGE_SHIFT)
		ret = -EINVAL;
	/* As remap_vmalloc_range() would: no growing by mremap, no core dump. */
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	for (off = 0; !ret && off < vma->vm_end - vma->vm_start; off += PAGE_SIZE)
		ret = vm_insert_page(vma, vma->vm_start + off,
				     vmalloc_to_page(sentry->addr + off));
	rdma_user_mmap_entry_put(entry);
	return ret;
}

/*
 * The last reference to a user ring's entry is gone: no mmap() can be
 * using it any more, so the ring can be freed now (the pages a process
 * mapped keep their own references until it unmaps them).
 */
void sodp_mmap_free(struct rdma_user_mmap_entry *entry)
{
	struct sodp_mmap_entry *sentry = container_of(entry, struct sodp_mmap_entry, rdma);

	vfree(sentry->addr);
	kfree(sentry);
}

int sodp_queue_init(struct sodp_queue *q, struct ib_udata *udata,
		    u32 num_slots, u32 slot_size, struct sodp_ring_info *info)
{
	struct sodp_ucontext *uctx;
	struct sodp_mmap_entry *entry;
	int ret;

	q->num_slots = roundup_pow_of_two(max(num_slots, 1U));
	q->slot_size = slot_size;
	q->size = PAGE_ALIGN(SODP_RING_HDR_SIZE + (size_t)q->num_slots * slot_size);
	q->prod = 0;
	q->cons = 0;
	/* A process's rings are charged to it; a kernel consumer's to nobody. */
	q->ring = __vmalloc(q->size, (udata ? GFP_KERNEL_ACCOUNT : GFP_KERNEL) | __GFP_ZERO);
	if (!q->ring)
		return -ENOMEM;
	if (!udata)
		return 0;

	uctx = rdma_udata_to_drv_context(udata, struct sodp_ucontext, ibuc);
	entry = kzalloc(sizeof(*entry), GFP_KERNEL_ACCOUNT);
	if (!entry) {
		ret = -ENOMEM;
		goto err;
	}
	entry->addr = q->ring;
	ret = rdma_user_mmap_entry_insert(&uctx->ibuc, &entry->rdma, q->size);
	if (ret) {
		kfree(entry);
		goto err;
	}
	q->mmap = &entry->rdma;
	info->offset = rdma_user_mmap_get_offset(q->mmap);
	info->size = q->size;
	info->num_slots = q->num_slots;
	return 0;
err:
	vfree(q->ring);
	q->ring = NULL;
	return ret;
}

/* The kernel is done with the ring; a user ring is freed by sodp_mmap_free(). */
void sodp_queue_cleanup(struct sodp_queue *q)
{
	if (q->mmap)
		rdma_user_mmap_entry_remove(q->mmap);
	else
		vfree(q->ring);
	q->ring = NULL;
	q->mmap = NULL;
}

u32 sodp_queue_count(struct sodp_queue *q)
{
	/*
	 * Pairs with the producer's release (ours, or the provider's).  The
	 * doorbell peeks at the count without the consumer's lock.
	 */
	return smp_load_acquire(&q->ring->producer) - READ_ONCE(q->cons);
}

/* The slot at the consumer index was copied out: give it back. */
void sodp_queue_consume(struct sodp_queue *q)
{
	WRITE_ONCE(q->cons, q->cons + 1);
	/* Our reads of the slot before the index: the producer may reuse it. */
	smp_store_release(&q->ring->consumer, q->cons);
}

/* Copy the oldest slot out and free it; false if empty or corrupt. */
bool sodp_queue_pop(struct sodp_queue *q, void *slot)
{
	u32 n = sodp_queue_count(q);

	if (!n || n > q->num_slots)
		return false;
	memcpy(slot, sodp_queue_slot(q, q->cons), q->slot_size);
	sodp_queue_consume(q);
	return true;
}

/* Forget every slot posted so far (a QP back in RESET). */
void sodp_queue_drop_all(struct sodp_queue *q)
{
	WRITE_ONCE(q->cons, READ_ONCE(q->ring->producer));
	/* As sodp_queue_consume(): the producer may reuse every slot now. */
	smp_store_release(&q->ring->consumer, q->cons);
}

/* Slots the kernel produced that the consumer has not given back. */
u32 sodp_queue_used(struct sodp_queue *q)
{
	/* The consumer's index is trusted only this far: a bad one looks full. */
	return q->prod - READ_ONCE(q->ring->consumer);
}

/* The slot at the producer index is written: make it visible. */
void sodp_queue_publish(struct sodp_queue *q)
{
	/* The slot's contents before the index: pairs with the consumer's acquire. */
	smp_store_release(&q->ring->producer, ++q->prod);
}
