// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-fuzz, race mode: control verbs against traffic in flight.  The
 * other modes drive one thread at a time, so the kernel never sees a QP
 * reset, a region deregistered or a QP destroyed while its own workers
 * are in the middle of a transfer, an RNR retry or a retransmission.
 * Here one process runs several threads on a few "slots" (loopback RC
 * pairs and a UD pair, each with its own buffers and regions: pinned, ODP
 * or implicit ODP, varied per registration):
 *
 *  - traffic threads post WRITEs, SENDs, READs and atomics of up to 1 MiB
 *    and poll with deadlines;
 *  - control threads move QPs through random states, reconnect pairs,
 *    deregister and register regions, destroy and recreate QPs, resize
 *    CQs and recreate the UD pair's AH, and play three known-bad patterns
 *    on purpose: (a) a QP reset and reconnected again and again while its
 *    peer writes into it, then its region deregistered; (b) the receiver
 *    of a 1 MiB SEND moved to ERR a fraction of a millisecond into it,
 *    then its region deregistered; (c) a QP destroyed while its RNR
 *    retries or retransmissions are pending;
 *  - an mm thread zaps, write-protects and replaces the pages of the
 *    buffers that no pinned region holds.
 *
 * Any completion status is fine (QPs are reset under the traffic) as long
 * as it is one of enum ibv_wc_status; every call must succeed or return a
 * documented error; and no call may hang: a watchdog thread reports a call
 * that has not returned after 20 s and ends the process (a thread stuck in
 * the kernel cannot be joined).  Each thread draws from its own generator,
 * reseeded from the seed, its index and its iteration, so iteration n of
 * thread t chooses the same operations in every run of the seed.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../lib/check.h"
#include "../lib/pattern.h"
#include "fuzz.h"
#include "vt.h"

#define NSLOT		4		/* the last one is the UD pair */
#define NTRAFFIC	2
#define NCONTROL	2
#define NTHREAD		(NTRAFFIC + NCONTROL + 1)	/* + the mm thread */
#define BUF_LEN		(2UL << 20)	/* per side of a slot */
#define MAX_XFER	(1UL << 20)
#define PAGE		4096UL
#define DEPTH		64		/* WRs of each queue */
#define CQ_DEPTH	(2 * DEPTH)
#define MAX_BATCH	16
#define UD_MTU		1024
#define GRH_LEN		40
#define QKEY		0x11111111
#define STUCK_S		20

/* What the control and mm threads did, counted when the call succeeded. */
enum ctl {
	CTL_RESET, CTL_INIT, CTL_RTR, CTL_RTS, CTL_SQD, CTL_ERR,
	CTL_RECONNECT, CTL_DEREG, CTL_REG, CTL_DESTROY, CTL_RESIZE, CTL_AH,
	CTL_PATTERN_A, CTL_PATTERN_B, CTL_PATTERN_C,
	CTL_ZAP, CTL_PROTECT, CTL_REMAP,
	NCTL
};

static const char *const ctl_name[NCTL] = {
	"to RESET", "to INIT", "to RTR", "to RTS", "to SQD", "to ERR",
	"reconnects", "deregs", "regs", "QP destroys", "CQ resizes",
	"AH recreations", "pattern (a)", "pattern (b)", "pattern (c)",
	"zaps", "write-protects", "remaps",
};

enum mr_kind { MR_PINNED, MR_ODP, MR_IMPLICIT, NR_MR_KINDS };

struct side {
	struct vt_qp q;
	char *buf;			/* BUF_LEN, never moves */
	struct ibv_mr *mr;		/* NULL after a failed re-registration */
	bool pinned;			/* mr holds its pages: no mm churn */
	/* Kept after a dereg: a stale key is fair traffic. */
	uint32_t lkey, rkey;
};

/*
 * The lock guards the user-space handles only, never kernel work: post,
 * poll, modify_qp, resize_cq and mm calls share it (the provider is
 * thread-safe; the kernel is what is tested), and only what frees a handle
 * (destroy, dereg, and the registration or creation that replaces it)
 * takes it alone.  A mutex would not do: a lone WQE runs inside the
 * doorbell of the posting thread, and modify_qp must be able to hit it.
 */
struct slot {
	pthread_rwlock_t lock;
	bool ud;
	struct side side[2];
	struct ibv_ah *ah;		/* UD: how either side reaches the other */
	atomic_bool broken;		/* an error completion was seen */
};

/* A connection's timers: small ones keep the kernel's delayed work busy. */
struct conn {
	uint8_t timeout, retry_cnt, rnr_retry, min_rnr_timer;
};

struct race;

struct rthread {
	struct fuzz f;
	struct race *r;
	int idx;
	uint64_t base;			/* the thread's seed */
	pthread_t tid;
	/* For the watchdog: the call in progress and since when (us, 0: none). */
	_Atomic(const char *) call;
	_Atomic uint64_t since;
	unsigned long ctl[NCTL];
};

struct race {
	struct vt_dev d;
	uint64_t seed;
	double stop;
	struct slot slot[NSLOT];
	struct rthread t[NTHREAD + 1];	/* the last: the main thread */
	atomic_bool quit;		/* the device is gone */
	atomic_bool done;		/* for the watchdog */
};

static uint64_t now_us(void)
{
	return (uint64_t)(now_s() * 1e6);
}

static void race_enter(struct rthread *t, const char *call)
{
	atomic_store(&t->call, call);
	atomic_store(&t->since, now_us());
}

static void race_leave(struct rthread *t)
{
	atomic_store(&t->since, 0);
}

/* Run @call under the watchdog's eye (errno survives). */
#define TIMED(t, name, call) ({						\
	race_enter(t, name);						\
	__auto_type ret_ = (call);					\
	race_leave(t);							\
	ret_;								\
})

