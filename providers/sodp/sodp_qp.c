// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libsodp: queue pairs.  Work requests go into the shared rings; a send is
 * announced to the kernel by a doorbell (a post_send command with no work
 * request) unless the kernel's requester is already at work on the ring;
 * receives need none, unless the QP is in error and they must be flushed.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sodp.h"

static uint32_t sodp_load_acquire(uint32_t *p)
{
	return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_acquire);
}

static void sodp_store_release(uint32_t *p, uint32_t v)
{
	atomic_store_explicit((_Atomic uint32_t *)p, v, memory_order_release);
}

/*
 * Both create paths end here.  An XRC target QP (IBV_QPT_XRC_RECV) is the
 * kernel's alone: it has no ring here, and nothing can be posted to it.
 */
static struct ibv_qp *sodp_create_qp_common(struct ibv_context *ctx,
					    struct ibv_qp_init_attr_ex *attr,
					    bool ex)
{
	struct sodp_cmd_create_qp cmd;
	struct {
		struct ib_uverbs_create_qp_resp ibv;
		struct sodp_create_qp_resp drv;
	} resp = {};
	struct ibv_qp_init_attr_ex cattr;
	struct sodp_qp *qp = calloc(1, sizeof(*qp));
	bool xrc = attr->qp_type == IBV_QPT_XRC_SEND ||
		   attr->qp_type == IBV_QPT_XRC_RECV;
	int fd = ctx->cmd_fd;
	int ret;

	if (!qp)
		return NULL;
	if (ex) {
		ret = sodp_wr_ops_init(qp, attr->qp_type, attr->send_ops_flags);
		if (ret)
			goto err_free;
	}
	/*
	 * The command takes only these; the rest was checked (no flags).  An
	 * XRC QP has no receive queue (a target no CQ either): what was given
	 * for them is not the QP's, and not left for the application to find
	 * in it after it is gone.
	 */
	cattr = *attr;
	cattr.comp_mask &= IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_XRCD |
			   IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	if (xrc) {
		cattr.srq = NULL;
		cattr.recv_cq = NULL;
	}
	if (attr->qp_type == IBV_QPT_XRC_RECV)
		cattr.send_cq = NULL;
	ret = ibv_cmd_create_qp_ex(ctx, &qp->vqp, &cattr, &cmd, sizeof(cmd), &resp,
				   sizeof(resp));
	if (ret)
		goto err_free;
	attr->cap = cattr.cap;
	pthread_spin_init(&qp->sq_lock, PTHREAD_PROCESS_PRIVATE);
	pthread_spin_init(&qp->rq_lock, PTHREAD_PROCESS_PRIVATE);
	if (attr->comp_mask & IBV_QP_INIT_ATTR_PD)
		qp->parent_domain = sodp_parent_domain_get(attr->pd);
	if (attr->qp_type == IBV_QPT_XRC_RECV)
		return &qp->vqp.qp;
	qp->pd_handle = attr->pd->handle;
	ret = sodp_uring_map(&qp->sq, fd, &resp.drv.sq, sizeof(struct sodp_send_wqe));
	if (ret)
		goto err_destroy;
	if (!attr->srq && !xrc) {
		ret = sodp_uring_map(&qp->rq, fd, &resp.drv.rq,
				     sizeof(struct sodp_recv_wqe));
		if (ret)
			goto err_unmap;
	}
	qp->max_inline = attr->cap.max_inline_data;
	/* The first post is no stream. */
	qp->polls_seen = atomic_load_explicit(&to_scq(attr->send_cq)->polls,
					      memory_order_relaxed) - 1;
	if (ex)
		qp->vqp.comp_mask |= VERBS_QP_EX;
	return &qp->vqp.qp;

err_unmap:
	sodp_uring_unmap(&qp->sq);
err_destroy:
	sodp_parent_domain_put(qp->parent_domain);
	pthread_spin_destroy(&qp->sq_lock);
	pthread_spin_destroy(&qp->rq_lock);
	ibv_cmd_destroy_qp(&qp->vqp.qp);
err_free:
	free(qp);
	errno = ret;
	return NULL;
}

