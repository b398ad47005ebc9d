// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: moving bytes.  A struct sodp_mem is a scatter list over
 * memory regions (checked and referenced beforehand) and kernel buffers,
 * with a cursor; sodp_mem_copy() copies between two of them piece by piece,
 * each piece contiguous in both.
 *
 * Pages of an on-demand-paged region are reached through ib_umem_hmm
 * spans: while a span is held the pages cannot be invalidated, so nothing
 * is ever read from or written to a page the process no longer owns.  A
 * page fault may need reclaim, and reclaim may need to invalidate a page we
 * hold, so no fault is taken while a span is held: the second side is only
 * tried (no fault, no wait), and on failure everything is released, the
 * page faulted in, and the copy goes on.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/highmem.h>

#include "sodp.h"

/* Pages of an ODP region held at once by one side of a copy. */
#define SODP_SPAN_MAX	(64 * 1024)

/* Rounds of faulting one piece in before a copy gives up (SODP_COPY_AGAIN). */
#define SODP_HOLD_TRIES	16

/**
 * sodp_mem_fault_is_hard - is an ib_umem_hmm error the memory's own?
 * @err: a negative errno of ib_umem_hmm_map() or ib_umem_hmm_lock()
 *
 * Return: true for no VMA or no permission (-EFAULT, -EPERM, -EINVAL): an
 * access error of whoever registered the memory.  False for a signal to
 * the faulting task, no memory, or a range busy with invalidations: not
 * the memory's fault, and worth another try.
 */
bool sodp_mem_fault_is_hard(int err)
{
	return err == -EFAULT || err == -EPERM || err == -EINVAL;
}

void sodp_mem_init(struct sodp_mem *m)
{
	m->nseg = 0;
	m->cur = 0;
	m->off = 0;
	m->span.leaf = NULL;
	m->span_umem = NULL;
	m->no_fault = false;
}

/* Takes over the caller's reference on @mr. */
void sodp_mem_add_mr(struct sodp_mem *m, struct sodp_mr *mr, u64 va, u32 len)
{
	m->seg[m->nseg++] = (struct sodp_mem_seg){ .mr = mr, .key = READ_ONCE(mr->key),
						   .va = va, .len = len };
}

/**
 * sodp_mem_add_sges - append a WQE's SGEs, each checked against its MR
 * @m: the scatter list
 * @qp: the QP whose PD the MRs must be of
 * @sge: the SGEs (copied from the ring: trusted in number only)
 * @num: their number, at most SODP_MAX_SGE
 * @access: IB_ACCESS_* the MRs must allow
 *
 * Return: 0, or -EACCES (nothing kept) if an lkey, PD, right or bound fails.
 */
int sodp_mem_add_sges(struct sodp_mem *m, struct sodp_qp *qp,
		      const struct sodp_sge *sge, u32 num, int access)
{
	u32 i;

	for (i = 0; i < num; i++) {
		struct sodp_mr *mr;

		if (!sge[i].length)
			continue;
		mr = sodp_mr_get(qp->dev, sge[i].lkey, sodp_qp_pd(qp), sge[i].addr,
				 sge[i].length, access);
		if (!mr) {
			sodp_mem_put(m);
			return -EACCES;
		}
		sodp_mem_add_mr(m, mr, sge[i].addr, sge[i].length);
	}
	return 0;
}

void sodp_mem_add_kbuf(struct sodp_mem *m, void *kbuf, u32 len)
{
	m->seg[m->nseg++] = (struct sodp_mem_seg){ .kbuf = kbuf, .len = len };
}

/**
 * sodp_mem_add_view - append the bytes of another list from its cursor on
 * @m: the scatter list, with room for @from's segments
 * @from: the list whose bytes are appended (and whose no_fault is kept)
 *
 * No reference is taken: @m may only be copied from while @from holds
 * its regions, and is never put (sodp_mem_put()); @from's cursor stays.
 * @from must hold no span: the view takes its own.
 */