static void *watchdog(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->done)) {
		for (int i = 0; i <= NTHREAD; i++) {
			struct rthread *t = &r->t[i];
			uint64_t since = atomic_load(&t->since);

			if (!since || (int64_t)(now_us() - since) < STUCK_S * 1000000LL)
				continue;
			fflush(stdout);
			fprintf(stderr, "violation: %s stuck for %d s (seed %llu, thread %d)\n",
				atomic_load(&t->call), STUCK_S,
				(unsigned long long)r->seed, i);
			/* exit() would run atexit handlers in a process still busy. */
			_exit(1);
		}
		usleep(200000);
	}
	return NULL;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * Each iteration from the seed alone: what iteration n does cannot depend
 * on how many numbers earlier ones drew (which timing decides).
 */
static void next_iteration(struct rthread *t)
{
	t->f.rnd = mix64(t->base + t->f.iterations++) | 1;
}

static bool running(struct rthread *t)
{
	if (t->f.gone)
		atomic_store(&t->r->quit, true);
	return !atomic_load(&t->r->quit) && now_s() < t->r->stop;
}

static void sleep_us(uint32_t us)
{
	struct timespec ts = { us / 1000000, us % 1000000 * 1000L };

	nanosleep(&ts, NULL);
}

/* A random pause below @max_us: where the kernel's work gets ahead. */
static void nap(struct fuzz *f, uint32_t max_us)
{
	sleep_us(fuzz_below(f, max_us));
}

static void rdlock(struct slot *s)
{
	pthread_rwlock_rdlock(&s->lock);
}

static void wrlock(struct slot *s)
{
	pthread_rwlock_wrlock(&s->lock);
}

static void unlock(struct slot *s)
{
	pthread_rwlock_unlock(&s->lock);
}

/* Drawn one by one: an initializer list has no order of evaluation. */
static struct conn random_conn(struct fuzz *f)
{
	struct conn c;

	c.timeout = fuzz_chance(f, 2) ? 8 : 1 + fuzz_below(f, 14);
	c.retry_cnt = fuzz_below(f, 8);
	c.rnr_retry = fuzz_chance(f, 2) ? 7 : fuzz_below(f, 7);
	c.min_rnr_timer = fuzz_chance(f, 2) ? 1 : fuzz_below(f, 32);
	return c;
}

/* The attributes of a move of @side of @s to @state; returns the mask. */
static int qp_attr(struct rthread *t, struct slot *s, int side,
		   enum ibv_qp_state state, const struct conn *c,
		   struct ibv_qp_attr *a)
{
	struct ibv_qp *peer = s->side[!side].q.qp;
	struct vt_dev *d = &t->r->d;
	int mask = IBV_QP_STATE;

	memset(a, 0, sizeof(*a));
	a->qp_state = state;
	switch (state) {
	case IBV_QPS_INIT:
		a->port_num = 1;
		mask |= IBV_QP_PKEY_INDEX | IBV_QP_PORT;
		if (s->ud) {
			a->qkey = QKEY;
			mask |= IBV_QP_QKEY;
		} else {
			a->qp_access_flags = VT_ALL_ACCESS;
			mask |= IBV_QP_ACCESS_FLAGS;
		}
		break;
	case IBV_QPS_RTR:
		if (s->ud)
			break;
		a->path_mtu = IBV_MTU_1024;
		a->dest_qp_num = peer ? peer->qp_num : s->side[side].q.qp->qp_num;
		a->max_dest_rd_atomic = 4;
		a->min_rnr_timer = c->min_rnr_timer;
		a->ah_attr.is_global = 1;
		a->ah_attr.grh.dgid = d->gid;
		a->ah_attr.grh.sgid_index = d->gid_index;
		a->ah_attr.grh.hop_limit = 64;
		a->ah_attr.port_num = 1;
		mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			IBV_QP_MIN_RNR_TIMER;
		break;
	case IBV_QPS_RTS:
		mask |= IBV_QP_SQ_PSN;
		if (s->ud)
			break;
		a->timeout = c->timeout;
		a->retry_cnt = c->retry_cnt;
		a->rnr_retry = c->rnr_retry;
		a->max_rd_atomic = 4;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
		break;
	default:
		break;
	}
	return mask;
}

static int modify(struct rthread *t, struct ibv_qp *qp, struct ibv_qp_attr *a,
		  int mask)
{
	static const char *const name[] = {
		[IBV_QPS_RESET] = "modify_qp(RESET)", [IBV_QPS_INIT] = "modify_qp(INIT)",
		[IBV_QPS_RTR] = "modify_qp(RTR)", [IBV_QPS_RTS] = "modify_qp(RTS)",
		[IBV_QPS_SQD] = "modify_qp(SQD)", [IBV_QPS_SQE] = "modify_qp(SQE)",
		[IBV_QPS_ERR] = "modify_qp(ERR)",
	};
	static const enum ctl kind[] = {
		[IBV_QPS_RESET] = CTL_RESET, [IBV_QPS_INIT] = CTL_INIT,
		[IBV_QPS_RTR] = CTL_RTR, [IBV_QPS_RTS] = CTL_RTS,
		[IBV_QPS_SQD] = CTL_SQD, [IBV_QPS_SQE] = CTL_SQD,
		[IBV_QPS_ERR] = CTL_ERR,
	};
	int err = TIMED(t, name[a->qp_state], ibv_modify_qp(qp, a, mask));

	fuzz_result(&t->f, name[a->qp_state], err);
	if (!err && (mask & IBV_QP_STATE))
		t->ctl[kind[a->qp_state]]++;
	return err;
}

