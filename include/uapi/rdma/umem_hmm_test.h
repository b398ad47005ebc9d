/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR Linux-OpenIB) */
/*
 * The user-space interface of umem_hmm_test.ko: a "device" on /dev/umem_hmm_test
 * that lets a test register its own memory through ib_umem_hmm and then
 * read, write and compare-and-swap it through the mapped pages, as a NIC
 * would.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef _UAPI_RDMA_UMEM_HMM_TEST_H
#define _UAPI_RDMA_UMEM_HMM_TEST_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* umem_hmm_test_reg.flags */
#define UMEM_HMM_TEST_IMPLICIT	(1U << 0) /* whole address space */
#define UMEM_HMM_TEST_PINNED	(1U << 1) /* the kernel's ib_umem_get() */
#define UMEM_HMM_TEST_BUS_DMA	(1U << 2) /* a bus-DMA device, not virtual */
/*
 * Owner of the test's device-private memory: its pages are reported and
 * reached where they are, not migrated back (ib_umem_hmm_set_owner()).
 */
#define UMEM_HMM_TEST_DEVICE_OWNER (1U << 3)

/* flags of access, cas and prefetch */
#define UMEM_HMM_TEST_NO_FAULT	(1U << 0)
#define UMEM_HMM_TEST_FOR_WRITE	(1U << 1) /* prefetch for writing */
#define UMEM_HMM_TEST_ASYNC	(1U << 2) /* prefetch without waiting */

/* umem_hmm_test_snapshot: one byte per page */
#define UMEM_HMM_TEST_PAGE_MAPPED	(1U << 0)
#define UMEM_HMM_TEST_PAGE_WRITABLE	(1U << 1)
#define UMEM_HMM_TEST_PAGE_DIRTY	(1U << 2)
#define UMEM_HMM_TEST_PAGE_HUGE		(1U << 3)
#define UMEM_HMM_TEST_PAGE_DEVICE	(1U << 4) /* the owner's device page */

#define UMEM_HMM_TEST_MAX_STATS	16

struct umem_hmm_test_reg {
	__u64 addr;
	__u64 length;
	__u32 flags;
	__u32 handle;		/* out */
};

struct umem_hmm_test_access {
	__u32 handle;
	__u32 flags;
	__u64 addr;		/* in the registration */
	__u64 length;
	__u64 buf;		/* user buffer: destination of READ, source of WRITE */
	__u32 hold_us;		/* keep the pages locked this long after copying */
	/* Lock and copy in pieces of this many bytes, as a NIC moves packets (0: 64 KiB). */
	__u32 chunk;
	/*
	 * Gather: one chunk every stride bytes of [addr, addr + length) into
	 * buf (0: contiguous); at most 64 KiB of chunks.
	 */
	__u32 stride;
	__u32 reserved;
};

struct umem_hmm_test_cas {
	__u32 handle;
	__u32 flags;
	__u64 addr;		/* 8-byte aligned */
	__u64 compare;
	__u64 swap;
	__u64 orig;		/* out: the value found */
};

struct umem_hmm_test_prefetch {
	__u32 handle;
	__u32 flags;
	__u64 addr;
	__u64 length;
};

struct umem_hmm_test_snapshot {
	__u32 handle;
	__u32 npages;
	__u64 addr;		/* page aligned */
	__u64 states;		/* user pointer: npages bytes */
	__u64 invalidate_calls;	/* out: the driver op's calls so far */
};

struct umem_hmm_test_stats {
	__u32 flags;		/* UMEM_HMM_TEST_BUS_DMA: that device's */
	__u32 count;		/* out */
	__u64 values[UMEM_HMM_TEST_MAX_STATS]; /* order: ib_umem_hmm_stat */
};

/* The references held on the page mapped at addr (not counting this probe's). */
struct umem_hmm_test_page_refs {
	__u64 addr;
	__u32 refs;		/* out */
	__u32 reserved;
};

/*
 * Device memory (kernels with CONFIG_DEVICE_PRIVATE): a simulated GPU's.
 * Private memory the CPU cannot address; coherent memory it can (guest
 * RAM reserved with memmap=, given as module parameters).
 */
enum umem_hmm_test_mem {
	UMEM_HMM_TEST_MEM_NONE,		/* not present (where: no page) */
	UMEM_HMM_TEST_MEM_SYSTEM,
	UMEM_HMM_TEST_MEM_PRIVATE,
	UMEM_HMM_TEST_MEM_COHERENT,
};

/* Move the pages of [addr, addr + length) to memory @to. */
struct umem_hmm_test_migrate {
	__u64 addr;		/* page aligned */
	__u64 length;
	__u32 to;		/* enum umem_hmm_test_mem: SYSTEM, PRIVATE, COHERENT */
	__u32 reserved;
	__u64 migrated;		/* out: pages moved */
};

/* Where each page of [addr, addr + npages pages) lives: enum umem_hmm_test_mem. */
struct umem_hmm_test_where {
	__u64 addr;		/* page aligned */
	__u64 npages;
	__u64 where;		/* user pointer: npages bytes */
};

struct umem_hmm_test_dmem_stats {
	__u64 private_pages;	/* size of device-private memory (0: none) */
	__u64 coherent_pages;	/* size of device-coherent memory (0: none) */
	__u64 private_used;
	__u64 coherent_used;
	__u64 to_device;	/* pages migrated to device memory */
	__u64 to_system;	/* ... back by UMEM_HMM_TEST_MIGRATE */
	__u64 faulted_back;	/* ... back by faults (migrate_to_ram) */
};

#define UMEM_HMM_TEST_REG	_IOWR('U', 1, struct umem_hmm_test_reg)
#define UMEM_HMM_TEST_DEREG	_IOW('U', 2, __u32)
#define UMEM_HMM_TEST_READ	_IOW('U', 3, struct umem_hmm_test_access)
#define UMEM_HMM_TEST_WRITE	_IOW('U', 4, struct umem_hmm_test_access)
#define UMEM_HMM_TEST_CAS	_IOWR('U', 5, struct umem_hmm_test_cas)
#define UMEM_HMM_TEST_PREFETCH	_IOW('U', 6, struct umem_hmm_test_prefetch)
#define UMEM_HMM_TEST_SNAPSHOT	_IOWR('U', 7, struct umem_hmm_test_snapshot)
#define UMEM_HMM_TEST_STATS	_IOWR('U', 8, struct umem_hmm_test_stats)
#define UMEM_HMM_TEST_PAGE_REFS	_IOWR('U', 9, struct umem_hmm_test_page_refs)
#define UMEM_HMM_TEST_MIGRATE	_IOWR('U', 10, struct umem_hmm_test_migrate)
#define UMEM_HMM_TEST_WHERE	_IOW('U', 11, struct umem_hmm_test_where)
#define UMEM_HMM_TEST_DMEM_STATS _IOR('U', 12, struct umem_hmm_test_dmem_stats)

#endif /* _UAPI_RDMA_UMEM_HMM_TEST_H */
