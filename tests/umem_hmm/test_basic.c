// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ib_umem_hmm tests: no pinning, data in both directions at every offset,
 * errors, statistics, fault-ahead, huge pages, implicit ODP.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "uht.h"

CHECK_CASE(no_pin)
{
	const size_t n = 64;
	char *buf = map_anon(n * PAGE);
	char *tmp = malloc(n * PAGE);
	uint32_t refs0[64], refs, h;
	long pin0 = proc_status_kb("VmPin"), lck0 = proc_status_kb("VmLck");

	cpu_set_t one, all;

	CHECK(buf && tmp);
	/*
	 * Fresh pages sit in per-CPU LRU batches, each holding a reference:
	 * run on one CPU and empty its batches before each count.
	 */
	CHECK_EQ(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	CHECK_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
	memset(tmp, 0, n * PAGE);
	fill_pattern(buf, n * PAGE, 1, 0);
	drain_local_lru();
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(uht_page_refs(buf + i * PAGE, &refs0[i]), 0);

	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(uht_write(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(uht_mapped(h, buf, n), n);

	/* Mapped for the device, and still no reference taken on any page. */
	drain_local_lru();
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(uht_page_refs(buf + i * PAGE, &refs), 0);
		CHECK_EQ(refs, refs0[i]);
	}
	CHECK_EQ(proc_status_kb("VmPin"), pin0);
	CHECK_EQ(proc_status_kb("VmLck"), lck0);
	CHECK_EQ(sched_setaffinity(0, sizeof(all), &all), 0);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

/*
 * A 4 GiB explicit and an implicit registration with RLIMIT_MEMLOCK 64 KiB,
 * without CAP_IPC_LOCK (which would lift the limit).
 */
static int memlock_child(void)
{
	const size_t len = 4UL << 30;
	struct rlimit lim = { 64 << 10, 64 << 10 };
	uint64_t v = 0x1122334455667788ULL, got;
	char *big = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *small = map_anon(1 << 20);
	uint32_t h, hi, hp;

	CHECK(big != MAP_FAILED && small);
	/* The inherited fd belongs to the parent's mm. */
	close(uht_fd);
	CHECK_EQ(uht_open(), 0);
	CHECK_EQ(drop_cap_ipc_lock(), 0);
	CHECK_EQ(setrlimit(RLIMIT_MEMLOCK, &lim), 0);

	CHECK_EQ(uht_reg((uintptr_t)big, len, 0, &h), 0);
	CHECK_EQ(uht_reg(0, 0, UMEM_HMM_TEST_IMPLICIT, &hi), 0);
	/* The pinned path is charged: the limit really is in force. */
	CHECK_EQ(uht_reg((uintptr_t)small, 1 << 20, UMEM_HMM_TEST_PINNED, &hp), -ENOMEM);

	for (size_t off = 0; off < len; off += len / 4 - 8) {
		CHECK_EQ(uht_write(h, big + off, 8, &v, 0), 0);
		CHECK(!memcmp(big + off, &v, 8));
		got = 0;
		CHECK_EQ(uht_read(hi, big + off, 8, &got, 0), 0);
		CHECK_EQ(got, v);
		v++;
	}
	CHECK_EQ(proc_status_kb("VmPin"), 0);
	CHECK_EQ(uht_dereg(h), 0);
	CHECK_EQ(uht_dereg(hi), 0);
	munmap(big, len);
	munmap(small, 1 << 20);
	return 0;
}

CHECK_CASE(memlock)
{
	return run_in_child(memlock_child);
}

/*
 * The device reads what the CPU wrote and the CPU reads what the device
 * wrote, page by page over 8 MiB (beyond the fault-ahead window), then at
 * random offsets and lengths that start and end inside pages.
 */
static int data_both_ways(uint32_t reg_flags)
{
	const size_t len = 8 << 20;
	char *buf = map_anon(len), *tmp = malloc(len);
	uint64_t rnd = 42;
	uint32_t h;

	CHECK(buf && tmp);
	CHECK_EQ(uht_reg((uintptr_t)buf, len, reg_flags, &h), 0);

	fill_pattern(buf, len, 7, 0);
	for (size_t off = 0; off < len; off += PAGE) {
		CHECK_EQ(uht_read(h, buf + off, PAGE, tmp, 0), 0);
		CHECK_EQ(check_pattern(tmp, PAGE, 7, off), -1);
	}
	for (size_t off = 0; off < len; off += PAGE) {
		fill_pattern(tmp, PAGE, 8, off);
		CHECK_EQ(uht_write(h, buf + off, PAGE, tmp, 0), 0);
	}
	CHECK_EQ(check_pattern(buf, len, 8, 0), -1);

	for (int i = 0; i < 2000; i++) {
		size_t off = xrand(&rnd) % (len - 1);
		size_t n = 1 + xrand(&rnd) % (i % 4 == 0 ? 3 * PAGE : 100);

		if (off + n > len)
			n = len - off;
		if (i % 2) {
			fill_pattern(buf + off, n, 100 + i, off);
			CHECK_EQ(uht_read(h, buf + off, n, tmp, 0), 0);
			CHECK_EQ(check_pattern(tmp, n, 100 + i, off), -1);
		} else {
			fill_pattern(tmp, n, 100 + i, off);
			CHECK_EQ(uht_write(h, buf + off, n, tmp, 0), 0);
			CHECK_EQ(check_pattern(buf + off, n, 100 + i, off), -1);
		}
	}
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, len);
	free(tmp);
	return 0;
}

CHECK_CASE(data)
{
	return data_both_ways(0);
}

CHECK_CASE(data_bus_dma)
{
	return data_both_ways(UMEM_HMM_TEST_BUS_DMA);
}

/* Writes never spill outside the bytes asked for, at any alignment. */
CHECK_CASE(write_bounds)
{
	char *buf = map_anon(4 * PAGE);
	char src[64];
	uint32_t h;

	CHECK(buf);
	CHECK_EQ(uht_reg((uintptr_t)buf, 4 * PAGE, 0, &h), 0);
	memset(src, 0xab, sizeof(src));
	for (size_t off = PAGE - 40; off < PAGE + 8; off += 7) {
		memset(buf, 0x5a, 4 * PAGE);
		CHECK_EQ(uht_write(h, buf + off, 33, src, 0), 0);
		for (size_t i = 0; i < 4 * PAGE; i++)
			CHECK_EQ((uint8_t)buf[i], i >= off && i < off + 33 ? 0xab : 0x5a);
	}
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, 4 * PAGE);
	return 0;
}

CHECK_CASE(cas)
{
	uint64_t *buf = map_anon(PAGE), orig;
	uint32_t h;

	CHECK(buf);
	CHECK_EQ(uht_reg((uintptr_t)buf, PAGE, 0, &h), 0);
	buf[3] = 10;
	CHECK_EQ(uht_cas(h, &buf[3], 10, 20, &orig), 0);
	CHECK_EQ(orig, 10);
	CHECK_EQ(buf[3], 20);
	CHECK_EQ(uht_cas(h, &buf[3], 10, 30, &orig), 0);
	CHECK_EQ(orig, 20);
	CHECK_EQ(buf[3], 20);
	CHECK_EQ(uht_cas(h, (char *)&buf[3] + 4, 0, 0, &orig), -EINVAL);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, PAGE);
	return 0;
}

