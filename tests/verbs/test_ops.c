// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: every opcode on RC and UD, data checked at unaligned
 * offsets, across packets and scatter/gather elements.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <rdma/sodp-abi.h>

#include "../lib/check.h"
#include "tests.h"
#include "vt.h"

/* Sizes that cross nothing, a packet (1024 B MTU), pages, and more. */
static const size_t sizes[] = { 1, 63, 1023, 1024, 1025, 4096, 4099, 65543, 300001 };
#define NSIZES ARRAY_SIZE(sizes)
#define BUF (1 << 20)

static int pair_open(struct vt_link *p)
{
	memset(p, 0, sizeof(*p));
	CHECK_EQ(vt_open(&p->d), 0);
	CHECK_EQ(vt_pair(&p->d, &p->a, &p->b, 64), 0);
	CHECK_EQ(vt_link_mem(p, BUF), 0);
	return 0;
}

/* Three SGEs over buf+off..+len, split unevenly. */
static int split_sges(struct ibv_sge *sge, char *buf, size_t off, size_t len,
		      uint32_t lkey)
{
	size_t a = len / 3, b = len / 2 - len / 7;

	if (len < 3) {
		sge[0] = (struct ibv_sge){ (uintptr_t)buf + off, len, lkey };
		return 1;
	}
	sge[0] = (struct ibv_sge){ (uintptr_t)buf + off, a, lkey };
	sge[1] = (struct ibv_sge){ (uintptr_t)buf + off + a, b, lkey };
	sge[2] = (struct ibv_sge){ (uintptr_t)buf + off + a + b, len - a - b, lkey };
	return 3;
}

static int send_case(bool imm)
{
	struct vt_link p;
	struct ibv_wc wc;
	struct ibv_sge ss[3], rs[3];

	CHECK_EQ(pair_open(&p), 0);
	for (size_t i = 0; i < NSIZES; i++) {
		size_t len = sizes[i], soff = 3 + i, roff = 7 + 2 * i;
		int ns = split_sges(ss, p.abuf, soff, len, p.amr->lkey);
		int nr = split_sges(rs, p.bbuf, roff, len + 5, p.bmr->lkey);
		struct ibv_send_wr wr = {
			.wr_id = i, .sg_list = ss, .num_sge = ns,
			.opcode = imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND,
			.send_flags = IBV_SEND_SIGNALED, .imm_data = htobe32(0x1000 + i),
		}, *bad;

		fill_pattern(p.abuf + soff, len, i, 0);
		memset(p.bbuf, 0x5a, BUF);
		CHECK_EQ(vt_post_recv(p.b.qp, 100 + i, rs, nr), 0);
		CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
		CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.opcode, IBV_WC_SEND);
		CHECK_EQ(wc.wr_id, i);
		CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.opcode, IBV_WC_RECV);
		CHECK_EQ(wc.wr_id, 100 + i);
		CHECK_EQ(wc.byte_len, len);
		CHECK_EQ(wc.qp_num, p.b.qp->qp_num);
		CHECK_EQ(!!(wc.wc_flags & IBV_WC_WITH_IMM), imm);
		if (imm)
			CHECK_EQ(be32toh(wc.imm_data), 0x1000 + i);
		CHECK_EQ(check_pattern(p.bbuf + roff, len, i, 0), -1);
		CHECK_EQ((uint8_t)p.bbuf[roff - 1], 0x5a);
		CHECK_EQ((uint8_t)p.bbuf[roff + len], 0x5a);
	}
	vt_link_close(&p);
	return 0;
}

CHECK_CASE(rc_send)
{
	return send_case(false);
}

CHECK_CASE(rc_send_imm)
{
	return send_case(true);
}

