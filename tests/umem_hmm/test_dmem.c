// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ib_umem_hmm over memory a device holds (HMM device-private and
 * device-coherent memory, simulated by umem_hmm_test): a device fault
 * brings device-private pages back and reads the right data, a migration
 * to the device unmaps what the device had, coherent pages are used in
 * place, and the owner of the device memory reaches its pages where they
 * are.  Skipped, saying why, on kernels without CONFIG_DEVICE_PRIVATE and
 * (coherent cases) in guests booted without reserved memory.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "uht.h"

#define DMEM_SKIP_PRIVATE()						\
	do {								\
		struct umem_hmm_test_dmem_stats _st = {};		\
		if (uht_dmem_stats(&_st) || !_st.private_pages)		\
			CHECK_SKIP("no device-private memory (kernel without CONFIG_DEVICE_PRIVATE)"); \
	} while (0)

#define DMEM_SKIP_COHERENT()						\
	do {								\
		struct umem_hmm_test_dmem_stats _st = {};		\
		if (uht_dmem_stats(&_st) || !_st.coherent_pages)	\
			CHECK_SKIP("no device-coherent memory (no memmap= reservation given to umem_hmm_test)"); \
	} while (0)

static uint64_t dmem_faulted_back(void)
{
	struct umem_hmm_test_dmem_stats st = {};

	uht_dmem_stats(&st);
	return st.faulted_back;
}

/* ib_umem_hmm's count of pages brought back, for the device of @reg_flags. */
static uint64_t pages_from_device(uint32_t reg_flags)
{
	uint64_t v[UMEM_HMM_TEST_MAX_STATS];

	if (uht_stats(reg_flags & UMEM_HMM_TEST_BUS_DMA, v))
		return UINT64_MAX;
	return v[ST_PAGES_FROM_DEVICE];
}

/* The device reads pages that live in device-private memory: all come back. */
static int dmem_private_read(uint32_t reg_flags)
{
	const size_t n = 64;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	uint64_t moved, from0, back0;
	uint32_t h;

	CHECK(buf && tmp);
	fill_pattern(buf, n * PAGE, 21, 0);
	CHECK_EQ(uht_migrate(buf, n * PAGE, UMEM_HMM_TEST_MEM_PRIVATE, &moved), 0);
	CHECK_EQ(moved, n);
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_PRIVATE), n);

	CHECK_EQ(uht_reg(reg_flags & UMEM_HMM_TEST_IMPLICIT ? 0 : (uintptr_t)buf,
			 n * PAGE, reg_flags, &h), 0);
	from0 = pages_from_device(reg_flags);
	back0 = dmem_faulted_back();
	/* Odd offsets: the first and last pages are touched in part. */
	CHECK_EQ(uht_read(h, buf + 100, n * PAGE - 200, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, n * PAGE - 200, 21, 100), -1);
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_SYSTEM), n);
	CHECK_EQ(pages_from_device(reg_flags) - from0, n);
	CHECK_EQ(dmem_faulted_back() - back0, n);
	CHECK_EQ(uht_mapped(h, buf, n), n);
	CHECK_EQ(check_pattern(buf, n * PAGE, 21, 0), -1);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

CHECK_CASE(dmem_private_read)
{
	DMEM_SKIP_PRIVATE();
	return dmem_private_read(0);
}

CHECK_CASE(dmem_private_read_bus_dma)
{
	DMEM_SKIP_PRIVATE();
	return dmem_private_read(UMEM_HMM_TEST_BUS_DMA);
}

CHECK_CASE(dmem_private_read_implicit)
{
	DMEM_SKIP_PRIVATE();
	return dmem_private_read(UMEM_HMM_TEST_IMPLICIT);
}

/*
 * Every offset and length class: pages before, inside and after the
 * access in device-private memory; the device reads and writes exactly
 * the bytes asked, the rest untouched.
 */
