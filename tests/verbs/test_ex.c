// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: the extended verbs.  Extended QPs (ibv_wr_* batches of
 * every opcode, abort, a full ring, bad SGE lists and inline sizes, posts
 * before RTS), extended CQs (ibv_start_poll/next_poll/end_poll and every
 * read_* field against what ibv_poll_cq says), and QP creation with many
 * random capability sets within the device's limits (and past them).
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <rdma/sodp-abi.h>

#include "../lib/check.h"
#include "vt.h"

#define BUF (1 << 20)
#define QKEY 0x11111111

#define RC_OPS (IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM |	\
		IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM | \
		IBV_QP_EX_WITH_RDMA_READ | IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP | \
		IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD)
#define UD_OPS (IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM)

static struct ibv_cq *cq_ex_create(struct vt_dev *d, int cqe)
{
	struct ibv_cq_init_attr_ex attr = {
		.cqe = cqe, .wc_flags = IBV_WC_STANDARD_FLAGS,
	};
	struct ibv_cq_ex *cq = ibv_create_cq_ex(d->ctx, &attr);

	return cq ? ibv_cq_ex_to_cq(cq) : NULL;
}

/* The inverse of ibv_cq_ex_to_cq(), which is a cast: the two share a head. */
static struct ibv_cq_ex *cq_to_ex(struct ibv_cq *cq)
{
	return (struct ibv_cq_ex *)cq;
}

/* A QP made by ibv_create_qp_ex with ops, on extended CQs. */
static int qp_ex_create(struct vt_dev *d, struct vt_qp *q, enum ibv_qp_type type,
			int depth, uint64_t ops)
{
	struct ibv_qp_init_attr_ex init = {
		.qp_type = type,
		.cap = {
			.max_send_wr = depth, .max_recv_wr = depth,
			.max_send_sge = 4, .max_recv_sge = 4, .max_inline_data = 64,
		},
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = d->pd,
		.send_ops_flags = ops,
	};

	memset(q, 0, sizeof(*q));
	q->scq = cq_ex_create(d, depth);
	q->rcq = cq_ex_create(d, depth);
	if (!q->scq || !q->rcq)
		return -1;
	init.send_cq = q->scq;
	init.recv_cq = q->rcq;
	q->qp = ibv_create_qp_ex(d->ctx, &init);
	return q->qp && ibv_qp_to_qp_ex(q->qp) ? 0 : -1;
}

/* Poll n completions through the extended CQ API, within 10 s. */
static int poll_ex(struct ibv_cq *cq, struct ibv_wc *wc, int n)
{
	struct ibv_cq_ex *cqx = cq_to_ex(cq);
	struct ibv_poll_cq_attr attr = {};
	double end = now_s() + 10;
	int got = 0;

	while (got < n) {
		int ret = ibv_start_poll(cqx, &attr);

		if (ret == ENOENT) {
			if (now_s() > end)
				return got;
			continue;
		}
		if (ret)
			return -1;
		do {
			struct ibv_wc *w = &wc[got++];

			memset(w, 0, sizeof(*w));
			w->wr_id = cqx->wr_id;
			w->status = cqx->status;
			w->opcode = ibv_wc_read_opcode(cqx);
			w->vendor_err = ibv_wc_read_vendor_err(cqx);
			w->byte_len = ibv_wc_read_byte_len(cqx);
			w->imm_data = ibv_wc_read_imm_data(cqx);
			w->qp_num = ibv_wc_read_qp_num(cqx);
			w->src_qp = ibv_wc_read_src_qp(cqx);
			w->wc_flags = ibv_wc_read_wc_flags(cqx);
			w->slid = ibv_wc_read_slid(cqx);
			w->sl = ibv_wc_read_sl(cqx);
			w->dlid_path_bits = ibv_wc_read_dlid_path_bits(cqx);
		} while (got < n && !(ret = ibv_next_poll(cqx)));
		ibv_end_poll(cqx);
		if (ret && ret != ENOENT)
			return -1;
	}
	return got;
}

/* a extended, b plain. */
static int ex_rc_open(struct vt_link *p, int depth)
{
	memset(p, 0, sizeof(*p));
	CHECK_EQ(vt_open(&p->d), 0);
	CHECK_EQ(qp_ex_create(&p->d, &p->a, IBV_QPT_RC, depth, RC_OPS), 0);
	CHECK_EQ(vt_qp_create(&p->d, &p->b, IBV_QPT_RC, depth, NULL, false), 0);
	CHECK_EQ(vt_connect(&p->d, &p->a, &p->b), 0);
	CHECK_EQ(vt_link_mem(p, BUF), 0);
	return 0;
}

