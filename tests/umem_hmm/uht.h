/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Helpers for the ib_umem_hmm tests: the umem_hmm_test.ko "device".
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_TESTS_UHT_H
#define SODP_TESTS_UHT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <rdma/umem_hmm_test.h>

#include "../lib/pattern.h"
#include "../lib/proc.h"

#define PAGE 4096UL
#define HUGE_PAGE (2UL << 20)

/* Indices of umem_hmm_test_stats.values (enum ib_umem_hmm_stat). */
enum {
	ST_FAULTS, ST_PAGES_FAULTED, ST_INVALIDATIONS, ST_PAGES_INVALIDATED,
	ST_PREFETCH_REQUESTS, ST_PAGES_PREFETCHED, ST_FAULT_NS_SUM,
	ST_FAULT_NS_MAX, ST_PAGES_MAPPED, ST_TRACKING_BYTES, ST_UMEMS,
	ST_PAGES_FROM_DEVICE,
};

extern int uht_fd;

int uht_open(void);
/* Each returns 0 or -errno. */
int uht_reg(uint64_t addr, uint64_t len, uint32_t flags, uint32_t *handle);
int uht_dereg(uint32_t handle);
int uht_read(uint32_t h, const void *addr, size_t len, void *buf, uint32_t flags);
int uht_write(uint32_t h, void *addr, size_t len, const void *buf, uint32_t flags);
/*
 * One transfer that the device moves as separate accesses of @chunk bytes,
 * one every @stride bytes (stride == chunk: contiguous, as packets).
 */
int uht_gather(uint32_t h, void *addr, size_t len, void *buf, uint32_t chunk,
	       uint32_t stride, bool write);
int uht_hold(uint32_t h, void *addr, size_t len, void *buf, uint32_t hold_us);
int uht_cas(uint32_t h, void *addr, uint64_t cmp, uint64_t swap, uint64_t *orig);
int uht_prefetch(uint32_t h, void *addr, size_t len, uint32_t flags);
int uht_snapshot(uint32_t h, void *addr, size_t npages, uint8_t *state,
		 uint64_t *invalidate_calls);
int uht_stats(uint32_t flags, uint64_t *values);
int uht_page_refs(void *addr, uint32_t *refs);
/* Device memory: move pages (@to: UMEM_HMM_TEST_MEM_*), where they are. */
int uht_migrate(void *addr, size_t len, uint32_t to, uint64_t *migrated);
int uht_where(void *addr, size_t npages, uint8_t *where);
int uht_dmem_stats(struct umem_hmm_test_dmem_stats *st);
/* Pages of [addr, addr + npages) that live in memory @mem. */
size_t uht_count_in(void *addr, size_t npages, uint8_t mem);
/*
 * Migration churn: a thread moving random windows of [buf, buf + npages
 * pages) among system, device-private and (@coherent) device-coherent
 * memory until @stop; @migrations: the moves that succeeded.
 */
struct uht_churn {
	char *buf;
	size_t npages;
	bool coherent;
	unsigned int seed;
	atomic_bool stop;
	uint64_t migrations;
};
void *uht_churn_thread(void *arg);

/* Pages of [addr, addr + npages) mapped for the device. */
size_t uht_mapped(uint32_t h, void *addr, size_t npages);
/* Stat @idx of the virtual-DMA device. */
uint64_t uht_stat(int idx);
/* Anonymous memory in 4 KiB pages. */
void *map_anon(size_t len);
/* Empty this CPU's LRU batches (pin the thread to one CPU first). */
void drain_local_lru(void);
/* 2 MiB-aligned anonymous memory. */
void *map_aligned(size_t len);
/* 2 MiB-aligned anonymous memory backed by transparent huge pages. */
void *map_thp(size_t len);
/* ib_umem_hmm's fault_ahead_max module parameter. */
int set_fault_ahead_max(unsigned int pages);

#endif /* SODP_TESTS_UHT_H */
