// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: every error gives the completion (and state, and
 * asynchronous event) it gives on hardware.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "vt.h"

struct epair {
	struct vt_dev d;
	struct vt_qp a, b;
	char *buf;
	struct ibv_mr *mr;
};

static int epair_open(struct epair *p, int b_access, uint8_t rnr_retry)
{
	memset(p, 0, sizeof(*p));
	CHECK_EQ(vt_open(&p->d), 0);
	CHECK_EQ(vt_qp_create(&p->d, &p->a, IBV_QPT_RC, 16, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&p->d, &p->b, IBV_QPT_RC, 16, NULL, false), 0);
	CHECK_EQ(vt_rc_to_rts(&p->d, p->a.qp, p->b.qp->qp_num, VT_ALL_ACCESS,
			      rnr_retry, 1), 0);
	CHECK_EQ(vt_rc_to_rts(&p->d, p->b.qp, p->a.qp->qp_num, b_access,
			      rnr_retry, 1), 0);
	p->buf = malloc(65536);
	CHECK(p->buf);
	p->mr = vt_reg(&p->d, p->buf, 65536, VT_ALL_ACCESS);
	CHECK(p->mr);
	return 0;
}

static void epair_close(struct epair *p)
{
	CHECK_CLEANUP(vt_dereg(p->mr));
	vt_qp_destroy(&p->a);
	vt_qp_destroy(&p->b);
	vt_close(&p->d);
	free(p->buf);
}

static enum ibv_qp_state qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr i;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &i))
		return -1;
	return a.qp_state;
}

/* A bad lkey: local protection error, the QP in error, the rest flushed. */
CHECK_CASE(err_bad_lkey)
{
	struct epair p;
	struct ibv_wc wc;
	struct ibv_sge bad, good, r;

	CHECK_EQ(epair_open(&p, VT_ALL_ACCESS, 7), 0);
	bad = (struct ibv_sge){ (uintptr_t)p.buf, 8, p.mr->lkey + 1 };
	good = (struct ibv_sge){ (uintptr_t)p.buf, 8, p.mr->lkey };
	r = good;
	CHECK_EQ(vt_post_recv(p.a.qp, 50, &r, 1), 0);
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_SEND, 1, &bad, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_SEND, 2, &good, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 1);
	CHECK_EQ(wc.status, IBV_WC_LOC_PROT_ERR);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 2);
	CHECK_EQ(wc.status, IBV_WC_WR_FLUSH_ERR);
	CHECK_EQ(qp_state(p.a.qp), IBV_QPS_ERR);
	/* Its receives flush too, including one posted after the error. */
	CHECK_EQ(vt_poll(p.a.rcq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 50);
	CHECK_EQ(wc.status, IBV_WC_WR_FLUSH_ERR);
	CHECK_EQ(vt_post_recv(p.a.qp, 51, &r, 1), 0);
	CHECK_EQ(vt_poll(p.a.rcq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 51);
	CHECK_EQ(wc.status, IBV_WC_WR_FLUSH_ERR);
	/* An SGE past the end of its MR is a bad lkey too. */
	epair_close(&p);

	CHECK_EQ(epair_open(&p, VT_ALL_ACCESS, 7), 0);
	bad = (struct ibv_sge){ (uintptr_t)p.buf + 65536 - 4, 8, p.mr->lkey };
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_SEND, 3, &bad, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_LOC_PROT_ERR);
	epair_close(&p);
	return 0;
}

/* Bad rkey, missing rights, out of bounds: remote access error, both QPs fail. */
static int remote_access_case(int b_access, enum ibv_wr_opcode op, uint32_t rkey_delta,
			      size_t roff, size_t len)
{
	struct epair p;
	struct ibv_wc wc;
	struct ibv_sge s, r;

	CHECK_EQ(epair_open(&p, b_access, 7), 0);
	s = (struct ibv_sge){ (uintptr_t)p.buf, len, p.mr->lkey };
	r = (struct ibv_sge){ (uintptr_t)p.buf + 1024, 8, p.mr->lkey };
	CHECK_EQ(vt_post_recv(p.b.qp, 9, &r, 1), 0);
	CHECK_EQ(vt_post_send(p.a.qp, op, 1, &s, 1, (uintptr_t)p.buf + roff,
			      p.mr->rkey + rkey_delta, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_REM_ACCESS_ERR);
	CHECK_EQ(qp_state(p.a.qp), IBV_QPS_ERR);
	/* The responder QP is in error, said by an async event, its WQEs flushed. */
	CHECK_EQ(vt_wait_async(p.d.ctx, IBV_EVENT_QP_ACCESS_ERR, 5), 0);
	CHECK_EQ(qp_state(p.b.qp), IBV_QPS_ERR);
	CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_WR_FLUSH_ERR);
	epair_close(&p);
	return 0;
}

