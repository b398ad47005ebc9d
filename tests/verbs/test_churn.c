// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs test: mm churn under ODP traffic.  One thread RDMA WRITEs
 * whole pages of stamps into an ODP region, another SENDs them into
 * receive buffers in the same pages, another RDMA READs them back, another
 * runs atomics on a counter in one more page of the region, and the last
 * zaps, replaces, write-protects and fork-shares all those pages.  At the
 * end every page holds what the model allows: a stamp some successful
 * write or receive put there and that nothing provably came after, or
 * zeros if a zap may have come after the last one; reads never see
 * another page's data; every atomic found the counter where the previous
 * one left it, or zeroed by a zap that may have come in between.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "vt.h"

#define PAGE	4096UL
#define NPAGES	16		/* stamped pages; one more holds the counter */
#define COUNTER	NPAGES
#define MAXEV	2000

struct ev {
	double start, end;
	uint64_t stamp;
};

struct cpage {
	pthread_mutex_t lock;
	struct ev writes[MAXEV], zaps[MAXEV];
	int nw, nz;
};

struct churn {
	struct vt_dev *d;
	char *t;			/* the churned target, in an ODP MR */
	struct ibv_mr *tmr;
	double stop, hard_stop;
	struct cpage pg[NPAGES + 1];
	unsigned long writes, recvs, reads, atomics, failed, zaps, bad_reads,
		      bad_atomics, reconnects;
	uint64_t counter;		/* the atomics' model of the counter */
	double counter_last;		/* start of the last atomic that ran */
};

#define CHURN_MIN 50	/* of each kind of event, for the run to count */

static unsigned long churn_count(unsigned long *n)
{
	return __atomic_load_n(n, __ATOMIC_RELAXED);
}

/*
 * Until the time is up and every kind of event happened often enough (a
 * debug kernel is several times slower), but at most four times as long.
 */
static bool churn_running(struct churn *c)
{
	double t = now_s();

	if (t < c->stop)
		return true;
	return t < c->hard_stop &&
	       (churn_count(&c->writes) <= CHURN_MIN || churn_count(&c->recvs) <= CHURN_MIN ||
		churn_count(&c->atomics) <= CHURN_MIN || churn_count(&c->zaps) <= CHURN_MIN);
}

/* Returns where the event went (the lists are bounded). */
static int add(struct cpage *p, struct ev *list, int *n, struct ev e)
{
	int k = -1;

	pthread_mutex_lock(&p->lock);
	if (*n < MAXEV) {
		k = (*n)++;
		list[k] = e;
	}
	pthread_mutex_unlock(&p->lock);
	return k;
}

/* A connected RC pair; rebuilt after an error moved it to ERR. */
static int pair(struct churn *c, struct vt_qp *a, struct vt_qp *b)
{
	vt_qp_destroy(a);
	vt_qp_destroy(b);
	if (vt_qp_create(c->d, a, IBV_QPT_RC, 4, NULL, false) ||
	    vt_qp_create(c->d, b, IBV_QPT_RC, 4, NULL, false))
		return -1;
	return vt_connect(c->d, a, b);
}

/*
 * Whole pages of stamps into the churned pages: by RDMA WRITE, or by SEND
 * into a receive buffer there.  Each success is a write of the model.
 */
