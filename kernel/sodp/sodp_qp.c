// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: queue pairs.  Their life cycle and state machine, the posting
 * of work requests by kernel consumers, the doorbell of user QPs, errors
 * and flushing.
 *
 * Locking: sq_lock (requester) -> rq_lock (responder, any QP) -> state_lock.
 * The requester of QP X holds X.sq_lock while the responder of QP Y (any
 * QP, X too) takes Y.rq_lock; modify_qp takes rq_lock, and sq_lock before
 * it for RESET.  Completion and event callbacks run under these: X's send
 * CQEs under X.sq_lock; Y's receive CQEs and SRQ events under Y.rq_lock
 * and X.sq_lock; Y's QP error events under X.sq_lock.  A kernel consumer's
 * handler must therefore not modify, destroy or drain those QPs itself
 * (ib_core's CQ handlers and uverbs only queue work).  No QP lock is taken
 * while an ODP span is held.  An XRC target QP takes its packet's SRQ
 * (a reference, under the srqs xarray's lock) under its rq_lock; the
 * multicast lock is taken under sq_lock or none, and no QP lock under it.
 *
 * Lifetime: the core frees a QP when destroy_qp returns.  Until then the
 * engine reaches it by number (sodp_qp_get(): a reference taken under the
 * xarray's lock) or through its own work items; destroy_qp unpublishes the
 * number, waits for every reference, then cancels the work.  Nothing is
 * held across packets: the responder's state names its buffers by key and
 * resolves them again for each packet.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <rdma/ib_addr.h>
#include <rdma/ib_cache.h>
#include <rdma/ib_mad.h>
#include <rdma/uverbs_ioctl.h>

#include "sodp.h"

static void sodp_qp_release(struct kref *ref)
{
	complete(&container_of(ref, struct sodp_qp, ref)->released);
}

void sodp_qp_put(struct sodp_qp *qp)
{
	kref_put(&qp->ref, sodp_qp_release);
}

/*
 * The QP of a number, with a reference, or NULL.  Under the xarray's lock:
 * once destroy_qp has erased the number, no lookup still holds the pointer.
 */
struct sodp_qp *sodp_qp_get(struct sodp_dev *sdev, u32 qpn)
{
	struct sodp_qp *qp;

	xa_lock(&sdev->qps);
	qp = xa_load(&sdev->qps, qpn);
	if (qp && !kref_get_unless_zero(&qp->ref))
		qp = NULL;
	xa_unlock(&sdev->qps);
	return qp;
}

static void sodp_qp_set_state(struct sodp_qp *qp, enum ib_qp_state state)
{
	lockdep_assert_held(&qp->state_lock);
	WRITE_ONCE(qp->state, state);
	/* The provider reads it to know that receives need flushing. */
	WRITE_ONCE(qp->sq.ring->qp_state, state);
}

bool sodp_qp_can_receive(struct sodp_qp *qp)
{
	enum ib_qp_state s = READ_ONCE(qp->state);

	return s == IB_QPS_RTR || s == IB_QPS_RTS || s == IB_QPS_SQD;
}

/* Move to the error state; the requester work flushes the SQ. */
void sodp_qp_error(struct sodp_qp *qp)
{
	mutex_lock(&qp->state_lock);
	if (qp->state != IB_QPS_ERR && qp->state != IB_QPS_RESET)
		sodp_qp_set_state(qp, IB_QPS_ERR);
	mutex_unlock(&qp->state_lock);
	sodp_req_kick(qp);
}

/* An error the consumer learns of by an asynchronous event. */
void sodp_qp_fatal(struct sodp_qp *qp, enum ib_event_type event)
{
	struct ib_event ev = {
		.device = qp->ibqp.device,
		.element.qp = &qp->ibqp,
		.event = event,
	};

	sodp_qp_error(qp);
	if (qp->ibqp.event_handler)
		qp->ibqp.event_handler(&ev, qp->ibqp.qp_context);
}

/**
 * sodp_recv_post - complete a receive WQE of the QP
 * @qp: the QP (rq_lock held for its active WQE)
 * @cqe: the completion
 * @solicited: whether it wakes a CQ armed for solicited completions
 *
 * An XRC target QP's WQE completes on the CQ of the XRC SRQ it came from
 * (not necessarily the packet's), if that SRQ is still there: else it
 * went with it.
 */
void sodp_recv_post(struct sodp_qp *qp, const struct sodp_cqe *cqe, bool solicited)
{
	struct sodp_srq *srq = qp->srq;

	if (qp->ibqp.qp_type != IB_QPT_XRC_TGT) {
		sodp_cq_post(qp->rcq, qp, cqe, solicited);
		return;
	}
	if (srq && srq->serial == qp->recv.srq_serial) {
		sodp_cq_post(qp->rcq, qp, cqe, solicited);
		return;
	}
	srq = sodp_srq_get(qp->dev, qp->recv.srqn);
	if (!srq)
		return;
	if (srq->serial == qp->recv.srq_serial)
		sodp_cq_post(to_scq(srq->ibsrq.ext.cq), qp, cqe, solicited);
	sodp_srq_put(srq);
}

/*
 * A receive WQE ends in error with nothing received (a flush, or a message
 * its requester gave up).  A flush is no news to whoever moved the QP to
 * error: only other errors wake a CQ armed for solicited completions.
 */
void sodp_recv_error(struct sodp_qp *qp, u64 wr_id, enum ib_wc_status status)
{
	struct sodp_cqe cqe = {
		.wr_id = wr_id,
		.status = status,
		.opcode = IB_WC_RECV,
		.qp_num = qp->ibqp.qp_num,
	};

	sodp_recv_post(qp, &cqe, status != IB_WC_WR_FLUSH_ERR);
}

/* Forget a message being received (nothing of it is held). */
static void sodp_resp_forget(struct sodp_qp *qp)
{
	lockdep_assert_held(&qp->rq_lock);
	qp->recv.active = false;
	qp->write_active = false;
	qp->resp_resend = false;
	qp->resp_uc_drop = false;
}

/* Complete every receive WQE of a QP in error.  Takes rq_lock. */
void sodp_qp_flush_rq(struct sodp_qp *qp)
{
	struct sodp_recv_wqe wqe;

	mutex_lock(&qp->rq_lock);
	if (READ_ONCE(qp->state) == IB_QPS_ERR) {
		if (qp->recv.active)
			sodp_recv_error(qp, qp->recv.wqe.wr_id, IB_WC_WR_FLUSH_ERR);
		sodp_resp_forget(qp);
		while (sodp_qp_has_rq(qp) && sodp_queue_pop(&qp->rq, &wqe))
			sodp_recv_error(qp, wqe.wr_id, IB_WC_WR_FLUSH_ERR);
	}
	mutex_unlock(&qp->rq_lock);
}

static int sodp_qp_alloc_qpn(struct sodp_dev *sdev, struct sodp_qp *qp,
			     enum ib_qp_type type)
{
	u32 qpn;
	int ret;

	if (type == IB_QPT_GSI) {
		ret = xa_insert(&sdev->qps, 1, NULL, GFP_KERNEL);
		qpn = 1;
	} else {
		ret = xa_alloc_cyclic(&sdev->qps, &qpn, NULL,
				      XA_LIMIT(SODP_QPN_MIN, SODP_MCAST_QPN - 1),
				      &sdev->next_qpn, GFP_KERNEL);
		if (ret > 0)
			ret = 0;
	}
	if (ret)
		return ret == -EBUSY ? -ENOMEM : ret;
	qp->ibqp.qp_num = qpn;
	return 0;
}

static int sodp_qp_check_cap(struct ib_qp_init_attr *init)
{
	struct ib_qp_cap *cap = &init->cap;

	if (cap->max_send_wr > SODP_MAX_QP_WR || cap->max_recv_wr > SODP_MAX_QP_WR ||
	    cap->max_send_sge > SODP_MAX_SGE || cap->max_recv_sge > SODP_MAX_SGE ||
	    cap->max_inline_data > SODP_MAX_INLINE)
		return -EINVAL;
	return 0;
}

int sodp_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		   struct ib_udata *udata)
{
	struct sodp_dev *sdev = to_sdev(ibqp->device);
	struct sodp_qp *qp = to_sqp(ibqp);
	struct sodp_create_qp_resp resp = {};
	int ret;

	if (init->qp_type != IB_QPT_RC && init->qp_type != IB_QPT_UC &&
	    init->qp_type != IB_QPT_UD && init->qp_type != IB_QPT_GSI &&
	    init->qp_type != IB_QPT_XRC_INI && init->qp_type != IB_QPT_XRC_TGT)
		return -EOPNOTSUPP;
	/* A kernel work request cannot name an XRC SRQ. */
	if (init->create_flags || (init->qp_type == IB_QPT_XRC_INI && !udata))
		return -EOPNOTSUPP;
	if (init->qp_type == IB_QPT_XRC_TGT && !init->xrcd)
		return -EINVAL;
	ret = sodp_qp_check_cap(init);
	if (ret)
		return ret;
	if (udata && udata->outlen < sizeof(resp))
		return -EINVAL;
	if (atomic_inc_return(&sdev->num_qps) > SODP_MAX_QP) {
		ret = -ENOMEM;
		goto err_count;
	}

	qp->dev = sdev;
	qp->is_user = !!udata;
	kref_init(&qp->ref);
	init_completion(&qp->released);
	mutex_init(&qp->state_lock);
	mutex_init(&qp->sq_lock);
	mutex_init(&qp->rq_lock);
	spin_lock_init(&qp->sq_post_lock);
	spin_lock_init(&qp->rq_post_lock);
	INIT_WORK(&qp->req_work, sodp_req_work);
	qp->faulting_until = jiffies;
	INIT_DELAYED_WORK(&qp->retry_work, sodp_retry_work);
	/*
	 * An XRC initiator has no receive CQ or SRQ, a target no CQ or SRQ at
	 * all (the core lets an SRQ be named for one, and holds no use count
	 * on it): whatever was given for them is not the QP's.
	 */
	if (init->qp_type == IB_QPT_XRC_TGT) {
		init->cap = (struct ib_qp_cap){};
	} else {
		qp->scq = to_scq(init->send_cq);
		if (init->qp_type != IB_QPT_XRC_INI) {
			qp->rcq = to_scq(init->recv_cq);
			qp->srq = init->srq ? to_ssrq(init->srq) : NULL;
		}
	}
	qp->xrcd = init->xrcd;
	qp->sq_sig_all = init->sq_sig_type == IB_SIGNAL_ALL_WR;
	qp->mtu = 1024;
	sodp_mem_init(&qp->resp_mem);
	if (init->qp_type == IB_QPT_GSI)
		qp->qkey = IB_QP1_QKEY;
	/* UD messages are one packet of the port's MTU. */
	if (init->qp_type == IB_QPT_UD || init->qp_type == IB_QPT_GSI)
		qp->mtu = sodp_port_mtu(sdev);

	ret = sodp_qp_alloc_qpn(sdev, qp, init->qp_type);
	if (ret)
		goto err_count;
	ret = sodp_queue_init(&qp->sq, udata, init->cap.max_send_wr,
			      sizeof(struct sodp_send_wqe), &resp.sq);
	if (ret)
		goto err_qpn;
	if (sodp_qp_has_rq(qp)) {
		ret = sodp_queue_init(&qp->rq, udata, init->cap.max_recv_wr,
				      sizeof(struct sodp_recv_wqe), &resp.rq);
		if (ret)
			goto err_sq;
	}
	qp->state = IB_QPS_RESET;
	qp->sq.ring->qp_state = IB_QPS_RESET;

	/* Report what was granted (a target QP: nothing to post to). */
	if (init->qp_type != IB_QPT_XRC_TGT) {
		init->cap.max_send_wr = qp->sq.num_slots;
		if (sodp_qp_has_rq(qp))
			init->cap.max_recv_wr = qp->rq.num_slots;
		init->cap.max_send_sge = SODP_MAX_SGE;
		init->cap.max_recv_sge = SODP_MAX_SGE;
		init->cap.max_inline_data = SODP_MAX_INLINE;
		qp->max_send_sge = SODP_MAX_SGE;
		qp->max_recv_sge = SODP_MAX_SGE;
		qp->max_inline = SODP_MAX_INLINE;
	}

	if (udata) {
		ret = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (ret)
			goto err_rq;
	}
	/* Visible to senders only now that it is whole. */
	xa_store(&sdev->qps, ibqp->qp_num, qp, GFP_KERNEL);
	return 0;

err_rq:
	if (sodp_qp_has_rq(qp))
		sodp_queue_cleanup(&qp->rq);
err_sq:
	sodp_queue_cleanup(&qp->sq);
err_qpn:
	xa_erase(&sdev->qps, ibqp->qp_num);
err_count:
	atomic_dec(&sdev->num_qps);
	return ret;
}

int sodp_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata)
{
	struct sodp_qp *qp = to_sqp(ibqp);
	struct sodp_dev *sdev = qp->dev;

	xa_erase(&sdev->qps, ibqp->qp_num);
	mutex_lock(&qp->state_lock);
	sodp_qp_set_state(qp, IB_QPS_RESET);
	mutex_unlock(&qp->state_lock);
	/* Senders that found it finish their packet; no new one can. */
	sodp_qp_put(qp);
	wait_for_completion(&qp->released);
	/*
	 * With every reference gone (the receive work's too) and no doorbell
	 * possible (uverbs keeps it off a QP being destroyed), only a
	 * running req_work can arm retry_work, and only
	 * retry_work queues req_work: in this order the last cancel leaves
	 * neither queued.
	 */
	cancel_work_sync(&qp->req_work);
	cancel_delayed_work_sync(&qp->retry_work);
	cancel_work_sync(&qp->req_work);

	sodp_mw_unbind_qp(qp);
	sodp_wire_req_free(qp);
	if (sodp_qp_has_rq(qp))
		sodp_queue_cleanup(&qp->rq);
	sodp_queue_cleanup(&qp->sq);
	atomic_dec(&sdev->num_qps);
	return 0;
}

/*
 * The address vector: the peer's GID and ours.  Ours is kept (as hardware
 * keeps the resolved path) for the packets the QP sends and for checking
 * those it receives.
 */
static int sodp_qp_set_av(struct sodp_qp *qp, struct rdma_ah_attr *ah)
{
	const struct ib_global_route *grh;

	if (!(rdma_ah_get_ah_flags(ah) & IB_AH_GRH))
		return -EINVAL;
	grh = rdma_ah_read_grh(ah);
	if (!grh->sgid_attr)
		return -EINVAL;
	qp->dgid = grh->dgid;
	qp->sgid_index = grh->sgid_index;
	qp->sgid = grh->sgid_attr->gid;
	qp->net_type = rdma_gid_attr_network_type(grh->sgid_attr);
	qp->tclass = grh->traffic_class;
	qp->hop_limit = grh->hop_limit;
	qp->flow_label = grh->flow_label;
	return 0;
}

/*
 * Back to RESET: forget queued work, as a new QP would have none.  Called
 * with sq_lock and rq_lock held, so neither the requester nor a packet
 * being received is in the middle of using what is reset.
 */
static void sodp_qp_reset(struct sodp_qp *qp)
{
	lockdep_assert_held(&qp->sq_lock);
	lockdep_assert_held(&qp->rq_lock);
	sodp_queue_drop_all(&qp->sq);
	if (sodp_qp_has_rq(qp))
		sodp_queue_drop_all(&qp->rq);
	cancel_delayed_work(&qp->retry_work);
	qp->waiting = false;
	/* A WQE of an SRQ in the middle of a message is the SRQ's: give it back. */
	if (!sodp_qp_has_rq(qp) && qp->recv.active)
		sodp_recv_error(qp, qp->recv.wqe.wr_id, IB_WC_WR_FLUSH_ERR);
	sodp_resp_forget(qp);
	qp->resp_msn = 0;
	qp->resp_nak_sent = false;
	memset(qp->resp_atomics, 0, sizeof(qp->resp_atomics));
	qp->resp_atomic_next = 0;
	sodp_wire_req_reset(qp);
}

/* The path MTU: a valid IB MTU, at most what the port carries. */
static int sodp_qp_set_mtu(struct sodp_qp *qp, enum ib_mtu mtu)
{
	if (mtu < IB_MTU_256 || mtu > IB_MTU_4096)
		return -EINVAL;
	qp->mtu = min(ib_mtu_enum_to_int(mtu), sodp_port_mtu(qp->dev));
	return 0;
}

int sodp_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		   struct ib_udata *udata)
{
	struct sodp_qp *qp = to_sqp(ibqp);
	enum ib_qp_state cur, next;
	bool lock_sq;
	int ret = 0;

	if (mask & ~IB_QP_ATTR_STANDARD_BITS)
		return -EOPNOTSUPP;

	/*
	 * A reset empties the send queue, and RTR chooses how the requester
	 * reaches the peer: the requester must not be running.
	 */
	lock_sq = (mask & IB_QP_STATE) && (attr->qp_state == IB_QPS_RESET ||
					   attr->qp_state == IB_QPS_RTR);
	if (lock_sq)
		mutex_lock(&qp->sq_lock);
	mutex_lock(&qp->rq_lock);
	mutex_lock(&qp->state_lock);
	cur = (mask & IB_QP_CUR_STATE) ? attr->cur_qp_state : qp->state;
	next = (mask & IB_QP_STATE) ? attr->qp_state : cur;
	if (cur != qp->state ||
	    !ib_modify_qp_is_ok(cur, next, ibqp->qp_type, mask)) {
		ret = -EINVAL;
		goto out;
	}
	if ((mask & IB_QP_PORT) && attr->port_num != 1) {
		ret = -EINVAL;
		goto out;
	}
	if ((mask & IB_QP_PKEY_INDEX) && attr->pkey_index) {
		ret = -EINVAL;
		goto out;
	}
	if ((mask & IB_QP_MAX_QP_RD_ATOMIC) &&
	    attr->max_rd_atomic > SODP_MAX_INIT_RD_ATOMIC) {
		ret = -EINVAL;
		goto out;
	}
	if ((mask & IB_QP_MAX_DEST_RD_ATOMIC) &&
	    attr->max_dest_rd_atomic > SODP_MAX_RD_ATOMIC) {
		ret = -EINVAL;
		goto out;
	}
	if (mask & IB_QP_AV) {
		ret = sodp_qp_set_av(qp, &attr->ah_attr);
		if (ret)
			goto out;
	}
	if (mask & IB_QP_PATH_MTU) {
		ret = sodp_qp_set_mtu(qp, attr->path_mtu);
		if (ret)
			goto out;
	}
	if (mask & IB_QP_ACCESS_FLAGS)
		qp->access = attr->qp_access_flags;
	if (mask & IB_QP_QKEY)
		qp->qkey = attr->qkey;
	if (mask & IB_QP_DEST_QPN)
		qp->dest_qpn = attr->dest_qp_num;
	if (mask & IB_QP_SQ_PSN)
		qp->sq_psn = attr->sq_psn & 0xffffff;
	if (mask & IB_QP_RQ_PSN) {
		qp->rq_psn = attr->rq_psn & 0xffffff;
		qp->resp_nak_sent = false;
	}
	if (mask & IB_QP_TIMEOUT)
		qp->timeout = attr->timeout;
	if (mask & IB_QP_RETRY_CNT)
		qp->retry_cnt = attr->retry_cnt;
	if (mask & IB_QP_RNR_RETRY)
		qp->rnr_retry = attr->rnr_retry;
	if (mask & IB_QP_MIN_RNR_TIMER)
		qp->min_rnr_timer = attr->min_rnr_timer;
	if (mask & IB_QP_MAX_QP_RD_ATOMIC)
		qp->max_rd_atomic = attr->max_rd_atomic;
	if (mask & IB_QP_MAX_DEST_RD_ATOMIC)
		qp->max_dest_rd_atomic = attr->max_dest_rd_atomic;
	if (mask & IB_QP_PKEY_INDEX)
		qp->pkey_index = attr->pkey_index;

	if (next != cur && next == IB_QPS_RTR &&
	    (ibqp->qp_type == IB_QPT_RC || ibqp->qp_type == IB_QPT_XRC_INI)) {
		ret = sodp_wire_req_attach(qp);
		if (ret)
			goto out;
	}

	if (next != cur) {
		if (next == IB_QPS_RESET)
			sodp_qp_reset(qp);
		sodp_qp_set_state(qp, next);
	}
out:
	mutex_unlock(&qp->state_lock);
	mutex_unlock(&qp->rq_lock);
	if (lock_sq)
		mutex_unlock(&qp->sq_lock);
	if (ret || next == cur)
		return ret;
	if (next == IB_QPS_ERR)
		sodp_qp_flush_rq(qp);
	/* WQEs posted before RTS start now; in ERR they are flushed. */
	if (next == IB_QPS_RTS || next == IB_QPS_ERR)
		sodp_req_kick(qp);
	return 0;
}

