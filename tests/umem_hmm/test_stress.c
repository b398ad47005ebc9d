// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ib_umem_hmm tests under concurrency: device accesses racing with mm
 * churn, processes killed while faulting, teardown with live mappings.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "uht.h"

#define CHURN_PAGES	32
#define CHURN_MAX_EVENTS 100000

/* Something that happened to one page, with when it started and ended. */
struct churn_event {
	double start, end;
	uint64_t stamp;		/* device write: the value; zap: 0 */
};

struct churn_page {
	pthread_mutex_t lock;	/* of the history, not of the page */
	struct churn_event writes[CHURN_MAX_EVENTS / CHURN_PAGES];
	int nwrites;
	struct churn_event zaps[CHURN_MAX_EVENTS / CHURN_PAGES];
	int nzaps;
};

struct churn {
	char *buf;
	uint32_t h, hi;
	double stop;
	struct churn_page pages[CHURN_PAGES];
	unsigned long device_writes, device_reads, failed, zaps, bad_reads;
};

static void record(struct churn_page *p, struct churn_event *list, int *n,
		   struct churn_event ev)
{
	pthread_mutex_lock(&p->lock);
	if (*n < CHURN_MAX_EVENTS / CHURN_PAGES)
		list[(*n)++] = ev;
	pthread_mutex_unlock(&p->lock);
}

static bool churn_full(struct churn_page *p)
{
	return p->nwrites >= CHURN_MAX_EVENTS / CHURN_PAGES ||
	       p->nzaps >= CHURN_MAX_EVENTS / CHURN_PAGES;
}

/* Writes whole pages of one stamp through the explicit registration. */
static void *churn_writer(void *arg)
{
	struct churn *c = arg;
	uint64_t *page = malloc(PAGE), rnd = 1, seq = 0;

	while (now_s() < c->stop) {
		int i = xrand(&rnd) % CHURN_PAGES;
		struct churn_page *p = &c->pages[i];
		struct churn_event ev;

		if (churn_full(p))
			continue;
		ev.stamp = ((uint64_t)(i + 1) << 40) | ++seq;
		for (size_t w = 0; w < PAGE / 8; w++)
			page[w] = ev.stamp;
		ev.start = now_s();
		if (uht_write(c->h, c->buf + i * PAGE, PAGE, page, 0) == 0) {
			ev.end = now_s();
			record(p, p->writes, &p->nwrites, ev);
			__atomic_add_fetch(&c->device_writes, 1, __ATOMIC_RELAXED);
		} else {
			__atomic_add_fetch(&c->failed, 1, __ATOMIC_RELAXED);
		}
	}
	free(page);
	return NULL;
}

/* Reads through the implicit registration: never another page's data. */
static void *churn_reader(void *arg)
{
	struct churn *c = arg;
	uint64_t *page = malloc(PAGE), rnd = 2;

	while (now_s() < c->stop) {
		int i = xrand(&rnd) % CHURN_PAGES;

		if (uht_read(c->hi, c->buf + i * PAGE, PAGE, page, 0)) {
			__atomic_add_fetch(&c->failed, 1, __ATOMIC_RELAXED);
			continue;
		}
		__atomic_add_fetch(&c->device_reads, 1, __ATOMIC_RELAXED);
		/* Torn by a racing write, byte by byte, at worst: never another page's. */
		for (size_t w = 0; w < PAGE / 8; w++)
			if ((page[w] >> 48) ||
			    ((page[w] >> 40) & 0xff && (page[w] >> 40) != (uint64_t)(i + 1)))
				__atomic_add_fetch(&c->bad_reads, 1, __ATOMIC_RELAXED);
	}
	free(page);
	return NULL;
}

