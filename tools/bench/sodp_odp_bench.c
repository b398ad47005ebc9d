// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-odp-bench: what on-demand paging costs as users meet it.
 *
 * "sodp-odp-bench" (the matrix): for each opcode (RDMA WRITE, RDMA READ,
 * SEND, UD SEND, atomics) and each placement of ODP (both sides pinned;
 * both ODP; the requester's side only; the responder's side only; one
 * implicit MR for both), two fresh regions are mapped as a user maps them
 * (no madvise: transparent huge pages as the system has them), the source
 * is written by the CPU, and messages walk the regions, DEPTH in flight:
 * first a cold pass (the device meets every page for the first time), then
 * warm passes over the same pages.  Every pass is checked word by word.
 * Sizes: 64 KiB messages over 64 MiB, 4 KiB messages over 16 MiB (UD: one
 * path-MTU message, atomics: one 8-byte atomic per 4 KiB page, over 16 MiB).
 * Then the CPU's own cost of first touch: memcpy of 64 KiB messages into
 * first-touched and into warm pages.  Prints one tab-separated row per
 * pass kind:
 *
 *	op  size  region  mrs  pass  value  unit  faulted  prefetched
 *	invalidated  resends
 *
 * value in MB/s (kops/s for atomics); the counters (4 KiB pages, and
 * packets resent) are the device's over that pass, or over all warm passes
 * for "warm", whose value is the best of WARM_ROUNDS.
 * $SODP_BENCH_MIB sets the big region's size (default 64),
 * $SODP_BENCH_ROUNDS the warm rounds (default 5).  Arguments
 * OP [MRS [SIZE]] (names as printed) select runs: "RDMA_WRITE 'ODP both' 4096".
 *
 * "sodp-odp-bench compare": one device's ODP against its pinned memory,
 * for any device with ODP (Debian's rxe has it on newer kernels): RDMA
 * WRITE, RDMA READ and SEND, 64 KiB messages over 16 MiB, pinned and ODP
 * (both sides, either side), with every message at the start of its slot and again
 * OFFSET_ODD bytes into it (source and destination unaligned alike).  A
 * data mismatch is counted, not fatal: each row also says how many bytes
 * of the pass arrived wrong and in how many messages.
 *
 * "sodp-odp-bench dmem": ODP over memory a device holds (the simulated device
 * memory of umem_hmm_test, which must be loaded): RDMA WRITE into and READ
 * out of a responder's ODP region of 64 MiB (64 KiB messages) whose pages
 * are in system memory, in device-private memory (every page the device
 * touches first migrates back) or in device-coherent memory (used in
 * place); the cold pass right after the region was moved there, the warm
 * passes after.  Prints "OP<TAB>MEM<TAB>cold|warm<TAB>MB/s<TAB>pages the
 * device's faults brought back from device memory", and the CPU's own
 * cold pass as "OP<TAB>MEM<TAB>cpu<TAB>MB/s<TAB>0": memcpy of 64 KiB
 * pieces into (WRITE) or out of (READ) such a region.
 *
 * "sodp-odp-bench registration NAME": the time to register 1 GiB the
 * process has touched, pinned and (where the device has ODP) ODP, on
 * $SODP_TEST_DEVICE; prints "NAME pinned<TAB>us" and "NAME ODP<TAB>us".
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "uht.h"
#include "vt.h"

#define DEPTH		16
#define WARM_ROUNDS	5
#define GRH_BYTES	40
#define QKEY		0x11
#define HUGE_UNIT	(2UL << 20)
#define OFFSET_ODD	1021

enum op { OP_WRITE, OP_READ, OP_SEND, OP_UD_SEND, OP_ATOMIC, NOP };
enum mrs { MRS_PINNED, MRS_ODP, MRS_ODP_REQ, MRS_ODP_RESP, MRS_IMPLICIT, NMRS };

static const char *const op_name[NOP] = {
	[OP_WRITE] = "RDMA_WRITE", [OP_READ] = "RDMA_READ", [OP_SEND] = "SEND",
	[OP_UD_SEND] = "UD_SEND", [OP_ATOMIC] = "ATOMIC",
};

static const char *const mrs_name[NMRS] = {
	[MRS_PINNED] = "pinned", [MRS_ODP] = "ODP both",
	[MRS_ODP_REQ] = "ODP requester", [MRS_ODP_RESP] = "ODP responder",
	[MRS_IMPLICIT] = "implicit ODP",
};

/*
 * Per pass: the device's counters, read around it (absent ones read 0),
 * then the bytes that arrived wrong and the messages they were in.
 */
enum { CNT_FAULTS, CNT_PREFETCHED, CNT_INVALIDATIONS, CNT_RESENDS, NDEVCNT,
       CNT_BAD = NDEVCNT, CNT_BAD_MSGS, NCNT };
static const char *const cnt_file[NDEVCNT] = {
	"page_faults", "page_prefetch", "page_invalidations", "odp_resends",
};

struct bench {
	struct vt_dev d;
	const char *dev;
	struct vt_qp rc_a, rc_b, ud_a, ud_b;
	struct ibv_ah *ah;
	struct ibv_mr *implicit, *grh_mr;
	char *grh;
	uint32_t mtu;
};

/* One (opcode, size, placement): two regions and how to walk them. */
struct run {
	enum op op;
	enum mrs mrs;
	size_t msg;		/* bytes per message */
	size_t stride;		/* bytes between messages */
	size_t len;		/* of each region */
	size_t n;		/* messages per pass */
	size_t off;		/* bytes into its slot each message starts */
	char *req, *resp;	/* the requester's and the responder's region */
	char *resp_map;		/* the mapping resp lies in */
	uint64_t *expect;	/* a message's words as the CPU wrote them */
	struct ibv_mr *req_mr, *resp_mr;
	uint64_t seed;		/* of the pass's data */
};

/* compare mode: a wrong byte is a result to report, not the end. */
static bool count_bad;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static char *fresh(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* The data: every 8-byte word says its seed (the pass) and its place. */
static uint64_t word(uint64_t seed, size_t i)
{
	return (seed << 48) ^ (i * 0x9e3779b97f4a7c15ULL);
}

static void fill(char *buf, size_t len, uint64_t seed)
{
	uint64_t *w = (uint64_t *)buf;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = word(seed, i);
}


/* A hw counter of @dev; absent: 0.  The caller waits out the core's cache. */
static long long read_counter(const char *dev, const char *name)
{
	char path[256];
	long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/1/hw_counters/%s",
		 dev, name);
	f = fopen(path, "r");
	if (f && fscanf(f, "%lld", &v) != 1)
		v = 0;
	if (f)
		fclose(f);
	return v;
}

static void read_counters(const char *dev, long long *v)
{
	/* The core caches hw counters for 10 ms: read past that. */
	usleep(20000);
	for (int i = 0; i < NDEVCNT; i++)
		v[i] = read_counter(dev, cnt_file[i]);
}

static struct ibv_mr *reg(struct bench *b, char *buf, size_t len, bool odp)
{
	struct ibv_mr *mr;

	if (odp && !buf)
		return b->implicit;
	mr = ibv_reg_mr(b->d.pd, buf, len,
			VT_ALL_ACCESS | (odp ? IBV_ACCESS_ON_DEMAND : 0));
	if (!mr)
		die("ibv_reg_mr");
	return mr;
}

/* The bytes of each region the messages cover, in whole words. */
static size_t span(const struct run *r)
{
	return (r->off + r->len + 7) & ~(size_t)7;
}

/* The region the CPU writes before a pass, and the one the device fills. */
static char *source(struct run *r)
{
	return r->op == OP_READ || r->op == OP_ATOMIC ? r->resp : r->req;
}

static char *sink(struct run *r)
{
	return r->op == OP_READ || r->op == OP_ATOMIC ? r->req : r->resp;
}

static void post_recv(struct bench *b, struct run *r, size_t i)
{
	struct ibv_sge sge[2] = {
		{ (uintptr_t)b->grh, GRH_BYTES, b->grh_mr->lkey },
		{ (uintptr_t)r->resp + r->off + i * r->stride, r->msg, r->resp_mr->lkey },
	};
	bool ud = r->op == OP_UD_SEND;

	if (vt_post_recv(ud ? b->ud_b.qp : b->rc_b.qp, i, ud ? sge : sge + 1,
			 ud ? 2 : 1))
		die("ibv_post_recv");
}

static void post_send(struct bench *b, struct run *r, size_t i)
{
	size_t off = r->off + i * r->stride;
	struct ibv_sge sge = { (uintptr_t)r->req + off, r->msg, r->req_mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = i, .sg_list = &sge, .num_sge = 1,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	uint64_t orig = word(r->seed, off / 8);
	struct ibv_qp *qp = b->rc_a.qp;

	switch (r->op) {
	case OP_WRITE:
	case OP_READ:
		wr.opcode = r->op == OP_WRITE ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ;
		wr.wr.rdma.remote_addr = (uintptr_t)r->resp + off;
		wr.wr.rdma.rkey = r->resp_mr->rkey;
		break;
	case OP_SEND:
		wr.opcode = IBV_WR_SEND;
		break;
	case OP_UD_SEND:
		wr.opcode = IBV_WR_SEND;
		wr.wr.ud.ah = b->ah;
		wr.wr.ud.remote_qpn = b->ud_b.qp->qp_num;
		wr.wr.ud.remote_qkey = QKEY;
		qp = b->ud_a.qp;
		break;
	case OP_ATOMIC:
		/* Even pages: add one; odd pages: swap in the complement. */
		wr.wr.atomic.remote_addr = (uintptr_t)r->resp + off;
		wr.wr.atomic.rkey = r->resp_mr->rkey;
		if (i % 2) {
			wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
			wr.wr.atomic.compare_add = orig;
			wr.wr.atomic.swap = ~orig;
		} else {
			wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
			wr.wr.atomic.compare_add = 1;
		}
		break;
	default:
		break;
	}
	if (ibv_post_send(qp, &wr, &bad))
		die("ibv_post_send");
}

/* Completions of one CQ: how many, each checked; dies after 60 s idle. */
static size_t reap(struct ibv_cq *cq)
{
	struct ibv_wc wc[DEPTH];
	int n = ibv_poll_cq(cq, DEPTH, wc);

	if (n < 0)
		die("ibv_poll_cq");
	for (int i = 0; i < n; i++)
		if (wc[i].status != IBV_WC_SUCCESS) {
			fprintf(stderr, "completion of %llu: %s\n",
				(unsigned long long)wc[i].wr_id,
				ibv_wc_status_str(wc[i].status));
			exit(1);
		}
	return n;
}

/* One pass over the regions: seconds. */
static double pass(struct bench *b, struct run *r)
{
	bool recv = r->op == OP_SEND || r->op == OP_UD_SEND;
	bool ud = r->op == OP_UD_SEND;
	struct ibv_cq *scq = ud ? b->ud_a.scq : b->rc_a.scq;
	struct ibv_cq *rcq = ud ? b->ud_b.rcq : b->rc_b.rcq;
	size_t posted = 0, done = 0, rposted = 0, rdone = recv ? 0 : r->n;
	double t0 = now_s(), idle = t0;

	while (done < r->n || rdone < r->n) {
		size_t got;

		/* A receive is posted before the send that lands in it. */
		while (recv && rposted < r->n && rposted - rdone < DEPTH)
			post_recv(b, r, rposted++);
		while (posted < r->n && posted - done < DEPTH &&
		       (!recv || posted < rposted))
			post_send(b, r, posted++);
		got = reap(scq);
		done += got;
		if (recv) {
			size_t rgot = reap(rcq);

			rdone += rgot;
			got += rgot;
		}
		if (got) {
			idle = now_s();
		} else if (now_s() - idle > 60) {
			fprintf(stderr, "%s %s: no completion for 60 s (%zu/%zu sent, %zu/%zu received)\n",
				op_name[r->op], mrs_name[r->mrs], done, r->n, rdone, r->n);
			exit(1);
		}
	}
	return now_s() - t0;
}

/* The byte ranges of message @i that arrived wrong. */
static void print_wrong(struct run *r, size_t i, const char *src, const char *dst)
{
	fprintf(stderr, "  %s %s, message %zu at offset %zu wrong in bytes:", op_name[r->op],
		mrs_name[r->mrs], i, r->off);
	for (size_t j = 0; j < r->msg; j++) {
		size_t k = j;

		if (src[j] == dst[j])
			continue;
		while (k + 1 < r->msg && src[k + 1] != dst[k + 1])
			k++;
		fprintf(stderr, " %zu-%zu", j, k);
		j = k;
	}
	fprintf(stderr, "\n");
}

/*
 * After a pass: each message's bytes in the sink are what the CPU wrote
 * into the source with this pass's seed (not the source as it is now, so
 * a device that wrote the source as well is caught; data of an earlier
 * pass shows by its seed).
 */
static void verify(struct run *r, long long *cnt)
{
	const char *what = op_name[r->op];

	if (r->op != OP_ATOMIC) {
		for (size_t i = 0; i < r->n; i++) {
			size_t off = r->off + i * r->stride, bad = 0;
			const char *src = (const char *)r->expect + off % 8, *dst = sink(r) + off;

			for (size_t w = 0; w < r->msg / 8 + 2; w++)
				r->expect[w] = word(r->seed, off / 8 + w);

			if (!memcmp(src, dst, r->msg))
				continue;
			for (size_t j = 0; j < r->msg; j++)
				bad += src[j] != dst[j];
			if (!count_bad) {
				fprintf(stderr, "%s %s: %zu bytes of message %zu wrong\n",
					what, mrs_name[r->mrs], bad, i);
				exit(1);
			}
			if (!cnt[CNT_BAD_MSGS] && getenv("SODP_BENCH_VERBOSE"))
				print_wrong(r, i, src, dst);
			cnt[CNT_BAD] += bad;
			cnt[CNT_BAD_MSGS]++;
		}
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		size_t w = i * r->stride / 8;
		uint64_t orig = word(r->seed, w);
		uint64_t now = ((uint64_t *)r->resp)[w];
		uint64_t fetched = ((uint64_t *)r->req)[w];

		if (fetched != orig || now != (i % 2 ? ~orig : orig + 1)) {
			fprintf(stderr, "%s %zu: fetched %#llx (not %#llx), memory %#llx\n",
				what, i, (unsigned long long)fetched,
				(unsigned long long)orig, (unsigned long long)now);
			exit(1);
		}
	}
}

static void print_row(struct run *r, const char *kind, double value,
		      const long long *cnt)
{
	printf("%s\t%zu\t%zu\t%s\t%s\t%.1f\t%s\t%lld\t%lld\t%lld\t%lld",
	       op_name[r->op], r->msg, r->len, mrs_name[r->mrs], kind, value,
	       r->op == OP_ATOMIC ? "kops/s" : "MB/s", cnt[CNT_FAULTS],
	       cnt[CNT_PREFETCHED], cnt[CNT_INVALIDATIONS], cnt[CNT_RESENDS]);
	/* compare mode: the offset, and the bytes and messages wrong. */
	if (count_bad)
		printf("\t%zu\t%lld\t%lld", r->off, cnt[CNT_BAD], cnt[CNT_BAD_MSGS]);
	printf("\n");
	fflush(stdout);
}

/* Map the regions of @r, write its source, register both. */
static void run_prepare(struct bench *b, struct run *r)
{
	bool req_odp = r->mrs != MRS_PINNED && r->mrs != MRS_ODP_RESP;
	bool resp_odp = r->mrs != MRS_PINNED && r->mrs != MRS_ODP_REQ;
	bool implicit = r->mrs == MRS_IMPLICIT;

	r->n = r->len / r->stride;
	r->req = fresh(r->len + 4096);
	/*
	 * The responder's region starts one page further into its 2 MiB unit
	 * than the requester's.  At equal offsets, the source and destination
	 * pages of every copy are equal offsets into two huge pages, which in
	 * a TCG guest share an entry of QEMU's direct-mapped TLB: each copy
	 * then runs 3-5x slower, pinned and ODP alike, in a lottery of
	 * physical placement that has nothing to do with ODP.
	 */
	r->resp_map = fresh(r->len + 4096 + HUGE_UNIT);
	r->resp = r->resp_map +
		  (((uintptr_t)r->req + 4096 - (uintptr_t)r->resp_map) % HUGE_UNIT);
	r->seed = 1;
	fill(source(r), span(r), r->seed);
	r->req_mr = reg(b, implicit ? NULL : r->req, span(r), req_odp);
	r->resp_mr = reg(b, implicit ? NULL : r->resp, span(r), resp_odp);
	r->expect = malloc(r->msg + 16);
	if (!r->expect)
		die("malloc");
}

static void run_release(struct run *r)
{
	if (r->mrs != MRS_IMPLICIT) {
		ibv_dereg_mr(r->req_mr);
		ibv_dereg_mr(r->resp_mr);
	}
	free(r->expect);
	munmap(r->req, r->len + 4096);
	munmap(r->resp_map, r->len + 4096 + HUGE_UNIT);
}

/* One checked pass with new data: MB/s (kops/s); the counters over it. */
static double run_pass(struct bench *b, struct run *r, long long *cnt)
{
	long long before[NDEVCNT], after[NDEVCNT];
	double t;

	if (r->seed > 1)
		fill(source(r), span(r), r->seed);
	read_counters(b->dev, before);
	t = pass(b, r);
	read_counters(b->dev, after);
	verify(r, cnt);
	r->seed++;
	for (int i = 0; i < NDEVCNT; i++)
		cnt[i] += after[i] - before[i];
	return r->op == OP_ATOMIC ? r->n / t / 1e3 : r->n * (double)r->msg / t / 1e6;
}

/* $SODP_BENCH_ROUNDS, or WARM_ROUNDS. */
static int warm_rounds(void)
{
	const char *v = getenv("SODP_BENCH_ROUNDS");

	return v && atoi(v) > 0 ? atoi(v) : WARM_ROUNDS;
}

/*
 * Every placement of ODP for one opcode and size, measured side by side:
 * the cold passes, then WARM_ROUNDS rounds of one warm pass each, the
 * order rotated each round (the speed of an emulated machine drifts; no
 * placement should always go first).  Warm: the best pass.
 */
static void run_group(struct bench *b, enum op op, size_t msg, size_t stride,
		      size_t len, size_t off, const bool *want)
{
	long long cold_cnt[NMRS][NCNT] = { 0 }, warm_cnt[NMRS][NCNT] = { 0 };
	double cold[NMRS] = { 0 }, warm[NMRS] = { 0 };
	struct run r[NMRS];

	for (int m = 0; m < NMRS; m++) {
		r[m] = (struct run){ .op = op, .mrs = m, .msg = msg, .stride = stride,
				     .len = len, .off = off };
		if (want[m])
			run_prepare(b, &r[m]);
	}
	for (int m = 0; m < NMRS; m++) {
		if (!want[m])
			continue;
		if (getenv("SODP_BENCH_VERBOSE"))
			fprintf(stderr, "  %s %zu %s: cold\n", op_name[op], msg, mrs_name[m]);
		cold[m] = run_pass(b, &r[m], cold_cnt[m]);
	}
	for (int round = 0; round < warm_rounds(); round++) {
		for (int i = 0; i < NMRS; i++) {
			int m = (i + round * 2) % NMRS;
			double v;

			if (!want[m])
				continue;
			v = run_pass(b, &r[m], warm_cnt[m]);
			if (getenv("SODP_BENCH_VERBOSE"))
				fprintf(stderr, "  %s %zu %s: %.1f\n", op_name[op], msg,
					mrs_name[m], v);
			warm[m] = v > warm[m] ? v : warm[m];
		}
	}
	for (int m = 0; m < NMRS; m++) {
		if (!want[m])
			continue;
		print_row(&r[m], "cold", cold[m], cold_cnt[m]);
		print_row(&r[m], "warm", warm[m], warm_cnt[m]);
		run_release(&r[m]);
	}
}

/* The CPU's own first touch: memcpy of 64 KiB messages into new pages. */
static void cpu_first_touch(size_t len)
{
	const size_t msg = 64 * 1024;
	char *src = fresh(msg), *dst = fresh(len);
	double t[2];

	fill(src, msg, 1);
	for (int p = 0; p < 2; p++) {
		double t0 = now_s();

		for (size_t off = 0; off < len; off += msg)
			memcpy(dst + off, src, msg);
		t[p] = now_s() - t0;
	}
	printf("memcpy\t%zu\t%zu\tCPU\tcold\t%.1f\tMB/s\t0\t0\t0\t0\n", msg, len,
	       len / t[0] / 1e6);
	printf("memcpy\t%zu\t%zu\tCPU\twarm\t%.1f\tMB/s\t0\t0\t0\t0\n", msg, len,
	       len / t[1] / 1e6);
	munmap(src, msg);
	munmap(dst, len);
}

/* @implicit: also one implicit ODP MR (not every device has them). */
static void setup(struct bench *b, bool implicit)
{
	struct ibv_port_attr port;

	b->dev = getenv("SODP_TEST_DEVICE") ?: "sodp0";
	if (vt_open(&b->d) || ibv_query_port(b->d.ctx, 1, &port))
		die("open");
	b->d.path_mtu = port.active_mtu;
	b->mtu = 128u << port.active_mtu;
	if (vt_pair(&b->d, &b->rc_a, &b->rc_b, DEPTH) ||
	    vt_qp_create(&b->d, &b->ud_a, IBV_QPT_UD, DEPTH, NULL, false) ||
	    vt_qp_create(&b->d, &b->ud_b, IBV_QPT_UD, DEPTH, NULL, false) ||
	    vt_ud_ready(&b->ud_a, QKEY) || vt_ud_ready(&b->ud_b, QKEY))
		die("QPs");
	b->ah = vt_ah(&b->d);
	b->grh = fresh(4096);
	b->grh_mr = ibv_reg_mr(b->d.pd, b->grh, 4096, IBV_ACCESS_LOCAL_WRITE);
	b->implicit = implicit ? ibv_reg_mr(b->d.pd, NULL, SIZE_MAX,
					    VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND) : NULL;
	if (!b->ah || !b->grh_mr || (implicit && !b->implicit))
		die("setup");
}

static void teardown(struct bench *b)
{
	if (b->implicit)
		ibv_dereg_mr(b->implicit);
	ibv_dereg_mr(b->grh_mr);
	ibv_destroy_ah(b->ah);
	vt_qp_destroy(&b->ud_a);
	vt_qp_destroy(&b->ud_b);
	vt_qp_destroy(&b->rc_a);
	vt_qp_destroy(&b->rc_b);
	vt_close(&b->d);
}

/* Does the command line (OP [MRS [SIZE]], empty: all) select this run? */
static bool selected(char **sel, int nsel, int op, int mrs, size_t msg)
{
	return (nsel < 1 || !strcmp(sel[0], op_name[op])) &&
	       (nsel < 2 || !strcmp(sel[1], mrs_name[mrs])) &&
	       (nsel < 3 || strtoul(sel[2], NULL, 0) == msg);
}

static int matrix(char **sel, int nsel)
{
	const char *mib = getenv("SODP_BENCH_MIB");
	size_t big = (mib ? strtoul(mib, NULL, 0) : 64) << 20, small = big / 4;
	struct bench b;

	setup(&b, true);
	for (int op = 0; op < NOP; op++) {
		bool want[NMRS], want_small[NMRS];

		for (int m = 0; m < NMRS; m++) {
			want[m] = selected(sel, nsel, op, m, op == OP_UD_SEND ? b.mtu :
					   op == OP_ATOMIC ? 8 : 64 * 1024);
			want_small[m] = selected(sel, nsel, op, m, 4096);
		}
		switch (op) {
		case OP_UD_SEND:
			run_group(&b, op, b.mtu, b.mtu, small, 0, want);
			break;
		case OP_ATOMIC:
			run_group(&b, op, 8, 4096, small, 0, want);
			break;
		default:
			run_group(&b, op, 64 * 1024, 64 * 1024, big, 0, want);
			run_group(&b, op, 4096, 4096, small, 0, want_small);
			break;
		}
	}
	if (!nsel)
		cpu_first_touch(big);
	teardown(&b);
	return 0;
}

static int compare(void)
{
	static const enum op ops[] = { OP_WRITE, OP_READ, OP_SEND };
	const bool want[NMRS] = { [MRS_PINNED] = true, [MRS_ODP] = true,
				  [MRS_ODP_REQ] = true, [MRS_ODP_RESP] = true };
	struct bench b;

	count_bad = true;
	setup(&b, false);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		run_group(&b, ops[i], 64 * 1024, 64 * 1024, 16 << 20, 0, want);
		run_group(&b, ops[i], 64 * 1024, 64 * 1024, 16 << 20, OFFSET_ODD, want);
	}
	teardown(&b);
	return 0;
}

/* The CPU's cold pass over 64 MiB that was just moved to @mem: MB/s. */
static double dmem_cpu(enum op op, uint32_t mem)
{
	const size_t len = 64 << 20, msg = 64 * 1024;
	char *region = fresh(len), *buf = fresh(msg);
	uint64_t moved = 0;
	double t0;

	fill(region, len, 3);
	fill(buf, msg, 4);
	if (mem != UMEM_HMM_TEST_MEM_SYSTEM &&
	    (uht_migrate(region, len, mem, &moved) || moved != len / 4096))
		die("moving the region to device memory");
	t0 = now_s();
	for (size_t off = 0; off < len; off += msg) {
		if (op == OP_WRITE)
			memcpy(region + off, buf, msg);
		else
			memcpy(buf, region + off, msg);
	}
	t0 = now_s() - t0;
	munmap(region, len);
	munmap(buf, msg);
	return len / t0 / 1e6;
}

static int dmem(void)
{
	static const enum op ops[] = { OP_WRITE, OP_READ };
	static const char *const mem_name[] = {
		[UMEM_HMM_TEST_MEM_SYSTEM] = "system",
		[UMEM_HMM_TEST_MEM_PRIVATE] = "device-private",
		[UMEM_HMM_TEST_MEM_COHERENT] = "device-coherent",
	};
	struct umem_hmm_test_dmem_stats st = {};
	struct bench b;

	if (uht_open() || uht_dmem_stats(&st) || !st.private_pages)
		die("no device memory (umem_hmm_test on a kernel with DEVICE_PRIVATE)");
	setup(&b, false);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		for (uint32_t mem = UMEM_HMM_TEST_MEM_SYSTEM;
		     mem <= UMEM_HMM_TEST_MEM_COHERENT; mem++) {
			struct run r = { .op = ops[i], .mrs = MRS_ODP_RESP,
					 .msg = 64 * 1024, .stride = 64 * 1024,
					 .len = 64 << 20 };
			long long cnt[NCNT] = { 0 }, from;
			uint64_t moved = 0;
			double cold, warm = 0;

			if (mem == UMEM_HMM_TEST_MEM_COHERENT && !st.coherent_pages)
				continue;
			run_prepare(&b, &r);
			/* Pages exist wherever they live: no pass allocates. */
			if (r.op == OP_WRITE)
				memset(r.resp, 0, r.len);
			if (mem != UMEM_HMM_TEST_MEM_SYSTEM &&
			    (uht_migrate(r.resp, r.len, mem, &moved) || moved != r.len / 4096))
				die("moving the region to device memory");
			usleep(20000);
			from = read_counter(b.dev, "odp_pages_from_device");
			cold = run_pass(&b, &r, cnt);
			usleep(20000);
			from = read_counter(b.dev, "odp_pages_from_device") - from;
			for (int round = 0; round < warm_rounds(); round++) {
				double v = run_pass(&b, &r, cnt);

				warm = v > warm ? v : warm;
			}
			printf("%s\t%s\tcold\t%.1f\t%lld\n", op_name[r.op], mem_name[mem],
			       cold, from);
			printf("%s\t%s\twarm\t%.1f\t0\n", op_name[r.op], mem_name[mem], warm);
			run_release(&r);
			printf("%s\t%s\tcpu\t%.1f\t0\n", op_name[r.op], mem_name[mem],
			       dmem_cpu(r.op, mem));
			fflush(stdout);
		}
	}
	teardown(&b);
	return 0;
}