CHECK_CASE(errors)
{
	char *buf = map_anon(8 * PAGE), tmp[2 * PAGE] = { 0 };
	uint32_t h, hi;

	CHECK(buf);
	CHECK_EQ(uht_reg((uintptr_t)buf, 8 * PAGE, 0, &h), 0);
	CHECK_EQ(uht_reg(0, 0, UMEM_HMM_TEST_IMPLICIT, &hi), 0);

	/* Outside the registration. */
	CHECK_EQ(uht_read(h, buf + 8 * PAGE, 1, tmp, 0), -EINVAL);
	CHECK_EQ(uht_read(h, buf - 1, 2, tmp, 0), -EINVAL);
	/* Bad registrations and handles. */
	CHECK_EQ(uht_reg((uintptr_t)buf, 0, 0, &h), -EINVAL);
	CHECK_EQ(uht_reg(~0UL - PAGE, 2 * PAGE, 0, &h), -EINVAL);
	CHECK_EQ(uht_read(12345, buf, 1, tmp, 0), -ENOENT);

	/* No VMA: EFAULT, explicit and implicit. */
	CHECK_EQ(munmap(buf + 4 * PAGE, PAGE), 0);
	CHECK_EQ(uht_read(h, buf + 4 * PAGE, 1, tmp, 0), -EFAULT);
	CHECK_EQ(uht_write(h, buf + 4 * PAGE + 100, 1, tmp, 0), -EFAULT);
	CHECK_EQ(uht_read(hi, buf + 4 * PAGE, 1, tmp, 0), -EFAULT);
	/* A range that runs into the hole fails too. */
	CHECK_EQ(uht_read(h, buf + 3 * PAGE, 2 * PAGE, tmp, 0), -EFAULT);

	/* Read-only mapping: reads work, writes fail with EPERM. */
	buf[6 * PAGE] = 'r';
	CHECK_EQ(mprotect(buf + 6 * PAGE, PAGE, PROT_READ), 0);
	CHECK_EQ(uht_read(h, buf + 6 * PAGE, 1, tmp, 0), 0);
	CHECK_EQ(tmp[0], 'r');
	CHECK_EQ(uht_write(h, buf + 6 * PAGE, 1, tmp, 0), -EPERM);
	CHECK_EQ(uht_write(hi, buf + 6 * PAGE, 1, tmp, 0), -EPERM);
	/* PROT_NONE: nothing. */
	CHECK_EQ(mprotect(buf + 7 * PAGE, PAGE, PROT_NONE), 0);
	CHECK_EQ(uht_read(h, buf + 7 * PAGE, 1, tmp, 0), -EFAULT);

	/* No-fault access of a page the device has not mapped. */
	CHECK_EQ(uht_read(h, buf + 2 * PAGE, 1, tmp, UMEM_HMM_TEST_NO_FAULT), -EAGAIN);
	CHECK_EQ(uht_read(h, buf + 2 * PAGE, 1, tmp, 0), 0);
	CHECK_EQ(uht_read(h, buf + 2 * PAGE, 1, tmp, UMEM_HMM_TEST_NO_FAULT), 0);

	CHECK_EQ(uht_dereg(h), 0);
	CHECK_EQ(uht_dereg(h), -ENOENT);
	CHECK_EQ(uht_dereg(hi), 0);
	munmap(buf, 8 * PAGE);
	return 0;
}