struct ibv_qp *sodp_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
	struct ibv_qp_init_attr_ex init = {
		.qp_context = attr->qp_context,
		.send_cq = attr->send_cq,
		.recv_cq = attr->recv_cq,
		.srq = attr->srq,
		.cap = attr->cap,
		.qp_type = attr->qp_type,
		.sq_sig_all = attr->sq_sig_all,
		.comp_mask = IBV_QP_INIT_ATTR_PD,
		.pd = pd,
	};
	struct ibv_qp *qp;

	/* An XRC target QP is created in a domain, not a PD. */
	if (attr->qp_type == IBV_QPT_XRC_RECV) {
		errno = EINVAL;
		return NULL;
	}
	qp = sodp_create_qp_common(pd->context, &init, false);
	if (qp)
		attr->cap = init.cap;
	return qp;
}

struct ibv_qp *sodp_create_qp_ex(struct ibv_context *ctx,
				 struct ibv_qp_init_attr_ex *attr)
{
	/* No creation flag is supported: a zero set is no request. */
	if ((attr->comp_mask & ~(IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_XRCD |
				 IBV_QP_INIT_ATTR_CREATE_FLAGS |
				 IBV_QP_INIT_ATTR_SEND_OPS_FLAGS)) ||
	    ((attr->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) && attr->create_flags)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	/* A target QP sends nothing: it has no send operations to build. */
	if (attr->qp_type == IBV_QPT_XRC_RECV ?
	    !(attr->comp_mask & IBV_QP_INIT_ATTR_XRCD) || !attr->xrcd ||
	    (attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) :
	    !(attr->comp_mask & IBV_QP_INIT_ATTR_PD) || !attr->pd || !attr->send_cq) {
		errno = EINVAL;
		return NULL;
	}
	return sodp_create_qp_common(ctx, attr,
				     attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS);
}

/* Another process's XRC target QP, opened by number in a shared domain. */
struct ibv_qp *sodp_open_qp(struct ibv_context *ctx, struct ibv_qp_open_attr *attr)
{
	struct sodp_cmd_open_qp cmd;
	struct ib_uverbs_create_qp_resp resp;
	struct sodp_qp *qp = calloc(1, sizeof(*qp));
	int ret;

	if (!qp)
		return NULL;
	ret = ibv_cmd_open_qp(ctx, &qp->vqp, sizeof(qp->vqp), attr, &cmd,
			      sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(qp);
		errno = ret;
		return NULL;
	}
	pthread_spin_init(&qp->sq_lock, PTHREAD_PROCESS_PRIVATE);
	pthread_spin_init(&qp->rq_lock, PTHREAD_PROCESS_PRIVATE);
	return &qp->vqp.qp;
}

int sodp_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int mask)
{
	struct sodp_cmd_modify_qp cmd;
	int ret = ibv_cmd_modify_qp(ibqp, attr, mask, &cmd, sizeof(cmd));

	if (ret || !(mask & IBV_QP_STATE) || attr->qp_state != IBV_QPS_RESET)
		return ret;
	/*
	 * RESET forgets the QP's work: its completions not yet polled too
	 * (an XRC initiator has no receive CQ, a target no CQ of its own).
	 */
	if (ibqp->recv_cq)
		sodp_cq_clean(to_scq(ibqp->recv_cq), ibqp->qp_num, ibqp->srq);
	if (ibqp->send_cq && ibqp->recv_cq != ibqp->send_cq)
		sodp_cq_clean(to_scq(ibqp->send_cq), ibqp->qp_num, false);
	return 0;
}

int sodp_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int mask,
		  struct ibv_qp_init_attr *init)
{
	struct sodp_cmd_query_qp cmd;

	return ibv_cmd_query_qp(ibqp, attr, mask, init, &cmd, sizeof(cmd));
}

int sodp_destroy_qp(struct ibv_qp *ibqp)
{
	struct sodp_qp *qp = to_sqp(ibqp);
	int ret = ibv_cmd_destroy_qp(ibqp);

	if (ret)
		return ret;
	sodp_uring_unmap(&qp->rq);
	sodp_uring_unmap(&qp->sq);
	pthread_spin_destroy(&qp->sq_lock);
	pthread_spin_destroy(&qp->rq_lock);
	sodp_parent_domain_put(qp->parent_domain);
	free(qp);
	return 0;
}

/* Sends wait for RTS; an error QP takes them and flushes them. */
bool sodp_sq_postable(struct sodp_qp *qp)
{
	uint32_t state = sodp_load_acquire(&qp->sq.ring->qp_state);

	return state != IBV_QPS_RESET && state != IBV_QPS_INIT &&
	       state != IBV_QPS_RTR;
}

