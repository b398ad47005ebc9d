// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include "uht.h"

int uht_fd = -1;

static int uht_ioctl(unsigned long cmd, void *arg)
{
	return ioctl(uht_fd, cmd, arg) ? -errno : 0;
}

int uht_open(void)
{
	uht_fd = open("/dev/umem_hmm_test", O_RDWR | O_CLOEXEC);
	return uht_fd < 0 ? -errno : 0;
}

int uht_reg(uint64_t addr, uint64_t len, uint32_t flags, uint32_t *handle)
{
	struct umem_hmm_test_reg r = { .addr = addr, .length = len, .flags = flags };
	int ret = uht_ioctl(UMEM_HMM_TEST_REG, &r);

	if (!ret)
		*handle = r.handle;
	return ret;
}

int uht_dereg(uint32_t handle)
{
	return uht_ioctl(UMEM_HMM_TEST_DEREG, &handle);
}

int uht_read(uint32_t h, const void *addr, size_t len, void *buf, uint32_t flags)
{
	struct umem_hmm_test_access a = {
		.handle = h, .flags = flags, .addr = (uintptr_t)addr,
		.length = len, .buf = (uintptr_t)buf,
	};

	return uht_ioctl(UMEM_HMM_TEST_READ, &a);
}

int uht_write(uint32_t h, void *addr, size_t len, const void *buf, uint32_t flags)
{
	struct umem_hmm_test_access a = {
		.handle = h, .flags = flags, .addr = (uintptr_t)addr,
		.length = len, .buf = (uintptr_t)buf,
	};

	return uht_ioctl(UMEM_HMM_TEST_WRITE, &a);
}

int uht_hold(uint32_t h, void *addr, size_t len, void *buf, uint32_t hold_us)
{
	struct umem_hmm_test_access a = {
		.handle = h, .addr = (uintptr_t)addr, .length = len,
		.buf = (uintptr_t)buf, .hold_us = hold_us,
	};

	return uht_ioctl(UMEM_HMM_TEST_READ, &a);
}

int uht_cas(uint32_t h, void *addr, uint64_t cmp, uint64_t swap, uint64_t *orig)
{
	struct umem_hmm_test_cas c = {
		.handle = h, .addr = (uintptr_t)addr, .compare = cmp, .swap = swap,
	};
	int ret = uht_ioctl(UMEM_HMM_TEST_CAS, &c);

	if (!ret && orig)
		*orig = c.orig;
	return ret;
}

int uht_prefetch(uint32_t h, void *addr, size_t len, uint32_t flags)
{
	struct umem_hmm_test_prefetch p = {
		.handle = h, .flags = flags, .addr = (uintptr_t)addr, .length = len,
	};

	return uht_ioctl(UMEM_HMM_TEST_PREFETCH, &p);
}

int uht_snapshot(uint32_t h, void *addr, size_t npages, uint8_t *state,
		 uint64_t *invalidate_calls)
{
	struct umem_hmm_test_snapshot s = {
		.handle = h, .npages = npages, .addr = (uintptr_t)addr,
		.states = (uintptr_t)state,
	};
	int ret = uht_ioctl(UMEM_HMM_TEST_SNAPSHOT, &s);

	if (!ret && invalidate_calls)
		*invalidate_calls = s.invalidate_calls;
	return ret;
}

int uht_stats(uint32_t flags, uint64_t *values)
{
	struct umem_hmm_test_stats st = { .flags = flags };
	int ret = uht_ioctl(UMEM_HMM_TEST_STATS, &st);

	if (!ret)
		memcpy(values, st.values, sizeof(st.values));
	return ret;
}

int uht_page_refs(void *addr, uint32_t *refs)
{
	struct umem_hmm_test_page_refs r = { .addr = (uintptr_t)addr };
	int ret = uht_ioctl(UMEM_HMM_TEST_PAGE_REFS, &r);

	if (!ret)
		*refs = r.refs;
	return ret;
}

