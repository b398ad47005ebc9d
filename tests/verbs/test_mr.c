// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: ibv_rereg_mr() of pinned and ODP regions.  Rights and
 * PD change in place (the keys stay); a new translation is a new region
 * with new keys, and the old keys stop working; remote access follows
 * each change at once.  And a rereg storm against writes in flight.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/check.h"
#include "vt.h"

#define LEN 65536

struct rr {
	struct vt_dev d;
	struct vt_qp a, b;
	char *src, *dst, *dst2;
	struct ibv_mr *smr;
};

static void rr_close(struct rr *p)
{
	ibv_dereg_mr(p->smr);
	vt_qp_destroy(&p->a);
	vt_qp_destroy(&p->b);
	vt_close(&p->d);
	free(p->src);
	free(p->dst);
	free(p->dst2);
}

/* Both QPs back to RTS after an error (PSNs from 0 again). */
static int restate(struct rr *p)
{
	return vt_reconnect(&p->d, &p->a, &p->b);
}

/* A write of LEN bytes of pattern seed to raddr: its completion status. */
static int write_status(struct rr *p, uint64_t raddr, uint32_t rkey, unsigned int seed)
{
	struct ibv_sge s = { (uintptr_t)p->src, LEN, p->smr->lkey };
	struct ibv_wc wc;

	fill_pattern(p->src, LEN, seed, 0);
	if (vt_post_send(p->a.qp, IBV_WR_RDMA_WRITE, seed, &s, 1, raddr, rkey, 0) ||
	    vt_poll(p->a.scq, &wc, 10))
		return -1;
	return wc.status;
}

static int rereg_case(int odp)
{
	int rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | odp;
	struct ibv_pd *pd2;
	struct ibv_mr *mr;
	uint32_t key;
	struct rr p;

	memset(&p, 0, sizeof(p));
	CHECK_EQ(vt_open(&p.d), 0);
	CHECK_EQ(vt_pair(&p.d, &p.a, &p.b, 8), 0);
	p.src = malloc(LEN);
	p.dst = aligned_alloc(4096, LEN);
	p.dst2 = aligned_alloc(4096, 2 * LEN);
	CHECK(p.src && p.dst && p.dst2);
	CHECK(p.smr = ibv_reg_mr(p.d.pd, p.src, LEN, IBV_ACCESS_LOCAL_WRITE));
	CHECK(mr = ibv_reg_mr(p.d.pd, p.dst, LEN, rw));
	key = mr->rkey;
	CHECK_EQ(write_status(&p, (uintptr_t)p.dst, mr->rkey, 1), IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(p.dst, LEN, 1, 0), -1);

	/* Rights: no remote write, in place (same keys), refused at once. */
	CHECK_EQ(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0,
			      IBV_ACCESS_LOCAL_WRITE | odp), 0);
	CHECK_EQ(mr->rkey, key);
	CHECK_EQ(write_status(&p, (uintptr_t)p.dst, mr->rkey, 2), IBV_WC_REM_ACCESS_ERR);
	CHECK_EQ(check_pattern(p.dst, LEN, 1, 0), -1);
	CHECK_EQ(restate(&p), 0);
	CHECK_EQ(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0, rw), 0);
	CHECK_EQ(write_status(&p, (uintptr_t)p.dst, mr->rkey, 3), IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(p.dst, LEN, 3, 0), -1);

	/* Another PD: the pair's QPs (of the first) may not use it. */
	CHECK(pd2 = ibv_alloc_pd(p.d.ctx));
	CHECK_EQ(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_PD, pd2, NULL, 0, 0), 0);
	CHECK(mr->pd == pd2);
	CHECK_EQ(write_status(&p, (uintptr_t)p.dst, mr->rkey, 4), IBV_WC_REM_ACCESS_ERR);
	CHECK_EQ(restate(&p), 0);
	CHECK_EQ(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_PD, p.d.pd, NULL, 0, 0), 0);
	CHECK_EQ(write_status(&p, (uintptr_t)p.dst, mr->rkey, 5), IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(p.dst, LEN, 5, 0), -1);

	/* New memory: new keys; the old rkey reaches nothing any more. */
	CHECK_EQ(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_TRANSLATION, NULL, p.dst2,
			      2 * LEN, 0), 0);
	CHECK(mr->addr == p.dst2);
	CHECK_EQ(mr->length, 2 * LEN);
	CHECK(mr->rkey != key);
	CHECK_EQ(write_status(&p, (uintptr_t)p.dst2 + LEN, mr->rkey, 6), IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(p.dst2 + LEN, LEN, 6, 0), -1);
	CHECK_EQ(write_status(&p, (uintptr_t)p.dst, key, 7), IBV_WC_REM_ACCESS_ERR);
	CHECK_EQ(check_pattern(p.dst, LEN, 5, 0), -1);
	CHECK_EQ(restate(&p), 0);

	/* Pinned to ODP and back, with more rights: a new region each time. */
	key = mr->rkey;
	CHECK_EQ(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0,
			      (rw ^ IBV_ACCESS_ON_DEMAND) | IBV_ACCESS_REMOTE_READ), 0);
	CHECK(mr->rkey != key);
	CHECK_EQ(write_status(&p, (uintptr_t)p.dst2, mr->rkey, 8), IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(p.dst2, LEN, 8, 0), -1);

	CHECK_EQ(ibv_dereg_mr(mr), 0);
	CHECK_EQ(ibv_dealloc_pd(pd2), 0);
	rr_close(&p);
	return 0;
}