static int write_case(bool imm)
{
	struct vt_link p;
	struct ibv_wc wc;
	struct ibv_sge ss[3], rs;

	CHECK_EQ(pair_open(&p), 0);
	for (size_t i = 0; i < NSIZES; i++) {
		size_t len = sizes[i], soff = 5 + i, roff = 11 + 3 * i;
		int ns = split_sges(ss, p.abuf, soff, len, p.amr->lkey);
		struct ibv_send_wr wr = {
			.wr_id = i, .sg_list = ss, .num_sge = ns,
			.opcode = imm ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED, .imm_data = htobe32(77 + i),
			.wr.rdma = { (uintptr_t)p.bbuf + roff, p.bmr->rkey },
		}, *bad;

		fill_pattern(p.abuf + soff, len, 50 + i, 0);
		memset(p.bbuf, 0x5a, BUF);
		if (imm) {
			rs = (struct ibv_sge){ (uintptr_t)p.bbuf, 0, p.bmr->lkey };
			CHECK_EQ(vt_post_recv(p.b.qp, 200 + i, &rs, 0), 0);
		}
		CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
		CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.opcode, IBV_WC_RDMA_WRITE);
		CHECK_EQ(check_pattern(p.bbuf + roff, len, 50 + i, 0), -1);
		CHECK_EQ((uint8_t)p.bbuf[roff - 1], 0x5a);
		CHECK_EQ((uint8_t)p.bbuf[roff + len], 0x5a);
		if (imm) {
			CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
			CHECK_EQ(wc.status, IBV_WC_SUCCESS);
			CHECK_EQ(wc.opcode, IBV_WC_RECV_RDMA_WITH_IMM);
			CHECK_EQ(wc.wr_id, 200 + i);
			CHECK_EQ(be32toh(wc.imm_data), 77 + i);
			CHECK_EQ(wc.byte_len, len);
		} else {
			CHECK(vt_no_completion(p.b.rcq, 0.01));
		}
	}
	vt_link_close(&p);
	return 0;
}

CHECK_CASE(rc_write)
{
	return write_case(false);
}

CHECK_CASE(rc_write_imm)
{
	return write_case(true);
}

CHECK_CASE(rc_read)
{
	struct vt_link p;
	struct ibv_wc wc;
	struct ibv_sge ds[3];

	CHECK_EQ(pair_open(&p), 0);
	for (size_t i = 0; i < NSIZES; i++) {
		size_t len = sizes[i], loff = 9 + i, roff = 2 + 5 * i;
		int nd = split_sges(ds, p.abuf, loff, len, p.amr->lkey);
		struct ibv_send_wr wr = {
			.wr_id = i, .sg_list = ds, .num_sge = nd,
			.opcode = IBV_WR_RDMA_READ, .send_flags = IBV_SEND_SIGNALED,
			.wr.rdma = { (uintptr_t)p.bbuf + roff, p.bmr->rkey },
		}, *bad;

		fill_pattern(p.bbuf + roff, len, 90 + i, 0);
		memset(p.abuf, 0x5a, BUF);
		CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
		CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.opcode, IBV_WC_RDMA_READ);
		CHECK_EQ(wc.byte_len, len);
		CHECK_EQ(check_pattern(p.abuf + loff, len, 90 + i, 0), -1);
		CHECK_EQ((uint8_t)p.abuf[loff - 1], 0x5a);
		CHECK_EQ((uint8_t)p.abuf[loff + len], 0x5a);
	}
	/* A fenced SEND after a READ completes after it. */
	{
		struct ibv_sge r = { (uintptr_t)p.abuf, 64, p.amr->lkey };
		struct ibv_sge s = { (uintptr_t)p.abuf + 64, 8, p.amr->lkey };
		struct ibv_sge rr = { (uintptr_t)p.bbuf + 4096, 64, p.bmr->lkey };

		CHECK_EQ(vt_post_recv(p.b.qp, 1, &rr, 1), 0);
		CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_RDMA_READ, 10, &r, 1,
				      (uintptr_t)p.bbuf, p.bmr->rkey, 0), 0);
		CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_SEND, 11, &s, 1, 0, 0,
				      IBV_SEND_FENCE), 0);
		CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
		CHECK_EQ(wc.wr_id, 10);
		CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
		CHECK_EQ(wc.wr_id, 11);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	}
	vt_link_close(&p);
	return 0;
}

