// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests of On-Demand Paging: faults at every place the engine
 * touches memory, holes, zapped and huge pages, prefetch, counters,
 * nothing pinned, fork.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "vt.h"
#include "../lib/proc.h"

#define PAGE 4096UL
#define ODP_ACCESS (VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND)

/* An RC pair with one ODP MR over a fresh (never touched) mapping. */
struct opair {
	struct vt_dev d;
	struct vt_qp a, b;
	char *buf;
	size_t len;
	struct ibv_mr *mr;
};

static int opair_open(struct opair *p, size_t len)
{
	memset(p, 0, sizeof(*p));
	CHECK_EQ(vt_open(&p->d), 0);
	CHECK_EQ(vt_qp_create(&p->d, &p->a, IBV_QPT_RC, 16, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&p->d, &p->b, IBV_QPT_RC, 16, NULL, false), 0);
	CHECK_EQ(vt_connect(&p->d, &p->a, &p->b), 0);
	p->len = len;
	p->buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p->buf != MAP_FAILED);
	madvise(p->buf, len, MADV_NOHUGEPAGE);
	p->mr = ibv_reg_mr(p->d.pd, p->buf, len, ODP_ACCESS);
	CHECK(p->mr);
	return 0;
}

static void opair_close(struct opair *p)
{
	ibv_dereg_mr(p->mr);
	vt_qp_destroy(&p->a);
	vt_qp_destroy(&p->b);
	vt_close(&p->d);
	munmap(p->buf, p->len);
}

/* A hw counter; rdma_core samples them at most once a jiffy: wait one. */
static uint64_t counter(const char *name)
{
	char path[256], val[64] = "";
	const char *dev = getenv("SODP_TEST_DEVICE") ?: "sodp0";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/1/hw_counters/%s",
		 dev, name);
	usleep(20000);
	f = fopen(path, "r");
	if (!f)
		return UINT64_MAX;
	if (!fgets(val, sizeof(val), f))
		val[0] = 0;
	fclose(f);
	return strtoull(val, NULL, 10);
}

static int op(struct opair *p, enum ibv_wr_opcode opc, char *local, size_t len,
	      char *remote, enum ibv_wc_status want)
{
	struct ibv_sge s = { (uintptr_t)local, len, p->mr->lkey };
	struct ibv_wc wc;

	CHECK_EQ(vt_post_send(p->a.qp, opc, 1, &s, 1, (uintptr_t)remote, p->mr->rkey, 0), 0);
	CHECK_EQ(vt_poll(p->a.scq, &wc, 20), 0);
	if (wc.status != want)
		fprintf(stderr, "completion status %d (%s), wanted %d\n", wc.status,
			ibv_wc_status_str(wc.status), want);
	CHECK_EQ(wc.status, want);
	return 0;
}

/* Data through cold pages, every page of a 4 MiB range, both directions. */
int test_odp_cold(void)
{
	struct opair p;
	const size_t half = 2 << 20;
	struct ibv_wc wc;
	struct ibv_sge s, r;

	CHECK_EQ(opair_open(&p, 2 * half), 0);
	fill_pattern(p.buf, half, 1, 0);
	/* WRITE into never-touched pages (the remote target faults). */
	CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, p.buf, half, p.buf + half, IBV_WC_SUCCESS), 0);
	CHECK_EQ(check_pattern(p.buf + half, half, 1, 0), -1);
	/* READ back into zapped pages (the local target faults). */
	CHECK_EQ(madvise(p.buf, half, MADV_DONTNEED), 0);
	CHECK_EQ(op(&p, IBV_WR_RDMA_READ, p.buf + 3, half - 6, p.buf + half + 3,
		    IBV_WC_SUCCESS), 0);
	CHECK_EQ(check_pattern(p.buf + 3, half - 6, 1, 3), -1);
	/* SEND into zapped receive pages. */
	CHECK_EQ(madvise(p.buf + half, half, MADV_DONTNEED), 0);
	r = (struct ibv_sge){ (uintptr_t)p.buf + half + 100, half - 200, p.mr->lkey };
	s = (struct ibv_sge){ (uintptr_t)p.buf + 50, half - 200, p.mr->lkey };
	CHECK_EQ(vt_post_recv(p.b.qp, 9, &r, 1), 0);
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_SEND, 2, &s, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(p.b.rcq, &wc, 20), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 20), 0);
	CHECK_EQ(check_pattern(p.buf + half + 100, half - 200, 1, 50), -1);
	opair_close(&p);
	return 0;
}

