// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-fuzz, raw mode: straight to the uverbs character device, past
 * libibverbs and the provider.  Malformed write() commands (any command
 * number, any lengths, handles that are stale or never were, response
 * pointers anywhere, garbage in our driver's payloads), malformed ioctl()
 * method calls, and a real RC QP (made by hand, connected to itself) whose
 * mmap'ed send, receive and completion rings are filled with garbage and
 * rung.  The kernel must answer every call with success or a documented
 * error and must never trust a ring.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rdma/ib_user_verbs.h>
#include <rdma/rdma_user_ioctl_cmds.h>
#include <rdma/sodp-abi.h>

#include "../lib/pattern.h"
#include "../lib/proc.h"
#include "../lib/uverbs_dev.h"
#include "fuzz.h"
#include "vt.h"

struct raw {
	struct fuzz *f;
	struct vt_dev d;		/* for the GID only */
	int fd;
	uint32_t pd, cq, qp, qpn;
	void *sq, *rq, *cqr;
	struct sodp_create_qp_resp qpr;
	struct sodp_create_cq_resp cqresp;
	char scratch[1 << 16];		/* where garbage commands answer */
};

/* write() one command: header, then @cmd; 0 or errno. */
static int raw_cmd(int fd, uint32_t command, void *cmd, size_t in_len, size_t out_len)
{
	char buf[4096];
	struct ib_uverbs_cmd_hdr *hdr = (void *)buf;

	if (sizeof(*hdr) + in_len > sizeof(buf))
		return E2BIG;
	hdr->command = command;
	if (command & IB_USER_VERBS_CMD_FLAG_EXTENDED) {
		/*
		 * @cmd starts with the extended header; the lengths are in
		 * 8-byte words past both headers, the driver's apart.
		 */
		const struct ib_uverbs_ex_cmd_hdr *ex = cmd;

		hdr->in_words = (in_len - sizeof(*ex)) / 8 - ex->provider_in_words;
		hdr->out_words = out_len / 8 - ex->provider_out_words;
	} else {
		hdr->in_words = (sizeof(*hdr) + in_len) / 4;
		hdr->out_words = out_len / 4;
	}
	memcpy(buf + sizeof(*hdr), cmd, in_len);
	return write(fd, buf, sizeof(*hdr) + in_len) < 0 ? errno : 0;
}

static int raw_context(struct raw *r)
{
	struct {
		struct ib_uverbs_get_context_resp core;
		struct sodp_alloc_ucontext_resp drv;
	} resp;
	struct ib_uverbs_get_context cmd = { .response = (uintptr_t)&resp };

	return raw_cmd(r->fd, IB_USER_VERBS_CMD_GET_CONTEXT, &cmd, sizeof(cmd), sizeof(resp));
}

static void *raw_map(struct raw *r, const struct sodp_ring_info *ring)
{
	void *p = mmap(NULL, ring->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd,
		       ring->offset);

	return p == MAP_FAILED ? NULL : p;
}

static int raw_modify(struct raw *r, enum ibv_qp_state state)
{
	struct ib_uverbs_modify_qp m = {
		.qp_handle = r->qp, .qp_state = state,
		.attr_mask = IBV_QP_STATE,
	};

	switch (state) {
	case IBV_QPS_INIT:
		m.port_num = 1;
		m.qp_access_flags = IBV_ACCESS_LOCAL_WRITE |
				    IBV_ACCESS_REMOTE_WRITE |
				    IBV_ACCESS_REMOTE_READ |
				    IBV_ACCESS_REMOTE_ATOMIC;
		m.attr_mask |= IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			       IBV_QP_ACCESS_FLAGS;
		break;
	case IBV_QPS_RTR:
		memcpy(m.dest.dgid, r->d.gid.raw, 16);
		m.dest.sgid_index = r->d.gid_index;
		m.dest.hop_limit = 1;
		m.dest.is_global = 1;
		m.dest.port_num = 1;
		m.path_mtu = IBV_MTU_1024;
		m.dest_qp_num = r->qpn;
		m.max_dest_rd_atomic = 4;
		m.min_rnr_timer = 1;
		m.attr_mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			       IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			       IBV_QP_MIN_RNR_TIMER;
		break;
	case IBV_QPS_RTS:
		m.timeout = 1;
		m.retry_cnt = 1;
		m.rnr_retry = 1;
		m.max_rd_atomic = 4;
		m.attr_mask |= IBV_QP_SQ_PSN | IBV_QP_TIMEOUT |
			       IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			       IBV_QP_MAX_QP_RD_ATOMIC;
		break;
	default:
		break;
	}
	return raw_cmd(r->fd, IB_USER_VERBS_CMD_MODIFY_QP, &m, sizeof(m), 0);
}

/* (Re)connect the QP to itself: RESET, INIT, RTR, RTS. */
static int raw_connect(struct raw *r)
{
	return raw_modify(r, IBV_QPS_RESET) || raw_modify(r, IBV_QPS_INIT) ||
	       raw_modify(r, IBV_QPS_RTR) || raw_modify(r, IBV_QPS_RTS);
}

/*
 * A PD, a CQ and an RC QP made by hand, their rings mapped.  (libibverbs'
 * enum values are the kernel ABI's.)
 */
static int raw_setup(struct raw *r)
{
	struct ib_uverbs_alloc_pd_resp pdr;
	struct ib_uverbs_alloc_pd pd = { .response = (uintptr_t)&pdr };
	struct {
		struct ib_uverbs_create_cq_resp core;
		struct sodp_create_cq_resp drv;
	} cqr;
	struct ib_uverbs_create_cq cq = {
		.response = (uintptr_t)&cqr, .cqe = 64, .comp_channel = -1,
	};
	struct {
		struct ib_uverbs_create_qp_resp core;
		struct sodp_create_qp_resp drv;
	} qpr;
	struct ib_uverbs_create_qp qp = {
		.response = (uintptr_t)&qpr, .max_send_wr = 16, .max_recv_wr = 16,
		.max_send_sge = 4, .max_recv_sge = 4, .max_inline_data = 64,
		.qp_type = IB_UVERBS_QPT_RC,
	};

	if (raw_context(r) ||
	    raw_cmd(r->fd, IB_USER_VERBS_CMD_ALLOC_PD, &pd, sizeof(pd), sizeof(pdr)))
		return -1;
	r->pd = pdr.pd_handle;
	if (raw_cmd(r->fd, IB_USER_VERBS_CMD_CREATE_CQ, &cq, sizeof(cq), sizeof(cqr)))
		return -1;
	r->cq = cqr.core.cq_handle;
	r->cqresp = cqr.drv;
	qp.pd_handle = r->pd;
	qp.send_cq_handle = r->cq;
	qp.recv_cq_handle = r->cq;
	if (raw_cmd(r->fd, IB_USER_VERBS_CMD_CREATE_QP, &qp, sizeof(qp), sizeof(qpr)))
		return -1;
	r->qp = qpr.core.qp_handle;
	r->qpn = qpr.core.qpn;
	r->qpr = qpr.drv;
	r->sq = raw_map(r, &r->qpr.sq);
	r->rq = raw_map(r, &r->qpr.rq);
	r->cqr = raw_map(r, &r->cqresp.cq);
	if (!r->sq || !r->rq || !r->cqr)
		return -1;
	return raw_connect(r);
}

/* Any command, any lengths, any bytes; handles small enough to hit. */
static void raw_garbage_write(struct raw *r)
{
	struct fuzz *f = r->f;
	uint64_t words[64];
	uint32_t command = fuzz_below(f, IB_USER_VERBS_CMD_THRESHOLD + 8);
	size_t in_len = 8 * fuzz_below(f, 33);
	size_t out_len = fuzz_chance(f, 4) ? fuzz_below(f, sizeof(r->scratch)) :
			 8 * fuzz_below(f, 33);
	bool ex = fuzz_chance(f, 4);

	if (ex)
		command |= IB_USER_VERBS_CMD_FLAG_EXTENDED;
	/*
	 * Not these: a channel is an fd per call, and a region registered
	 * over this process's own memory (the garbage WQEs could then write
	 * into it) would be the fuzzer corrupting itself.  Both are covered
	 * by the verbs mode.
	 */
	if (command == IB_USER_VERBS_CMD_CREATE_COMP_CHANNEL ||
	    command == IB_USER_VERBS_CMD_REG_MR || command == IB_USER_VERBS_CMD_REREG_MR)
		return;
	for (size_t i = 0; i < 64; i++)
		words[i] = fuzz_chance(f, 2) ? fuzz_below(f, 8) : fuzz_edgy(f);
	/* The response pointer: ours, none, unmapped, or the kernel's. */
	switch (fuzz_below(f, 4)) {
	case 0:
		words[0] = (uintptr_t)r->scratch;
		break;
	case 1:
		words[0] = 0;
		break;
	case 2:
		words[0] = 0x1000;
		break;
	default:
		words[0] = 0xffff888000000000ULL;
		break;
	}
	/*
	 * An extended command: words[0] is its header's response pointer,
	 * words[1] how many of the words are the driver's (mostly none, as
	 * the kernel's own commands come), the rest reserved.
	 */
	if (ex) {
		struct ib_uverbs_ex_cmd_hdr *exh = (void *)words;

		if (in_len < sizeof(*exh))
			in_len = sizeof(*exh);
		exh->provider_in_words = fuzz_chance(f, 4) ?
			fuzz_below(f, (in_len - sizeof(*exh)) / 8 + 1) : 0;
		exh->provider_out_words = fuzz_chance(f, 4) ?
			fuzz_below(f, out_len / 8 + 1) : 0;
		exh->cmd_hdr_reserved = fuzz_chance(f, 16) ? fuzz_edgy(f) : 0;
	}
	fuzz_result(f, "write(garbage)", raw_cmd(r->fd, command, words, in_len, out_len));
}

/* Any object, method and attributes through the ioctl path. */
static void raw_garbage_ioctl(struct raw *r)
{
	struct fuzz *f = r->f;
	struct {
		struct ib_uverbs_ioctl_hdr hdr;
		struct ib_uverbs_attr attrs[8];
	} req;
	unsigned int n = fuzz_below(f, 9);

	memset(&req, 0, sizeof(req));
	req.hdr.length = fuzz_chance(f, 8) ? fuzz_rand(f) :
			 sizeof(req.hdr) + n * sizeof(req.attrs[0]);
	req.hdr.object_id = fuzz_chance(f, 4) ? fuzz_rand(f) : fuzz_below(f, 24);
	req.hdr.method_id = fuzz_chance(f, 4) ? fuzz_rand(f) : fuzz_below(f, 12);
	req.hdr.num_attrs = n;
	req.hdr.driver_id = fuzz_chance(f, 4) ? fuzz_rand(f) : 0;
	for (unsigned int i = 0; i < n; i++) {
		req.attrs[i].attr_id = fuzz_chance(f, 2) ? fuzz_below(f, 10) :
				       0x1000 | fuzz_below(f, 10);
		req.attrs[i].len = fuzz_chance(f, 2) ? fuzz_below(f, 64) : fuzz_rand(f);
		req.attrs[i].flags = fuzz_chance(f, 2) ? 0 : fuzz_rand(f);
		req.attrs[i].data = fuzz_chance(f, 2) ? (uintptr_t)r->scratch :
				    fuzz_chance(f, 2) ? fuzz_below(f, 8) : fuzz_edgy(f);
	}
	fuzz_result(f, "ioctl(garbage)",
		    ioctl(r->fd, RDMA_VERBS_IOCTL, &req) < 0 ? errno : 0);
}

/* Garbage into @slots slots of a ring and its producer index. */
static void ring_garbage(struct fuzz *f, void *ring, const struct sodp_ring_info *info,
			 size_t slot_size)
{
	struct sodp_ring *hdr = ring;
	uint32_t n = fuzz_below(f, 4) + 1;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t slot = (hdr->producer + i) & (info->num_slots - 1);
		uint64_t *w = (uint64_t *)((char *)ring + SODP_RING_HDR_SIZE + slot * slot_size);

		for (size_t k = 0; k < slot_size / 8; k++)
			w[k] = fuzz_chance(f, 2) ? fuzz_below(f, 64) : fuzz_edgy(f);
		/* Often a plausible WQE: few SGEs, a known opcode. */
		if (fuzz_chance(f, 2))
			((uint32_t *)w)[2] = fuzz_below(f, 12);
		if (fuzz_chance(f, 2))
			((uint32_t *)w)[4] = fuzz_below(f, 5);
	}
	hdr->producer = fuzz_chance(f, 8) ? (uint32_t)fuzz_rand(f) : hdr->producer + n;
	if (fuzz_chance(f, 16))
		hdr->consumer = fuzz_rand(f);
}

