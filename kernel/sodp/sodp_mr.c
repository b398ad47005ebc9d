// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: memory regions and their keys.  A region in use by the engine
 * holds a reference; deregistration unpublishes the key and then waits for
 * those references, so no transfer touches memory after dereg returns.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/slab.h>

#include "sodp.h"

static void sodp_mr_release(struct kref *ref)
{
	complete(&container_of(ref, struct sodp_mr, ref)->released);
}

void sodp_mr_put(struct sodp_mr *mr)
{
	kref_put(&mr->ref, sodp_mr_release);
}

static int sodp_mr_publish(struct sodp_dev *sdev, struct sodp_mr *mr)
{
	u32 index;
	int ret;

	kref_init(&mr->ref);
	init_completion(&mr->released);
	ret = xa_alloc(&sdev->mrs, &index, mr, XA_LIMIT(1, SODP_MAX_MR), GFP_KERNEL);
	if (ret)
		return ret == -EBUSY ? -ENOMEM : ret;
	/* The low byte varies so that a stale key rarely names a new region. */
	mr->ibmr.lkey = index << 8 | sdev->next_key++;
	mr->ibmr.rkey = mr->ibmr.lkey;
	atomic_inc(&sdev->num_mrs);
	return 0;
}

/**
 * sodp_mr_get - the region a key names, checked for a transfer
 * @sdev: the device
 * @key: lkey or rkey
 * @pd: the protection domain of the QP that uses it
 * @va: first byte of the transfer
 * @len: its length
 * @access: IB_ACCESS_* rights it needs
 *
 * Return: the region with a reference (sodp_mr_put() it), or NULL if the
 * key is unknown, of another PD, lacks a right, or [va, va+len) is not
 * inside it.
 */
struct sodp_mr *sodp_mr_get(struct sodp_dev *sdev, u32 key, struct ib_pd *pd,
			    u64 va, u64 len, int access)
{
	struct sodp_mr *mr;

	rcu_read_lock();
	mr = xa_load(&sdev->mrs, key >> 8);
	if (mr && (mr->ibmr.lkey != key || !kref_get_unless_zero(&mr->ref)))
		mr = NULL;
	rcu_read_unlock();
	if (!mr)
		return NULL;

	if (mr->ibmr.pd != pd || (mr->access & access) != access)
		goto bad;
	if (mr->type != SODP_MR_DMA &&
	    (va < mr->iova || va + len < va || va + len > mr->iova + mr->length))
		goto bad;
	return mr;
bad:
	sodp_mr_put(mr);
	return NULL;
}

struct ib_mr *sodp_get_dma_mr(struct ib_pd *pd, int access)
{
	struct sodp_mr *mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	int ret;

	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->type = SODP_MR_DMA;
	mr->access = access;
	mr->length = U64_MAX;
	mr->ibmr.pd = pd;
	ret = sodp_mr_publish(to_sdev(pd->device), mr);
	if (ret) {
		kfree(mr);
		return ERR_PTR(ret);
	}
	return &mr->ibmr;
}

/* The page holding each page of the region, for lookups by address. */
static int sodp_mr_map_pages(struct sodp_mr *mr)
{
	struct ib_umem *umem = mr->umem;
	struct sg_page_iter it;
	unsigned long i = 0;

	mr->npages = ib_umem_num_dma_blocks(umem, PAGE_SIZE);
	mr->pages = kvmalloc_array(mr->npages, sizeof(*mr->pages), GFP_KERNEL);
	if (!mr->pages)
		return -ENOMEM;
	for_each_sgtable_page(&umem->sgt_append.sgt, &it, 0) {
		if (i == mr->npages)
			break;
		mr->pages[i++] = sg_page_iter_page(&it);
	}
	return i == mr->npages ? 0 : -EFAULT;
}

struct ib_mr *sodp_reg_user_mr(struct ib_pd *pd, u64 start, u64 length,
			       u64 iova, int access, struct ib_udata *udata)
{
	struct sodp_mr *mr;
	int ret;

	if (access & IB_ACCESS_ON_DEMAND)
		return ERR_PTR(-EOPNOTSUPP);
	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->type = SODP_MR_USER;
	mr->access = access;
	mr->iova = iova;
	mr->length = length;
	mr->ibmr.pd = pd;
	mr->ibmr.iova = iova;
	mr->ibmr.length = length;

	mr->umem = ib_umem_get(pd->device, start, length, access);
	if (IS_ERR(mr->umem)) {
		ret = PTR_ERR(mr->umem);
		goto err_free;
	}
	ret = sodp_mr_map_pages(mr);
	if (ret)
		goto err_umem;
	ret = sodp_mr_publish(to_sdev(pd->device), mr);
	if (ret)
		goto err_umem;
	return &mr->ibmr;

err_umem:
	kvfree(mr->pages);
	ib_umem_release(mr->umem);
err_free:
	kfree(mr);
	return ERR_PTR(ret);
}

int sodp_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata)
{
	struct sodp_dev *sdev = to_sdev(ibmr->device);
	struct sodp_mr *mr = to_smr(ibmr);

	xa_erase(&sdev->mrs, ibmr->lkey >> 8);
	sodp_mr_put(mr);
	/* Transfers in flight finish with it; no new one can find it. */
	wait_for_completion(&mr->released);
	atomic_dec(&sdev->num_mrs);
	kvfree(mr->pages);
	if (mr->umem)
		ib_umem_release(mr->umem);
	kfree_rcu(mr, rcu);
	return 0;
}