/* Both sides to RESET, then up to RTS, connected to each other. */
static int reconnect_locked(struct rthread *t, struct slot *s, const struct conn *c)
{
	static const enum ibv_qp_state path[] = {
		IBV_QPS_RESET, IBV_QPS_INIT, IBV_QPS_RTR, IBV_QPS_RTS,
	};
	struct ibv_qp_attr a;
	int mask;

	if (!s->side[0].q.qp || !s->side[1].q.qp)
		return -1;
	for (size_t k = 0; k < ARRAY_SIZE(path); k++)
		for (int i = 0; i < 2; i++) {
			mask = qp_attr(t, s, i, path[k], c, &a);
			if (modify(t, s->side[i].q.qp, &a, mask))
				return -1;
		}
	atomic_store(&s->broken, false);
	t->ctl[CTL_RECONNECT]++;
	return 0;
}

/* One side from RESET up to RTS again, towards the peer it had. */
static int bring_up_locked(struct rthread *t, struct slot *s, int side,
			   const struct conn *c)
{
	struct ibv_qp_attr a;
	int mask;

	for (enum ibv_qp_state st = IBV_QPS_INIT; st <= IBV_QPS_RTS; st++) {
		if (!s->side[side].q.qp)
			return -1;
		mask = qp_attr(t, s, side, st, c, &a);
		if (modify(t, s->side[side].q.qp, &a, mask))
			return -1;
	}
	return 0;
}

static void reconnect(struct rthread *t, struct slot *s)
{
	struct conn c = random_conn(&t->f);

	rdlock(s);
	reconnect_locked(t, s, &c);
	unlock(s);
}

/* Register a side's buffer as @kind; the caller holds the lock alone. */
static void side_reg(struct rthread *t, struct side *sd, enum mr_kind kind)
{
	struct ibv_pd *pd = t->r->d.pd;
	int access = VT_ALL_ACCESS | (kind == MR_PINNED ? 0 : IBV_ACCESS_ON_DEMAND);
	struct ibv_mr *mr;

	if (kind == MR_IMPLICIT)
		mr = TIMED(t, "reg_mr(implicit)", ibv_reg_mr(pd, NULL, SIZE_MAX, access));
	else
		mr = TIMED(t, "reg_mr", ibv_reg_mr(pd, sd->buf, BUF_LEN, access));
	/* EFAULT: pinning pages the mm thread has just write-protected. */
	fuzz_result(&t->f, "reg_mr", mr ? 0 : errno);
	if (!mr)
		return;
	sd->mr = mr;
	sd->lkey = mr->lkey;
	sd->rkey = mr->rkey;
	sd->pinned = kind == MR_PINNED;
	t->ctl[CTL_REG]++;
}

static int side_dereg(struct rthread *t, struct side *sd)
{
	int err;

	if (!sd->mr)
		return 0;
	err = TIMED(t, "dereg_mr", ibv_dereg_mr(sd->mr));
	fuzz_result(&t->f, "dereg_mr", err);
	if (err)
		return err;
	sd->mr = NULL;
	sd->pinned = false;
	t->ctl[CTL_DEREG]++;
	return 0;
}

/* A side's QP and CQs, those it lacks; the caller holds the lock alone. */
static int side_create(struct rthread *t, struct slot *s, int i)
{
	struct vt_qp *q = &s->side[i].q;
	struct ibv_context *ctx = t->r->d.ctx;
	struct ibv_qp_init_attr init = {
		.qp_type = s->ud ? IBV_QPT_UD : IBV_QPT_RC,
		.cap = {
			.max_send_wr = DEPTH, .max_recv_wr = DEPTH,
			.max_send_sge = 2, .max_recv_sge = 2, .max_inline_data = 64,
		},
	};

	if (!q->scq) {
		q->scq = TIMED(t, "create_cq", ibv_create_cq(ctx, CQ_DEPTH, NULL, NULL, 0));
		fuzz_result(&t->f, "create_cq", q->scq ? 0 : errno);
	}
	if (!q->rcq) {
		q->rcq = TIMED(t, "create_cq", ibv_create_cq(ctx, CQ_DEPTH, NULL, NULL, 0));
		fuzz_result(&t->f, "create_cq", q->rcq ? 0 : errno);
	}
	if (!q->scq || !q->rcq)
		return -1;
	if (!q->qp) {
		init.send_cq = q->scq;
		init.recv_cq = q->rcq;
		q->qp = TIMED(t, "create_qp", ibv_create_qp(t->r->d.pd, &init));
		fuzz_result(&t->f, "create_qp", q->qp ? 0 : errno);
	}
	return q->qp ? 0 : -1;
}

static void side_destroy(struct rthread *t, struct side *sd)
{
	struct vt_qp *q = &sd->q;
	int err;

	if (q->qp) {
		err = TIMED(t, "destroy_qp", ibv_destroy_qp(q->qp));
		fuzz_result(&t->f, "destroy_qp", err);
		/* Its CQs stay busy as long as it lives. */
		if (err)
			return;
		q->qp = NULL;
		t->ctl[CTL_DESTROY]++;
	}
	if (q->scq) {
		err = TIMED(t, "destroy_cq", ibv_destroy_cq(q->scq));
		fuzz_result(&t->f, "destroy_cq", err);
		if (!err)
			q->scq = NULL;
	}
	if (q->rcq) {
		err = TIMED(t, "destroy_cq", ibv_destroy_cq(q->rcq));
		fuzz_result(&t->f, "destroy_cq", err);
		if (!err)
			q->rcq = NULL;
	}
}