int sodp_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		  struct ib_qp_init_attr *init)
{
	struct sodp_qp *qp = to_sqp(ibqp);

	memset(attr, 0, sizeof(*attr));
	memset(init, 0, sizeof(*init));
	mutex_lock(&qp->state_lock);
	attr->qp_state = qp->state;
	attr->cur_qp_state = qp->state;
	attr->path_mtu = ib_mtu_int_to_enum(qp->mtu);
	attr->path_mig_state = IB_MIG_MIGRATED;
	attr->qkey = qp->qkey;
	attr->rq_psn = qp->rq_psn;
	attr->sq_psn = qp->sq_psn;
	attr->dest_qp_num = qp->dest_qpn;
	attr->qp_access_flags = qp->access;
	attr->pkey_index = qp->pkey_index;
	attr->port_num = 1;
	attr->timeout = qp->timeout;
	attr->retry_cnt = qp->retry_cnt;
	attr->rnr_retry = qp->rnr_retry;
	attr->min_rnr_timer = qp->min_rnr_timer;
	attr->max_rd_atomic = qp->max_rd_atomic;
	attr->max_dest_rd_atomic = qp->max_dest_rd_atomic;
	if (!sodp_qp_datagram(qp)) {
		attr->ah_attr.type = RDMA_AH_ATTR_TYPE_ROCE;
		rdma_ah_set_grh(&attr->ah_attr, &qp->dgid, 0, qp->sgid_index, 1, 0);
		rdma_ah_set_port_num(&attr->ah_attr, 1);
	}
	mutex_unlock(&qp->state_lock);

	attr->cap.max_send_wr = ibqp->qp_type == IB_QPT_XRC_TGT ? 0 : qp->sq.num_slots;
	attr->cap.max_recv_wr = sodp_qp_has_rq(qp) ? qp->rq.num_slots : 0;
	attr->cap.max_send_sge = qp->max_send_sge;
	attr->cap.max_recv_sge = qp->max_recv_sge;
	attr->cap.max_inline_data = qp->max_inline;
	init->cap = attr->cap;
	init->qp_type = ibqp->qp_type;
	init->send_cq = ibqp->send_cq;
	init->recv_cq = ibqp->recv_cq;
	init->srq = ibqp->srq;
	init->sq_sig_type = qp->sq_sig_all ? IB_SIGNAL_ALL_WR : IB_SIGNAL_REQ_WR;
	return 0;
}

