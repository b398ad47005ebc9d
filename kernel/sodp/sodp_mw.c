// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: memory windows.  A window is bound to a range of a region
 * (which must allow IB_ACCESS_MW_BIND) by a BIND_MW work request, for
 * type 1 from ibv_bind_mw() and for type 2 posted directly; its rkey then
 * gives remote access to that range with the window's own rights, for
 * type 2 only through the QP that bound it.  A type 1 window is unbound
 * by a bind of length 0, a type 2 by LOCAL_INV or a peer's SEND with
 * Invalidate; deallocating a window, or deregistering its region, unbinds
 * it too.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include "sodp.h"

/* Let go of the window's region (mw->lock held); returns it to be put. */
static struct sodp_mr *sodp_mw_release(struct sodp_mw *mw)
{
	struct sodp_mr *mr = mw->mr;

	mw->valid = false;
	mw->mr = NULL;
	if (mr)
		atomic_dec(&mr->num_mw);
	return mr;
}

int sodp_alloc_mw(struct ib_mw *ibmw, struct ib_udata *udata)
{
	struct sodp_dev *sdev = to_sdev(ibmw->device);
	struct sodp_mw *mw = to_smw(ibmw);
	u32 index;
	int ret;

	if (ibmw->type != IB_MW_TYPE_1 && ibmw->type != IB_MW_TYPE_2)
		return -EINVAL;
	if (atomic_inc_return(&sdev->num_mws) > SODP_MAX_MW) {
		ret = -ENOMEM;
		goto err;
	}
	spin_lock_init(&mw->lock);
	ret = xa_alloc_cyclic(&sdev->mws, &index, NULL,
			      XA_LIMIT(SODP_MW_INDEX_MIN, SODP_MW_INDEX_MAX),
			      &sdev->next_mw_index, GFP_KERNEL);
	if (ret < 0) {
		ret = ret == -EBUSY ? -ENOMEM : ret;
		goto err;
	}
	mw->index = index;
	mw->rkey = index << 8 | (get_random_u32() & 0xff);
	ibmw->rkey = mw->rkey;
	xa_store(&sdev->mws, index, mw, GFP_KERNEL);
	return 0;
err:
	atomic_dec(&sdev->num_mws);
	return ret;
}

int sodp_dealloc_mw(struct ib_mw *ibmw)
{
	struct sodp_dev *sdev = to_sdev(ibmw->device);
	struct sodp_mw *mw = to_smw(ibmw);
	struct sodp_mr *mr;

	/* After this no lookup can find it: they all run under the lock. */
	xa_erase(&sdev->mws, mw->index);
	spin_lock(&mw->lock);
	mr = sodp_mw_release(mw);
	spin_unlock(&mw->lock);
	if (mr)
		sodp_mr_put(mr);
	atomic_dec(&sdev->num_mws);
	return 0;
}

/**
 * sodp_mw_bind - run a BIND_MW work request
 * @qp: the QP it was posted to (its PD must be the window's and region's)
 * @wqe: rkey the window's new rkey (its index names the window),
 *	ex the region's lkey, remote_addr and compare_add the range, swap
 *	the window's rights
 *
 * Return: 0, or -EINVAL when IBTA says the bind fails: a window or region
 * of another PD, a region without IB_ACCESS_MW_BIND or not holding the
 * range, remote write or atomic rights over a region not locally
 * writable, a zero-based window (or another right a window cannot have),
 * a type 2 window already bound (or bound with length 0), a key of
 * another window.
 */
int sodp_mw_bind(struct sodp_qp *qp, const struct sodp_send_wqe *wqe)
{
	struct sodp_dev *sdev = qp->dev;
	u64 addr = wqe->remote_addr, len = wqe->compare_add;
	struct sodp_mr *mr = NULL, *old = NULL;
	struct sodp_mw *mw;
	int ret = -EINVAL;
	int access;

	/* Local write means nothing for a window: allowed, and ignored. */
	if (!sodp_key_is_mw(wqe->rkey) ||
	    (wqe->swap & ~(u64)(IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_READ |
				IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_ATOMIC)))
		return -EINVAL;
	access = wqe->swap & ~IB_ACCESS_LOCAL_WRITE;
	if (len) {
		mr = sodp_mr_get(sdev, wqe->ex, sodp_qp_pd(qp), addr, len,
				 IB_ACCESS_MW_BIND);
		if (!mr)
			return -EINVAL;
		if ((access & (IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_ATOMIC)) &&
		    !(READ_ONCE(mr->access) & IB_ACCESS_LOCAL_WRITE))
			goto out;
	}

	xa_lock(&sdev->mws);
	mw = xa_load(&sdev->mws, wqe->rkey >> 8);
	if (!mw || mw->ibmw.pd != sodp_qp_pd(qp))
		goto unlock;
	spin_lock(&mw->lock);
	if (mw->ibmw.type == IB_MW_TYPE_2 && (mw->valid || !len))
		goto unlock_mw;
	/* A deregistration unbinds what it finds bound after it unpublished. */
	if (mr && xa_load(&sdev->mrs, mr->ibmr.lkey >> 8) != mr)
		goto unlock_mw;
	old = sodp_mw_release(mw);
	mw->rkey = wqe->rkey;
	if (mr) {
		atomic_inc(&mr->num_mw);
		mw->mr = mr;
		mr = NULL;		/* the window's reference now */
		mw->addr = addr;
		mw->length = len;
		mw->access = access;
		mw->qpn = qp->ibqp.qp_num;
		mw->valid = true;
		/* Its type 2 windows die with it (sodp_mw_unbind_qp()). */
		WRITE_ONCE(qp->bound_mw, true);
	}
	ret = 0;
unlock_mw:
	spin_unlock(&mw->lock);
unlock:
	xa_unlock(&sdev->mws);
out:
	if (mr)
		sodp_mr_put(mr);
	if (old)
		sodp_mr_put(old);
	return ret;
}

