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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
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
	CHECK_EQ(vt_pair(&p->d, &p->a, &p->b, 16), 0);
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
uint64_t hw_counter(const char *name)
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
CHECK_CASE(odp_cold)
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
CHECK_CASE(odp_atomics)
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
CHECK_CASE(odp_huge_range)
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

CHECK_CASE(odp_holes)
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

/*
 * A payload nobody reads is still checked.  The requester lets the
 * responder read its on-demand pages (no walk per message); when the
 * responder answers without reading them (no receive WQE: an RNR NAK, or
 * a UD drop), a page it may not read must still fail the send with a local
 * protection error, as on a NIC that reads what it sends before anything
 * answers: not RNR retries forever (RC, rnr_retry 7), not a success (UD).
 */
CHECK_CASE(odp_unread_source)
{
	struct ibv_send_wr wr, *bad;
	struct vt_qp ua, ub;
	struct ibv_sge s;
	struct ibv_ah *ah;
	struct ibv_wc wc;
	struct opair p;

	/* No access rather than no VMA: a ring mmap could land in a hole. */
	CHECK_EQ(opair_open(&p, 16 * PAGE), 0);
	CHECK_EQ(mprotect(p.buf + 8 * PAGE, PAGE, PROT_NONE), 0);
	CHECK_EQ(op(&p, IBV_WR_SEND, p.buf + 8 * PAGE, 100, NULL, IBV_WC_LOC_PROT_ERR), 0);

	CHECK_EQ(vt_qp_create(&p.d, &ua, IBV_QPT_UD, 4, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&p.d, &ub, IBV_QPT_UD, 4, NULL, false), 0);
	CHECK_EQ(vt_ud_ready(&ua, 0x77), 0);
	CHECK_EQ(vt_ud_ready(&ub, 0x77), 0);
	ah = vt_ah(&p.d);
	CHECK(ah);
	s = (struct ibv_sge){ (uintptr_t)p.buf + 8 * PAGE, 100, p.mr->lkey };
	vt_ud_wr(&wr, &s, IBV_WR_SEND, ah, ub.qp->qp_num, 0x77);
	CHECK_EQ(ibv_post_send(ua.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(ua.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_LOC_PROT_ERR);
	/* A mapped source with no receiver: dropped, the sender succeeds. */
	s.addr = (uintptr_t)p.buf;
	vt_qp_destroy(&ua);	/* the error moved it to the error state */
	CHECK_EQ(vt_qp_create(&p.d, &ua, IBV_QPT_UD, 4, NULL, false), 0);
	CHECK_EQ(vt_ud_ready(&ua, 0x77), 0);
	CHECK_EQ(ibv_post_send(ua.qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(ua.scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	ibv_destroy_ah(ah);
	vt_qp_destroy(&ua);
	vt_qp_destroy(&ub);
	opair_close(&p);
	return 0;
}

/* Zapped between iterations: every pass sees the new truth. */
CHECK_CASE(odp_dontneed)
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
CHECK_CASE(odp_thp)
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
	CHECK_EQ(vt_pair(&d, &a, &b, 4), 0);
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
CHECK_CASE(odp_counters)
{
	struct opair p;
	const size_t len = 1 << 20;
	struct ibv_sge sge;
	uint64_t f0, f1, f2, f3, pf0, pf1;

	CHECK_EQ(opair_open(&p, 2 * len), 0);
	fill_pattern(p.buf, len, 3, 0);
	f0 = hw_counter("page_faults");
	pf0 = hw_counter("page_prefetch");
	CHECK(f0 != UINT64_MAX);
	CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, p.buf, len, p.buf + len, IBV_WC_SUCCESS), 0);
	f1 = hw_counter("page_faults");
	/* Source and target: the target by faults and its write stream. */
	CHECK(f1 - f0 + hw_counter("page_prefetch") - pf0 >= 2 * len / PAGE);
	CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, p.buf, len, p.buf + len, IBV_WC_SUCCESS), 0);
	f2 = hw_counter("page_faults");
	CHECK_EQ(f2, f1);
	/* Zap the target, prefetch it, transfer: no fault during it. */
	CHECK_EQ(madvise(p.buf + len, len, MADV_DONTNEED), 0);
	CHECK(hw_counter("page_invalidations") > 0);
	pf0 = hw_counter("page_prefetch");
	sge = (struct ibv_sge){ (uintptr_t)p.buf + len, len, p.mr->lkey };
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			       IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1), 0);
	pf1 = hw_counter("page_prefetch");
	CHECK_EQ(pf1 - pf0, len / PAGE);
	f2 = hw_counter("page_faults");
	CHECK_EQ(op(&p, IBV_WR_RDMA_WRITE, p.buf, len, p.buf + len, IBV_WC_SUCCESS), 0);
	f3 = hw_counter("page_faults");
	CHECK(f3 - f2 <= 2);
	CHECK_EQ(check_pattern(p.buf + len, len, 3, 0), -1);
	printf("page_faults: cold +%llu, warm +%llu, prefetched +%llu; page_prefetch +%llu\n",
	       (unsigned long long)(f1 - f0), 0ULL, (unsigned long long)(f3 - f2),
	       (unsigned long long)(pf1 - pf0));
	opair_close(&p);
	return 0;
}