static int sodp_wr_to_wqe(struct sodp_qp *qp, const struct ib_send_wr *wr,
			  struct sodp_send_wqe *wqe)
{
	int i;

	memset(wqe, 0, offsetof(struct sodp_send_wqe, sge));
	wqe->wr_id = wr->wr_id;
	wqe->opcode = wr->opcode;
	wqe->send_flags = wr->send_flags;
	if (wr->opcode == IB_WR_SEND_WITH_INV || wr->opcode == IB_WR_LOCAL_INV)
		wqe->ex = wr->ex.invalidate_rkey;
	else
		wqe->ex = (__force u32)wr->ex.imm_data;

	switch (wr->opcode) {
	case IB_WR_REG_MR: {
		struct ib_mr *ibmr = reg_wr(wr)->mr;

		/* Only the key's low byte is the consumer's to change. */
		if (ibmr->device != qp->ibqp.device ||
		    to_smr(ibmr)->type != SODP_MR_FAST ||
		    (reg_wr(wr)->key >> 8) != (ibmr->lkey >> 8))
			return -EINVAL;
		wqe->rkey = reg_wr(wr)->key;
		wqe->compare_add = reg_wr(wr)->access;
		wqe->remote_addr = ibmr->iova;
		wqe->swap = ibmr->length;
		return 0;
	}
	case IB_WR_LOCAL_INV:
		return 0;
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_WRITE_WITH_IMM:
	case IB_WR_RDMA_READ:
		wqe->remote_addr = rdma_wr(wr)->remote_addr;
		wqe->rkey = rdma_wr(wr)->rkey;
		break;
	case IB_WR_ATOMIC_CMP_AND_SWP:
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		wqe->remote_addr = atomic_wr(wr)->remote_addr;
		wqe->rkey = atomic_wr(wr)->rkey;
		wqe->compare_add = atomic_wr(wr)->compare_add;
		wqe->swap = atomic_wr(wr)->swap;
		break;
	default:
		break;
	}
	if (sodp_qp_datagram(qp)) {
		wqe->ah = to_sah(ud_wr(wr)->ah)->num;
		wqe->remote_qpn = ud_wr(wr)->remote_qpn;
		wqe->remote_qkey = ud_wr(wr)->remote_qkey;
	}