/* Zaps, replaces, write-protects and COW-shares pages under the device. */
static void *churn_mm(void *arg)
{
	struct churn *c = arg;
	uint64_t rnd = 3;

	while (now_s() < c->stop) {
		int i = xrand(&rnd) % CHURN_PAGES;
		struct churn_page *p = &c->pages[i];
		char *addr = c->buf + i * PAGE;
		struct churn_event ev = { .start = now_s() };
		pid_t pid;

		if (churn_full(p))
			continue;
		switch (xrand(&rnd) % 4) {
		case 0:
			madvise(addr, PAGE, MADV_DONTNEED);
			break;
		case 1:
			mmap(addr, PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		case 2:
			/* No data change: write access comes back. */
			mprotect(addr, PAGE, PROT_READ);
			usleep(100);
			mprotect(addr, PAGE, PROT_READ | PROT_WRITE);
			continue;
		case 3:
			pid = fork();
			if (!pid)
				_exit(0);
			waitpid(pid, NULL, 0);
			continue;
		}
		ev.end = now_s();
		record(p, p->zaps, &p->nzaps, ev);
		__atomic_add_fetch(&c->zaps, 1, __ATOMIC_RELAXED);
		usleep(200);
	}
	return NULL;
}

/*
 * What a page may hold at the end: a stamp that some successful device
 * write put there and that nothing (a later write or a zap) provably came
 * after; or zeros, if a zap may have come after the last write.
 */
static int churn_check_page(struct churn *c, int i)
{
	struct churn_page *p = &c->pages[i];
	uint64_t *w = (uint64_t *)(c->buf + i * PAGE), v = w[0];
	double last_write_start = -1;

	for (size_t k = 1; k < PAGE / 8; k++)
		if (w[k] != v) {
			fprintf(stderr, "page %d torn: word %zu %#llx != %#llx\n", i, k,
				(unsigned long long)w[k], (unsigned long long)v);
			return 1;
		}
	for (int k = 0; k < p->nwrites; k++)
		if (p->writes[k].start > last_write_start)
			last_write_start = p->writes[k].start;

	if (!v) {
		bool discarded = last_write_start < 0;

		for (int k = 0; k < p->nzaps && !discarded; k++)
			discarded = p->zaps[k].end > last_write_start;
		if (!discarded)
			fprintf(stderr, "page %d: zeros, but no zap after the last write\n", i);
		return !discarded;
	}
	for (int k = 0; k < p->nwrites; k++) {
		struct churn_event *ev = &p->writes[k];

		if (ev->stamp != v)
			continue;
		for (int z = 0; z < p->nzaps; z++)
			if (p->zaps[z].start > ev->end) {
				fprintf(stderr, "page %d: %#llx survived a later zap\n", i,
					(unsigned long long)v);
				return 1;
			}
		for (int z = 0; z < p->nwrites; z++)
			if (p->writes[z].start > ev->end) {
				fprintf(stderr, "page %d: %#llx survived a later write\n", i,
					(unsigned long long)v);
				return 1;
			}
		return 0;
	}
	fprintf(stderr, "page %d holds %#llx, which no successful write wrote\n", i,
		(unsigned long long)v);
	return 1;
}

CHECK_CASE(churn)
{
	struct churn *c = calloc(1, sizeof(*c));
	pthread_t t[3];
	double seconds = getenv("SODP_CHURN_SECONDS") ? atof(getenv("SODP_CHURN_SECONDS")) : 8;
	int bad = 0;

	CHECK(c);
	c->buf = map_anon(CHURN_PAGES * PAGE);
	CHECK(c->buf);
	for (int i = 0; i < CHURN_PAGES; i++)
		pthread_mutex_init(&c->pages[i].lock, NULL);
	CHECK_EQ(uht_reg((uintptr_t)c->buf, CHURN_PAGES * PAGE, 0, &c->h), 0);
	CHECK_EQ(uht_reg(0, 0, UMEM_HMM_TEST_IMPLICIT, &c->hi), 0);

	c->stop = now_s() + seconds;
	CHECK_EQ(pthread_create(&t[0], NULL, churn_writer, c), 0);
	CHECK_EQ(pthread_create(&t[1], NULL, churn_reader, c), 0);
	CHECK_EQ(pthread_create(&t[2], NULL, churn_mm, c), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);

	for (int i = 0; i < CHURN_PAGES; i++)
		bad += churn_check_page(c, i);
	printf("churn: %lu device writes, %lu device reads, %lu failed (EPERM "
	       "while read-only), %lu zaps, %lu bad reads, %d bad pages\n",
	       c->device_writes, c->device_reads, c->failed, c->zaps,
	       c->bad_reads, bad);
	CHECK_EQ(bad, 0);
	CHECK_EQ(c->bad_reads, 0);
	CHECK(c->device_writes > 50 && c->zaps > 50);
	CHECK_EQ(uht_dereg(c->h), 0);
	CHECK_EQ(uht_dereg(c->hi), 0);
	munmap(c->buf, CHURN_PAGES * PAGE);
	free(c);
	return 0;
}

static void *kill_worker(void *arg)
{
	char *buf = arg, tmp[64 << 10];
	uint32_t h, hi;
	uint64_t rnd = (uintptr_t)&h;

	if (uht_reg((uintptr_t)buf, 64 << 20, 0, &h) ||
	    uht_reg(0, 0, UMEM_HMM_TEST_IMPLICIT, &hi))
		return NULL;
	for (;;) {
		size_t off = (xrand(&rnd) % ((64 << 20) / sizeof(tmp))) * sizeof(tmp);

		switch (xrand(&rnd) % 5) {
		case 0:
			uht_read(h, buf + off, sizeof(tmp), tmp, 0);
			break;
		case 1:
			uht_write(hi, buf + off, sizeof(tmp), tmp, 0);
			break;
		case 2:
			uht_prefetch(h, buf + off, 1 << 20 < (64 << 20) - off ?
				     1 << 20 : sizeof(tmp), UMEM_HMM_TEST_ASYNC);
			break;
		case 3:
			uht_hold(hi, buf + off, 100, tmp, 20000);
			break;
		case 4:
			madvise(buf + off, sizeof(tmp), MADV_DONTNEED);
			break;
		}
	}
	return NULL;
}

/* Processes killed while faulting, holding pages and prefetching. */
CHECK_CASE(kill_mid_fault)
{
	uint64_t s0[UMEM_HMM_TEST_MAX_STATS], s1[UMEM_HMM_TEST_MAX_STATS];
	uint64_t rnd = 99;

	CHECK_EQ(uht_stats(0, s0), 0);
	for (int round = 0; round < 6; round++) {
		pid_t pid = fork();

		CHECK(pid >= 0);
		if (!pid) {
			char *buf = map_anon(64 << 20);
			pthread_t t[3];

			close(uht_fd);
			if (!buf || uht_open())
				_exit(1);
			for (int i = 0; i < 3; i++)
				pthread_create(&t[i], NULL, kill_worker, buf);
			pause();
			_exit(0);
		}
		usleep(200000 + xrand(&rnd) % 600000);
		CHECK_EQ(kill(pid, SIGKILL), 0);
		CHECK_EQ(waitpid(pid, NULL, 0), pid);
	}
	/* Everything the dead processes had is gone. */
	CHECK_EQ(uht_stats(0, s1), 0);
	CHECK_EQ(s1[ST_UMEMS], s0[ST_UMEMS]);
	CHECK_EQ(s1[ST_PAGES_MAPPED], s0[ST_PAGES_MAPPED]);
	CHECK_EQ(s1[ST_TRACKING_BYTES], s0[ST_TRACKING_BYTES]);
	CHECK(s1[ST_FAULTS] > s0[ST_FAULTS]);
	return 0;
}

/* Closing the device with live, mapped registrations releases them all. */
CHECK_CASE(close_with_mappings)
{
	uint64_t s0[UMEM_HMM_TEST_MAX_STATS], s1[UMEM_HMM_TEST_MAX_STATS];
	char *buf = map_anon(1 << 20), tmp[PAGE];
	int saved = uht_fd;
	uint32_t h;

	CHECK(buf);
	memset(buf, 1, 1 << 20);
	CHECK_EQ(uht_stats(0, s0), 0);
	CHECK_EQ(uht_open(), 0);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(uht_reg((uintptr_t)buf, 1 << 20, 0, &h), 0);
		CHECK_EQ(uht_read(h, buf + i * PAGE, PAGE, tmp, 0), 0);
		CHECK_EQ(uht_reg(0, 0, UMEM_HMM_TEST_IMPLICIT, &h), 0);
		CHECK_EQ(uht_write(h, buf + i * PAGE, PAGE, tmp, 0), 0);
	}
	CHECK_EQ(uht_prefetch(h, buf, 1 << 20, UMEM_HMM_TEST_ASYNC), 0);
	close(uht_fd);
	uht_fd = saved;
	CHECK_EQ(uht_stats(0, s1), 0);
	CHECK_EQ(s1[ST_UMEMS], s0[ST_UMEMS]);
	CHECK_EQ(s1[ST_PAGES_MAPPED], s0[ST_PAGES_MAPPED]);
	CHECK_EQ(s1[ST_TRACKING_BYTES], s0[ST_TRACKING_BYTES]);
	munmap(buf, 1 << 20);
	return 0;
}
