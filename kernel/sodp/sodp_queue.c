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

int sodp_mmap(struct ib_ucontext *uctx, struct vm_area_struct *vma)
{
	struct rdma_user_mmap_entry *entry;
	struct sodp_mmap_entry *sentry;
	int ret;

	entry = rdma_user_mmap_entry_get(uctx, vma);
	if (!entry)
		return -EINVAL;
	sentry = container_of(entry, struct sodp_mmap_entry, rdma);
	if (vma->vm_end - vma->vm_start != entry->npages << PAGE_SHIFT)
		ret = -EINVAL;
	else
		ret = remap_vmalloc_range(vma, sentry->addr, 0);
	rdma_user_mmap_entry_put(entry);
	return ret;
}

void sodp_mmap_free(struct rdma_user_mmap_entry *entry)
{
	kfree(container_of(entry, struct sodp_mmap_entry, rdma));
}

/*
 * Rings: vmalloc_user() memory, mapped into the process by sodp_mmap().
 * The process's mapping holds its own page references, so the ring can be
 * freed with its object while the process still has it mapped.
 */
int sodp_queue_init(struct sodp_queue *q, struct ib_udata *udata,
		    u32 num_slots, u32 slot_size, struct sodp_ring_info *info)
{
	struct sodp_ucontext *uctx;
	struct sodp_mmap_entry *entry;
	int ret;

	q->num_slots = roundup_pow_of_two(max(num_slots, 1U));
	q->slot_size = slot_size;
	q->size = PAGE_ALIGN(SODP_RING_HDR_SIZE + (size_t)q->num_slots * slot_size);
	q->ring = vmalloc_user(q->size);
	if (!q->ring)
		return -ENOMEM;
	if (!udata)
		return 0;

	uctx = rdma_udata_to_drv_context(udata, struct sodp_ucontext, ibuc);
	entry = kzalloc(sizeof(*entry), GFP_KERNEL);
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

void sodp_queue_cleanup(struct sodp_queue *q)
{
	if (q->mmap)
		rdma_user_mmap_entry_remove(q->mmap);
	vfree(q->ring);
	q->ring = NULL;
	q->mmap = NULL;
}

u32 sodp_queue_count(struct sodp_queue *q)
{
	/* Pairs with sodp_queue_publish() (or the provider's release). */
	return smp_load_acquire(&q->ring->producer) - q->ring->consumer;
}

/* The slot at the producer index is written: make it visible. */
void sodp_queue_publish(struct sodp_queue *q)
{
	/* The slot's contents before the index: pairs with the consumer's acquire. */
	smp_store_release(&q->ring->producer, q->ring->producer + 1);
}

/* The slot at the consumer index was copied out: give it back. */
void sodp_queue_consume(struct sodp_queue *q)
{
	/* Our reads of the slot before the index: the producer may reuse it. */
	smp_store_release(&q->ring->consumer, q->ring->consumer + 1);
}

/* Copy the oldest slot out and free it; false if empty or corrupt. */
bool sodp_queue_pop(struct sodp_queue *q, void *slot)
{
	u32 n = sodp_queue_count(q);

	if (!n || n > q->num_slots)
		return false;
	memcpy(slot, sodp_queue_slot(q, q->ring->consumer), q->slot_size);
	sodp_queue_consume(q);
	return true;
}