	if (wr->send_flags & IB_SEND_INLINE) {
		u32 len = 0;

		for (i = 0; i < wr->num_sge; i++) {
			if (wr->sg_list[i].length > SODP_MAX_INLINE - len)
				return -EINVAL;
			/* Kernel consumers' addresses are kernel virtual ones. */
			memcpy(wqe->inline_data + len,
			       (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			len += wr->sg_list[i].length;
		}
		wqe->num_sge = len;
		return 0;
	}
	if (wr->num_sge > SODP_MAX_SGE)
		return -EINVAL;
	wqe->num_sge = wr->num_sge;
	for (i = 0; i < wr->num_sge; i++) {
		wqe->sge[i].addr = wr->sg_list[i].addr;
		wqe->sge[i].length = wr->sg_list[i].length;
		wqe->sge[i].lkey = wr->sg_list[i].lkey;
	}
	return 0;
}

/*
 * Kernel consumers (the MAD layer among them) may post in atomic context:
 * the producer side of a ring takes only a spinlock; the requester work
 * consumes under its own mutex.
 */
int sodp_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		   const struct ib_send_wr **bad_wr)
{
	struct sodp_qp *qp = to_sqp(ibqp);
	enum ib_qp_state state = READ_ONCE(qp->state);
	unsigned long flags;
	int ret = 0;

	/* A user QP posts into its ring; this call is its doorbell. */
	if (qp->is_user) {
		if (wr)
			return -EINVAL;
		sodp_req_doorbell(qp);
		return 0;
	}
	/*
	 * An XRC target QP sends nothing; it is a kernel QP that processes
	 * reach through uverbs (its "addresses" would be theirs).
	 */
	if (state == IB_QPS_RESET || state == IB_QPS_INIT || state == IB_QPS_RTR ||
	    ibqp->qp_type == IB_QPT_XRC_TGT) {
		*bad_wr = wr;
		return -EINVAL;
	}

	spin_lock_irqsave(&qp->sq_post_lock, flags);
	for (; wr; wr = wr->next) {
		if (sodp_queue_used(&qp->sq) >= qp->sq.num_slots) {
			ret = -ENOMEM;
			break;
		}
		ret = sodp_wr_to_wqe(qp, wr, sodp_queue_slot(&qp->sq, qp->sq.prod));
		if (ret)
			break;
		sodp_queue_publish(&qp->sq);
	}
	spin_unlock_irqrestore(&qp->sq_post_lock, flags);
	if (ret)
		*bad_wr = wr;
	sodp_req_kick(qp);
	return ret;
}

/* Write a kernel receive WR into a receive ring (caller serialises). */
int sodp_post_recv_ring(struct sodp_queue *q, const struct ib_recv_wr *wr)
{
	struct sodp_recv_wqe *wqe;
	int i;

	if (sodp_queue_used(q) >= q->num_slots)
		return -ENOMEM;
	if (wr->num_sge > SODP_MAX_SGE)
		return -EINVAL;
	wqe = sodp_queue_slot(q, q->prod);
	wqe->wr_id = wr->wr_id;
	wqe->num_sge = wr->num_sge;
	for (i = 0; i < wr->num_sge; i++) {
		wqe->sge[i].addr = wr->sg_list[i].addr;
		wqe->sge[i].length = wr->sg_list[i].length;
		wqe->sge[i].lkey = wr->sg_list[i].lkey;
	}
	sodp_queue_publish(q);
	return 0;
}

int sodp_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		   const struct ib_recv_wr **bad_wr)
{
	struct sodp_qp *qp = to_sqp(ibqp);
	unsigned long flags;
	int ret = 0;

	/*
	 * A user QP posts into its ring; this call is its doorbell, to have
	 * receives posted to a QP in error flushed (by the requester work,
	 * which may sleep).
	 */
	if (qp->is_user) {
		if (wr)
			return -EINVAL;
		sodp_req_kick(qp);
		return 0;
	}
	if (!sodp_qp_has_rq(qp) || READ_ONCE(qp->state) == IB_QPS_RESET) {
		*bad_wr = wr;
		return -EINVAL;
	}
	spin_lock_irqsave(&qp->rq_post_lock, flags);
	for (; wr; wr = wr->next) {
		ret = sodp_post_recv_ring(&qp->rq, wr);
		if (ret)
			break;
	}
	spin_unlock_irqrestore(&qp->rq_post_lock, flags);
	if (ret)
		*bad_wr = wr;
	if (READ_ONCE(qp->state) == IB_QPS_ERR)
		sodp_req_kick(qp);
	return ret;
}