CHECK_CASE(dmem_private_offsets)
{
	static const size_t offs[] = { 0, 1, 7, 8, 1021, 4095, 4096, 4097, 8191 };
	static const size_t lens[] = { 1, 8, 4095, 4096, 4097, 3 * 4096 + 5 };
	const size_t n = 8;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE), *src = malloc(n * PAGE);
	uint64_t seed = 100;
	uint32_t h;

	DMEM_SKIP_PRIVATE();
	CHECK(buf && tmp && src);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++, seed += 2) {
			size_t o = offs[i], l = lens[j];

			fill_pattern(buf, n * PAGE, seed, 0);
			CHECK_EQ(uht_migrate(buf, n * PAGE, UMEM_HMM_TEST_MEM_PRIVATE, NULL), 0);
			CHECK_EQ(uht_read(h, buf + o, l, tmp, 0), 0);
			CHECK_EQ(check_pattern(tmp, l, seed, o), -1);

			CHECK_EQ(uht_migrate(buf, n * PAGE, UMEM_HMM_TEST_MEM_PRIVATE, NULL), 0);
			fill_pattern(src, l, seed + 1, o);
			CHECK_EQ(uht_write(h, buf + o, l, src, 0), 0);
			CHECK_EQ(check_pattern(buf, o, seed, 0), -1);
			CHECK_EQ(check_pattern(buf + o, l, seed + 1, o), -1);
			CHECK_EQ(check_pattern(buf + o + l, n * PAGE - o - l, seed, o + l), -1);
		}
	}
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	free(src);
	return 0;
}

/*
 * Pages the device brought back hold no more references than pages the
 * CPU brought back: nothing is pinned on the way.
 */
CHECK_CASE(dmem_no_pin)
{
	const size_t n = 32;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	uint32_t dev_refs, cpu_refs, h;
	cpu_set_t one, all;
	volatile char sink;

	DMEM_SKIP_PRIVATE();
	CHECK(buf && tmp);
	/* Fresh pages sit in per-CPU LRU batches: one CPU, batches emptied. */
	CHECK_EQ(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	CHECK_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
	fill_pattern(buf, n * PAGE, 31, 0);
	CHECK_EQ(uht_migrate(buf, n * PAGE, UMEM_HMM_TEST_MEM_PRIVATE, NULL), 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, n / 2 * PAGE, 0, &h), 0);
	CHECK_EQ(uht_read(h, buf, n / 2 * PAGE, tmp, 0), 0);
	for (size_t i = n / 2; i < n; i++)
		sink = buf[i * PAGE];
	(void)sink;
	drain_local_lru();
	CHECK_EQ(uht_page_refs(buf + n / 2 * PAGE, &cpu_refs), 0);
	for (size_t i = 0; i < n / 2; i++) {
		CHECK_EQ(uht_page_refs(buf + i * PAGE, &dev_refs), 0);
		CHECK_EQ(dev_refs, cpu_refs);
	}
	CHECK_EQ(sched_setaffinity(0, sizeof(all), &all), 0);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

/* The device writes a range whose pages are partly in device memory. */
CHECK_CASE(dmem_private_write_partial)
{
	const size_t n = 64;
	char *buf = map_anon(n * PAGE), *src = malloc(n * PAGE);
	uint64_t moved;
	uint32_t h;
	size_t i;

	DMEM_SKIP_PRIVATE();
	CHECK(buf && src);
	fill_pattern(buf, n * PAGE, 22, 0);
	/* Every other group of four pages goes to the device. */
	for (i = 0; i < n; i += 8) {
		CHECK_EQ(uht_migrate(buf + i * PAGE, 4 * PAGE,
				     UMEM_HMM_TEST_MEM_PRIVATE, &moved), 0);
		CHECK_EQ(moved, 4);
	}
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_PRIVATE), n / 2);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	fill_pattern(src, n * PAGE, 23, 1021);
	CHECK_EQ(uht_write(h, buf + 1021, n * PAGE - 2048, src, 0), 0);
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_SYSTEM), n);
	CHECK_EQ(check_pattern(buf, 1021, 22, 0), -1);
	CHECK_EQ(check_pattern(buf + 1021, n * PAGE - 2048, 23, 1021), -1);
	CHECK_EQ(check_pattern(buf + n * PAGE - 1027, 1027, 22, n * PAGE - 1027), -1);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(src);
	return 0;
}

