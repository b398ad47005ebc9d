/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * rdma_sodp: the RoCEv2 wire format.  Every header is a byte layout in
 * network order, read and written only through the accessors here; the
 * opcode table says which headers follow the BTH and in what order.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_WIRE_H
#define SODP_WIRE_H

#include <linux/types.h>
#include <asm/byteorder.h>
#include "sodp_compat.h"

#define SODP_ROCE_UDP_PORT	4791
#define SODP_BTH_LEN		12
#define SODP_XRCETH_LEN		4
#define SODP_RETH_LEN		16
#define SODP_AETH_LEN		4
#define SODP_ATMETH_LEN		28
#define SODP_ATMACK_LEN		8
#define SODP_IMMDT_LEN		4
#define SODP_IETH_LEN		4
#define SODP_DETH_LEN		8
#define SODP_ICRC_LEN		4
#define SODP_DEFAULT_PKEY	0xffff
#define SODP_PSN_MASK		0xffffff

/* BTH opcodes (IBTA vol. 1, 9.2): the transport in the top 3 bits. */
enum sodp_wire_opcode {
	SODP_RC_SEND_FIRST		= 0x00,
	SODP_RC_SEND_MIDDLE		= 0x01,
	SODP_RC_SEND_LAST		= 0x02,
	SODP_RC_SEND_LAST_IMM		= 0x03,
	SODP_RC_SEND_ONLY		= 0x04,
	SODP_RC_SEND_ONLY_IMM		= 0x05,
	SODP_RC_WRITE_FIRST		= 0x06,
	SODP_RC_WRITE_MIDDLE		= 0x07,
	SODP_RC_WRITE_LAST		= 0x08,
	SODP_RC_WRITE_LAST_IMM		= 0x09,
	SODP_RC_WRITE_ONLY		= 0x0a,
	SODP_RC_WRITE_ONLY_IMM		= 0x0b,
	SODP_RC_READ_REQUEST		= 0x0c,
	SODP_RC_READ_RESP_FIRST		= 0x0d,
	SODP_RC_READ_RESP_MIDDLE	= 0x0e,
	SODP_RC_READ_RESP_LAST		= 0x0f,
	SODP_RC_READ_RESP_ONLY		= 0x10,
	SODP_RC_ACK			= 0x11,
	SODP_RC_ATOMIC_ACK		= 0x12,
	SODP_RC_CMP_SWAP		= 0x13,
	SODP_RC_FETCH_ADD		= 0x14,
	SODP_RC_SEND_LAST_INV		= 0x16,
	SODP_RC_SEND_ONLY_INV		= 0x17,
	SODP_RC_ATOMIC_WRITE		= 0x1d,
	/* UC: RC's SEND and WRITE opcodes in the UC transport (0x20 | RC's) */
	SODP_UC_SEND_FIRST		= 0x20,
	SODP_UC_WRITE_ONLY_IMM		= 0x2b,
	SODP_UD_SEND_ONLY		= 0x64,
	/* XRC: RC's opcodes, responses too, in the XRC transport (0xa0 | RC's) */
	SODP_XRC_SEND_FIRST		= 0xa0,
	SODP_XRC_ATOMIC_WRITE		= 0xbd,
	SODP_UD_SEND_ONLY_IMM		= 0x65,
	SODP_CNP			= 0x81,
};

/* What an opcode is and which extension headers follow its BTH. */
enum {
	SODP_WF_REQ	= BIT(0),	/* a request (else a response) */
	SODP_WF_FIRST	= BIT(1),
	SODP_WF_LAST	= BIT(2),
	SODP_WF_PAYLOAD	= BIT(3),
	SODP_WF_RETH	= BIT(4),
	SODP_WF_AETH	= BIT(5),
	SODP_WF_ATMETH	= BIT(6),
	SODP_WF_ATMACK	= BIT(7),
	SODP_WF_IMMDT	= BIT(8),
	SODP_WF_IETH	= BIT(9),
	SODP_WF_DETH	= BIT(10),
	SODP_WF_SEND	= BIT(11),
	SODP_WF_WRITE	= BIT(12),
	SODP_WF_READ	= BIT(13),	/* READ request, or READ response */
	SODP_WF_ATOMIC	= BIT(14),	/* atomic request, or atomic ACK */
	SODP_WF_UC	= BIT(15),	/* unreliable connected: no answer */
	SODP_WF_XRC	= BIT(16),	/* extended reliable connected */
	SODP_WF_XRCETH	= BIT(17),
	SODP_WF_AWRITE	= BIT(18),	/* atomic write: RETH, 8 bytes */
};