size_t uht_mapped(uint32_t h, void *addr, size_t npages)
{
	uint8_t *st = malloc(npages);
	size_t n = 0;

	if (!st || uht_snapshot(h, addr, npages, st, NULL)) {
		free(st);
		return (size_t)-1;
	}
	for (size_t i = 0; i < npages; i++)
		n += !!(st[i] & UMEM_HMM_TEST_PAGE_MAPPED);
	free(st);
	return n;
}

int uht_migrate(void *addr, size_t len, uint32_t to, uint64_t *migrated)
{
	struct umem_hmm_test_migrate m = {
		.addr = (uintptr_t)addr, .length = len, .to = to,
	};
	int ret = uht_ioctl(UMEM_HMM_TEST_MIGRATE, &m);

	if (migrated)
		*migrated = m.migrated;
	return ret;
}

int uht_where(void *addr, size_t npages, uint8_t *where)
{
	struct umem_hmm_test_where w = {
		.addr = (uintptr_t)addr, .npages = npages,
		.where = (uintptr_t)where,
	};

	return uht_ioctl(UMEM_HMM_TEST_WHERE, &w);
}

int uht_dmem_stats(struct umem_hmm_test_dmem_stats *st)
{
	return uht_ioctl(UMEM_HMM_TEST_DMEM_STATS, st);
}

size_t uht_count_in(void *addr, size_t npages, uint8_t mem)
{
	uint8_t *where = malloc(npages);
	size_t i, n = 0;

	if (!where)
		return SIZE_MAX;
	if (uht_where(addr, npages, where)) {
		free(where);
		return SIZE_MAX;
	}
	for (i = 0; i < npages; i++)
		n += where[i] == mem;
	free(where);
	return n;
}

void *uht_churn_thread(void *arg)
{
	struct uht_churn *c = arg;

	while (!atomic_load(&c->stop)) {
		size_t first = rand_r(&c->seed) % c->npages;
		size_t len = 1 + rand_r(&c->seed) % (c->npages - first);
		uint32_t to = UMEM_HMM_TEST_MEM_SYSTEM +
			      rand_r(&c->seed) % (c->coherent ? 3 : 2);

		if (!uht_migrate(c->buf + first * PAGE, len * PAGE, to, NULL))
			c->migrations++;
	}
	return NULL;
}

uint64_t uht_stat(int idx)
{
	uint64_t v[UMEM_HMM_TEST_MAX_STATS];

	if (uht_stats(0, v))
		return UINT64_MAX;
	return v[idx];
}

void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Page counts in the tests assume 4 KiB pages (THP may be "always"). */
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

void drain_local_lru(void)
{
	static char *scratch;

	/* MADV_COLD drains this CPU's LRU batches, which hold references. */
	if (!scratch)
		scratch = map_anon(PAGE);
	scratch[0] = 1;
	madvise(scratch, PAGE, MADV_COLD);
}

void *map_thp(size_t len)
{
	char *a = map_aligned(len);

	if (a)
		madvise(a, len, MADV_HUGEPAGE);
	return a;
}

void *map_aligned(size_t len)
{
	char *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
	madvise(p, len + HUGE_PAGE, MADV_NOHUGEPAGE);
	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + len + HUGE_PAGE - (a + len));
	return a;
}

int set_fault_ahead_max(unsigned int pages)
{
	FILE *f = fopen("/sys/module/ib_umem_hmm/parameters/fault_ahead_max", "w");
	int ret;

	if (!f)
		return -errno;
	ret = fprintf(f, "%u\n", pages) < 0;
	return fclose(f) || ret ? -EIO : 0;
}

int uht_gather(uint32_t h, void *addr, size_t len, void *buf, uint32_t chunk,
	       uint32_t stride, bool write)
{
	struct umem_hmm_test_access a = {
		.handle = h, .addr = (uintptr_t)addr, .length = len,
		.buf = (uintptr_t)buf, .chunk = chunk, .stride = stride,
	};

	return uht_ioctl(write ? UMEM_HMM_TEST_WRITE : UMEM_HMM_TEST_READ, &a);
}