/* Atomics on cold and zapped ODP targets. */
int test_odp_atomics(void)
{
	struct opair p;
	uint64_t *t, *res;

	CHECK_EQ(opair_open(&p, 4 * PAGE), 0);
	t = (uint64_t *)(p.buf + 2 * PAGE + 8);
	res = (uint64_t *)(p.buf + 16);
	CHECK_EQ(op(&p, IBV_WR_ATOMIC_FETCH_AND_ADD, (char *)res, 8, (char *)t,
		    IBV_WC_SUCCESS), 0);
	CHECK_EQ(*res, 0);
	CHECK_EQ(*t, 0);	/* compare_add is 0 in vt_post_send */
	*t = 7;
	CHECK_EQ(madvise(p.buf, PAGE, MADV_DONTNEED), 0);
	CHECK_EQ(op(&p, IBV_WR_ATOMIC_CMP_AND_SWP, (char *)res, 8, (char *)t,
		    IBV_WC_SUCCESS), 0);
	CHECK_EQ(*res, 7);
	CHECK_EQ(*t, 7);	/* compared with 0: no swap */
	CHECK_EQ(madvise(p.buf + 2 * PAGE, PAGE, MADV_DONTNEED), 0);
	CHECK_EQ(op(&p, IBV_WR_ATOMIC_CMP_AND_SWP, (char *)res, 8, (char *)t,
		    IBV_WC_SUCCESS), 0);
	CHECK_EQ(*res, 0);	/* a zapped page reads as zero... */
	CHECK_EQ(*t, 0);	/* ...and swap 0 leaves 0 */
	opair_close(&p);
	return 0;
}

/*
 * A hole in an ODP MR at every fault site gives the error completion a
 * pinned MR outside its bounds would, and a remote write stops exactly at
 * the hole.
 */
/*
 * A 64 TiB ODP region: neither registration nor, once a page of it is
 * mapped, an invalidation or the deregistration may cost in proportion to
 * its length (a walk over every 2 MiB of it took minutes: a soft lockup
 * the fuzzer found).
 */
int test_odp_huge_range(void)
{
	const size_t huge = 1ULL << 46;
	struct opair p;
	struct ibv_mr *big;
	struct ibv_sge s;
	struct ibv_wc wc;
	double t0;

	CHECK_EQ(opair_open(&p, 16 * PAGE), 0);
	memset(p.buf, 7, PAGE);
	/* Ends where the buffer ends: the whole region is user space. */
	big = ibv_reg_mr(p.d.pd, p.buf + 16 * PAGE - huge, huge, ODP_ACCESS);
	CHECK(big);
	s = (struct ibv_sge){ (uintptr_t)p.buf, PAGE, p.mr->lkey };
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_RDMA_WRITE, 1, &s, 1,
			      (uintptr_t)p.buf + 4 * PAGE, big->rkey, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 20), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(p.buf[4 * PAGE + 100], 7);
	t0 = now_s();
	CHECK_EQ(munmap(p.buf + 4 * PAGE, PAGE), 0);
	CHECK_EQ(ibv_dereg_mr(big), 0);
	/* A bound for a hang, not a benchmark: the walk took minutes. */
	CHECK(now_s() - t0 < 10);
	opair_close(&p);
	return 0;
}