static void ah_create(struct rthread *t, struct slot *s)
{
	struct vt_dev *d = &t->r->d;
	struct ibv_ah_attr a = {
		.is_global = 1, .port_num = 1,
		.grh = { .dgid = d->gid, .sgid_index = d->gid_index, .hop_limit = 64 },
	};

	s->ah = TIMED(t, "create_ah", ibv_create_ah(d->pd, &a));
	fuzz_result(&t->f, "create_ah", s->ah ? 0 : errno);
}

/* ---- traffic ---- */

static const enum ibv_wr_opcode rc_ops[] = {
	IBV_WR_RDMA_WRITE, IBV_WR_RDMA_WRITE, IBV_WR_RDMA_WRITE,
	IBV_WR_RDMA_WRITE_WITH_IMM, IBV_WR_SEND, IBV_WR_SEND,
	IBV_WR_SEND_WITH_IMM, IBV_WR_RDMA_READ, IBV_WR_RDMA_READ,
	IBV_WR_ATOMIC_CMP_AND_SWP, IBV_WR_ATOMIC_FETCH_AND_ADD,
};

/* What pattern (a) pushes into the QP it keeps resetting. */
static const enum ibv_wr_opcode push_ops[] = {
	IBV_WR_RDMA_WRITE, IBV_WR_RDMA_WRITE, IBV_WR_SEND, IBV_WR_RDMA_WRITE_WITH_IMM,
};

static const enum ibv_wr_opcode send_op[] = { IBV_WR_SEND };

static bool is_atomic(enum ibv_wr_opcode op)
{
	return op == IBV_WR_ATOMIC_CMP_AND_SWP || op == IBV_WR_ATOMIC_FETCH_AND_ADD;
}

static bool needs_recv(enum ibv_wr_opcode op)
{
	return op == IBV_WR_SEND || op == IBV_WR_SEND_WITH_IMM ||
	       op == IBV_WR_RDMA_WRITE_WITH_IMM;
}

static uint32_t xfer_len(struct fuzz *f)
{
	switch (fuzz_below(f, 5)) {
	case 0:
		return fuzz_below(f, 65);
	case 1:
		return 1 + fuzz_below(f, 64 << 10);
	case 2:
		return 1 + fuzz_below(f, MAX_XFER);
	case 3:
		return PAGE * (1 + fuzz_below(f, 16));
	default:
		return MAX_XFER;
	}
}

static void check_wc(struct rthread *t, struct slot *s, const struct ibv_wc *wc)
{
	struct fuzz *f = &t->f;

	f->completions++;
	if (wc->status == IBV_WC_SUCCESS) {
		if (wc->opcode > IBV_WC_FETCH_ADD && wc->opcode != IBV_WC_RECV &&
		    wc->opcode != IBV_WC_RECV_RDMA_WITH_IMM)
			fuzz_violation(f, "thread %d: completion opcode %d", t->idx,
				       wc->opcode);
		return;
	}
	f->errors++;
	atomic_store(&s->broken, true);
	if (wc->status > IBV_WC_GENERAL_ERR)
		fuzz_violation(f, "thread %d: completion status %d", t->idx,
			       wc->status);
}

/*
 * Poll all four CQs of a slot until @want completions came or @seconds
 * passed: one that never comes is fine, its QP was reset meanwhile.
 */
static void reap(struct rthread *t, struct slot *s, int want, double seconds)
{
	double end = now_s() + seconds;
	struct ibv_wc wc[16];
	int got = 0;

	while (got < want && !atomic_load(&t->r->quit)) {
		int polled = 0;

		rdlock(s);
		for (int i = 0; i < 4; i++) {
			struct vt_qp *q = &s->side[i / 2].q;
			struct ibv_cq *cq = i % 2 ? q->rcq : q->scq;
			int n;

			if (!cq)
				continue;
			n = ibv_poll_cq(cq, ARRAY_SIZE(wc), wc);
			if (n < 0) {
				fuzz_result(&t->f, "poll_cq", -n);
				continue;
			}
			for (int k = 0; k < n; k++)
				check_wc(t, s, &wc[k]);
			polled += n;
		}
		unlock(s);
		got += polled;
		if (now_s() > end)
			break;
		if (!polled)
			sleep_us(50);
	}
}

/*
 * One pass over a slot's CQs: the patterns do not wait for their
 * completions, but must not leave them to overflow the CQs.
 */
static void drain(struct rthread *t, struct slot *s)
{
	reap(t, s, INT_MAX, 0);
}

/*
 * Post @n work requests from @from of RC slot @s to its peer, opcodes from
 * @ops, each @len bytes (0: random); receives go first for what consumes
 * one, unless @rnr.  Everything is drawn before the lock is taken.
 * Returns the completions to expect (0: nothing posted).
 */
