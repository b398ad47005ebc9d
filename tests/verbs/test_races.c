// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: regressions for races between the engine and the
 * verbs that change a QP or an MR under it, and for packets a QP must not
 * accept.  Each case drives the race and checks what user space sees; the
 * guest suite fails a case that leaves a BUG, WARNING, Oops or KASAN
 * report in the kernel log.  Pinned MRs, but where a slow (faulting) ODP
 * destination widens the race.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/check.h"
#include "vt.h"

#define MIB		(1UL << 20)
#define DEREG_LIMIT	10.0	/* seconds a deregistration may take */

/* A seed that differs from run to run, said so that a failure can be replayed. */
static uint64_t race_seed(const char *what)
{
	struct timespec t;
	uint64_t seed;

	clock_gettime(CLOCK_REALTIME, &t);
	seed = (uint64_t)t.tv_sec * 1000000007ULL + t.tv_nsec;
	printf("%s: seed %llu\n", what, (unsigned long long)seed);
	return seed | 1;
}

struct dereg_job {
	struct ibv_mr *mr;
	atomic_int done;
	int ret;
};

static void *dereg_thread(void *arg)
{
	struct dereg_job *job = arg;

	job->ret = ibv_dereg_mr(job->mr);
	atomic_store(&job->done, 1);
	return NULL;
}

/*
 * ibv_dereg_mr() in a thread, so that a deregistration stuck in the kernel
 * fails the case instead of hanging it: 0, or -1 (error or too late; the
 * stuck thread and its job are left behind).
 */
static int dereg_within(struct ibv_mr *mr, double seconds)
{
	struct dereg_job *job = calloc(1, sizeof(*job));
	double end = now_s() + seconds;
	pthread_t t;
	int ret;

	if (!job)
		return -1;
	job->mr = mr;
	if (pthread_create(&t, NULL, dereg_thread, job)) {
		free(job);
		return -1;
	}
	while (!atomic_load(&job->done) && now_s() < end)
		usleep(1000);
	if (!atomic_load(&job->done)) {
		fprintf(stderr, "ibv_dereg_mr did not return within %.0f s\n", seconds);
		pthread_detach(t);
		return -1;
	}
	pthread_join(t, NULL);
	ret = job->ret;
	free(job);
	if (ret)
		fprintf(stderr, "ibv_dereg_mr: %s\n", strerror(ret));
	return ret ? -1 : 0;
}

/*
 * Back through RESET to RTS towards dqpn (PSNs start at 0 again).  Once in
 * RTR the QP receives, and the peer's packets of a message the reset cut
 * may move it to ERR before RTS (a request out of sequence): start over.
 */
static int reconnect(struct vt_dev *d, struct ibv_qp *qp, uint32_t dqpn)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };

	for (int tries = 0; tries < 100; tries++) {
		if (ibv_modify_qp(qp, &a, IBV_QP_STATE))
			return -1;
		if (!vt_rc_to_rts(d, qp, dqpn, VT_ALL_ACCESS, 7, 1))
			return 0;
	}
	return -1;
}

static int to_err(struct ibv_qp *qp)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };

	return ibv_modify_qp(qp, &a, IBV_QP_STATE);
}

struct reset_loop {
	struct vt_dev *d;
	struct ibv_qp *qp;
	uint32_t dqpn;
	double stop;
	atomic_int quit;
	uint64_t rnd;
	int resets;
	int err;
};

static void *reset_thread(void *arg)
{
	struct reset_loop *r = arg;

	while (now_s() < r->stop && !atomic_load(&r->quit)) {
		if (reconnect(r->d, r->qp, r->dqpn)) {
			r->err = 1;
			break;
		}
		r->resets++;
		usleep(xrand(&r->rnd) % 1000);
	}
	return NULL;
}