/* A cold pass faults, a warm pass does not, prefetch moves its counters. */
CHECK_CASE(stats)
{
	const size_t n = 256;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	uint64_t s0[UMEM_HMM_TEST_MAX_STATS], s1[UMEM_HMM_TEST_MAX_STATS];
	uint32_t h;

	CHECK(buf && tmp);
	memset(buf, 1, n * PAGE);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);

	CHECK_EQ(uht_stats(0, s0), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(uht_stats(0, s1), 0);
	CHECK(s1[ST_FAULTS] > s0[ST_FAULTS]);
	CHECK_EQ(s1[ST_PAGES_FAULTED] - s0[ST_PAGES_FAULTED], n);
	CHECK_EQ(s1[ST_PAGES_MAPPED] - s0[ST_PAGES_MAPPED], n);
	CHECK(s1[ST_FAULT_NS_SUM] > s0[ST_FAULT_NS_SUM]);
	CHECK(s1[ST_FAULT_NS_MAX] > 0);

	/* Warm. */
	CHECK_EQ(uht_stats(0, s0), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(uht_stats(0, s1), 0);
	CHECK_EQ(s1[ST_FAULTS], s0[ST_FAULTS]);

	/* Invalidate, then prefetch: the access after it faults nothing. */
	CHECK_EQ(madvise(buf, n * PAGE, MADV_DONTNEED), 0);
	CHECK_EQ(uht_mapped(h, buf, n), 0);
	CHECK_EQ(uht_stats(0, s0), 0);
	CHECK(s0[ST_INVALIDATIONS] > 0 && s0[ST_PAGES_INVALIDATED] >= n);
	CHECK_EQ(uht_prefetch(h, buf, n * PAGE, UMEM_HMM_TEST_FOR_WRITE), 0);
	CHECK_EQ(uht_stats(0, s1), 0);
	CHECK_EQ(s1[ST_PREFETCH_REQUESTS] - s0[ST_PREFETCH_REQUESTS], 1);
	CHECK_EQ(s1[ST_PAGES_PREFETCHED] - s0[ST_PAGES_PREFETCHED], n);
	CHECK_EQ(s1[ST_FAULTS], s0[ST_FAULTS]);
	CHECK_EQ(uht_write(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(uht_stats(0, s0), 0);
	CHECK_EQ(s0[ST_FAULTS], s1[ST_FAULTS]);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

CHECK_CASE(prefetch_modes)
{
	const size_t n = 64;
	char *buf = map_anon(n * PAGE);
	double t0;
	uint32_t h;

	CHECK(buf);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	/* No-fault maps only what the CPU has touched. */
	for (size_t i = 0; i < n; i += 2)
		buf[i * PAGE] = 1;
	CHECK_EQ(uht_prefetch(h, buf, n * PAGE, UMEM_HMM_TEST_NO_FAULT), 0);
	CHECK_EQ(uht_mapped(h, buf, n), n / 2);
	/* Read prefetch maps zero pages read-only; write prefetch writable. */
	CHECK_EQ(uht_prefetch(h, buf, n * PAGE, 0), 0);
	CHECK_EQ(uht_mapped(h, buf, n), n);
	CHECK_EQ(madvise(buf, n * PAGE, MADV_DONTNEED), 0);
	/* Asynchronous: returns at once, done soon after. */
	CHECK_EQ(uht_prefetch(h, buf, n * PAGE, UMEM_HMM_TEST_ASYNC | UMEM_HMM_TEST_FOR_WRITE), 0);
	for (t0 = now_s(); uht_mapped(h, buf, n) != n && now_s() - t0 < 20;)
		usleep(1000);
	CHECK_EQ(uht_mapped(h, buf, n), n);
	/* Errors: outside the range; a hole. */
	CHECK_EQ(uht_prefetch(h, buf, (n + 1) * PAGE, 0), -EINVAL);
	CHECK_EQ(munmap(buf + 8 * PAGE, PAGE), 0);
	CHECK_EQ(uht_prefetch(h, buf, n * PAGE, 0), -EFAULT);
	/* An async prefetch still in flight at dereg is waited for. */
	CHECK_EQ(uht_prefetch(h, buf + 16 * PAGE, 32 * PAGE, UMEM_HMM_TEST_ASYNC), 0);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	return 0;
}

/* Sequential faults widen the window, up to the maximum and the VMA. */
CHECK_CASE(fault_ahead)
{
	const size_t n = 2048;	/* 8 MiB */
	char *buf = map_anon(n * PAGE), c;
	uint64_t f0;
	uint32_t h;

	CHECK(buf);
	memset(buf, 3, n * PAGE);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);

	/* One random access maps the page and a window beyond it. */
	CHECK_EQ(uht_read(h, buf + 100 * PAGE + 5, 1, &c, 0), 0);
	CHECK_EQ(c, 3);
	CHECK_EQ(uht_mapped(h, buf, n), 1 + 16);
	CHECK_EQ(uht_mapped(h, buf + 100 * PAGE, 17), 17);

	/* A sequential pass page by page faults far fewer times than pages. */
	CHECK_EQ(madvise(buf, n * PAGE, MADV_DONTNEED), 0);
	memset(buf, 4, n * PAGE);
	f0 = uht_stat(ST_FAULTS);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(uht_read(h, buf + i * PAGE, 1, &c, 0), 0);
		CHECK_EQ(c, 4);
	}
	CHECK(uht_stat(ST_FAULTS) - f0 <= 16);
	printf("fault-ahead: %zu sequential page reads took %llu faults\n", n,
	       (unsigned long long)(uht_stat(ST_FAULTS) - f0));

	/* The window stops at the end of the VMA; the hole is no error. */
	CHECK_EQ(madvise(buf, n * PAGE, MADV_DONTNEED), 0);
	CHECK_EQ(munmap(buf + 10 * PAGE, PAGE), 0);
	CHECK_EQ(uht_read(h, buf + 8 * PAGE, 1, &c, 0), 0);
	CHECK_EQ(uht_mapped(h, buf, n), 2);
	/* And at the end of the registration. */
	CHECK_EQ(uht_read(h, buf + (n - 2) * PAGE, 1, &c, 0), 0);
	CHECK_EQ(uht_mapped(h, buf + (n - 8) * PAGE, 8), 2);

	/* fault_ahead_max=0 turns it off. */
	CHECK_EQ(madvise(buf + 11 * PAGE, (n - 11) * PAGE, MADV_DONTNEED), 0);
	CHECK_EQ(set_fault_ahead_max(0), 0);
	for (size_t i = 20; i < 30; i++)
		CHECK_EQ(uht_read(h, buf + i * PAGE, 1, &c, 0), 0);
	CHECK_EQ(set_fault_ahead_max(512), 0);
	CHECK_EQ(uht_mapped(h, buf + 11 * PAGE, n - 11), 10);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	return 0;
}

/*
 * Sequential writes into fresh anonymous memory are faulted ahead by a
 * write stream, also two passes interleaved in one umem (an atomic's
 * targets and its results): far fewer faults than pages, every byte right.
 */
CHECK_CASE(write_streams)
{
	const size_t n = 2048;	/* 8 MiB per pass */
	char *buf = map_anon(2 * n * PAGE);
	uint64_t f0, p0;
	uint32_t h;

	CHECK(buf);
	CHECK_EQ(uht_reg((uintptr_t)buf, 2 * n * PAGE, 0, &h), 0);
	f0 = uht_stat(ST_FAULTS);
	p0 = uht_stat(ST_PAGES_PREFETCHED);
	for (size_t i = 0; i < n; i++) {
		char a = i, b = ~i;

		CHECK_EQ(uht_write(h, buf + i * PAGE + 8, 1, &a, 0), 0);
		CHECK_EQ(uht_write(h, buf + (n + i) * PAGE + 16, 1, &b, 0), 0);
	}
	printf("write streams: %zu interleaved page writes took %llu faults, %llu pages streamed\n",
	       2 * n, (unsigned long long)(uht_stat(ST_FAULTS) - f0),
	       (unsigned long long)(uht_stat(ST_PAGES_PREFETCHED) - p0));
	CHECK(uht_stat(ST_FAULTS) - f0 <= 64);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(buf[i * PAGE + 8], (char)i);
		CHECK_EQ(buf[(n + i) * PAGE + 16], (char)~i);
	}
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, 2 * n * PAGE);
	return 0;
}

