// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * umem-hmm-bench: what ib_umem_hmm costs, measured through umem_hmm_test.ko
 * in one run and printed as a Markdown table with ratios: registration
 * (ODP vs the kernel's pinned ib_umem_get), cold mapping throughput (with
 * and without fault-ahead, 4 KiB and THP), warm access, invalidation cost
 * per page, tracking memory per page.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "uht.h"

static void die(const char *what, int err)
{
	fprintf(stderr, "umem-hmm-bench: %s: %s\n", what, strerror(-err));
	exit(1);
}

/* Seconds for one registration of len bytes (pages touched beforehand). */
static double reg_time(char *buf, size_t len, uint32_t flags, int reps)
{
	double total = 0;

	for (int i = 0; i < reps; i++) {
		uint32_t h;
		double t0 = now_s();
		int ret = uht_reg((uintptr_t)buf, len, flags, &h);

		total += now_s() - t0;
		if (ret)
			die("reg", ret);
		uht_dereg(h);
	}
	return total / reps;
}

static void row(const char *what, const char *odp, const char *base, const char *ratio)
{
	printf("| %s | %s | %s | %s |\n", what, odp, base, ratio);
}

static void bench_registration(void)
{
	static const struct { size_t len; int reps_odp, reps_pin; const char *name; } sz[] = {
		{ 4096, 2000, 2000, "4 KiB" },
		{ 1 << 20, 500, 50, "1 MiB" },
		{ 1UL << 30, 20, 2, "1 GiB" },
	};

	for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
		char *buf = map_anon(sz[i].len), what[64], a[64], b[64], r[64];
		double odp, pin;

		if (!buf)
			die("mmap", -errno);
		memset(buf, 1, sz[i].len);
		odp = reg_time(buf, sz[i].len, 0, sz[i].reps_odp);
		pin = reg_time(buf, sz[i].len, UMEM_HMM_TEST_PINNED, sz[i].reps_pin);
		snprintf(a, sizeof(a), "%.1f us", odp * 1e6);
		snprintf(b, sizeof(b), "%.1f us (pinned)", pin * 1e6);
		snprintf(r, sizeof(r), "ODP %.0fx faster", pin / odp);
		snprintf(what, sizeof(what), "registration, %s", sz[i].name);
		row(what, a, b, r);
		munmap(buf, sz[i].len);
	}
}

/*
 * Pages per second for a device pass that touches 8 bytes of every page,
 * each touch a separate lock/fault/copy/unlock inside the kernel (no
 * system call per page, little copying: what is left is the mapping).
 */
static double map_pass(uint32_t h, char *buf, size_t len, bool write)
{
	const size_t step = 16 << 20;
	static uint64_t words[(16 << 20) / PAGE];
	double t0 = now_s();

	for (size_t off = 0; off < len; off += step) {
		int ret = uht_gather(h, buf + off, step, words, 8, PAGE, write);

		if (ret)
			die("device access", ret);
	}
	return (len / PAGE) / (now_s() - t0);
}

static void bench_mapping(void)
{
	const size_t len = 64 << 20;
	char *buf = map_anon(len), *thp = map_thp(len), a[64], b[64], r[64];
	double with, without, huge, warm, untouched;
	uint32_t h, ht;

	if (!buf || !thp)
		die("mmap", -ENOMEM);
	if (uht_reg((uintptr_t)buf, len, 0, &h) || uht_reg((uintptr_t)thp, len, 0, &ht))
		die("reg", -errno);

	memset(buf, 1, len);
	set_fault_ahead_max(0);
	without = map_pass(h, buf, len, false);
	madvise(buf, len, MADV_DONTNEED);
	memset(buf, 1, len);
	set_fault_ahead_max(512);
	with = map_pass(h, buf, len, false);
	warm = map_pass(h, buf, len, false);
	madvise(buf, len, MADV_DONTNEED);
	untouched = map_pass(h, buf, len, true);
	memset(thp, 1, len);
	huge = map_pass(ht, thp, len, false);

	snprintf(a, sizeof(a), "%.0f pages/s", with);
	snprintf(b, sizeof(b), "%.0f pages/s (fault-ahead off)", without);
	snprintf(r, sizeof(r), "%.1fx", with / without);
	row("cold device read of every 4 KiB page (CPU-touched)", a, b, r);
	snprintf(a, sizeof(a), "%.0f pages/s", huge);
	snprintf(r, sizeof(r), "%.1fx", huge / with);
	row("cold device read, THP-backed", a, "4 KiB pages above", r);
	snprintf(a, sizeof(a), "%.0f pages/s", untouched);
	snprintf(r, sizeof(r), "%.2fx", untouched / with);
	row("cold device write, never-touched pages (fault allocates)", a,
	    "CPU-touched read above", r);
	snprintf(a, sizeof(a), "%.0f pages/s", warm);
	snprintf(b, sizeof(b), "%.0f pages/s (cold)", with);
	snprintf(r, sizeof(r), "%.1fx", warm / with);
	row("warm device read of every page (already mapped)", a, b, r);
	uht_dereg(h);
	uht_dereg(ht);
	munmap(buf, len);
	munmap(thp, len);
}

static void bench_invalidation(void)
{
	const size_t len = 256 << 20, pages = len / PAGE;
	uint64_t b0 = uht_stat(ST_TRACKING_BYTES), m0 = uht_stat(ST_PAGES_MAPPED);
	char *buf = map_aligned(len), *plain = map_aligned(len), a[64], b[64], r[64];
	double t0, reg, unreg, per_page;
	uint32_t h;
	int ret;

	if (!buf || !plain)
		die("mmap", -ENOMEM);
	memset(buf, 1, len);
	memset(plain, 1, len);
	if ((ret = uht_reg((uintptr_t)buf, len, 0, &h)) ||
	    (ret = uht_prefetch(h, buf, len, 0)))
		die("reg/prefetch", ret);
	per_page = (double)(uht_stat(ST_TRACKING_BYTES) - b0) /
		   (uht_stat(ST_PAGES_MAPPED) - m0);

	t0 = now_s();
	munmap(plain, len);
	unreg = now_s() - t0;
	t0 = now_s();
	munmap(buf, len);
	reg = now_s() - t0;
	uht_dereg(h);

	snprintf(a, sizeof(a), "%.0f ms (%.0f ns/page extra)", reg * 1e3,
		 (reg - unreg) / pages * 1e9);
	snprintf(b, sizeof(b), "%.0f ms (not registered)", unreg * 1e3);
	snprintf(r, sizeof(r), "%.2fx", reg / unreg);
	row("munmap of a fully mapped 256 MiB range", a, b, r);
	snprintf(a, sizeof(a), "%.3f bytes/page", per_page);
	row("page tracking memory (8 per page + 8 per 2 MiB)", a, "goal: 8 bytes/page",
	    per_page <= 8.0 + 8.0 / 512 ? "met" : "missed");
}

int main(void)
{
	int ret = uht_open();

	if (ret)
		die("open /dev/umem_hmm_test", ret);
	printf("| ib_umem_hmm | measured | compared with | ratio |\n");
	printf("|---|---:|---:|---:|\n");
	bench_registration();
	bench_mapping();
	bench_invalidation();
	return 0;
}