static int post_batch(struct rthread *t, struct slot *s, int from, int n,
		      const enum ibv_wr_opcode *ops, size_t nops, uint32_t len,
		      bool rnr)
{
	struct fuzz *f = &t->f;
	struct side *l = &s->side[from], *p = &s->side[!from];
	struct ibv_send_wr wr[MAX_BATCH], *bad;
	struct ibv_recv_wr rwr[MAX_BATCH], *rbad;
	struct ibv_sge sge[MAX_BATCH], rsge[MAX_BATCH];
	uint64_t raddr[MAX_BATCH];
	int nrecv = 0, want = 0, err;

	for (int i = 0; i < n; i++) {
		enum ibv_wr_opcode op = ops[fuzz_below(f, nops)];
		uint32_t sz = is_atomic(op) ? 8 : len ? len : xfer_len(f);
		uint64_t off = fuzz_below(f, BUF_LEN - sz + 1);
		uint64_t roff = fuzz_below(f, BUF_LEN - sz + 1);
		/* Unsignaled now and then; the last always tells the end. */
		bool signaled = i == n - 1 || !fuzz_chance(f, 4);

		if (is_atomic(op)) {
			off &= ~7ULL;
			roff &= ~7ULL;
		}
		sge[i] = (struct ibv_sge){ (uintptr_t)l->buf + off, sz, 0 };
		raddr[i] = (uintptr_t)p->buf + roff;
		wr[i] = (struct ibv_send_wr){
			.wr_id = i, .sg_list = &sge[i], .num_sge = 1, .opcode = op,
			.send_flags = signaled ? IBV_SEND_SIGNALED : 0,
			.imm_data = (uint32_t)fuzz_rand(f),
			.next = i + 1 < n ? &wr[i + 1] : NULL,
		};
		if (is_atomic(op)) {
			wr[i].wr.atomic.compare_add = fuzz_rand(f);
			wr[i].wr.atomic.swap = fuzz_rand(f);
		}
		want += signaled;
		if (!needs_recv(op) || rnr || fuzz_chance(f, 16))
			continue;
		/* Mostly room enough; now and then too little. */
		sz = fuzz_chance(f, 8) ? fuzz_below(f, sz + 1) : sz;
		roff = fuzz_below(f, BUF_LEN - sz + 1);
		rsge[nrecv] = (struct ibv_sge){ (uintptr_t)p->buf + roff, sz, 0 };
		rwr[nrecv] = (struct ibv_recv_wr){
			.wr_id = nrecv, .sg_list = &rsge[nrecv], .num_sge = 1,
		};
		if (nrecv)
			rwr[nrecv - 1].next = &rwr[nrecv];
		nrecv++;
		want++;
	}

	rdlock(s);
	if (!l->q.qp || !p->q.qp) {
		unlock(s);
		return 0;
	}
	for (int i = 0; i < nrecv; i++)
		rsge[i].lkey = p->lkey;
	for (int i = 0; i < n; i++) {
		sge[i].lkey = l->lkey;
		if (is_atomic(wr[i].opcode)) {
			wr[i].wr.atomic.remote_addr = raddr[i];
			wr[i].wr.atomic.rkey = p->rkey;
		} else {
			wr[i].wr.rdma.remote_addr = raddr[i];
			wr[i].wr.rdma.rkey = p->rkey;
		}
	}
	if (nrecv) {
		err = TIMED(t, "post_recv", ibv_post_recv(p->q.qp, rwr, &rbad));
		fuzz_result(f, "post_recv", err);
	}
	err = TIMED(t, "post_send", ibv_post_send(l->q.qp, wr, &bad));
	fuzz_result(f, "post_send", err);
	unlock(s);
	return want;
}

/* SENDs one way through the UD pair, each with a receive. */
static int ud_batch(struct rthread *t, struct slot *s)
{
	struct fuzz *f = &t->f;
	int from = fuzz_below(f, 2), n = 1 + fuzz_below(f, 4);
	struct side *l = &s->side[from], *p = &s->side[!from];
	struct ibv_send_wr wr[4], *bad;
	struct ibv_recv_wr rwr[4], *rbad;
	struct ibv_sge sge[4], rsge[4];
	uint32_t qkey[4];
	int err;

	for (int i = 0; i < n; i++) {
		/* Past the MTU now and then: a local length error. */
		uint32_t sz = fuzz_chance(f, 8) ? fuzz_below(f, 4 * UD_MTU) :
						  fuzz_below(f, UD_MTU + 1);
		uint32_t rsz = fuzz_chance(f, 8) ? fuzz_below(f, sz + GRH_LEN) : sz + GRH_LEN;

		sge[i] = (struct ibv_sge){
			(uintptr_t)l->buf + fuzz_below(f, BUF_LEN - sz), sz, 0,
		};
		rsge[i] = (struct ibv_sge){
			(uintptr_t)p->buf + fuzz_below(f, BUF_LEN - rsz), rsz, 0,
		};
		qkey[i] = fuzz_chance(f, 8) ? (uint32_t)fuzz_rand(f) : QKEY;
		wr[i] = (struct ibv_send_wr){
			.wr_id = i, .sg_list = &sge[i], .num_sge = 1,
			.opcode = fuzz_chance(f, 2) ? IBV_WR_SEND : IBV_WR_SEND_WITH_IMM,
			.send_flags = IBV_SEND_SIGNALED,
			.next = i + 1 < n ? &wr[i + 1] : NULL,
		};
		rwr[i] = (struct ibv_recv_wr){
			.wr_id = i, .sg_list = &rsge[i], .num_sge = 1,
			.next = i + 1 < n ? &rwr[i + 1] : NULL,
		};
	}

	rdlock(s);
	if (!l->q.qp || !p->q.qp || !s->ah) {
		unlock(s);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		sge[i].lkey = l->lkey;
		rsge[i].lkey = p->lkey;
		wr[i].wr.ud.ah = s->ah;
		wr[i].wr.ud.remote_qpn = p->q.qp->qp_num;
		wr[i].wr.ud.remote_qkey = qkey[i];
	}
	err = TIMED(t, "post_recv", ibv_post_recv(p->q.qp, rwr, &rbad));
	fuzz_result(f, "post_recv", err);
	err = TIMED(t, "post_send", ibv_post_send(l->q.qp, wr, &bad));
	fuzz_result(f, "post_send", err);
	unlock(s);
	return 2 * n;
}

