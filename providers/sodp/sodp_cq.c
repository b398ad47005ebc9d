// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libsodp: completion queues, polled from the shared ring without a
 * system call.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdlib.h>

#include "sodp.h"

struct ibv_cq *sodp_create_cq(struct ibv_context *ctx, int cqe,
			      struct ibv_comp_channel *channel, int comp_vector)
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
	return &cq->vcq.cq;
err_free:
	free(cq);
	errno = ret;
	return NULL;
}

int sodp_destroy_cq(struct ibv_cq *ibcq)
{
	struct sodp_cq *cq = to_scq(ibcq);
	int ret = ibv_cmd_destroy_cq(ibcq);

	if (ret)
		return ret;
	sodp_uring_unmap(&cq->q);
	pthread_spin_destroy(&cq->lock);
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
	/* IB_WC_* and IBV_WC_* flags agree for the bits a CQE carries. */
	wc->wc_flags = cqe->wc_flags & (IBV_WC_GRH | IBV_WC_WITH_IMM |
					 IBV_WC_WITH_INV);
	wc->pkey_index = cqe->pkey_index;
	wc->slid = cqe->slid;
	wc->sl = sodp_roce_sl(cqe);
	wc->dlid_path_bits = cqe->dlid_path_bits;
}

int sodp_poll_cq(struct ibv_cq *ibcq, int ne, struct ibv_wc *wc)
{
	struct sodp_cq *cq = to_scq(ibcq);
	struct sodp_ring *ring;
	int n = 0;

	pthread_spin_lock(&cq->lock);
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