/* The opcode's flags, or 0 for an opcode sodp does not take. */
static inline u32 sodp_wire_flags(u8 opcode)
{
	u32 f;

	enum {
		RQ = SODP_WF_REQ, F = SODP_WF_FIRST, L = SODP_WF_LAST,
		P = SODP_WF_PAYLOAD, S = SODP_WF_SEND | RQ, W = SODP_WF_WRITE | RQ,
	};

	switch (opcode) {
	case SODP_UC_SEND_FIRST ... SODP_UC_WRITE_ONLY_IMM:
		return sodp_wire_flags(opcode - SODP_UC_SEND_FIRST) | SODP_WF_UC;
	case SODP_XRC_SEND_FIRST ... SODP_XRC_ATOMIC_WRITE:
		/* Its requests name the SRQ they are for. */
		f = sodp_wire_flags(opcode - SODP_XRC_SEND_FIRST);
		if (!f)
			return 0;
		return f | SODP_WF_XRC | (f & SODP_WF_REQ ? SODP_WF_XRCETH : 0);
	case SODP_RC_SEND_FIRST:	return S | F | P;
	case SODP_RC_SEND_MIDDLE:	return S | P;
	case SODP_RC_SEND_LAST:		return S | L | P;
	case SODP_RC_SEND_LAST_IMM:	return S | L | P | SODP_WF_IMMDT;
	case SODP_RC_SEND_ONLY:		return S | F | L | P;
	case SODP_RC_SEND_ONLY_IMM:	return S | F | L | P | SODP_WF_IMMDT;
	case SODP_RC_SEND_LAST_INV:	return S | L | P | SODP_WF_IETH;
	case SODP_RC_SEND_ONLY_INV:	return S | F | L | P | SODP_WF_IETH;
	case SODP_RC_WRITE_FIRST:	return W | F | P | SODP_WF_RETH;
	case SODP_RC_WRITE_MIDDLE:	return W | P;
	case SODP_RC_WRITE_LAST:	return W | L | P;
	case SODP_RC_WRITE_LAST_IMM:	return W | L | P | SODP_WF_IMMDT;
	case SODP_RC_WRITE_ONLY:	return W | F | L | P | SODP_WF_RETH;
	case SODP_RC_WRITE_ONLY_IMM:
		return W | F | L | P | SODP_WF_RETH | SODP_WF_IMMDT;
	case SODP_RC_READ_REQUEST:
		return RQ | F | L | SODP_WF_READ | SODP_WF_RETH;
	case SODP_RC_READ_RESP_FIRST:
		return F | P | SODP_WF_READ | SODP_WF_AETH;
	case SODP_RC_READ_RESP_MIDDLE:	return P | SODP_WF_READ;
	case SODP_RC_READ_RESP_LAST:
		return L | P | SODP_WF_READ | SODP_WF_AETH;
	case SODP_RC_READ_RESP_ONLY:
		return F | L | P | SODP_WF_READ | SODP_WF_AETH;
	case SODP_RC_ACK:		return F | L | SODP_WF_AETH;
	case SODP_RC_ATOMIC_ACK:
		return F | L | SODP_WF_ATOMIC | SODP_WF_AETH | SODP_WF_ATMACK;
	case SODP_RC_CMP_SWAP:
	case SODP_RC_FETCH_ADD:
		return RQ | F | L | SODP_WF_ATOMIC | SODP_WF_ATMETH;
	case SODP_RC_ATOMIC_WRITE:
		return RQ | F | L | P | SODP_WF_RETH | SODP_WF_AWRITE;
	case SODP_UD_SEND_ONLY:
		return S | F | L | P | SODP_WF_DETH;
	case SODP_UD_SEND_ONLY_IMM:
		return S | F | L | P | SODP_WF_DETH | SODP_WF_IMMDT;
	default:
		return 0;
	}
}