int test_odp_holes(void)
{
	struct opair p;
	struct ibv_wc wc;
	struct ibv_sge s, r;
	char *hole;

	/* Local send SGE over the hole: local protection error. */
	CHECK_EQ(opair_open(&p, 16 * PAGE), 0);
	hole = p.buf + 8 * PAGE;
	CHECK_EQ(munmap(hole, PAGE), 0);
	CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, hole - 100, 200, p.buf, IBV_WC_LOC_PROT_ERR), 0);
	opair_close(&p);

	/* Remote write target: remote access error, bytes up to the hole land. */
	CHECK_EQ(opair_open(&p, 16 * PAGE), 0);
	hole = p.buf + 8 * PAGE;
	fill_pattern(p.buf, 2 * PAGE, 5, 0);
	memset(hole + PAGE, 0x5a, PAGE);
	CHECK_EQ(munmap(hole, PAGE), 0);
	CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, p.buf, 2 * PAGE + 100, hole - PAGE,
		    IBV_WC_REM_ACCESS_ERR), 0);
	CHECK_EQ(check_pattern(hole - PAGE, PAGE, 5, 0), -1);
	CHECK_EQ((uint8_t)hole[PAGE], 0x5a);
	CHECK_EQ(vt_wait_async(p.d.ctx, IBV_EVENT_QP_ACCESS_ERR, 5), 0);
	opair_close(&p);

	/* Remote read source, atomic target: remote access errors. */
	CHECK_EQ(opair_open(&p, 16 * PAGE), 0);
	CHECK_EQ(munmap(p.buf + 8 * PAGE, PAGE), 0);
	CHECK_EQ(op(&p, IBV_WR_RDMA_READ, p.buf, 64, p.buf + 8 * PAGE + 64,
		    IBV_WC_REM_ACCESS_ERR), 0);
	opair_close(&p);
	CHECK_EQ(opair_open(&p, 16 * PAGE), 0);
	CHECK_EQ(munmap(p.buf + 8 * PAGE, PAGE), 0);
	CHECK_EQ(op(&p, IBV_WR_ATOMIC_FETCH_AND_ADD, p.buf, 8, p.buf + 8 * PAGE,
		    IBV_WC_REM_ACCESS_ERR), 0);
	opair_close(&p);

	/* Where a READ response lands: local protection error. */
	CHECK_EQ(opair_open(&p, 16 * PAGE), 0);
	CHECK_EQ(munmap(p.buf + 8 * PAGE, PAGE), 0);
	CHECK_EQ(op(&p, IBV_WR_RDMA_READ, p.buf + 8 * PAGE, 64, p.buf, IBV_WC_LOC_PROT_ERR), 0);
	opair_close(&p);

	/* A receive buffer over the hole: the receive fails locally. */
	CHECK_EQ(opair_open(&p, 16 * PAGE), 0);
	CHECK_EQ(munmap(p.buf + 8 * PAGE, PAGE), 0);
	r = (struct ibv_sge){ (uintptr_t)p.buf + 8 * PAGE - 10, 100, p.mr->lkey };
	s = (struct ibv_sge){ (uintptr_t)p.buf, 100, p.mr->lkey };
	CHECK_EQ(vt_post_recv(p.b.qp, 3, &r, 1), 0);
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_SEND, 1, &s, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(p.b.rcq, &wc, 20), 0);
	CHECK_EQ(wc.status, IBV_WC_LOC_PROT_ERR);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 20), 0);
	CHECK_EQ(wc.status, IBV_WC_REM_OP_ERR);
	opair_close(&p);

	/* Read-only pages: a remote write is refused, a READ into them too. */
	CHECK_EQ(opair_open(&p, 16 * PAGE), 0);
	p.buf[8 * PAGE] = 'r';
	CHECK_EQ(mprotect(p.buf + 8 * PAGE, PAGE, PROT_READ), 0);
	CHECK_EQ(op(&p, IBV_WR_RDMA_READ, p.buf, 1, p.buf + 8 * PAGE, IBV_WC_SUCCESS), 0);
	CHECK_EQ(p.buf[0], 'r');
	CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, p.buf, 8, p.buf + 8 * PAGE,
		    IBV_WC_REM_ACCESS_ERR), 0);
	CHECK_EQ(p.buf[8 * PAGE], 'r');
	opair_close(&p);
	CHECK_EQ(opair_open(&p, 16 * PAGE), 0);
	CHECK_EQ(mprotect(p.buf + 8 * PAGE, PAGE, PROT_READ), 0);
	CHECK_EQ(op(&p, IBV_WR_RDMA_READ, p.buf + 8 * PAGE, 8, p.buf, IBV_WC_LOC_PROT_ERR), 0);
	opair_close(&p);
	return 0;
}

