/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR Linux-OpenIB) */
/*
 * The ABI between rdma_sodp.ko and its rdma-core provider libsodp: the
 * driver-specific parts of uverbs commands, and the rings that the data
 * path shares by mmap() of the uverbs file.
 *
 * A ring is a header (producer and consumer indices, free running, on
 * separate cache lines) followed by a power-of-two number of fixed-size
 * slots.  Slot of index i: i & (num_slots - 1).  For the SQ, RQ and SRQ
 * user space produces and the kernel consumes; for the CQ the kernel
 * produces.  The kernel copies every WQE before it looks at it and trusts
 * nothing in a ring.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef _UAPI_RDMA_SODP_ABI_H
#define _UAPI_RDMA_SODP_ABI_H

#include <linux/types.h>
#include <rdma/ib_user_ioctl_cmds.h>

#define SODP_UVERBS_ABI_VERSION	1

#define SODP_MAX_SGE		16
#define SODP_MAX_INLINE		256
#define SODP_MAX_QP_WR		16384
#define SODP_MAX_CQE		65536

struct sodp_ring {
	__u32 producer;
	/*
	 * SQ only, written by the provider before the producer index: nonzero
	 * when these WQEs were posted with no poll of the send CQ since the
	 * previous post (a stream: the process does not wait for each
	 * completion).  A hint for the doorbell: a stream's WQEs go to the
	 * kernel's work on another CPU, whose busy flag then spares the next
	 * posts their doorbells; other WQEs run at once in the doorbell.
	 */
	__u32 stream;
	__u32 pad0[14];
	__u32 consumer;
	/*
	 * SQ only, written by the kernel: the QP state (enum ib_qp_state), so
	 * that the provider rings the doorbell to have receives posted to a
	 * QP in error flushed.
	 */
	__u32 qp_state;
	/*
	 * SQ only, written by the kernel: nonzero while the requester is
	 * bound to look at the producer index again before it idles, so a
	 * post needs no doorbell.  The provider stores the producer, then
	 * (after a full fence) reads this; the kernel clears it, then (after
	 * a full fence) reads the producer: one of the two sees the other.
	 * Zero in kernels that do not set it: the provider rings every time.
	 */
	__u32 engine_busy;
	__u32 pad1[13];
	/* slots follow, at offset 128 */
};

#define SODP_RING_HDR_SIZE	128

struct sodp_sge {
	__u64 addr;
	__u32 length;
	__u32 lkey;
};

/*
 * Atomic write (IBA 1.5): the opcode of its WQE and of its completion, the
 * values of rdma-core's IBV_WR_ATOMIC_WRITE and IBV_WC_ATOMIC_WRITE (which
 * older kernels' enums lack).  Its WQE carries the 8 bytes to write in
 * compare_add, as the process gave them.
 */
#define SODP_WR_ATOMIC_WRITE	15
#define SODP_WC_ATOMIC_WRITE	9

/* An SQ slot.  opcode and send_flags use the IB_UVERBS_WR_* / IB_SEND_* values. */
struct sodp_send_wqe {
	__u64 wr_id;
	__u32 opcode;
	__u32 send_flags;
	__u32 num_sge;		/* or, with IB_SEND_INLINE, inline bytes */
	__u32 ex;		/* immediate data (big endian) or rkey to invalidate */
	__u64 remote_addr;
	__u64 compare_add;
	__u64 swap;
	__u32 rkey;
	__u32 ah;		/* UD: the AH number from create_ah */
	union {
		__u32 remote_qpn;	/* UD */
		__u32 xrc_srqn;		/* XRC: the remote XRC SRQ */
	};
	__u32 remote_qkey;	/* UD */
	union {
		struct sodp_sge sge[SODP_MAX_SGE];
		__u8 inline_data[SODP_MAX_INLINE];
	};
};

/* An RQ or SRQ slot. */
struct sodp_recv_wqe {
	__u64 wr_id;
	__u32 num_sge;
	__u32 reserved;
	struct sodp_sge sge[SODP_MAX_SGE];
};

/* How a UD receive came: the kernel's enum rdma_network_type. */
enum sodp_network_type {
	SODP_NETWORK_IB,
	SODP_NETWORK_ROCE_V1,
	SODP_NETWORK_IPV4,
	SODP_NETWORK_IPV6,
};

/*
 * A CQ slot: the fields of struct ibv_wc, with its enum values, but for
 * wc_flags: those are the kernel's (enum ib_wc_flags), of which these
 * reach a process.
 */
enum sodp_cqe_flags {
	SODP_CQE_GRH = 1 << 0,
	SODP_CQE_WITH_IMM = 1 << 1,
	SODP_CQE_WITH_INV = 1 << 2,
};

struct sodp_cqe {
	__u64 wr_id;
	__u32 status;
	__u32 opcode;
	__u32 vendor_err;
	__u32 byte_len;
	__u32 ex;		/* immediate data (big endian) or invalidated rkey */
	__u32 qp_num;
	__u32 src_qp;
	__u32 wc_flags;
	__u16 pkey_index;
	__u16 slid;
	__u8 sl;
	__u8 dlid_path_bits;
	__u8 network_hdr_type;	/* enum sodp_network_type */
	__u8 reserved0;
	/* With SODP_CTX_CQE_TIMESTAMP: when it completed, CLOCK_MONOTONIC ns */
	__u64 timestamp;
};

/* Where a ring is: mmap(size bytes) of the uverbs fd at offset. */
struct sodp_ring_info {
	__aligned_u64 offset;
	__u32 size;
	__u32 num_slots;
};

/* What a kernel does beyond the first ABI (sodp_alloc_ucontext_resp.flags). */
enum sodp_ctx_flags {
	SODP_CTX_CQE_TIMESTAMP = 1 << 0,	/* sodp_cqe.timestamp is set */
};

/*
 * A kernel copies as much of it as the provider gives room for, and a
 * provider zeroes it first: flags is 0 from kernels that predate it.
 */
struct sodp_alloc_ucontext_resp {
	__u32 max_sge;
	__u32 max_inline;
	__u32 flags;		/* enum sodp_ctx_flags */
	__u32 reserved;
};

/*
 * The driver's attribute of UVERBS_METHOD_QUERY_CONTEXT: the context's
 * struct sodp_alloc_ucontext_resp, for a process that imports it (an fd
 * it was given) and so never saw the response of its creation.
 */
enum sodp_query_context_attrs {
	SODP_ATTR_QUERY_CONTEXT_RESP_UCTX = (1U << UVERBS_ID_NS_SHIFT),
};

struct sodp_create_cq_resp {
	struct sodp_ring_info cq;
};

struct sodp_resize_cq_resp {
	struct sodp_ring_info cq;
};

struct sodp_create_qp_resp {
	struct sodp_ring_info sq;
	struct sodp_ring_info rq;	/* size 0 with an SRQ, and for XRC */
};

struct sodp_create_srq_resp {
	struct sodp_ring_info rq;
	__u32 srq_num;		/* XRC SRQs */
	__u32 reserved;
};

/*
 * Driver data of modify_srq (which has no response): where the kernel
 * writes the new ring of a resized SRQ (struct sodp_ring_info).
 */
struct sodp_modify_srq_cmd {
	__aligned_u64 ring_info_addr;
};

struct sodp_create_ah_resp {
	__u32 ah_num;
	__u32 reserved;
};

#endif /* _UAPI_RDMA_SODP_ABI_H */