/* A THP-backed range is mapped per huge page: one fault, 512 pages. */
CHECK_CASE(huge)
{
	const size_t len = 4 * HUGE_PAGE;
	char *buf = map_thp(len), *tmp = malloc(len);
	uint8_t st[512];
	uint64_t s0[UMEM_HMM_TEST_MAX_STATS], s1[UMEM_HMM_TEST_MAX_STATS];
	uint32_t h;

	CHECK(buf && tmp);
	fill_pattern(buf, len, 77, 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, len, 0, &h), 0);
	CHECK_EQ(uht_stats(0, s0), 0);
	CHECK_EQ(uht_read(h, buf + HUGE_PAGE + 12345, 10, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, 10, 77, HUGE_PAGE + 12345), -1);
	CHECK_EQ(uht_stats(0, s1), 0);
	CHECK_EQ(uht_snapshot(h, buf + HUGE_PAGE, 512, st, NULL), 0);
	for (int i = 0; i < 512; i++)
		CHECK_EQ(st[i] & (UMEM_HMM_TEST_PAGE_MAPPED | UMEM_HMM_TEST_PAGE_HUGE),
			 UMEM_HMM_TEST_PAGE_MAPPED | UMEM_HMM_TEST_PAGE_HUGE);
	CHECK_EQ(s1[ST_FAULTS] - s0[ST_FAULTS], 1);
	CHECK(s1[ST_PAGES_FAULTED] - s0[ST_PAGES_FAULTED] >= 512);

	/* Data through huge mappings, across huge page boundaries. */
	CHECK_EQ(uht_read(h, buf, len, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, len, 77, 0), -1);
	fill_pattern(tmp, len - 100, 78, 50);
	CHECK_EQ(uht_write(h, buf + 50, len - 100, tmp, 0), 0);
	CHECK_EQ(check_pattern(buf + 50, len - 100, 78, 50), -1);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, len);
	free(tmp);
	return 0;
}