/* Zapped between iterations: every pass sees the new truth. */
int test_odp_dontneed(void)
{
	struct opair p;

	CHECK_EQ(opair_open(&p, 64 * PAGE), 0);
	for (int i = 0; i < 20; i++) {
		fill_pattern(p.buf, 16 * PAGE, 100 + i, 0);
		CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, p.buf + 1, 16 * PAGE - 2,
			    p.buf + 32 * PAGE + 1, IBV_WC_SUCCESS), 0);
		CHECK_EQ(check_pattern(p.buf + 32 * PAGE + 1, 16 * PAGE - 2, 100 + i, 1), -1);
		CHECK_EQ(madvise(p.buf, 64 * PAGE, MADV_DONTNEED), 0);
		/* Zeros now, on both sides. */
		CHECK_EQ(op(&p, IBV_WR_RDMA_READ, p.buf, 2 * PAGE, p.buf + 32 * PAGE,
			    IBV_WC_SUCCESS), 0);
		for (size_t k = 0; k < 2 * PAGE; k++)
			CHECK_EQ(p.buf[k], 0);
	}
	opair_close(&p);
	return 0;
}

/* Transparent huge pages, across their boundaries. */
int test_odp_thp(void)
{
	struct vt_dev d;
	struct vt_qp a, b;
	const size_t len = 8 << 20;
	char *raw = mmap(NULL, len + (2 << 20), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *buf = (char *)(((uintptr_t)raw + (2 << 20) - 1) & ~((2UL << 20) - 1));
	struct ibv_mr *mr;
	struct ibv_sge s;
	struct ibv_wc wc;

	CHECK(raw != MAP_FAILED);
	CHECK_EQ(madvise(buf, len, MADV_HUGEPAGE), 0);
	fill_pattern(buf, len / 2, 9, 0);
	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_qp_create(&d, &a, IBV_QPT_RC, 4, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&d, &b, IBV_QPT_RC, 4, NULL, false), 0);
	CHECK_EQ(vt_connect(&d, &a, &b), 0);
	mr = ibv_reg_mr(d.pd, buf, len, ODP_ACCESS);
	CHECK(mr);
	s = (struct ibv_sge){ (uintptr_t)buf + 777, len / 2 - 1500, mr->lkey };
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 1, &s, 1,
			      (uintptr_t)buf + len / 2 + 333, mr->rkey, 0), 0);
	CHECK_EQ(vt_poll(a.scq, &wc, 30), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(buf + len / 2 + 333, len / 2 - 1500, 9, 777), -1);
	ibv_dereg_mr(mr);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	munmap(raw, len + (2 << 20));
	return 0;
}

/*
 * The counters: a cold run faults, a warm run does not, a prefetched run
 * faults (almost) nothing during the transfer.
 */
int test_odp_counters(void)
{
	struct opair p;
	const size_t len = 1 << 20;
	struct ibv_sge sge;
	uint64_t f0, f1, f2, f3, pf0, pf1;

	CHECK_EQ(opair_open(&p, 2 * len), 0);
	fill_pattern(p.buf, len, 3, 0);
	f0 = counter("page_faults");
	CHECK(f0 != UINT64_MAX);
	CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, p.buf, len, p.buf + len, IBV_WC_SUCCESS), 0);
	f1 = counter("page_faults");
	CHECK(f1 - f0 >= 2 * len / PAGE);	/* source and target */
	CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, p.buf, len, p.buf + len, IBV_WC_SUCCESS), 0);
	f2 = counter("page_faults");
	CHECK_EQ(f2, f1);
	/* Zap the target, prefetch it, transfer: no fault during it. */
	CHECK_EQ(madvise(p.buf + len, len, MADV_DONTNEED), 0);
	CHECK(counter("page_invalidations") > 0);
	pf0 = counter("page_prefetch");
	sge = (struct ibv_sge){ (uintptr_t)p.buf + len, len, p.mr->lkey };
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			       IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1), 0);
	pf1 = counter("page_prefetch");
	CHECK_EQ(pf1 - pf0, len / PAGE);
	f2 = counter("page_faults");
	CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, p.buf, len, p.buf + len, IBV_WC_SUCCESS), 0);
	f3 = counter("page_faults");
	CHECK(f3 - f2 <= 2);
	CHECK_EQ(check_pattern(p.buf + len, len, 3, 0), -1);
	printf("page_faults: cold +%llu, warm +%llu, prefetched +%llu; page_prefetch +%llu\n",
	       (unsigned long long)(f1 - f0), 0ULL, (unsigned long long)(f3 - f2),
	       (unsigned long long)(pf1 - pf0));
	opair_close(&p);
	return 0;
}

