// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: the send doorbell.  A post makes a system call only
 * when the kernel's requester is idle; while it is at a QP's ring, new WQEs
 * are picked up from the ring.  These cases check that the doorbells are
 * skipped then, and that no WQE is ever left behind when the requester
 * idles as a post skips its doorbell.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "vt.h"

#define BIG		(64UL << 20)
#define SMALL		64
#define NSMALL		128

struct long_write {
	struct ibv_qp *qp;
	struct ibv_sge sge;
	uint64_t raddr;
	uint32_t rkey;
	atomic_int state;	/* 1: about to post, 2: post returned */
	int ret;
};

static void *long_write_thread(void *arg)
{
	struct long_write *w = arg;

	atomic_store(&w->state, 1);
	w->ret = vt_post_send(w->qp, IBV_WR_RDMA_WRITE, 0, &w->sge, 1, w->raddr,
			      w->rkey, 0);
	atomic_store(&w->state, 2);
	return NULL;
}

/*
 * One thread's RDMA WRITE into 64 MiB no device has touched yet runs in
 * that thread's doorbell, faulting every page; the WQEs another thread
 * posts meanwhile find the requester busy: the first rings (and hands the
 * ring to the work), the rest need no doorbell.  All complete in order,
 * data checked.
 */
CHECK_CASE(doorbell_busy)
{
	char *src = mmap(NULL, BIG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *dst = mmap(NULL, BIG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *small = calloc(2, NSMALL * SMALL);
	struct long_write w = { 0 };
	struct ibv_mr *smr, *dmr, *mr;
	uint64_t db0, db1;
	struct vt_qp a, b;
	struct vt_dev d;
	pthread_t t;

	CHECK(src != MAP_FAILED && dst != MAP_FAILED && small);
	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_pair(&d, &a, &b, 2 * NSMALL), 0);
	smr = ibv_reg_mr(d.pd, src, BIG, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
	dmr = ibv_reg_mr(d.pd, dst, BIG, VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	mr = ibv_reg_mr(d.pd, small, 2 * NSMALL * SMALL, VT_ALL_ACCESS);
	CHECK(smr && dmr && mr);
	fill_pattern(src, BIG, 11, 0);
	fill_pattern(small, NSMALL * SMALL, 12, 0);

	db0 = hw_counter("doorbells");
	CHECK(db0 != UINT64_MAX);
	w.qp = a.qp;
	w.sge = (struct ibv_sge){ (uintptr_t)src, BIG, smr->lkey };
	w.raddr = (uintptr_t)dst;
	w.rkey = dmr->rkey;
	CHECK_EQ(pthread_create(&t, NULL, long_write_thread, &w), 0);
	while (!atomic_load(&w.state))
		;
	usleep(10000);
	for (int i = 0; i < NSMALL; i++) {
		struct ibv_sge s = { (uintptr_t)small + i * SMALL, SMALL, mr->lkey };

		CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, i + 1, &s, 1,
				      (uintptr_t)small + (NSMALL + i) * SMALL,
				      mr->rkey, 0), 0);
	}
	/* Else this machine outran the premise: nothing was shown. */
	if (atomic_load(&w.state) == 2)
		fprintf(stderr, "the long WRITE ended before the small ones were posted\n");
	CHECK_EQ(atomic_load(&w.state), 1);
	for (int i = 0; i <= NSMALL; i++) {
		struct ibv_wc wc;

		CHECK_EQ(vt_poll(a.scq, &wc, 60), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.wr_id, (uint64_t)i);
	}
	pthread_join(t, NULL);
	CHECK_EQ(w.ret, 0);
	db1 = hw_counter("doorbells");
	printf("doorbells for %d posts: %llu\n", NSMALL + 1,
	       (unsigned long long)(db1 - db0));
	/* The long WRITE's and the first small one's. */
	CHECK_EQ(db1 - db0, 2);
	CHECK_EQ(check_pattern(dst, BIG, 11, 0), -1);
	CHECK_EQ(check_pattern(small + NSMALL * SMALL, NSMALL * SMALL, 12, 0), -1);

	ibv_dereg_mr(mr);
	ibv_dereg_mr(dmr);
	ibv_dereg_mr(smr);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	munmap(src, BIG);
	munmap(dst, BIG);
	free(small);
	return 0;
}

#define STREAM_THREADS	2
#define STREAM_WRS	20000
#define STREAM_HALF	32	/* each poster's WRs in flight */

struct stream {
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint64_t *src, *dst;	/* STREAM_HALF words each */
	int id;
	atomic_int done;	/* its WRs completed, counted by the poller */
	int ret;
};

/*
 * One of two threads posting small WRITEs to one QP as fast as it takes
 * them: when a doorbell finds the other's running, the work takes the
 * ring and posts skip their doorbells until it idles.
 */
static void *stream_poster(void *arg)
{
	struct stream *s = arg;

	for (int i = 0; i < STREAM_WRS; i++) {
		int slot = i % STREAM_HALF;
		struct ibv_sge sge = { (uintptr_t)&s->src[slot], 8, s->mr->lkey };
		double end = now_s() + 20;

		/* The slot's previous WRITE has completed. */
		while (i - atomic_load(&s->done) >= STREAM_HALF)
			if (now_s() > end)
				return NULL;
		s->src[slot] = i;
		if (vt_post_send(s->qp, IBV_WR_RDMA_WRITE,
				 (uint64_t)s->id << 32 | i, &sge, 1,
				 (uintptr_t)&s->dst[slot], s->mr->rkey, 0))
			return NULL;
	}
	s->ret = 0;
	return NULL;
}

/*
 * The requester goes busy and idle thousands of times under the posts of
 * two threads; a WQE whose doorbell was skipped as the requester idled
 * would never complete.  Completions come in each thread's order, and the
 * last value written to each slot is checked.
 */
CHECK_CASE(doorbell_stream)
{
	uint64_t *buf = calloc(2 * STREAM_THREADS * STREAM_HALF, sizeof(*buf));
	struct stream s[STREAM_THREADS];
	pthread_t t[STREAM_THREADS];
	uint64_t db0, db1;
	struct ibv_mr *mr;
	struct vt_qp a, b;
	struct vt_dev d;
	int total = 0;

	CHECK(buf);
	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_pair(&d, &a, &b, STREAM_THREADS * STREAM_HALF), 0);
	mr = ibv_reg_mr(d.pd, buf, 2 * STREAM_THREADS * STREAM_HALF * sizeof(*buf),
			VT_ALL_ACCESS);
	CHECK(mr);
	db0 = hw_counter("doorbells");
	for (int i = 0; i < STREAM_THREADS; i++) {
		s[i] = (struct stream){
			.qp = a.qp, .mr = mr, .id = i, .ret = -1,
			.src = buf + 2 * i * STREAM_HALF,
			.dst = buf + (2 * i + 1) * STREAM_HALF,
		};
		CHECK_EQ(pthread_create(&t[i], NULL, stream_poster, &s[i]), 0);
	}
	while (total < STREAM_THREADS * STREAM_WRS) {
		struct ibv_wc wc;
		struct stream *p;

		CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK((wc.wr_id >> 32) < STREAM_THREADS);
		p = &s[wc.wr_id >> 32];
		CHECK_EQ((uint32_t)wc.wr_id, (uint32_t)atomic_load(&p->done));
		atomic_fetch_add(&p->done, 1);
		total++;
	}
	for (int i = 0; i < STREAM_THREADS; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(s[i].ret, 0);
		for (int j = 0; j < STREAM_HALF; j++)
			CHECK_EQ(s[i].dst[j], (uint64_t)(STREAM_WRS - STREAM_HALF + j));
	}
	db1 = hw_counter("doorbells");
	printf("doorbells for %d posts: %llu\n", STREAM_THREADS * STREAM_WRS,
	       (unsigned long long)(db1 - db0));
	ibv_dereg_mr(mr);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	free(buf);
	return 0;
}

