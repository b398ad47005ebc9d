// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libsodp: completion queues, polled from the shared ring without a
 * system call.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "sodp.h"

static struct sodp_cq *sodp_cq_new(struct ibv_context *ctx, int cqe,
				   struct ibv_comp_channel *channel,
				   int comp_vector)
{
	struct sodp_cmd_create_cq cmd;
	struct {
		struct ib_uverbs_create_cq_resp ibv;
		struct sodp_create_cq_resp drv;
	} resp;
	struct sodp_cq *cq = calloc(1, sizeof(*cq));
	int ret;

	if (!cq)
		return NULL;
	ret = ibv_cmd_create_cq(ctx, cqe, channel, comp_vector, &cq->vcq.cq,
				&cmd, sizeof(cmd), &resp, sizeof(resp));
	if (ret)
		goto err_free;
	ret = sodp_uring_map(&cq->q, ctx->cmd_fd, &resp.drv.cq, sizeof(struct sodp_cqe));
	if (ret) {
		ibv_cmd_destroy_cq(&cq->vcq.cq);
		goto err_free;
	}
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);
	return cq;
err_free:
	free(cq);
	errno = ret;
	return NULL;
}

struct ibv_cq *sodp_create_cq(struct ibv_context *ctx, int cqe,
			      struct ibv_comp_channel *channel, int comp_vector)
{
	struct sodp_cq *cq = sodp_cq_new(ctx, cqe, channel, comp_vector);

	return cq ? &cq->vcq.cq : NULL;
}

int sodp_destroy_cq(struct ibv_cq *ibcq)
{
	struct sodp_cq *cq = to_scq(ibcq);
	int ret = ibv_cmd_destroy_cq(ibcq);

	if (ret)
		return ret;
	sodp_uring_unmap(&cq->q);
	pthread_spin_destroy(&cq->lock);
	sodp_parent_domain_put(cq->parent_domain);
	free(cq);
	return 0;
}

int sodp_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct sodp_cq *cq = to_scq(ibcq);
	struct sodp_cmd_resize_cq cmd;
	struct {
		struct ib_uverbs_resize_cq_resp ibv;
		struct sodp_resize_cq_resp drv;
	} resp;
	struct sodp_uring nq = {};
	int ret;

	/* The kernel moves pending CQEs to a new ring; poll neither meanwhile. */
	pthread_spin_lock(&cq->lock);
	ret = ibv_cmd_resize_cq(ibcq, cqe, &cmd, sizeof(cmd), &resp, sizeof(resp));
	if (!ret)
		ret = sodp_uring_map(&nq, ibcq->context->cmd_fd, &resp.drv.cq,
				     sizeof(struct sodp_cqe));
	if (!ret) {
		sodp_uring_unmap(&cq->q);
		cq->q = nq;
	}
	pthread_spin_unlock(&cq->lock);
	return ret;
}

/*
 * A RoCE UD receive's sl says how the packet came, as mlx5 reports it (and
 * UCX reads it to find the destination GID in the 40 header bytes): bit 3
 * set for RoCEv2 (UDP), bits 2:0 the L3 header: 0 GRH, 1 IPv6, 2 IPv4.
 */
static uint8_t sodp_roce_sl(const struct sodp_cqe *cqe)
{
	if (!(cqe->wc_flags & IBV_WC_GRH))
		return cqe->sl;
	switch (cqe->network_hdr_type) {
	case SODP_NETWORK_IPV4:
		return 0x8 | 0x2;
	case SODP_NETWORK_IPV6:
		return 0x8 | 0x1;
	default:
		return 0;
	}
}

/*
 * Drop the completions of a QP that went back to RESET, as a NIC's
 * provider does, so that a QP used again does not meet its past; but
 * with @keep_recv (a QP of an SRQ) its receive completions stay: they
 * hand SRQ WQEs back, which nothing else returns.  The slots from the
 * consumer to the producer read now are the kernel's no more: the CQEs
 * kept are moved up against the producer, in order, and the consumer
 * passes the dropped ones.
 */
