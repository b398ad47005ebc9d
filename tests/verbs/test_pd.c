// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: parent domains, thread domains and imported devices,
 * PDs and regions.  A parent domain stands for its PD everywhere a PD goes
 * (regions, QPs, an extended CQ), with data checked through them; a PD or
 * thread domain a parent domain uses cannot go before it, nor a parent
 * domain before its QPs and CQs (EBUSY); wrong attributes are EINVAL.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/check.h"
#include "vt.h"

#define LEN (64 * 1024)

static void *pd_alloc(struct ibv_pd *pd, void *ctx, size_t size, size_t align,
		      uint64_t type)
{
	return IBV_ALLOCATOR_USE_DEFAULT;
}

static void pd_free(struct ibv_pd *pd, void *ctx, void *ptr, uint64_t type)
{
}

CHECK_CASE(parent_domain)
{
	struct ibv_td_init_attr tda = {};
	struct ibv_parent_domain_init_attr pda = {};
	struct ibv_cq_init_attr_ex cqa = {
		.cqe = 64, .wc_flags = IBV_WC_STANDARD_FLAGS,
		.comp_mask = IBV_CQ_INIT_ATTR_MASK_FLAGS | IBV_CQ_INIT_ATTR_MASK_PD,
	};
	struct ibv_qp_init_attr qa = {
		.qp_type = IBV_QPT_RC, .cap = { 16, 16, 1, 1, 0 },
	};
	struct ibv_pd *parent, *bad;
	struct ibv_qp *a, *b;
	struct ibv_mr *amr, *bmr;
	struct ibv_cq_ex *cqx;
	struct ibv_cq *cq;
	struct ibv_td *td;
	struct ibv_sge s, r;
	struct ibv_wc wc;
	struct vt_dev d;
	char *abuf, *bbuf;
	int ctx_cookie;

	CHECK_EQ(vt_open(&d), 0);
	tda.comp_mask = 1;
	CHECK(!ibv_alloc_td(d.ctx, &tda));
	CHECK_EQ(errno, EINVAL);
	tda.comp_mask = 0;
	td = ibv_alloc_td(d.ctx, &tda);
	CHECK(td);

	pda = (struct ibv_parent_domain_init_attr){
		.pd = d.pd, .td = td, .alloc = pd_alloc, .free = pd_free,
		.pd_context = &ctx_cookie,
		.comp_mask = IBV_PARENT_DOMAIN_INIT_ATTR_ALLOCATORS |
			     IBV_PARENT_DOMAIN_INIT_ATTR_PD_CONTEXT,
	};
	parent = ibv_alloc_parent_domain(d.ctx, &pda);
	CHECK(parent);
	/* No PD, an unknown attribute, a parent domain over a parent domain. */
	pda.pd = NULL;
	CHECK(!ibv_alloc_parent_domain(d.ctx, &pda));
	CHECK_EQ(errno, EINVAL);
	pda.pd = d.pd;
	pda.comp_mask |= 1 << 7;
	CHECK(!ibv_alloc_parent_domain(d.ctx, &pda));
	CHECK_EQ(errno, EINVAL);
	pda.comp_mask = 0;
	pda.pd = parent;
	CHECK(!ibv_alloc_parent_domain(d.ctx, &pda));
	CHECK_EQ(errno, EINVAL);

	/* An extended CQ in the parent domain; a plain PD is none. */
	cqa.parent_domain = d.pd;
	CHECK(!ibv_create_cq_ex(d.ctx, &cqa));
	CHECK_EQ(errno, EINVAL);
	cqa.parent_domain = parent;
	cqx = ibv_create_cq_ex(d.ctx, &cqa);
	CHECK(cqx);
	cq = ibv_cq_ex_to_cq(cqx);

	/* Regions and QPs of the parent domain: a WRITE and a SEND, checked. */
	abuf = calloc(1, LEN);
	bbuf = calloc(1, LEN);
	CHECK(abuf && bbuf);
	amr = ibv_reg_mr(parent, abuf, LEN, VT_ALL_ACCESS);
	bmr = ibv_reg_mr(parent, bbuf, LEN, VT_ALL_ACCESS);
	CHECK(amr && bmr);
	CHECK(amr->pd == parent);
	qa.send_cq = qa.recv_cq = cq;
	a = ibv_create_qp(parent, &qa);
	b = ibv_create_qp(parent, &qa);
	CHECK(a && b);
	CHECK_EQ(vt_rc_to_rts(&d, a, b->qp_num, VT_ALL_ACCESS, 7, 1), 0);
	CHECK_EQ(vt_rc_to_rts(&d, b, a->qp_num, VT_ALL_ACCESS, 7, 1), 0);
	fill_pattern(abuf, LEN, 7, 0);
	s = (struct ibv_sge){ (uintptr_t)abuf, LEN, amr->lkey };
	CHECK_EQ(vt_post_send(a, IBV_WR_RDMA_WRITE, 1, &s, 1, (uintptr_t)bbuf,
			      bmr->rkey, 0), 0);
	CHECK_EQ(vt_poll(cq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(bbuf, LEN, 7, 0), -1);
	/* The regions are the PD's too: a QP of the PD itself uses them. */
	fill_pattern(abuf, 4096, 8, 0);
	r = (struct ibv_sge){ (uintptr_t)bbuf, 4096, bmr->lkey };
	CHECK_EQ(vt_post_recv(b, 2, &r, 1), 0);
	s.length = 4096;
	CHECK_EQ(vt_post_send(a, IBV_WR_SEND, 3, &s, 1, 0, 0, 0), 0);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(vt_poll(cq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	}
	CHECK_EQ(check_pattern(bbuf, 4096, 8, 0), -1);

	/*
	 * What a parent domain uses stays while it does; it stays while QPs
	 * and CQs made through it do (as on mlx5), not for its regions.
	 */
	CHECK_EQ(ibv_dealloc_pd(d.pd), EBUSY);
	CHECK_EQ(ibv_dealloc_td(td), EBUSY);
	CHECK_EQ(ibv_dealloc_pd(parent), EBUSY);
	CHECK_EQ(ibv_destroy_qp(a), 0);
	CHECK_EQ(ibv_dealloc_pd(parent), EBUSY);
	CHECK_EQ(ibv_destroy_qp(b), 0);
	CHECK_EQ(ibv_dealloc_pd(parent), EBUSY);
	CHECK_EQ(ibv_destroy_cq(cq), 0);
	CHECK_EQ(ibv_dealloc_pd(parent), 0);
	CHECK_EQ(ibv_dereg_mr(amr), 0);
	CHECK_EQ(ibv_dereg_mr(bmr), 0);
	CHECK_EQ(ibv_dealloc_td(td), 0);
	/* A parent domain without a thread domain, over the same PD. */
	pda = (struct ibv_parent_domain_init_attr){ .pd = d.pd };
	bad = ibv_alloc_parent_domain(d.ctx, &pda);
	CHECK(bad);
	CHECK_EQ(ibv_dealloc_pd(bad), 0);
	free(abuf);
	free(bbuf);
	vt_close(&d);
	return 0;
}

/*
 * ibv_import_device(): a second context on the first's command fd (as a
 * process that was handed it) imports its PD and region by handle, moves
 * data through them on QPs of its own, and lets them go (unimport) while
 * the first context keeps and releases them.
 */
CHECK_CASE(import_device)
{
	struct ibv_qp_init_attr qa = {
		.qp_type = IBV_QPT_RC, .cap = { 4, 4, 1, 1, 0 },
	};
	struct vt_qp a = {}, b = {};
	struct ibv_context *ctx2;
	struct ibv_pd *pd2;
	struct ibv_mr *mr, *mr2;
	struct ibv_wc wc;
	struct vt_dev d, d2;
	char *buf;
	int fd;

	CHECK_EQ(vt_open(&d), 0);
	buf = aligned_alloc(4096, 2 * LEN);
	CHECK(buf);
	mr = vt_reg(&d, buf, 2 * LEN, VT_ALL_ACCESS);
	CHECK(mr);
	fd = dup(d.ctx->cmd_fd);
	CHECK(fd >= 0);
	ctx2 = ibv_import_device(fd);
	CHECK(ctx2);
	pd2 = ibv_import_pd(ctx2, d.pd->handle);
	CHECK(pd2);
	CHECK_EQ(pd2->handle, d.pd->handle);
	mr2 = ibv_import_mr(pd2, mr->handle);
	CHECK(mr2);
	CHECK_EQ(mr2->lkey, mr->lkey);
	CHECK_EQ(mr2->rkey, mr->rkey);
	CHECK_EQ(mr2->length, mr->length);
	CHECK(!ibv_import_mr(pd2, mr->handle + 1000));

	/* QPs of the imported context, on the imported PD. */
	d2 = d;
	d2.ctx = ctx2;
	d2.pd = pd2;
	for (struct vt_qp *q = &a; q; q = q == &a ? &b : NULL) {
		q->scq = ibv_create_cq(ctx2, 8, NULL, NULL, 0);
		q->rcq = ibv_create_cq(ctx2, 8, NULL, NULL, 0);
		CHECK(q->scq && q->rcq);
		qa.send_cq = q->scq;
		qa.recv_cq = q->rcq;
		q->qp = ibv_create_qp(pd2, &qa);
		CHECK(q->qp);
	}
	CHECK_EQ(vt_connect(&d2, &a, &b), 0);
	fill_pattern(buf, LEN, 3, 0);
	{
		struct ibv_sge s = { (uintptr_t)buf, LEN, mr2->lkey };

		CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 1, &s, 1,
				      (uintptr_t)buf + LEN, mr2->rkey, 0), 0);
		CHECK_EQ(vt_poll(a.scq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(check_pattern(buf + LEN, LEN, 3, 0), -1);
	}
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	ibv_unimport_mr(mr2);
	ibv_unimport_pd(pd2);
	CHECK_EQ(ibv_close_device(ctx2), 0);
	/* Still the first context's, and released by it. */
	CHECK_EQ(vt_dereg(mr), 0);
	free(buf);
	vt_close(&d);
	return 0;
}
