// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/check.h"
#include "vt.h"

int vt_open(struct vt_dev *d)
{
	const char *name = getenv("SODP_TEST_DEVICE") ?: "sodp0";
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_port_attr pattr;
	const char *mode;

	memset(d, 0, sizeof(*d));
	d->gid_index = -1;
	d->path_mtu = IBV_MTU_1024;
	for (int i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			d->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!d->ctx) {
		fprintf(stderr, "cannot open %s\n", name);
		return -1;
	}
	if (ibv_query_port(d->ctx, 1, &pattr))
		return -1;
	for (int i = 0; i < pattr.gid_tbl_len; i++) {
		struct ibv_gid_entry e;

		if (ibv_query_gid_ex(d->ctx, 1, i, &e, 0) ||
		    e.gid_type != IBV_GID_TYPE_ROCE_V2)
			continue;
		/* An IPv4-mapped GID: ::ffff:a.b.c.d */
		if (!memcmp(e.gid.raw, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
			d->gid_index = i;
			d->gid = e.gid;
			break;
		}
	}
	d->pd = ibv_alloc_pd(d->ctx);
	if (d->gid_index < 0 || !d->pd)
		return -1;
	mode = getenv("SODP_TEST_MR");
	if (mode && !strcmp(mode, "odp"))
		d->mr_mode = VT_MR_ODP;
	if (mode && !strcmp(mode, "implicit")) {
		d->mr_mode = VT_MR_IMPLICIT;
		d->implicit = ibv_reg_mr(d->pd, NULL, SIZE_MAX,
					 VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
		if (!d->implicit)
			return -1;
	}
	return 0;
}

void vt_close(struct vt_dev *d)
{
	if (d->implicit)
		CHECK_CLEANUP(ibv_dereg_mr(d->implicit));
	if (d->pd)
		CHECK_CLEANUP(ibv_dealloc_pd(d->pd));
	if (d->ctx)
		CHECK_CLEANUP(ibv_close_device(d->ctx));
}

int vt_qp_create(struct vt_dev *d, struct vt_qp *q, enum ibv_qp_type type,
		 int depth, struct ibv_srq *srq, bool channel)
{
	struct ibv_qp_init_attr init = {
		.qp_type = type,
		.srq = srq,
		.cap = {
			.max_send_wr = depth, .max_recv_wr = srq ? 0 : depth,
			.max_send_sge = 4, .max_recv_sge = 4, .max_inline_data = 64,
		},
	};

	memset(q, 0, sizeof(*q));
	if (channel && !(q->chan = ibv_create_comp_channel(d->ctx)))
		return -1;
	q->scq = ibv_create_cq(d->ctx, depth, NULL, NULL, 0);
	q->rcq = ibv_create_cq(d->ctx, depth, NULL, q->chan, 0);
	if (!q->scq || !q->rcq)
		return -1;
	init.send_cq = q->scq;
	init.recv_cq = q->rcq;
	q->qp = ibv_create_qp(d->pd, &init);
	return q->qp ? 0 : -1;
}

void vt_qp_destroy(struct vt_qp *q)
{
	if (q->qp)
		CHECK_CLEANUP(ibv_destroy_qp(q->qp));
	if (q->scq)
		CHECK_CLEANUP(ibv_destroy_cq(q->scq));
	if (q->rcq)
		CHECK_CLEANUP(ibv_destroy_cq(q->rcq));
	if (q->chan)
		CHECK_CLEANUP(ibv_destroy_comp_channel(q->chan));
	memset(q, 0, sizeof(*q));
}

int vt_rc_to_rts(struct vt_dev *d, struct ibv_qp *qp, uint32_t dqpn,
		 int access, uint8_t rnr_retry, uint8_t min_rnr_timer)
{
	return vt_rc_to_rts_timeout(d, qp, dqpn, access, rnr_retry, min_rnr_timer,
				    8, 2);
}

int vt_rc_to_rts_timeout(struct vt_dev *d, struct ibv_qp *qp, uint32_t dqpn,
			 int access, uint8_t rnr_retry, uint8_t min_rnr_timer,
			 uint8_t timeout, uint8_t retry_cnt)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .pkey_index = 0, .port_num = 1,
		.qp_access_flags = access,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = d->path_mtu;
	a.dest_qp_num = dqpn;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = min_rnr_timer;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = d->gid;
	a.ah_attr.grh.sgid_index = d->gid_index;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = timeout;
	a.retry_cnt = retry_cnt;
	a.rnr_retry = rnr_retry;
	a.sq_psn = 0;
	a.max_rd_atomic = 4;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			     IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			     IBV_QP_MAX_QP_RD_ATOMIC) ? -1 : 0;
}

int vt_connect(struct vt_dev *d, struct vt_qp *a, struct vt_qp *b)
{
	return vt_rc_to_rts(d, a->qp, b->qp->qp_num, VT_ALL_ACCESS, 7, 1) ||
	       vt_rc_to_rts(d, b->qp, a->qp->qp_num, VT_ALL_ACCESS, 7, 1) ? -1 : 0;
}