/*
 * Pages the device has mapped move to device memory: the migration
 * invalidates the device first, and its next access faults them back.
 */
CHECK_CASE(dmem_migrate_invalidates)
{
	const size_t n = 32;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	uint64_t calls0 = 0, calls1 = 0, moved;
	uint8_t st;
	uint32_t h;

	DMEM_SKIP_PRIVATE();
	CHECK(buf && tmp);
	fill_pattern(buf, n * PAGE, 24, 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(uht_mapped(h, buf, n), n);
	CHECK_EQ(uht_snapshot(h, buf, 1, &st, &calls0), 0);

	CHECK_EQ(uht_migrate(buf + 8 * PAGE, 16 * PAGE, UMEM_HMM_TEST_MEM_PRIVATE,
			     &moved), 0);
	CHECK_EQ(moved, 16);
	CHECK_EQ(uht_snapshot(h, buf, 1, &st, &calls1), 0);
	CHECK(calls1 > calls0);
	CHECK_EQ(uht_mapped(h, buf + 8 * PAGE, 16), 0);
	CHECK_EQ(uht_mapped(h, buf, n), n - 16);
	/* Without faulting, the device gets nothing there. */
	CHECK_EQ(uht_read(h, buf + 8 * PAGE, PAGE, tmp, UMEM_HMM_TEST_NO_FAULT), -EAGAIN);
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_PRIVATE), 16);

	memset(tmp, 0, n * PAGE);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, n * PAGE, 24, 0), -1);
	CHECK_EQ(uht_mapped(h, buf, n), n);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

/* Device-coherent pages are addressable: used in place, not migrated. */
static int dmem_coherent(uint32_t reg_flags)
{
	const size_t n = 64;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	uint64_t moved, from0, back0;
	uint32_t h;

	CHECK(buf && tmp);
	fill_pattern(buf, n * PAGE, 25, 0);
	CHECK_EQ(uht_migrate(buf, n * PAGE, UMEM_HMM_TEST_MEM_COHERENT, &moved), 0);
	CHECK_EQ(moved, n);
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_COHERENT), n);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, reg_flags, &h), 0);
	from0 = pages_from_device(reg_flags);
	back0 = dmem_faulted_back();

	CHECK_EQ(uht_read(h, buf + 7, n * PAGE - 7, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, n * PAGE - 7, 25, 7), -1);
	fill_pattern(tmp, n * PAGE, 26, 0);
	CHECK_EQ(uht_write(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_COHERENT), n);
	CHECK_EQ(pages_from_device(reg_flags), from0);
	CHECK_EQ(dmem_faulted_back(), back0);
	/* The CPU reads what the device wrote, still in place. */
	CHECK_EQ(check_pattern(buf, n * PAGE, 26, 0), -1);
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_COHERENT), n);

	/* Moving them back invalidates the device, which then follows. */
	CHECK_EQ(uht_migrate(buf, n * PAGE, UMEM_HMM_TEST_MEM_SYSTEM, &moved), 0);
	CHECK_EQ(moved, n);
	CHECK_EQ(uht_mapped(h, buf, n), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, n * PAGE, 26, 0), -1);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

CHECK_CASE(dmem_coherent)
{
	DMEM_SKIP_COHERENT();
	return dmem_coherent(0);
}

CHECK_CASE(dmem_coherent_bus_dma)
{
	DMEM_SKIP_COHERENT();
	return dmem_coherent(UMEM_HMM_TEST_BUS_DMA);
}

/*
 * The owner of the device memory (a GPU that is also the RDMA device)
 * reaches its pages where they are: nothing migrates back, nothing is
 * DMA-mapped, and the data is the same both ways.
 */
