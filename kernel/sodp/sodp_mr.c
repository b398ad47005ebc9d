// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: memory regions and their keys.  A region in use by the engine
 * holds a reference; deregistration unpublishes the key and then waits for
 * those references, so no transfer touches memory after dereg returns.
 *
 * Fast-registration regions (kernel consumers: ib_alloc_mr(),
 * ib_map_mr_sg(), then REG_MR and LOCAL_INV work requests, or a peer's
 * SEND with Invalidate) keep their key from allocation to free; REG_MR
 * makes them valid with a new key byte, rights and translation, and an
 * invalidation makes them invalid again.  Those changes and the lookups
 * take the region's lock, so a transfer sees one registration whole.
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

/*
 * Give the region its key and make it reachable.  Keys are hard to guess
 * (indexes handed out cyclically from a random start, and a random low
 * byte), and a stale key rarely names a new region.
 */
static int sodp_mr_publish(struct sodp_dev *sdev, struct sodp_mr *mr)
{
	u32 index;
	int ret;

	kref_init(&mr->ref);
	init_completion(&mr->released);
	spin_lock_init(&mr->lock);
	mr->valid = mr->type != SODP_MR_FAST;
	if (atomic_inc_return(&sdev->num_mrs) > SODP_MAX_MR) {
		ret = -ENOMEM;
		goto err;
	}
	/* The key is set before the region is published: lookups compare it. */
	mr->ibmr.lkey = get_random_u32() & 0xff;
	ret = xa_alloc_cyclic(&sdev->mrs, &index, NULL,
			      XA_LIMIT(1, SODP_MR_INDEX_MAX), &sdev->next_mr_index,
			      GFP_KERNEL);
	if (ret < 0) {
		ret = ret == -EBUSY ? -ENOMEM : ret;
		goto err;
	}
	mr->ibmr.lkey |= index << 8;
	mr->ibmr.rkey = mr->ibmr.lkey;
	mr->key = mr->ibmr.lkey;
	xa_store(&sdev->mrs, index, mr, GFP_KERNEL);
	return 0;
err:
	atomic_dec(&sdev->num_mrs);
	return ret;
}