/* Implicit ODP: any address, memory allocated after registration, chunks. */
CHECK_CASE(implicit)
{
	const size_t gib = 1UL << 30;
	char stack_buf[100], tmp[3 * PAGE];
	char *late, *cross, *want;
	uint64_t umems0 = uht_stat(ST_UMEMS);
	uint32_t h;

	CHECK_EQ(uht_reg(0, 0, UMEM_HMM_TEST_IMPLICIT, &h), 0);
	CHECK_EQ(uht_stat(ST_UMEMS), umems0 + 1);

	memset(stack_buf, 'x', sizeof(stack_buf));
	CHECK_EQ(uht_read(h, stack_buf, sizeof(stack_buf), tmp, 0), 0);
	CHECK(!memcmp(tmp, stack_buf, sizeof(stack_buf)));

	late = map_anon(PAGE);
	CHECK(late);
	CHECK_EQ(uht_write(h, late + 10, 5, "hello", 0), 0);
	CHECK(!memcmp(late + 10, "hello", 5));

	/* A buffer that crosses a 1 GiB chunk boundary: two children. */
	want = (char *)(64 * gib - PAGE);
	cross = mmap(want, 2 * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(cross == want);
	fill_pattern(tmp, 2 * PAGE, 5, 0);
	CHECK_EQ(uht_write(h, cross, 2 * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(cross, 2 * PAGE, 5, 0), -1);
	memset(tmp, 0, sizeof(tmp));
	CHECK_EQ(uht_read(h, cross + 7, 2 * PAGE - 14, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, 2 * PAGE - 14, 5, 7), -1);

	CHECK_EQ(uht_dereg(h), 0);
	CHECK_EQ(uht_stat(ST_UMEMS), umems0);
	munmap(late, PAGE);
	munmap(cross, 2 * PAGE);
	return 0;
}

/* Children of an implicit umem are freed when all their pages are gone. */
CHECK_CASE(implicit_idle)
{
	const size_t gib = 1UL << 30;
	uint64_t umems0 = uht_stat(ST_UMEMS), bytes0 = uht_stat(ST_TRACKING_BYTES);
	char *bufs[3], back[8];
	double t0;
	uint32_t h;

	CHECK_EQ(uht_reg(0, 0, UMEM_HMM_TEST_IMPLICIT, &h), 0);
	for (int i = 0; i < 3; i++) {
		char *want = (char *)((80 + 2 * i) * gib);

		bufs[i] = mmap(want, 4 * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		CHECK(bufs[i] == want);
		CHECK_EQ(uht_write(h, bufs[i], 8, "children", 0), 0);
		/* Through the child the root now remembers as its last one. */
		CHECK_EQ(uht_read(h, bufs[i], 8, back, 0), 0);
		CHECK_EQ(memcmp(back, "children", 8), 0);
	}
	CHECK_EQ(uht_stat(ST_UMEMS), umems0 + 1 + 3);
	CHECK(uht_stat(ST_TRACKING_BYTES) > bytes0);

	for (int i = 0; i < 3; i++)
		CHECK_EQ(munmap(bufs[i], 4 * PAGE), 0);
	for (t0 = now_s(); uht_stat(ST_UMEMS) != umems0 + 1 && now_s() - t0 < 20;)
		usleep(1000);
	CHECK_EQ(uht_stat(ST_UMEMS), umems0 + 1);
	CHECK_EQ(uht_stat(ST_TRACKING_BYTES), bytes0);
	/* Children are freed by kfree_rcu(): within its 5 s drain and a grace period. */
	sleep(7);

	/*
	 * The same chunks again, the last one used first: new children (the
	 * root must not remember a freed one; the debug kernel's KASAN sees
	 * a read of it).
	 */
	for (int i = 2; i >= 0; i--) {
		char *want = (char *)((80 + 2 * i) * gib);

		bufs[i] = mmap(want, 4 * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		CHECK(bufs[i] == want);
		CHECK_EQ(uht_write(h, bufs[i] + PAGE, 8, "again!!", 0), 0);
		CHECK_EQ(memcmp(bufs[i] + PAGE, "again!!", 8), 0);
		CHECK_EQ(uht_read(h, bufs[i] + PAGE, 8, back, 0), 0);
		CHECK_EQ(memcmp(back, "again!!", 8), 0);
	}
	CHECK_EQ(uht_stat(ST_UMEMS), umems0 + 1 + 3);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(munmap(bufs[i], 4 * PAGE), 0);
	CHECK_EQ(uht_dereg(h), 0);
	CHECK_EQ(uht_stat(ST_UMEMS), umems0);
	CHECK_EQ(uht_stat(ST_TRACKING_BYTES), bytes0);
	return 0;
}

/*
 * Tracking memory, measured: at registration 8 bytes per 2 MiB (the flat
 * array of blocks every lookup reads in one load) up to 8 GiB, none at all
 * beyond (blocks in an xarray: the cost of registering terabytes does not
 * grow with the length); then 8 bytes per mapped page.
 */
CHECK_CASE(tracking_bytes)
{
	const size_t len = 64 << 20, big = 16ULL << 30;
	char *buf = map_aligned(len), *tmp = malloc(1 << 20), *win;
	uint64_t b0 = uht_stat(ST_TRACKING_BYTES), m0 = uht_stat(ST_PAGES_MAPPED);
	uint64_t reg_bytes, bytes, pages;
	uint32_t h;

	CHECK(buf && tmp);
	memset(buf, 1, len);
	CHECK_EQ(uht_reg((uintptr_t)buf, len, 0, &h), 0);
	reg_bytes = uht_stat(ST_TRACKING_BYTES) - b0;
	for (size_t off = 0; off < len; off += 1 << 20)
		CHECK_EQ(uht_read(h, buf + off, 1 << 20, tmp, 0), 0);
	bytes = uht_stat(ST_TRACKING_BYTES) - b0;
	pages = uht_stat(ST_PAGES_MAPPED) - m0;
	CHECK_EQ(pages, len / PAGE);
	printf("tracking: %llu bytes at registration of 64 MiB, %.3f bytes per mapped 4 KiB page\n",
	       (unsigned long long)reg_bytes, (double)bytes / pages);
	CHECK_EQ(reg_bytes, 8 * (len >> 21));
	CHECK(bytes <= 8 * pages + 8 * (len >> 21));
	CHECK_EQ(uht_dereg(h), 0);
	CHECK_EQ(uht_stat(ST_TRACKING_BYTES), b0);
	munmap(buf, len);

	/* 16 GiB reserved, its last 2 MiB mapped: the xarray's side. */
	buf = mmap(NULL, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(buf != MAP_FAILED);
	win = buf + big - (2 << 20);
	CHECK_EQ(mprotect(win, 2 << 20, PROT_READ | PROT_WRITE), 0);
	memset(win, 3, 2 << 20);
	CHECK_EQ(uht_reg((uintptr_t)buf, big, 0, &h), 0);
	CHECK_EQ(uht_stat(ST_TRACKING_BYTES), b0);
	CHECK_EQ(uht_read(h, win, 1 << 20, tmp, 0), 0);
	CHECK_EQ(tmp[0], 3);
	CHECK_EQ(tmp[(1 << 20) - 1], 3);
	CHECK(uht_stat(ST_TRACKING_BYTES) > b0);
	CHECK_EQ(munmap(win, 2 << 20), 0);
	CHECK_EQ(uht_stat(ST_TRACKING_BYTES), b0);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, big);
	free(tmp);
	return 0;
}

/* The gather mode the benchmark uses moves the right bytes both ways. */
CHECK_CASE(gather)
{
	const size_t n = 64;
	char *buf = map_anon(n * PAGE), words[64 * 8];
	uint32_t h;

	CHECK(buf);
	fill_pattern(buf, n * PAGE, 30, 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	CHECK_EQ(uht_gather(h, buf + 100, n * PAGE - 100, words, 8, PAGE, false), 0);
	for (size_t i = 0; i < n - 1; i++)
		CHECK_EQ(check_pattern(words + 8 * i, 8, 30, 100 + i * PAGE), -1);
	fill_pattern(words, sizeof(words), 31, 0);
	CHECK_EQ(uht_gather(h, buf, n * PAGE, words, 8, PAGE, true), 0);
	for (size_t i = 0; i < n; i++) {
		CHECK(!memcmp(buf + i * PAGE, words + 8 * i, 8));
		CHECK_EQ(check_pattern(buf + i * PAGE + 8, PAGE - 8, 30, i * PAGE + 8), -1);
	}
	CHECK_EQ(uht_gather(h, buf, n * PAGE, words, PAGE + 1, PAGE, false), -EINVAL);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	return 0;
}