/*
 * Reset under a WRITE: the target QP goes RESET -> INIT -> RTR -> RTS over
 * and over while a peer writes 64 KiB..1 MiB into its MR, so resets land
 * in the middle of multi-burst WRITEs.  A reset used to tear down the
 * responder's state under the copy of a WRITE burst (a NULL dereference
 * in the copy), and the deregistration of the target MR afterwards waited
 * for ever (a task in D state).  The WRITEs may fail (the target forgets its PSN at each
 * reset; the writer then reconnects), but every one completes, and the
 * target's MR deregisters in bounded time.
 */
CHECK_CASE(race_reset_under_write)
{
	const size_t len = MIB;
	uint64_t rnd = race_seed("reset");
	struct vt_dev d;
	struct vt_qp a, b;
	char *abuf = malloc(len), *bbuf = malloc(len);
	struct ibv_mr *amr, *bmr;
	struct reset_loop r;
	int ok = 0, failed = 0, err = 0;
	pthread_t t;

	CHECK(abuf && bbuf);
	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_pair(&d, &a, &b, 16), 0);
	amr = ibv_reg_mr(d.pd, abuf, len, VT_ALL_ACCESS);
	bmr = ibv_reg_mr(d.pd, bbuf, len, VT_ALL_ACCESS);
	CHECK(amr && bmr);
	fill_pattern(abuf, len, 11, 0);

	memset(&r, 0, sizeof(r));
	r.d = &d;
	r.qp = b.qp;
	r.dqpn = a.qp->qp_num;
	r.stop = now_s() + 3;
	r.rnd = xrand(&rnd);
	atomic_init(&r.quit, 0);
	CHECK_EQ(pthread_create(&t, NULL, reset_thread, &r), 0);
	/* One WRITE at a time, each waited for; the thread resets the target. */
	while (!err && now_s() < r.stop) {
		size_t n = 64 * 1024 + xrand(&rnd) % (len - 64 * 1024 + 1);
		struct ibv_sge s = { (uintptr_t)abuf, n, amr->lkey };
		struct ibv_wc wc;

		if (vt_post_send(a.qp, IBV_WR_RDMA_WRITE, 1, &s, 1, (uintptr_t)bbuf,
				 bmr->rkey, 0)) {
			/* A was not in a state to post: start it over. */
			err = reconnect(&d, a.qp, b.qp->qp_num);
			continue;
		}
		if (vt_poll(a.scq, &wc, 30)) {
			fprintf(stderr, "a WRITE did not complete within 30 s\n");
			err = -1;
		} else if (wc.status == IBV_WC_SUCCESS) {
			ok++;
		} else {
			failed++;
			err = reconnect(&d, a.qp, b.qp->qp_num);
		}
	}
	atomic_store(&r.quit, 1);
	CHECK_EQ(pthread_join(t, NULL), 0);
	printf("%d resets of the target; WRITEs: %d completed, %d failed\n",
	       r.resets, ok, failed);
	CHECK_EQ(err, 0);
	CHECK_EQ(r.err, 0);
	/* Before the QPs go: a reference they leaked would be dropped with them. */
	CHECK_EQ(dereg_within(bmr, DEREG_LIMIT), 0);
	CHECK_EQ(ibv_dereg_mr(amr), 0);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	free(abuf);
	free(bbuf);
	return 0;
}

/*
 * Reset, then dereg, in the middle of a WRITE into pages never touched
 * (an ODP region faulted in by the WRITE itself, so the responder's copy
 * takes long).  A reset used to drop the WRITE's region from under that
 * copy without waiting for it, so the deregistration that follows
 * released the region (and ib_umem_hmm's umem) while the copy still went
 * on through it.  Now the reset waits for the packet in progress and the
 * deregistration for nothing; the WRITE ends, in success or in error.
 * The moment of the reset is random within the time a round takes
 * without it (measured first).
 */
