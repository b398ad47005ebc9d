// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: UC QPs.  SEND and WRITE (with immediate data), data
 * checked across packets and SGEs; what UC cannot do refused; and what
 * no NAK can tell: a message with no receive WQE, or with a bad R_Key, is
 * dropped at the responder while the sender completes it, and both QPs
 * go on; a receive the message does not fit fails the receiver alone.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/check.h"
#include "vt.h"

#define BUF (1 << 20)

/* RESET to RTS towards dqpn, with the attributes UC takes. */
static int uc_to_rts(struct vt_dev *d, struct ibv_qp *qp, uint32_t dqpn)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = d->path_mtu;
	a.dest_qp_num = dqpn;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = d->gid;
	a.ah_attr.grh.sgid_index = d->gid_index;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN) ? -1 : 0;
}

static int uc_open(struct vt_link *p)
{
	memset(p, 0, sizeof(*p));
	CHECK_EQ(vt_open(&p->d), 0);
	CHECK_EQ(vt_qp_create(&p->d, &p->a, IBV_QPT_UC, 16, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&p->d, &p->b, IBV_QPT_UC, 16, NULL, false), 0);
	CHECK_EQ(uc_to_rts(&p->d, p->a.qp, p->b.qp->qp_num), 0);
	CHECK_EQ(uc_to_rts(&p->d, p->b.qp, p->a.qp->qp_num), 0);
	CHECK_EQ(vt_link_mem(p, BUF), 0);
	return 0;
}

/* A signaled send of abuf[off, off+len) with immediate data imm (or none). */
static int uc_send(struct vt_link *p, uint64_t id, size_t off, size_t len, uint32_t imm)
{
	struct ibv_sge s[2] = {
		{ (uintptr_t)p->abuf + off, len / 2, p->amr->lkey },
		{ (uintptr_t)p->abuf + off + len / 2, len - len / 2, p->amr->lkey },
	};
	struct ibv_send_wr wr = {
		.wr_id = id, .sg_list = s, .num_sge = 2,
		.opcode = imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED, .imm_data = htobe32(imm),
	}, *bad;
	struct ibv_wc wc;

	CHECK_EQ(ibv_post_send(p->a.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(p->a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.wr_id, id);
	CHECK_EQ(wc.opcode, IBV_WC_SEND);
	return 0;
}

CHECK_CASE(uc_ops)
{
	struct ibv_sge rs;
	struct ibv_wc wc;
	struct vt_link p;

	CHECK_EQ(uc_open(&p), 0);
	/* SEND of several packets, with and without immediate data. */
	for (int i = 0; i < 2; i++) {
		size_t len = i ? 1000 : 70001;

		fill_pattern(p.abuf + 5, len, i, 0);
		rs = (struct ibv_sge){ (uintptr_t)p.bbuf + 3, 100000, p.bmr->lkey };
		CHECK_EQ(vt_post_recv(p.b.qp, 10 + i, &rs, 1), 0);
		CHECK_EQ(uc_send(&p, i, 5, len, i ? 0x77 : 0), 0);
		CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.wr_id, 10 + i);
		CHECK_EQ(wc.opcode, IBV_WC_RECV);
		CHECK_EQ(wc.byte_len, len);
		CHECK_EQ(!!(wc.wc_flags & IBV_WC_WITH_IMM), i);
		if (i)
			CHECK_EQ(be32toh(wc.imm_data), 0x77);
		CHECK_EQ(check_pattern(p.bbuf + 3, len, i, 0), -1);
	}
	/* WRITE, then WRITE with immediate data (it takes a receive WQE). */
	fill_pattern(p.abuf, 300001, 7, 0);
	{
		struct ibv_sge s = { (uintptr_t)p.abuf, 300001, p.amr->lkey };

		CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_RDMA_WRITE, 20, &s, 1,
				      (uintptr_t)p.bbuf + 11, p.bmr->rkey, 0), 0);
		CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.opcode, IBV_WC_RDMA_WRITE);
		CHECK_EQ(check_pattern(p.bbuf + 11, 300001, 7, 0), -1);

		rs = (struct ibv_sge){ (uintptr_t)p.bbuf, 16, p.bmr->lkey };
		CHECK_EQ(vt_post_recv(p.b.qp, 21, &rs, 1), 0);
		s.length = 4000;
		{
			struct ibv_send_wr wr = {
				.wr_id = 22, .sg_list = &s, .num_sge = 1,
				.opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
				.send_flags = IBV_SEND_SIGNALED, .imm_data = htobe32(5),
				.wr.rdma = { (uintptr_t)p.bbuf + 500000, p.bmr->rkey },
			}, *bad;

			CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
		}
		CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.wr_id, 21);
		CHECK_EQ(wc.opcode, IBV_WC_RECV_RDMA_WITH_IMM);
		CHECK_EQ(wc.byte_len, 4000);
		CHECK_EQ(be32toh(wc.imm_data), 5);
		CHECK_EQ(check_pattern(p.bbuf + 500000, 4000, 7, 0), -1);
	}
	vt_link_close(&p);
	return 0;
}

