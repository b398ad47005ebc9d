// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: shared receive queues, with the limit event; XRC domains and
 * XRC SRQs, which XRC target QPs reach by number.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <rdma/uverbs_ioctl.h>

#include "sodp.h"

int sodp_alloc_xrcd(struct ib_xrcd *ibxrcd, struct ib_udata *udata)
{
	return 0;
}

int sodp_dealloc_xrcd(struct ib_xrcd *ibxrcd, struct ib_udata *udata)
{
	return 0;
}

/* Tells apart the SRQs that held one number in turn. */
static atomic64_t sodp_srq_serial = ATOMIC64_INIT(0);

static void sodp_srq_release(struct kref *ref)
{
	complete(&container_of(ref, struct sodp_srq, ref)->released);
}

void sodp_srq_put(struct sodp_srq *srq)
{
	kref_put(&srq->ref, sodp_srq_release);
}

/**
 * sodp_srq_get - the XRC SRQ of a number, with a reference
 * @sdev: the device
 * @srqn: the number an XRC packet names
 *
 * Return: the SRQ (sodp_srq_put() it), or NULL if there is none: once
 * destroy_srq has erased the number, no lookup finds it.
 */
struct sodp_srq *sodp_srq_get(struct sodp_dev *sdev, u32 srqn)
{
	struct sodp_srq *srq;

	xa_lock(&sdev->srqs);
	srq = xa_load(&sdev->srqs, srqn);
	if (srq && !kref_get_unless_zero(&srq->ref))
		srq = NULL;
	xa_unlock(&sdev->srqs);
	return srq;
}

int sodp_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		    struct ib_udata *udata)
{
	struct sodp_dev *sdev = to_sdev(ibsrq->device);
	struct sodp_srq *srq = to_ssrq(ibsrq);
	struct sodp_create_srq_resp resp = {};
	int ret;

	if (init->srq_type != IB_SRQT_BASIC && init->srq_type != IB_SRQT_XRC)
		return -EOPNOTSUPP;
	if (!init->attr.max_wr || init->attr.max_wr > SODP_MAX_SRQ_WR ||
	    init->attr.max_sge > SODP_MAX_SGE)
		return -EINVAL;
	if (udata && udata->outlen < sizeof(resp))
		return -EINVAL;
	if (atomic_inc_return(&sdev->num_srqs) > SODP_MAX_SRQ) {
		ret = -ENOMEM;
		goto err;
	}
	mutex_init(&srq->lock);
	spin_lock_init(&srq->post_lock);
	srq->is_user = !!udata;
	srq->limit = init->attr.srq_limit;
	kref_init(&srq->ref);
	init_completion(&srq->released);
	srq->serial = atomic64_inc_return(&sodp_srq_serial);
	ret = sodp_queue_init(&srq->rq, udata, init->attr.max_wr,
			      sizeof(struct sodp_recv_wqe), &resp.rq);
	if (ret)
		goto err;
	/* Reserved now, published once whole. */
	if (init->srq_type == IB_SRQT_XRC) {
		ret = xa_alloc_cyclic(&sdev->srqs, &resp.srq_num, NULL,
				      XA_LIMIT(1, 0xffffff), &sdev->next_srqn,
				      GFP_KERNEL);
		if (ret < 0)
			goto err_queue;
		ibsrq->ext.xrc.srq_num = resp.srq_num;
	}
	init->attr.max_wr = srq->rq.num_slots;
	init->attr.max_sge = SODP_MAX_SGE;
	if (udata) {
		ret = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (ret)
			goto err_srqn;
	}
	if (init->srq_type == IB_SRQT_XRC)
		xa_store(&sdev->srqs, resp.srq_num, srq, GFP_KERNEL);
	return 0;

err_srqn:
	if (init->srq_type == IB_SRQT_XRC)
		xa_erase(&sdev->srqs, resp.srq_num);
err_queue:
	sodp_queue_cleanup(&srq->rq);
err:
	atomic_dec(&sdev->num_srqs);
	return ret;
}

/*
 * Resize: a new ring, the posted WQEs moved over.  A process learns the
 * new ring at the address its command gave (modify_srq has no response),
 * and must not post to the old one meanwhile (the provider holds its SRQ
 * lock across the call).  @limit, if not NULL, is set with it, checked
 * first: a resize done is never reported as failed.
 */
static int sodp_resize_srq(struct sodp_srq *srq, u32 max_wr, const u32 *limit,
			   struct ib_udata *udata)
{
	struct sodp_modify_srq_cmd ucmd = {};
	struct sodp_queue nq = {}, oq;
	struct sodp_ring_info info = {};
	unsigned long flags;
	u32 n, i;
	int ret;

