// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: completion queues.  The kernel produces CQEs into a ring the
 * process polls without a system call; an overrun loses the completion,
 * marks the CQ in error and raises IB_EVENT_CQ_ERR.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <rdma/uverbs_ioctl.h>

#include "sodp.h"

/* The CQE's network_hdr_type is the kernel's own. */
static_assert((int)SODP_NETWORK_IPV4 == (int)RDMA_NETWORK_IPV4 &&
	      (int)SODP_NETWORK_IPV6 == (int)RDMA_NETWORK_IPV6 &&
	      (int)SODP_NETWORK_ROCE_V1 == (int)RDMA_NETWORK_ROCE_V1);
/* So are its wc_flags. */
static_assert((int)SODP_CQE_GRH == (int)IB_WC_GRH &&
	      (int)SODP_CQE_WITH_IMM == (int)IB_WC_WITH_IMM &&
	      (int)SODP_CQE_WITH_INV == (int)IB_WC_WITH_INVALIDATE);

int sodp_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		   struct ib_udata *udata)
{
	struct sodp_dev *sdev = to_sdev(ibcq->device);
	struct sodp_cq *cq = to_scq(ibcq);
	struct sodp_create_cq_resp resp = {};
	int ret;

	if (attr->flags || attr->cqe < 1 || attr->cqe >= SODP_MAX_CQE)
		return -EINVAL;
	if (udata && udata->outlen < sizeof(resp))
		return -EINVAL;
	if (atomic_inc_return(&sdev->num_cqs) > SODP_MAX_CQ) {
		ret = -ENOMEM;
		goto err;
	}
	spin_lock_init(&cq->lock);
	cq->is_user = !!udata;
	/* One slot stays empty: full is producer - consumer == slots - 1. */
	ret = sodp_queue_init(&cq->q, udata, attr->cqe + 1,
			      sizeof(struct sodp_cqe), &resp.cq);
	if (ret)
		goto err;
	ibcq->cqe = cq->q.num_slots - 1;
	if (udata) {
		ret = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (ret) {
			sodp_queue_cleanup(&cq->q);
			goto err;
		}
	}
	return 0;
err:
	atomic_dec(&sdev->num_cqs);
	return ret;
}

int sodp_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata)
{
	struct sodp_cq *cq = to_scq(ibcq);

	sodp_queue_cleanup(&cq->q);
	atomic_dec(&to_sdev(ibcq->device)->num_cqs);
	return 0;
}

/*
 * Resize: a new ring, the pending CQEs moved over.  The process learns the
 * new ring from the response and must not poll the old one meanwhile (the
 * provider holds its CQ lock across the call).
 */
int sodp_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata)
{
	struct sodp_cq *cq = to_scq(ibcq);
	struct sodp_resize_cq_resp resp = {};
	struct sodp_queue nq = {}, oq;
	u32 n, i;
	int ret;

	if (cqe < 1 || cqe >= SODP_MAX_CQE)
		return -EINVAL;
	if (udata && udata->outlen < sizeof(resp))
		return -EINVAL;
	ret = sodp_queue_init(&nq, udata, cqe + 1, sizeof(struct sodp_cqe), &resp.cq);
	if (ret)
		return ret;
	/* Before the swap: CQEs posted to the new ring must not be lost. */
	if (udata) {
		ret = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (ret) {
			sodp_queue_cleanup(&nq);
			return ret;
		}
	}

	spin_lock_irq(&cq->lock);
	n = sodp_queue_used(&cq->q);
	if (n > nq.num_slots - 1 || n > cq->q.num_slots) {
		spin_unlock_irq(&cq->lock);
		sodp_queue_cleanup(&nq);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		memcpy(sodp_queue_slot(&nq, nq.prod),
		       sodp_queue_slot(&cq->q, cq->q.prod - n + i),
		       sizeof(struct sodp_cqe));
		nq.prod++;
	}
	nq.ring->producer = nq.prod;
	oq = cq->q;
	cq->q = nq;
	ibcq->cqe = nq.num_slots - 1;
	spin_unlock_irq(&cq->lock);
	sodp_queue_cleanup(&oq);
	return 0;
}