/* One batch of every RC opcode, each completion and byte checked. */
static int ex_rc_batch(struct vt_link *p, unsigned int round)
{
	uint64_t *cas = (uint64_t *)(p->bbuf + 500000);
	uint64_t *faa = cas + 1;
	uint64_t *res = (uint64_t *)(p->abuf + 500000);
	struct ibv_qp_ex *x = ibv_qp_to_qp_ex(p->a.qp);
	char inl1[10], inl2[20], inl3[33];
	struct ibv_data_buf bufs[2] = { { inl1, sizeof(inl1) }, { inl2, sizeof(inl2) } };
	struct ibv_sge sges[3], rs;
	struct ibv_wc wc[8];
	uint32_t lk = p->amr->lkey, rk = p->bmr->rkey;
	uint64_t rb = (uintptr_t)p->bbuf;

	for (int i = 0; i < 3; i++)
		sges[i] = (struct ibv_sge){ (uintptr_t)p->abuf + 7 + 6000 * i, 5000, lk };
	fill_pattern(p->abuf + 7, 17000, round, 0);
	fill_pattern(inl1, sizeof(inl1), round + 1, 0);
	fill_pattern(inl2, sizeof(inl2), round + 2, 0);
	fill_pattern(inl3, sizeof(inl3), round + 3, 0);
	fill_pattern(p->abuf + 100000, 70000, round + 4, 0);
	fill_pattern(p->bbuf + 400000, 9000, round + 5, 0);
	*cas = 7 + round;
	*faa = 10;
	/* Three receives at b: the two sends and the write with immediate. */
	for (int i = 0; i < 3; i++) {
		rs = (struct ibv_sge){ (uintptr_t)p->bbuf + 20000 * i, 20000, p->bmr->lkey };
		CHECK_EQ(vt_post_recv(p->b.qp, 100 + i, &rs, 1), 0);
	}

	ibv_wr_start(x);
	x->wr_flags = IBV_SEND_SIGNALED;
	x->wr_id = 1;
	ibv_wr_send(x);
	ibv_wr_set_sge_list(x, 3, sges);
	x->wr_id = 2;
	ibv_wr_send_imm(x, htobe32(0x1234));
	ibv_wr_set_inline_data_list(x, 2, bufs);
	/* Unsignaled: no completion of its own. */
	x->wr_id = 3;
	x->wr_flags = 0;
	ibv_wr_rdma_write(x, rk, rb + 200000);
	ibv_wr_set_sge(x, lk, (uintptr_t)p->abuf + 100000, 70000);
	x->wr_flags = IBV_SEND_SIGNALED;
	x->wr_id = 4;
	ibv_wr_rdma_write_imm(x, rk, rb + 300000, htobe32(0x5678));
	ibv_wr_set_inline_data(x, inl3, sizeof(inl3));
	x->wr_id = 5;
	ibv_wr_rdma_read(x, rk, rb + 400000);
	ibv_wr_set_sge(x, lk, (uintptr_t)p->abuf + 400000, 9000);
	x->wr_id = 6;
	ibv_wr_atomic_cmp_swp(x, rk, rb + 500000, 7 + round, 99);
	ibv_wr_set_sge(x, lk, (uintptr_t)res, 8);
	x->wr_id = 7;
	ibv_wr_atomic_fetch_add(x, rk, rb + 500008, 5);
	ibv_wr_set_sge(x, lk, (uintptr_t)(res + 1), 8);
	CHECK_EQ(ibv_wr_complete(x), 0);

	CHECK_EQ(poll_ex(p->a.scq, wc, 6), 6);
	{
		static const uint64_t ids[] = { 1, 2, 4, 5, 6, 7 };
		static const enum ibv_wc_opcode ops[] = {
			IBV_WC_SEND, IBV_WC_SEND, IBV_WC_RDMA_WRITE,
			IBV_WC_RDMA_READ, IBV_WC_COMP_SWAP, IBV_WC_FETCH_ADD,
		};

		for (int i = 0; i < 6; i++) {
			CHECK_EQ(wc[i].status, IBV_WC_SUCCESS);
			CHECK_EQ(wc[i].wr_id, ids[i]);
			CHECK_EQ(wc[i].opcode, ops[i]);
			CHECK_EQ(wc[i].qp_num, p->a.qp->qp_num);
		}
	}
	/* b's side through ibv_poll_cq. */
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(vt_poll(p->b.rcq, &wc[i], 10), 0);
		CHECK_EQ(wc[i].status, IBV_WC_SUCCESS);
		CHECK_EQ(wc[i].wr_id, 100 + i);
	}
	CHECK_EQ(wc[0].opcode, IBV_WC_RECV);
	CHECK_EQ(wc[0].byte_len, 15000);
	CHECK_EQ(wc[0].wc_flags & IBV_WC_WITH_IMM, 0);
	CHECK_EQ(wc[1].opcode, IBV_WC_RECV);
	CHECK_EQ(wc[1].byte_len, 30);
	CHECK(wc[1].wc_flags & IBV_WC_WITH_IMM);
	CHECK_EQ(be32toh(wc[1].imm_data), 0x1234);
	CHECK_EQ(wc[2].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
	CHECK_EQ(wc[2].byte_len, 33);
	CHECK_EQ(be32toh(wc[2].imm_data), 0x5678);

	for (int i = 0; i < 3; i++)
		CHECK_EQ(memcmp(p->bbuf + 5000 * i, p->abuf + 7 + 6000 * i, 5000), 0);
	CHECK_EQ(memcmp(p->bbuf + 20000, inl1, sizeof(inl1)), 0);
	CHECK_EQ(memcmp(p->bbuf + 20000 + sizeof(inl1), inl2, sizeof(inl2)), 0);
	CHECK_EQ(check_pattern(p->bbuf + 200000, 70000, round + 4, 0), -1);
	CHECK_EQ(memcmp(p->bbuf + 300000, inl3, sizeof(inl3)), 0);
	CHECK_EQ(check_pattern(p->abuf + 400000, 9000, round + 5, 0), -1);
	CHECK_EQ(res[0], 7 + round);
	CHECK_EQ(*cas, 99);
	CHECK_EQ(res[1], 10);
	CHECK_EQ(*faa, 15);
	return 0;
}