static void *traffic(void *arg)
{
	struct rthread *t = arg;
	struct fuzz *f = &t->f;

	while (running(t)) {
		struct slot *s;
		int from, n, want;
		bool wait, rnr;
		double seconds;

		next_iteration(t);
		s = &t->r->slot[fuzz_below(f, NSLOT)];
		from = fuzz_below(f, 2);
		/* Mostly one or two; sometimes a burst the workers run. */
		n = fuzz_chance(f, 3) ? 1 + fuzz_below(f, MAX_BATCH) : 1 + fuzz_below(f, 2);
		/* Now and then SENDs with no receive: RNR NAKs. */
		rnr = fuzz_chance(f, 16);
		/* Sometimes not waited for: left for whoever polls next. */
		wait = !fuzz_chance(f, 8);
		seconds = 0.02 + fuzz_below(f, 300) / 1000.0;
		if (s->ud)
			want = ud_batch(t, s);
		else
			want = post_batch(t, s, from, n, rc_ops, ARRAY_SIZE(rc_ops), 0, rnr);
		if (want && wait)
			reap(t, s, want, seconds);
	}
	return NULL;
}

/* ---- control ---- */

static void ctl_modify(struct rthread *t, struct slot *s, int side)
{
	static const enum ibv_qp_state states[] = {
		IBV_QPS_RESET, IBV_QPS_RESET, IBV_QPS_INIT, IBV_QPS_RTR,
		IBV_QPS_RTS, IBV_QPS_SQD, IBV_QPS_ERR, IBV_QPS_ERR,
	};
	struct fuzz *f = &t->f;
	enum ibv_qp_state state = states[fuzz_below(f, ARRAY_SIZE(states))];
	struct conn c = random_conn(f);
	/* An attribute too many or missing now and then. */
	int flip = fuzz_chance(f, 6) ? 1 << fuzz_below(f, 21) : 0;
	/* SQD to RTS takes none of RTR to RTS's attributes. */
	bool bare = fuzz_chance(f, 2);
	struct ibv_qp_attr a;
	int mask;

	rdlock(s);
	if (s->side[side].q.qp) {
		mask = qp_attr(t, s, side, state, &c, &a) ^ flip;
		if (bare && state == IBV_QPS_RTS)
			mask = IBV_QP_STATE;
		modify(t, s->side[side].q.qp, &a, mask);
	}
	unlock(s);
}

static void ctl_rereg(struct rthread *t, struct slot *s, int side)
{
	enum mr_kind kind = fuzz_below(&t->f, NR_MR_KINDS);

	wrlock(s);
	if (!side_dereg(t, &s->side[side]))
		side_reg(t, &s->side[side], kind);
	unlock(s);
}

static void ctl_recreate(struct rthread *t, struct slot *s, int side)
{
	struct conn c = random_conn(&t->f);

	wrlock(s);
	side_destroy(t, &s->side[side]);
	side_create(t, s, side);
	unlock(s);
	/* The peer still points at the old QP number: both start over. */
	rdlock(s);
	reconnect_locked(t, s, &c);
	unlock(s);
}

static void ctl_resize(struct rthread *t, struct slot *s, int side)
{
	struct fuzz *f = &t->f;
	bool recv = fuzz_chance(f, 2);
	/* Below what is pending now and then: EINVAL. */
	int cqe = fuzz_chance(f, 4) ? (int)fuzz_below(f, 8) : 1 + (int)fuzz_below(f, 4 * CQ_DEPTH);
	struct ibv_cq *cq;
	int err;

	rdlock(s);
	cq = recv ? s->side[side].q.rcq : s->side[side].q.scq;
	if (cq) {
		err = TIMED(t, "resize_cq", ibv_resize_cq(cq, cqe));
		fuzz_result(f, "resize_cq", err);
		if (!err)
			t->ctl[CTL_RESIZE]++;
	}
	unlock(s);
}

/* The UD pair's AH, with SENDs naming it still queued. */
static void ctl_ah(struct rthread *t, struct slot *s)
{
	int err;

	wrlock(s);
	if (s->ah) {
		err = TIMED(t, "destroy_ah", ibv_destroy_ah(s->ah));
		fuzz_result(&t->f, "destroy_ah", err);
		if (!err)
			s->ah = NULL;
	}
	if (!s->ah) {
		ah_create(t, s);
		if (s->ah)
			t->ctl[CTL_AH]++;
	}
	unlock(s);
}

/*
 * (a) The victim reset and brought up again, over and over, each time
 * right after its peer queued WRITEs and SENDs into it (two or more: the
 * workers run them, not the doorbell), then maybe its region replaced.
 */
static void pattern_a(struct rthread *t, struct slot *s)
{
	struct fuzz *f = &t->f;
	int victim = fuzz_below(f, 2), rounds = 2 + fuzz_below(f, 15);
	struct conn c = random_conn(f);
	struct ibv_qp_attr a;

	for (int k = 0; k < rounds && running(t); k++) {
		post_batch(t, s, !victim, 2 + fuzz_below(f, 6), push_ops,
			   ARRAY_SIZE(push_ops), 0, false);
		nap(f, 500);
		rdlock(s);
		if (s->side[victim].q.qp &&
		    !modify(t, s->side[victim].q.qp, &a,
			    qp_attr(t, s, victim, IBV_QPS_RESET, &c, &a)))
			bring_up_locked(t, s, victim, &c);
		unlock(s);
		drain(t, s);
	}
	if (fuzz_chance(f, 2))
		ctl_rereg(t, s, victim);
	if (fuzz_chance(f, 2))
		reconnect(t, s);
	t->ctl[CTL_PATTERN_A]++;
}

/*
 * (b) A 1 MiB SEND under way (two or three in one post: the requester
 * work runs them), its receiver (now and then its sender) moved to ERR
 * (or RESET) a fraction of a millisecond into it, then that side's region
 * (now and then the other's) deregistered while the transfer may still
 * hold it.
 */