static int reset_round(struct vt_dev *d, struct ibv_mr *amr, size_t len, int round,
		       double delay)
{
	char *bbuf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_RESET };
	struct vt_qp a, b;
	struct ibv_mr *bmr;
	struct ibv_sge s;
	struct ibv_wc wc;

	CHECK(bbuf != MAP_FAILED);
	CHECK_EQ(vt_pair(d, &a, &b, 4), 0);
	bmr = ibv_reg_mr(d->pd, bbuf, len, VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	CHECK(bmr);
	s = (struct ibv_sge){ (uintptr_t)amr->addr, len, amr->lkey };
	/* From another thread's point of view: the WRITE runs in the kernel's work. */
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_RDMA_WRITE, round, &s, 1, (uintptr_t)bbuf,
			      bmr->rkey, 0), 0);
	if (delay >= 0) {
		usleep(delay * 1e6);
		CHECK_EQ(ibv_modify_qp(b.qp, &attr, IBV_QP_STATE), 0);
		if (dereg_within(bmr, DEREG_LIMIT)) {
			fprintf(stderr, "round %d: dereg did not return\n", round);
			return 1;
		}
	}
	CHECK_EQ(vt_poll(a.scq, &wc, 30), 0);
	CHECK_EQ(wc.wr_id, round);
	if (delay < 0) {
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(ibv_dereg_mr(bmr), 0);
	}
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	munmap(bbuf, len);
	return 0;
}

CHECK_CASE(race_reset_during_write)
{
	const size_t len = 8 * MIB;
	uint64_t rnd = race_seed("reset-write");
	struct vt_dev d;
	char *abuf = malloc(len);
	struct ibv_mr *amr;
	double t0, span;

	CHECK(abuf);
	memset(abuf, 0x5a, len);
	CHECK_EQ(vt_open(&d), 0);
	amr = ibv_reg_mr(d.pd, abuf, len, VT_ALL_ACCESS);
	CHECK(amr);
	t0 = now_s();
	CHECK_EQ(reset_round(&d, amr, len, 0, -1), 0);
	span = now_s() - t0;
	for (int round = 1; round <= 20; round++)
		CHECK_EQ(reset_round(&d, amr, len, round,
				     span * (xrand(&rnd) % 1000) / 1000), 0);
	printf("a round takes %.2f ms\n", span * 1e3);
	CHECK_EQ(ibv_dereg_mr(amr), 0);
	vt_close(&d);
	free(abuf);
	return 0;
}

/*
 * QP to ERR in the middle of a SEND, then dereg of the receive's MR: the
 * flush cleared the responder's receive state without putting the regions
 * it held between the bursts of a multi-burst SEND, and ibv_dereg_mr of
 * the receive's MR then blocked for ever (13 rounds of 20).  Two chained
 * 2 MiB SENDs run in the kernel's work (a lone WQE would run inside the
 * doorbell, before the ERR), and the ERR comes at a random moment within
 * the time a round takes without it (measured first).  The deregistration
 * must return in bounded time, and each receive complete exactly once,
 * with its data or with an error.
 */