#define HINT_WRS	512
#define HINT_BATCH	64

/*
 * Can the kernel's work run beside this thread?  It runs on the CPUs of
 * the thread's NUMA node: does that node have another one online?
 */
static bool cpu_beside(void)
{
	char path[320], list[256];
	int cpu = sched_getcpu(), n = 0;
	struct dirent *e;
	FILE *f = NULL;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d", cpu);
	d = opendir(path);
	if (!d)
		return false;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "node", 4)) {
			snprintf(path, sizeof(path),
				 "/sys/devices/system/node/%s/cpulist", e->d_name);
			f = fopen(path, "r");
			break;
		}
	closedir(d);
	if (!f)		/* no NUMA: one node of every CPU */
		return sysconf(_SC_NPROCESSORS_ONLN) > 1;
	if (fgets(list, sizeof(list), f)) {
		/* "0-3,8": count them */
		for (char *p = strtok(list, ",\n"); p; p = strtok(NULL, ",\n")) {
			int a, b;

			if (sscanf(p, "%d-%d", &a, &b) == 2)
				n += b - a + 1;
			else
				n++;
		}
	}
	fclose(f);
	return n > 1;
}

/*
 * Where a post runs follows the provider's hint.  A process that waits for
 * each completion (post, then poll) has its WQE run in its own doorbell:
 * the completion is there when the post returns.  One that posts on with
 * no poll in between (a stream) has its WQEs handed to the kernel's work
 * on another CPU, and while that runs its posts make no system call:
 * far fewer doorbells than posts.  Data checked either way.
 */
