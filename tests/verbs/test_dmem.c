// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs test: RDMA over ODP memory that a device holds (HMM
 * device-private and device-coherent memory, simulated by umem_hmm_test).
 * Every opcode into and out of a region partly or wholly in device memory,
 * with explicit and implicit ODP MRs: sodp's faults bring device-private
 * pages back (and count them), use device-coherent pages in place, and
 * the data is right both ways.  Then migration churn under traffic.
 * Skipped, saying why, where the kernel has no device-private memory.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "uht.h"
#include "vt.h"

#define ODP_ACCESS (VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND)

struct dpair {
	struct vt_dev d;
	struct vt_qp a, b;
	char *buf;
	size_t len;
	struct ibv_mr *mr;
};

/* Device memory here? 0: yes; CHECK_SKIPPED: no (said why). */
static int dmem_present(bool coherent)
{
	struct umem_hmm_test_dmem_stats st = {};

	if (uht_fd < 0 && uht_open())
		CHECK_SKIP("no /dev/umem_hmm_test (umem_hmm_test not loaded)");
	if (uht_dmem_stats(&st) || !st.private_pages)
		CHECK_SKIP("no device-private memory (kernel without CONFIG_DEVICE_PRIVATE)");
	if (coherent && !st.coherent_pages)
		CHECK_SKIP("no device-coherent memory (no memmap= reservation given to umem_hmm_test)");
	return 0;
}

static int dpair_open(struct dpair *p, size_t len, bool implicit)
{
	memset(p, 0, sizeof(*p));
	CHECK_EQ(vt_open(&p->d), 0);
	CHECK_EQ(vt_pair(&p->d, &p->a, &p->b, 16), 0);
	p->len = len;
	p->buf = map_anon(len);
	CHECK(p->buf);
	p->mr = implicit ? ibv_reg_mr(p->d.pd, NULL, SIZE_MAX, ODP_ACCESS) :
			   ibv_reg_mr(p->d.pd, p->buf, len, ODP_ACCESS);
	CHECK(p->mr);
	return 0;
}

static void dpair_close(struct dpair *p)
{
	ibv_dereg_mr(p->mr);
	vt_qp_destroy(&p->a);
	vt_qp_destroy(&p->b);
	vt_close(&p->d);
	munmap(p->buf, p->len);
}

static int post_wait(struct dpair *p, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad;
	struct ibv_wc wc;

	wr->send_flags |= IBV_SEND_SIGNALED;
	CHECK_EQ(ibv_post_send(p->a.qp, wr, &bad), 0);
	CHECK_EQ(vt_poll(p->a.scq, &wc, 20), 0);
	if (wc.status != IBV_WC_SUCCESS)
		fprintf(stderr, "completion status %s\n", ibv_wc_status_str(wc.status));
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	return 0;
}

static int rdma(struct dpair *p, enum ibv_wr_opcode opc, char *local, size_t len,
		char *remote)
{
	struct ibv_sge s = { (uintptr_t)local, len, p->mr->lkey };
	struct ibv_send_wr wr = {
		.sg_list = &s, .num_sge = 1, .opcode = opc,
		.wr.rdma = { (uintptr_t)remote, p->mr->rkey },
	};

	return post_wait(p, &wr);
}

static int atomic_op(struct dpair *p, enum ibv_wr_opcode opc, uint64_t *res,
		     uint64_t *target, uint64_t compare_add, uint64_t swap)
{
	struct ibv_sge s = { (uintptr_t)res, 8, p->mr->lkey };
	struct ibv_send_wr wr = {
		.sg_list = &s, .num_sge = 1, .opcode = opc,
		.wr.atomic = { (uintptr_t)target, compare_add, swap, p->mr->rkey },
	};

	return post_wait(p, &wr);
}

/* Move every other group of @group pages of [buf, buf + len) to @to. */
static int migrate_groups(char *buf, size_t len, size_t group, uint32_t to)
{
	for (size_t off = 0; off < len; off += 2 * group * PAGE)
		CHECK_EQ(uht_migrate(buf + off, group * PAGE, to, NULL), 0);
	return 0;
}

/*
 * WRITE, READ, SEND and atomics between two halves of a region whose
 * pages are partly (source) and wholly (sink) in memory @to, at odd
 * offsets; the CPU checks, and the pages are where they should be.
 */
