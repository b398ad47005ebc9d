// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The yardstick of every sodp benchmark: single-core memcpy bandwidth of
 * this machine (or guest) for a given block size, measured the way a soft
 * RDMA device copies a message (source block to destination block).
 *
 * usage: sodp-memcpy-bw [block_bytes [seconds]]
 * prints: memcpy block=<bytes> MBps=<MB/s>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t block = argc > 1 ? strtoull(argv[1], NULL, 0) : 65536;
	double seconds = argc > 2 ? atof(argv[2]) : 1.0;
	unsigned long long copies = 0;
	double start, elapsed;
	char *src, *dst;

	if (!block || seconds <= 0) {
		fprintf(stderr, "usage: %s [block_bytes [seconds]]\n", argv[0]);
		return 2;
	}
	src = malloc(block);
	dst = malloc(block);
	if (!src || !dst) {
		perror("malloc");
		return 1;
	}
	memset(src, 0x5a, block);
	memset(dst, 0xa5, block);

	start = now();
	do {
		for (int i = 0; i < 64; i++) {
			memcpy(dst, src, block);
			/* Keep the compiler from dropping the copies. */
			__asm__ volatile("" : : "r"(dst) : "memory");
		}
		copies += 64;
		elapsed = now() - start;
	} while (elapsed < seconds);

	if (memcmp(src, dst, block)) {
		fprintf(stderr, "memcpy result wrong\n");
		return 1;
	}
	printf("memcpy block=%zu MBps=%.1f\n", block,
	       copies * (double)block / elapsed / 1e6);
	free(src);
	free(dst);
	return 0;
}