void sodp_mem_add_view(struct sodp_mem *m, const struct sodp_mem *from)
{
	unsigned int i;

	WARN_ON_ONCE(from->span.leaf);
	for (i = from->cur; i < from->nseg; i++) {
		struct sodp_mem_seg seg = from->seg[i];

		/* (Then the copy runs out of source: a length error.) */
		if (WARN_ON_ONCE(m->nseg == ARRAY_SIZE(m->seg)))
			break;
		if (i == from->cur) {
			seg.va += from->off;
			seg.kbuf = seg.kbuf ? seg.kbuf + from->off : NULL;
			seg.len -= from->off;
		}
		m->seg[m->nseg++] = seg;
	}
	m->no_fault |= from->no_fault;
}

static void sodp_mem_release(struct sodp_mem *m)
{
	if (m->span.leaf)
		ib_umem_hmm_unlock(&m->span);
	m->span_umem = NULL;
}

void sodp_mem_seek(struct sodp_mem *m, u32 offset)
{
	sodp_mem_release(m);
	m->cur = 0;
	m->off = 0;
	while (m->cur < m->nseg && offset >= m->seg[m->cur].len) {
		offset -= m->seg[m->cur].len;
		m->cur++;
	}
	m->off = offset;
}

/* Release everything @m holds; it is empty (as after sodp_mem_init()) again. */
void sodp_mem_put(struct sodp_mem *m)
{
	unsigned int i;

	sodp_mem_release(m);
	for (i = 0; i < m->nseg; i++)
		if (m->seg[i].mr)
			sodp_mr_put(m->seg[i].mr);
	sodp_mem_init(m);
}

/*
 * The kernel address of byte @va of a pinned, DMA or fast-registration
 * region and how many
 * bytes from it are contiguous.  The region was checked to hold @va.
 */
static void *sodp_mr_addr(struct sodp_mr *mr, u64 va, u32 *contig)
{
	u64 addr, idx;

	if (mr->type == SODP_MR_DMA) {
		*contig = U32_MAX;
		return (void *)(uintptr_t)va;
	}
	if (mr->type == SODP_MR_FAST) {
		struct sodp_fast_map *map = &mr->fast;
		u64 mask = BIT_ULL(map->page_shift) - 1;

		/* Under mr->lock, the registration checked (sodp_mem_fast_ok()). */
		addr = va - mr->iova + map->first_off;
		idx = addr >> map->page_shift;
		if (idx >= map->npages) {
			*contig = 0;
			return NULL;
		}
		*contig = min_t(u64, mask + 1 - (addr & mask), U32_MAX);
		return (void *)(uintptr_t)(map->pages[idx] + (addr & mask));
	}
	addr = mr->umem->address + (va - mr->iova);
	idx = (addr >> PAGE_SHIFT) - (mr->umem->address >> PAGE_SHIFT);
	*contig = PAGE_SIZE - offset_in_page(addr);
	return page_address(mr->pages[idx]) + offset_in_page(addr);
}

/*
 * Does @m's held span cover its cursor?  The span must be of the cursor's
 * region: two regions (of two processes, after a fork) may cover the same
 * virtual addresses with different pages.
 */
static bool sodp_mem_covered(struct sodp_mem *m)
{
	struct sodp_mem_seg *seg = &m->seg[m->cur];
	u64 va = seg->va + m->off;

	if (!seg->mr || seg->mr->type != SODP_MR_ODP)
		return true;
	return m->span.leaf && m->span_umem == seg->mr->odp &&
	       va >= m->span.start && va < m->span.start + m->span.len;
}

/* Bytes from the cursor to the end of its page (or segment). */
static u32 sodp_mem_page_left(struct sodp_mem *m)
{
	struct sodp_mem_seg *seg = &m->seg[m->cur];

	return min_t(u32, seg->len - m->off,
		     PAGE_SIZE - offset_in_page(seg->va + m->off));
}

/*
 * Hold the ODP pages at the cursor: up to SODP_SPAN_MAX bytes, or just the
 * current page with @one_page (or once a longer span failed: the copy then
 * goes up to a hole, page by page, and fails exactly there).  @flags:
 * IB_UMEM_HMM_WRITE, and NO_FAULT | TRYLOCK when the other side holds a
 * span.
 */