CHECK_CASE(doorbell_hint)
{
	uint64_t *buf = calloc(2 * HINT_BATCH, sizeof(*buf));
	uint64_t *src = buf, *dst = buf + HINT_BATCH;
	uint64_t db0, db1, f0;
	int at_once = 0;
	struct ibv_mr *mr;
	struct vt_qp a, b;
	struct vt_dev d;
	struct ibv_wc wc;

	CHECK(buf);
	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_pair(&d, &a, &b, HINT_BATCH), 0);
	mr = ibv_reg_mr(d.pd, buf, 2 * HINT_BATCH * sizeof(*buf), VT_ALL_ACCESS);
	CHECK(mr);
	for (int i = 0; i < HINT_WRS; i++) {
		struct ibv_sge sge = { (uintptr_t)src, 8, mr->lkey };

		src[0] = i;
		CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, i, &sge, 1,
				      (uintptr_t)dst, mr->rkey, 0), 0);
		/* (Not every time: the work may hold the queue, kicked by RTS.) */
		if (ibv_poll_cq(a.scq, 1, &wc) == 1)
			at_once++;
		else
			CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.wr_id, (uint64_t)i);
		CHECK_EQ(dst[0], (uint64_t)i);
	}
	printf("completions there as their post returned: %d of %d\n", at_once, HINT_WRS);
	CHECK(at_once >= HINT_WRS * 9 / 10);
	if (!cpu_beside()) {
		printf("no other CPU in this node: a stream runs in its doorbells too\n");
		goto out;
	}
	f0 = hw_counter("odp_fault_events");
	db0 = hw_counter("doorbells");
	CHECK(db0 != UINT64_MAX);
	for (int n = 0; n < HINT_WRS; n += HINT_BATCH) {
		for (int j = 0; j < HINT_BATCH; j++) {
			struct ibv_sge sge = { (uintptr_t)&src[j], 8, mr->lkey };

			src[j] = n + j;
			CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, n + j, &sge, 1,
					      (uintptr_t)&dst[j], mr->rkey, 0), 0);
		}
		for (int j = 0; j < HINT_BATCH; j++) {
			CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
			CHECK_EQ(wc.status, IBV_WC_SUCCESS);
			CHECK_EQ(wc.wr_id, (uint64_t)(n + j));
			CHECK_EQ(dst[j], (uint64_t)(n + j));
		}
	}
	db1 = hw_counter("doorbells");
	printf("doorbells for %d posts in batches of %d: %llu (device faults meanwhile: %llu)\n",
	       HINT_WRS, HINT_BATCH, (unsigned long long)(db1 - db0),
	       (unsigned long long)(hw_counter("odp_fault_events") - f0));
	CHECK(db1 - db0 <= HINT_WRS / 4);
out:
	ibv_dereg_mr(mr);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	free(buf);
	return 0;
}

/* The page of the j-th WRITE: 17 is prime to HINT_BATCH, so each once. */
#define HINT_PAGE(j)	((j) * 17 % HINT_BATCH)

/*
 * 64 WRITEs posted with no poll in between, a page each of an ODP region
 * the device never mapped (out of order: in order, a write stream would
 * map the rest ahead), from or into 64 words of pinned memory: into the
 * pages (@into_odp: new pages, faults for writing) or out of them (pages
 * the CPU wrote, faults for reading).  *@rung: the doorbells they rang,
 * or -1 (and said so) with no other CPU in this node, where a stream runs
 * in its doorbells anyway.
 */