CHECK_CASE(err_remote_access)
{
	/* A bad rkey, for each remote opcode. */
	CHECK_EQ(remote_access_case(VT_ALL_ACCESS, IBV_WR_RDMA_WRITE, 1, 0, 8), 0);
	CHECK_EQ(remote_access_case(VT_ALL_ACCESS, IBV_WR_RDMA_READ, 1, 0, 8), 0);
	CHECK_EQ(remote_access_case(VT_ALL_ACCESS, IBV_WR_ATOMIC_FETCH_AND_ADD, 1, 0, 8), 0);
	/* The QP does not allow it. */
	CHECK_EQ(remote_access_case(IBV_ACCESS_REMOTE_READ, IBV_WR_RDMA_WRITE, 0, 0, 8), 0);
	CHECK_EQ(remote_access_case(IBV_ACCESS_REMOTE_WRITE, IBV_WR_RDMA_READ, 0, 0, 8), 0);
	CHECK_EQ(remote_access_case(IBV_ACCESS_REMOTE_WRITE, IBV_WR_ATOMIC_CMP_AND_SWP, 0, 0, 8), 0);
	/* Past the end of the MR. */
	CHECK_EQ(remote_access_case(VT_ALL_ACCESS, IBV_WR_RDMA_WRITE, 0, 65536 - 7, 8), 0);
	CHECK_EQ(remote_access_case(VT_ALL_ACCESS, IBV_WR_RDMA_READ, 0, 65536, 1), 0);
	return 0;
}

/*
 * SEND with Invalidate names a key of the responder to invalidate: only a
 * fast-registration region (a kernel consumer's) can be.  A process's own
 * region cannot: the responder answers Invalid Request, its receive fails
 * and its QP goes to error (as rxe does); the region stays usable.  A
 * process cannot post LOCAL_INV (it has no such region either).
 */