static int raw_doorbell(struct raw *r, bool send)
{
	struct ib_uverbs_post_send_resp resp;
	struct ib_uverbs_post_send cmd = {
		.response = (uintptr_t)&resp, .qp_handle = r->qp,
		.wqe_size = send ? sizeof(struct ib_uverbs_send_wr) :
				   sizeof(struct ib_uverbs_recv_wr),
	};

	return raw_cmd(r->fd, send ? IB_USER_VERBS_CMD_POST_SEND : IB_USER_VERBS_CMD_POST_RECV,
		       &cmd, sizeof(cmd), sizeof(resp));
}

/* Completions the kernel wrote: read what is there, give slots back. */
static void raw_poll(struct raw *r)
{
	struct sodp_ring *hdr = r->cqr;
	const struct sodp_ring_info *info = &r->cqresp.cq;

	for (int i = 0; i < 64 && hdr->consumer != hdr->producer; i++) {
		struct sodp_cqe *cqe = (void *)((char *)r->cqr + SODP_RING_HDR_SIZE +
			(hdr->consumer & (info->num_slots - 1)) * sizeof(*cqe));

		r->f->completions++;
		if (cqe->status)
			r->f->errors++;
		if (cqe->status > IBV_WC_GENERAL_ERR)
			fuzz_violation(r->f, "ring completion status %u", cqe->status);
		__atomic_store_n(&hdr->consumer, hdr->consumer + 1, __ATOMIC_RELEASE);
	}
}

