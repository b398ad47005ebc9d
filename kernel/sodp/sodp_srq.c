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

int sodp_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		    enum ib_srq_attr_mask mask, struct ib_udata *udata)
{
	struct sodp_srq *srq = to_ssrq(ibsrq);

	/* Resizing would move a ring the process writes without us. */
	if (mask & IB_SRQ_MAX_WR)
		return -EOPNOTSUPP;
	if (mask & IB_SRQ_LIMIT) {
		if (attr->srq_limit > srq->rq.num_slots)
			return -EINVAL;
		mutex_lock(&srq->lock);
		srq->limit = attr->srq_limit;
		mutex_unlock(&srq->lock);
	}
	return 0;
}

int sodp_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr)
{
	struct sodp_srq *srq = to_ssrq(ibsrq);

	attr->max_wr = srq->rq.num_slots;
	attr->max_sge = SODP_MAX_SGE;
	attr->srq_limit = srq->limit;
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