CHECK_CASE(err_send_inv)
{
	struct ibv_send_wr wr = { .opcode = IBV_WR_SEND_WITH_INV,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct ibv_qp_init_attr_ex ix = {};
	struct ibv_qp_ex *qpx;
	struct epair p;
	struct ibv_wc wc;
	struct ibv_sge s, r;
	int ex;

	for (ex = 0; ex < 2; ex++) {
		CHECK_EQ(epair_open(&p, VT_ALL_ACCESS, 7), 0);
		strcpy(p.buf, "invalidate");
		s = (struct ibv_sge){ (uintptr_t)p.buf, 16, p.mr->lkey };
		r = (struct ibv_sge){ (uintptr_t)p.buf + 1024, 64, p.mr->lkey };
		if (!ex) {
			CHECK_EQ(vt_post_recv(p.b.qp, 9, &r, 1), 0);
			wr.wr_id = 1;
			wr.sg_list = &s;
			wr.num_sge = 1;
			wr.invalidate_rkey = p.mr->rkey;
			CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
		} else {
			/* The same through ibv_wr_send_inv(), from an extended QP. */
			ibv_destroy_qp(p.a.qp);
			vt_qp_destroy(&p.b);
			ix.qp_type = IBV_QPT_RC;
			ix.send_cq = p.a.scq;
			ix.recv_cq = p.a.rcq;
			ix.cap = (struct ibv_qp_cap){ 16, 16, 1, 1, 0 };
			ix.pd = p.d.pd;
			ix.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
			ix.send_ops_flags = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_INV;
			p.a.qp = ibv_create_qp_ex(p.d.ctx, &ix);
			CHECK(p.a.qp);
			CHECK_EQ(vt_qp_create(&p.d, &p.b, IBV_QPT_RC, 16, NULL, false), 0);
			CHECK_EQ(vt_connect(&p.d, &p.a, &p.b), 0);
			CHECK_EQ(vt_post_recv(p.b.qp, 9, &r, 1), 0);
			qpx = ibv_qp_to_qp_ex(p.a.qp);
			ibv_wr_start(qpx);
			qpx->wr_id = 1;
			qpx->wr_flags = IBV_SEND_SIGNALED;
			ibv_wr_send_inv(qpx, p.mr->rkey);
			ibv_wr_set_sge(qpx, p.mr->lkey, (uintptr_t)p.buf, 16);
			CHECK_EQ(ibv_wr_complete(qpx), 0);
		}
		CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
		CHECK_EQ(wc.wr_id, 1);
		CHECK_EQ(wc.status, IBV_WC_REM_INV_REQ_ERR);
		CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
		CHECK_EQ(wc.wr_id, 9);
		CHECK_EQ(wc.status, IBV_WC_REM_INV_REQ_ERR);
		CHECK_EQ(vt_wait_async(p.d.ctx, IBV_EVENT_QP_REQ_ERR, 5), 0);
		CHECK_EQ(qp_state(p.b.qp), IBV_QPS_ERR);
		epair_close(&p);
	}

	/* The region was not invalidated: a new pair writes through its rkey. */
	CHECK_EQ(epair_open(&p, VT_ALL_ACCESS, 7), 0);
	s = (struct ibv_sge){ (uintptr_t)p.buf, 8, p.mr->lkey };
	wr = (struct ibv_send_wr){ .wr_id = 2, .sg_list = &s, .num_sge = 1,
				   .opcode = IBV_WR_SEND_WITH_INV,
				   .send_flags = IBV_SEND_SIGNALED,
				   .invalidate_rkey = p.mr->rkey };
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_RDMA_WRITE, 1, &s, 1,
			      (uintptr_t)p.buf + 4096, p.mr->rkey, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	/* LOCAL_INV: not for a process. */
	wr.opcode = IBV_WR_LOCAL_INV;
	CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 2);
	CHECK_EQ(wc.status, IBV_WC_LOC_QP_OP_ERR);
	epair_close(&p);
	return 0;
}

/* The MR, not the QP, lacks the right. */
CHECK_CASE(err_mr_rights)
{
	struct epair p;
	char *ro = malloc(4096);
	struct ibv_mr *romr;
	struct ibv_wc wc;
	struct ibv_sge s;

	CHECK(ro);
	CHECK_EQ(epair_open(&p, VT_ALL_ACCESS, 7), 0);
	romr = vt_reg(&p.d, ro, 4096, IBV_ACCESS_REMOTE_READ);
	CHECK(romr);
	s = (struct ibv_sge){ (uintptr_t)p.buf, 8, p.mr->lkey };
	strcpy(ro, "readable");
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_RDMA_READ, 1, &s, 1, (uintptr_t)ro,
			      romr->rkey, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK(!memcmp(p.buf, "readable", 8));
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_RDMA_WRITE, 2, &s, 1, (uintptr_t)ro,
			      romr->rkey, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_REM_ACCESS_ERR);
	CHECK(!memcmp(ro, "readable", 8));
	vt_dereg(romr);
	epair_close(&p);
	free(ro);
	return 0;
}

/* A receive too short: its completion a length error, the sender's NAKed. */
CHECK_CASE(err_short_recv)
{
	struct epair p;
	struct ibv_wc wc;
	struct ibv_sge s, r;

	CHECK_EQ(epair_open(&p, VT_ALL_ACCESS, 7), 0);
	s = (struct ibv_sge){ (uintptr_t)p.buf, 100, p.mr->lkey };
	r = (struct ibv_sge){ (uintptr_t)p.buf + 4096, 50, p.mr->lkey };
	CHECK_EQ(vt_post_recv(p.b.qp, 5, &r, 1), 0);
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_SEND, 1, &s, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 5);
	CHECK_EQ(wc.status, IBV_WC_LOC_LEN_ERR);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_REM_INV_REQ_ERR);
	epair_close(&p);
	return 0;
}