static int hint_faulting(bool into_odp, long long *rung)
{
	size_t len = HINT_BATCH * 4096UL;
	char *pages = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *words = calloc(HINT_BATCH, sizeof(*words));
	uint64_t db0, db1, f0;
	struct ibv_mr *pmr, *wmr;
	struct vt_qp a, b;
	struct vt_dev d;
	struct ibv_wc wc;

	*rung = -1;
	CHECK(pages != MAP_FAILED && words);
	/* A page at a time: a huge page would be mapped by the first fault. */
	CHECK_EQ(madvise(pages, len, MADV_NOHUGEPAGE), 0);
	for (int j = 0; j < HINT_BATCH; j++) {
		uint64_t *page = (uint64_t *)(pages + HINT_PAGE(j) * 4096UL);

		if (into_odp)
			words[j] = 0x5eed0000 + j;
		else
			*page = 0x7eed0000 + j;
	}
	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_pair(&d, &a, &b, HINT_BATCH), 0);
	pmr = ibv_reg_mr(d.pd, pages, len, VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	wmr = ibv_reg_mr(d.pd, words, HINT_BATCH * sizeof(*words), VT_ALL_ACCESS);
	CHECK(pmr && wmr);
	if (!cpu_beside()) {
		printf("no other CPU in this node: a stream runs in its doorbells anyway\n");
		goto out;
	}
	db0 = hw_counter("doorbells");
	f0 = hw_counter("odp_fault_events");
	CHECK(db0 != UINT64_MAX && f0 != UINT64_MAX);
	for (int j = 0; j < HINT_BATCH; j++) {
		uint64_t page = (uintptr_t)pages + HINT_PAGE(j) * 4096UL;
		struct ibv_sge sge = { into_odp ? (uintptr_t)&words[j] : page, 8,
				       into_odp ? wmr->lkey : pmr->lkey };

		CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, j, &sge, 1,
				      into_odp ? page : (uintptr_t)&words[j],
				      into_odp ? pmr->rkey : wmr->rkey, 0), 0);
	}
	db1 = hw_counter("doorbells");
	for (int j = 0; j < HINT_BATCH; j++) {
		CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.wr_id, (uint64_t)j);
		CHECK_EQ(into_odp ? *(uint64_t *)(pages + HINT_PAGE(j) * 4096UL) : words[j],
			 (into_odp ? 0x5eed0000 : 0x7eed0000) + (uint64_t)j);
	}
	/* The device did fault (a window at a time when reading). */
	CHECK(hw_counter("odp_fault_events") > f0);
	*rung = db1 - db0;
out:
	ibv_dereg_mr(wmr);
	ibv_dereg_mr(pmr);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	munmap(pages, len);
	free(words);
	return 0;
}

/*
 * While the device faults pages in for writing, a stream runs in its
 * doorbells all the same: a first touch's cost is the posting process's to
 * pay, and the other CPU stays free for the fault-ahead work.  Into new
 * pages: most posts ring; warm, the same stream rang at most a quarter of
 * the time (doorbell_hint).
 */
CHECK_CASE(doorbell_hint_faulting)
{
	long long rung;

	CHECK_EQ(hint_faulting(true, &rung), 0);
	if (rung < 0)
		return 0;
	printf("doorbells for %d posts into new pages: %lld\n", HINT_BATCH, rung);
	CHECK(rung >= HINT_BATCH / 2);
	return 0;
}

/*
 * Faults for reading only map pages the CPU has: a stream whose device
 * faults so is handed to the requester work as a warm one is.  Out of
 * pages the CPU wrote: at most a quarter of the posts ring (every one rang
 * while any fault kept the stream here).
 */
CHECK_CASE(doorbell_hint_read_faults)
{
	long long rung;

	CHECK_EQ(hint_faulting(false, &rung), 0);
	if (rung < 0)
		return 0;
	printf("doorbells for %d posts from pages the device faults in for reading: %lld\n",
	       HINT_BATCH, rung);
	CHECK(rung <= HINT_BATCH / 4);
	return 0;
}
