// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: XRC.  An initiator QP's requests name an XRC SRQ; the
 * target QP they reach serves them with that SRQ's receive WQEs, CQ and
 * PD.  Every operation, data checked, into two SRQs of one domain; a
 * domain shared by file between two contexts, with the target QP opened
 * by number from the other; what a request may not reach (an SRQ of
 * another domain, none, a region of another PD) refused; and an SRQ
 * destroyed while requests stream to it.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/rdma_user_ioctl_cmds.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/check.h"
#include "vt.h"

#define BUF (1 << 20)
#define DEPTH 64

/* An XRC QP (@tgt: the target, else the initiator) from RESET to RTS. */
static int xrc_to_rts(struct vt_dev *d, struct ibv_qp *qp, uint32_t dqpn, bool tgt)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1,
		.qp_access_flags = tgt ? VT_ALL_ACCESS : 0,
	};
	int mask;

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = d->path_mtu;
	a.dest_qp_num = dqpn;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = d->gid;
	a.ah_attr.grh.sgid_index = d->gid_index;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = 1;
	mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
	       IBV_QP_RQ_PSN;
	if (tgt)
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	if (ibv_modify_qp(qp, &a, mask))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 4;
	mask = IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_SQ_PSN;
	if (!tgt)
		mask |= IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC;
	return ibv_modify_qp(qp, &a, mask) ? -1 : 0;
}

struct xrc {
	struct vt_dev d;
	struct ibv_xrcd *xrcd;
	struct ibv_cq *icq, *cq[2];	/* the initiator's; each SRQ's */
	struct ibv_srq *srq[2];
	uint32_t srqn[2];
	struct ibv_qp *ini, *tgt;
	char *ibuf, *tbuf;		/* the initiator's, the target side's */
	struct ibv_mr *imr, *tmr;
};

static struct ibv_xrcd *xrc_open_xrcd(struct ibv_context *ctx, int fd)
{
	struct ibv_xrcd_init_attr xa = {
		.comp_mask = IBV_XRCD_INIT_ATTR_FD | IBV_XRCD_INIT_ATTR_OFLAGS,
		.fd = fd, .oflags = O_CREAT,
	};

	return ibv_open_xrcd(ctx, &xa);
}

static struct ibv_srq *xrc_srq(struct ibv_context *ctx, struct ibv_pd *pd,
			       struct ibv_xrcd *xrcd, struct ibv_cq *cq)
{
	struct ibv_srq_init_attr_ex sa = {
		.attr = { .max_wr = DEPTH, .max_sge = 2 },
		.comp_mask = IBV_SRQ_INIT_ATTR_TYPE | IBV_SRQ_INIT_ATTR_PD |
			     IBV_SRQ_INIT_ATTR_XRCD | IBV_SRQ_INIT_ATTR_CQ,
		.srq_type = IBV_SRQT_XRC, .pd = pd, .xrcd = xrcd, .cq = cq,
	};

	return ibv_create_srq_ex(ctx, &sa);
}

static struct ibv_qp *xrc_tgt(struct ibv_context *ctx, struct ibv_xrcd *xrcd)
{
	struct ibv_qp_init_attr_ex qa = {
		.qp_type = IBV_QPT_XRC_RECV,
		.comp_mask = IBV_QP_INIT_ATTR_XRCD, .xrcd = xrcd,
	};

	return ibv_create_qp_ex(ctx, &qa);
}

static struct ibv_qp *xrc_ini(struct vt_dev *d, struct ibv_cq *cq, uint64_t send_ops)
{
	struct ibv_qp_init_attr_ex qa = {
		.qp_type = IBV_QPT_XRC_SEND, .send_cq = cq,
		.cap = { .max_send_wr = DEPTH, .max_send_sge = 2, .max_inline_data = 64 },
		.comp_mask = IBV_QP_INIT_ATTR_PD, .pd = d->pd,
	};

	if (send_ops) {
		qa.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
		qa.send_ops_flags = send_ops;
	}
	return ibv_create_qp_ex(d->ctx, &qa);
}