static int stamp_pages(struct churn *c, bool send, uint64_t rnd, uint64_t seq)
{
	uint64_t *page = aligned_alloc(PAGE, PAGE);
	struct ibv_mr *mr = ibv_reg_mr(c->d->pd, page, PAGE, VT_ALL_ACCESS);
	struct vt_qp a = { 0 }, b = { 0 };
	struct ibv_wc wc;
	int ret = 0;

	if (!mr || pair(c, &a, &b))
		return 1;
	while (churn_running(c)) {
		int i = xrand(&rnd) % NPAGES;
		struct ibv_sge s = { (uintptr_t)page, PAGE, mr->lkey };
		struct ibv_sge r = { (uintptr_t)c->t + i * PAGE, PAGE, c->tmr->lkey };
		bool ok;
		struct ev e;

		if (c->pg[i].nw >= MAXEV)
			continue;
		e.stamp = ((uint64_t)(i + 1) << 40) | ++seq;
		for (size_t w = 0; w < PAGE / 8; w++)
			page[w] = e.stamp;
		e.start = now_s();
		if (send) {
			if (vt_post_recv(b.qp, seq, &r, 1) ||
			    vt_post_send(a.qp, IBV_WR_SEND, seq, &s, 1, 0, 0, 0) ||
			    vt_poll(b.rcq, &wc, 30)) {
				ret = 2;
				break;
			}
			ok = wc.status == IBV_WC_SUCCESS;
			/* The sender's completion, whatever it is. */
			if (vt_poll(a.scq, &wc, 30)) {
				ret = 2;
				break;
			}
			ok = ok && wc.status == IBV_WC_SUCCESS;
		} else {
			if (vt_post_send(a.qp, IBV_WR_RDMA_WRITE, seq, &s, 1,
					 (uintptr_t)c->t + i * PAGE, c->tmr->rkey, 0) ||
			    vt_poll(a.scq, &wc, 30)) {
				ret = 2;
				break;
			}
			ok = wc.status == IBV_WC_SUCCESS;
		}
		e.end = now_s();
		if (ok) {
			add(&c->pg[i], c->pg[i].writes, &c->pg[i].nw, e);
			if (send)
				__atomic_add_fetch(&c->recvs, 1, __ATOMIC_RELAXED);
			else
				__atomic_add_fetch(&c->writes, 1, __ATOMIC_RELAXED);
		} else {
			/* Write-protected at that moment: the QP is in error. */
			c->failed++;
			c->reconnects++;
			if (pair(c, &a, &b)) {
				ret = 3;
				break;
			}
		}
	}
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	ibv_dereg_mr(mr);
	free(page);
	return ret;
}

static void *writer(void *arg)
{
	return (void *)(uintptr_t)stamp_pages(arg, false, 11, 0);
}

static void *sender(void *arg)
{
	return (void *)(uintptr_t)stamp_pages(arg, true, 14, 1ULL << 32);
}

/* Did a zap of @page end after @t (so that it may have come after it)? */
static bool zapped_since(struct cpage *page, double t)
{
	bool ret = false;

	pthread_mutex_lock(&page->lock);
	for (int k = 0; k < page->nz && !ret; k++)
		ret = page->zaps[k].end > t;
	pthread_mutex_unlock(&page->lock);
	return ret;
}

/*
 * Alternating FETCH_AND_ADD(1) and CMP_AND_SWP(counter, counter + 1) on
 * the counter page.  Each must find the value the last one left, or zero
 * if a zap may have come since that one started.  A failed atomic (the
 * page write-protected) changes nothing.
 */
static void *atomics(void *arg)
{
	struct churn *c = arg;
	uint64_t *orig = aligned_alloc(PAGE, PAGE), rnd = 15;
	struct ibv_mr *mr = ibv_reg_mr(c->d->pd, orig, PAGE, VT_ALL_ACCESS);
	struct cpage *cp = &c->pg[COUNTER];
	struct vt_qp a = { 0 }, b = { 0 };
	struct ibv_wc wc;

	if (!mr || pair(c, &a, &b))
		return (void *)1;
	c->counter_last = -1;
	while (churn_running(c)) {
		bool cas = xrand(&rnd) & 1;
		struct ibv_send_wr wr = {
			.sg_list = &(struct ibv_sge){ (uintptr_t)orig, 8, mr->lkey },
			.num_sge = 1, .send_flags = IBV_SEND_SIGNALED,
			.opcode = cas ? IBV_WR_ATOMIC_CMP_AND_SWP :
					IBV_WR_ATOMIC_FETCH_AND_ADD,
			.wr.atomic = {
				.remote_addr = (uintptr_t)c->t + COUNTER * PAGE,
				.rkey = c->tmr->rkey,
				.compare_add = cas ? c->counter : 1,
				.swap = c->counter + 1,
			},
		}, *bad;
		double start = now_s();

		if (ibv_post_send(a.qp, &wr, &bad) || vt_poll(a.scq, &wc, 30))
			return (void *)2;
		if (wc.status != IBV_WC_SUCCESS) {
			c->failed++;
			c->reconnects++;
			if (pair(c, &a, &b))
				return (void *)3;
			continue;
		}
		__atomic_add_fetch(&c->atomics, 1, __ATOMIC_RELAXED);
		if (*orig != c->counter &&
		    (*orig || !zapped_since(cp, c->counter_last))) {
			if (!c->bad_atomics++)
				fprintf(stderr, "atomic found %#llx, expected %#llx\n",
					(unsigned long long)*orig,
					(unsigned long long)c->counter);
		}
		/* Both add one when they find what they expect. */
		c->counter = cas && *orig != c->counter ? *orig : *orig + 1;
		c->counter_last = start;
	}
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	ibv_dereg_mr(mr);
	free(orig);
	return NULL;
}