bool sodp_sq_full(struct sodp_qp *qp, uint32_t prod)
{
	return prod - sodp_load_acquire(&qp->sq.ring->consumer) >=
	       qp->sq.num_slots;
}

/*
 * Under sq_lock: publish the WQEs up to @prod, and whether they came in a
 * stream, posted with no poll of the send CQ since the previous post
 * (struct sodp_ring).
 */
void sodp_sq_publish(struct sodp_qp *qp, uint32_t prod)
{
	struct sodp_cq *cq = to_scq(qp->vqp.qp.send_cq);
	unsigned int polls = atomic_load_explicit(&cq->polls, memory_order_relaxed);

	atomic_store_explicit((_Atomic uint32_t *)&qp->sq.ring->stream,
			      polls == qp->polls_seen, memory_order_relaxed);
	qp->polls_seen = polls;
	sodp_store_release(&qp->sq.ring->producer, prod);
}

/*
 * After the producer index moved: a doorbell, unless the kernel's
 * requester is bound to look at the ring again (the fence pairs with its
 * own: struct sodp_ring).
 */
int sodp_sq_doorbell(struct sodp_qp *qp)
{
	struct ibv_send_wr *dummy;

	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit((_Atomic uint32_t *)&qp->sq.ring->engine_busy,
				 memory_order_relaxed))
		return 0;
	if (ibv_cmd_post_send(&qp->vqp.qp, NULL, &dummy))
		return errno ? errno : EIO;
	return 0;
}

int sodp_wqe_set_sge_list(struct sodp_send_wqe *wqe, size_t num_sge,
			  const struct ibv_sge *sg_list)
{
	if (num_sge > SODP_MAX_SGE)
		return EINVAL;
	wqe->num_sge = num_sge;
	for (size_t i = 0; i < num_sge; i++) {
		wqe->sge[i].addr = sg_list[i].addr;
		wqe->sge[i].length = sg_list[i].length;
		wqe->sge[i].lkey = sg_list[i].lkey;
	}
	return 0;
}

/* Inline data: num_sge counts its bytes (IBV_SEND_INLINE). */
int sodp_wqe_add_inline(struct sodp_qp *qp, struct sodp_send_wqe *wqe,
			const void *addr, size_t length)
{
	if (length > qp->max_inline - wqe->num_sge)
		return EINVAL;
	memcpy(wqe->inline_data + wqe->num_sge, addr, length);
	wqe->num_sge += length;
	return 0;
}

/* A BIND_MW: the window's new rkey, the region's lkey, range and rights. */
void sodp_wqe_set_bind(struct sodp_send_wqe *wqe, uint32_t rkey,
		       const struct ibv_mw_bind_info *info)
{
	wqe->rkey = rkey;
	wqe->ex = info->mr ? info->mr->lkey : 0;
	wqe->remote_addr = info->addr;
	wqe->compare_add = info->length;
	wqe->swap = info->mw_access_flags;
}

static int sodp_fill_send_wqe(struct sodp_qp *qp, struct ibv_send_wr *wr,
			      struct sodp_send_wqe *wqe)
{
	memset(wqe, 0, offsetof(struct sodp_send_wqe, sge));
	wqe->wr_id = wr->wr_id;
	wqe->opcode = wr->opcode;
	wqe->send_flags = wr->send_flags;
	wqe->ex = wr->opcode == IBV_WR_SEND_WITH_INV || wr->opcode == IBV_WR_LOCAL_INV ?
		  wr->invalidate_rkey : wr->imm_data;
	switch (wr->opcode) {
	/* Only ibv_wr_atomic_write() gives an atomic write its bytes. */
	case IBV_WR_ATOMIC_WRITE:
		return EINVAL;
	case IBV_WR_BIND_MW:
		sodp_wqe_set_bind(wqe, wr->bind_mw.rkey, &wr->bind_mw.bind_info);
		return 0;
	case IBV_WR_LOCAL_INV:
		return 0;
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_RDMA_READ:
		wqe->remote_addr = wr->wr.rdma.remote_addr;
		wqe->rkey = wr->wr.rdma.rkey;
		break;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		wqe->remote_addr = wr->wr.atomic.remote_addr;
		wqe->rkey = wr->wr.atomic.rkey;
		wqe->compare_add = wr->wr.atomic.compare_add;
		wqe->swap = wr->wr.atomic.swap;
		break;
	default:
		break;
	}
	if (qp->vqp.qp.qp_type == IBV_QPT_XRC_SEND)
		wqe->xrc_srqn = wr->qp_type.xrc.remote_srqn;
	if (qp->vqp.qp.qp_type == IBV_QPT_UD) {
		if (!wr->wr.ud.ah)
			return EINVAL;
		wqe->ah = to_sah(wr->wr.ud.ah)->ah_num;
		wqe->remote_qpn = wr->wr.ud.remote_qpn;
		wqe->remote_qkey = wr->wr.ud.remote_qkey;
	}