static int dmem_owner(uint32_t reg_flags)
{
	const size_t n = 32;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	uint8_t state[32];
	uint64_t moved, back0, orig;
	uint32_t h;
	size_t i;

	CHECK(buf && tmp);
	fill_pattern(buf, n * PAGE, 27, 0);
	CHECK_EQ(uht_migrate(buf, n / 2 * PAGE, UMEM_HMM_TEST_MEM_PRIVATE, &moved), 0);
	CHECK_EQ(moved, n / 2);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE,
			 UMEM_HMM_TEST_DEVICE_OWNER | reg_flags, &h), 0);
	back0 = dmem_faulted_back();

	CHECK_EQ(uht_read(h, buf + 3, n * PAGE - 3, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, n * PAGE - 3, 27, 3), -1);
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_PRIVATE), n / 2);
	CHECK_EQ(uht_snapshot(h, buf, n, state, NULL), 0);
	for (i = 0; i < n; i++) {
		CHECK(state[i] & UMEM_HMM_TEST_PAGE_MAPPED);
		CHECK_EQ(!!(state[i] & UMEM_HMM_TEST_PAGE_DEVICE), i < n / 2);
	}

	fill_pattern(tmp, n * PAGE, 28, 0);
	CHECK_EQ(uht_write(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(uht_cas(h, buf + 8, *(uint64_t *)(tmp + 8), 0x5a5a5a5a5a5a5a5aULL,
			 &orig), 0);
	CHECK_EQ(orig, *(uint64_t *)(tmp + 8));
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_PRIVATE), n / 2);
	CHECK_EQ(dmem_faulted_back(), back0);

	/* The CPU's touch brings them back, with what the device wrote. */
	*(uint64_t *)(tmp + 8) = 0x5a5a5a5a5a5a5a5aULL;
	CHECK_EQ(memcmp(buf, tmp, n * PAGE), 0);
	CHECK_EQ(dmem_faulted_back() - back0, n / 2);
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_SYSTEM), n);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

CHECK_CASE(dmem_owner)
{
	DMEM_SKIP_PRIVATE();
	return dmem_owner(0);
}

CHECK_CASE(dmem_owner_bus_dma)
{
	DMEM_SKIP_PRIVATE();
	return dmem_owner(UMEM_HMM_TEST_BUS_DMA);
}

/*
 * The owner's pages made read-only while on the device (mprotect there
 * and back, as fork does for its COW): a device write still succeeds,
 * by bringing them back, and writes only where asked.
 */
CHECK_CASE(dmem_owner_readonly)
{
	const size_t n = 16;
	char *buf = map_anon(n * PAGE), *src = malloc(n * PAGE);
	uint64_t moved;
	uint32_t h;

	DMEM_SKIP_PRIVATE();
	CHECK(buf && src);
	fill_pattern(buf, n * PAGE, 33, 0);
	CHECK_EQ(uht_migrate(buf, n * PAGE, UMEM_HMM_TEST_MEM_PRIVATE, &moved), 0);
	CHECK_EQ(moved, n);
	CHECK_EQ(mprotect(buf, n * PAGE, PROT_READ), 0);
	CHECK_EQ(mprotect(buf, n * PAGE, PROT_READ | PROT_WRITE), 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, UMEM_HMM_TEST_DEVICE_OWNER, &h), 0);
	fill_pattern(src, n * PAGE, 34, 0);
	CHECK_EQ(uht_write(h, buf + 100, n * PAGE - 200, src, 0), 0);
	CHECK_EQ(check_pattern(buf, 100, 33, 0), -1);
	CHECK_EQ(check_pattern(buf + 100, n * PAGE - 200, 34, 0), -1);
	CHECK_EQ(check_pattern(buf + n * PAGE - 100, 100, 33, n * PAGE - 100), -1);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(src);
	return 0;
}