CHECK_CASE(qp_ex_rc)
{
	struct ibv_sge sges[SODP_MAX_SGE + 1];
	char big[SODP_MAX_INLINE + 1] = {};
	struct ibv_qp_attr qa;
	struct ibv_qp_init_attr qi;
	struct ibv_send_wr wr = {}, *bad;
	struct ibv_recv_wr rwr = {}, *rbad;
	struct vt_link p;
	struct ibv_qp_ex *x;
	unsigned int depth;

	CHECK_EQ(ex_rc_open(&p, 16), 0);
	x = ibv_qp_to_qp_ex(p.a.qp);
	for (unsigned int round = 0; round < 4; round++)
		CHECK_EQ(ex_rc_batch(&p, round), 0);

	/* Aborted: nothing is posted, and the ring's slots are reused. */
	ibv_wr_start(x);
	x->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(x, p.bmr->rkey, (uintptr_t)p.bbuf);
	ibv_wr_set_sge(x, p.amr->lkey, (uintptr_t)p.abuf, 8);
	ibv_wr_abort(x);
	CHECK(vt_no_completion(p.a.scq, 0.3));

	/* More than the ring holds: ENOMEM, and none of the batch is posted. */
	CHECK_EQ(ibv_query_qp(p.a.qp, &qa, IBV_QP_CAP, &qi), 0);
	depth = qa.cap.max_send_wr;
	ibv_wr_start(x);
	for (unsigned int i = 0; i <= depth; i++) {
		ibv_wr_rdma_write(x, p.bmr->rkey, (uintptr_t)p.bbuf);
		ibv_wr_set_sge(x, p.amr->lkey, (uintptr_t)p.abuf, 8);
	}
	CHECK_EQ(ibv_wr_complete(x), ENOMEM);
	CHECK(vt_no_completion(p.a.scq, 0.3));

	/* Too many SGEs, too much inline data: EINVAL for the whole batch. */
	for (int i = 0; i <= SODP_MAX_SGE; i++)
		sges[i] = (struct ibv_sge){ (uintptr_t)p.abuf + i, 1, p.amr->lkey };
	ibv_wr_start(x);
	ibv_wr_rdma_write(x, p.bmr->rkey, (uintptr_t)p.bbuf);
	ibv_wr_set_sge(x, p.amr->lkey, (uintptr_t)p.abuf, 8);
	ibv_wr_rdma_write(x, p.bmr->rkey, (uintptr_t)p.bbuf);
	ibv_wr_set_sge_list(x, SODP_MAX_SGE + 1, sges);
	CHECK_EQ(ibv_wr_complete(x), EINVAL);
	ibv_wr_start(x);
	ibv_wr_rdma_write(x, p.bmr->rkey, (uintptr_t)p.bbuf);
	ibv_wr_set_inline_data(x, big, qi.cap.max_inline_data + 1);
	CHECK_EQ(ibv_wr_complete(x), EINVAL);
	CHECK(vt_no_completion(p.a.scq, 0.3));

	/* And the QP still works, from where it was. */
	CHECK_EQ(ex_rc_batch(&p, 9), 0);

	/* Not before RTS: sends refused in RESET, INIT, RTR; receives in RESET. */
	qa.qp_state = IBV_QPS_RESET;
	CHECK_EQ(ibv_modify_qp(p.a.qp, &qa, IBV_QP_STATE), 0);
	ibv_wr_start(x);
	ibv_wr_send(x);
	ibv_wr_set_sge(x, p.amr->lkey, (uintptr_t)p.abuf, 8);
	CHECK_EQ(ibv_wr_complete(x), EINVAL);
	wr.opcode = IBV_WR_SEND;
	CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), EINVAL);
	CHECK(bad == &wr);
	CHECK_EQ(ibv_post_recv(p.a.qp, &rwr, &rbad), EINVAL);
	CHECK(rbad == &rwr);
	qa = (struct ibv_qp_attr){ .qp_state = IBV_QPS_INIT, .port_num = 1 };
	CHECK_EQ(ibv_modify_qp(p.a.qp, &qa, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			       IBV_QP_PORT | IBV_QP_ACCESS_FLAGS), 0);
	CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), EINVAL);
	CHECK_EQ(ibv_post_recv(p.a.qp, &rwr, &rbad), 0);
	CHECK(vt_no_completion(p.a.scq, 0.2));
	vt_link_close(&p);
	return 0;
}