static int err_round(struct vt_dev *d, struct ibv_mr *amr, char *abuf, char *bbuf,
		     size_t len, int round, double delay, int *ok)
{
	struct vt_qp a, b;
	struct ibv_mr *bmr;
	struct ibv_sge s[2], rs[2];
	struct ibv_send_wr wr[2], *bad;
	struct ibv_wc wc;

	memset(bbuf, 0, 2 * len);
	CHECK_EQ(vt_pair(d, &a, &b, 4), 0);
	bmr = ibv_reg_mr(d->pd, bbuf, 2 * len, VT_ALL_ACCESS);
	CHECK(bmr);
	for (int i = 0; i < 2; i++) {
		rs[i] = (struct ibv_sge){ (uintptr_t)bbuf + i * len, len, bmr->lkey };
		s[i] = (struct ibv_sge){ (uintptr_t)abuf + i * len, len, amr->lkey };
		CHECK_EQ(vt_post_recv(b.qp, 100 + i, &rs[i], 1), 0);
		wr[i] = (struct ibv_send_wr){
			.wr_id = i, .sg_list = &s[i], .num_sge = 1,
			.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
			.next = i ? NULL : &wr[1],
		};
	}
	CHECK_EQ(ibv_post_send(a.qp, wr, &bad), 0);
	if (delay >= 0) {
		usleep(delay * 1e6);
		CHECK_EQ(to_err(b.qp), 0);
		if (dereg_within(bmr, DEREG_LIMIT)) {
			fprintf(stderr, "round %d: dereg did not return\n", round);
			return 1;
		}
	}
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(vt_poll(b.rcq, &wc, 10), 0);
		CHECK_EQ(wc.wr_id, 100 + i);
		if (wc.status == IBV_WC_SUCCESS) {
			(*ok)++;
			CHECK_EQ(wc.byte_len, len);
			CHECK_EQ(check_pattern(bbuf + i * len, len, 21, i * len), -1);
		}
	}
	CHECK(vt_no_completion(b.rcq, 0.05));
	if (delay < 0)
		CHECK_EQ(ibv_dereg_mr(bmr), 0);
	/* The sender's WQEs end too, however they end. */
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
		CHECK_EQ(wc.wr_id, i);
	}
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	return 0;
}

CHECK_CASE(race_err_during_send)
{
	const size_t len = 2 * MIB;
	uint64_t rnd = race_seed("err");
	struct vt_dev d;
	char *abuf = malloc(2 * len), *bbuf = malloc(2 * len);
	struct ibv_mr *amr;
	double t0, span;
	int ok = 0;

	CHECK(abuf && bbuf);
	CHECK_EQ(vt_open(&d), 0);
	amr = ibv_reg_mr(d.pd, abuf, 2 * len, VT_ALL_ACCESS);
	CHECK(amr);
	fill_pattern(abuf, 2 * len, 21, 0);
	/* How long the two SENDs take, QP setup included, with no error. */
	t0 = now_s();
	CHECK_EQ(err_round(&d, amr, abuf, bbuf, len, -1, -1, &ok), 0);
	span = now_s() - t0;
	CHECK_EQ(ok, 2);
	ok = 0;
	for (int round = 0; round < 20; round++)
		CHECK_EQ(err_round(&d, amr, abuf, bbuf, len, round,
				   span * (xrand(&rnd) % 1000) / 1000, &ok), 0);
	printf("a round takes %.2f ms; receives completed before the error: %d of 40\n",
	       span * 1e3, ok);
	CHECK_EQ(ibv_dereg_mr(amr), 0);
	vt_close(&d);
	free(abuf);
	free(bbuf);
	return 0;
}

/*
 * Destroy with an RNR retry pending: A SENDs to B, which has no receive;
 * with rnr_retry 7 (for ever) and B's min_rnr_timer 1 (10 us) A keeps a
 * retry timer armed.  Destroying the QPs used to leave that delayed work
 * queued, and it then ran on the freed QP (KASAN use-after-free on the
 * debug kernel, a crash or silent corruption otherwise).  Half the rounds
 * destroy B first, so that A's retry meets a missing peer (the ACK-timeout
 * path of the same timer).  Every destroy must succeed; the rest is the
 * kernel log's.
 */
