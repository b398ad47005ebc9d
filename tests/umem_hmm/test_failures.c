// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ib_umem_hmm when the kernel cannot allocate: random registrations
 * (explicit, bus-DMA, implicit), device reads, writes and prefetches, with
 * the CPU zapping and rewriting the memory in between, checked against a
 * model of the memory.  Under fault injection into the test's own
 * threads (SODP_INJECT_FAILURES=task, tests/debug) the device calls run
 * with allocation failures on: each may fail, but only with
 * ENOMEM or EFAULT, a failed write leaves every byte either old or new,
 * and at the end nothing is left registered or mapped.  Without injection
 * nothing may fail.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "uht.h"

#define FAIL_PAGES	48	/* across a 2 MiB boundary: two blocks */
#define FAIL_LEN	(FAIL_PAGES * PAGE)
#define FAIL_OPS	24	/* per registration */

struct fail_run {
	char *mem, *model, *buf;
	uint64_t rnd;
	bool inject;
	unsigned long regs, regs_failed, ops, ops_failed, enomem, efault;
	unsigned long checked;
};

/* A device call's result: 0, or an error that injection explains. */
static int fail_result(struct fail_run *r, int ret)
{
	r->ops++;
	if (!ret)
		return 0;
	r->ops_failed++;
	if (ret == -ENOMEM)
		r->enomem++;
	else if (ret == -EFAULT)
		r->efault++;
	if (!r->inject || (ret != -ENOMEM && ret != -EFAULT)) {
		fprintf(stderr, "device access failed: %d (%s)\n", ret, strerror(-ret));
		return 1;
	}
	return 0;
}

/* A device call with allocation failures on for this thread. */
#define FAILING(r, call)						\
	({								\
		int _ret;						\
		if ((r)->inject)					\
			make_it_fail(true);				\
		_ret = (call);						\
		if ((r)->inject)					\
			make_it_fail(false);				\
		_ret;							\
	})

static int fail_write(struct fail_run *r, uint32_t h, size_t off, size_t len)
{
	uint64_t seed = xrand(&r->rnd);
	int ret;

	fill_pattern(r->buf, len, seed, 0);
	ret = FAILING(r, uht_write(h, r->mem + off, len, r->buf, 0));
	if (fail_result(r, ret))
		return 1;
	if (!ret) {
		memcpy(r->model + off, r->buf, len);
		return 0;
	}
	/* Stopped part way: every byte is the old one or the new one. */
	for (size_t i = 0; i < len; i++) {
		if (r->mem[off + i] != r->model[off + i] && r->mem[off + i] != r->buf[i]) {
			fprintf(stderr, "failed write left byte %zu neither old nor new\n",
				off + i);
			return 1;
		}
	}
	memcpy(r->model + off, r->mem + off, len);
	return 0;
}

static int fail_read(struct fail_run *r, uint32_t h, size_t off, size_t len)
{
	int ret = FAILING(r, uht_read(h, r->mem + off, len, r->buf, 0));

	if (fail_result(r, ret))
		return 1;
	if (!ret) {
		CHECK(!memcmp(r->buf, r->model + off, len));
		r->checked++;
	}
	return 0;
}

static int fail_one_registration(struct fail_run *r)
{
	static const uint32_t kinds[] = {
		0, UMEM_HMM_TEST_BUS_DMA, UMEM_HMM_TEST_IMPLICIT,
	};
	uint32_t kind = kinds[xrand(&r->rnd) % ARRAY_SIZE(kinds)];
	uint32_t h;
	int ret;

	r->regs++;
	if (kind == UMEM_HMM_TEST_IMPLICIT)
		ret = FAILING(r, uht_reg(0, 0, kind, &h));
	else
		ret = FAILING(r, uht_reg((uintptr_t)r->mem, FAIL_LEN, kind, &h));
	if (ret) {
		r->regs_failed++;
		CHECK(r->inject && ret == -ENOMEM);
		return 0;
	}
	for (int i = 0; i < FAIL_OPS; i++) {
		size_t off = xrand(&r->rnd) % FAIL_LEN;
		size_t len = 1 + xrand(&r->rnd) % (FAIL_LEN - off);
		uint32_t pf = xrand(&r->rnd) % 2 ? UMEM_HMM_TEST_FOR_WRITE : 0;

		switch (xrand(&r->rnd) % 6) {
		case 0:
		case 1:
			CHECK(!fail_write(r, h, off, len));
			break;
		case 2:
		case 3:
			CHECK(!fail_read(r, h, off, len));
			break;
		case 4:
			if (xrand(&r->rnd) % 2)
				pf |= UMEM_HMM_TEST_ASYNC;
			ret = FAILING(r, uht_prefetch(h, r->mem + off, len, pf));
			CHECK(!fail_result(r, ret));
			break;
		default:
			/* The CPU's turn: zap or rewrite whole pages. */
			off &= ~(PAGE - 1);
			len = (1 + xrand(&r->rnd) % 8) * PAGE;
			if (len > FAIL_LEN - off)
				len = FAIL_LEN - off;
			if (xrand(&r->rnd) % 2) {
				CHECK(!madvise(r->mem + off, len, MADV_DONTNEED));
				memset(r->model + off, 0, len);
			} else {
				fill_pattern(r->mem + off, len, xrand(&r->rnd), 0);
				memcpy(r->model + off, r->mem + off, len);
			}
			break;
		}
		CHECK(!memcmp(r->mem, r->model, FAIL_LEN));
	}
	CHECK_EQ(uht_dereg(h), 0);
	return 0;
}

CHECK_CASE(alloc_failures)
{
	const char *s = getenv("SODP_INJECT_SECONDS");
	double stop = now_s() + (s ? atof(s) : 2);
	uint64_t umems0 = uht_stat(ST_UMEMS);
	uint64_t mapped0 = uht_stat(ST_PAGES_MAPPED);
	struct fail_run r = {
		.rnd = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL | 1,
		.inject = inject_mode() == INJECT_TASK,
	};
	char *aligned = map_aligned(2 * HUGE_PAGE);

	CHECK(aligned);
	r.mem = aligned + HUGE_PAGE - FAIL_LEN / 2;
	r.model = calloc(1, FAIL_LEN);
	r.buf = malloc(FAIL_LEN);
	CHECK(r.model && r.buf);
	CHECK(!r.inject || !make_it_fail(false));
	while (now_s() < stop)
		CHECK(!fail_one_registration(&r));

	printf("%lu registrations (%lu refused), %lu device calls (%lu failed: "
	       "%lu ENOMEM, %lu EFAULT), %lu reads checked\n", r.regs,
	       r.regs_failed, r.ops, r.ops_failed, r.enomem, r.efault, r.checked);
	/* Failures must have reached ib_umem_hmm when they were asked for. */
	CHECK(!r.inject || r.ops_failed + r.regs_failed > 0);
	/* Implicit children go in the background. */
	for (int i = 0; i < 100 && uht_stat(ST_UMEMS) != umems0; i++)
		usleep(50000);
	CHECK_EQ(uht_stat(ST_UMEMS), umems0);
	CHECK_EQ(uht_stat(ST_PAGES_MAPPED), mapped0);
	CHECK(!munmap(aligned, 2 * HUGE_PAGE));
	free(r.model);
	free(r.buf);
	return 0;
}
