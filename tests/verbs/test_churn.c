// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs test: mm churn under ODP traffic.  One thread RDMA WRITEs
 * whole pages of stamps into an ODP region, another RDMA READs them back,
 * a third zaps, replaces, write-protects and fork-shares the same pages.
 * At the end every page holds what the model allows: a stamp some
 * successful write put there and that nothing provably came after, or
 * zeros if a zap may have come after the last write; reads never see
 * another page's data.
 *
 * Copyright (c) 2026 The sodp authors.
 */
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
#define NPAGES	16
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
	double stop;
	struct cpage pg[NPAGES];
	unsigned long writes, reads, failed, zaps, bad_reads, reconnects;
};

static void add(struct cpage *p, struct ev *list, int *n, struct ev e)
{
	pthread_mutex_lock(&p->lock);
	if (*n < MAXEV)
		list[(*n)++] = e;
	pthread_mutex_unlock(&p->lock);
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

static void *writer(void *arg)
{
	struct churn *c = arg;
	uint64_t *page = aligned_alloc(PAGE, PAGE), rnd = 11, seq = 0;
	struct ibv_mr *mr = ibv_reg_mr(c->d->pd, page, PAGE, VT_ALL_ACCESS);
	struct vt_qp a = { 0 }, b = { 0 };
	struct ibv_wc wc;

	if (!mr || pair(c, &a, &b))
		return (void *)1;
	while (now_s() < c->stop) {
		int i = xrand(&rnd) % NPAGES;
		struct ibv_sge s = { (uintptr_t)page, PAGE, mr->lkey };
		struct ev e;

		if (c->pg[i].nw >= MAXEV)
			continue;
		e.stamp = ((uint64_t)(i + 1) << 40) | ++seq;
		for (size_t w = 0; w < PAGE / 8; w++)
			page[w] = e.stamp;
		e.start = now_s();
		if (vt_post_send(a.qp, IBV_WR_RDMA_WRITE, seq, &s, 1,
				 (uintptr_t)c->t + i * PAGE, c->tmr->rkey, 0) ||
		    vt_poll(a.scq, &wc, 30))
			return (void *)2;
		e.end = now_s();
		if (wc.status == IBV_WC_SUCCESS) {
			add(&c->pg[i], c->pg[i].writes, &c->pg[i].nw, e);
			c->writes++;
		} else {
			/* Write-protected at that moment: the QP is in error. */
			c->failed++;
			c->reconnects++;
			if (pair(c, &a, &b))
				return (void *)3;
		}
	}
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	ibv_dereg_mr(mr);
	free(page);
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
	while (now_s() < c->stop) {
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

	while (now_s() < c->stop) {
		int i = xrand(&rnd) % NPAGES;
		char *p = c->t + i * PAGE;
		struct ev e = { .start = now_s() };
		pid_t pid;

		if (c->pg[i].nz >= MAXEV)
			continue;
		switch (xrand(&rnd) % 4) {
		case 0:
			madvise(p, PAGE, MADV_DONTNEED);
			break;
		case 1:
			mmap(p, PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		case 2:
			mprotect(p, PAGE, PROT_READ);
			usleep(200);
			mprotect(p, PAGE, PROT_READ | PROT_WRITE);
			continue;
		default:
			pid = fork();
			if (!pid)
				_exit(0);
			waitpid(pid, NULL, 0);
			continue;
		}
		e.end = now_s();
		add(&c->pg[i], c->pg[i].zaps, &c->pg[i].nz, e);
		c->zaps++;
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

int test_odp_churn(void)
{
	struct vt_dev d;
	struct churn *c = calloc(1, sizeof(*c));
	double seconds = getenv("SODP_CHURN_SECONDS") ? atof(getenv("SODP_CHURN_SECONDS")) : 8;
	pthread_t t[3];
	void *ret[3];
	int bad = 0;

	CHECK(c);
	CHECK_EQ(vt_open(&d), 0);
	c->d = &d;
	c->t = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(c->t != MAP_FAILED);
	c->tmr = ibv_reg_mr(d.pd, c->t, NPAGES * PAGE, VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	CHECK(c->tmr);
	for (int i = 0; i < NPAGES; i++)
		pthread_mutex_init(&c->pg[i].lock, NULL);
	c->stop = now_s() + seconds;
	CHECK_EQ(pthread_create(&t[0], NULL, writer, c), 0);
	CHECK_EQ(pthread_create(&t[1], NULL, reader, c), 0);
	CHECK_EQ(pthread_create(&t[2], NULL, churner, c), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], &ret[i]);
		CHECK(ret[i] == NULL);
	}
	for (int i = 0; i < NPAGES; i++)
		bad += check_page(c, i);
	printf("odp churn: %lu writes, %lu reads, %lu failed (write-protected), "
	       "%lu reconnects, %lu zaps, %lu bad reads, %d bad pages\n",
	       c->writes, c->reads, c->failed, c->reconnects, c->zaps,
	       c->bad_reads, bad);
	CHECK_EQ(bad, 0);
	CHECK_EQ(c->bad_reads, 0);
	CHECK(c->writes > 50 && c->zaps > 50);
	ibv_dereg_mr(c->tmr);
	munmap(c->t, NPAGES * PAGE);
	vt_close(&d);
	free(c);
	return 0;
}
