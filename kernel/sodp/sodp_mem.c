// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: moving bytes.  A struct sodp_mem is a scatter list over
 * memory regions (checked and referenced beforehand) and kernel buffers,
 * with a cursor; sodp_mem_copy() copies between two of them piece by piece,
 * each piece contiguous in both (at most a page of a user region).
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/highmem.h>

#include "sodp.h"

void sodp_mem_init(struct sodp_mem *m)
{
	m->nseg = 0;
	m->cur = 0;
	m->off = 0;
}

/* Takes over the caller's reference on @mr. */
void sodp_mem_add_mr(struct sodp_mem *m, struct sodp_mr *mr, u64 va, u32 len)
{
	m->seg[m->nseg++] = (struct sodp_mem_seg){ .mr = mr, .va = va, .len = len };
}

void sodp_mem_add_kbuf(struct sodp_mem *m, void *kbuf, u32 len)
{
	m->seg[m->nseg++] = (struct sodp_mem_seg){ .kbuf = kbuf, .len = len };
}

u32 sodp_mem_len(const struct sodp_mem *m)
{
	u32 len = 0;
	unsigned int i;

	for (i = 0; i < m->nseg; i++)
		len += m->seg[i].len;
	return len;
}

void sodp_mem_seek(struct sodp_mem *m, u32 offset)
{
	m->cur = 0;
	m->off = 0;
	while (m->cur < m->nseg && offset >= m->seg[m->cur].len) {
		offset -= m->seg[m->cur].len;
		m->cur++;
	}
	m->off = offset;
}

void sodp_mem_put(struct sodp_mem *m)
{
	unsigned int i;

	for (i = 0; i < m->nseg; i++)
		if (m->seg[i].mr)
			sodp_mr_put(m->seg[i].mr);
	m->nseg = 0;
}

/*
 * The kernel address of byte @va of a region and how many bytes from it
 * are contiguous.  The region was checked to hold [va, va + len).
 */
static void *sodp_mr_addr(struct sodp_mr *mr, u64 va, u32 *contig)
{
	u64 addr, idx;

	if (mr->type == SODP_MR_DMA) {
		*contig = U32_MAX;
		return (void *)(uintptr_t)va;
	}
	addr = mr->umem->address + (va - mr->iova);
	idx = (addr >> PAGE_SHIFT) - (mr->umem->address >> PAGE_SHIFT);
	*contig = PAGE_SIZE - offset_in_page(addr);
	return page_address(mr->pages[idx]) + offset_in_page(addr);
}

/* The current piece of @m: address and bytes to the end of the piece. */
static void *sodp_mem_piece(struct sodp_mem *m, u32 *len)
{
	struct sodp_mem_seg *seg = &m->seg[m->cur];
	u32 contig;
	void *p;

	*len = seg->len - m->off;
	if (!seg->mr)
		return seg->kbuf + m->off;
	p = sodp_mr_addr(seg->mr, seg->va + m->off, &contig);
	*len = min(*len, contig);
	return p;
}

static void sodp_mem_advance(struct sodp_mem *m, u32 n)
{
	m->off += n;
	while (m->cur < m->nseg && m->off == m->seg[m->cur].len) {
		m->cur++;
		m->off = 0;
	}
}

/* Skip empty segments so that the cursor names a byte. */
static bool sodp_mem_at_byte(struct sodp_mem *m)
{
	sodp_mem_advance(m, 0);
	return m->cur < m->nseg;
}

/**
 * sodp_mem_copy - copy bytes between two scatter lists
 * @dst: destination, from its cursor
 * @src: source, from its cursor
 * @len: bytes to copy
 *
 * Return: 0, or -ENOSPC if either runs out first (nothing is undone).
 */
int sodp_mem_copy(struct sodp_mem *dst, struct sodp_mem *src, u32 len)
{
	while (len) {
		u32 dn, sn, n;
		void *d, *s;

		if (!sodp_mem_at_byte(dst) || !sodp_mem_at_byte(src))
			return -ENOSPC;
		d = sodp_mem_piece(dst, &dn);
		s = sodp_mem_piece(src, &sn);
		n = min3(len, dn, sn);
		memcpy(d, s, n);
		sodp_mem_advance(dst, n);
		sodp_mem_advance(src, n);
		len -= n;
	}
	return 0;
}

/**
 * sodp_mem_atomic - an 8-byte atomic on a region
 * @mr: the region, checked to hold [@va, @va + 8)
 * @va: the address
 * @cmp_swp: compare-and-swap, else fetch-and-add
 * @compare: the value compared with
 * @swap_add: the value swapped in, or added
 * @orig: the value found
 *
 * Atomic against other device atomics and against the CPU.
 *
 * Return: 0 and the value found in *@orig, or -EINVAL if unaligned.
 */
int sodp_mem_atomic(struct sodp_mr *mr, u64 va, bool cmp_swp, u64 compare,
		    u64 swap_add, u64 *orig)
{
	u32 contig;
	u64 *p;

	if (!IS_ALIGNED(va, 8))
		return -EINVAL;
	p = sodp_mr_addr(mr, va, &contig);
	if (cmp_swp)
		*orig = cmpxchg64(p, compare, swap_add);
	else
		*orig = atomic64_fetch_add(swap_add, (atomic64_t *)p);
	return 0;
}