static int sodp_mem_hold(struct sodp_mem *m, unsigned int flags, bool one_page)
{
	struct sodp_mem_seg *seg = &m->seg[m->cur];
	u64 va = seg->va + m->off;
	u32 len = min_t(u32, seg->len - m->off, SODP_SPAN_MAX);
	u32 page_left = sodp_mem_page_left(m);
	int ret = -EFAULT;

	sodp_mem_release(m);
	if (!one_page)
		ret = ib_umem_hmm_lock(seg->mr->odp, va, len, flags, &m->span);
	if (ret && ret != -EAGAIN)
		ret = ib_umem_hmm_lock(seg->mr->odp, va, page_left, flags, &m->span);
	if (!ret)
		m->span_umem = seg->mr->odp;
	return ret;
}

/* The current piece of @m: address and bytes to the end of the piece. */
static void *sodp_mem_piece(struct sodp_mem *m, u32 *len)
{
	struct sodp_mem_seg *seg = &m->seg[m->cur];
	u64 va = seg->va + m->off;
	u32 contig;
	u64 odp_contig;
	void *p;

	*len = seg->len - m->off;
	if (!seg->mr)
		return seg->kbuf + m->off;
	if (seg->mr->type == SODP_MR_ODP) {
		/* A virtual-DMA device: the "DMA address" is a kernel address. */
		p = (void *)(uintptr_t)ib_umem_hmm_span_dma(&m->span, va, &odp_contig);
		*len = min_t(u64, *len, odp_contig);
		return p;
	}
	p = sodp_mr_addr(seg->mr, va, &contig);
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

/*
 * Make both cursors' pages reachable.  Returns SODP_COPY_OK with the
 * needed spans held, or a fault of one side.
 */
static int sodp_mem_hold_both(struct sodp_mem *dst, struct sodp_mem *src)
{
	struct sodp_mem_seg *dseg;
	bool one_page = false;		/* a hole ahead: go page by page */
	unsigned int tries = 0;
	u32 len;
	int ret;

	for (;;) {
		/* Invalidations may take the pages back each time: bounded. */
		if (++tries > SODP_HOLD_TRIES)
			return SODP_COPY_AGAIN;
		/*
		 * Beside a held destination the source is only tried (no
		 * fault, no wait); else, since it may fault, it is held with
		 * nothing else held.
		 */
		if (!sodp_mem_covered(src) &&
		    (!dst->span.leaf ||
		     sodp_mem_hold(src, IB_UMEM_HMM_NO_FAULT | IB_UMEM_HMM_TRYLOCK, false))) {
			sodp_mem_release(dst);
			ret = sodp_mem_hold(src, src->no_fault ? IB_UMEM_HMM_NO_FAULT : 0,
					    false);
			/* (-EAGAIN: a no_fault page not mapped.) */
			if (ret)
				return sodp_mem_fault_is_hard(ret) ? SODP_COPY_SRC_FAULT :
								     SODP_COPY_AGAIN;
		}
		if (sodp_mem_covered(dst))
			return SODP_COPY_OK;
		/* Beside a held source: no fault, no wait. */
		ret = sodp_mem_hold(dst, IB_UMEM_HMM_WRITE |
				    (src->span.leaf ? IB_UMEM_HMM_NO_FAULT |
						      IB_UMEM_HMM_TRYLOCK : 0),
				    one_page);
		if (!ret)
			return SODP_COPY_OK;
		if (ret != -EAGAIN)
			return sodp_mem_fault_is_hard(ret) ? SODP_COPY_DST_FAULT :
							     SODP_COPY_AGAIN;
		/*
		 * Not mapped (or busy): let go, fault the window in, try again;
		 * if the window holds a hole, up to it page by page.
		 */
		sodp_mem_release(src);
		dseg = &dst->seg[dst->cur];
		len = one_page ? sodp_mem_page_left(dst) :
		      min_t(u32, dseg->len - dst->off, SODP_SPAN_MAX);
		ret = ib_umem_hmm_map(dseg->mr->odp, dseg->va + dst->off, len,
				      IB_UMEM_HMM_WRITE);
		if (!ret)
			continue;
		if (!sodp_mem_fault_is_hard(ret))
			return SODP_COPY_AGAIN;
		if (one_page)
			return SODP_COPY_DST_FAULT;
		one_page = true;
	}
}

/*
 * A fast-registration region can be invalidated, and registered again over
 * other pages, under a transfer that found it registered: each piece of
 * it is copied under its lock, once seen registered still, with the key
 * it was found by, over the piece.  Then an invalidation that returned
 * has no copy of the region in progress, and none starts after it.
 */
static struct sodp_mr *sodp_mem_fast(struct sodp_mem *m)
{
	struct sodp_mr *mr = m->seg[m->cur].mr;

	return mr && mr->type == SODP_MR_FAST ? mr : NULL;
}

/* Either may be NULL, or both the same: to sparse, always two locks. */
static void sodp_mem_fast_lock(struct sodp_mr *a, struct sodp_mr *b)
	__acquires(a->lock) __acquires(b->lock)
{
	if (a && b && a != b) {
		if (a > b)
			swap(a, b);
		spin_lock(&a->lock);
		spin_lock_nested(&b->lock, SINGLE_DEPTH_NESTING);
		return;
	}
	if (a || b)
		spin_lock(a ? &a->lock : &b->lock);
	else
		__acquire(a->lock);
	__acquire(b->lock);
}

static void sodp_mem_fast_unlock(struct sodp_mr *a, struct sodp_mr *b)
	__releases(a->lock) __releases(b->lock)
{
	if (a)
		spin_unlock(&a->lock);
	else
		__release(a->lock);
	if (b && b != a)
		spin_unlock(&b->lock);
	else
		__release(b->lock);
}

/* Is [cursor, cursor + @n) of @m's fast region registered as it was found? */
static bool sodp_mem_fast_ok(struct sodp_mem *m, u32 n)
{
	struct sodp_mem_seg *seg = &m->seg[m->cur];
	struct sodp_mr *mr = seg->mr;
	u64 va = seg->va + m->off;

	return mr->valid && mr->key == seg->key && va >= mr->iova &&
	       va + n <= mr->iova + mr->length;
}

/**
 * sodp_mem_copy - copy bytes between two scatter lists
 * @dst: destination, from its cursor
 * @src: source, from its cursor
 * @len: bytes to copy
 *
 * Return: SODP_COPY_OK; SODP_COPY_SHORT if either runs out first;
 * SODP_COPY_SRC_FAULT or SODP_COPY_DST_FAULT if a page of an on-demand
 * region cannot be had (no VMA, or no write permission); SODP_COPY_AGAIN if
 * a page could not be had now (see the enum).  Nothing is undone.
 */
int sodp_mem_copy(struct sodp_mem *dst, struct sodp_mem *src, u32 len)
{
	int ret = SODP_COPY_OK;

	while (len) {
		struct sodp_mr *dmr, *smr;
		u32 dn, sn, n;
		void *d, *s;

		if (!sodp_mem_at_byte(dst) || !sodp_mem_at_byte(src)) {
			ret = SODP_COPY_SHORT;
			break;
		}
		ret = sodp_mem_hold_both(dst, src);
		if (ret)
			break;
		dmr = sodp_mem_fast(dst);
		smr = sodp_mem_fast(src);
		sodp_mem_fast_lock(dmr, smr);
		d = sodp_mem_piece(dst, &dn);
		s = sodp_mem_piece(src, &sn);
		n = min3(len, dn, sn);
		if (dmr && (!d || !sodp_mem_fast_ok(dst, n)))
			ret = SODP_COPY_DST_FAULT;
		else if (smr && (!s || !sodp_mem_fast_ok(src, n)))
			ret = SODP_COPY_SRC_FAULT;
		else
			memcpy(d, s, n);
		sodp_mem_fast_unlock(dmr, smr);
		if (ret)
			break;
		sodp_mem_advance(dst, n);
		sodp_mem_advance(src, n);
		len -= n;
	}
	sodp_mem_release(dst);
	sodp_mem_release(src);
	return ret;
}

/**
 * sodp_mr_prefault - fault in the ODP pages of [@va, @va + @len)
 * @mr: the region (nothing to do unless it is on-demand paged)
 * @va: first byte
 * @len: bytes
 * @write: for writing
 *
 * Called with no span held.
 *
 * Return: 0, or the ib_umem_hmm_map() error.
 */
int sodp_mr_prefault(struct sodp_mr *mr, u64 va, u64 len, bool write)
{
	if (mr->type != SODP_MR_ODP || !len)
		return 0;
	return ib_umem_hmm_map(mr->odp, va, len, write ? IB_UMEM_HMM_WRITE : 0);
}

/* Fault in the ODP pages of bytes [@off, @off + @len) of a scatter list. */
int sodp_mem_prefault(struct sodp_mem *m, u32 off, u32 len, bool write)
{
	unsigned int i;
	int ret;

	for (i = 0; i < m->nseg && len; i++) {
		struct sodp_mem_seg *seg = &m->seg[i];
		u32 n;

		if (off >= seg->len) {
			off -= seg->len;
			continue;
		}
		n = min(seg->len - off, len);
		if (seg->mr) {
			ret = sodp_mr_prefault(seg->mr, seg->va + off, n, write);
			if (ret)
				return ret;
		}
		off = 0;
		len -= n;
	}
	return 0;
}

static void sodp_atomic_apply(u64 *p, enum sodp_atomic op, u64 compare,
			      u64 swap_add, u64 *orig)
{
	if (op == SODP_ATOMIC_CMP_SWP)
		*orig = cmpxchg64(p, compare, swap_add);
	else if (op == SODP_ATOMIC_FETCH_ADD)
		*orig = atomic64_fetch_add(swap_add, (atomic64_t *)p);
	else	/* seen after what the device stored before it */
		smp_store_release(p, swap_add);
}

/**
 * sodp_mem_atomic - an 8-byte atomic on a region
 * @mr: the region, checked to hold [@va, @va + 8)
 * @va: the address
 * @op: compare-and-swap, fetch-and-add, or atomic write
 * @compare: the value compared with
 * @swap_add: the value swapped in, or added, or written (its bytes)
 * @orig: the value found (not for a write)
 *
 * Atomic against other device atomics and against the CPU; a write is
 * seen whole, after everything the device did before it.  64-bit kernels
 * only (a 32-bit one has no 8-byte store): -EOPNOTSUPP there.
 *
 * Return: 0 and the value found in *@orig; -EINVAL if unaligned; for an
 * on-demand region, the error of the fault.
 */
int sodp_mem_atomic(struct sodp_mr *mr, u64 va, enum sodp_atomic op, u64 compare,
		    u64 swap_add, u64 *orig)
{
	struct ib_umem_hmm_span span;
	u32 contig;
	u64 *p;
	int ret;

	if (!IS_ALIGNED(va, 8))
		return -EINVAL;
	if (op == SODP_ATOMIC_WRITE && !IS_ENABLED(CONFIG_64BIT))
		return -EOPNOTSUPP;
	switch (mr->type) {
	case SODP_MR_ODP:
		ret = ib_umem_hmm_lock(mr->odp, va, 8, IB_UMEM_HMM_WRITE, &span);
		if (ret)
			return ret;
		p = (u64 *)(uintptr_t)ib_umem_hmm_span_dma(&span, va, NULL);
		sodp_atomic_apply(p, op, compare, swap_add, orig);
		ib_umem_hmm_unlock(&span);
		return 0;
	case SODP_MR_FAST:
		/* As a copy's piece (see sodp_mem_fast_ok()). */
		spin_lock(&mr->lock);
		p = sodp_mr_addr(mr, va, &contig);
		ret = -EFAULT;
		if (p && mr->valid && va >= mr->iova && va + 8 <= mr->iova + mr->length) {
			sodp_atomic_apply(p, op, compare, swap_add, orig);
			ret = 0;
		}
		spin_unlock(&mr->lock);
		return ret;
	default:
		sodp_atomic_apply(sodp_mr_addr(mr, va, &contig), op, compare, swap_add, orig);
		return 0;
	}
}