static void pattern_b(struct rthread *t, struct slot *s)
{
	struct fuzz *f = &t->f;
	int from = fuzz_below(f, 2);
	int victim = fuzz_chance(f, 4) ? from : !from;
	enum ibv_qp_state state = fuzz_chance(f, 4) ? IBV_QPS_RESET : IBV_QPS_ERR;
	int n = 2 + fuzz_below(f, 2);
	uint32_t delay = fuzz_below(f, 1000);
	bool dereg_other = fuzz_chance(f, 4);
	struct conn c = random_conn(f);
	struct ibv_qp_attr a;

	post_batch(t, s, from, n, send_op, 1, MAX_XFER, false);
	sleep_us(delay);
	rdlock(s);
	if (s->side[victim].q.qp)
		modify(t, s->side[victim].q.qp, &a,
		       qp_attr(t, s, victim, state, &c, &a));
	unlock(s);
	ctl_rereg(t, s, dereg_other ? !victim : victim);
	drain(t, s);
	atomic_store(&s->broken, true);
	t->ctl[CTL_PATTERN_B]++;
}

/*
 * (c) A QP destroyed while its delayed work is pending: SENDs to a peer
 * with no receive (RNR NAKs, retried after min_rnr_timer, forever with
 * rnr_retry 7), or to a peer that was reset or destroyed (no answer:
 * retransmission after the ACK timeout).
 */
static void pattern_c(struct rthread *t, struct slot *s)
{
	struct fuzz *f = &t->f;
	int from = fuzz_below(f, 2), how = fuzz_below(f, 3);
	uint32_t delay = fuzz_below(f, 3000), delay2 = fuzz_below(f, 3000);
	struct conn c;
	struct ibv_qp_attr a;
	int ok;

	c.timeout = 1 + fuzz_below(f, 10);
	c.retry_cnt = fuzz_chance(f, 2) ? 7 : fuzz_below(f, 7);
	c.rnr_retry = fuzz_chance(f, 4) ? 3 + fuzz_below(f, 4) : 7;
	c.min_rnr_timer = fuzz_chance(f, 8) ? fuzz_below(f, 32) : 1 + fuzz_below(f, 4);

	/* The reconnect's RESET empties the receive queue. */
	rdlock(s);
	ok = !reconnect_locked(t, s, &c);
	if (ok && how == 2)
		modify(t, s->side[!from].q.qp, &a,
		       qp_attr(t, s, !from, IBV_QPS_RESET, &c, &a));
	unlock(s);
	if (!ok)
		return;
	post_batch(t, s, from, 1 + fuzz_below(f, 8), send_op, 1, 0, true);
	sleep_us(delay);
	if (how == 1) {
		/* The responder goes first; the requester then retransmits. */
		ctl_recreate(t, s, !from);
		sleep_us(delay2);
	}
	ctl_recreate(t, s, from);
	drain(t, s);
	t->ctl[CTL_PATTERN_C]++;
}

static void *control(void *arg)
{
	struct rthread *t = arg;
	struct fuzz *f = &t->f;

	while (running(t)) {
		struct slot *s, *rc;
		int side;

		next_iteration(t);
		s = &t->r->slot[fuzz_below(f, NSLOT)];
		rc = &t->r->slot[fuzz_below(f, NSLOT - 1)];	/* the patterns' */
		side = fuzz_below(f, 2);
		switch (fuzz_below(f, 16)) {
		case 0 ... 2:
			ctl_modify(t, s, side);
			break;
		case 3:
			reconnect(t, s);
			break;
		case 4 ... 5:
			ctl_rereg(t, s, side);
			break;
		case 6:
			ctl_recreate(t, s, side);
			break;
		case 7:
			ctl_resize(t, s, side);
			break;
		case 8:
			ctl_ah(t, &t->r->slot[NSLOT - 1]);
			break;
		case 9 ... 10:
			pattern_a(t, rc);
			break;
		case 11 ... 12:
			pattern_b(t, rc);
			break;
		default:
			pattern_c(t, rc);
			break;
		}
		/* A broken slot's traffic only fails: mend it now and then. */
		if (atomic_load(&s->broken) && fuzz_chance(f, 2))
			reconnect(t, s);
		nap(f, 500);
	}
	return NULL;
}

/* ---- mm churn ---- */

/*
 * The pages of a buffer no pinned region holds: zapped, write-protected
 * for a while, or replaced.  A replacement is one mmap(MAP_FIXED) over
 * the old pages (an unmap and a map to the kernel) rather than munmap()
 * then mmap(): in between, another thread's mapping (a ring, a stack)
 * could take the hole, and RDMA aimed at the buffer would land in it.
 */
static void *mm_churn(void *arg)
{
	struct rthread *t = arg;
	struct fuzz *f = &t->f;

	while (running(t)) {
		struct slot *s;
		struct side *sd;
		size_t off, len;
		uint32_t hold;
		char *p;
		int op, err = 0;

		next_iteration(t);
		s = &t->r->slot[fuzz_below(f, NSLOT)];
		sd = &s->side[fuzz_below(f, 2)];
		off = fuzz_below(f, BUF_LEN / PAGE) * PAGE;
		len = PAGE * (1 + fuzz_below(f, fuzz_chance(f, 4) ? BUF_LEN / PAGE : 64));
		if (off + len > BUF_LEN)
			len = BUF_LEN - off;
		op = fuzz_below(f, 3);
		hold = fuzz_below(f, 2000);
		p = sd->buf + off;

		rdlock(s);
		if (sd->pinned)
			op = -1;
		switch (op) {
		case -1:
			break;
		case 0:
			err = TIMED(t, "madvise", madvise(p, len, MADV_DONTNEED)) ? errno : 0;
			fuzz_result(f, "madvise", err);
			break;
		case 1:
			err = TIMED(t, "mprotect", mprotect(p, len, PROT_READ)) ? errno : 0;
			fuzz_result(f, "mprotect", err);
			break;
		default:
			err = TIMED(t, "mmap", mmap(p, len, PROT_READ | PROT_WRITE,
						    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
						    -1, 0)) == MAP_FAILED ? errno : 0;
			fuzz_result(f, "mmap", err);
			break;
		}
		unlock(s);
		if (op >= 0 && !err)
			t->ctl[CTL_ZAP + op]++;
		if (op == 1) {
			/* Writable again whatever happened meanwhile. */
			sleep_us(hold);
			err = TIMED(t, "mprotect", mprotect(p, len, PROT_READ | PROT_WRITE)) ?
			      errno : 0;
			fuzz_result(f, "mprotect", err);
		}
		nap(f, 1000);
	}
	return NULL;
}

