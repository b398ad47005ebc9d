// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ib_umem_hmm tests: every source of invalidation makes the device see the
 * new truth, never the old page.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/mempolicy.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "uht.h"

static uint64_t inval_calls(uint32_t h, void *addr)
{
	uint64_t calls = 0;
	uint8_t st;

	uht_snapshot(h, addr, 1, &st, &calls);
	return calls;
}

CHECK_CASE(inval_munmap)
{
	const size_t n = 16;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	uint64_t c0;
	uint32_t h;

	CHECK(buf && tmp);
	fill_pattern(buf, n * PAGE, 11, 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(uht_mapped(h, buf, n), n);
	c0 = inval_calls(h, buf);

	CHECK_EQ(munmap(buf + 4 * PAGE, 4 * PAGE), 0);
	CHECK(inval_calls(h, buf) > c0);
	CHECK_EQ(uht_mapped(h, buf + 4 * PAGE, 4), 0);
	CHECK_EQ(uht_mapped(h, buf, n), n - 4);
	CHECK_EQ(uht_read(h, buf + 5 * PAGE, 1, tmp, 0), -EFAULT);
	CHECK_EQ(uht_write(h, buf + 5 * PAGE, 1, tmp, 0), -EFAULT);
	CHECK_EQ(uht_read(h, buf + 8 * PAGE, 8 * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, 8 * PAGE, 11, 8 * PAGE), -1);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

CHECK_CASE(inval_map_fixed)
{
	const size_t n = 8;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE), *p;
	uint32_t h;

	CHECK(buf && tmp);
	fill_pattern(buf, n * PAGE, 12, 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);

	p = mmap(buf + 2 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(p == buf + 2 * PAGE);
	fill_pattern(p, 2 * PAGE, 13, 2 * PAGE);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, 2 * PAGE, 12, 0), -1);
	CHECK_EQ(check_pattern(tmp + 2 * PAGE, 2 * PAGE, 13, 2 * PAGE), -1);
	CHECK_EQ(check_pattern(tmp + 4 * PAGE, 4 * PAGE, 12, 4 * PAGE), -1);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

CHECK_CASE(inval_dontneed)
{
	const size_t n = 8;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	uint32_t h;

	CHECK(buf && tmp);
	fill_pattern(buf, n * PAGE, 14, 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(madvise(buf + PAGE, 3 * PAGE, MADV_DONTNEED), 0);
	CHECK_EQ(uht_mapped(h, buf, n), n - 3);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, PAGE, 14, 0), -1);
	for (size_t i = PAGE; i < 4 * PAGE; i++)
		CHECK_EQ(tmp[i], 0);
	CHECK_EQ(check_pattern(tmp + 4 * PAGE, 4 * PAGE, 14, 4 * PAGE), -1);
	/* And a device write after the zap lands where the CPU looks. */
	CHECK_EQ(uht_write(h, buf + 2 * PAGE + 1, 3, "abc", 0), 0);
	CHECK(!memcmp(buf + 2 * PAGE + 1, "abc", 3));
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

CHECK_CASE(inval_mremap)
{
	const size_t n = 8;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	char *target = map_anon(n * PAGE), *moved;
	uint32_t h, hi;

	CHECK(buf && tmp && target);
	fill_pattern(buf, n * PAGE, 15, 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	CHECK_EQ(uht_reg(0, 0, UMEM_HMM_TEST_IMPLICIT, &hi), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(uht_read(hi, buf, n * PAGE, tmp, 0), 0);

	moved = mremap(buf, n * PAGE, n * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	CHECK(moved == target);
	CHECK_EQ(uht_mapped(h, buf, n), 0);
	CHECK_EQ(uht_read(h, buf, 1, tmp, 0), -EFAULT);
	CHECK_EQ(uht_read(hi, buf, 1, tmp, 0), -EFAULT);
	/* The implicit registration follows the data to its new address. */
	CHECK_EQ(uht_read(hi, moved, n * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, n * PAGE, 15, 0), -1);
	CHECK_EQ(uht_write(hi, moved + 100, 4, "move", 0), 0);
	CHECK(!memcmp(moved + 100, "move", 4));
	CHECK_EQ(uht_dereg(h), 0);
	CHECK_EQ(uht_dereg(hi), 0);
	munmap(moved, n * PAGE);
	free(tmp);
	return 0;
}

CHECK_CASE(inval_mprotect)
{
	char *buf = map_anon(4 * PAGE), c;
	uint8_t st[4];
	uint32_t h;

	CHECK(buf);
	CHECK_EQ(uht_reg((uintptr_t)buf, 4 * PAGE, 0, &h), 0);
	CHECK_EQ(uht_write(h, buf + PAGE, 1, "w", 0), 0);
	CHECK_EQ(uht_snapshot(h, buf, 4, st, NULL), 0);
	CHECK(st[1] & UMEM_HMM_TEST_PAGE_WRITABLE);

	CHECK_EQ(mprotect(buf, 4 * PAGE, PROT_READ), 0);
	CHECK_EQ(uht_snapshot(h, buf, 4, st, NULL), 0);
	CHECK(!(st[1] & UMEM_HMM_TEST_PAGE_WRITABLE));
	CHECK_EQ(uht_write(h, buf + PAGE, 1, "x", 0), -EPERM);
	CHECK_EQ(uht_read(h, buf + PAGE, 1, &c, 0), 0);
	CHECK_EQ(c, 'w');
	CHECK_EQ(buf[PAGE], 'w');

	CHECK_EQ(mprotect(buf, 4 * PAGE, PROT_READ | PROT_WRITE), 0);
	CHECK_EQ(uht_write(h, buf + PAGE, 1, "y", 0), 0);
	CHECK_EQ(buf[PAGE], 'y');
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, 4 * PAGE);
	return 0;
}

/* Parent and child talk over two pipes; returns the child's exit status. */
struct fork_sync {
	int to_child[2], to_parent[2];
	pid_t pid;
};

static void sync_send(int fd)
{
	char c = 1;

	if (write(fd, &c, 1) != 1)
		_exit(99);
}

static void sync_wait(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		_exit(98);
}

static int child_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* After fork the parent writes (COW breaks in the parent). */
CHECK_CASE(inval_fork_parent)
{
	const size_t n = 8;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	struct fork_sync s;
	uint32_t h;

	CHECK(buf && tmp);
	fill_pattern(buf, n * PAGE, 16, 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK(!pipe(s.to_child) && !pipe(s.to_parent));

	s.pid = fork();
	CHECK(s.pid >= 0);
	if (!s.pid) {
		sync_wait(s.to_child[0]);
		/* The parent's writes, CPU and device, never reach us. */
		_exit(check_pattern(buf, n * PAGE, 16, 0) == -1 ? 0 : 1);
	}

	fill_pattern(buf, 4 * PAGE, 17, 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, 4 * PAGE, 17, 0), -1);
	CHECK_EQ(check_pattern(tmp + 4 * PAGE, 4 * PAGE, 16, 4 * PAGE), -1);
	fill_pattern(tmp, 4 * PAGE, 18, 4 * PAGE);
	CHECK_EQ(uht_write(h, buf + 4 * PAGE, 4 * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(buf + 4 * PAGE, 4 * PAGE, 18, 4 * PAGE), -1);
	sync_send(s.to_child[1]);
	CHECK_EQ(child_status(s.pid), 0);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

/* After fork the child writes; the device, for the parent, never sees it. */
CHECK_CASE(inval_fork_child)
{
	const size_t n = 8;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	struct fork_sync s;
	uint32_t h;

	CHECK(buf && tmp);
	fill_pattern(buf, n * PAGE, 19, 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK(!pipe(s.to_child) && !pipe(s.to_parent));

	s.pid = fork();
	CHECK(s.pid >= 0);
	if (!s.pid) {
		/* The child's fd is the parent's: it may not use it. */
		if (uht_read(h, buf, 1, tmp, 0) != -EPERM)
			_exit(2);
		fill_pattern(buf, n * PAGE, 20, 0);
		sync_send(s.to_parent[1]);
		sync_wait(s.to_child[0]);
		_exit(check_pattern(buf, n * PAGE, 20, 0) == -1 ? 0 : 1);
	}

	sync_wait(s.to_parent[0]);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, n * PAGE, 19, 0), -1);
	fill_pattern(tmp, n * PAGE, 21, 0);
	CHECK_EQ(uht_write(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(buf, n * PAGE, 21, 0), -1);
	sync_send(s.to_child[1]);
	CHECK_EQ(child_status(s.pid), 0);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

/* Splitting a huge page (VMA split inside it) and zapping part of it. */
CHECK_CASE(inval_thp_split)
{
	const size_t len = 2 * HUGE_PAGE;
	char *buf = map_thp(len), *tmp = malloc(len);
	uint8_t st[512];
	uint32_t h;

	CHECK(buf && tmp);
	fill_pattern(buf, len, 22, 0);
	CHECK_EQ(uht_reg((uintptr_t)buf, len, 0, &h), 0);
	CHECK_EQ(uht_read(h, buf, len, tmp, 0), 0);
	CHECK_EQ(uht_snapshot(h, buf, 512, st, NULL), 0);
	CHECK(st[0] & UMEM_HMM_TEST_PAGE_HUGE);

	CHECK_EQ(madvise(buf + (1 << 20), 64 << 10, MADV_NOHUGEPAGE), 0);
	CHECK_EQ(uht_mapped(h, buf, 512), 0);
	CHECK_EQ(uht_read(h, buf, len, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, len, 22, 0), -1);
	CHECK_EQ(uht_snapshot(h, buf, 512, st, NULL), 0);
	for (int i = 0; i < 512; i++)
		CHECK_EQ(st[i] & (UMEM_HMM_TEST_PAGE_MAPPED | UMEM_HMM_TEST_PAGE_HUGE),
			 UMEM_HMM_TEST_PAGE_MAPPED);

	CHECK_EQ(madvise(buf + 100 * PAGE, PAGE, MADV_DONTNEED), 0);
	CHECK_EQ(uht_read(h, buf, len, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, 100 * PAGE, 22, 0), -1);
	for (size_t i = 100 * PAGE; i < 101 * PAGE; i++)
		CHECK_EQ(tmp[i], 0);
	CHECK_EQ(check_pattern(tmp + 101 * PAGE, len - 101 * PAGE, 22, 101 * PAGE), -1);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, len);
	free(tmp);
	return 0;
}

/* Page migration between NUMA nodes (the guest has two). */
CHECK_CASE(inval_migrate)
{
	const size_t n = 4;
	char *buf = map_anon(n * PAGE), *tmp = malloc(n * PAGE);
	void *pages[4];
	int nodes[4], status[4];
	uint32_t h;
	uint64_t c0;

	CHECK(buf && tmp);
	fill_pattern(buf, n * PAGE, 23, 0);
	for (size_t i = 0; i < n; i++)
		pages[i] = buf + i * PAGE;
	CHECK_EQ(syscall(SYS_move_pages, 0, n, pages, NULL, status, 0), 0);
	for (size_t i = 0; i < n; i++) {
		CHECK(status[i] >= 0);
		nodes[i] = !status[i];
	}
	CHECK_EQ(uht_reg((uintptr_t)buf, n * PAGE, 0, &h), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	c0 = inval_calls(h, buf);

	/* Migration succeeds because nothing holds the pages (a pin fails it). */
	CHECK_EQ(syscall(SYS_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE), 0);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(status[i], nodes[i]);
	CHECK(inval_calls(h, buf) > c0);
	CHECK_EQ(uht_mapped(h, buf, n), 0);
	CHECK_EQ(uht_read(h, buf, n * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, n * PAGE, 23, 0), -1);
	CHECK_EQ(uht_write(h, buf + 10, 5, "numa!", 0), 0);
	CHECK(!memcmp(buf + 10, "numa!", 5));
	CHECK_EQ(uht_dereg(h), 0);
	munmap(buf, n * PAGE);
	free(tmp);
	return 0;
}

/* memfd (shmem) mapped twice: one page cache, hole punching invalidates. */
CHECK_CASE(inval_shared)
{
	const size_t n = 16;
	int fd = memfd_create("umem_hmm_test", 0);
	char *a, *b, *tmp = malloc(n * PAGE);
	uint32_t h;

	CHECK(fd >= 0 && tmp);
	CHECK_EQ(ftruncate(fd, n * PAGE), 0);
	a = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	b = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(a != MAP_FAILED && b != MAP_FAILED);
	CHECK_EQ(uht_reg((uintptr_t)a, n * PAGE, 0, &h), 0);

	fill_pattern(tmp, n * PAGE, 24, 0);
	CHECK_EQ(uht_write(h, a, n * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(b, n * PAGE, 24, 0), -1);
	fill_pattern(b + 3 * PAGE, 100, 25, 0);
	CHECK_EQ(uht_read(h, a + 3 * PAGE, 100, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, 100, 25, 0), -1);

	CHECK_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			   4 * PAGE, 4 * PAGE), 0);
	CHECK_EQ(uht_mapped(h, a + 4 * PAGE, 4), 0);
	CHECK_EQ(uht_read(h, a, n * PAGE, tmp, 0), 0);
	for (size_t i = 4 * PAGE; i < 8 * PAGE; i++)
		CHECK_EQ(tmp[i], 0);
	CHECK_EQ(check_pattern(tmp + 8 * PAGE, 8 * PAGE, 24, 8 * PAGE), -1);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(a, n * PAGE);
	munmap(b, n * PAGE);
	close(fd);
	free(tmp);
	return 0;
}

/* A file truncated under the device: beyond EOF is an error, not old data. */
CHECK_CASE(inval_truncate)
{
	const size_t n = 16;
	char path[] = "/tmp/umem_hmm_truncXXXXXX";
	int fd = mkstemp(path);
	char *a, *tmp = malloc(n * PAGE);
	uint32_t h;

	CHECK(fd >= 0 && tmp);
	unlink(path);
	CHECK_EQ(ftruncate(fd, n * PAGE), 0);
	a = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(a != MAP_FAILED);
	fill_pattern(a, n * PAGE, 26, 0);
	CHECK_EQ(uht_reg((uintptr_t)a, n * PAGE, 0, &h), 0);
	CHECK_EQ(uht_read(h, a, n * PAGE, tmp, 0), 0);

	CHECK_EQ(ftruncate(fd, 8 * PAGE), 0);
	CHECK_EQ(uht_mapped(h, a + 8 * PAGE, 8), 0);
	CHECK_EQ(uht_read(h, a + 10 * PAGE, 1, tmp, 0), -EFAULT);
	CHECK_EQ(uht_write(h, a + 10 * PAGE, 1, tmp, 0), -EFAULT);
	CHECK_EQ(uht_read(h, a, 8 * PAGE, tmp, 0), 0);
	CHECK_EQ(check_pattern(tmp, 8 * PAGE, 26, 0), -1);

	CHECK_EQ(ftruncate(fd, n * PAGE), 0);
	CHECK_EQ(uht_read(h, a + 10 * PAGE, PAGE, tmp, 0), 0);
	for (size_t i = 0; i < PAGE; i++)
		CHECK_EQ(tmp[i], 0);
	CHECK_EQ(uht_dereg(h), 0);
	munmap(a, n * PAGE);
	close(fd);
	free(tmp);
	return 0;
}

struct hold_arg {
	uint32_t h;
	char *buf;
	volatile int started;
	int ret;
	double returned;
};

static void *hold_thread(void *p)
{
	struct hold_arg *a = p;
	char tmp[PAGE];

	a->started = 1;
	a->ret = uht_hold(a->h, a->buf, PAGE, tmp, 400000);
	a->returned = now_s();
	return NULL;
}

/* munmap waits until the device has stopped using the pages. */
CHECK_CASE(inval_waits_for_device)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		char *buf = map_anon(PAGE);
		struct hold_arg a = { 0 };
		pthread_t t;
		double t0, t1;

		CHECK(buf);
		buf[0] = 1;
		CHECK_EQ(uht_reg((uintptr_t)buf, PAGE, 0, &a.h), 0);
		CHECK_EQ(uht_read(a.h, buf, 1, &(char){ 0 }, 0), 0);
		a.buf = buf;
		CHECK_EQ(pthread_create(&t, NULL, hold_thread, &a), 0);
		while (!a.started)
			usleep(100);
		usleep(100000);
		t0 = now_s();
		CHECK_EQ(munmap(buf, PAGE), 0);
		t1 = now_s();
		pthread_join(t, NULL);
		CHECK_EQ(uht_dereg(a.h), 0);
		if (a.ret)	/* the munmap came first: try again */
			continue;
		printf("munmap took %.3fs while the device held the page\n", t1 - t0);
		CHECK(t1 >= a.returned - 0.1);
		CHECK(t1 - t0 > 0.1);
		return 0;
	}
	return 1;
}
