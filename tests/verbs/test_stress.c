// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: many QPs and CQs at once with random traffic, every
 * payload checked; processes killed mid-transfer; the provider ABI.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "vt.h"

#define STRESS_PAIRS	32		/* 64 QPs, 128 CQs */
#define STRESS_BUF	(2 << 20)

struct spair {
	struct vt_qp a, b;
	char *abuf, *bbuf;
	struct ibv_mr *amr, *bmr;
};

/* One random operation a -> b, checked. */
static int stress_op(struct spair *p, uint64_t *rnd, int seq)
{
	static const size_t max[] = { 1, 100, 4096, 65536, 1 << 20 };
	size_t len = 1 + xrand(rnd) % max[xrand(rnd) % 5];
	size_t soff = xrand(rnd) % (STRESS_BUF - len), doff = xrand(rnd) % (STRESS_BUF - len);
	int op = xrand(rnd) % 3;
	struct ibv_sge s, r;
	struct ibv_wc wc;

	if (op == 0) {		/* SEND */
		fill_pattern(p->abuf + soff, len, seq, 0);
		s = (struct ibv_sge){ (uintptr_t)p->abuf + soff, len, p->amr->lkey };
		r = (struct ibv_sge){ (uintptr_t)p->bbuf + doff, len, p->bmr->lkey };
		CHECK_EQ(vt_post_recv(p->b.qp, seq, &r, 1), 0);
		CHECK_EQ(vt_post_send(p->a.qp, IBV_WR_SEND, seq, &s, 1, 0, 0, 0), 0);
		CHECK_EQ(vt_poll(p->b.rcq, &wc, 30), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(wc.byte_len, len);
		CHECK_EQ(check_pattern(p->bbuf + doff, len, seq, 0), -1);
	} else if (op == 1) {	/* WRITE */
		fill_pattern(p->abuf + soff, len, seq, 0);
		s = (struct ibv_sge){ (uintptr_t)p->abuf + soff, len, p->amr->lkey };
		CHECK_EQ(vt_post_send(p->a.qp, IBV_WR_RDMA_WRITE, seq, &s, 1,
				      (uintptr_t)p->bbuf + doff, p->bmr->rkey, 0), 0);
	} else {		/* READ */
		fill_pattern(p->bbuf + doff, len, seq, 0);
		s = (struct ibv_sge){ (uintptr_t)p->abuf + soff, len, p->amr->lkey };
		CHECK_EQ(vt_post_send(p->a.qp, IBV_WR_RDMA_READ, seq, &s, 1,
				      (uintptr_t)p->bbuf + doff, p->bmr->rkey, 0), 0);
	}
	CHECK_EQ(vt_poll(p->a.scq, &wc, 30), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.wr_id, seq);
	if (op == 1)
		CHECK_EQ(check_pattern(p->bbuf + doff, len, seq, 0), -1);
	if (op == 2)
		CHECK_EQ(check_pattern(p->abuf + soff, len, seq, 0), -1);
	return 0;
}

CHECK_CASE(stress_many_qps)
{
	struct vt_dev d;
	struct spair *p = calloc(STRESS_PAIRS, sizeof(*p));
	uint64_t rnd = 12345;
	int ops = getenv("SODP_STRESS_OPS") ? atoi(getenv("SODP_STRESS_OPS")) : 600;

	CHECK(p);
	CHECK_EQ(vt_open(&d), 0);
	for (int i = 0; i < STRESS_PAIRS; i++) {
		CHECK_EQ(vt_qp_create(&d, &p[i].a, IBV_QPT_RC, 8, NULL, false), 0);
		CHECK_EQ(vt_qp_create(&d, &p[i].b, IBV_QPT_RC, 8, NULL, false), 0);
		CHECK_EQ(vt_connect(&d, &p[i].a, &p[i].b), 0);
		p[i].abuf = malloc(STRESS_BUF);
		p[i].bbuf = malloc(STRESS_BUF);
		CHECK(p[i].abuf && p[i].bbuf);
		p[i].amr = vt_reg(&d, p[i].abuf, STRESS_BUF, VT_ALL_ACCESS);
		p[i].bmr = vt_reg(&d, p[i].bbuf, STRESS_BUF, VT_ALL_ACCESS);
		CHECK(p[i].amr && p[i].bmr);
	}
	for (int n = 0; n < ops; n++)
		CHECK_EQ(stress_op(&p[xrand(&rnd) % STRESS_PAIRS], &rnd, n), 0);
	for (int i = 0; i < STRESS_PAIRS; i++) {
		vt_dereg(p[i].amr);
		vt_dereg(p[i].bmr);
		vt_qp_destroy(&p[i].a);
		vt_qp_destroy(&p[i].b);
		free(p[i].abuf);
		free(p[i].bbuf);
	}
	vt_close(&d);
	free(p);
	return 0;
}

/*
 * Child: checked traffic on one pair, and on another pair writes that are
 * still in flight whenever the kill comes; until killed.
 */
static void traffic_forever(void)
{
	struct vt_dev d;
	struct spair p, q;
	uint64_t rnd = getpid();
	struct ibv_wc wc;

	if (vt_open(&d) || vt_qp_create(&d, &p.a, IBV_QPT_RC, 8, NULL, false) ||
	    vt_qp_create(&d, &p.b, IBV_QPT_RC, 8, NULL, false) ||
	    vt_qp_create(&d, &q.a, IBV_QPT_RC, 8, NULL, false) ||
	    vt_qp_create(&d, &q.b, IBV_QPT_RC, 8, NULL, false) ||
	    vt_connect(&d, &p.a, &p.b) || vt_connect(&d, &q.a, &q.b))
		_exit(1);
	p.abuf = malloc(STRESS_BUF);
	p.bbuf = malloc(STRESS_BUF);
	p.amr = vt_reg(&d, p.abuf, STRESS_BUF, VT_ALL_ACCESS);
	p.bmr = vt_reg(&d, p.bbuf, STRESS_BUF, VT_ALL_ACCESS);
	q.abuf = malloc(STRESS_BUF);
	q.amr = vt_reg(&d, q.abuf, STRESS_BUF, VT_ALL_ACCESS);
	if (!p.amr || !p.bmr || !q.amr)
		_exit(1);
	for (int n = 0;; n++) {
		struct ibv_sge s = { (uintptr_t)q.abuf, STRESS_BUF / 2, q.amr->lkey };

		for (int i = 0; i < 4; i++)
			vt_post_send(q.a.qp, IBV_WR_RDMA_WRITE, i, &s, 1,
				     (uintptr_t)q.abuf + STRESS_BUF / 2, q.amr->rkey, 0);
		if (stress_op(&p, &rnd, n))
			_exit(2);
		for (int i = 0; i < 4; i++)
			if (vt_poll(q.a.scq, &wc, 30) || wc.status != IBV_WC_SUCCESS)
				_exit(3);
	}
}

/* Processes killed mid-transfer leave nothing behind. */
CHECK_CASE(kill_mid_transfer)
{
	uint64_t rnd = 7;

	for (int round = 0; round < 5; round++) {
		pid_t pid = fork();
		int status;

		CHECK(pid >= 0);
		if (!pid)
			traffic_forever();
		usleep(300000 + xrand(&rnd) % 700000);
		CHECK_EQ(kill(pid, SIGKILL), 0);
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		CHECK(WIFSIGNALED(status));
	}
	/* The guest script checks the device's resource counts afterwards. */
	return 0;
}

/*
 * The provider ABI: every operation libsodp installs is reached through
 * the public API and returns what only our code returns.
 */
CHECK_CASE(provider_abi)
{
	struct vt_dev d;
	struct ibv_device_attr_ex dx;
	struct ibv_port_attr pa;
	struct ibv_srq_init_attr sia = { .attr = { .max_wr = 10, .max_sge = 1 } };
	struct ibv_srq_attr sa;
	struct ibv_qp_attr qa;
	struct ibv_qp_init_attr qi;
	struct ibv_ah_attr aha = { .is_global = 1, .port_num = 1 };
	struct vt_qp a, b;
	struct ibv_srq *srq;
	struct ibv_ah *ah;
	char buf[64];
	struct ibv_mr *mr;
	struct ibv_sge s;
	struct ibv_wc wc;
	struct ibv_recv_wr rwr = { .num_sge = 1, .sg_list = &s }, *bad;

	CHECK_EQ(vt_open(&d), 0);		/* alloc_context, alloc_pd */
	CHECK_EQ(ibv_query_device_ex(d.ctx, NULL, &dx), 0);
	CHECK_EQ(dx.orig_attr.vendor_part_id, 0x50d9);
	{
		struct ibv_values_ex v = { .comp_mask = IBV_VALUES_MASK_RAW_CLOCK };

		CHECK_EQ(ibv_query_rt_values_ex(d.ctx, &v), 0);
		CHECK(v.raw_clock.tv_nsec > 0);
	}
	CHECK_EQ(ibv_query_port(d.ctx, 1, &pa), 0);
	CHECK_EQ(pa.link_layer, IBV_LINK_LAYER_ETHERNET);
	CHECK_EQ(pa.state, IBV_PORT_ACTIVE);
	mr = vt_reg(&d, buf, sizeof(buf), VT_ALL_ACCESS);
	CHECK(mr && mr->lkey);
	srq = ibv_create_srq(d.pd, &sia);
	CHECK(srq);
	CHECK_EQ(ibv_query_srq(srq, &sa), 0);
	CHECK_EQ(sa.max_wr, 16);		/* rounded to a power of two */
	sa.srq_limit = 2;
	CHECK_EQ(ibv_modify_srq(srq, &sa, IBV_SRQ_LIMIT), 0);
	s = (struct ibv_sge){ (uintptr_t)buf, 8, mr->lkey };
	CHECK_EQ(ibv_post_srq_recv(srq, &rwr, &bad), 0);
	CHECK_EQ(vt_qp_create(&d, &a, IBV_QPT_RC, 4, NULL, false), 0);
	CHECK_EQ(vt_qp_create(&d, &b, IBV_QPT_RC, 4, srq, false), 0);
	CHECK_EQ(vt_connect(&d, &a, &b), 0);
	CHECK_EQ(ibv_query_qp(a.qp, &qa, IBV_QP_STATE | IBV_QP_DEST_QPN, &qi), 0);
	CHECK_EQ(qa.qp_state, IBV_QPS_RTS);
	CHECK_EQ(qa.dest_qp_num, b.qp->qp_num);
	CHECK_EQ(ibv_req_notify_cq(a.scq, 0), 0);
	CHECK_EQ(vt_post_send(a.qp, IBV_WR_SEND, 1, &s, 1, 0, 0, 0), 0);
	CHECK_EQ(vt_poll(b.rcq, &wc, 10), 0);	/* poll_cq on our ring */
	CHECK_EQ(wc.qp_num, b.qp->qp_num);
	CHECK_EQ(ibv_resize_cq(a.scq, 100), 0);
	CHECK(a.scq->cqe >= 100);
	CHECK_EQ(vt_poll(a.scq, &wc, 10), 0);
	CHECK_EQ(vt_post_recv(a.qp, 2, &s, 1), 0);
	aha.grh.dgid = d.gid;
	aha.grh.sgid_index = d.gid_index;
	ah = ibv_create_ah(d.pd, &aha);
	CHECK(ah);
	CHECK_EQ(ibv_destroy_ah(ah), 0);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	CHECK_EQ(ibv_destroy_srq(srq), 0);
	CHECK_EQ(vt_dereg(mr), 0);
	vt_close(&d);				/* dealloc_pd, free_context */
	return 0;
}

/* Write a string to a cgroup file; 0 or -1. */
static int cg_write(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -1;
	ret = fputs(val, f) < 0 ? -1 : 0;
	return fclose(f) || ret ? -1 : 0;
}

#define CG_ROOT		"/sys/fs/cgroup"
#define CG_DIR		CG_ROOT "/sodp-rings"
#define CG_LIMIT	(64UL << 20)
#define RING_CQE	65535		/* the largest CQ: a 3 MiB ring */
#define RING_TRIES	100		/* 300 MiB of rings, well past the limit */

/*
 * In the cgroup: create the largest CQs until refused, saying the count
 * after each one (the cgroup's OOM killer may end the process instead of
 * a refusal), then the errno of the refusal.
 */
static int rings_child(int out)
{
	struct vt_dev d;
	struct ibv_cq *cq[RING_TRIES];
	char pid[32];
	int n = 0, err = 0;

	snprintf(pid, sizeof(pid), "%d", getpid());
	if (cg_write(CG_DIR "/cgroup.procs", pid)) {
		perror("joining " CG_DIR);
		return 1;
	}
	if (vt_open(&d)) {
		perror("opening the device in " CG_DIR);
		return 1;
	}
	while (n < RING_TRIES) {
		cq[n] = ibv_create_cq(d.ctx, RING_CQE, NULL, NULL, 0);
		if (!cq[n]) {
			err = errno;
			break;
		}
		n++;
		if (write(out, &n, sizeof(n)) != sizeof(n))
			return 1;
	}
	/* The end, negative: -1 - errno. */
	err = -1 - err;
	if (write(out, &err, sizeof(err)) != sizeof(err))
		return 1;
	while (n--)
		CHECK_CLEANUP(ibv_destroy_cq(cq[n]));
	vt_close(&d);
	return check_cleanup_failures() ? 1 : 0;
}

/*
 * The rings a process makes the kernel allocate are charged to its memory
 * cgroup: in a cgroup of 64 MiB, creating 3.5 MiB CQs ends (ENOMEM, or the
 * cgroup's OOM killer) before the rings pass the limit.  They used to be
 * vmalloc_user() memory charged to nobody: a user could take gigabytes of
 * kernel memory (4096 CQs of 3.5 MiB) past any limit.
 */
CHECK_CASE(rings_memcg)
{
	int fds[2], n = 0, v, err = 0, status;
	pid_t pid;

	if (access(CG_ROOT "/cgroup.controllers", F_OK) &&
	    system("mount -t cgroup2 none " CG_ROOT))
		return 1;
	CHECK_EQ(cg_write(CG_ROOT "/cgroup.subtree_control", "+memory"), 0);
	rmdir(CG_DIR);
	CHECK_EQ(mkdir(CG_DIR, 0755), 0);
	CHECK_EQ(cg_write(CG_DIR "/memory.max", "64M"), 0);
	CHECK_EQ(pipe(fds), 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid)
		_exit(rings_child(fds[1]));
	close(fds[1]);
	while (read(fds[0], &v, sizeof(v)) == sizeof(v)) {
		if (v < 0)
			err = -1 - v;
		else
			n = v;
	}
	close(fds[0]);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK_EQ(rmdir(CG_DIR), 0);
	printf("CQs of %d entries created in a 64 MiB cgroup: %d, then %s (status %#x)\n", RING_CQE, n,
	       WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : strerror(err), status);
	CHECK(n < RING_TRIES);
	CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
	      (WIFEXITED(status) && !WEXITSTATUS(status) && err == ENOMEM));
	/* struct sodp_cqe is 56 bytes. */
	CHECK((unsigned long)n * (RING_CQE + 1) * 56 <= CG_LIMIT);
	return 0;
}