/* ibv_advise_mr: each advice, with and without FLUSH, and its errors. */
CHECK_CASE(odp_advise)
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

	pf0 = hw_counter("page_prefetch");
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
			       IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1), 0);
	CHECK_EQ(hw_counter("page_prefetch") - pf0, 16);
	/* Asynchronous: done soon after it returns. */
	sge.addr += 16 * PAGE;
	pf0 = hw_counter("page_prefetch");
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0, &sge, 1), 0);
	for (t0 = now_s(); hw_counter("page_prefetch") - pf0 < 16 && now_s() - t0 < 10;)
		usleep(1000);
	CHECK_EQ(hw_counter("page_prefetch") - pf0, 16);
	/* No-fault maps only what the CPU has: here 2 pages. */
	sge.addr += 16 * PAGE;
	p.buf[32 * PAGE] = 1;
	p.buf[40 * PAGE] = 1;
	pf0 = hw_counter("page_prefetch");
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
			       IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1), 0);
	CHECK_EQ(hw_counter("page_prefetch") - pf0, 2);
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
	CHECK_EQ(vt_pair(&d, &a, &b, 4), 0);

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

CHECK_CASE(odp_no_pin)
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
CHECK_CASE(odp_fork)
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

/*
 * Prefetch over nothing: an ODP MR over 1 TiB where nothing is mapped (a
 * reservation made and unmapped again: registration does not look at
 * VMAs), 160 synchronous PREFETCH_WRITE advices of (almost) 4 GiB each over
 * different parts of it, 16 asynchronous ones, and RDMA WRITEs into it.
 * Every one fails, and none may leave page-tracking memory behind: the
 * fault path used to allocate the tracking blocks of the whole range
 * before faulting its first page, and keep them after the fault failed
 * (8 MiB per 4 GiB asked, 1.28 GiB here; the growth is checked every 8
 * advices, so that an old kernel stops at 64 MiB instead of running out
 * of memory).
 */