CHECK_CASE(rc_atomics)
{
	struct vt_link p;
	struct ibv_wc wc;
	uint64_t *target, *result;
	struct ibv_sge s;
	struct ibv_send_wr wr, *bad;

	CHECK_EQ(pair_open(&p), 0);
	target = (uint64_t *)(p.bbuf + 64);
	result = (uint64_t *)(p.abuf + 128);
	s = (struct ibv_sge){ (uintptr_t)result, 8, p.amr->lkey };

	*target = 5;
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &s;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
	wr.wr.atomic.remote_addr = (uintptr_t)target;
	wr.wr.atomic.rkey = p.bmr->rkey;
	wr.wr.atomic.compare_add = 5;
	wr.wr.atomic.swap = 42;
	CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.opcode, IBV_WC_COMP_SWAP);
	CHECK_EQ(*result, 5);
	CHECK_EQ(*target, 42);

	/* Compare fails: nothing swapped, the value found returned. */
	CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(*result, 42);
	CHECK_EQ(*target, 42);

	wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
	wr.wr.atomic.compare_add = 1000;
	CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.opcode, IBV_WC_FETCH_ADD);
	CHECK_EQ(*result, 42);
	CHECK_EQ(*target, 1042);

	/* Unaligned target: the responder refuses it. */
	wr.wr.atomic.remote_addr = (uintptr_t)target + 4;
	CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_REM_INV_REQ_ERR);
	vt_link_close(&p);
	return 0;
}

/* Fetch-and-adds from two QPs and the CPU at once lose no update. */
CHECK_CASE(rc_atomics_concurrent)
{
	struct vt_dev d;
	struct vt_qp q[4];
	uint64_t *target = aligned_alloc(64, 64);
	struct ibv_mr *mr;
	const int n = 300;

	CHECK(target);
	CHECK_EQ(vt_open(&d), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(vt_qp_create(&d, &q[i], IBV_QPT_RC, 16, NULL, false), 0);
	CHECK_EQ(vt_connect(&d, &q[0], &q[1]), 0);
	CHECK_EQ(vt_connect(&d, &q[2], &q[3]), 0);
	mr = vt_reg(&d, target, 64, VT_ALL_ACCESS);
	CHECK(mr);
	*target = 0;

	for (int round = 0; round < n; round++) {
		for (int k = 0; k < 2; k++) {
			uint64_t res;
			struct ibv_mr *rmr = vt_reg(&d, &res, 8, IBV_ACCESS_LOCAL_WRITE);
			struct ibv_sge s = { (uintptr_t)&res, 8, rmr->lkey };
			struct ibv_send_wr wr = {
				.sg_list = &s, .num_sge = 1,
				.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD,
				.send_flags = IBV_SEND_SIGNALED,
				.wr.atomic = { (uintptr_t)target, 1, 0, mr->rkey },
			}, *bad;
			struct ibv_wc wc;

			CHECK_EQ(ibv_post_send(q[2 * k].qp, &wr, &bad), 0);
			__atomic_fetch_add(target, 1, __ATOMIC_SEQ_CST);
			CHECK_EQ(vt_poll(q[2 * k].scq, &wc, 10), 0);
			CHECK_EQ(wc.status, IBV_WC_SUCCESS);
			vt_dereg(rmr);
		}
	}
	CHECK_EQ(*target, 4 * n);
	vt_dereg(mr);
	for (int i = 0; i < 4; i++)
		vt_qp_destroy(&q[i]);
	vt_close(&d);
	free(target);
	return 0;
}

/* Inline data is taken at post time; unsignaled WRs complete silently. */
CHECK_CASE(rc_inline_unsignaled)
{
	struct vt_link p;
	struct ibv_wc wc;
	struct ibv_sge s = { 0, 40, 0 }, r;
	struct ibv_send_wr wr = { 0 }, *bad;
	char msg[40];

	CHECK_EQ(pair_open(&p), 0);
	memcpy(msg, "inline data, copied when posted........", 40);
	s.addr = (uintptr_t)msg;
	r = (struct ibv_sge){ (uintptr_t)p.bbuf, 64, p.bmr->lkey };
	CHECK_EQ(vt_post_recv(p.b.qp, 1, &r, 1), 0);
	wr.sg_list = &s;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_INLINE | IBV_SEND_SIGNALED;
	CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
	memset(msg, 'X', sizeof(msg));
	CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
	CHECK_EQ(wc.byte_len, 40);
	CHECK(!memcmp(p.bbuf, "inline data, copied when posted........", 40));
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);

	/* Ten unsignaled writes and one signaled: one completion. */
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.wr.rdma.remote_addr = (uintptr_t)p.bbuf + 1000;
	wr.wr.rdma.rkey = p.bmr->rkey;
	s = (struct ibv_sge){ (uintptr_t)p.abuf, 16, p.amr->lkey };
	for (int i = 0; i < 11; i++) {
		wr.wr_id = i;
		wr.send_flags = i == 10 ? IBV_SEND_SIGNALED : 0;
		CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
	}
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 10);
	CHECK(vt_no_completion(p.a.scq, 0.05));
	vt_link_close(&p);
	return 0;
}