static int dmem_ops(bool implicit, uint32_t to)
{
	const size_t half = 1 << 20, n = 2 * half / PAGE;
	uint64_t from0 = hw_counter("odp_pages_from_device"), *t, *res;
	struct ibv_sge s, r;
	struct ibv_wc wc;
	struct dpair p;
	char *src, *dst;

	CHECK_EQ(dpair_open(&p, 2 * half, implicit), 0);
	src = p.buf;
	dst = p.buf + half;
	fill_pattern(src, half, 41, 0);
	memset(dst, 0, half);
	CHECK_EQ(migrate_groups(src, half, 8, to), 0);
	CHECK_EQ(uht_migrate(dst, half, to, NULL), 0);
	CHECK_EQ(uht_count_in(p.buf, n, to), n / 2 + n / 4);

	/* WRITE: the device reads the source, writes the sink. */
	CHECK_EQ(rdma(&p, IBV_WR_RDMA_WRITE, src + 3, half - 2048, dst + 1021), 0);
	if (to == UMEM_HMM_TEST_MEM_COHERENT) {
		/* Used in place: nothing came back, nothing moved. */
		CHECK_EQ(uht_count_in(p.buf, n, to), n / 2 + n / 4);
		CHECK_EQ(hw_counter("odp_pages_from_device"), from0);
	} else {
		CHECK_EQ(uht_count_in(p.buf, n, UMEM_HMM_TEST_MEM_SYSTEM), n);
		CHECK(hw_counter("odp_pages_from_device") - from0 >= n / 2 + n / 4 - 2);
	}
	CHECK_EQ(check_pattern(dst + 1021, half - 2048, 41, 3), -1);

	/* READ back into a source sent to device memory again. */
	memset(src, 0, half);
	CHECK_EQ(uht_migrate(src, half, to, NULL), 0);
	CHECK_EQ(migrate_groups(dst, half, 4, to), 0);
	CHECK_EQ(rdma(&p, IBV_WR_RDMA_READ, src + 5, half - 2048, dst + 1021), 0);
	CHECK_EQ(check_pattern(src + 5, half - 2048, 41, 3), -1);

	/* SEND into receive pages in device memory. */
	CHECK_EQ(uht_migrate(dst, half, to, NULL), 0);
	CHECK_EQ(migrate_groups(src, half, 2, to), 0);
	r = (struct ibv_sge){ (uintptr_t)dst + 100, half - 4096, p.mr->lkey };
	s = (struct ibv_sge){ (uintptr_t)src + 5, half - 4096, p.mr->lkey };
	CHECK_EQ(vt_post_recv(p.b.qp, 9, &r, 1), 0);
	CHECK_EQ(vt_post_send(p.a.qp, IBV_WR_SEND, 2, &s, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(p.b.rcq, &wc, 20), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(vt_poll(p.a.scq, &wc, 20), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(dst + 100, half - 4096, 41, 3), -1);

	/* Atomics on a target, and into a result, both in device memory. */
	t = (uint64_t *)(dst + 3 * PAGE + 8);
	res = (uint64_t *)(src + 5 * PAGE + 16);
	*t = 1000;
	CHECK_EQ(uht_migrate(dst + 3 * PAGE, PAGE, to, NULL), 0);
	CHECK_EQ(uht_migrate(src + 5 * PAGE, PAGE, to, NULL), 0);
	CHECK_EQ(atomic_op(&p, IBV_WR_ATOMIC_FETCH_AND_ADD, res, t, 5, 0), 0);
	CHECK_EQ(uht_migrate(dst + 3 * PAGE, PAGE, to, NULL), 0);
	CHECK_EQ(atomic_op(&p, IBV_WR_ATOMIC_CMP_AND_SWP, res, t, 1005, 77), 0);
	CHECK_EQ(*res, 1005);
	CHECK_EQ(*t, 77);
	dpair_close(&p);
	return 0;
}

CHECK_CASE(odp_dmem_private)
{
	int ret = dmem_present(false);

	return ret ?: dmem_ops(false, UMEM_HMM_TEST_MEM_PRIVATE);
}

CHECK_CASE(odp_dmem_private_implicit)
{
	int ret = dmem_present(false);

	return ret ?: dmem_ops(true, UMEM_HMM_TEST_MEM_PRIVATE);
}

CHECK_CASE(odp_dmem_coherent)
{
	int ret = dmem_present(true);

	return ret ?: dmem_ops(false, UMEM_HMM_TEST_MEM_COHERENT);
}

CHECK_CASE(odp_dmem_coherent_implicit)
{
	int ret = dmem_present(true);

	return ret ?: dmem_ops(true, UMEM_HMM_TEST_MEM_COHERENT);
}

/*
 * ibv_advise_mr prefetch of a region in device-private memory brings it
 * back before any access: the transfer after it faults nothing.
 */
static int dmem_advise(bool implicit)
{
	const size_t len = 1 << 20, n = len / PAGE;
	uint64_t from0, faults0;
	struct ibv_sge sge;
	struct dpair p;

	CHECK_EQ(dpair_open(&p, 2 * len, implicit), 0);
	fill_pattern(p.buf, 2 * len, 43, 0);
	CHECK_EQ(uht_migrate(p.buf, 2 * len, UMEM_HMM_TEST_MEM_PRIVATE, NULL), 0);
	from0 = hw_counter("odp_pages_from_device");
	sge = (struct ibv_sge){ (uintptr_t)p.buf, 2 * len, p.mr->lkey };
	CHECK_EQ(ibv_advise_mr(p.d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			       IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1), 0);
	CHECK_EQ(uht_count_in(p.buf, 2 * n, UMEM_HMM_TEST_MEM_SYSTEM), 2 * n);
	CHECK_EQ(hw_counter("odp_pages_from_device") - from0, 2 * n);
	faults0 = hw_counter("page_faults");
	CHECK_EQ(rdma(&p, IBV_WR_RDMA_WRITE, p.buf, len, p.buf + len), 0);
	CHECK_EQ(hw_counter("page_faults"), faults0);
	CHECK_EQ(check_pattern(p.buf + len, len, 43, 0), -1);
	dpair_close(&p);
	return 0;
}

CHECK_CASE(odp_dmem_advise)
{
	int ret = dmem_present(false);

	return ret ?: dmem_advise(false);
}

CHECK_CASE(odp_dmem_advise_implicit)
{
	int ret = dmem_present(false);

	return ret ?: dmem_advise(true);
}

/*
 * RDMA WRITEs of a new generation into random pages, RDMA READs checking
 * pages against the model (the generation last written to each), while
 * uht_churn_thread migrates: no read sees another generation, and at
 * the end the CPU sees exactly the model.
 */
static int dmem_churn(bool implicit)
{
	const size_t n = 64, k_max = 8;
	struct umem_hmm_test_dmem_stats st = {};
	struct uht_churn c = { .npages = n, .seed = 11 };
	uint32_t *gen = calloc(n, sizeof(*gen));
	unsigned int seed = 5;
	uint64_t iters = 0;
	pthread_t thread;
	struct dpair p;
	char *stage;
	time_t t0;

	CHECK(gen);
	CHECK_EQ(uht_dmem_stats(&st), 0);
	c.coherent = st.coherent_pages != 0;
	/* The region: n churned pages, then a staging area the CPU fills. */
	CHECK_EQ(dpair_open(&p, (n + k_max) * PAGE, implicit), 0);
	c.buf = p.buf;
	stage = p.buf + n * PAGE;
	for (size_t i = 0; i < n; i++)
		fill_pattern(c.buf + i * PAGE, PAGE, 2000 + i, 0);
	CHECK_EQ(pthread_create(&thread, NULL, uht_churn_thread, &c), 0);
	for (t0 = time(NULL); time(NULL) - t0 < 4; iters++) {
		size_t first = rand_r(&seed) % (n - k_max), k = 1 + rand_r(&seed) % k_max, i;

		if (rand_r(&seed) & 1) {
			for (i = 0; i < k; i++)
				fill_pattern(stage + i * PAGE, PAGE,
					     2000 + first + i + 131 * (gen[first + i] + 1), 0);
			CHECK_EQ(rdma(&p, IBV_WR_RDMA_WRITE, stage, k * PAGE,
				      c.buf + first * PAGE), 0);
			for (i = 0; i < k; i++)
				gen[first + i]++;
		} else {
			CHECK_EQ(rdma(&p, IBV_WR_RDMA_READ, stage, k * PAGE,
				      c.buf + first * PAGE), 0);
			for (i = 0; i < k; i++)
				CHECK_EQ(check_pattern(stage + i * PAGE, PAGE,
						       2000 + first + i + 131 * gen[first + i], 0), -1);
		}
	}
	atomic_store(&c.stop, true);
	pthread_join(thread, NULL);
	printf("%llu RDMA operations, %llu migrations\n", (unsigned long long)iters,
	       (unsigned long long)c.migrations);
	CHECK(c.migrations > 10);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(check_pattern(c.buf + i * PAGE, PAGE, 2000 + i + 131 * gen[i], 0), -1);
	dpair_close(&p);
	free(gen);
	CHECK_EQ(uht_dmem_stats(&st), 0);
	CHECK_EQ(st.private_used, 0);
	CHECK_EQ(st.coherent_used, 0);
	return 0;
}

CHECK_CASE(odp_dmem_churn)
{
	int ret = dmem_present(false);

	return ret ?: dmem_churn(false);
}

CHECK_CASE(odp_dmem_churn_implicit)
{
	int ret = dmem_present(false);

	return ret ?: dmem_churn(true);
}