CHECK_CASE(qp_ex_ud)
{
	struct vt_link l = {};
	struct ibv_qp_ex *x;
	struct ibv_ah *ah;
	struct ibv_wc wc[2];
	struct ibv_sge rs;
	char inl[16];

	CHECK_EQ(vt_open(&l.d), 0);
	CHECK_EQ(qp_ex_create(&l.d, &l.a, IBV_QPT_UD, 8, UD_OPS), 0);
	CHECK_EQ(vt_qp_create(&l.d, &l.b, IBV_QPT_UD, 8, NULL, false), 0);
	CHECK_EQ(vt_ud_ready(&l.a, QKEY), 0);
	CHECK_EQ(vt_ud_ready(&l.b, QKEY), 0);
	CHECK(ah = vt_ah(&l.d));
	CHECK_EQ(vt_link_mem(&l, 4096), 0);
	fill_pattern(l.abuf, 100, 1, 0);
	fill_pattern(inl, sizeof(inl), 2, 0);
	for (int i = 0; i < 2; i++) {
		rs = (struct ibv_sge){ (uintptr_t)l.bbuf + 1024 * i, 1024, l.bmr->lkey };
		CHECK_EQ(vt_post_recv(l.b.qp, 10 + i, &rs, 1), 0);
	}
	x = ibv_qp_to_qp_ex(l.a.qp);
	ibv_wr_start(x);
	x->wr_flags = IBV_SEND_SIGNALED;
	x->wr_id = 1;
	ibv_wr_send(x);
	ibv_wr_set_ud_addr(x, ah, l.b.qp->qp_num, QKEY);
	ibv_wr_set_sge(x, l.amr->lkey, (uintptr_t)l.abuf, 100);
	x->wr_id = 2;
	ibv_wr_send_imm(x, htobe32(42));
	ibv_wr_set_ud_addr(x, ah, l.b.qp->qp_num, QKEY);
	ibv_wr_set_inline_data(x, inl, sizeof(inl));
	CHECK_EQ(ibv_wr_complete(x), 0);
	CHECK_EQ(poll_ex(l.a.scq, wc, 2), 2);
	CHECK_EQ(wc[0].status, IBV_WC_SUCCESS);
	CHECK_EQ(wc[0].wr_id, 1);
	CHECK_EQ(wc[1].status, IBV_WC_SUCCESS);
	CHECK_EQ(wc[1].wr_id, 2);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(vt_poll(l.b.rcq, &wc[i], 10), 0);
		CHECK_EQ(wc[i].status, IBV_WC_SUCCESS);
		CHECK_EQ(wc[i].src_qp, l.a.qp->qp_num);
		CHECK(wc[i].wc_flags & IBV_WC_GRH);
	}
	CHECK_EQ(wc[0].byte_len, 40 + 100);
	CHECK_EQ(check_pattern(l.bbuf + 40, 100, 1, 0), -1);
	CHECK_EQ(wc[1].byte_len, 40 + sizeof(inl));
	CHECK_EQ(be32toh(wc[1].imm_data), 42);
	CHECK_EQ(memcmp(l.bbuf + 1024 + 40, inl, sizeof(inl)), 0);

	/* No address: the batch is refused. */
	ibv_wr_start(x);
	ibv_wr_send(x);
	ibv_wr_set_ud_addr(x, NULL, l.b.qp->qp_num, QKEY);
	ibv_wr_set_sge(x, l.amr->lkey, (uintptr_t)l.abuf, 100);
	CHECK_EQ(ibv_wr_complete(x), EINVAL);
	CHECK(vt_no_completion(l.a.scq, 0.2));

	ibv_destroy_ah(ah);
	vt_link_close(&l);
	return 0;
}