/**
 * sodp_mw_invalidate - LOCAL_INV or SEND with Invalidate of a window's rkey
 * @qp: the QP the request came to
 * @rkey: the window's current rkey
 * @remote: by a peer's SEND with Invalidate: only to the QP that bound it
 *
 * Return: 0, or -EINVAL if @rkey names no bound type 2 window of @qp's PD.
 */
int sodp_mw_invalidate(struct sodp_qp *qp, u32 rkey, bool remote)
{
	struct sodp_dev *sdev = qp->dev;
	struct sodp_mr *mr = NULL;
	struct sodp_mw *mw;
	int ret = -EINVAL;

	xa_lock(&sdev->mws);
	mw = xa_load(&sdev->mws, rkey >> 8);
	if (mw) {
		spin_lock(&mw->lock);
		if (mw->valid && mw->rkey == rkey && mw->ibmw.type == IB_MW_TYPE_2 &&
		    mw->ibmw.pd == sodp_qp_pd(qp) &&
		    (!remote || mw->qpn == qp->ibqp.qp_num)) {
			mr = sodp_mw_release(mw);
			ret = 0;
		}
		spin_unlock(&mw->lock);
	}
	xa_unlock(&sdev->mws);
	if (mr)
		sodp_mr_put(mr);
	return ret;
}

/**
 * sodp_mw_unbind_mr - unbind every window bound to a region
 * @sdev: the device
 * @mr: the region, already unpublished (no bind can take it any more)
 */
void sodp_mw_unbind_mr(struct sodp_dev *sdev, struct sodp_mr *mr)
{
	struct sodp_mw *mw;
	unsigned long index;

	xa_lock(&sdev->mws);
	/* Read under the lock a bind counts the region under. */
	if (!atomic_read(&mr->num_mw)) {
		xa_unlock(&sdev->mws);
		return;
	}
	xa_for_each(&sdev->mws, index, mw) {
		spin_lock(&mw->lock);
		/* Never the last reference: the deregistration holds one. */
		if (mw->mr == mr && sodp_mw_release(mw))
			sodp_mr_put(mr);
		spin_unlock(&mw->lock);
	}
	xa_unlock(&sdev->mws);
}

/**
 * sodp_rkey_get - the region an rkey gives remote access to
 * @qp: the responder's QP
 * @rkey: a region's rkey or a window's
 * @va: first byte of the access
 * @len: its length
 * @access: IB_ACCESS_REMOTE_* it needs
 *
 * Return: the region with a reference (sodp_mr_put() it), @va being an
 * address of it; NULL if the key, PD, QP (a type 2 window), rights or
 * bounds do not allow the access.
 */
struct sodp_mr *sodp_rkey_get(struct sodp_qp *qp, u32 rkey, u64 va, u64 len,
			      int access)
{
	struct sodp_dev *sdev = qp->dev;
	struct sodp_mr *mr = NULL;
	struct sodp_mw *mw;

	if (!sodp_key_is_mw(rkey))
		return sodp_mr_get(sdev, rkey, sodp_qp_pd(qp), va, len, access);
	xa_lock(&sdev->mws);
	mw = xa_load(&sdev->mws, rkey >> 8);
	if (mw) {
		spin_lock(&mw->lock);
		if (mw->valid && mw->rkey == rkey && mw->ibmw.pd == sodp_qp_pd(qp) &&
		    (mw->ibmw.type == IB_MW_TYPE_1 || mw->qpn == qp->ibqp.qp_num) &&
		    (mw->access & access) == access &&
		    va >= mw->addr && va + len >= va && va + len <= mw->addr + mw->length &&
		    kref_get_unless_zero(&mw->mr->ref))
			mr = mw->mr;
		spin_unlock(&mw->lock);
	}
	xa_unlock(&sdev->mws);
	return mr;
}

/**
 * sodp_mw_unbind_qp - unbind the type 2 windows a QP being destroyed bound
 * @qp: the QP (no work of it runs any more)
 *
 * Their access was that QP's alone; a later QP of the same number must not
 * inherit it.
 */
void sodp_mw_unbind_qp(struct sodp_qp *qp)
{
	struct sodp_dev *sdev = qp->dev;
	struct sodp_mr *mr;
	struct sodp_mw *mw;
	unsigned long index;

	if (!READ_ONCE(qp->bound_mw))
		return;
	xa_lock(&sdev->mws);
	xa_for_each(&sdev->mws, index, mw) {
		spin_lock(&mw->lock);
		mr = NULL;
		if (mw->ibmw.type == IB_MW_TYPE_2 && mw->valid &&
		    mw->qpn == qp->ibqp.qp_num)
			mr = sodp_mw_release(mw);
		spin_unlock(&mw->lock);
		/* Even the last put only completes the region's release. */
		if (mr)
			sodp_mr_put(mr);
	}
	xa_unlock(&sdev->mws);
}