CHECK_CASE(race_destroy_rnr_pending)
{
	uint64_t rnd = race_seed("rnr");
	struct vt_dev d;
	char buf[64] = "no receive for this";
	struct ibv_mr *mr;

	CHECK_EQ(vt_open(&d), 0);
	mr = ibv_reg_mr(d.pd, buf, sizeof(buf), VT_ALL_ACCESS);
	CHECK(mr);
	for (int round = 0; round < 30; round++) {
		struct vt_qp q[2];
		struct ibv_sge s = { (uintptr_t)buf, sizeof(buf), mr->lkey };
		int first = round & 1;

		CHECK_EQ(vt_qp_create(&d, &q[0], IBV_QPT_RC, 4, NULL, false), 0);
		CHECK_EQ(vt_qp_create(&d, &q[1], IBV_QPT_RC, 4, NULL, false), 0);
		CHECK_EQ(vt_connect(&d, &q[0], &q[1]), 0);	/* rnr_retry 7, timer 1 */
		CHECK_EQ(vt_post_send(q[0].qp, IBV_WR_SEND, 1, &s, 1, 0, 0, 0), 0);
		usleep(xrand(&rnd) % 8000);	/* a few retry periods */
		for (int i = 0; i < 2; i++) {
			struct vt_qp *v = &q[first ^ i];

			CHECK_EQ(ibv_destroy_qp(v->qp), 0);
			v->qp = NULL;
			vt_qp_destroy(v);	/* its CQs */
		}
	}
	CHECK_EQ(ibv_dereg_mr(mr), 0);
	vt_close(&d);
	return 0;
}

/* What the foreign process of race_foreign_qp is told, and tells back. */
struct foreign_target {
	uint32_t qpn;
	uint32_t rkey;
	uint64_t addr;
};

struct foreign_result {
	int write_status;	/* ibv_wc_status, or -1: no completion */
	int send_status;
	int read_status;
	int read_got_data;	/* the READ brought the target's bytes */
};

#define FOREIGN_LEN	4096
#define FOREIGN_SEED	0x51

/* One operation from a fresh QP of the foreign process; its status. */
static int foreign_op(struct vt_dev *d, const struct foreign_target *t,
		      enum ibv_wr_opcode op, char *buf, struct ibv_mr *mr, size_t len)
{
	struct ibv_sge s = { (uintptr_t)buf, len, mr->lkey };
	struct vt_qp c;
	struct ibv_wc wc;
	int status = -1;

	if (vt_qp_create(d, &c, IBV_QPT_RC, 4, NULL, false))
		return -2;
	/*
	 * The PSN the target expects (0: it has received nothing), a short
	 * ACK timeout (4 ms) and one retry: a dropped request ends quickly
	 * in a retry error; no RNR retry either.
	 */
	if (!vt_rc_to_rts_timeout(d, c.qp, t->qpn, VT_ALL_ACCESS, 0, 1, 10, 1) &&
	    !vt_post_send(c.qp, op, 1, &s, 1, t->addr, t->rkey, 0) &&
	    !vt_poll(c.scq, &wc, 20))
		status = wc.status;
	vt_qp_destroy(&c);
	return status;
}

static int foreign_child(int in, int out)
{
	struct foreign_target t;
	struct foreign_result res;
	struct vt_dev d;
	char *buf = calloc(1, FOREIGN_LEN);
	struct ibv_mr *mr;

	CHECK(buf);
	CHECK_EQ(vt_open(&d), 0);
	mr = ibv_reg_mr(d.pd, buf, FOREIGN_LEN, VT_ALL_ACCESS);
	CHECK(mr);
	CHECK_EQ(read(in, &t, sizeof(t)), sizeof(t));
	memset(buf, 0xee, FOREIGN_LEN);
	res.write_status = foreign_op(&d, &t, IBV_WR_RDMA_WRITE, buf, mr, FOREIGN_LEN);
	res.send_status = foreign_op(&d, &t, IBV_WR_SEND, buf, mr, 64);
	memset(buf, 0, FOREIGN_LEN);
	res.read_status = foreign_op(&d, &t, IBV_WR_RDMA_READ, buf, mr, FOREIGN_LEN);
	res.read_got_data = check_pattern(buf, FOREIGN_LEN, FOREIGN_SEED, 0) == -1;
	CHECK_EQ(write(out, &res, sizeof(res)), sizeof(res));
	CHECK_CLEANUP(ibv_dereg_mr(mr));
	vt_close(&d);
	free(buf);
	return check_cleanup_failures() ? 1 : 0;
}