/* An extended CQ says what ibv_poll_cq says of the same completions. */
CHECK_CASE(cq_ex)
{
	struct ibv_cq_init_attr_ex bad_attr = { .cqe = 4 };
	struct ibv_poll_cq_attr pattr = {};
	struct vt_link l = {};
	struct ibv_wc wx[4], wl[4];
	struct ibv_sge s, rs;

	CHECK_EQ(vt_open(&l.d), 0);
	/* What is not supported says so. */
	bad_attr.wc_flags = IBV_WC_EX_WITH_FLOW_TAG;
	CHECK(!ibv_create_cq_ex(l.d.ctx, &bad_attr));
	CHECK_EQ(errno, EOPNOTSUPP);
	bad_attr.wc_flags = 0;
	bad_attr.comp_mask = IBV_CQ_INIT_ATTR_MASK_FLAGS;
	bad_attr.flags = IBV_CREATE_CQ_ATTR_IGNORE_OVERRUN;
	CHECK(!ibv_create_cq_ex(l.d.ctx, &bad_attr));
	CHECK_EQ(errno, EOPNOTSUPP);
	bad_attr.flags = IBV_CREATE_CQ_ATTR_SINGLE_THREADED;
	{
		struct ibv_cq_ex *cq = ibv_create_cq_ex(l.d.ctx, &bad_attr);

		CHECK(cq);
		CHECK_EQ(ibv_start_poll(cq, &pattr), ENOENT);
		CHECK_EQ(ibv_destroy_cq(ibv_cq_ex_to_cq(cq)), 0);
	}

	/* Two of the same sends: one polled each way, on each side. */
	CHECK_EQ(qp_ex_create(&l.d, &l.a, IBV_QPT_RC, 8, RC_OPS), 0);
	CHECK_EQ(qp_ex_create(&l.d, &l.b, IBV_QPT_RC, 8, RC_OPS), 0);
	CHECK_EQ(vt_connect(&l.d, &l.a, &l.b), 0);
	CHECK_EQ(vt_link_mem(&l, 8192), 0);
	s = (struct ibv_sge){ (uintptr_t)l.abuf, 3000, l.amr->lkey };
	for (int i = 0; i < 4; i++) {
		struct ibv_send_wr wr = {
			.wr_id = 50 + i, .sg_list = &s, .num_sge = 1,
			.opcode = IBV_WR_SEND_WITH_IMM, .imm_data = htobe32(77),
			.send_flags = IBV_SEND_SIGNALED,
		}, *bad;

		rs = (struct ibv_sge){ (uintptr_t)l.bbuf + 2048 * (i & 1), 4000, l.bmr->lkey };
		CHECK_EQ(vt_post_recv(l.b.qp, 60 + i, &rs, 1), 0);
		CHECK_EQ(ibv_post_send(l.a.qp, &wr, &bad), 0);
	}
	CHECK_EQ(poll_ex(l.a.scq, wx, 2), 2);
	CHECK_EQ(vt_poll(l.a.scq, &wl[0], 10), 0);
	CHECK_EQ(vt_poll(l.a.scq, &wl[1], 10), 0);
	CHECK_EQ(poll_ex(l.b.rcq, wx + 2, 2), 2);
	CHECK_EQ(vt_poll(l.b.rcq, &wl[2], 10), 0);
	CHECK_EQ(vt_poll(l.b.rcq, &wl[3], 10), 0);
	for (int i = 0; i < 4; i++) {
		/* The same, but for wr_id: the later two went to ibv_poll_cq. */
		CHECK_EQ(wx[i].wr_id, (i < 2 ? 50 : 58) + i);
		CHECK_EQ(wl[i].wr_id, wx[i].wr_id + 2);
		CHECK_EQ(wx[i].status, IBV_WC_SUCCESS);
		CHECK_EQ(wx[i].opcode, wl[i].opcode);
		CHECK_EQ(wx[i].qp_num, wl[i].qp_num);
		CHECK_EQ(wx[i].src_qp, wl[i].src_qp);
		CHECK_EQ(wx[i].wc_flags, wl[i].wc_flags);
		CHECK_EQ(wx[i].slid, wl[i].slid);
		CHECK_EQ(wx[i].sl, wl[i].sl);
		CHECK_EQ(wx[i].dlid_path_bits, wl[i].dlid_path_bits);
		CHECK_EQ(wx[i].vendor_err, wl[i].vendor_err);
		if (i >= 2) {
			CHECK_EQ(wx[i].byte_len, 3000);
			CHECK_EQ(wx[i].byte_len, wl[i].byte_len);
			CHECK_EQ(be32toh(wx[i].imm_data), 77);
			CHECK_EQ(wx[i].imm_data, wl[i].imm_data);
		}
	}
	CHECK(vt_no_completion(l.a.scq, 0.1));
	CHECK_EQ(ibv_start_poll(cq_to_ex(l.a.scq), &pattr), ENOENT);

	vt_link_close(&l);
	return 0;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return t.tv_sec * 1000000000ULL + t.tv_nsec;
}