/* Prefetch (ibv_advise_mr) of a range in device memory brings it back. */
CHECK_CASE(dmem_prefetch)
{
	const size_t n = 64;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	uint64_t moved;
	uint32_t h;

	DMEM_SKIP_PRIVATE();
	CHECK(buf && tmp);
	fill_pattern(buf, n * PAGE, 29, 0);
	CHECK_EQ(uht_migrate(buf, n * PAGE, UMEM_HMM_TEST_MEM_PRIVATE, &moved), 0);
	CHECK_EQ(uht_reg(0, 0, UMEM_HMM_TEST_IMPLICIT, &h), 0);
	CHECK_EQ(uht_prefetch(h, buf, n * PAGE, UMEM_HMM_TEST_FOR_WRITE), 0);
	CHECK_EQ(uht_mapped(h, buf, n), n);
	CHECK_EQ(uht_count_in(buf, n, UMEM_HMM_TEST_MEM_SYSTEM), n);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, UMEM_HMM_TEST_NO_FAULT), 0);
	CHECK_EQ(check_pattern(tmp, n * PAGE, 29, 0), -1);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

/*
 * Churn: a thread moves windows of the buffer between system, private and
 * coherent memory while the device writes and reads it; every read must
 * give what was last written.  Each 4 KiB page holds one generation's
 * pattern; the model is the generation per page.
 */
CHECK_CASE(dmem_churn)
{
	struct umem_hmm_test_dmem_stats st = {};
	const size_t n = 128;
	struct uht_churn c = { .npages = n, .seed = 7 };
	uint32_t *gen = calloc(n, sizeof(*gen));
	char *tmp = malloc(PAGE * 8);
	unsigned int seed = 3;
	pthread_t thread;
	uint64_t iters = 0;
	time_t t0;
	uint32_t h;

	DMEM_SKIP_PRIVATE();
	CHECK_EQ(uht_dmem_stats(&st), 0);
	c.coherent = st.coherent_pages != 0;
	c.buf = map_anon(n * PAGE);
	CHECK(c.buf && gen && tmp);
	for (size_t i = 0; i < n; i++)
		fill_pattern(c.buf + i * PAGE, PAGE, 1000 + i, 0);
	CHECK_EQ(uht_reg((uintptr_t)c.buf, n * PAGE, 0, &h), 0);
	CHECK_EQ(pthread_create(&thread, NULL, uht_churn_thread, &c), 0);
	for (t0 = time(NULL); time(NULL) - t0 < 3; iters++) {
		size_t first = rand_r(&seed) % (n - 8), k = 1 + rand_r(&seed) % 8, i;

		if (rand_r(&seed) & 1) {
			for (i = 0; i < k; i++)
				fill_pattern(tmp + i * PAGE, PAGE,
					     1000 + first + i + 131 * (gen[first + i] + 1), 0);
			CHECK_EQ(uht_write(h, c.buf + first * PAGE, k * PAGE, tmp, 0), 0);
			for (i = 0; i < k; i++)
				gen[first + i]++;
		} else {
			CHECK_EQ(uht_read(h, c.buf + first * PAGE, k * PAGE, tmp, 0), 0);
			for (i = 0; i < k; i++)
				CHECK_EQ(check_pattern(tmp + i * PAGE, PAGE,
						       1000 + first + i + 131 * gen[first + i], 0), -1);
		}
	}
	atomic_store(&c.stop, true);
	pthread_join(thread, NULL);
	printf("%llu device accesses, %llu migrations\n", (unsigned long long)iters,
	       (unsigned long long)c.migrations);
	CHECK(c.migrations > 10);
	/* And the CPU agrees, wherever the pages ended up. */
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(check_pattern(c.buf + i * PAGE, PAGE, 1000 + i + 131 * gen[i], 0), -1);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(c.buf, n * PAGE);
	/* Nothing is left in device memory once the process unmaps it. */
	CHECK_EQ(uht_dmem_stats(&st), 0);
	CHECK_EQ(st.private_used, 0);
	CHECK_EQ(st.coherent_used, 0);
	free(gen);
	free(tmp);
	return 0;
}