CHECK_CASE(odp_advise_unmapped)
{
	const size_t span = 1ULL << 40, chunk = 4ULL << 30, wlen = 1 << 20;
	const uint32_t alen = (uint32_t)(chunk - PAGE);	/* an SGE holds < 4 GiB */
	const uint64_t bound = 64 << 10;
	struct vt_dev d;
	struct vt_qp a, b;
	char *src = malloc(wlen), *hole;
	struct ibv_mr *smr, *mr;
	struct ibv_sge sge;
	struct ibv_wc wc;
	uint64_t t0, pr0, grown = 0;
	double t;
	int ret = 0;

	CHECK(src);
	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_pair(&d, &a, &b, 4), 0);
	smr = ibv_reg_mr(d.pd, src, wlen, VT_ALL_ACCESS);	/* pinned: tracks nothing */
	CHECK(smr);
	/* Everything this process maps is mapped by now: the hole stays empty. */
	hole = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	CHECK(hole != MAP_FAILED);
	CHECK_EQ(munmap(hole, span), 0);
	mr = ibv_reg_mr(d.pd, hole, span, ODP_ACCESS);
	CHECK(mr);
	t0 = hw_counter("odp_tracking_bytes");
	pr0 = hw_counter("odp_prefetch_requests");
	CHECK(t0 != UINT64_MAX && pr0 != UINT64_MAX);

	/* Asynchronous first: they get the synchronous ones' time to run. */
	for (int i = 160; i < 176; i++) {
		sge = (struct ibv_sge){ (uintptr_t)hole + i * chunk, alen, mr->lkey };
		CHECK_EQ(ibv_advise_mr(d.pd, i & 1 ? IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE :
				       IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 1), 0);
	}
	for (int i = 0; i < 160 && !ret; i++) {
		sge = (struct ibv_sge){ (uintptr_t)hole + i * chunk, alen, mr->lkey };
		ret = ibv_advise_mr(d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
		if (ret != EFAULT) {
			fprintf(stderr, "advice %d: %d (%s), wanted EFAULT\n", i, ret,
				strerror(ret));
			break;
		}
		ret = 0;
		if (i % 8 == 7 && (grown = hw_counter("odp_tracking_bytes") - t0) > bound) {
			fprintf(stderr, "after %d advices odp_tracking_bytes grew by %llu\n",
				i + 1, (unsigned long long)grown);
			ret = -1;
		}
	}
	/* WRITEs into the hole: a remote access error each (A starts over). */
	for (int i = 0; i < 4 && !ret; i++) {
		struct ibv_qp_attr reset = { .qp_state = IBV_QPS_RESET };

		sge = (struct ibv_sge){ (uintptr_t)src, wlen, smr->lkey };
		CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, i, &sge, 1,
				      (uintptr_t)hole + (200 + i) * chunk + i * PAGE,
				      mr->rkey, 0), 0);
		CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
		CHECK_EQ(wc.status, IBV_WC_REM_ACCESS_ERR);
		CHECK_EQ(ibv_modify_qp(a.qp, &reset, IBV_QP_STATE), 0);
		CHECK_EQ(ibv_modify_qp(b.qp, &reset, IBV_QP_STATE), 0);
		CHECK_EQ(vt_connect(&d, &a, &b), 0);
	}
	if (!ret) {
		/* The asynchronous ones have started (each counts a request)... */
		for (t = now_s(); hw_counter("odp_prefetch_requests") - pr0 < 176 &&
		     now_s() - t < 5;)
			;
		usleep(100000);	/* ...and are over */
		grown = hw_counter("odp_tracking_bytes") - t0;
		printf("odp_tracking_bytes +%llu after 176 advices over 704 GiB of nothing\n",
		       (unsigned long long)grown);
		if (grown > bound)
			ret = -1;
	}
	/* Deregistered either way: an old kernel's blocks go with it. */
	CHECK_EQ(ibv_dereg_mr(mr), 0);
	CHECK_EQ(ret, 0);
	CHECK_EQ(ibv_dereg_mr(smr), 0);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	free(src);
	return 0;
}

struct orphan_result {
	pid_t pid;
	int ret;	/* of ibv_advise_mr, or -1: the parent never went */
};

/*
 * P: register an implicit ODP MR, fork C, exit.  C (out: the pipe to the
 * test) waits until P is gone, then prefetches through P's MR.
 */
static int implicit_orphan_parent(int out)
{
	const size_t len = 16 * PAGE;
	char *buf = malloc(len);
	pid_t parent = getpid(), pid;
	struct orphan_result r;
	struct ibv_sge sge;
	struct ibv_mr *imr;
	struct vt_dev d;
	double t0;

	CHECK(buf);
	memset(buf, 1, len);
	CHECK_EQ(vt_open(&d), 0);
	imr = ibv_reg_mr(d.pd, NULL, SIZE_MAX, ODP_ACCESS);
	CHECK(imr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid)
		return 0;	/* P: its MR stays, held by C's copy of the fd */
	for (t0 = now_s(); getppid() == parent && now_s() - t0 < 20;)
		usleep(1000);
	r.pid = getpid();
	r.ret = -1;
	if (getppid() != parent) {
		sge = (struct ibv_sge){ (uintptr_t)buf, len, imr->lkey };
		r.ret = ibv_advise_mr(d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
				      IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
	}
	_exit(write(out, &r, sizeof(r)) == sizeof(r) ? 0 : 1);
}

/*
 * An implicit MR whose process has exited: P registers an implicit ODP MR
 * and forks C, which inherits the verbs file (so the MR lives on), and P
 * exits.  C then prefetches through the MR: the implicit MR's child region
 * is made for P's address space, which is gone.  That used to register an
 * MMU notifier on an mm with no users, a kernel BUG in
 * __mmu_notifier_register.  The advice must fail instead (there is no
 * memory to prefetch), and C must then exit, its MR released, normally.
 * The test process is the subreaper of both, so that it reaps C too.
 */
CHECK_CASE(odp_implicit_after_exit)
{
	struct orphan_result r;
	struct pollfd pfd;
	int fds[2], status;
	pid_t p, c;
	double t0;

	CHECK_EQ(pipe(fds), 0);
	CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	p = fork();
	CHECK(p >= 0);
	if (!p) {
		close(fds[0]);
		_exit(implicit_orphan_parent(fds[1]));
	}
	close(fds[1]);
	CHECK_EQ(waitpid(p, &status, 0), p);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 60 * 1000), 1);
	/* Nothing to read: C died (the BUG kills the task that hits it). */
	CHECK_EQ(read(fds[0], &r, sizeof(r)), sizeof(r));
	close(fds[0]);
	/* C exits, the MR of a gone mm released with its file. */
	for (t0 = now_s(); !(c = waitpid(r.pid, &status, WNOHANG)) && now_s() - t0 < 30;)
		usleep(10000);
	CHECK_EQ(c, r.pid);
	CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
	printf("advice through the MR of an exited process: %d (%s)\n", r.ret,
	       r.ret > 0 ? strerror(r.ret) : "-");
	CHECK(r.ret != -1);	/* P did go */
	CHECK(r.ret != 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}