static void *reader(void *arg)
{
	struct churn *c = arg;
	uint64_t *page = aligned_alloc(PAGE, PAGE), rnd = 12;
	struct ibv_mr *mr = ibv_reg_mr(c->d->pd, page, PAGE, VT_ALL_ACCESS);
	struct vt_qp a = { 0 }, b = { 0 };
	struct ibv_wc wc;

	if (!mr || pair(c, &a, &b))
		return (void *)1;
	while (churn_running(c)) {
		int i = xrand(&rnd) % NPAGES;
		struct ibv_sge s = { (uintptr_t)page, PAGE, mr->lkey };

		if (vt_post_send(a.qp, IBV_WR_RDMA_READ, 1, &s, 1,
				 (uintptr_t)c->t + i * PAGE, c->tmr->rkey, 0) ||
		    vt_poll(a.scq, &wc, 30))
			return (void *)2;
		if (wc.status != IBV_WC_SUCCESS) {
			c->failed++;
			if (pair(c, &a, &b))
				return (void *)3;
			continue;
		}
		c->reads++;
		/*
		 * A read racing a write of the same page may tear, byte by
		 * byte (as DMA does); but no byte may name another page.
		 */
		for (size_t w = 0; w < PAGE / 8; w++)
			if ((page[w] >> 48) ||
			    ((page[w] >> 40) & 0xff && (page[w] >> 40) != (uint64_t)(i + 1))) {
				if (!c->bad_reads++)
					fprintf(stderr, "read of page %d: word %zu is %#llx\n",
						i, w, (unsigned long long)page[w]);
			}
	}
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	ibv_dereg_mr(mr);
	free(page);
	return NULL;
}

