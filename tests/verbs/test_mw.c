// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: memory windows.  A window of type 1 (ibv_bind_mw) and
 * of type 2 (IBV_WR_BIND_MW, ibv_wr_bind_mw) gives remote access to its
 * range of a region, with its own rights, data checked, over pinned and
 * ODP regions; outside its range or rights, through another QP (type 2),
 * or once unbound (a zero-length bind, LOCAL_INV, a peer's SEND with
 * Invalidate, dealloc, the region's dereg) it is a remote access error.
 * Binds IBTA refuses complete with IBV_WC_MW_BIND_ERR.  And windows bound,
 * unbound, freed and their region deregistered by one thread while
 * another writes through them.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/check.h"
#include "vt.h"

#define BUF (256 * 1024)
#define WIN_OFF 8192
#define WIN_LEN (64 * 1024)

/*
 * A link whose b side has a window of @type over its own region, which
 * allows binding and local writes but no remote access of its own.
 */
struct mwlink {
	struct vt_link l;
	struct ibv_mr *mr;		/* b's region for windows */
	struct ibv_mw *mw;
};

static int mw_open(struct mwlink *m, enum ibv_mw_type type)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND;

	memset(m, 0, sizeof(*m));
	CHECK_EQ(vt_open(&m->l.d), 0);
	CHECK_EQ(vt_pair(&m->l.d, &m->l.a, &m->l.b, 16), 0);
	CHECK_EQ(vt_link_mem(&m->l, BUF), 0);
	if (m->l.d.mr_mode != VT_MR_PINNED)
		access |= IBV_ACCESS_ON_DEMAND;
	m->mr = ibv_reg_mr(m->l.d.pd, m->l.bbuf, BUF, access);
	CHECK(m->mr);
	m->mw = ibv_alloc_mw(m->l.d.pd, type);
	CHECK(m->mw);
	CHECK_EQ(m->mw->type, type);
	return 0;
}

static void mw_close(struct mwlink *m)
{
	if (m->mw)
		CHECK_CLEANUP(ibv_dealloc_mw(m->mw));
	if (m->mr)
		CHECK_CLEANUP(ibv_dereg_mr(m->mr));
	vt_link_close(&m->l);
}

static struct ibv_mw_bind_info mw_info(struct mwlink *m, size_t off, size_t len,
				       int access)
{
	return (struct ibv_mw_bind_info){
		.mr = m->mr, .addr = (uintptr_t)m->l.bbuf + off, .length = len,
		.mw_access_flags = access,
	};
}