/* Offsets of the extension headers after the BTH, in their wire order. */
struct sodp_wire_layout {
	u8 deth, xrceth, reth, atmeth, immdt, ieth, aeth, atmack;
	u8 hdr_len;			/* BTH and all its extension headers */
};

static inline void sodp_wire_layout(u32 flags, struct sodp_wire_layout *l)
{
	u8 off = SODP_BTH_LEN;

#define SODP_WIRE_PLACE(flag, field, len)	\
	do {					\
		if (flags & (flag)) {		\
			l->field = off;		\
			off += (len);		\
		}				\
	} while (0)
	*l = (struct sodp_wire_layout){};
	SODP_WIRE_PLACE(SODP_WF_DETH, deth, SODP_DETH_LEN);
	SODP_WIRE_PLACE(SODP_WF_XRCETH, xrceth, SODP_XRCETH_LEN);
	SODP_WIRE_PLACE(SODP_WF_RETH, reth, SODP_RETH_LEN);
	SODP_WIRE_PLACE(SODP_WF_ATMETH, atmeth, SODP_ATMETH_LEN);
	SODP_WIRE_PLACE(SODP_WF_IMMDT, immdt, SODP_IMMDT_LEN);
	SODP_WIRE_PLACE(SODP_WF_IETH, ieth, SODP_IETH_LEN);
	SODP_WIRE_PLACE(SODP_WF_AETH, aeth, SODP_AETH_LEN);
	SODP_WIRE_PLACE(SODP_WF_ATMACK, atmack, SODP_ATMACK_LEN);
#undef SODP_WIRE_PLACE
	l->hdr_len = off;
}

/*
 * BTH: opcode; SE, MigReq, PadCnt (2 bits), TVer (4 bits); P_Key;
 * FECN, BECN and 6 reserved bits, then the destination QP (24 bits);
 * AckReq and 7 reserved bits, then the PSN (24 bits).
 */
#define SODP_BTH_SE		0x80
#define SODP_BTH_MIG		0x40
#define SODP_BTH_PAD_SHIFT	4
#define SODP_BTH_TVER_MASK	0x0f
#define SODP_BTH_ACKREQ		0x80000000U

static inline u8 bth_opcode(const u8 *b)	{ return b[0]; }
static inline bool bth_se(const u8 *b)		{ return b[1] & SODP_BTH_SE; }
static inline u8 bth_pad(const u8 *b)		{ return (b[1] >> SODP_BTH_PAD_SHIFT) & 3; }
static inline u8 bth_tver(const u8 *b)		{ return b[1] & SODP_BTH_TVER_MASK; }
static inline u16 bth_pkey(const u8 *b)		{ return get_unaligned_be16(b + 2); }
static inline u32 bth_dqpn(const u8 *b)		{ return get_unaligned_be32(b + 4) & SODP_PSN_MASK; }
static inline bool bth_ackreq(const u8 *b)	{ return get_unaligned_be32(b + 8) & SODP_BTH_ACKREQ; }
static inline u32 bth_psn(const u8 *b)		{ return get_unaligned_be32(b + 8) & SODP_PSN_MASK; }

static inline void bth_set(u8 *b, u8 opcode, bool se, u8 pad, u32 dqpn,
			   bool ackreq, u32 psn)
{
	b[0] = opcode;
	/* MigReq set: the path is migrated (there is one), as hardware sends. */
	b[1] = (se ? SODP_BTH_SE : 0) | SODP_BTH_MIG | (pad << SODP_BTH_PAD_SHIFT);
	put_unaligned_be16(SODP_DEFAULT_PKEY, b + 2);
	put_unaligned_be32(dqpn & SODP_PSN_MASK, b + 4);
	put_unaligned_be32((ackreq ? SODP_BTH_ACKREQ : 0) | (psn & SODP_PSN_MASK), b + 8);
}

/* XRCETH: 8 reserved bits, then the XRC SRQ (24 bits). */
static inline u32 xrceth_srqn(const u8 *h)	{ return get_unaligned_be32(h) & SODP_PSN_MASK; }
static inline void xrceth_set(u8 *h, u32 srqn)	{ put_unaligned_be32(srqn & SODP_PSN_MASK, h); }

