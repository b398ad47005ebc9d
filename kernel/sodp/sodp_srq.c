// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: shared receive queues, with the limit event.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <rdma/uverbs_ioctl.h>

#include "sodp.h"

int sodp_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		    struct ib_udata *udata)
{
	struct sodp_dev *sdev = to_sdev(ibsrq->device);
	struct sodp_srq *srq = to_ssrq(ibsrq);
	struct sodp_create_srq_resp resp = {};
	int ret;

	if (init->srq_type != IB_SRQT_BASIC)
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
	ret = sodp_queue_init(&srq->rq, udata, init->attr.max_wr,
			      sizeof(struct sodp_recv_wqe), &resp.rq);
	if (ret)
		goto err;
	init->attr.max_wr = srq->rq.num_slots;
	init->attr.max_sge = SODP_MAX_SGE;
	if (udata) {
		ret = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (ret) {
			sodp_queue_cleanup(&srq->rq);
			goto err;
		}
	}
	return 0;
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

	sodp_queue_cleanup(&srq->rq);
	atomic_dec(&to_sdev(ibsrq->device)->num_srqs);
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