/*
 * Completion timestamps: when the completion was written, on the clock
 * ibv_query_rt_values_ex() reads (nanoseconds: hca_core_clock is 1 GHz),
 * and on the real-time clock.
 */
CHECK_CASE(cq_ex_timestamps)
{
	struct ibv_cq_init_attr_ex attr = {
		.cqe = 8, .wc_flags = IBV_WC_STANDARD_FLAGS |
				      IBV_WC_EX_WITH_COMPLETION_TIMESTAMP |
				      IBV_WC_EX_WITH_COMPLETION_TIMESTAMP_WALLCLOCK,
	};
	struct ibv_values_ex v = { .comp_mask = IBV_VALUES_MASK_RAW_CLOCK };
	struct ibv_poll_cq_attr pattr = {};
	struct ibv_device_attr_ex dx;
	uint64_t mono0, real0, mono1, real1, ts, wall, prev = 0;
	struct vt_dev d;
	struct vt_qp a, b;
	struct ibv_cq_ex *cq;
	struct ibv_mr *mr;
	struct ibv_sge s;
	char buf[64];

	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(ibv_query_device_ex(d.ctx, NULL, &dx), 0);
	CHECK_EQ(dx.hca_core_clock, 1000000);
	CHECK(dx.completion_timestamp_mask);
	CHECK(cq = ibv_create_cq_ex(d.ctx, &attr));
	CHECK_EQ(vt_qp_create(&d, &a, IBV_QPT_RC, 8, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&d, &b, IBV_QPT_RC, 8, NULL, false), 0);
	/* a's sends complete on the timestamped CQ. */
	ibv_destroy_qp(a.qp);
	{
		struct ibv_qp_init_attr init = {
			.send_cq = ibv_cq_ex_to_cq(cq), .recv_cq = a.rcq,
			.qp_type = IBV_QPT_RC,
			.cap = { .max_send_wr = 8, .max_recv_wr = 8,
				 .max_send_sge = 1, .max_recv_sge = 1 },
		};

		CHECK(a.qp = ibv_create_qp(d.pd, &init));
	}
	CHECK_EQ(vt_connect(&d, &a, &b), 0);
	CHECK(mr = ibv_reg_mr(d.pd, buf, sizeof(buf), VT_ALL_ACCESS));
	s = (struct ibv_sge){ (uintptr_t)buf, 8, mr->lkey };
	for (int i = 0; i < 4; i++) {
		mono0 = clock_ns(CLOCK_MONOTONIC);
		real0 = clock_ns(CLOCK_REALTIME);
		CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, i, &s, 1,
				      (uintptr_t)buf + 8, mr->rkey, 0), 0);
		while (ibv_start_poll(cq, &pattr) == ENOENT)
			;
		CHECK_EQ(cq->status, IBV_WC_SUCCESS);
		ts = ibv_wc_read_completion_ts(cq);
		wall = ibv_wc_read_completion_wallclock_ns(cq);
		ibv_end_poll(cq);
		mono1 = clock_ns(CLOCK_MONOTONIC);
		real1 = clock_ns(CLOCK_REALTIME);
		CHECK_EQ(ibv_query_rt_values_ex(d.ctx, &v), 0);
		CHECK(ts >= mono0 && ts <= mono1);
		CHECK(ts > prev);
		CHECK((uint64_t)v.raw_clock.tv_nsec >= ts);
		/* Moved across clocks read one after the other: 10 ms of slack. */
		CHECK(wall + 10000000 >= real0 && wall <= real1 + 10000000);
		prev = ts;
	}
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	CHECK_EQ(ibv_destroy_cq(ibv_cq_ex_to_cq(cq)), 0);
	CHECK_EQ(ibv_dereg_mr(mr), 0);
	vt_close(&d);
	return 0;
}