static int xrc_open(struct xrc *x, uint64_t send_ops)
{
	memset(x, 0, sizeof(*x));
	CHECK_EQ(vt_open(&x->d), 0);
	x->xrcd = xrc_open_xrcd(x->d.ctx, -1);
	CHECK(x->xrcd);
	x->icq = ibv_create_cq(x->d.ctx, DEPTH, NULL, NULL, 0);
	CHECK(x->icq);
	for (int i = 0; i < 2; i++) {
		x->cq[i] = ibv_create_cq(x->d.ctx, DEPTH, NULL, NULL, 0);
		CHECK(x->cq[i]);
		x->srq[i] = xrc_srq(x->d.ctx, x->d.pd, x->xrcd, x->cq[i]);
		CHECK(x->srq[i]);
		CHECK_EQ(ibv_get_srq_num(x->srq[i], &x->srqn[i]), 0);
	}
	CHECK(x->srqn[0] != x->srqn[1]);
	x->tgt = xrc_tgt(x->d.ctx, x->xrcd);
	CHECK(x->tgt);
	x->ini = xrc_ini(&x->d, x->icq, send_ops);
	CHECK(x->ini);
	CHECK_EQ(xrc_to_rts(&x->d, x->tgt, x->ini->qp_num, true), 0);
	CHECK_EQ(xrc_to_rts(&x->d, x->ini, x->tgt->qp_num, false), 0);
	x->ibuf = aligned_alloc(4096, BUF);
	x->tbuf = aligned_alloc(4096, BUF);
	CHECK(x->ibuf && x->tbuf);
	memset(x->ibuf, 0, BUF);
	memset(x->tbuf, 0, BUF);
	x->imr = vt_reg(&x->d, x->ibuf, BUF, VT_ALL_ACCESS);
	x->tmr = vt_reg(&x->d, x->tbuf, BUF, VT_ALL_ACCESS);
	CHECK(x->imr && x->tmr);
	return 0;
}

static void xrc_close(struct xrc *x)
{
	if (x->ini)
		CHECK_CLEANUP(ibv_destroy_qp(x->ini));
	if (x->tgt)
		CHECK_CLEANUP(ibv_destroy_qp(x->tgt));
	for (int i = 0; i < 2; i++) {
		if (x->srq[i])
			CHECK_CLEANUP(ibv_destroy_srq(x->srq[i]));
		if (x->cq[i])
			CHECK_CLEANUP(ibv_destroy_cq(x->cq[i]));
	}
	if (x->icq)
		CHECK_CLEANUP(ibv_destroy_cq(x->icq));
	if (x->imr)
		CHECK_CLEANUP(vt_dereg(x->imr));
	if (x->tmr)
		CHECK_CLEANUP(vt_dereg(x->tmr));
	if (x->xrcd)
		CHECK_CLEANUP(ibv_close_xrcd(x->xrcd));
	free(x->ibuf);
	free(x->tbuf);
	vt_close(&x->d);
}

/* Post one signaled WR of the initiator to SRQ number @srqn. */
static int xrc_post(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t id,
		    struct ibv_sge *s, int nsge, uint32_t srqn, uint64_t raddr,
		    uint32_t rkey, uint32_t imm)
{
	struct ibv_send_wr wr = {
		.wr_id = id, .sg_list = s, .num_sge = nsge, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED, .imm_data = htobe32(imm),
		.qp_type.xrc.remote_srqn = srqn,
	}, *bad;

	if (op == IBV_WR_ATOMIC_FETCH_AND_ADD || op == IBV_WR_ATOMIC_CMP_AND_SWP)
		wr.wr.atomic = (typeof(wr.wr.atomic)){ raddr, 5, 9, rkey };
	else
		wr.wr.rdma = (typeof(wr.wr.rdma)){ raddr, rkey };
	return ibv_post_send(qp, &wr, &bad);
}

static int xrc_recv(struct xrc *x, int i, uint64_t id, size_t off, size_t len)
{
	struct ibv_sge s = { (uintptr_t)x->tbuf + off, len, x->tmr->lkey };
	struct ibv_recv_wr wr = { .wr_id = id, .sg_list = &s, .num_sge = 1 }, *bad;

	return ibv_post_srq_recv(x->srq[i], &wr, &bad);
}