/* No receive posted: RNR NAKs, retried as many times as asked. */
CHECK_CASE(err_rnr)
{
	struct epair p;
	struct ibv_wc wc;
	struct ibv_sge s, r;

	/* rnr_retry = 1: the second RNR NAK ends it. */
	CHECK_EQ(epair_open(&p, VT_ALL_ACCESS, 1), 0);
	s = (struct ibv_sge){ (uintptr_t)p.buf, 8, p.mr->lkey };
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_SEND, 1, &s, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_RNR_RETRY_EXC_ERR);
	epair_close(&p);

	/* rnr_retry = 7 (forever): the send waits for the receive. */
	CHECK_EQ(epair_open(&p, VT_ALL_ACCESS, 7), 0);
	s = (struct ibv_sge){ (uintptr_t)p.buf, 8, p.mr->lkey };
	r = (struct ibv_sge){ (uintptr_t)p.buf + 4096, 8, p.mr->lkey };
	strcpy(p.buf, "waited!");
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_SEND, 2, &s, 1, 0, 0, 0), 0);
	CHECK(vt_no_completion(p.a.scq, 0.2));
	CHECK_EQ(vt_post_recv(p.b.qp, 6, &r, 1), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
	CHECK(!memcmp(p.buf + 4096, "waited!", 8));
	epair_close(&p);
	return 0;
}

/* A peer that never answers: transport retries, then an error. */
CHECK_CASE(err_no_peer)
{
	struct vt_dev d;
	struct vt_qp a;
	char buf[8];
	struct ibv_mr *mr;
	struct ibv_wc wc;
	struct ibv_sge s;

	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_qp_create(&d, &a, IBV_QPT_RC, 4, NULL, false), 0);
	CHECK_EQ(vt_rc_to_rts(&d, a.qp, 0xabcdef, VT_ALL_ACCESS, 7, 1), 0);
	mr = vt_reg(&d, buf, 8, VT_ALL_ACCESS);
	CHECK(mr);
	s = (struct ibv_sge){ (uintptr_t)buf, 8, mr->lkey };
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_SEND, 1, &s, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
	CHECK_EQ(wc.status, IBV_WC_RETRY_EXC_ERR);
	vt_dereg(mr);
	vt_qp_destroy(&a);
	vt_close(&d);
	return 0;
}

/* Moving a QP to error flushes what it holds; posting then flushes too. */
CHECK_CASE(err_flush)
{
	struct epair p;
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
	struct ibv_wc wc;
	struct ibv_sge s, r;

	CHECK_EQ(epair_open(&p, VT_ALL_ACCESS, 7), 0);
	r = (struct ibv_sge){ (uintptr_t)p.buf, 8, p.mr->lkey };
	s = r;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(vt_post_recv(p.b.qp, i, &r, 1), 0);
	CHECK_EQ(ibv_modify_qp(p.b.qp, &a, IBV_QP_STATE), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(vt_poll(p.b.rcq, &wc, 10), 0);
		CHECK_EQ(wc.wr_id, i);
		CHECK_EQ(wc.status, IBV_WC_WR_FLUSH_ERR);
	}
	CHECK_EQ(vt_post_send(p.b.qp, IBV_WR_SEND, 7, &s, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(p.b.scq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 7);
	CHECK_EQ(wc.status, IBV_WC_WR_FLUSH_ERR);
	/* Malformed requests are refused at post time. */
	{
		struct ibv_sge many[17];
		struct ibv_send_wr wr = { .sg_list = many, .num_sge = 17,
					  .opcode = IBV_WR_SEND }, *bad;

		memset(many, 0, sizeof(many));
		CHECK_EQ(ibv_post_send(p.a.qp, &wr, &bad), EINVAL);
		CHECK(bad == &wr);
	}
	epair_close(&p);
	return 0;
}

/* A CQ overrun: an asynchronous CQ error, no corruption, no crash. */
CHECK_CASE(err_cq_overrun)
{
	struct vt_dev d;
	struct vt_qp a, b;
	struct ibv_qp_init_attr init = { .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 32, .max_recv_wr = 32, .max_send_sge = 1,
			 .max_recv_sge = 1 } };
	char buf[64];
	struct ibv_mr *mr;
	struct ibv_sge s;
	struct ibv_wc wc;
	int n = 0;

	CHECK_EQ(vt_open(&d), 0);
	memset(&a, 0, sizeof(a));
	a.scq = ibv_create_cq(d.ctx, 4, NULL, NULL, 0);
	a.rcq = ibv_create_cq(d.ctx, 4, NULL, NULL, 0);
	CHECK(a.scq && a.rcq);
	init.send_cq = a.scq;
	init.recv_cq = a.rcq;
	a.qp = ibv_create_qp(d.pd, &init);
	CHECK(a.qp);
	CHECK_EQ(vt_qp_create(&d, &b, IBV_QPT_RC, 32, NULL, false), 0);
	CHECK_EQ(vt_connect(&d, &a, &b), 0);
	mr = vt_reg(&d, buf, sizeof(buf), VT_ALL_ACCESS);
	CHECK(mr);
	s = (struct ibv_sge){ (uintptr_t)buf, 8, mr->lkey };
	for (int i = 0; i < 20; i++)
		CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, i, &s, 1,
				      (uintptr_t)buf + 32, mr->rkey, 0), 0);
	CHECK_EQ(vt_wait_async(d.ctx, IBV_EVENT_CQ_ERR, 10), 0);
	while (ibv_poll_cq(a.scq, 1, &wc) == 1)
		CHECK_EQ(wc.wr_id, n++);
	CHECK(n <= a.scq->cqe);
	vt_dereg(mr);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	return 0;
}