/*
 * A QP of another process: B is connected to A; a second process opens the
 * device itself and points its own QPs at B's QP number with the PSN B
 * expects, then WRITEs into B's MR with B's rkey, SENDs while B has a
 * receive posted, and READs B's MR.  The responder used to accept any
 * packet addressed to B's number (only the PSN was checked), so the
 * foreign WRITE succeeded and overwrote B's data.  None of it may succeed:
 * B's memory is unchanged, its receive is not consumed, the READ does not
 * return B's bytes, and B's connection to A still works afterwards.
 */
CHECK_CASE(race_foreign_qp)
{
	int to_child[2], from_child[2];
	struct foreign_result res;
	struct foreign_target t;
	struct pollfd pfd;
	struct vt_dev d;
	struct vt_qp a, b;
	char *bbuf, *rbuf, *abuf;
	struct ibv_mr *bmr, *rmr, *amr;
	struct ibv_sge s, rs;
	struct ibv_wc wc;
	int status;
	pid_t pid;

	/* The child forks before this process opens anything. */
	CHECK(!pipe(to_child) && !pipe(from_child));
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		close(to_child[1]);
		close(from_child[0]);
		_exit(foreign_child(to_child[0], from_child[1]));
	}
	close(to_child[0]);
	close(from_child[1]);

	bbuf = malloc(FOREIGN_LEN);
	rbuf = calloc(1, FOREIGN_LEN);
	abuf = malloc(FOREIGN_LEN);
	CHECK(bbuf && rbuf && abuf);
	fill_pattern(bbuf, FOREIGN_LEN, FOREIGN_SEED, 0);
	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(vt_pair(&d, &a, &b, 4), 0);
	bmr = ibv_reg_mr(d.pd, bbuf, FOREIGN_LEN, VT_ALL_ACCESS);
	rmr = ibv_reg_mr(d.pd, rbuf, FOREIGN_LEN, VT_ALL_ACCESS);
	amr = ibv_reg_mr(d.pd, abuf, FOREIGN_LEN, VT_ALL_ACCESS);
	CHECK(bmr && rmr && amr);
	rs = (struct ibv_sge){ (uintptr_t)rbuf, FOREIGN_LEN, rmr->lkey };
	CHECK_EQ(vt_post_recv(b.qp, 7, &rs, 1), 0);

	t = (struct foreign_target){ b.qp->qp_num, bmr->rkey, (uintptr_t)bbuf };
	CHECK_EQ(write(to_child[1], &t, sizeof(t)), sizeof(t));
	pfd = (struct pollfd){ .fd = from_child[0], .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 120 * 1000), 1);
	CHECK_EQ(read(from_child[0], &res, sizeof(res)), sizeof(res));
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(to_child[1]);
	close(from_child[0]);
	printf("foreign QP: WRITE %d, SEND %d, READ %d (data %s)\n",
	       res.write_status, res.send_status, res.read_status,
	       res.read_got_data ? "read" : "not read");

	CHECK(res.write_status != IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(bbuf, FOREIGN_LEN, FOREIGN_SEED, 0), -1);
	CHECK(vt_no_completion(b.rcq, 0.1));
	CHECK(!(res.read_status == IBV_WC_SUCCESS && res.read_got_data));

	/* B's own peer still gets through, into the receive still posted. */
	fill_pattern(abuf, FOREIGN_LEN, 52, 0);
	s = (struct ibv_sge){ (uintptr_t)abuf, FOREIGN_LEN, amr->lkey };
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_SEND, 8, &s, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(a.scq, &wc, 20), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(vt_poll(b.rcq, &wc, 20), 0);
	CHECK_EQ(wc.wr_id, 7);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(check_pattern(rbuf, FOREIGN_LEN, 52, 0), -1);

	ibv_dereg_mr(bmr);
	ibv_dereg_mr(rmr);
	ibv_dereg_mr(amr);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	free(bbuf);
	free(rbuf);
	free(abuf);
	return 0;
}