CHECK_CASE(mr_rereg)
{
	return rereg_case(0);
}

CHECK_CASE(mr_rereg_odp)
{
	return rereg_case(IBV_ACCESS_ON_DEMAND);
}

struct storm {
	struct rr *p;
	struct ibv_mr *mr;
	volatile bool stop;
	int rounds;
};

/* Flip the region between two buffers, and its rights, as fast as it can. */
static void *rereg_storm(void *arg)
{
	struct storm *s = arg;
	int rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;

	for (int i = 0; !s->stop; i++) {
		char *buf = i & 1 ? s->p->dst2 : s->p->dst;
		int flags = i % 3 ? IBV_REREG_MR_CHANGE_TRANSLATION :
				    IBV_REREG_MR_CHANGE_ACCESS;
		int access = i & 2 ? rw | IBV_ACCESS_ON_DEMAND : rw;

		if (ibv_rereg_mr(s->mr, flags | IBV_REREG_MR_CHANGE_ACCESS, NULL,
				 buf, LEN, access))
			return (void *)1;
		s->rounds++;
		/* Room for some writes to get through between two. */
		usleep(500);
	}
	return NULL;
}

/*
 * Writes in flight while their target is re-registered: each ends in
 * success or a remote access error (a key that just went away), the
 * kernel stays quiet, and the last registration works.
 */
CHECK_CASE(mr_rereg_race)
{
	struct storm s = {};
	pthread_t t;
	void *ret;
	struct rr p;
	int ok = 0, refused = 0;

	memset(&p, 0, sizeof(p));
	CHECK_EQ(vt_open(&p.d), 0);
	CHECK_EQ(vt_pair(&p.d, &p.a, &p.b, 8), 0);
	p.src = malloc(LEN);
	p.dst = aligned_alloc(4096, LEN);
	p.dst2 = aligned_alloc(4096, LEN);
	CHECK(p.src && p.dst && p.dst2);
	CHECK(p.smr = ibv_reg_mr(p.d.pd, p.src, LEN, IBV_ACCESS_LOCAL_WRITE));
	CHECK(s.mr = ibv_reg_mr(p.d.pd, p.dst, LEN,
				IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE));
	s.p = &p;
	CHECK_EQ(pthread_create(&t, NULL, rereg_storm, &s), 0);
	for (int i = 0; i < 300; i++) {
		/* Racy on purpose: the keys and address of a moment ago. */
		int st = write_status(&p, (uintptr_t)s.mr->addr, s.mr->rkey, i);

		CHECK(st == IBV_WC_SUCCESS || st == IBV_WC_REM_ACCESS_ERR);
		if (st == IBV_WC_SUCCESS) {
			ok++;
			continue;
		}
		refused++;
		CHECK_EQ(restate(&p), 0);
	}
	s.stop = true;
	CHECK_EQ(pthread_join(t, &ret), 0);
	CHECK(!ret);
	printf("%d reregs; writes: %d done, %d refused\n", s.rounds, ok, refused);
	CHECK(s.rounds > 0);
	if (refused)
		CHECK_EQ(restate(&p), 0);
	CHECK_EQ(write_status(&p, (uintptr_t)s.mr->addr, s.mr->rkey, 999), IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(s.mr->addr, LEN, 999, 0), -1);
	CHECK_EQ(ibv_dereg_mr(s.mr), 0);
	rr_close(&p);
	return 0;
}
