// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libsodp: shared receive queues, XRC SRQs among them, and XRC domains.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdlib.h>

#include "sodp.h"

/* Basic and XRC SRQs (an XRC SRQ's number names it to XRC initiators). */
struct ibv_srq *sodp_create_srq_ex(struct ibv_context *ctx,
				   struct ibv_srq_init_attr_ex *attr)
{
	struct sodp_cmd_create_xsrq cmd;
	struct {
		struct ib_uverbs_create_srq_resp ibv;
		struct sodp_create_srq_resp drv;
	} resp = {};
	struct sodp_srq *srq;
	int ret;

	if ((attr->comp_mask & IBV_SRQ_INIT_ATTR_TYPE) &&
	    attr->srq_type != IBV_SRQT_BASIC && attr->srq_type != IBV_SRQT_XRC) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	srq = calloc(1, sizeof(*srq));
	if (!srq)
		return NULL;
	ret = ibv_cmd_create_srq_ex(ctx, &srq->vsrq, attr, &cmd, sizeof(cmd),
				    &resp, sizeof(resp));
	if (ret)
		goto err_free;
	ret = sodp_uring_map(&srq->rq, ctx->cmd_fd, &resp.drv.rq,
			     sizeof(struct sodp_recv_wqe));
	if (ret) {
		ibv_cmd_destroy_srq(&srq->vsrq.srq);
		goto err_free;
	}
	pthread_spin_init(&srq->lock, PTHREAD_PROCESS_PRIVATE);
	return &srq->vsrq.srq;
err_free:
	free(srq);
	errno = ret;
	return NULL;
}

struct ibv_srq *sodp_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *attr)
{
	struct ibv_srq_init_attr_ex ax = {
		.srq_context = attr->srq_context,
		.attr = attr->attr,
		.comp_mask = IBV_SRQ_INIT_ATTR_PD,
		.pd = pd,
	};
	struct ibv_srq *srq = sodp_create_srq_ex(pd->context, &ax);

	if (srq)
		attr->attr = ax.attr;
	return srq;
}

int sodp_get_srq_num(struct ibv_srq *ibsrq, uint32_t *srq_num)
{
	struct sodp_srq *srq = to_ssrq(ibsrq);

	if (srq->vsrq.srq_type != IBV_SRQT_XRC)
		return EOPNOTSUPP;
	*srq_num = srq->vsrq.srq_num;
	return 0;
}

struct ibv_xrcd *sodp_open_xrcd(struct ibv_context *ctx,
				struct ibv_xrcd_init_attr *attr)
{
	struct sodp_cmd_open_xrcd cmd;
	struct ib_uverbs_open_xrcd_resp resp;
	struct verbs_xrcd *xrcd = calloc(1, sizeof(*xrcd));
	int ret;

	if (!xrcd)
		return NULL;
	ret = ibv_cmd_open_xrcd(ctx, xrcd, sizeof(*xrcd), attr, &cmd, sizeof(cmd),
				&resp, sizeof(resp));
	if (ret) {
		free(xrcd);
		errno = ret;
		return NULL;
	}
	return &xrcd->xrcd;
}

int sodp_close_xrcd(struct ibv_xrcd *ibxrcd)
{
	struct verbs_xrcd *xrcd = container_of(ibxrcd, struct verbs_xrcd, xrcd);
	int ret = ibv_cmd_close_xrcd(xrcd);

	if (!ret)
		free(xrcd);
	return ret;
}

int sodp_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr, int mask)
{
	struct sodp_srq *srq = to_ssrq(ibsrq);
	struct sodp_cmd_modify_srq cmd = {};
	struct sodp_ring_info info = {};
	struct sodp_uring nq = {};
	int ret;

	if (!(mask & IBV_SRQ_MAX_WR))
		return ibv_cmd_modify_srq(ibsrq, attr, mask, &cmd, sizeof(cmd));
	/* The kernel moves posted WQEs to a new ring; post to neither meanwhile. */
	cmd.drv.ring_info_addr = (uintptr_t)&info;
	pthread_spin_lock(&srq->lock);
	ret = ibv_cmd_modify_srq(ibsrq, attr, mask, &cmd, sizeof(cmd));
	if (!ret)
		ret = sodp_uring_map(&nq, ibsrq->context->cmd_fd, &info,
				     sizeof(struct sodp_recv_wqe));
	if (!ret) {
		sodp_uring_unmap(&srq->rq);
		srq->rq = nq;
	}
	pthread_spin_unlock(&srq->lock);
	return ret;
}

int sodp_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr)
{
	struct sodp_cmd_query_srq cmd;

	return ibv_cmd_query_srq(ibsrq, attr, &cmd, sizeof(cmd));
}

int sodp_destroy_srq(struct ibv_srq *ibsrq)
{
	struct sodp_srq *srq = to_ssrq(ibsrq);
	int ret = ibv_cmd_destroy_srq(ibsrq);

	if (ret)
		return ret;
	sodp_uring_unmap(&srq->rq);
	pthread_spin_destroy(&srq->lock);
	free(srq);
	return 0;
}

int sodp_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
		       struct ibv_recv_wr **bad_wr)
{
	struct sodp_srq *srq = to_ssrq(ibsrq);
	int ret;

	pthread_spin_lock(&srq->lock);
	ret = sodp_post_recv_ring(&srq->rq, wr, bad_wr);
	pthread_spin_unlock(&srq->lock);
	return ret;
}