/*
 * rdma-core's test_qp draws QP capabilities at random within the device's
 * limits: every such set must be accepted, and each limit passed refused
 * with EINVAL; what is not supported at all, with EOPNOTSUPP.
 */
CHECK_CASE(qp_create_random_caps)
{
	unsigned int seed = getenv("SODP_TEST_SEED") ? atoi(getenv("SODP_TEST_SEED")) : 1;
	struct ibv_device_attr da;
	struct vt_dev d;
	struct ibv_cq *cq;

	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(ibv_query_device(d.ctx, &da), 0);
	CHECK(cq = ibv_create_cq(d.ctx, 16, NULL, NULL, 0));
	printf("seed %u\n", seed);
	srandom(seed);
	for (int i = 0; i < 300; i++) {
		bool rc = random() & 1;
		struct ibv_qp_init_attr_ex init = {
			.qp_type = rc ? IBV_QPT_RC : IBV_QPT_UD,
			.send_cq = cq, .recv_cq = cq, .pd = d.pd,
			.sq_sig_all = random() & 1,
			.cap = {
				.max_send_wr = 1 + random() % da.max_qp_wr,
				.max_recv_wr = 1 + random() % da.max_qp_wr,
				.max_send_sge = random() % (da.max_sge + 1),
				.max_recv_sge = random() % (da.max_sge + 1),
				.max_inline_data = random() % (SODP_MAX_INLINE + 1),
			},
			.comp_mask = IBV_QP_INIT_ATTR_PD,
		};
		struct ibv_qp *qp;

		if (random() & 1)
			init.comp_mask |= IBV_QP_INIT_ATTR_CREATE_FLAGS;
		if (random() & 1) {
			init.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
			init.send_ops_flags = random() & (rc ? RC_OPS : UD_OPS);
		}
		qp = ibv_create_qp_ex(d.ctx, &init);
		if (!qp)
			fprintf(stderr, "draw %d: %s wr %u/%u sge %u/%u inline %u mask %#x: %s\n",
				i, rc ? "RC" : "UD", init.cap.max_send_wr,
				init.cap.max_recv_wr, init.cap.max_send_sge,
				init.cap.max_recv_sge, init.cap.max_inline_data,
				init.comp_mask, strerror(errno));
		CHECK(qp);
		CHECK(init.cap.max_send_wr >= 1);
		CHECK_EQ(ibv_destroy_qp(qp), 0);
	}

	for (int limit = 0; limit < 5; limit++) {
		struct ibv_qp_init_attr_ex init = {
			.qp_type = IBV_QPT_RC, .send_cq = cq, .recv_cq = cq,
			.pd = d.pd, .comp_mask = IBV_QP_INIT_ATTR_PD,
			.cap = { .max_send_wr = 1, .max_recv_wr = 1 },
		};

		switch (limit) {
		case 0:
			init.cap.max_send_wr = da.max_qp_wr + 1;
			break;
		case 1:
			init.cap.max_recv_wr = da.max_qp_wr + 1;
			break;
		case 2:
			init.cap.max_send_sge = da.max_sge + 1;
			break;
		case 3:
			init.cap.max_recv_sge = da.max_sge + 1;
			break;
		default:
			init.cap.max_inline_data = SODP_MAX_INLINE + 1;
			break;
		}
		errno = 0;
		CHECK(!ibv_create_qp_ex(d.ctx, &init));
		CHECK_EQ(errno, EINVAL);
	}
	{
		struct ibv_qp_init_attr_ex init = {
			.qp_type = IBV_QPT_RC, .send_cq = cq, .recv_cq = cq,
			.pd = d.pd, .cap = { .max_send_wr = 1, .max_recv_wr = 1 },
			.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
			.send_ops_flags = IBV_QP_EX_WITH_TSO,
		};

		CHECK(!ibv_create_qp_ex(d.ctx, &init));
		CHECK_EQ(errno, EOPNOTSUPP);
		init.qp_type = IBV_QPT_UD;
		init.send_ops_flags = IBV_QP_EX_WITH_RDMA_WRITE;
		CHECK(!ibv_create_qp_ex(d.ctx, &init));
		CHECK_EQ(errno, EOPNOTSUPP);
		init.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_CREATE_FLAGS;
		init.create_flags = IBV_QP_CREATE_SCATTER_FCS;
		CHECK(!ibv_create_qp_ex(d.ctx, &init));
		CHECK_EQ(errno, EOPNOTSUPP);
	}
	ibv_destroy_cq(cq);
	vt_close(&d);
	return 0;
}