	if (wr->num_sge < 0)
		return EINVAL;
	if (!(wr->send_flags & IBV_SEND_INLINE))
		return sodp_wqe_set_sge_list(wqe, wr->num_sge, wr->sg_list);
	for (int i = 0; i < wr->num_sge; i++) {
		int ret = sodp_wqe_add_inline(qp, wqe,
					      (void *)(uintptr_t)wr->sg_list[i].addr,
					      wr->sg_list[i].length);

		if (ret)
			return ret;
	}
	return 0;
}

int sodp_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		   struct ibv_send_wr **bad_wr)
{
	struct sodp_qp *qp = to_sqp(ibqp);
	struct sodp_ring *ring = qp->sq.ring;
	uint32_t prod;
	int ret = 0, db;

	if (!ring || !sodp_sq_postable(qp)) {
		*bad_wr = wr;
		return EINVAL;
	}
	pthread_spin_lock(&qp->sq_lock);
	prod = ring->producer;
	for (; wr; wr = wr->next) {
		if (sodp_sq_full(qp, prod)) {
			ret = ENOMEM;
			break;
		}
		ret = sodp_fill_send_wqe(qp, wr, sodp_uring_slot(&qp->sq, prod));
		if (ret)
			break;
		prod++;
	}
	sodp_sq_publish(qp, prod);
	pthread_spin_unlock(&qp->sq_lock);
	if (ret)
		*bad_wr = wr;
	/* Doorbell, even after an error: the WRs before it were posted. */
	db = sodp_sq_doorbell(qp);
	return ret ? ret : db;
}

int sodp_post_recv_ring(struct sodp_uring *q, struct ibv_recv_wr *wr,
			struct ibv_recv_wr **bad_wr)
{
	struct sodp_ring *ring = q->ring;
	uint32_t prod = ring->producer;
	int ret = 0;

	for (; wr; wr = wr->next) {
		struct sodp_recv_wqe *wqe = sodp_uring_slot(q, prod);

		if (prod - sodp_load_acquire(&ring->consumer) >= q->num_slots) {
			ret = ENOMEM;
			break;
		}
		if (wr->num_sge < 0 || wr->num_sge > SODP_MAX_SGE) {
			ret = EINVAL;
			break;
		}
		wqe->wr_id = wr->wr_id;
		wqe->num_sge = wr->num_sge;
		for (int i = 0; i < wr->num_sge; i++) {
			wqe->sge[i].addr = wr->sg_list[i].addr;
			wqe->sge[i].length = wr->sg_list[i].length;
			wqe->sge[i].lkey = wr->sg_list[i].lkey;
		}
		prod++;
	}
	sodp_store_release(&ring->producer, prod);
	if (ret)
		*bad_wr = wr;
	return ret;
}

int sodp_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		   struct ibv_recv_wr **bad_wr)
{
	struct sodp_qp *qp = to_sqp(ibqp);
	struct ibv_recv_wr *dummy;
	int ret;

	/* With an SRQ, and on XRC QPs, there is no receive queue. */
	if (ibqp->srq || !qp->rq.ring ||
	    sodp_load_acquire(&qp->sq.ring->qp_state) == IBV_QPS_RESET) {
		*bad_wr = wr;
		return EINVAL;
	}
	pthread_spin_lock(&qp->rq_lock);
	ret = sodp_post_recv_ring(&qp->rq, wr, bad_wr);
	pthread_spin_unlock(&qp->rq_lock);
	/* A QP in error completes them at once, with a flush error. */
	if (sodp_load_acquire(&qp->sq.ring->qp_state) == IBV_QPS_ERR)
		ibv_cmd_post_recv(ibqp, NULL, &dummy);
	return ret;
}