/* A link of two UD QPs of @max_sge SGEs (Q_Key @qkey), regions of @len bytes. */
static int ud_link_open(struct vt_link *l, size_t len, uint32_t qkey, uint32_t max_sge)
{
	struct ibv_qp_init_attr init = {
		.qp_type = IBV_QPT_UD,
		.cap = { .max_send_wr = 16, .max_recv_wr = 16,
			 .max_send_sge = max_sge, .max_recv_sge = max_sge },
	};
	struct vt_qp *q[2] = { &l->a, &l->b };

	memset(l, 0, sizeof(*l));
	if (vt_open(&l->d))
		return -1;
	for (int i = 0; i < 2; i++) {
		q[i]->scq = ibv_create_cq(l->d.ctx, 16, NULL, NULL, 0);
		q[i]->rcq = ibv_create_cq(l->d.ctx, 16, NULL, NULL, 0);
		if (!q[i]->scq || !q[i]->rcq)
			return -1;
		init.send_cq = q[i]->scq;
		init.recv_cq = q[i]->rcq;
		q[i]->qp = ibv_create_qp(l->d.pd, &init);
		if (!q[i]->qp || vt_ud_ready(q[i], qkey))
			return -1;
	}
	return vt_link_mem(l, len);
}

CHECK_CASE(ud_send)
{
	struct ibv_ah *ah;
	struct vt_link u;
	struct ibv_sge s, r;
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc;
	char *sbuf, *rbuf;

	CHECK_EQ(ud_link_open(&u, 8192, 0x1234, 4), 0);
	CHECK(ah = vt_ah(&u.d));
	sbuf = u.abuf;
	rbuf = u.bbuf;

	fill_pattern(sbuf, 1000, 3, 0);
	r = (struct ibv_sge){ (uintptr_t)rbuf, 40 + 1000, u.bmr->lkey };
	CHECK_EQ(vt_post_recv(u.b.qp, 7, &r, 1), 0);
	s = (struct ibv_sge){ (uintptr_t)sbuf, 1000, u.amr->lkey };
	vt_ud_wr(&wr, &s, IBV_WR_SEND_WITH_IMM, ah, u.b.qp->qp_num, 0x1234);
	wr.imm_data = htobe32(99);
	CHECK_EQ(ibv_post_send(u.a.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(u.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(vt_poll(u.b.rcq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.wr_id, 7);
	CHECK_EQ(wc.byte_len, 40 + 1000);
	CHECK_EQ(wc.src_qp, u.a.qp->qp_num);
	CHECK(wc.wc_flags & IBV_WC_GRH);
	CHECK(wc.wc_flags & IBV_WC_WITH_IMM);
	CHECK_EQ(be32toh(wc.imm_data), 99);
	CHECK_EQ(check_pattern(rbuf + 40, 1000, 3, 0), -1);
	/*
	 * RoCEv2 over IPv4: an IPv4 header in the GRH's last 20 bytes, and
	 * sl says so as mlx5's does (UDP bit 3, IPv4 2): UCX relies on it.
	 */
	CHECK_EQ(wc.sl, 0x8 | 0x2);
	CHECK_EQ((uint8_t)rbuf[20], 0x45);
	CHECK(!memcmp(rbuf + 20 + 12, u.d.gid.raw + 12, 4));
	CHECK(!memcmp(rbuf + 20 + 16, u.d.gid.raw + 12, 4));

	/* A wrong Q_Key: dropped, the sender does not know. */
	wr.wr.ud.remote_qkey = 0x4321;
	CHECK_EQ(vt_post_recv(u.b.qp, 8, &r, 1), 0);
	CHECK_EQ(ibv_post_send(u.a.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(u.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK(vt_no_completion(u.b.rcq, 0.1));

	/* Larger than the MTU: a local length error. */
	s.length = 4097;
	wr.wr.ud.remote_qkey = 0x1234;
	CHECK_EQ(ibv_post_send(u.a.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(u.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_LOC_LEN_ERR);

	ibv_destroy_ah(ah);
	vt_link_close(&u);
	return 0;
}

/*
 * A UD receive is the GRH, then the payload, in one pass over the receive
 * SGEs: a sender of every SGE the device has (of odd lengths, across
 * pages) into a receiver of as many, the GRH split across its first two;
 * a buffer a byte short of either is a local length error.
 */
CHECK_CASE(ud_sge_max)
{
	struct ibv_sge s[SODP_MAX_SGE], r[SODP_MAX_SGE];
	struct ibv_send_wr wr, *bad;
	uint32_t total = 0, off;
	char *sbuf, *rbuf, *want;
	struct ibv_ah *ah;
	struct vt_link u;
	struct ibv_wc wc;

	CHECK(want = malloc(4096));
	CHECK_EQ(ud_link_open(&u, 3 * 4096, 0x77, SODP_MAX_SGE), 0);
	CHECK(ah = vt_ah(&u.d));
	sbuf = u.abuf;
	rbuf = u.bbuf;

	/* Sender: 16 pieces of 1..61 bytes, 253 bytes apart, the last across a page. */
	fill_pattern(sbuf, 3 * 4096, 21, 0);
	for (int i = 0; i < SODP_MAX_SGE; i++) {
		uint32_t len = 1 + (i * 17) % 61;

		off = i == SODP_MAX_SGE - 1 ? 4096 - 5 : 7 + i * 253;
		s[i] = (struct ibv_sge){ (uintptr_t)sbuf + off, len, u.amr->lkey };
		memcpy(want + total, sbuf + off, len);
		total += len;
	}
	/* Receiver: 17 + 30 bytes of GRH in two SGEs, then the rest in 14, across a page. */
	memset(rbuf, 0, 3 * 4096);
	r[0] = (struct ibv_sge){ (uintptr_t)rbuf + 4096 - 17, 17, u.bmr->lkey };
	r[1] = (struct ibv_sge){ (uintptr_t)rbuf + 4096 + 100, 30, u.bmr->lkey };
	for (int i = 2; i < SODP_MAX_SGE; i++)
		r[i] = (struct ibv_sge){ (uintptr_t)rbuf + 5000 + (i - 2) * 250, 70, u.bmr->lkey };
	CHECK_EQ(vt_post_recv(u.b.qp, 1, r, SODP_MAX_SGE), 0);
	vt_ud_wr(&wr, s, IBV_WR_SEND, ah, u.b.qp->qp_num, 0x77);
	wr.num_sge = SODP_MAX_SGE;
	CHECK_EQ(ibv_post_send(u.a.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(u.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(vt_poll(u.b.rcq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.byte_len, 40 + total);
	/* The IPv4 header's first byte, 20 bytes into the GRH: in the second SGE. */
	CHECK_EQ((uint8_t)rbuf[4096 + 100 + 3], 0x45);
	/* 10 payload bytes end the second SGE, the rest fill the others. */
	CHECK(!memcmp(rbuf + 4096 + 100 + 23, want, 7));
	off = 7;
	for (int i = 2; i < SODP_MAX_SGE && off < total; i++) {
		uint32_t n = total - off < 70 ? total - off : 70;

		CHECK(!memcmp(rbuf + 5000 + (i - 2) * 250, want + off, n));
		off += n;
	}
	CHECK_EQ(off, total);

	/*
	 * Room for the GRH and all but one byte of the payload (b receives),
	 * then for 39 bytes of the GRH (a receives, from b).
	 */
	for (int i = 0; i < 2; i++) {
		struct ibv_sge one = { (uintptr_t)rbuf, i ? 39 : 40 + total - 1, u.bmr->lkey };
		struct vt_qp *from = i ? &u.b : &u.a, *to = i ? &u.a : &u.b;

		CHECK_EQ(vt_post_recv(to->qp, 2, &one, 1), 0);
		wr.wr.ud.remote_qpn = to->qp->qp_num;
		CHECK_EQ(ibv_post_send(from->qp, &wr, &bad), 0);
		CHECK_EQ(vt_poll(from->scq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(vt_poll(to->rcq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_LOC_LEN_ERR);
	}

	ibv_destroy_ah(ah);
	vt_link_close(&u);
	free(want);
	return 0;
}

static int wait_async(struct ibv_context *ctx, enum ibv_event_type type, double seconds)
{
	double end = now_s() + seconds;
	struct ibv_async_event ev;
	int flags = fcntl(ctx->async_fd, F_GETFL);

	fcntl(ctx->async_fd, F_SETFL, flags | O_NONBLOCK);
	while (now_s() < end) {
		if (ibv_get_async_event(ctx, &ev)) {
			usleep(1000);
			continue;
		}
		ibv_ack_async_event(&ev);
		if (ev.event_type == type) {
			fcntl(ctx->async_fd, F_SETFL, flags);
			return 0;
		}
	}
	fcntl(ctx->async_fd, F_SETFL, flags);
	return -1;
}

int vt_wait_async(struct ibv_context *ctx, enum ibv_event_type type, double seconds)
{
	return wait_async(ctx, type, seconds);
}

/* Two QPs receive through one SRQ; the limit event fires. */
CHECK_CASE(srq)
{
	struct vt_dev d;
	struct ibv_srq_init_attr sia = { .attr = { .max_wr = 16, .max_sge = 1 } };
	struct ibv_srq_attr sa;
	struct ibv_srq *srq;
	struct vt_qp a, b, c, e;
	char *buf = malloc(65536);
	struct ibv_mr *mr;
	struct ibv_wc wc;

	CHECK(buf);
	CHECK_EQ(vt_open(&d), 0);
	srq = ibv_create_srq(d.pd, &sia);
	CHECK(srq);
	mr = vt_reg(&d, buf, 65536, VT_ALL_ACCESS);
	CHECK(mr);
	CHECK_EQ(vt_qp_create(&d, &a, IBV_QPT_RC, 16, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&d, &b, IBV_QPT_RC, 16, srq, false), 0);
	CHECK_EQ(vt_qp_create(&d, &c, IBV_QPT_RC, 16, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&d, &e, IBV_QPT_RC, 16, srq, false), 0);
	CHECK_EQ(vt_connect(&d, &a, &b), 0);
	CHECK_EQ(vt_connect(&d, &c, &e), 0);

	for (int i = 0; i < 8; i++) {
		struct ibv_sge r = { (uintptr_t)buf + 32768 + i * 1024, 1024, mr->lkey };
		struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &r, .num_sge = 1 }, *bad;

		CHECK_EQ(ibv_post_srq_recv(srq, &wr, &bad), 0);
	}
	sa.srq_limit = 6;
	CHECK_EQ(ibv_modify_srq(srq, &sa, IBV_SRQ_LIMIT), 0);
	CHECK_EQ(ibv_query_srq(srq, &sa), 0);
	CHECK_EQ(sa.srq_limit, 6);

	for (int i = 0; i < 4; i++) {
		struct vt_qp *snd = i % 2 ? &c : &a, *rcv = i % 2 ? &e : &b;
		struct ibv_sge s = { (uintptr_t)buf + i * 100, 100, mr->lkey };

		fill_pattern(buf + i * 100, 100, 60 + i, 0);
		CHECK_EQ(vt_post_send(snd->qp, IBV_WR_SEND, i, &s, 1, 0, 0, 0), 0);
		CHECK_EQ(vt_poll(snd->scq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(vt_poll(rcv->rcq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.qp_num, rcv->qp->qp_num);
		CHECK_EQ(wc.wr_id, i);
		CHECK_EQ(check_pattern(buf + 32768 + wc.wr_id * 1024, 100, 60 + i, 0), -1);
	}
	CHECK_EQ(vt_wait_async(d.ctx, IBV_EVENT_SRQ_LIMIT_REACHED, 5), 0);
	CHECK_EQ(ibv_query_srq(srq, &sa), 0);
	CHECK_EQ(sa.srq_limit, 0);

	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_qp_destroy(&c);
	vt_qp_destroy(&e);
	ibv_destroy_srq(srq);
	vt_dereg(mr);
	vt_close(&d);
	free(buf);
	return 0;
}

/* Post @n receives of 1 KiB slots from @first to an SRQ; wr_id = slot. */
static int srq_post(struct ibv_srq *srq, char *buf, struct ibv_mr *mr, int first, int n)
{
	for (int i = first; i < first + n; i++) {
		struct ibv_sge r = { (uintptr_t)buf + i * 1024, 1024, mr->lkey };
		struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &r, .num_sge = 1 }, *bad;

		CHECK_EQ(ibv_post_srq_recv(srq, &wr, &bad), 0);
	}
	return 0;
}

/* @n SENDs from a, received through the SRQ in posting order: data checked. */
static int srq_sends(struct vt_qp *a, struct vt_qp *b, char *src, char *buf,
		     struct ibv_mr *smr, int first, int n)
{
	for (int i = first; i < first + n; i++) {
		struct ibv_sge s = { (uintptr_t)src, 200 + i, smr->lkey };
		struct ibv_wc wc;

		fill_pattern(src, 200 + i, 90 + i, 0);
		CHECK_EQ(vt_post_send(a->qp, IBV_WR_SEND, i, &s, 1, 0, 0, 0), 0);
		CHECK_EQ(vt_poll(a->scq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(vt_poll(b->rcq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.wr_id, (uint64_t)i);
		CHECK_EQ(wc.byte_len, 200 + i);
		CHECK_EQ(check_pattern(buf + i * 1024, 200 + i, 90 + i, 0), -1);
	}
	return 0;
}

/*
 * An SRQ resized (as the device says it can) keeps the receives posted
 * before, in order: grown while full, shrunk to what is posted, not below.
 */
CHECK_CASE(srq_resize)
{
	struct ibv_srq_init_attr sia = { .attr = { .max_wr = 16, .max_sge = 1 } };
	char *buf = malloc(256 * 1024), *src = malloc(4096);
	struct ibv_device_attr da;
	struct ibv_srq_attr sa;
	struct ibv_srq *srq;
	struct ibv_mr *mr, *smr;
	struct vt_qp a, b;
	struct vt_dev d;

	CHECK(buf && src);
	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(ibv_query_device(d.ctx, &da), 0);
	CHECK(da.device_cap_flags & IBV_DEVICE_SRQ_RESIZE);
	srq = ibv_create_srq(d.pd, &sia);
	CHECK(srq);
	mr = vt_reg(&d, buf, 256 * 1024, VT_ALL_ACCESS);
	smr = vt_reg(&d, src, 4096, VT_ALL_ACCESS);
	CHECK(mr && smr);
	CHECK_EQ(vt_qp_create(&d, &a, IBV_QPT_RC, 64, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&d, &b, IBV_QPT_RC, 64, srq, false), 0);
	CHECK_EQ(vt_connect(&d, &a, &b), 0);

	/* Full, then grown: the 16 posted stay, 100 more fit. */
	CHECK_EQ(srq_post(srq, buf, mr, 0, 16), 0);
	sa.max_wr = 116;
	CHECK_EQ(ibv_modify_srq(srq, &sa, IBV_SRQ_MAX_WR), 0);
	CHECK_EQ(ibv_query_srq(srq, &sa), 0);
	CHECK(sa.max_wr >= 116);
	CHECK_EQ(srq_post(srq, buf, mr, 16, 100), 0);
	CHECK_EQ(srq_sends(&a, &b, src, buf, smr, 0, 90), 0);

	/* A resize with a limit past the new size is refused whole. */
	sa.max_wr = 32;
	sa.srq_limit = 64;
	CHECK_EQ(ibv_modify_srq(srq, &sa, IBV_SRQ_MAX_WR | IBV_SRQ_LIMIT), EINVAL);
	CHECK_EQ(ibv_query_srq(srq, &sa), 0);
	CHECK(sa.max_wr >= 116);
	/* 26 posted: not below them (nor past the device's limit), to them yes. */
	sa.max_wr = 8;
	CHECK_EQ(ibv_modify_srq(srq, &sa, IBV_SRQ_MAX_WR), EINVAL);
	sa.max_wr = da.max_srq_wr + 1;
	CHECK_EQ(ibv_modify_srq(srq, &sa, IBV_SRQ_MAX_WR), EINVAL);
	sa.max_wr = 32;
	CHECK_EQ(ibv_modify_srq(srq, &sa, IBV_SRQ_MAX_WR), 0);
	CHECK_EQ(ibv_query_srq(srq, &sa), 0);
	CHECK(sa.max_wr >= 32 && sa.max_wr < 116);
	/* A limit past the new size is refused, one inside it armed. */
	sa.srq_limit = sa.max_wr + 1;
	CHECK_EQ(ibv_modify_srq(srq, &sa, IBV_SRQ_LIMIT), EINVAL);
	CHECK_EQ(srq_post(srq, buf, mr, 116, 6), 0);
	sa.srq_limit = 4;
	CHECK_EQ(ibv_modify_srq(srq, &sa, IBV_SRQ_LIMIT), 0);
	CHECK_EQ(srq_sends(&a, &b, src, buf, smr, 90, 32), 0);
	CHECK_EQ(vt_wait_async(d.ctx, IBV_EVENT_SRQ_LIMIT_REACHED, 5), 0);

	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	CHECK_EQ(ibv_destroy_srq(srq), 0);
	vt_dereg(mr);
	vt_dereg(smr);
	vt_close(&d);
	free(buf);
	free(src);
	return 0;
}

/* Completion channel events; solicited-only arming. */
CHECK_CASE(cq_events)
{
	struct vt_dev d;
	struct vt_qp a, b;
	char *buf = malloc(4096);
	struct ibv_mr *mr;
	struct ibv_cq *ev_cq;
	void *ev_ctx;
	struct ibv_wc wc;
	struct ibv_sge s, r;
	int flags;

	CHECK(buf);
	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_qp_create(&d, &a, IBV_QPT_RC, 16, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&d, &b, IBV_QPT_RC, 16, NULL, true), 0);
	CHECK_EQ(vt_connect(&d, &a, &b), 0);
	mr = vt_reg(&d, buf, 4096, VT_ALL_ACCESS);
	CHECK(mr);
	s = (struct ibv_sge){ (uintptr_t)buf, 8, mr->lkey };
	r = (struct ibv_sge){ (uintptr_t)buf + 2048, 8, mr->lkey };
	flags = fcntl(b.chan->fd, F_GETFL);
	CHECK_EQ(fcntl(b.chan->fd, F_SETFL, flags | O_NONBLOCK), 0);

	/* Armed for any completion: an event. */
	CHECK_EQ(ibv_req_notify_cq(b.rcq, 0), 0);
	CHECK_EQ(vt_post_recv(b.qp, 1, &r, 1), 0);
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_SEND, 1, &s, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(b.rcq, &wc, 10), 0);
	for (double t = now_s(); ibv_get_cq_event(b.chan, &ev_cq, &ev_ctx); ) {
		CHECK(now_s() - t < 5);
		usleep(1000);
	}
	CHECK(ev_cq == b.rcq);
	ibv_ack_cq_events(b.rcq, 1);
	CHECK_EQ(vt_poll(a.scq, &wc, 10), 0);

	/* Solicited only: an unsolicited send raises none, a solicited one does. */
	CHECK_EQ(ibv_req_notify_cq(b.rcq, 1), 0);
	CHECK_EQ(vt_post_recv(b.qp, 2, &r, 1), 0);
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_SEND, 2, &s, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(b.rcq, &wc, 10), 0);
	usleep(50000);
	CHECK(ibv_get_cq_event(b.chan, &ev_cq, &ev_ctx) != 0);
	CHECK_EQ(vt_post_recv(b.qp, 3, &r, 1), 0);
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_SEND, 3, &s, 1, 0, 0, IBV_SEND_SOLICITED), 0);
	CHECK_EQ(vt_poll(b.rcq, &wc, 10), 0);
	for (double t = now_s(); ibv_get_cq_event(b.chan, &ev_cq, &ev_ctx); ) {
		CHECK(now_s() - t < 5);
		usleep(1000);
	}
	ibv_ack_cq_events(b.rcq, 1);

	vt_dereg(mr);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	free(buf);
	return 0;
}

/* Resizing keeps pending completions and the CQ keeps working. */
CHECK_CASE(cq_resize)
{
	struct vt_link p;
	struct ibv_wc wc;
	struct ibv_sge s;

	CHECK_EQ(pair_open(&p), 0);
	s = (struct ibv_sge){ (uintptr_t)p.abuf, 8, p.amr->lkey };
	for (int i = 0; i < 5; i++)
		CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_RDMA_WRITE, i, &s, 1,
				      (uintptr_t)p.bbuf, p.bmr->rkey, 0), 0);
	usleep(100000);
	CHECK_EQ(ibv_resize_cq(p.a.scq, 200), 0);
	CHECK(p.a.scq->cqe >= 200);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
		CHECK_EQ(wc.wr_id, i);
	}
	for (int i = 0; i < 64; i++)
		CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_RDMA_WRITE, i, &s, 1,
				      (uintptr_t)p.bbuf, p.bmr->rkey, 0), 0);
	for (int i = 0; i < 64; i++) {
		CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	}
	CHECK_EQ(ibv_resize_cq(p.a.scq, 1), 0);
	vt_link_close(&p);
	return 0;
}