/* The "Anonymous:" kB of the VMA that starts at @start, or -1. */
static long smaps_anon_kb(const void *start)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	long kb = -1;

	if (!f)
		return -1;
	while (kb < 0 && fgets(line, sizeof(line), f)) {
		unsigned long from, to;

		if (sscanf(line, "%lx-%lx ", &from, &to) == 2)
			in = from == (uintptr_t)start;
		else if (in && !strncmp(line, "Anonymous:", 10))
			kb = strtol(line + 10, NULL, 10);
	}
	fclose(f);
	return kb;
}

/* 1 MiB of sequential 4 KiB RDMA WRITEs into @buf through the ODP @mr. */
static int write_pass(char *buf, size_t written, struct ibv_mr **mrp,
		      void (*measure)(const char *buf, void *arg), void *arg)
{
	char *src = aligned_alloc(PAGE, PAGE);
	struct ibv_mr *smr;
	struct vt_dev d;
	struct vt_qp a, b;
	struct ibv_sge s;
	struct ibv_wc wc;

	CHECK(src);
	fill_pattern(src, PAGE, 61, 0);
	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_pair(&d, &a, &b, 4), 0);
	smr = ibv_reg_mr(d.pd, src, PAGE, VT_ALL_ACCESS);
	*mrp = ibv_reg_mr(d.pd, buf, 8 << 20, ODP_ACCESS);
	CHECK(smr && *mrp);
	s = (struct ibv_sge){ (uintptr_t)src, PAGE, smr->lkey };
	for (size_t off = 0; off < written; off += PAGE) {
		CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 1, &s, 1,
				      (uintptr_t)buf + off, (*mrp)->rkey, 0), 0);
		CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	}
	CHECK_EQ(check_pattern(buf + written - PAGE, PAGE, 61, 0), -1);
	/* Give the stream's work (if any) time to run, then measure. */
	usleep(500000);
	measure(buf, arg);
	ibv_dereg_mr(*mrp);
	ibv_dereg_mr(smr);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	free(src);
	return 0;
}

static void measure_anon(const char *buf, void *arg)
{
	*(long *)arg = smaps_anon_kb(buf);
}

/*
 * A sequential stream of WRITEs into anonymous memory is faulted ahead by
 * ib_umem_hmm's stream work (so that the device does not wait for page
 * clearing), and never more than one window (at most twice fault_ahead_max
 * pages, 4 MiB) past what was written: 1 MiB of sequential 4 KiB RDMA WRITEs into a
 * fresh 8 MiB ODP region (small pages, between guard pages so that its VMA
 * is its own).  Before streams, the fault-ahead of a write faulted nothing
 * (page_prefetch stayed); before that, it filled unbounded windows.
 */