/* RETH: virtual address, R_Key, DMA length. */
static inline u64 reth_va(const u8 *h)		{ return get_unaligned_be64(h); }
static inline u32 reth_rkey(const u8 *h)	{ return get_unaligned_be32(h + 8); }
static inline u32 reth_len(const u8 *h)		{ return get_unaligned_be32(h + 12); }

static inline void reth_set(u8 *h, u64 va, u32 rkey, u32 len)
{
	put_unaligned_be64(va, h);
	put_unaligned_be32(rkey, h + 8);
	put_unaligned_be32(len, h + 12);
}

/* AtomicETH: virtual address, R_Key, swap (or add) data, compare data. */
static inline u64 atmeth_va(const u8 *h)	{ return get_unaligned_be64(h); }
static inline u32 atmeth_rkey(const u8 *h)	{ return get_unaligned_be32(h + 8); }
static inline u64 atmeth_swap_add(const u8 *h)	{ return get_unaligned_be64(h + 12); }
static inline u64 atmeth_compare(const u8 *h)	{ return get_unaligned_be64(h + 20); }

static inline void atmeth_set(u8 *h, u64 va, u32 rkey, u64 swap_add, u64 compare)
{
	put_unaligned_be64(va, h);
	put_unaligned_be32(rkey, h + 8);
	put_unaligned_be64(swap_add, h + 12);
	put_unaligned_be64(compare, h + 20);
}

/*
 * AETH: syndrome (8 bits), MSN (24 bits).  The syndrome's top three bits
 * say ACK (000, credits below), RNR NAK (001, timer below) or NAK (011,
 * code below).
 */
#define SODP_AETH_ACK		0x00
#define SODP_AETH_ACK_UNLIMITED	0x1f	/* no end-to-end credits */
#define SODP_AETH_RNR_NAK	0x20
#define SODP_AETH_NAK		0x60
#define SODP_AETH_TYPE_MASK	0xe0
#define SODP_AETH_NAK_PSN_SEQ	0x60
#define SODP_AETH_NAK_INV_REQ	0x61
#define SODP_AETH_NAK_REM_ACC	0x62
#define SODP_AETH_NAK_REM_OP	0x63

static inline u8 aeth_syndrome(const u8 *h)	{ return h[0]; }
static inline u32 aeth_msn(const u8 *h)		{ return get_unaligned_be32(h) & SODP_PSN_MASK; }

static inline void aeth_set(u8 *h, u8 syndrome, u32 msn)
{
	put_unaligned_be32((u32)syndrome << 24 | (msn & SODP_PSN_MASK), h);
}

/* AtomicAckETH: the original value. */
static inline u64 atmack_orig(const u8 *h)	{ return get_unaligned_be64(h); }
static inline void atmack_set(u8 *h, u64 orig)	{ put_unaligned_be64(orig, h); }

/* DETH: Q_Key, then 8 reserved bits and the source QP. */
static inline u32 deth_qkey(const u8 *h)	{ return get_unaligned_be32(h); }
static inline u32 deth_sqpn(const u8 *h)	{ return get_unaligned_be32(h + 4) & SODP_PSN_MASK; }

static inline void deth_set(u8 *h, u32 qkey, u32 sqpn)
{
	put_unaligned_be32(qkey, h);
	put_unaligned_be32(sqpn & SODP_PSN_MASK, h + 4);
}

/*
 * ImmDt and IETH: 4 bytes each, kept as they travel (the WQE and the
 * completion hold immediate data in network order already).
 */
static inline u32 immdt_raw(const u8 *h)	{ return get_unaligned((const u32 *)h); }
static inline void immdt_set_raw(u8 *h, u32 v)	{ put_unaligned(v, (u32 *)h); }
static inline u32 ieth_rkey(const u8 *h)	{ return get_unaligned_be32(h); }
static inline void ieth_set(u8 *h, u32 rkey)	{ put_unaligned_be32(rkey, h); }

/* PSN arithmetic, modulo 2^24: a - b as a signed distance. */
static inline s32 sodp_psn_diff(u32 a, u32 b)
{
	return (s32)((a - b) << 8) >> 8;
}

static inline u32 sodp_psn_add(u32 psn, u32 n)
{
	return (psn + n) & SODP_PSN_MASK;
}

#endif /* SODP_WIRE_H */