/* ibv_advise_mr: each advice, with and without FLUSH, and its errors. */
int test_odp_advise(void)
{
	struct opair p;
	char *pinned = malloc(PAGE);
	struct ibv_mr *pmr;
	struct ibv_sge sge;
	uint64_t pf0;
	double t0;

	CHECK(pinned);
	CHECK_EQ(opair_open(&p, 64 * PAGE), 0);
	pmr = ibv_reg_mr(p.d.pd, pinned, PAGE, VT_ALL_ACCESS);
	CHECK(pmr);
	sge = (struct ibv_sge){ (uintptr_t)p.buf, 16 * PAGE, p.mr->lkey };

	pf0 = counter("page_prefetch");
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
			       IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1), 0);
	CHECK_EQ(counter("page_prefetch") - pf0, 16);
	/* Asynchronous: done soon after it returns. */
	sge.addr += 16 * PAGE;
	pf0 = counter("page_prefetch");
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0, &sge, 1), 0);
	for (t0 = now_s(); counter("page_prefetch") - pf0 < 16 && now_s() - t0 < 10;)
		usleep(1000);
	CHECK_EQ(counter("page_prefetch") - pf0, 16);
	/* No-fault maps only what the CPU has: here 2 pages. */
	sge.addr += 16 * PAGE;
	p.buf[32 * PAGE] = 1;
	p.buf[40 * PAGE] = 1;
	pf0 = counter("page_prefetch");
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
			       IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1), 0);
	CHECK_EQ(counter("page_prefetch") - pf0, 2);
	/* Errors: a pinned MR, a range past the MR, a hole with FLUSH. */
	sge = (struct ibv_sge){ (uintptr_t)pinned, PAGE, pmr->lkey };
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 1), EINVAL);
	sge = (struct ibv_sge){ (uintptr_t)p.buf + 60 * PAGE, 8 * PAGE, p.mr->lkey };
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 1), EINVAL);
	CHECK_EQ(munmap(p.buf + 50 * PAGE, PAGE), 0);
	sge = (struct ibv_sge){ (uintptr_t)p.buf + 48 * PAGE, 4 * PAGE, p.mr->lkey };
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
			       IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1), EFAULT);
	ibv_dereg_mr(pmr);
	free(pinned);
	opair_close(&p);
	return 0;
}

/* Is the page at @p swapped out (pagemap bit 62)? */
static int swapped(void *p)
{
	uint64_t e;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	int ok = fd >= 0 && pread(fd, &e, 8, ((uintptr_t)p / PAGE) * 8) == 8;

	if (fd >= 0)
		close(fd);
	return ok ? !!(e & (1ULL << 62)) : -1;
}

/*
 * Nothing pinned, through verbs: 4 GiB and implicit ODP MRs with
 * RLIMIT_MEMLOCK at 64 KiB and no CAP_IPC_LOCK; after traffic the pages
 * can still be swapped out, and the next transfer faults them back.
 */