/*
 * Post a completion of @qp, with the time it completed.  A kernel CQ's
 * ring is the kernel's own: there the timestamp's place keeps the QP, for
 * wc->qp, as the QP number may be reused by the time the consumer polls.
 */
void sodp_cq_post(struct sodp_cq *cq, struct sodp_qp *qp, const struct sodp_cqe *cqe,
		  bool solicited)
{
	unsigned long flags;
	bool notify = false, overrun = false;

	spin_lock_irqsave(&cq->lock, flags);
	if (cq->overflow || sodp_queue_used(&cq->q) >= cq->q.num_slots - 1) {
		overrun = !cq->overflow;
		cq->overflow = true;
	} else {
		struct sodp_cqe *slot = sodp_queue_slot(&cq->q, cq->q.prod);

		memcpy(slot, cqe, sizeof(*cqe));
		slot->timestamp = cq->is_user ? ktime_get_ns() : (uintptr_t)&qp->ibqp;
		sodp_queue_publish(&cq->q);
		if (cq->notify == IB_CQ_NEXT_COMP ||
		    (cq->notify == IB_CQ_SOLICITED && solicited)) {
			cq->notify = 0;
			notify = true;
		}
	}
	spin_unlock_irqrestore(&cq->lock, flags);

	if (overrun)
		sodp_count(to_sdev(cq->ibcq.device), SODP_CNT_CQ_OVERRUN, 1);
	if (overrun && cq->ibcq.event_handler) {
		struct ib_event ev = {
			.device = cq->ibcq.device,
			.element.cq = &cq->ibcq,
			.event = IB_EVENT_CQ_ERR,
		};

		cq->ibcq.event_handler(&ev, cq->ibcq.cq_context);
	}
	if (notify && cq->ibcq.comp_handler)
		cq->ibcq.comp_handler(&cq->ibcq, cq->ibcq.cq_context);
}

/* A kernel CQ's completion for its kernel consumer. */
static void sodp_cqe_to_wc(const struct sodp_cqe *cqe, struct ib_wc *wc)
{
	memset(wc, 0, sizeof(*wc));
	wc->wr_id = cqe->wr_id;
	wc->status = cqe->status;
	wc->opcode = cqe->opcode;
	wc->vendor_err = cqe->vendor_err;
	wc->byte_len = cqe->byte_len;
	wc->ex.imm_data = (__force __be32)cqe->ex;
	wc->src_qp = cqe->src_qp;
	wc->wc_flags = cqe->wc_flags;
	wc->pkey_index = cqe->pkey_index;
	wc->slid = cqe->slid;
	wc->sl = cqe->sl;
	wc->dlid_path_bits = cqe->dlid_path_bits;
	wc->network_hdr_type = cqe->network_hdr_type;
	wc->port_num = 1;
	/* Kept at post time (sodp_cq_post()); consumers drain a QP before they destroy it. */
	wc->qp = (struct ib_qp *)(uintptr_t)cqe->timestamp;
}

int sodp_poll_cq(struct ib_cq *ibcq, int num, struct ib_wc *wc)
{
	struct sodp_cq *cq = to_scq(ibcq);
	struct sodp_cqe cqe;
	unsigned long flags;
	int n = 0;

	spin_lock_irqsave(&cq->lock, flags);
	while (n < num && sodp_queue_pop(&cq->q, &cqe))
		sodp_cqe_to_wc(&cqe, &wc[n++]);
	spin_unlock_irqrestore(&cq->lock, flags);
	return n;
}

int sodp_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags)
{
	struct sodp_cq *cq = to_scq(ibcq);
	unsigned long irqflags;
	int ret = 0;

	spin_lock_irqsave(&cq->lock, irqflags);
	if (cq->notify != IB_CQ_NEXT_COMP)
		cq->notify = flags & IB_CQ_SOLICITED_MASK;
	if ((flags & IB_CQ_REPORT_MISSED_EVENTS) && sodp_queue_used(&cq->q))
		ret = 1;
	spin_unlock_irqrestore(&cq->lock, irqflags);
	return ret;
}