/* Bind a type 1 window by ibv_bind_mw() on b; the completion's status. */
static int bind1(struct mwlink *m, size_t off, size_t len, int access)
{
	struct ibv_mw_bind bind = {
		.wr_id = 77, .send_flags = IBV_SEND_SIGNALED,
		.bind_info = mw_info(m, off, len, access),
	};
	struct ibv_wc wc;

	CHECK_EQ(ibv_bind_mw(m->l.b.qp, m->mw, &bind), 0);
	CHECK_EQ(vt_poll(m->l.b.scq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 77);
	if (wc.status == IBV_WC_SUCCESS)
		CHECK_EQ(wc.opcode, IBV_WC_BIND_MW);
	return wc.status;
}

/* Bind a type 2 window by IBV_WR_BIND_MW on @qp; the completion's status. */
static int bind2(struct mwlink *m, struct vt_qp *q, uint32_t rkey, size_t off,
		 size_t len, int access)
{
	struct ibv_send_wr wr = {
		.wr_id = 78, .opcode = IBV_WR_BIND_MW, .send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	struct ibv_wc wc;

	wr.bind_mw.mw = m->mw;
	wr.bind_mw.rkey = rkey;
	wr.bind_mw.bind_info = mw_info(m, off, len, access);
	CHECK_EQ(ibv_post_send(q->qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(q->scq, &wc, 10), 0);
	CHECK_EQ(wc.wr_id, 78);
	if (wc.status == IBV_WC_SUCCESS)
		CHECK_EQ(wc.opcode, IBV_WC_BIND_MW);
	return wc.status;
}

/*
 * a does @op of @len bytes at window offset @off (from a's buffer at
 * offset 0, into it for READ) with @rkey; the completion's status.
 */
static int remote(struct mwlink *m, enum ibv_wr_opcode op, uint32_t rkey, size_t off,
		  size_t len)
{
	struct ibv_sge s = { (uintptr_t)m->l.abuf, len, m->l.amr->lkey };
	struct ibv_wc wc;

	CHECK_EQ(vt_post_send(m->l.a.qp, op, 5, &s, 1,
			      (uintptr_t)m->l.bbuf + WIN_OFF + off, rkey, 0), 0);
	CHECK_EQ(vt_poll(m->l.a.scq, &wc, 10), 0);
	return wc.status;
}

/* A WRITE and a READ back through the window, every byte checked. */
static int write_read(struct mwlink *m, uint32_t rkey, unsigned int seed)
{
	size_t off = 1021, len = WIN_LEN - 2 * 1021;

	fill_pattern(m->l.abuf, len, seed, 0);
	CHECK_EQ(remote(m, IBV_WR_RDMA_WRITE, rkey, off, len), IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(m->l.bbuf + WIN_OFF + off, len, seed, 0), -1);
	memset(m->l.abuf, 0, len);
	CHECK_EQ(remote(m, IBV_WR_RDMA_READ, rkey, off, len), IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(m->l.abuf, len, seed, 0), -1);
	return 0;
}

CHECK_CASE(mw_type1)
{
	int rw = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	struct mwlink m;
	uint32_t old;

	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	old = m.mw->rkey;
	CHECK_EQ(bind1(&m, WIN_OFF, WIN_LEN, rw), IBV_WC_SUCCESS);
	/* Each bind gives the window a new key: ibv_bind_mw() set it. */
	CHECK(m.mw->rkey != old && (m.mw->rkey >> 8) == (old >> 8));
	CHECK_EQ(write_read(&m, m.mw->rkey, 1), 0);
	/* Bound again, narrower and read only: the old key is dead. */
	old = m.mw->rkey;
	CHECK_EQ(bind1(&m, WIN_OFF, 4096, IBV_ACCESS_REMOTE_READ), IBV_WC_SUCCESS);
	CHECK_EQ(remote(&m, IBV_WR_RDMA_READ, m.mw->rkey, 0, 4096), IBV_WC_SUCCESS);
	CHECK_EQ(remote(&m, IBV_WR_RDMA_READ, old, 0, 8), IBV_WC_REM_ACCESS_ERR);
	mw_close(&m);

	/* Past the window (inside the region), and a right it lacks. */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	CHECK_EQ(bind1(&m, WIN_OFF, WIN_LEN, IBV_ACCESS_REMOTE_READ), IBV_WC_SUCCESS);
	CHECK_EQ(remote(&m, IBV_WR_RDMA_READ, m.mw->rkey, WIN_LEN - 4, 8),
		 IBV_WC_REM_ACCESS_ERR);
	mw_close(&m);
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	CHECK_EQ(bind1(&m, WIN_OFF, WIN_LEN, IBV_ACCESS_REMOTE_READ), IBV_WC_SUCCESS);
	CHECK_EQ(remote(&m, IBV_WR_RDMA_WRITE, m.mw->rkey, 0, 8), IBV_WC_REM_ACCESS_ERR);
	mw_close(&m);

	/* A zero-length bind unbinds it. */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	CHECK_EQ(bind1(&m, WIN_OFF, WIN_LEN, rw), IBV_WC_SUCCESS);
	CHECK_EQ(bind1(&m, WIN_OFF, 0, 0), IBV_WC_SUCCESS);
	CHECK_EQ(remote(&m, IBV_WR_RDMA_WRITE, m.mw->rkey, 0, 8), IBV_WC_REM_ACCESS_ERR);
	mw_close(&m);
	return 0;
}

CHECK_CASE(mw_type2)
{
	int rw = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	struct ibv_send_wr wr = { .wr_id = 9, .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct ibv_sge s, r;
	struct mwlink m;
	struct ibv_wc wc;
	struct vt_qp c, e;
	uint32_t rkey;

	/* Bound through b: a's writes and reads land; LOCAL_INV ends it. */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_2), 0);
	rkey = ibv_inc_rkey(m.mw->rkey);
	CHECK_EQ(bind2(&m, &m.l.b, rkey, WIN_OFF, WIN_LEN, rw), IBV_WC_SUCCESS);
	CHECK_EQ(write_read(&m, rkey, 2), 0);
	/* A bound type 2 window cannot be bound again. */
	CHECK_EQ(bind2(&m, &m.l.b, ibv_inc_rkey(rkey), WIN_OFF, WIN_LEN, rw),
		 IBV_WC_MW_BIND_ERR);
	mw_close(&m);

	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_2), 0);
	rkey = ibv_inc_rkey(m.mw->rkey);
	CHECK_EQ(bind2(&m, &m.l.b, rkey, WIN_OFF, WIN_LEN, rw), IBV_WC_SUCCESS);
	wr.opcode = IBV_WR_LOCAL_INV;
	wr.invalidate_rkey = rkey;
	CHECK_EQ(ibv_post_send(m.l.b.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(m.l.b.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.opcode, IBV_WC_LOCAL_INV);
	CHECK_EQ(remote(&m, IBV_WR_RDMA_WRITE, rkey, 0, 8), IBV_WC_REM_ACCESS_ERR);
	mw_close(&m);

	/* Invalidated by a's SEND with Invalidate: b's receive says so. */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_2), 0);
	rkey = ibv_inc_rkey(m.mw->rkey);
	CHECK_EQ(bind2(&m, &m.l.b, rkey, WIN_OFF, WIN_LEN, rw), IBV_WC_SUCCESS);
	r = (struct ibv_sge){ (uintptr_t)m.l.bbuf, 64, m.l.bmr->lkey };
	CHECK_EQ(vt_post_recv(m.l.b.qp, 10, &r, 1), 0);
	s = (struct ibv_sge){ (uintptr_t)m.l.abuf, 16, m.l.amr->lkey };
	wr = (struct ibv_send_wr){ .wr_id = 11, .sg_list = &s, .num_sge = 1,
				   .opcode = IBV_WR_SEND_WITH_INV,
				   .send_flags = IBV_SEND_SIGNALED, .invalidate_rkey = rkey };
	CHECK_EQ(ibv_post_send(m.l.a.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(m.l.a.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(vt_poll(m.l.b.rcq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.byte_len, 16);
	CHECK(wc.wc_flags & IBV_WC_WITH_INV);
	CHECK_EQ(wc.invalidated_rkey, rkey);
	CHECK_EQ(remote(&m, IBV_WR_RDMA_WRITE, rkey, 0, 8), IBV_WC_REM_ACCESS_ERR);
	mw_close(&m);

	/*
	 * Type 2B: only the QP that bound it.  c (b's PD) reaches the window
	 * through its own peer e: refused.
	 */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_2), 0);
	rkey = ibv_inc_rkey(m.mw->rkey);
	CHECK_EQ(bind2(&m, &m.l.b, rkey, WIN_OFF, WIN_LEN, rw), IBV_WC_SUCCESS);
	CHECK_EQ(vt_pair(&m.l.d, &e, &c, 4), 0);
	s = (struct ibv_sge){ (uintptr_t)m.l.abuf, 8, m.l.amr->lkey };
	CHECK_EQ(vt_post_send(e.qp, IBV_WR_RDMA_WRITE, 1, &s, 1,
			      (uintptr_t)m.l.bbuf + WIN_OFF, rkey, 0), 0);
	CHECK_EQ(vt_poll(e.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_REM_ACCESS_ERR);
	vt_qp_destroy(&e);
	vt_qp_destroy(&c);
	/* b's own peer still can. */
	CHECK_EQ(write_read(&m, rkey, 3), 0);
	/* Deallocated: gone. */
	CHECK_EQ(ibv_dealloc_mw(m.mw), 0);
	m.mw = NULL;
	CHECK_EQ(remote(&m, IBV_WR_RDMA_WRITE, rkey, 0, 8), IBV_WC_REM_ACCESS_ERR);
	mw_close(&m);
	return 0;
}

/* The same through the extended QP API: ibv_wr_bind_mw, ibv_wr_local_inv. */
CHECK_CASE(mw_qp_ex)
{
	struct ibv_qp_init_attr_ex ix = {
		.qp_type = IBV_QPT_RC,
		.cap = { 16, 16, 1, 1, 0 },
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.send_ops_flags = IBV_QP_EX_WITH_BIND_MW | IBV_QP_EX_WITH_LOCAL_INV,
	};
	struct ibv_mw_bind_info info;
	struct ibv_qp_ex *qpx;
	struct mwlink m;
	struct ibv_wc wc;
	uint32_t rkey;

	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_2), 0);
	/* b again, as an extended QP. */
	ibv_destroy_qp(m.l.b.qp);
	ibv_destroy_qp(m.l.a.qp);
	ix.pd = m.l.d.pd;
	ix.send_cq = m.l.b.scq;
	ix.recv_cq = m.l.b.rcq;
	m.l.b.qp = ibv_create_qp_ex(m.l.d.ctx, &ix);
	CHECK(m.l.b.qp);
	ix.send_ops_flags = 0;
	ix.comp_mask = IBV_QP_INIT_ATTR_PD;
	ix.send_cq = m.l.a.scq;
	ix.recv_cq = m.l.a.rcq;
	m.l.a.qp = ibv_create_qp_ex(m.l.d.ctx, &ix);
	CHECK(m.l.a.qp);
	CHECK_EQ(vt_connect(&m.l.d, &m.l.a, &m.l.b), 0);
	qpx = ibv_qp_to_qp_ex(m.l.b.qp);

	rkey = ibv_inc_rkey(m.mw->rkey);
	info = mw_info(&m, WIN_OFF, WIN_LEN, IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	ibv_wr_start(qpx);
	qpx->wr_id = 1;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_bind_mw(qpx, m.mw, rkey, &info);
	CHECK_EQ(ibv_wr_complete(qpx), 0);
	CHECK_EQ(vt_poll(m.l.b.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.opcode, IBV_WC_BIND_MW);
	CHECK_EQ(write_read(&m, rkey, 4), 0);

	ibv_wr_start(qpx);
	qpx->wr_id = 2;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_local_inv(qpx, rkey);
	CHECK_EQ(ibv_wr_complete(qpx), 0);
	CHECK_EQ(vt_poll(m.l.b.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.opcode, IBV_WC_LOCAL_INV);
	CHECK_EQ(remote(&m, IBV_WR_RDMA_WRITE, rkey, 0, 8), IBV_WC_REM_ACCESS_ERR);
	mw_close(&m);
	return 0;
}

CHECK_CASE(mw_errors)
{
	int rw = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	struct ibv_mw_bind bind = { .wr_id = 1, .send_flags = IBV_SEND_SIGNALED };
	struct ibv_pd *pd2;
	struct ibv_mr *mr;
	struct vt_dev d2;
	struct mwlink m;

	/* Type 1 only through ibv_bind_mw(), type 2 only by a work request. */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_2), 0);
	bind.bind_info = mw_info(&m, WIN_OFF, WIN_LEN, rw);
	CHECK_EQ(ibv_bind_mw(m.l.b.qp, m.mw, &bind), EINVAL);
	/* A type 2 bind of length 0. */
	CHECK_EQ(bind2(&m, &m.l.b, ibv_inc_rkey(m.mw->rkey), WIN_OFF, 0, 0),
		 IBV_WC_MW_BIND_ERR);
	mw_close(&m);

	/* A range past the region. */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	CHECK_EQ(bind1(&m, BUF - 4096, 8192, rw), IBV_WC_MW_BIND_ERR);
	mw_close(&m);
	/* Zero-based windows: not here. */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	CHECK_EQ(bind1(&m, WIN_OFF, WIN_LEN, rw | IBV_ACCESS_ZERO_BASED), IBV_WC_MW_BIND_ERR);
	mw_close(&m);

	/* A region without IBV_ACCESS_MW_BIND, or not locally writable. */
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
		ibv_dereg_mr(m.mr);
		m.mr = ibv_reg_mr(m.l.d.pd, m.l.bbuf, BUF,
				  i ? IBV_ACCESS_MW_BIND : IBV_ACCESS_LOCAL_WRITE);
		CHECK(m.mr);
		CHECK_EQ(bind1(&m, WIN_OFF, WIN_LEN, i ? IBV_ACCESS_REMOTE_WRITE : rw),
			 IBV_WC_MW_BIND_ERR);
		mw_close(&m);
	}

	/*
	 * A window of another PD than the QP's: libibverbs refuses one of
	 * another PD than the region's (EPERM); the provider an unbind
	 * (no region) through a QP of another PD.
	 */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	pd2 = ibv_alloc_pd(m.l.d.ctx);
	CHECK(pd2);
	ibv_dealloc_mw(m.mw);
	m.mw = ibv_alloc_mw(pd2, IBV_MW_TYPE_1);
	CHECK(m.mw);
	bind.bind_info = mw_info(&m, WIN_OFF, WIN_LEN, rw);
	CHECK_EQ(ibv_bind_mw(m.l.b.qp, m.mw, &bind), EPERM);
	bind.bind_info = (struct ibv_mw_bind_info){};
	CHECK_EQ(ibv_bind_mw(m.l.b.qp, m.mw, &bind), EINVAL);
	ibv_dealloc_mw(m.mw);
	m.mw = NULL;
	/* ... and of another context (its PD's handle may be the QP's PD's). */
	CHECK_EQ(vt_open(&d2), 0);
	m.mw = ibv_alloc_mw(d2.pd, IBV_MW_TYPE_1);
	CHECK(m.mw);
	CHECK_EQ(m.mw->pd->handle, m.l.d.pd->handle);
	CHECK_EQ(ibv_bind_mw(m.l.b.qp, m.mw, &bind), EINVAL);
	ibv_dealloc_mw(m.mw);
	vt_close(&d2);
	/* ... and by the device, for a type 2 window posted directly. */
	m.mw = ibv_alloc_mw(pd2, IBV_MW_TYPE_2);
	CHECK(m.mw);
	CHECK_EQ(bind2(&m, &m.l.b, ibv_inc_rkey(m.mw->rkey), WIN_OFF, WIN_LEN, rw),
		 IBV_WC_MW_BIND_ERR);
	ibv_dealloc_mw(m.mw);
	m.mw = NULL;
	ibv_dealloc_pd(pd2);
	mw_close(&m);

	/* The region deregistered under a bound window: the window is dead. */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	CHECK_EQ(bind1(&m, WIN_OFF, WIN_LEN, rw), IBV_WC_SUCCESS);
	CHECK_EQ(ibv_dereg_mr(m.mr), 0);
	m.mr = NULL;
	CHECK_EQ(remote(&m, IBV_WR_RDMA_WRITE, m.mw->rkey, 0, 8), IBV_WC_REM_ACCESS_ERR);
	mw_close(&m);

	/* A region with a window bound keeps its rights (no rereg in place). */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	CHECK_EQ(bind1(&m, WIN_OFF, WIN_LEN, rw), IBV_WC_SUCCESS);
	CHECK(ibv_rereg_mr(m.mr, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0,
			   IBV_ACCESS_MW_BIND | (m.l.d.mr_mode == VT_MR_PINNED ? 0 :
						 IBV_ACCESS_ON_DEMAND)) != 0);
	CHECK_EQ(write_read(&m, m.mw->rkey, 6), 0);
	mw_close(&m);

	/* A window's rkey is no lkey. */
	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	CHECK_EQ(bind1(&m, WIN_OFF, WIN_LEN, rw), IBV_WC_SUCCESS);
	mr = m.l.amr;
	{
		struct ibv_sge s = { (uintptr_t)m.l.bbuf + WIN_OFF, 8, m.mw->rkey };
		struct ibv_wc wc;

		CHECK_EQ(vt_post_send(m.l.b.qp, IBV_WR_RDMA_WRITE, 3, &s, 1,
				      (uintptr_t)m.l.abuf, mr->rkey, 0), 0);
		CHECK_EQ(vt_poll(m.l.b.scq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_LOC_PROT_ERR);
	}
	mw_close(&m);
	return 0;
}

/* The window storm's side: what it binds through, and the key it gave. */
struct mwstorm {
	struct mwlink *m;
	struct vt_qp c, e;		/* a pair of b's PD that only binds */
	uint32_t rkey;			/* the last bound, for the writer */
	volatile bool stop;
	int rounds;
};

static int storm_bind(struct mwstorm *st, size_t len)
{
	struct ibv_mw_bind bind = {
		.wr_id = 1, .send_flags = IBV_SEND_SIGNALED,
		.bind_info = mw_info(st->m, WIN_OFF, len,
				     IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ),
	};
	struct ibv_wc wc;

	if (ibv_bind_mw(st->c.qp, st->m->mw, &bind) || vt_poll(st->c.scq, &wc, 10) ||
	    wc.status != IBV_WC_SUCCESS)
		return -1;
	__atomic_store_n(&st->rkey, st->m->mw->rkey, __ATOMIC_RELAXED);
	return 0;
}

/* Bind, unbind, reallocate the window and re-register its region, in turn. */
static void *mw_storm(void *arg)
{
	struct mwstorm *st = arg;
	struct mwlink *m = st->m;
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND;

	if (m->l.d.mr_mode != VT_MR_PINNED)
		access |= IBV_ACCESS_ON_DEMAND;
	for (int i = 0; !st->stop; i++) {
		switch (i % 4) {
		case 0:
		case 2:
			if (storm_bind(st, WIN_LEN))
				return (void *)1;
			break;
		case 1:
			if (storm_bind(st, 0))
				return (void *)2;
			break;
		default:
			/* The region goes while bound, then the window. */
			if (storm_bind(st, WIN_LEN) || ibv_dereg_mr(m->mr) ||
			    ibv_dealloc_mw(m->mw))
				return (void *)3;
			m->mr = ibv_reg_mr(m->l.d.pd, m->l.bbuf, BUF, access);
			m->mw = ibv_alloc_mw(m->l.d.pd, IBV_MW_TYPE_1);
			if (!m->mr || !m->mw)
				return (void *)4;
			break;
		}
		st->rounds++;
		usleep(300);
	}
	return NULL;
}

/*
 * A window allocated through a parent domain is of its PD, also once the
 * parent domain is gone (as on mlx5, windows and regions outlive it) and
 * a new PD took its memory: it binds and unbinds through a QP of that PD.
 */
CHECK_CASE(mw_parent_domain)
{
	int rw = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	struct ibv_parent_domain_init_attr pda = {};
	struct ibv_mw_bind bind = { .wr_id = 1, .send_flags = IBV_SEND_SIGNALED };
	struct ibv_pd *parent, *pd2;
	struct mwlink m;
	struct ibv_wc wc;

	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	CHECK_EQ(ibv_dealloc_mw(m.mw), 0);
	CHECK_EQ(ibv_dereg_mr(m.mr), 0);
	pda.pd = m.l.d.pd;
	parent = ibv_alloc_parent_domain(m.l.d.ctx, &pda);
	CHECK(parent);
	m.mw = ibv_alloc_mw(parent, IBV_MW_TYPE_1);
	CHECK(m.mw);
	/* libibverbs wants the window's and the region's PD to be one. */
	m.mr = ibv_reg_mr(parent, m.l.bbuf, BUF,
			  IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND |
			  (m.l.d.mr_mode != VT_MR_PINNED ? IBV_ACCESS_ON_DEMAND : 0));
	CHECK(m.mr);
	CHECK_EQ(ibv_dealloc_pd(parent), 0);
	pd2 = ibv_alloc_pd(m.l.d.ctx);
	CHECK(pd2);

	bind.bind_info = mw_info(&m, WIN_OFF, WIN_LEN, rw);
	CHECK_EQ(ibv_bind_mw(m.l.b.qp, m.mw, &bind), 0);
	CHECK_EQ(vt_poll(m.l.b.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(write_read(&m, m.mw->rkey, 31), 0);
	bind.bind_info = (struct ibv_mw_bind_info){};
	CHECK_EQ(ibv_bind_mw(m.l.b.qp, m.mw, &bind), 0);
	CHECK_EQ(vt_poll(m.l.b.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(remote(&m, IBV_WR_RDMA_WRITE, m.mw->rkey, 0, 64), IBV_WC_REM_ACCESS_ERR);
	CHECK_EQ(ibv_dealloc_pd(pd2), 0);
	mw_close(&m);
	return 0;
}

/*
 * Writes through a window that another thread binds, unbinds, frees and
 * whose region it deregisters: each ends in success or a remote access
 * error, nothing else, and the kernel stays quiet; then a last bind works.
 */
CHECK_CASE(mw_race)
{
	struct mwstorm st = {};
	struct mwlink m;
	int ok = 0, refused = 0;
	pthread_t t;
	void *ret;

	CHECK_EQ(mw_open(&m, IBV_MW_TYPE_1), 0);
	st.m = &m;
	CHECK_EQ(vt_pair(&m.l.d, &st.c, &st.e, 8), 0);
	CHECK_EQ(storm_bind(&st, WIN_LEN), 0);
	CHECK_EQ(pthread_create(&t, NULL, mw_storm, &st), 0);
	for (int i = 0; i < 300; i++) {
		uint32_t rkey = __atomic_load_n(&st.rkey, __ATOMIC_RELAXED);
		int status = remote(&m, IBV_WR_RDMA_WRITE, rkey, 512, 4096);

		CHECK(status == IBV_WC_SUCCESS || status == IBV_WC_REM_ACCESS_ERR);
		if (status == IBV_WC_SUCCESS) {
			ok++;
			continue;
		}
		refused++;
		CHECK_EQ(vt_reconnect(&m.l.d, &m.l.a, &m.l.b), 0);
	}
	st.stop = true;
	CHECK_EQ(pthread_join(t, &ret), 0);
	CHECK(!ret);
	printf("%d window changes; writes: %d done, %d refused\n", st.rounds, ok, refused);
	CHECK(st.rounds > 0);
	if (refused)
		CHECK_EQ(vt_reconnect(&m.l.d, &m.l.a, &m.l.b), 0);
	CHECK_EQ(storm_bind(&st, WIN_LEN), 0);
	CHECK_EQ(write_read(&m, st.rkey, 5), 0);
	vt_qp_destroy(&st.c);
	vt_qp_destroy(&st.e);
	mw_close(&m);
	return 0;
}