static int no_pin_child(void)
{
	struct rlimit lim = { 64 << 10, 64 << 10 };
	const size_t big = 4UL << 30, n = 64;
	struct vt_dev d;
	struct vt_qp a, b;
	char *huge = mmap(NULL, big, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct ibv_mr *bigmr, *imr;
	char *src = huge, *dst = huge + big - n * PAGE;
	struct ibv_sge s;
	struct ibv_wc wc;
	int out = 0;

	CHECK(huge != MAP_FAILED);
	madvise(huge, big, MADV_NOHUGEPAGE);
	CHECK_EQ(drop_cap_ipc_lock(), 0);
	CHECK_EQ(setrlimit(RLIMIT_MEMLOCK, &lim), 0);
	CHECK_EQ(vt_open(&d), 0);
	CHECK(!ibv_reg_mr(d.pd, huge, 1 << 20, VT_ALL_ACCESS));	/* pinned: refused */
	bigmr = ibv_reg_mr(d.pd, huge, big, ODP_ACCESS);
	imr = ibv_reg_mr(d.pd, NULL, SIZE_MAX, ODP_ACCESS);
	CHECK(bigmr && imr);
	CHECK_EQ(proc_status_kb("VmPin"), 0);
	CHECK_EQ(vt_qp_create(&d, &a, IBV_QPT_RC, 4, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&d, &b, IBV_QPT_RC, 4, NULL, false), 0);
	CHECK_EQ(vt_connect(&d, &a, &b), 0);

	fill_pattern(src, n * PAGE, 77, 0);
	s = (struct ibv_sge){ (uintptr_t)src, n * PAGE, bigmr->lkey };
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 1, &s, 1, (uintptr_t)dst,
			      imr->rkey, 0), 0);
	CHECK_EQ(vt_poll(a.scq, &wc, 30), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(dst, n * PAGE, 77, 0), -1);
	CHECK_EQ(proc_status_kb("VmPin"), 0);

	/* Reclaim takes the pages the device used (swap is on zram). */
	CHECK_EQ(madvise(src, n * PAGE, MADV_PAGEOUT), 0);
	CHECK_EQ(madvise(dst, n * PAGE, MADV_PAGEOUT), 0);
	for (size_t i = 0; i < n; i++)
		out += swapped(src + i * PAGE) == 1 && swapped(dst + i * PAGE) == 1;
	printf("pages swapped out after traffic: %d of %zu (source and target)\n", out, n);
	CHECK(out >= (int)n / 2);
	/* The next transfer faults them back, data intact. */
	s = (struct ibv_sge){ (uintptr_t)huge + PAGE * 1000, n * PAGE, imr->lkey };
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_READ, 2, &s, 1, (uintptr_t)dst,
			      bigmr->rkey, 0), 0);
	CHECK_EQ(vt_poll(a.scq, &wc, 30), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(huge + PAGE * 1000, n * PAGE, 77, 0), -1);
	CHECK_EQ(check_pattern(src, n * PAGE, 77, 0), -1);
	CHECK_EQ(proc_status_kb("VmPin"), 0);
	ibv_dereg_mr(bigmr);
	ibv_dereg_mr(imr);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	return 0;
}

int test_odp_no_pin(void)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (!pid)
		_exit(no_pin_child());
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}

/* After fork the ODP MR keeps working in the parent while the child writes. */
int test_odp_fork(void)
{
	struct opair p;
	int to_child[2], to_parent[2];
	char c = 1;
	pid_t pid;
	int status;

	CHECK_EQ(opair_open(&p, 32 * PAGE), 0);
	fill_pattern(p.buf, 32 * PAGE, 40, 0);
	CHECK_EQ(op(&p, IBV_WR_RDMA_READ, p.buf + 16 * PAGE, 8 * PAGE, p.buf,
		    IBV_WC_SUCCESS), 0);
	CHECK(!pipe(to_child) && !pipe(to_parent));
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		/* The child writes everywhere (COW), then checks its own view. */
		fill_pattern(p.buf, 32 * PAGE, 41, 0);
		if (write(to_parent[1], &c, 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(3);
		_exit(check_pattern(p.buf, 32 * PAGE, 41, 0) == -1 ? 0 : 1);
	}
	CHECK_EQ(read(to_parent[0], &c, 1), 1);
	/* The parent's memory and the device agree; the child's writes are not seen. */
	CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, p.buf, 8 * PAGE, p.buf + 8 * PAGE,
		    IBV_WC_SUCCESS), 0);
	CHECK_EQ(check_pattern(p.buf + 8 * PAGE, 8 * PAGE, 40, 0), -1);
	fill_pattern(p.buf + 24 * PAGE, 8 * PAGE, 42, 0);
	CHECK_EQ(op(&p, IBV_WR_RDMA_READ, p.buf, 8 * PAGE, p.buf + 24 * PAGE,
		    IBV_WC_SUCCESS), 0);
	CHECK_EQ(check_pattern(p.buf, 8 * PAGE, 42, 0), -1);
	CHECK_EQ(write(to_child[1], &c, 1), 1);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	opair_close(&p);
	return 0;
}