void sodp_cq_clean(struct sodp_cq *cq, uint32_t qpn, bool keep_recv)
{
	struct sodp_ring *ring;
	uint32_t cons, prod, kept;

	/* A resize swaps the ring under the lock. */
	pthread_spin_lock(&cq->lock);
	ring = cq->q.ring;
	cons = ring->consumer;
	prod = atomic_load_explicit((_Atomic uint32_t *)&ring->producer,
				    memory_order_acquire);
	kept = prod;
	for (uint32_t n = prod - cons; n; n--) {
		struct sodp_cqe *cqe = sodp_uring_slot(&cq->q, cons + n - 1);

		if (cqe->qp_num == qpn &&
		    !(keep_recv && (cqe->opcode & IBV_WC_RECV)))
			continue;
		if (--kept != cons + n - 1)
			*(struct sodp_cqe *)sodp_uring_slot(&cq->q, kept) = *cqe;
	}
	atomic_store_explicit((_Atomic uint32_t *)&ring->consumer, kept,
			      memory_order_release);
	pthread_spin_unlock(&cq->lock);
}

static unsigned int sodp_cqe_wc_flags(const struct sodp_cqe *cqe)
{
	return (cqe->wc_flags & SODP_CQE_GRH ? IBV_WC_GRH : 0) |
	       (cqe->wc_flags & SODP_CQE_WITH_IMM ? IBV_WC_WITH_IMM : 0) |
	       (cqe->wc_flags & SODP_CQE_WITH_INV ? IBV_WC_WITH_INV : 0);
}

static void sodp_cqe_to_wc(const struct sodp_cqe *cqe, struct ibv_wc *wc)
{
	wc->wr_id = cqe->wr_id;
	wc->status = cqe->status;
	wc->opcode = cqe->opcode;
	wc->vendor_err = cqe->vendor_err;
	wc->byte_len = cqe->byte_len;
	wc->imm_data = cqe->ex;
	wc->qp_num = cqe->qp_num;
	wc->src_qp = cqe->src_qp;
	wc->wc_flags = sodp_cqe_wc_flags(cqe);
	wc->pkey_index = cqe->pkey_index;
	wc->slid = cqe->slid;
	wc->sl = sodp_roce_sl(cqe);
	wc->dlid_path_bits = cqe->dlid_path_bits;
}