static void *churner(void *arg)
{
	struct churn *c = arg;
	uint64_t rnd = 13;

	while (churn_running(c)) {
		int i = xrand(&rnd) % (NPAGES + 1);
		char *p = c->t + i * PAGE;
		int op = xrand(&rnd) % 4, k;
		pid_t pid;

		if (op == 2) {
			mprotect(p, PAGE, PROT_READ);
			usleep(200);
			mprotect(p, PAGE, PROT_READ | PROT_WRITE);
			continue;
		}
		if (op == 3) {
			pid = fork();
			if (!pid)
				_exit(0);
			waitpid(pid, NULL, 0);
			continue;
		}
		/*
		 * A zap is on record, open-ended, before it happens: whoever
		 * sees its zeros afterwards also finds the record.
		 */
		k = add(&c->pg[i], c->pg[i].zaps, &c->pg[i].nz,
			(struct ev){ .start = now_s(), .end = HUGE_VAL });
		if (k < 0)
			continue;
		if (op == 0)
			madvise(p, PAGE, MADV_DONTNEED);
		else
			mmap(p, PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		pthread_mutex_lock(&c->pg[i].lock);
		c->pg[i].zaps[k].end = now_s();
		pthread_mutex_unlock(&c->pg[i].lock);
		__atomic_add_fetch(&c->zaps, 1, __ATOMIC_RELAXED);
		usleep(500);
	}
	return NULL;
}

static int check_page(struct churn *c, int i)
{
	struct cpage *p = &c->pg[i];
	uint64_t *w = (uint64_t *)(c->t + i * PAGE), v = w[0];
	double last_start = -1;

	for (size_t k = 1; k < PAGE / 8; k++)
		if (w[k] != v) {
			fprintf(stderr, "page %d torn\n", i);
			return 1;
		}
	for (int k = 0; k < p->nw; k++)
		if (p->writes[k].start > last_start)
			last_start = p->writes[k].start;
	if (!v) {
		for (int k = 0; k < p->nz; k++)
			if (p->zaps[k].end > last_start)
				return 0;
		if (last_start < 0)
			return 0;
		fprintf(stderr, "page %d: zeros, but no zap after the last write\n", i);
		return 1;
	}
	for (int k = 0; k < p->nw; k++) {
		if (p->writes[k].stamp != v)
			continue;
		for (int z = 0; z < p->nz; z++)
			if (p->zaps[z].start > p->writes[k].end) {
				fprintf(stderr, "page %d: a stamp survived a later zap\n", i);
				return 1;
			}
		for (int z = 0; z < p->nw; z++)
			if (p->writes[z].start > p->writes[k].end) {
				fprintf(stderr, "page %d: a stamp survived a later write\n", i);
				return 1;
			}
		return 0;
	}
	fprintf(stderr, "page %d holds %#llx, which no successful write wrote\n", i,
		(unsigned long long)v);
	return 1;
}

CHECK_CASE(odp_churn)
{
	struct vt_dev d;
	struct churn *c = calloc(1, sizeof(*c));
	double seconds = getenv("SODP_CHURN_SECONDS") ? atof(getenv("SODP_CHURN_SECONDS")) : 8;
	void *(*const thread[])(void *) = { writer, sender, reader, atomics, churner };
	pthread_t t[ARRAY_SIZE(thread)];
	void *ret;
	uint64_t counter;
	int bad = 0;

	CHECK(c);
	CHECK_EQ(vt_open(&d), 0);
	c->d = &d;
	c->t = mmap(NULL, (NPAGES + 1) * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(c->t != MAP_FAILED);
	c->tmr = ibv_reg_mr(d.pd, c->t, (NPAGES + 1) * PAGE,
			    VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	CHECK(c->tmr);
	for (int i = 0; i <= NPAGES; i++)
		pthread_mutex_init(&c->pg[i].lock, NULL);
	c->stop = now_s() + seconds;
	c->hard_stop = c->stop + 3 * seconds;
	for (size_t i = 0; i < ARRAY_SIZE(thread); i++)
		CHECK_EQ(pthread_create(&t[i], NULL, thread[i], c), 0);
	for (size_t i = 0; i < ARRAY_SIZE(thread); i++) {
		pthread_join(t[i], &ret);
		CHECK(ret == NULL);
	}
	for (int i = 0; i < NPAGES; i++)
		bad += check_page(c, i);
	/* The counter as the last atomic left it, or zapped after it began. */
	counter = *(uint64_t *)(c->t + COUNTER * PAGE);
	if (counter != c->counter &&
	    (counter || !zapped_since(&c->pg[COUNTER], c->counter_last))) {
		fprintf(stderr, "counter is %#llx, the atomics left %#llx\n",
			(unsigned long long)counter, (unsigned long long)c->counter);
		bad++;
	}
	printf("odp churn: %lu writes, %lu receives, %lu reads, %lu atomics, "
	       "%lu failed (write-protected), %lu reconnects, %lu zaps, "
	       "%lu bad reads, %lu bad atomics, %d bad pages\n",
	       c->writes, c->recvs, c->reads, c->atomics, c->failed,
	       c->reconnects, c->zaps, c->bad_reads, c->bad_atomics, bad);
	CHECK_EQ(bad, 0);
	CHECK_EQ(c->bad_reads, 0);
	CHECK_EQ(c->bad_atomics, 0);
	CHECK(c->writes > CHURN_MIN && c->recvs > CHURN_MIN && c->atomics > CHURN_MIN &&
	      c->zaps > CHURN_MIN);
	ibv_dereg_mr(c->tmr);
	munmap(c->t, (NPAGES + 1) * PAGE);
	vt_close(&d);
	free(c);
	return 0;
}