/* ---- setup and teardown ---- */

static int slot_setup(struct rthread *m, struct slot *s, bool ud)
{
	pthread_rwlockattr_t ra;
	struct conn c = random_conn(&m->f);

	pthread_rwlockattr_init(&ra);
	/* Readers come back all the time: a destroy must not starve. */
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	s->ud = ud;
	for (int i = 0; i < 2; i++) {
		struct side *sd = &s->side[i];

		sd->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (sd->buf == MAP_FAILED)
			return -1;
		memset(sd->buf, 0x5a, BUF_LEN);
		if (side_create(m, s, i))
			return -1;
		side_reg(m, sd, fuzz_below(&m->f, NR_MR_KINDS));
		/* Pinning may be over RLIMIT_MEMLOCK: ODP then. */
		if (!sd->mr)
			side_reg(m, sd, MR_ODP);
		if (!sd->mr)
			return -1;
	}
	if (ud) {
		ah_create(m, s);
		if (!s->ah)
			return -1;
	}
	return reconnect_locked(m, s, &c);
}

static void slot_teardown(struct rthread *m, struct slot *s)
{
	int err;

	for (int i = 0; i < 2; i++)
		side_destroy(m, &s->side[i]);
	if (s->ah) {
		err = TIMED(m, "destroy_ah", ibv_destroy_ah(s->ah));
		fuzz_result(&m->f, "destroy_ah", err);
	}
	for (int i = 0; i < 2; i++) {
		side_dereg(m, &s->side[i]);
		if (s->side[i].buf && s->side[i].buf != MAP_FAILED)
			munmap(s->side[i].buf, BUF_LEN);
	}
	pthread_rwlock_destroy(&s->lock);
}

static void add_counts(struct fuzz *to, const struct fuzz *from)
{
	to->iterations += from->iterations;
	to->calls += from->calls;
	to->failures += from->failures;
	to->completions += from->completions;
	to->errors += from->errors;
	to->checked += from->checked;
	to->check_errors += from->check_errors;
	to->violations += from->violations;
	to->gone |= from->gone;
}

int fuzz_race(struct fuzz *f)
{
	static void *(*const role[NTHREAD])(void *) = {
		traffic, traffic, control, control, mm_churn,
	};
	struct race *r = calloc(1, sizeof(*r));
	struct rthread *m;
	unsigned long ctl[NCTL] = { 0 };
	pthread_t wd;

	if (!r)
		return 1;
	r->seed = f->seed;
	r->stop = f->stop;
	for (int i = 0; i <= NTHREAD; i++) {
		r->t[i].r = r;
		r->t[i].idx = i;
		r->t[i].base = mix64(r->seed ^ mix64(i + 1));
	}
	m = &r->t[NTHREAD];
	next_iteration(m);
	printf("fuzz race seed %llu: %d slots (the last UD), threads 0-%d traffic, "
	       "%d-%d control, %d mm, %d main\n", (unsigned long long)r->seed, NSLOT,
	       NTRAFFIC - 1, NTRAFFIC, NTRAFFIC + NCONTROL - 1, NTHREAD - 1, NTHREAD);
	fflush(stdout);
	/* Setup and teardown are watched too: the last dereg may be the one. */
	if (pthread_create(&wd, NULL, watchdog, r))
		return 1;
	if (vt_open(&r->d))
		return 1;
	for (int i = 0; i < NSLOT; i++)
		if (slot_setup(m, &r->slot[i], i == NSLOT - 1)) {
			fprintf(stderr, "fuzz race: cannot set slot %d up\n", i);
			return 1;
		}

	for (int i = 0; i < NTHREAD; i++)
		if (pthread_create(&r->t[i].tid, NULL, role[i], &r->t[i])) {
			atomic_store(&r->quit, true);
			for (int k = 0; k < i; k++)
				pthread_join(r->t[k].tid, NULL);
			return 1;
		}
	for (int i = 0; i < NTHREAD; i++)
		pthread_join(r->t[i].tid, NULL);

	for (int i = 0; i < NSLOT; i++)
		slot_teardown(m, &r->slot[i]);
	race_enter(m, "vt_close");
	vt_close(&r->d);
	race_leave(m);
	atomic_store(&r->done, true);
	pthread_join(wd, NULL);

	for (int i = 0; i <= NTHREAD; i++) {
		add_counts(f, &r->t[i].f);
		for (int k = 0; k < NCTL; k++)
			ctl[k] += r->t[i].ctl[k];
	}
	printf("fuzz race controls:");
	for (int k = 0; k < NCTL; k++)
		printf("%s %lu %s", k ? "," : "", ctl[k], ctl_name[k]);
	printf("\n");
	free(r);
	return 0;
}