static void raw_rings(struct raw *r)
{
	struct fuzz *f = r->f;

	switch (fuzz_below(f, 4)) {
	case 0:
		ring_garbage(f, r->sq, &r->qpr.sq, sizeof(struct sodp_send_wqe));
		fuzz_result(f, "doorbell(send)", raw_doorbell(r, true));
		break;
	case 1:
		ring_garbage(f, r->rq, &r->qpr.rq, sizeof(struct sodp_recv_wqe));
		fuzz_result(f, "doorbell(recv)", raw_doorbell(r, false));
		break;
	case 2:
		/* The kernel is the CQ's producer: garbage in it must be survived. */
		if (fuzz_chance(f, 8))
			((struct sodp_ring *)r->cqr)->producer = fuzz_rand(f);
		raw_poll(r);
		break;
	default:
		/* A QP the rings drove into error comes back. */
		fuzz_result(f, "modify_qp(reconnect)", raw_connect(r));
		break;
	}
}

int fuzz_raw(struct fuzz *f)
{
	struct raw *r = calloc(1, sizeof(*r));

	if (!r || vt_open(&r->d))
		return 1;
	r->f = f;
	r->fd = open_uverbs(ibv_get_device_name(r->d.ctx->device));
	if (r->fd < 0) {
		perror("uverbs device");
		return 1;
	}
	/*
	 * Before a context exists, commands must be answered cleanly; one
	 * may happen to be a valid GET_CONTEXT, so the setup gets a new fd.
	 */
	for (int i = 0; i < 32; i++)
		raw_garbage_write(r);
	close(r->fd);
	r->fd = open_uverbs(ibv_get_device_name(r->d.ctx->device));
	if (r->fd < 0 || raw_setup(r)) {
		perror("raw setup");
		return 1;
	}
	if (inject_mode() == INJECT_TASK && make_it_fail(true))
		return 1;
	while (now_s() < f->stop && !f->gone) {
		f->iterations++;
		switch (fuzz_below(f, 3)) {
		case 0:
			raw_garbage_write(r);
			break;
		case 1:
			raw_garbage_ioctl(r);
			break;
		default:
			raw_rings(r);
			break;
		}
	}
	if (inject_mode() == INJECT_TASK)
		make_it_fail(false);
	return 0;
}