	if (!max_wr || max_wr > SODP_MAX_SRQ_WR)
		return -EINVAL;
	if (udata) {
		/* An older provider has nowhere to learn the new ring. */
		if (udata->inlen < sizeof(ucmd))
			return -EOPNOTSUPP;
		ret = ib_copy_from_udata(&ucmd, udata, sizeof(ucmd));
		if (ret)
			return ret;
	}
	ret = sodp_queue_init(&nq, udata, max_wr, sizeof(struct sodp_recv_wqe), &info);
	if (ret)
		return ret;
	if (udata && copy_to_user(u64_to_user_ptr(ucmd.ring_info_addr), &info,
				  sizeof(info))) {
		sodp_queue_cleanup(&nq);
		return -EFAULT;
	}

	mutex_lock(&srq->lock);
	spin_lock_irqsave(&srq->post_lock, flags);
	n = sodp_queue_count(&srq->rq);
	/* (A count past the ring: the process wrote a bad producer index.) */
	if (!limit)
		limit = &srq->limit;
	if (n > srq->rq.num_slots || n > nq.num_slots || *limit > nq.num_slots) {
		spin_unlock_irqrestore(&srq->post_lock, flags);
		mutex_unlock(&srq->lock);
		sodp_queue_cleanup(&nq);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		memcpy(sodp_queue_slot(&nq, i),
		       sodp_queue_slot(&srq->rq, srq->rq.cons + i), nq.slot_size);
		sodp_queue_publish(&nq);
	}
	oq = srq->rq;
	srq->rq = nq;
	srq->limit = *limit;
	spin_unlock_irqrestore(&srq->post_lock, flags);
	mutex_unlock(&srq->lock);
	sodp_queue_cleanup(&oq);
	return 0;
}

int sodp_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		    enum ib_srq_attr_mask mask, struct ib_udata *udata)
{
	struct sodp_srq *srq = to_ssrq(ibsrq);
	int ret;

	if (mask & IB_SRQ_MAX_WR)
		return sodp_resize_srq(srq, attr->max_wr,
				       mask & IB_SRQ_LIMIT ? &attr->srq_limit : NULL,
				       udata);
	if (mask & IB_SRQ_LIMIT) {
		mutex_lock(&srq->lock);
		ret = attr->srq_limit > srq->rq.num_slots ? -EINVAL : 0;
		if (!ret)
			srq->limit = attr->srq_limit;
		mutex_unlock(&srq->lock);
		return ret;
	}
	return 0;
}

int sodp_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr)
{
	struct sodp_srq *srq = to_ssrq(ibsrq);

	mutex_lock(&srq->lock);
	attr->max_wr = srq->rq.num_slots;
	attr->srq_limit = srq->limit;
	mutex_unlock(&srq->lock);
	attr->max_sge = SODP_MAX_SGE;
	return 0;
}

int sodp_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata)
{
	struct sodp_srq *srq = to_ssrq(ibsrq);
	struct sodp_dev *sdev = to_sdev(ibsrq->device);

	/* An XRC target QP's packet may hold it: wait for it to finish. */
	if (ibsrq->srq_type == IB_SRQT_XRC) {
		xa_erase(&sdev->srqs, ibsrq->ext.xrc.srq_num);
		sodp_srq_put(srq);
		wait_for_completion(&srq->released);
	}
	sodp_queue_cleanup(&srq->rq);
	atomic_dec(&sdev->num_srqs);
	return 0;
}

int sodp_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
		       const struct ib_recv_wr **bad_wr)
{
	struct sodp_srq *srq = to_ssrq(ibsrq);
	unsigned long flags;
	int ret = 0;

	if (srq->is_user)
		return -EINVAL;
	/* May be called in atomic context, like post_recv. */
	spin_lock_irqsave(&srq->post_lock, flags);
	for (; wr; wr = wr->next) {
		ret = sodp_post_recv_ring(&srq->rq, wr);
		if (ret)
			break;
	}
	spin_unlock_irqrestore(&srq->post_lock, flags);
	if (ret)
		*bad_wr = wr;
	return ret;
}

/* Take a receive WQE; raise the limit event when the SRQ runs low. */
bool sodp_srq_pop(struct sodp_srq *srq, struct sodp_recv_wqe *wqe)
{
	bool got, low = false;

	mutex_lock(&srq->lock);
	got = sodp_queue_pop(&srq->rq, wqe);
	if (got && srq->limit && sodp_queue_count(&srq->rq) < srq->limit) {
		srq->limit = 0;		/* the event disarms it */
		low = true;
	}
	mutex_unlock(&srq->lock);

	if (low && srq->ibsrq.event_handler) {
		struct ib_event ev = {
			.device = srq->ibsrq.device,
			.element.srq = &srq->ibsrq,
			.event = IB_EVENT_SRQ_LIMIT_REACHED,
		};

		srq->ibsrq.event_handler(&ev, srq->ibsrq.srq_context);
	}
	return got;
}