/* The port follows its netdev, with asynchronous events. */
CHECK_CASE(port_events)
{
	const char *nd = getenv("SODP_TEST_NETDEV");
	struct vt_dev d;
	struct ibv_port_attr pa;
	char cmd[128];

	CHECK(nd);
	CHECK_EQ(vt_open(&d), 0);
	snprintf(cmd, sizeof(cmd), "ip link set dev %s down", nd);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(vt_wait_async(d.ctx, IBV_EVENT_PORT_ERR, 10), 0);
	CHECK_EQ(ibv_query_port(d.ctx, 1, &pa), 0);
	CHECK_EQ(pa.state, IBV_PORT_DOWN);
	snprintf(cmd, sizeof(cmd), "ip link set dev %s up", nd);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(vt_wait_async(d.ctx, IBV_EVENT_PORT_ACTIVE, 10), 0);
	CHECK_EQ(ibv_query_port(d.ctx, 1, &pa), 0);
	CHECK_EQ(pa.state, IBV_PORT_ACTIVE);
	vt_close(&d);
	return 0;
}

/*
 * Only what works is advertised, and what works is: memory management
 * extensions (fast registration: kernel storage reads the flag; the NVMe
 * and NFS tests use it), memory windows of type 1 and 2B (test_mw.c), XRC
 * (test_xrc.c); not type 2A windows or checksum offload.
 */
CHECK_CASE(err_caps_honest)
{
	struct vt_dev d;
	struct ibv_device_attr attr;
	unsigned int have = IBV_DEVICE_MEM_MGT_EXTENSIONS | IBV_DEVICE_MEM_WINDOW |
			    IBV_DEVICE_MEM_WINDOW_TYPE_2B | IBV_DEVICE_XRC;
	unsigned int lack = IBV_DEVICE_MEM_WINDOW_TYPE_2A | IBV_DEVICE_UD_IP_CSUM;

	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(ibv_query_device(d.ctx, &attr), 0);
	CHECK_EQ(attr.device_cap_flags & have, have);
	CHECK_EQ(attr.device_cap_flags & lack, 0);
	CHECK(attr.max_mw > 0);
	vt_close(&d);
	return 0;
}

/*
 * path_mtu: a value that is no IB MTU is refused (it used to be taken, and
 * a message then counted 0 packets); a valid one above what the port
 * carries is clamped to the port's active MTU.
 */