static int xrc_sent(struct xrc *x, uint64_t id, enum ibv_wc_status status)
{
	struct ibv_wc wc;

	CHECK_EQ(vt_poll(x->icq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, id);
	CHECK_EQ(wc.status, status);
	return 0;
}

/* SEND (2 SGEs, several packets) and WRITE with immediate, to either SRQ. */
CHECK_CASE(xrc_ops)
{
	struct ibv_wc wc;
	struct xrc x;

	CHECK_EQ(xrc_open(&x, 0), 0);
	for (int n = 0; n < 4; n++) {
		int i = n & 1;
		size_t len = n < 2 ? 70001 : 100;
		struct ibv_sge s[2] = {
			{ (uintptr_t)x.ibuf + 7, len / 2, x.imr->lkey },
			{ (uintptr_t)x.ibuf + 7 + len / 2, len - len / 2, x.imr->lkey },
		};

		fill_pattern(x.ibuf + 7, len, n, 0);
		CHECK_EQ(xrc_recv(&x, i, 100 + n, 4096 * n, 80000), 0);
		CHECK_EQ(xrc_post(x.ini, n == 3 ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND,
				  n, s, 2, x.srqn[i], 0, 0, 0x1234), 0);
		CHECK_EQ(xrc_sent(&x, n, IBV_WC_SUCCESS), 0);
		/* On the named SRQ's CQ, not the other's. */
		CHECK(vt_no_completion(x.cq[!i], 0.01));
		CHECK_EQ(vt_poll(x.cq[i], &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.wr_id, 100 + n);
		CHECK_EQ(wc.opcode, IBV_WC_RECV);
		CHECK_EQ(wc.byte_len, len);
		CHECK_EQ(wc.qp_num, x.tgt->qp_num);
		CHECK_EQ(!!(wc.wc_flags & IBV_WC_WITH_IMM), n == 3);
		CHECK_EQ(check_pattern(x.tbuf + 4096 * n, len, n, 0), -1);
	}

	/* WRITE, READ and atomics: the SRQ's PD's regions. */
	{
		struct ibv_sge s = { (uintptr_t)x.ibuf, 200003, x.imr->lkey };
		uint64_t *v = (uint64_t *)(x.tbuf + 8192);

		fill_pattern(x.ibuf, 200003, 9, 0);
		CHECK_EQ(xrc_post(x.ini, IBV_WR_RDMA_WRITE, 10, &s, 1, x.srqn[0],
				  (uintptr_t)x.tbuf + 300000, x.tmr->rkey, 0), 0);
		CHECK_EQ(xrc_sent(&x, 10, IBV_WC_SUCCESS), 0);
		CHECK_EQ(check_pattern(x.tbuf + 300000, 200003, 9, 0), -1);

		s = (struct ibv_sge){ (uintptr_t)x.ibuf + 500000, 200003, x.imr->lkey };
		CHECK_EQ(xrc_post(x.ini, IBV_WR_RDMA_READ, 11, &s, 1, x.srqn[1],
				  (uintptr_t)x.tbuf + 300000, x.tmr->rkey, 0), 0);
		CHECK_EQ(xrc_sent(&x, 11, IBV_WC_SUCCESS), 0);
		CHECK_EQ(check_pattern(x.ibuf + 500000, 200003, 9, 0), -1);

		*v = 5;
		s = (struct ibv_sge){ (uintptr_t)x.ibuf + 800000, 8, x.imr->lkey };
		CHECK_EQ(xrc_post(x.ini, IBV_WR_ATOMIC_CMP_AND_SWP, 12, &s, 1,
				  x.srqn[0], (uintptr_t)v, x.tmr->rkey, 0), 0);
		CHECK_EQ(xrc_sent(&x, 12, IBV_WC_SUCCESS), 0);
		CHECK_EQ(*(uint64_t *)(x.ibuf + 800000), 5);
		CHECK_EQ(*v, 9);
		CHECK_EQ(xrc_post(x.ini, IBV_WR_ATOMIC_FETCH_AND_ADD, 13, &s, 1,
				  x.srqn[1], (uintptr_t)v, x.tmr->rkey, 0), 0);
		CHECK_EQ(xrc_sent(&x, 13, IBV_WC_SUCCESS), 0);
		CHECK_EQ(*(uint64_t *)(x.ibuf + 800000), 9);
		CHECK_EQ(*v, 14);

		/* WRITE with immediate takes a WQE of the SRQ it names. */
		CHECK_EQ(xrc_recv(&x, 1, 14, 0, 16), 0);
		s = (struct ibv_sge){ (uintptr_t)x.ibuf, 5000, x.imr->lkey };
		CHECK_EQ(xrc_post(x.ini, IBV_WR_RDMA_WRITE_WITH_IMM, 15, &s, 1,
				  x.srqn[1], (uintptr_t)x.tbuf + 600000, x.tmr->rkey, 77), 0);
		CHECK_EQ(xrc_sent(&x, 15, IBV_WC_SUCCESS), 0);
		CHECK_EQ(vt_poll(x.cq[1], &wc, 10), 0);
		CHECK_EQ(wc.wr_id, 14);
		CHECK_EQ(wc.opcode, IBV_WC_RECV_RDMA_WITH_IMM);
		CHECK_EQ(be32toh(wc.imm_data), 77);
		CHECK_EQ(check_pattern(x.tbuf + 600000, 5000, 9, 0), -1);
	}

	/* No queue of its own: receives on neither QP, sends not on the target. */
	{
		struct ibv_sge s = { (uintptr_t)x.ibuf, 8, x.imr->lkey };
		struct ibv_recv_wr rwr = { .sg_list = &s, .num_sge = 1 }, *rbad;
		struct ibv_send_wr swr = { .sg_list = &s, .num_sge = 1 }, *sbad;

		CHECK(ibv_post_recv(x.ini, &rwr, &rbad) != 0);
		CHECK(ibv_post_recv(x.tgt, &rwr, &rbad) != 0);
		CHECK(ibv_post_send(x.tgt, &swr, &sbad) != 0);
	}
	/* An SRQ and receive CQ given to an initiator are not its own. */
	{
		struct ibv_qp_init_attr_ex qa = {
			.qp_type = IBV_QPT_XRC_SEND, .send_cq = x.icq,
			.recv_cq = x.cq[0], .srq = x.srq[0],
			.cap = { .max_send_wr = 1, .max_send_sge = 1 },
			.comp_mask = IBV_QP_INIT_ATTR_PD, .pd = x.d.pd,
		};
		struct ibv_qp *qp = ibv_create_qp_ex(x.d.ctx, &qa);

		CHECK(qp);
		CHECK(!qp->srq && !qp->recv_cq);
		CHECK_EQ(ibv_destroy_qp(qp), 0);
	}
	xrc_close(&x);
	return 0;
}

/* The extended API names the SRQ with ibv_wr_set_xrc_srqn(). */
CHECK_CASE(xrc_wr_ex)
{
	struct ibv_qp_ex *qx;
	struct ibv_wc wc;
	struct xrc x;

	CHECK_EQ(xrc_open(&x, IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_RDMA_WRITE), 0);
	qx = ibv_qp_to_qp_ex(x.ini);
	CHECK(qx);
	fill_pattern(x.ibuf, 3000, 4, 0);
	CHECK_EQ(xrc_recv(&x, 1, 1, 0, 4096), 0);
	ibv_wr_start(qx);
	qx->wr_id = 2;
	qx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(qx);
	ibv_wr_set_xrc_srqn(qx, x.srqn[1]);
	ibv_wr_set_sge(qx, x.imr->lkey, (uintptr_t)x.ibuf, 3000);
	qx->wr_id = 3;
	ibv_wr_rdma_write(qx, x.tmr->rkey, (uintptr_t)x.tbuf + 10000);
	ibv_wr_set_xrc_srqn(qx, x.srqn[0]);
	ibv_wr_set_sge(qx, x.imr->lkey, (uintptr_t)x.ibuf, 3000);
	CHECK_EQ(ibv_wr_complete(qx), 0);
	CHECK_EQ(xrc_sent(&x, 2, IBV_WC_SUCCESS), 0);
	CHECK_EQ(xrc_sent(&x, 3, IBV_WC_SUCCESS), 0);
	CHECK_EQ(vt_poll(x.cq[1], &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.byte_len, 3000);
	CHECK_EQ(check_pattern(x.tbuf, 3000, 4, 0), -1);
	CHECK_EQ(check_pattern(x.tbuf + 10000, 3000, 4, 0), -1);
	xrc_close(&x);
	return 0;
}

/*
 * What an initiator may not reach: an SRQ of another domain, or none, or
 * a region of another PD than the SRQ's.  Each is a remote access error
 * (the initiator's WQE, and both QPs in error), nothing delivered.
 */
CHECK_CASE(xrc_errors)
{
	struct ibv_xrcd *other;
	struct ibv_srq *alien;
	struct ibv_pd *pd2;
	struct ibv_mr *mr2;
	struct ibv_wc wc;
	struct xrc x;
	char *buf2;

	CHECK_EQ(xrc_open(&x, 0), 0);
	other = xrc_open_xrcd(x.d.ctx, -1);
	CHECK(other);
	alien = xrc_srq(x.d.ctx, x.d.pd, other, x.cq[0]);
	CHECK(alien);
	pd2 = ibv_alloc_pd(x.d.ctx);
	CHECK(pd2);
	buf2 = aligned_alloc(4096, 8192);
	CHECK(buf2);
	memset(buf2, 0x5a, 8192);
	mr2 = ibv_reg_mr(pd2, buf2, 8192, VT_ALL_ACCESS);
	CHECK(mr2);

	for (int n = 0; n < 3; n++) {
		struct ibv_sge s = { (uintptr_t)x.ibuf, 64, x.imr->lkey };
		struct ibv_qp_attr reset = { .qp_state = IBV_QPS_RESET };
		uint32_t srqn;

		CHECK_EQ(ibv_get_srq_num(alien, &srqn), 0);
		CHECK_EQ(xrc_recv(&x, 0, 50 + n, 0, 64), 0);
		if (n == 0)		/* another domain's SRQ */
			CHECK_EQ(xrc_post(x.ini, IBV_WR_SEND, n, &s, 1, srqn, 0, 0, 0), 0);
		else if (n == 1)	/* no SRQ of that number */
			CHECK_EQ(xrc_post(x.ini, IBV_WR_SEND, n, &s, 1,
					  (x.srqn[0] | x.srqn[1] | srqn) + 1000, 0, 0, 0), 0);
		else			/* a region of another PD */
			CHECK_EQ(xrc_post(x.ini, IBV_WR_RDMA_WRITE, n, &s, 1, x.srqn[0],
					  (uintptr_t)buf2, mr2->rkey, 0), 0);
		CHECK_EQ(xrc_sent(&x, n, IBV_WC_REM_ACCESS_ERR), 0);
		CHECK_EQ((uint8_t)buf2[0], 0x5a);
		/* The receive posted stays for the next message. */
		CHECK(vt_no_completion(x.cq[0], 0.05));
		CHECK_EQ(ibv_modify_qp(x.ini, &reset, IBV_QP_STATE), 0);
		CHECK_EQ(ibv_modify_qp(x.tgt, &reset, IBV_QP_STATE), 0);
		CHECK_EQ(xrc_to_rts(&x.d, x.tgt, x.ini->qp_num, true), 0);
		CHECK_EQ(xrc_to_rts(&x.d, x.ini, x.tgt->qp_num, false), 0);
		CHECK_EQ(xrc_post(x.ini, IBV_WR_SEND, 9, &s, 1, x.srqn[0], 0, 0, 0), 0);
		CHECK_EQ(xrc_sent(&x, 9, IBV_WC_SUCCESS), 0);
		CHECK_EQ(vt_poll(x.cq[0], &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.wr_id, 50 + n);
	}
	/* A domain with an SRQ in it stays until the SRQ goes. */
	CHECK(ibv_close_xrcd(other) != 0);
	CHECK_EQ(ibv_destroy_srq(alien), 0);
	CHECK_EQ(ibv_close_xrcd(other), 0);
	CHECK_EQ(ibv_dereg_mr(mr2), 0);
	CHECK_EQ(ibv_dealloc_pd(pd2), 0);
	free(buf2);
	xrc_close(&x);
	return 0;
}

/*
 * A domain shared by file between two contexts (as between processes):
 * the second context's SRQ receives through the first's target QP, which
 * the second opens by number and keeps after the first destroys it.
 */
CHECK_CASE(xrc_shared)
{
	char path[] = "/tmp/sodp-xrcd-XXXXXX";
	struct ibv_qp_open_attr oa = { .qp_type = IBV_QPT_XRC_RECV };
	struct ibv_xrcd *x2;
	struct ibv_srq *srq2;
	struct ibv_cq *cq2;
	struct ibv_qp *opened;
	struct vt_dev d2;
	struct ibv_wc wc;
	struct xrc x;
	uint32_t srqn2;
	int fd;

	CHECK_EQ(xrc_open(&x, 0), 0);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	/* The first context's domain is replaced by one of the file's. */
	CHECK_EQ(ibv_destroy_qp(x.tgt), 0);
	x.tgt = NULL;
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(ibv_destroy_srq(x.srq[i]), 0);
		x.srq[i] = NULL;
	}
	CHECK_EQ(ibv_close_xrcd(x.xrcd), 0);
	x.xrcd = xrc_open_xrcd(x.d.ctx, fd);
	CHECK(x.xrcd);
	x.tgt = xrc_tgt(x.d.ctx, x.xrcd);
	CHECK(x.tgt);

	CHECK_EQ(vt_open(&d2), 0);
	x2 = xrc_open_xrcd(d2.ctx, fd);
	CHECK(x2);
	cq2 = ibv_create_cq(d2.ctx, DEPTH, NULL, NULL, 0);
	CHECK(cq2);
	srq2 = xrc_srq(d2.ctx, d2.pd, x2, cq2);
	CHECK(srq2);
	CHECK_EQ(ibv_get_srq_num(srq2, &srqn2), 0);
	oa.comp_mask = IBV_QP_OPEN_ATTR_NUM | IBV_QP_OPEN_ATTR_XRCD |
		       IBV_QP_OPEN_ATTR_TYPE;
	oa.qp_num = x.tgt->qp_num;
	oa.xrcd = x2;
	opened = ibv_open_qp(d2.ctx, &oa);
	CHECK(opened);
	CHECK_EQ(opened->qp_num, x.tgt->qp_num);
	CHECK_EQ(ibv_modify_qp(x.ini, &(struct ibv_qp_attr){ .qp_state = IBV_QPS_RESET },
			       IBV_QP_STATE), 0);
	/* Connected from the second context's handle. */
	CHECK_EQ(xrc_to_rts(&d2, opened, x.ini->qp_num, true), 0);
	CHECK_EQ(xrc_to_rts(&x.d, x.ini, x.tgt->qp_num, false), 0);

	for (int round = 0; round < 2; round++) {
		char *rbuf = aligned_alloc(4096, 65536);
		struct ibv_mr *rmr;
		struct ibv_sge s = { (uintptr_t)x.ibuf, 40000, x.imr->lkey };
		struct ibv_sge rs;
		struct ibv_recv_wr rwr = { .wr_id = round, .sg_list = &rs, .num_sge = 1 }, *bad;

		CHECK(rbuf);
		rmr = vt_reg(&d2, rbuf, 65536, VT_ALL_ACCESS);
		CHECK(rmr);
		rs = (struct ibv_sge){ (uintptr_t)rbuf, 65536, rmr->lkey };
		CHECK_EQ(ibv_post_srq_recv(srq2, &rwr, &bad), 0);
		fill_pattern(x.ibuf, 40000, 20 + round, 0);
		CHECK_EQ(xrc_post(x.ini, IBV_WR_SEND, round, &s, 1, srqn2, 0, 0, 0), 0);
		CHECK_EQ(xrc_sent(&x, round, IBV_WC_SUCCESS), 0);
		CHECK_EQ(vt_poll(cq2, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.byte_len, 40000);
		CHECK_EQ(wc.qp_num, opened->qp_num);
		CHECK_EQ(check_pattern(rbuf, 40000, 20 + round, 0), -1);
		CHECK_EQ(vt_dereg(rmr), 0);
		free(rbuf);
		/* The creator lets go: the QP lives on in the other context. */
		if (!round) {
			CHECK_EQ(ibv_destroy_qp(x.tgt), 0);
			x.tgt = NULL;
		}
	}
	CHECK_EQ(ibv_destroy_qp(opened), 0);
	CHECK_EQ(ibv_destroy_srq(srq2), 0);
	CHECK_EQ(ibv_destroy_cq(cq2), 0);
	CHECK_EQ(ibv_close_xrcd(x2), 0);
	vt_close(&d2);
	xrc_close(&x);
	close(fd);
	return 0;
}

/* libibverbs' XRC domain (driver.h's struct verbs_xrcd): its handle. */
struct xrc_verbs_xrcd {
	struct ibv_xrcd xrcd;
	uint32_t comp_mask;
	uint32_t handle;
};

/*
 * A target QP made by a raw ioctl that also names an SRQ (the core takes
 * the handle for a target QP, and holds no use count on the SRQ); its
 * number, and the capabilities granted.
 */
static int xrc_raw_tgt_with_srq(struct ibv_context *ctx, struct ibv_xrcd *xrcd,
				struct ibv_srq *srq, uint32_t *qpn, uint32_t *handle,
				struct ib_uverbs_qp_cap *granted)
{
	struct ib_uverbs_qp_cap cap = { .max_send_wr = 16384, .max_send_sge = 16 };
	struct {
		struct ib_uverbs_ioctl_hdr hdr;
		struct ib_uverbs_attr attr[8];
	} req = {
		.hdr = {
			.length = sizeof(req), .object_id = UVERBS_OBJECT_QP,
			.method_id = UVERBS_METHOD_QP_CREATE, .num_attrs = 8,
		},
		.attr = {
			{ .attr_id = UVERBS_ATTR_CREATE_QP_HANDLE },
			{ .attr_id = UVERBS_ATTR_CREATE_QP_XRCD_HANDLE,
			  .data = ((struct xrc_verbs_xrcd *)xrcd)->handle },
			{ .attr_id = UVERBS_ATTR_CREATE_QP_SRQ_HANDLE, .data = srq->handle },
			{ .attr_id = UVERBS_ATTR_CREATE_QP_USER_HANDLE, .len = 8 },
			{ .attr_id = UVERBS_ATTR_CREATE_QP_TYPE, .len = 8,
			  .data = IB_UVERBS_QPT_XRC_TGT },
			{ .attr_id = UVERBS_ATTR_CREATE_QP_CAP, .len = sizeof(cap),
			  .data = (uintptr_t)&cap },
			{ .attr_id = UVERBS_ATTR_CREATE_QP_RESP_CAP, .len = sizeof(*granted),
			  .data = (uintptr_t)granted },
			{ .attr_id = UVERBS_ATTR_CREATE_QP_RESP_QP_NUM, .len = sizeof(*qpn),
			  .data = (uintptr_t)qpn },
		},
	};

	if (ioctl(ctx->cmd_fd, RDMA_VERBS_IOCTL, &req))
		return errno;
	/* The new object's handle comes back in its attribute. */
	*handle = req.attr[0].data;
	return 0;
}

/* Destroy a QP that libibverbs does not know (xrc_raw_tgt_with_srq()). */
static int xrc_raw_destroy_qp(struct ibv_context *ctx, uint32_t handle)
{
	struct ib_uverbs_destroy_qp_resp resp;
	struct {
		struct ib_uverbs_ioctl_hdr hdr;
		struct ib_uverbs_attr attr[2];
	} req = {
		.hdr = {
			.length = sizeof(req), .object_id = UVERBS_OBJECT_QP,
			.method_id = UVERBS_METHOD_QP_DESTROY, .num_attrs = 2,
		},
		.attr = {
			{ .attr_id = UVERBS_ATTR_DESTROY_QP_HANDLE, .data = handle },
			{ .attr_id = UVERBS_ATTR_DESTROY_QP_RESP, .len = sizeof(resp),
			  .data = (uintptr_t)&resp },
		},
	};

	return ioctl(ctx->cmd_fd, RDMA_VERBS_IOCTL, &req) ? errno : 0;
}

/*
 * A target QP created naming an SRQ has no SRQ of its own: requests it
 * refuses, and the SRQ's destruction after, leave that SRQ alone (they
 * used to drop a reference never taken, then touch it freed).  It gets
 * no send queue either, whatever it asked for.
 */
CHECK_CASE(xrc_tgt_named_srq)
{
	struct ibv_qp_open_attr oa = {
		.comp_mask = IBV_QP_OPEN_ATTR_NUM | IBV_QP_OPEN_ATTR_XRCD |
			     IBV_QP_OPEN_ATTR_TYPE,
		.qp_type = IBV_QPT_XRC_RECV,
	};
	struct ib_uverbs_qp_cap granted = { 1, 1, 1, 1, 1 };
	struct ibv_qp_attr reset = { .qp_state = IBV_QPS_RESET };
	struct ibv_qp *tgt;
	struct ibv_wc wc;
	struct xrc x;
	uint32_t qpn, handle = 0;

	CHECK_EQ(xrc_open(&x, 0), 0);
	CHECK_EQ(xrc_raw_tgt_with_srq(x.d.ctx, x.xrcd, x.srq[0], &qpn, &handle, &granted), 0);
	CHECK_EQ(granted.max_send_wr, 0);
	CHECK_EQ(granted.max_send_sge, 0);
	oa.qp_num = qpn;
	oa.xrcd = x.xrcd;
	tgt = ibv_open_qp(x.d.ctx, &oa);
	CHECK(tgt);
	/* A target QP (opened: it has no PD) has no send queue to bind by. */
	{
		struct ibv_mw *mw = ibv_alloc_mw(x.d.pd, IBV_MW_TYPE_1);
		struct ibv_mw_bind bind = { .wr_id = 1 };

		CHECK(mw);
		CHECK_EQ(ibv_bind_mw(tgt, mw, &bind), EINVAL);
		CHECK_EQ(ibv_dealloc_mw(mw), 0);
	}
	CHECK_EQ(ibv_modify_qp(x.ini, &reset, IBV_QP_STATE), 0);
	CHECK_EQ(xrc_to_rts(&x.d, tgt, x.ini->qp_num, true), 0);
	CHECK_EQ(xrc_to_rts(&x.d, x.ini, qpn, false), 0);
	for (int n = 0; n < 3; n++) {
		struct ibv_sge s = { (uintptr_t)x.ibuf, 64, x.imr->lkey };

		/* No such SRQ: refused, and the QPs connected again. */
		CHECK_EQ(xrc_post(x.ini, IBV_WR_SEND, n, &s, 1,
				  (x.srqn[0] | x.srqn[1]) + 1000, 0, 0, 0), 0);
		CHECK_EQ(xrc_sent(&x, n, IBV_WC_REM_ACCESS_ERR), 0);
		CHECK_EQ(ibv_modify_qp(x.ini, &reset, IBV_QP_STATE), 0);
		CHECK_EQ(ibv_modify_qp(tgt, &reset, IBV_QP_STATE), 0);
		CHECK_EQ(xrc_to_rts(&x.d, tgt, x.ini->qp_num, true), 0);
		CHECK_EQ(xrc_to_rts(&x.d, x.ini, qpn, false), 0);
	}
	/* The SRQ named at creation works as any of the domain's. */
	CHECK_EQ(xrc_recv(&x, 0, 7, 0, 64), 0);
	{
		struct ibv_sge s = { (uintptr_t)x.ibuf, 64, x.imr->lkey };

		CHECK_EQ(xrc_post(x.ini, IBV_WR_SEND, 8, &s, 1, x.srqn[0], 0, 0, 0), 0);
		CHECK_EQ(xrc_sent(&x, 8, IBV_WC_SUCCESS), 0);
		CHECK_EQ(vt_poll(x.cq[0], &wc, 10), 0);
		CHECK_EQ(wc.wr_id, 7);
		CHECK_EQ(wc.qp_num, qpn);
	}
	CHECK_EQ(ibv_destroy_srq(x.srq[0]), 0);
	x.srq[0] = NULL;
	CHECK_EQ(ibv_destroy_qp(tgt), 0);
	/* The QP itself is the creator's: gone with it, the domain closes. */
	CHECK_EQ(xrc_raw_destroy_qp(x.d.ctx, handle), 0);
	xrc_close(&x);
	return 0;
}

struct xrc_stream {
	struct xrc *x;
	int done;		/* WQEs completed */
	int bad;		/* with a status the race cannot give */
};

/* Stream SENDs to SRQ 0 until a WQE fails (its SRQ destroyed) or 2000 went. */
static void *xrc_stream_sends(void *arg)
{
	struct xrc_stream *st = arg;
	struct xrc *x = st->x;
	struct ibv_sge s = { (uintptr_t)x->ibuf, 2000, x->imr->lkey };
	int posted = 0;

	while (st->done < 2000) {
		struct ibv_wc wc;

		while (posted - st->done < 8 &&
		       !xrc_post(x->ini, IBV_WR_SEND, posted, &s, 1, x->srqn[0], 0, 0, 0))
			posted++;
		if (vt_poll(x->icq, &wc, 10))
			break;
		st->done++;
		if (wc.status == IBV_WC_SUCCESS)
			continue;
		if (wc.status != IBV_WC_REM_ACCESS_ERR && wc.status != IBV_WC_WR_FLUSH_ERR &&
		    wc.status != IBV_WC_RNR_RETRY_EXC_ERR)
			st->bad++;
		break;
	}
	return NULL;
}

/*
 * An SRQ destroyed while requests stream to it through the target QP:
 * the target finishes the packet it holds it for, the next one finds no
 * SRQ and is refused; nothing reaches freed memory.
 */
CHECK_CASE(xrc_race_srq_destroy)
{
	struct xrc_stream st = {};
	pthread_t t;
	struct xrc x;

	CHECK_EQ(xrc_open(&x, 0), 0);
	st.x = &x;
	/* Enough receives for the sends before the destroy; then RNR. */
	for (int i = 0; i < DEPTH; i++)
		CHECK_EQ(xrc_recv(&x, 0, i, 0, 4096), 0);
	CHECK_EQ(pthread_create(&t, NULL, xrc_stream_sends, &st), 0);
	usleep(20000);
	CHECK_EQ(ibv_destroy_srq(x.srq[0]), 0);
	x.srq[0] = NULL;
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(st.bad, 0);
	CHECK(st.done > 0);
	xrc_close(&x);
	return 0;
}