int vt_reconnect(struct vt_dev *d, struct vt_qp *a, struct vt_qp *b)
{
	struct ibv_qp_attr reset = { .qp_state = IBV_QPS_RESET };
	struct ibv_wc wc;

	while (ibv_poll_cq(a->scq, 1, &wc) > 0 || ibv_poll_cq(b->rcq, 1, &wc) > 0)
		;
	if (ibv_modify_qp(a->qp, &reset, IBV_QP_STATE) ||
	    ibv_modify_qp(b->qp, &reset, IBV_QP_STATE))
		return -1;
	return vt_connect(d, a, b);
}

int vt_pair(struct vt_dev *d, struct vt_qp *a, struct vt_qp *b, int depth)
{
	if (vt_qp_create(d, a, IBV_QPT_RC, depth, NULL, false))
		return -1;
	if (vt_qp_create(d, b, IBV_QPT_RC, depth, NULL, false)) {
		vt_qp_destroy(a);
		return -1;
	}
	if (vt_connect(d, a, b)) {
		vt_qp_destroy(a);
		vt_qp_destroy(b);
		return -1;
	}
	return 0;
}

int vt_ud_ready(struct vt_qp *q, uint32_t qkey)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .pkey_index = 0, .port_num = 1, .qkey = qkey,
	};

	if (ibv_modify_qp(q->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_QKEY))
		return -1;
	a.qp_state = IBV_QPS_RTR;
	if (ibv_modify_qp(q->qp, &a, IBV_QP_STATE))
		return -1;
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	return ibv_modify_qp(q->qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN) ? -1 : 0;
}

struct ibv_ah *vt_ah(struct vt_dev *d)
{
	struct ibv_ah_attr a = {
		.is_global = 1, .port_num = 1,
		.grh = { .dgid = d->gid, .sgid_index = d->gid_index, .hop_limit = 64 },
	};

	return ibv_create_ah(d->pd, &a);
}

void vt_ud_wr(struct ibv_send_wr *wr, struct ibv_sge *sge, enum ibv_wr_opcode op,
	      struct ibv_ah *ah, uint32_t qpn, uint32_t qkey)
{
	memset(wr, 0, sizeof(*wr));
	wr->sg_list = sge;
	wr->num_sge = 1;
	wr->opcode = op;
	wr->send_flags = IBV_SEND_SIGNALED;
	wr->wr.ud.ah = ah;
	wr->wr.ud.remote_qpn = qpn;
	wr->wr.ud.remote_qkey = qkey;
}

int vt_poll(struct ibv_cq *cq, struct ibv_wc *wc, double seconds)
{
	double end = now_s() + seconds;

	do {
		int n = ibv_poll_cq(cq, 1, wc);

		if (n < 0)
			return -1;
		if (n)
			return 0;
	} while (now_s() < end);
	return -1;
}

bool vt_no_completion(struct ibv_cq *cq, double seconds)
{
	struct ibv_wc wc;

	return vt_poll(cq, &wc, seconds) != 0;
}

int vt_post_send(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t wr_id,
		 struct ibv_sge *sge, int nsge, uint64_t raddr, uint32_t rkey,
		 unsigned int flags)
{
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = sge, .num_sge = nsge, .opcode = op,
		.send_flags = flags | IBV_SEND_SIGNALED,
	}, *bad;

	if (op == IBV_WR_ATOMIC_CMP_AND_SWP || op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = rkey;
	} else {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	return ibv_post_send(qp, &wr, &bad);
}

int vt_post_recv(struct ibv_qp *qp, uint64_t wr_id, struct ibv_sge *sge, int nsge)
{
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = sge, .num_sge = nsge }, *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

struct ibv_mr *vt_reg(struct vt_dev *d, void *buf, size_t len, int access)
{
	switch (d->mr_mode) {
	case VT_MR_ODP:
		return ibv_reg_mr(d->pd, buf, len, access | IBV_ACCESS_ON_DEMAND);
	case VT_MR_IMPLICIT:
		return d->implicit;
	default:
		return ibv_reg_mr(d->pd, buf, len, access);
	}
}

int vt_dereg(struct ibv_mr *mr)
{
	/* The implicit MR lives as long as its vt_dev. */
	if (mr->length == SIZE_MAX)
		return 0;
	return ibv_dereg_mr(mr);
}

int vt_link_mem(struct vt_link *l, size_t len)
{
	l->abuf = aligned_alloc(4096, len);
	l->bbuf = aligned_alloc(4096, len);
	if (!l->abuf || !l->bbuf)
		return -1;
	memset(l->abuf, 0, len);
	memset(l->bbuf, 0, len);
	l->amr = vt_reg(&l->d, l->abuf, len, VT_ALL_ACCESS);
	l->bmr = vt_reg(&l->d, l->bbuf, len, VT_ALL_ACCESS);
	return l->amr && l->bmr ? 0 : -1;
}

void vt_link_close(struct vt_link *l)
{
	if (l->amr)
		CHECK_CLEANUP(vt_dereg(l->amr));
	if (l->bmr)
		CHECK_CLEANUP(vt_dereg(l->bmr));
	vt_qp_destroy(&l->a);
	vt_qp_destroy(&l->b);
	vt_close(&l->d);
	free(l->abuf);
	free(l->bbuf);
}