CHECK_CASE(uc_errors)
{
	struct ibv_sge rs, s;
	struct ibv_wc wc;
	struct vt_link p;

	CHECK_EQ(uc_open(&p), 0);
	/* No receive WQE: the sender completes, the message is gone. */
	memset(p.bbuf, 0, 8192);
	fill_pattern(p.abuf, 5000, 1, 0);
	CHECK_EQ(uc_send(&p, 1, 0, 5000, 0), 0);
	CHECK(vt_no_completion(p.b.rcq, 0.2));
	/* The next message lands in the next receive, whole. */
	fill_pattern(p.abuf, 3000, 2, 0);
	rs = (struct ibv_sge){ (uintptr_t)p.bbuf, 8192, p.bmr->lkey };
	CHECK_EQ(vt_post_recv(p.b.qp, 2, &rs, 1), 0);
	CHECK_EQ(uc_send(&p, 3, 0, 3000, 0), 0);
	CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.wr_id, 2);
	CHECK_EQ(wc.byte_len, 3000);
	CHECK_EQ(check_pattern(p.bbuf, 3000, 2, 0), -1);

	/* A bad R_Key: dropped, nothing written, no one in error. */
	memset(p.bbuf, 0x5a, 8192);
	s = (struct ibv_sge){ (uintptr_t)p.abuf, 4096, p.amr->lkey };
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_RDMA_WRITE, 4, &s, 1,
			      (uintptr_t)p.bbuf, p.bmr->rkey ^ 0x100, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ((uint8_t)p.bbuf[0], 0x5a);
	CHECK_EQ((uint8_t)p.bbuf[4095], 0x5a);
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_RDMA_WRITE, 5, &s, 1,
			      (uintptr_t)p.bbuf, p.bmr->rkey, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(memcmp(p.bbuf, p.abuf, 4096), 0);

	/* READ and atomics are not UC's: the WQE fails at the sender. */
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_RDMA_READ, 6, &s, 1,
			      (uintptr_t)p.bbuf, p.bmr->rkey, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_LOC_QP_OP_ERR);

	/* A receive too short: the receiver's WQE fails (and its QP). */
	rs.length = 100;
	CHECK_EQ(vt_post_recv(p.b.qp, 7, &rs, 1), 0);
	{
		struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };

		/* a is in error from the READ: back to RTS. */
		CHECK_EQ(ibv_modify_qp(p.a.qp, &a, IBV_QP_STATE), 0);
		CHECK_EQ(uc_to_rts(&p.d, p.a.qp, p.b.qp->qp_num), 0);
	}
	CHECK_EQ(uc_send(&p, 8, 0, 3000, 0), 0);
	CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 7);
	CHECK_EQ(wc.status, IBV_WC_LOC_LEN_ERR);
	vt_link_close(&p);
	return 0;
}