/* Rights and PD may change under us, by an ibv_rereg_mr() in place. */
static bool sodp_mr_allows(struct sodp_mr *mr, u32 key, struct ib_pd *pd,
			   u64 va, u64 len, int access)
{
	return mr->valid && mr->key == key && READ_ONCE(mr->ibmr.pd) == pd &&
	       (READ_ONCE(mr->access) & access) == access &&
	       (mr->type == SODP_MR_DMA ||
		(va >= mr->iova && va + len >= va && va + len <= mr->iova + mr->length));
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
 * key is unknown (or names a fast-registration region not registered), of
 * another PD, lacks a right, or [va, va+len) is not inside it.
 */
struct sodp_mr *sodp_mr_get(struct sodp_dev *sdev, u32 key, struct ib_pd *pd,
			    u64 va, u64 len, int access)
{
	struct sodp_mr *mr;
	bool ok;

	/* Dereg frees the region after a grace period: RCU is enough here. */
	rcu_read_lock();
	mr = xa_load(&sdev->mrs, key >> 8);
	if (mr && (READ_ONCE(mr->key) != key || !kref_get_unless_zero(&mr->ref)))
		mr = NULL;
	rcu_read_unlock();
	if (!mr)
		return NULL;

	/* A fast region's key and bounds change under its lock (REG_MR). */
	if (mr->type == SODP_MR_FAST) {
		spin_lock(&mr->lock);
		ok = sodp_mr_allows(mr, key, pd, va, len, access);
		spin_unlock(&mr->lock);
	} else {
		ok = sodp_mr_allows(mr, key, pd, va, len, access);
	}
	if (ok)
		return mr;
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

/*
 * An on-demand-paged region: nothing is pinned or faulted now.  The engine
 * reaches its pages only through ib_umem_hmm spans, which invalidation
 * waits for, so the driver needs no invalidate callback of its own.
 */
static struct ib_mr *sodp_reg_odp_mr(struct ib_pd *pd, u64 start, u64 length,
				     u64 iova, int access)
{
	struct sodp_dev *sdev = to_sdev(pd->device);
	struct sodp_mr *mr;
	bool implicit = !start && length == U64_MAX;
	int ret;

	/* The device addresses ODP memory by its virtual address. */
	if (iova != start)
		return ERR_PTR(-EINVAL);
	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->type = SODP_MR_ODP;
	mr->access = access;
	mr->ibmr.pd = pd;
	mr->ibmr.iova = iova;
	mr->ibmr.length = length;
	if (implicit)
		mr->odp = ib_umem_hmm_get_implicit(&sdev->hmm, access, NULL, mr);
	else
		mr->odp = ib_umem_hmm_get(&sdev->hmm, start, length, access, NULL, mr);
	if (IS_ERR(mr->odp)) {
		ret = PTR_ERR(mr->odp);
		goto err_free;
	}
	mr->iova = mr->odp->address;
	mr->length = mr->odp->length;
	ret = sodp_mr_publish(sdev, mr);
	if (ret)
		goto err_release;
	return &mr->ibmr;

err_release:
	ib_umem_hmm_release(mr->odp);
err_free:
	kfree(mr);
	return ERR_PTR(ret);
}

struct ib_mr *sodp_reg_user_mr(struct ib_pd *pd, u64 start, u64 length,
			       u64 iova, int access, struct ib_udata *udata)
{
	struct sodp_mr *mr;
	int ret;

	if (access & IB_ACCESS_ON_DEMAND)
		return sodp_reg_odp_mr(pd, start, length, iova, access);
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

	mr->umem = ib_umem_get_va(pd->device, start, length, access);
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

/**
 * sodp_alloc_mr - ib_alloc_mr(): a region for fast registration
 * @pd: its protection domain
 * @type: IB_MR_TYPE_MEM_REG (the only type sodp has)
 * @max_num_sg: the most pages ib_map_mr_sg() may give it
 *
 * The region is invalid until a REG_MR work request registers it.
 *
 * Return: the region, or ERR_PTR(-EINVAL) for another type or too many
 * pages, -ENOMEM.
 */
struct ib_mr *sodp_alloc_mr(struct ib_pd *pd, enum ib_mr_type type, u32 max_num_sg)
{
	struct sodp_mr *mr;
	int ret;

	if (type != IB_MR_TYPE_MEM_REG || !max_num_sg ||
	    max_num_sg > SODP_MAX_FAST_REG_PAGES)
		return ERR_PTR(-EINVAL);
	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->fast.pages = kcalloc(max_num_sg, sizeof(*mr->fast.pages), GFP_KERNEL);
	if (!mr->fast.pages) {
		ret = -ENOMEM;
		goto err_free;
	}
	mr->fast.max_pages = max_num_sg;
	mr->fast.page_shift = PAGE_SHIFT;
	mr->type = SODP_MR_FAST;
	mr->ibmr.pd = pd;
	ret = sodp_mr_publish(to_sdev(pd->device), mr);
	if (ret)
		goto err_free;
	return &mr->ibmr;

err_free:
	kfree(mr->fast.pages);
	kfree(mr);
	return ERR_PTR(ret);
}

static int sodp_mr_set_page(struct ib_mr *ibmr, u64 addr)
{
	struct sodp_fast_map *map = &to_smr(ibmr)->fast;

	if (map->npages == map->max_pages)
		return -ENOMEM;
	map->pages[map->npages++] = addr;
	return 0;
}

/**
 * sodp_map_mr_sg - ib_map_mr_sg(): the translation the next REG_MR takes
 * @ibmr: a fast-registration region, not valid (its consumer's rule)
 * @sg: DMA-mapped scatter list (sodp's DMA addresses are kernel addresses)
 * @sg_nents: its entries
 * @sg_offset: offset into the first entry, or NULL
 *
 * Return: the number of entries mapped (ib_sg_to_pages()).
 */
int sodp_map_mr_sg(struct ib_mr *ibmr, struct scatterlist *sg, int sg_nents,
		   unsigned int *sg_offset)
{
	struct sodp_fast_map *map = &to_smr(ibmr)->fast;
	int n;

	map->npages = 0;
	n = ib_sg_to_pages(ibmr, sg, sg_nents, sg_offset, sodp_mr_set_page);
	/* Kept apart: a zero-based consumer sets ibmr->iova to 0 after. */
	map->first_off = ibmr->iova & (ibmr->page_size - 1);
	return n;
}

/* A fast-registration region of @qp's PD by the index of @key, referenced. */
static struct sodp_mr *sodp_mr_get_fast(struct sodp_qp *qp, u32 key)
{
	struct sodp_mr *mr;

	rcu_read_lock();
	mr = xa_load(&qp->dev->mrs, key >> 8);
	if (mr && (mr->type != SODP_MR_FAST || mr->ibmr.pd != sodp_qp_pd(qp) ||
		   !kref_get_unless_zero(&mr->ref)))
		mr = NULL;
	rcu_read_unlock();
	return mr;
}

/**
 * sodp_mr_fast_reg - run a REG_MR work request
 * @qp: the kernel QP it was posted to
 * @wqe: the request: rkey the new key, compare_add the rights,
 *	remote_addr the iova and swap the length ib_map_mr_sg() set
 *
 * Return: 0, or -EINVAL if the region is not an invalid fast-registration
 * region of the QP's PD or the key names another, or the translation does
 * not cover the length.
 */
int sodp_mr_fast_reg(struct sodp_qp *qp, const struct sodp_send_wqe *wqe)
{
	struct sodp_mr *mr = sodp_mr_get_fast(qp, wqe->rkey);
	struct sodp_fast_map *map;
	u64 iova = wqe->remote_addr, len = wqe->swap;
	u32 shift;
	int ret = -EINVAL;

	if (!mr)
		return -EINVAL;
	map = &mr->fast;
	spin_lock(&mr->lock);
	shift = is_power_of_2(mr->ibmr.page_size) ? ilog2(mr->ibmr.page_size) : 0;
	/* The pages ib_sg_to_pages() set must hold the length. */
	if (!mr->valid && shift && iova + len >= iova &&
	    map->first_off + len <= ((u64)map->npages << shift)) {
		map->page_shift = shift;
		WRITE_ONCE(mr->key, wqe->rkey);
		mr->access = wqe->compare_add;
		mr->iova = iova;
		mr->length = len;
		mr->valid = true;
		ret = 0;
	}
	spin_unlock(&mr->lock);
	sodp_mr_put(mr);
	return ret;
}

/**
 * sodp_mr_invalidate - LOCAL_INV, or a peer's SEND with Invalidate
 * @qp: the QP the request came to (its PD must be the region's)
 * @key: the key to invalidate: a fast-registration region's current one,
 *	or a type 2 memory window's
 * @remote: by a peer's SEND with Invalidate
 *
 * When it returns, no byte of the region is being copied, and none will
 * be (see sodp_mem_copy()).
 *
 * Return: 0, or -EINVAL if @key names no fast-registration region (valid
 * or not) or bound type 2 window of the QP's PD.
 */
int sodp_mr_invalidate(struct sodp_qp *qp, u32 key, bool remote)
{
	struct sodp_mr *mr;
	int ret = -EINVAL;

	if (sodp_key_is_mw(key))
		return sodp_mw_invalidate(qp, key, remote);
	mr = sodp_mr_get_fast(qp, key);
	if (!mr)
		return -EINVAL;
	/* Invalid already: done (as on hardware), if the key is its own. */
	spin_lock(&mr->lock);
	if (mr->key == key) {
		mr->valid = false;
		ret = 0;
	}
	spin_unlock(&mr->lock);
	sodp_mr_put(mr);
	return ret;
}

int sodp_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata)
{
	struct sodp_dev *sdev = to_sdev(ibmr->device);
	struct sodp_mr *mr = to_smr(ibmr);

	xa_erase(&sdev->mrs, ibmr->lkey >> 8);
	sodp_mw_unbind_mr(sdev, mr);
	sodp_mr_put(mr);
	/* Transfers in flight finish with it; no new one can find it. */
	wait_for_completion(&mr->released);
	atomic_dec(&sdev->num_mrs);
	kvfree(mr->pages);
	kfree(mr->fast.pages);
	if (mr->umem)
		ib_umem_release(mr->umem);
	if (mr->odp)
		ib_umem_hmm_release(mr->odp);
	kfree_rcu(mr, rcu);
	return 0;
}

/**
 * sodp_rereg_user_mr - ibv_rereg_mr(): new translation, access or PD
 * @ibmr: the region
 * @flags: IB_MR_REREG_TRANS, IB_MR_REREG_ACCESS, IB_MR_REREG_PD
 * @start: with IB_MR_REREG_TRANS, the new user address ...
 * @length: ... length ...
 * @iova: ... and I/O virtual address
 * @access: with IB_MR_REREG_ACCESS, the new rights
 * @pd: the PD the region is to be in (its own if unchanged)
 * @udata: the driver data of the command
 *
 * A change of PD, or of rights that needs no other pages (not more
 * writable than the pages were taken, not to or from on-demand paging),
 * is made in place: the keys stay, and the core sets the PD.  Anything
 * else is a new region, with new keys, that the core puts in place of the
 * old one before it destroys that (so a failure leaves the old one as it
 * was).
 *
 * Return: NULL (changed in place), the new region, or an ERR_PTR.
 */
struct ib_mr *sodp_rereg_user_mr(struct ib_mr *ibmr, int flags, u64 start,
				 u64 length, u64 iova, int access,
				 struct ib_pd *pd, struct ib_udata *udata)
{
	struct sodp_mr *mr = to_smr(ibmr);
	int old = mr->access;

	if (!(flags & IB_MR_REREG_ACCESS))
		access = old;
	if (!(flags & IB_MR_REREG_TRANS) &&
	    (ib_access_writable(access) <= ib_access_writable(old)) &&
	    (access & IB_ACCESS_ON_DEMAND) == (old & IB_ACCESS_ON_DEMAND)) {
		/* Windows bound to it keep what it allowed when bound. */
		if (atomic_read(&mr->num_mw))
			return ERR_PTR(-EBUSY);
		WRITE_ONCE(mr->access, access);
		return NULL;
	}
	if (!(flags & IB_MR_REREG_TRANS)) {
		/* The same memory: an ODP region's iova is its address. */
		start = mr->umem ? mr->umem->address : ibmr->iova;
		length = ibmr->length;
		iova = ibmr->iova;
	}
	return sodp_reg_user_mr(pd, start, length, iova, access, udata);
}

/**
 * sodp_advise_mr - ibv_advise_mr(): prefetch pages of ODP regions
 * @pd: the protection domain of the SGEs' regions
 * @advice: PREFETCH (read), PREFETCH_WRITE or PREFETCH_NO_FAULT
 * @flags: IB_UVERBS_ADVISE_MR_FLAG_FLUSH waits for the pages; without it
 *	the prefetch is queued and this returns at once
 * @sg_list: the ranges, by lkey
 * @num_sge: their number
 * @attrs: unused
 *
 * Return: 0; -EINVAL for an lkey that is not an ODP region of @pd or a
 * range outside it; -EPERM for PREFETCH_WRITE of a region without local
 * write access; -EOPNOTSUPP for another advice; with FLUSH, the error of
 * the fault (-EFAULT, -EPERM).
 */
int sodp_advise_mr(struct ib_pd *pd, enum ib_uverbs_advise_mr_advice advice,
		   u32 flags, struct ib_sge *sg_list, u32 num_sge,
		   struct uverbs_attr_bundle *attrs)
{
	unsigned int hflags = 0;
	int access = 0;
	int ret = 0;
	u32 i;

	switch (advice) {
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH:
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE:
		hflags |= IB_UMEM_HMM_WRITE;
		/* Only into a region the device may write (mlx5 refuses it too). */
		access = IB_ACCESS_LOCAL_WRITE;
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT:
		hflags |= IB_UMEM_HMM_NO_FAULT;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (flags & ~IB_UVERBS_ADVISE_MR_FLAG_FLUSH)
		return -EOPNOTSUPP;
	if (!(flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH))
		hflags |= IB_UMEM_HMM_ASYNC;

	for (i = 0; i < num_sge && !ret; i++) {
		struct sodp_mr *mr = sodp_mr_get(to_sdev(pd->device), sg_list[i].lkey,
						 pd, sg_list[i].addr,
						 sg_list[i].length, 0);

		if (!mr)
			return -EINVAL;
		if ((READ_ONCE(mr->access) & access) != access) {
			sodp_mr_put(mr);
			return -EPERM;
		}
		if (mr->type != SODP_MR_ODP)
			ret = -EINVAL;
		else if (sg_list[i].length)
			ret = ib_umem_hmm_prefetch(mr->odp, sg_list[i].addr,
						   sg_list[i].length, hflags);
		sodp_mr_put(mr);
	}
	return ret;
}