/* One atomic write of @bytes to @raddr through @rkey; its completion's status. */
static int atomic_write_one(struct vt_link *p, uint64_t id, const void *bytes,
			    uint64_t raddr, uint32_t rkey, enum ibv_wc_status *status)
{
	struct ibv_qp_ex *x = ibv_qp_to_qp_ex(p->a.qp);
	struct ibv_wc wc;

	ibv_wr_start(x);
	x->wr_id = id;
	x->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_write(x, rkey, raddr, bytes);
	CHECK_EQ(ibv_wr_complete(x), 0);
	CHECK_EQ(poll_ex(p->a.scq, &wc, 1), 1);
	CHECK_EQ(wc.wr_id, id);
	*status = wc.status;
	if (wc.status == IBV_WC_SUCCESS)
		CHECK_EQ(wc.opcode, IBV_WC_ATOMIC_WRITE);
	return 0;
}

/*
 * Atomic write (ibv_wr_atomic_write): 8 bytes stored whole at an aligned
 * address of a region the requester may write, byte for byte; refused
 * unaligned (remote invalid request) and without remote write rights
 * (remote access error); not postable by ibv_post_send, which has no
 * field for its bytes; advertised.
 */
CHECK_CASE(atomic_write)
{
	const uint8_t bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 0xfe };
	struct ibv_device_attr_ex dx;
	enum ibv_wc_status status;
	struct ibv_send_wr wr = { .opcode = IBV_WR_ATOMIC_WRITE }, *bad;
	struct ibv_mr *ro;
	struct vt_link p;

	memset(&p, 0, sizeof(p));
	CHECK_EQ(vt_open(&p.d), 0);
	CHECK_EQ(ibv_query_device_ex(p.d.ctx, NULL, &dx), 0);
	CHECK(dx.device_cap_flags_ex & (1ULL << 40));	/* ..._DEVICE_ATOMIC_WRITE */
	CHECK_EQ(qp_ex_create(&p.d, &p.a, IBV_QPT_RC, 16, RC_OPS | IBV_QP_EX_WITH_ATOMIC_WRITE), 0);
	CHECK_EQ(vt_qp_create(&p.d, &p.b, IBV_QPT_RC, 16, NULL, false), 0);
	CHECK_EQ(vt_connect(&p.d, &p.a, &p.b), 0);
	CHECK_EQ(vt_link_mem(&p, BUF), 0);

	memset(p.bbuf, 0x5a, 64);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(atomic_write_one(&p, i, bytes, (uintptr_t)p.bbuf + 8 * i,
					  p.bmr->rkey, &status), 0);
		CHECK_EQ(status, IBV_WC_SUCCESS);
		CHECK_EQ(memcmp(p.bbuf + 8 * i, bytes, 8), 0);
	}
	CHECK_EQ((uint8_t)p.bbuf[32], 0x5a);

	/* Not aligned: an invalid request, nothing written. */
	CHECK_EQ(atomic_write_one(&p, 10, bytes, (uintptr_t)p.bbuf + 36, p.bmr->rkey,
				  &status), 0);
	CHECK_EQ(status, IBV_WC_REM_INV_REQ_ERR);
	CHECK_EQ((uint8_t)p.bbuf[36], 0x5a);
	CHECK_EQ(vt_reconnect(&p.d, &p.a, &p.b), 0);

	/* A region without remote write rights: a remote access error. */
	ro = ibv_reg_mr(p.d.pd, p.bbuf + 4096, 4096,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
			IBV_ACCESS_REMOTE_ATOMIC);
	CHECK(ro);
	CHECK_EQ(atomic_write_one(&p, 11, bytes, (uintptr_t)p.bbuf + 4096, ro->rkey,
				  &status), 0);
	CHECK_EQ(status, IBV_WC_REM_ACCESS_ERR);
	CHECK_EQ((uint8_t)p.bbuf[4096], 0);
	CHECK_EQ(ibv_dereg_mr(ro), 0);
	CHECK_EQ(vt_reconnect(&p.d, &p.a, &p.b), 0);

	/* The legacy post has no field for its bytes. */
	CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), EINVAL);
	CHECK_EQ(atomic_write_one(&p, 12, bytes, (uintptr_t)p.bbuf + 48, p.bmr->rkey,
				  &status), 0);
	CHECK_EQ(status, IBV_WC_SUCCESS);
	CHECK_EQ(memcmp(p.bbuf + 48, bytes, 8), 0);
	vt_link_close(&p);
	return 0;
}