/* Under cq->lock, the count's only writer: no read-modify-write needed. */
static void sodp_cq_count_poll(struct sodp_cq *cq)
{
	atomic_store_explicit(&cq->polls,
			      atomic_load_explicit(&cq->polls, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

int sodp_poll_cq(struct ibv_cq *ibcq, int ne, struct ibv_wc *wc)
{
	struct sodp_cq *cq = to_scq(ibcq);
	struct sodp_ring *ring;
	int n = 0;

	pthread_spin_lock(&cq->lock);
	sodp_cq_count_poll(cq);
	ring = cq->q.ring;
	while (n < ne) {
		uint32_t cons = ring->consumer;

		/* Pairs with the kernel's release of the producer index. */
		if (cons == atomic_load_explicit((_Atomic uint32_t *)&ring->producer,
						 memory_order_acquire))
			break;
		sodp_cqe_to_wc(sodp_uring_slot(&cq->q, cons), &wc[n++]);
		atomic_store_explicit((_Atomic uint32_t *)&ring->consumer, cons + 1,
				      memory_order_release);
	}
	pthread_spin_unlock(&cq->lock);
	return n;
}

int sodp_req_notify_cq(struct ibv_cq *ibcq, int solicited_only)
{
	return ibv_cmd_req_notify_cq(ibcq, solicited_only);
}

/*
 * The extended CQ: ibv_start_poll() takes the lock and holds the first CQE
 * in the ring, ibv_next_poll() releases it to the kernel and holds the
 * next, ibv_end_poll() releases what is held and the lock (also after
 * ibv_next_poll() found none).  The read_* calls read the held CQE in
 * place.
 */
static int sodp_cq_hold_next(struct sodp_cq *cq)
{
	struct sodp_ring *ring = cq->q.ring;
	uint32_t cons = ring->consumer;

	/* Pairs with the kernel's release of the producer index. */
	if (cons == atomic_load_explicit((_Atomic uint32_t *)&ring->producer,
					 memory_order_acquire)) {
		cq->cur = NULL;
		return ENOENT;
	}
	cq->cur = sodp_uring_slot(&cq->q, cons);
	cq->vcq.cq_ex.wr_id = cq->cur->wr_id;
	cq->vcq.cq_ex.status = cq->cur->status;
	return 0;
}

static void sodp_cq_release_held(struct sodp_cq *cq)
{
	struct sodp_ring *ring = cq->q.ring;

	if (!cq->cur)
		return;
	atomic_store_explicit((_Atomic uint32_t *)&ring->consumer,
			      ring->consumer + 1, memory_order_release);
	cq->cur = NULL;
}

static int sodp_start_poll(struct ibv_cq_ex *ibcq, struct ibv_poll_cq_attr *attr)
{
	struct sodp_cq *cq = to_scq_ex(ibcq);
	int ret;

	if (attr->comp_mask)
		return EINVAL;
	pthread_spin_lock(&cq->lock);
	sodp_cq_count_poll(cq);
	ret = sodp_cq_hold_next(cq);
	/* Empty: the caller must not call ibv_end_poll(). */
	if (ret)
		pthread_spin_unlock(&cq->lock);
	return ret;
}

static int sodp_next_poll(struct ibv_cq_ex *ibcq)
{
	struct sodp_cq *cq = to_scq_ex(ibcq);

	sodp_cq_release_held(cq);
	return sodp_cq_hold_next(cq);
}

static void sodp_end_poll(struct ibv_cq_ex *ibcq)
{
	struct sodp_cq *cq = to_scq_ex(ibcq);

	sodp_cq_release_held(cq);
	pthread_spin_unlock(&cq->lock);
}

static enum ibv_wc_opcode sodp_read_opcode(struct ibv_cq_ex *ibcq)
{
	return to_scq_ex(ibcq)->cur->opcode;
}

static uint32_t sodp_read_vendor_err(struct ibv_cq_ex *ibcq)
{
	return to_scq_ex(ibcq)->cur->vendor_err;
}

static uint32_t sodp_read_byte_len(struct ibv_cq_ex *ibcq)
{
	return to_scq_ex(ibcq)->cur->byte_len;
}

static __be32 sodp_read_imm_data(struct ibv_cq_ex *ibcq)
{
	return to_scq_ex(ibcq)->cur->ex;
}

static uint32_t sodp_read_qp_num(struct ibv_cq_ex *ibcq)
{
	return to_scq_ex(ibcq)->cur->qp_num;
}

static uint32_t sodp_read_src_qp(struct ibv_cq_ex *ibcq)
{
	return to_scq_ex(ibcq)->cur->src_qp;
}

static unsigned int sodp_read_wc_flags(struct ibv_cq_ex *ibcq)
{
	return sodp_cqe_wc_flags(to_scq_ex(ibcq)->cur);
}

static uint32_t sodp_read_slid(struct ibv_cq_ex *ibcq)
{
	return to_scq_ex(ibcq)->cur->slid;
}

static uint8_t sodp_read_sl(struct ibv_cq_ex *ibcq)
{
	return sodp_roce_sl(to_scq_ex(ibcq)->cur);
}

static uint8_t sodp_read_dlid_path_bits(struct ibv_cq_ex *ibcq)
{
	return to_scq_ex(ibcq)->cur->dlid_path_bits;
}

static uint64_t sodp_read_completion_ts(struct ibv_cq_ex *ibcq)
{
	return to_scq_ex(ibcq)->cur->timestamp;
}

/* The monotonic timestamp moved onto the real-time clock, as it is now. */
static uint64_t sodp_read_completion_wallclock_ns(struct ibv_cq_ex *ibcq)
{
	struct timespec mono, real;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	return to_scq_ex(ibcq)->cur->timestamp +
	       (real.tv_sec - mono.tv_sec) * 1000000000LL +
	       (real.tv_nsec - mono.tv_nsec);
}

struct ibv_cq_ex *sodp_create_cq_ex(struct ibv_context *ctx,
				    struct ibv_cq_init_attr_ex *attr)
{
	uint64_t wc_flags = IBV_WC_STANDARD_FLAGS;
	struct ibv_cq_ex *cqx;
	struct sodp_cq *cq;

	if (to_sctx(ctx)->flags & SODP_CTX_CQE_TIMESTAMP)
		wc_flags |= IBV_WC_EX_WITH_COMPLETION_TIMESTAMP |
			    IBV_WC_EX_WITH_COMPLETION_TIMESTAMP_WALLCLOCK;
	/*
	 * Every CQ is safe for threads, so single-threaded use needs nothing,
	 * and a parent domain has nothing to allocate for it (the ring is the
	 * kernel's); overrun and the wc fields of other hardware are not
	 * supported.
	 */
	if ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_PD) &&
	    (!attr->parent_domain || attr->parent_domain->context != ctx ||
	     !to_spd(attr->parent_domain)->protection_domain)) {
		errno = EINVAL;
		return NULL;
	}
	if ((attr->comp_mask & ~(IBV_CQ_INIT_ATTR_MASK_FLAGS | IBV_CQ_INIT_ATTR_MASK_PD)) ||
	    ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) &&
	     (attr->flags & ~IBV_CREATE_CQ_ATTR_SINGLE_THREADED)) ||
	    (attr->wc_flags & ~wc_flags)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	cq = sodp_cq_new(ctx, attr->cqe, attr->channel, attr->comp_vector);
	if (!cq)
		return NULL;
	if (attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_PD)
		cq->parent_domain = sodp_parent_domain_get(attr->parent_domain);
	cqx = &cq->vcq.cq_ex;
	cqx->start_poll = sodp_start_poll;
	cqx->next_poll = sodp_next_poll;
	cqx->end_poll = sodp_end_poll;
	cqx->read_opcode = sodp_read_opcode;
	cqx->read_vendor_err = sodp_read_vendor_err;
	cqx->read_wc_flags = sodp_read_wc_flags;
	if (attr->wc_flags & IBV_WC_EX_WITH_BYTE_LEN)
		cqx->read_byte_len = sodp_read_byte_len;
	if (attr->wc_flags & IBV_WC_EX_WITH_IMM)
		cqx->read_imm_data = sodp_read_imm_data;
	if (attr->wc_flags & IBV_WC_EX_WITH_QP_NUM)
		cqx->read_qp_num = sodp_read_qp_num;
	if (attr->wc_flags & IBV_WC_EX_WITH_SRC_QP)
		cqx->read_src_qp = sodp_read_src_qp;
	if (attr->wc_flags & IBV_WC_EX_WITH_SLID)
		cqx->read_slid = sodp_read_slid;
	if (attr->wc_flags & IBV_WC_EX_WITH_SL)
		cqx->read_sl = sodp_read_sl;
	if (attr->wc_flags & IBV_WC_EX_WITH_DLID_PATH_BITS)
		cqx->read_dlid_path_bits = sodp_read_dlid_path_bits;
	if (attr->wc_flags & IBV_WC_EX_WITH_COMPLETION_TIMESTAMP)
		cqx->read_completion_ts = sodp_read_completion_ts;
	if (attr->wc_flags & IBV_WC_EX_WITH_COMPLETION_TIMESTAMP_WALLCLOCK)
		cqx->read_completion_wallclock_ns = sodp_read_completion_wallclock_ns;
	return cqx;
}