CHECK_CASE(odp_write_stream_anon)
{
	const size_t len = 8 << 20, written = 1 << 20;
	char *guard = mmap(NULL, len + 2 * PAGE, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *buf = guard + PAGE;
	uint64_t prefetched = hw_counter("page_prefetch");
	struct ibv_mr *mr;
	long anon = -1;

	CHECK(guard != MAP_FAILED);
	CHECK_EQ(mprotect(buf, len, PROT_READ | PROT_WRITE), 0);
	CHECK_EQ(madvise(buf, len, MADV_NOHUGEPAGE), 0);
	CHECK_EQ(smaps_anon_kb(buf), 0);
	CHECK_EQ(write_pass(buf, written, &mr, measure_anon, &anon), 0);
	prefetched = hw_counter("page_prefetch") - prefetched;
	printf("after %zu KiB of sequential 4 KiB WRITEs into 8 MiB: %ld KiB anonymous, %llu pages faulted ahead\n",
	       written >> 10, anon, (unsigned long long)prefetched);
	CHECK(anon >= (long)(written >> 10));
	CHECK(anon <= (long)((written + (4 << 20)) >> 10) + 256);
	CHECK(prefetched > 0);
	munmap(guard, len + 2 * PAGE);
	return 0;
}

/*
 * Control verbs while a write stream's work is in flight: 64 KiB WRITEs,
 * 16 posted at once, stream through a fresh 32 MiB ODP region (the umem's
 * work faulting ahead on another CPU); then, with WRITEs still posted,
 * the region is unmapped under them (each completes, in error or not, and
 * the QP is reset), or its MR deregistered with the work still running.
 * Rounds of both; the kernel must stay whole (the debug kernel's KASAN and
 * lockdep watch the work against the umem's release) and nothing leaks.
 */
CHECK_CASE(odp_stream_teardown)
{
	const size_t len = 32 << 20, msg = 64 << 10;
	char *src = aligned_alloc(PAGE, msg);
	struct ibv_mr *smr;
	struct vt_dev d;
	struct vt_qp a, b;

	CHECK(src);
	fill_pattern(src, msg, 71, 0);
	CHECK_EQ(vt_open(&d), 0);
	smr = ibv_reg_mr(d.pd, src, msg, VT_ALL_ACCESS);
	CHECK(smr);
	for (int round = 0; round < 8; round++) {
		char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct ibv_sge s = { (uintptr_t)src, msg, smr->lkey };
		bool unmap = round % 2;
		struct ibv_mr *mr;
		struct ibv_wc wc;
		int n = 0;

		CHECK(buf != MAP_FAILED);
		CHECK_EQ(vt_pair(&d, &a, &b, 16), 0);
		mr = ibv_reg_mr(d.pd, buf, len, ODP_ACCESS);
		CHECK(mr);
		/* Enough completed WRITEs for a stream to run ahead ... */
		for (size_t off = 0; off < 4 << 20; off += msg) {
			CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, n, &s, 1,
					      (uintptr_t)buf + off, mr->rkey, 0), 0);
			CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
			CHECK_EQ(wc.status, IBV_WC_SUCCESS);
			n++;
		}
		/* ... then 16 more in flight, and the teardown under them. */
		for (int i = 0; i < 16; i++)
			CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, n + i, &s, 1,
					      (uintptr_t)buf + (4 << 20) + i * msg,
					      mr->rkey, 0), 0);
		if (unmap) {
			CHECK_EQ(munmap(buf, len), 0);
			for (int i = 0; i < 16; i++)
				CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
			CHECK_EQ(ibv_dereg_mr(mr), 0);
		} else {
			for (int i = 0; i < 16; i++)
				CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
			/* The stream's work may still be faulting ahead. */
			CHECK_EQ(ibv_dereg_mr(mr), 0);
			CHECK_EQ(munmap(buf, len), 0);
		}
		vt_qp_destroy(&a);
		vt_qp_destroy(&b);
	}
	CHECK_EQ(hw_counter("odp_regions"), 0);
	ibv_dereg_mr(smr);
	vt_close(&d);
	free(src);
	return 0;
}

static void measure_resident(const char *buf, void *arg)
{
	unsigned char vec[(8 << 20) / PAGE];
	long *resident = arg;

	*resident = -1;
	if (mincore((void *)buf, 8 << 20, vec))
		return;
	*resident = 0;
	for (size_t i = 0; i < sizeof(vec); i++)
		*resident += vec[i] & 1;
}

/*
 * ... but a stream through a file's pages is not: writing them ahead would
 * dirty them for nothing.  The same WRITEs into a shared 8 MiB memfd
 * mapping leave only what was written in its page cache (plus the slack
 * of the synchronous fault-ahead, which maps only what is there).
 */
CHECK_CASE(odp_write_no_fill_file)
{
	const size_t len = 8 << 20, written = 1 << 20;
	int fd = memfd_create("sodp-write-ahead", 0);
	struct ibv_mr *mr;
	long resident = -1;
	char *buf;

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, len), 0);
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(buf != MAP_FAILED);
	CHECK_EQ(write_pass(buf, written, &mr, measure_resident, &resident), 0);
	printf("after %zu KiB of sequential 4 KiB WRITEs into an 8 MiB file: %ld KiB in its page cache\n",
	       written >> 10, resident * (PAGE >> 10));
	CHECK(resident * (long)PAGE >= (long)written);
	CHECK(resident * (long)PAGE <= (long)written + (256 << 10));
	munmap(buf, len);
	close(fd);
	return 0;
}