static double reg_time(struct vt_dev *d, char *buf, size_t len, int access)
{
	double t0 = now_s();
	struct ibv_mr *mr = ibv_reg_mr(d->pd, buf, len, access);
	double t = now_s() - t0;

	if (!mr)
		die("reg_mr");
	ibv_dereg_mr(mr);
	return t;
}

/* Best of three, each kind in its own loop. */
static double best_reg_time(struct vt_dev *d, char *buf, size_t len, int access)
{
	double best = 1e9;

	for (int i = 0; i < 3; i++) {
		double t = reg_time(d, buf, len, access);

		best = t < best ? t : best;
	}
	return best;
}

static int registration(const char *name)
{
	const size_t gib = 1UL << 30;
	struct ibv_device_attr_ex attr;
	char *big = fresh(gib);
	struct vt_dev d;

	if (vt_open(&d))
		die("open");
	/*
	 * Right after a 1 GiB unpin the system is still busy with it, which
	 * is not the cost of the registration that follows: hence loops.
	 */
	memset(big, 3, gib);
	printf("%s pinned\t%.1f\n", name, best_reg_time(&d, big, gib, VT_ALL_ACCESS) * 1e6);
	if (!ibv_query_device_ex(d.ctx, NULL, &attr) &&
	    (attr.odp_caps.general_caps & IBV_ODP_SUPPORT))
		printf("%s ODP\t%.1f\n", name,
		       best_reg_time(&d, big, gib, VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND) * 1e6);
	munmap(big, gib);
	vt_close(&d);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "registration"))
		return registration(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "compare"))
		return compare();
	if (argc == 2 && !strcmp(argv[1], "dmem"))
		return dmem();
	if (argc > 4 || (argc > 1 && (!strcmp(argv[1], "registration") ||
				      !strcmp(argv[1], "compare") ||
				      !strcmp(argv[1], "dmem")))) {
		fprintf(stderr, "usage: %s [OP [MRS [SIZE]]] | compare | dmem | registration NAME\n",
			argv[0]);
		return 2;
	}
	return matrix(argv + 1, argc - 1);
}