CHECK_CASE(err_path_mtu)
{
	struct vt_dev d;
	struct vt_qp a;
	struct ibv_port_attr port;
	struct ibv_qp_attr attr;
	struct ibv_qp_init_attr init;
	const int bad[] = { 0, 6, 7, 255 };

	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(ibv_query_port(d.ctx, 1, &port), 0);
	CHECK_EQ(vt_qp_create(&d, &a, IBV_QPT_RC, 4, NULL, false), 0);
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_INIT;
	attr.port_num = 1;
	attr.qp_access_flags = VT_ALL_ACCESS;
	CHECK_EQ(ibv_modify_qp(a.qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			       IBV_QP_PORT | IBV_QP_ACCESS_FLAGS), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad) + 1; i++) {
		memset(&attr, 0, sizeof(attr));
		attr.qp_state = IBV_QPS_RTR;
		attr.path_mtu = i < ARRAY_SIZE(bad) ? bad[i] : IBV_MTU_4096;
		attr.dest_qp_num = a.qp->qp_num;
		attr.max_dest_rd_atomic = 1;
		attr.min_rnr_timer = 1;
		attr.ah_attr.is_global = 1;
		attr.ah_attr.grh.dgid = d.gid;
		attr.ah_attr.grh.sgid_index = d.gid_index;
		attr.ah_attr.grh.hop_limit = 64;
		attr.ah_attr.port_num = 1;
		CHECK_EQ(ibv_modify_qp(a.qp, &attr, IBV_QP_STATE | IBV_QP_AV |
				       IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				       IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
				       IBV_QP_MIN_RNR_TIMER),
			 i < ARRAY_SIZE(bad) ? EINVAL : 0);
	}
	CHECK_EQ(ibv_query_qp(a.qp, &attr, IBV_QP_PATH_MTU, &init), 0);
	CHECK_EQ(attr.path_mtu, port.active_mtu);
	vt_qp_destroy(&a);
	vt_close(&d);
	return 0;
}

/*
 * Back to RESET, a QP's completions not yet polled are gone (as with a
 * NIC), and only its own: a QP used again must not meet its past flushes.
 */
CHECK_CASE(qp_reset_drops_completions)
{
	struct ibv_qp_attr err = { .qp_state = IBV_QPS_ERR };
	struct ibv_qp_attr reset = { .qp_state = IBV_QPS_RESET };
	struct ibv_qp_init_attr init = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1,
			 .max_recv_sge = 1 },
	};
	struct vt_dev d;
	struct vt_qp a, b;
	struct ibv_qp *c;
	struct ibv_wc wc;
	char buf[64];
	struct ibv_mr *mr;
	struct ibv_sge s;

	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_pair(&d, &a, &b, 8), 0);
	/* c shares a's CQs. */
	init.send_cq = a.scq;
	init.recv_cq = a.rcq;
	CHECK(c = ibv_create_qp(d.pd, &init));
	CHECK_EQ(vt_rc_to_rts(&d, c, b.qp->qp_num, VT_ALL_ACCESS, 7, 1), 0);
	CHECK(mr = ibv_reg_mr(d.pd, buf, sizeof(buf), VT_ALL_ACCESS));
	s = (struct ibv_sge){ (uintptr_t)buf, sizeof(buf), mr->lkey };
	CHECK_EQ(vt_post_recv(a.qp, 1, &s, 1), 0);
	CHECK_EQ(vt_post_recv(c, 2, &s, 1), 0);
	CHECK_EQ(vt_post_recv(a.qp, 3, &s, 1), 0);
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 4, &s, 1, (uintptr_t)buf,
			      mr->rkey, 0), 0);
	CHECK_EQ(vt_poll(a.scq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 4);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(ibv_modify_qp(a.qp, &err, IBV_QP_STATE), 0);
	CHECK_EQ(ibv_modify_qp(c, &err, IBV_QP_STATE), 0);
	/* Three flushes in a's receive CQ (given time), then a is reset: c's alone stays. */
	usleep(300000);
	CHECK_EQ(ibv_modify_qp(a.qp, &reset, IBV_QP_STATE), 0);
	CHECK_EQ(vt_poll(a.rcq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 2);
	CHECK_EQ(wc.qp_num, c->qp_num);
	CHECK_EQ(wc.status, IBV_WC_WR_FLUSH_ERR);
	CHECK(vt_no_completion(a.rcq, 0.2));
	/* And a connects again and works, its CQs clean. */
	CHECK_EQ(ibv_modify_qp(b.qp, &reset, IBV_QP_STATE), 0);
	CHECK_EQ(vt_connect(&d, &a, &b), 0);
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 5, &s, 1, (uintptr_t)buf,
			      mr->rkey, 0), 0);
	CHECK_EQ(vt_poll(a.scq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 5);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(ibv_destroy_qp(c), 0);
	CHECK_EQ(ibv_dereg_mr(mr), 0);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	return 0;
}