/*
 * Two ODP regions of two processes over the same virtual addresses, in one
 * WQE: the parent's region over its buffer and, after a fork, the child's
 * region (registered by the child through the inherited context) over its
 * own copy of the buffer, whose bytes differ.  A SEND gathers 32 KiB from
 * the parent's region, then 4 KiB from the child's at an address inside
 * the first 32 KiB.  The engine matched the span it held by address only,
 * and read the second piece from the parent's pages.
 */
CHECK_CASE(odp_two_mms)
{
	const size_t len = 64 << 10, first = 32 << 10, second = PAGE;
	struct opair p;
	char *rbuf = aligned_alloc(PAGE, first + second);
	struct ibv_mr *rmr;
	struct ibv_sge s[2], rs;
	struct ibv_wc wc;
	uint32_t lkey2;
	int to_child[2], to_parent[2], status;
	pid_t pid;

	CHECK(rbuf);
	CHECK_EQ(opair_open(&p, len), 0);
	fill_pattern(p.buf, len, 71, 0);
	rmr = ibv_reg_mr(p.d.pd, rbuf, first + second, VT_ALL_ACCESS);
	CHECK(rmr);
	CHECK_EQ(pipe(to_child), 0);
	CHECK_EQ(pipe(to_parent), 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		struct ibv_mr *mr2;
		char c;

		/* The child's own pages (copy on write), with other bytes. */
		fill_pattern(p.buf, len, 72, 0);
		mr2 = ibv_reg_mr(p.d.pd, p.buf, len, ODP_ACCESS);
		lkey2 = mr2 ? mr2->lkey : 0;
		if (write(to_parent[1], &lkey2, sizeof(lkey2)) != sizeof(lkey2))
			_exit(1);
		/* Keep the pages and the region until the parent is done. */
		if (read(to_child[0], &c, 1) < 0)
			_exit(1);
		_exit(mr2 && !ibv_dereg_mr(mr2) ? 0 : 1);
	}
	CHECK_EQ(read(to_parent[0], &lkey2, sizeof(lkey2)), sizeof(lkey2));
	CHECK(lkey2);
	rs = (struct ibv_sge){ (uintptr_t)rbuf, first + second, rmr->lkey };
	CHECK_EQ(vt_post_recv(p.b.qp, 7, &rs, 1), 0);
	s[0] = (struct ibv_sge){ (uintptr_t)p.buf, first, p.mr->lkey };
	s[1] = (struct ibv_sge){ (uintptr_t)p.buf + PAGE, second, lkey2 };
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_SEND, 8, s, 2, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 20), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(vt_poll(p.b.rcq, &wc, 20), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.byte_len, first + second);
	CHECK_EQ(write(to_child[1], "x", 1), 1);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && !WEXITSTATUS(status));
	/* The parent's bytes, then the child's. */
	CHECK_EQ(check_pattern(rbuf, first, 71, 0), -1);
	CHECK_EQ(check_pattern(rbuf + first, second, 72, PAGE), -1);
	CHECK_EQ(ibv_dereg_mr(rmr), 0);
	opair_close(&p);
	free(rbuf);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
	return 0;
}

/*
 * PREFETCH_WRITE into a region the device may not write is refused with
 * EPERM (as mlx5 does); a read prefetch of it is fine.  It used to map
 * the pages for writing anyway.
 */
CHECK_CASE(odp_prefetch_write_readonly)
{
	struct vt_dev d;
	char *buf = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ibv_mr *mr;
	struct ibv_sge s;

	CHECK(buf != MAP_FAILED);
	CHECK_EQ(vt_open(&d), 0);
	mr = ibv_reg_mr(d.pd, buf, 16 * PAGE, IBV_ACCESS_ON_DEMAND | IBV_ACCESS_REMOTE_READ);
	CHECK(mr);
	s = (struct ibv_sge){ (uintptr_t)buf, 16 * PAGE, mr->lkey };
	CHECK_EQ(ibv_advise_mr(d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			       IBV_ADVISE_MR_FLAG_FLUSH, &s, 1), EPERM);
	CHECK_EQ(ibv_advise_mr(d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
			       IBV_ADVISE_MR_FLAG_FLUSH, &s, 1), 0);
	CHECK_EQ(ibv_dereg_mr(mr), 0);
	vt_close(&d);
	munmap(buf, 16 * PAGE);
	return 0;
}
