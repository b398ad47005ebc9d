// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libsodp: the rdma-core provider of rdma_sodp devices.  Device matching,
 * contexts, device and port queries, PDs, MRs and AHs; the data path is in
 * sodp_cq.c, sodp_qp.c and sodp_srq.c.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/rdma_user_ioctl.h>

#include "sodp.h"

int sodp_uring_map(struct sodp_uring *q, int cmd_fd,
		   const struct sodp_ring_info *info, uint32_t slot_size)
{
	void *p;

	if (!info->num_slots || (info->num_slots & (info->num_slots - 1)) ||
	    info->size < SODP_RING_HDR_SIZE + (size_t)info->num_slots * slot_size)
		return EINVAL;
	p = mmap(NULL, info->size, PROT_READ | PROT_WRITE, MAP_SHARED, cmd_fd,
		 info->offset);
	if (p == MAP_FAILED)
		return errno;
	/* A forked child must not reach the parent's queues. */
	madvise(p, info->size, MADV_DONTFORK);
	q->ring = p;
	q->size = info->size;
	q->num_slots = info->num_slots;
	q->slot_size = slot_size;
	return 0;
}

void sodp_uring_unmap(struct sodp_uring *q)
{
	if (q->ring)
		munmap(q->ring, q->size);
	q->ring = NULL;
}

static int sodp_query_device_ex(struct ibv_context *ctx,
				const struct ibv_query_device_ex_input *input,
				struct ibv_device_attr_ex *attr, size_t attr_size)
{
	struct ib_uverbs_ex_query_device_resp resp;
	size_t resp_size = sizeof(resp);

	return ibv_cmd_query_device_any(ctx, input, attr, attr_size, &resp,
					&resp_size);
}

static int sodp_query_port(struct ibv_context *ctx, uint8_t port,
			   struct ibv_port_attr *attr)
{
	struct sodp_cmd_query_port cmd;

	return ibv_cmd_query_port(ctx, port, attr, &cmd, sizeof(cmd));
}

static struct ibv_pd *sodp_alloc_pd(struct ibv_context *ctx)
{
	struct sodp_cmd_alloc_pd cmd;
	struct ib_uverbs_alloc_pd_resp resp;
	struct sodp_pd *pd = calloc(1, sizeof(*pd));
	int ret;

	if (!pd)
		return NULL;
	ret = ibv_cmd_alloc_pd(ctx, &pd->ibv_pd, &cmd, sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(pd);
		errno = ret;
		return NULL;
	}
	return &pd->ibv_pd;
}

/* A PD goes after its parent domains, a parent domain on its own. */
static int sodp_dealloc_pd(struct ibv_pd *ibpd)
{
	struct sodp_pd *pd = to_spd(ibpd);
	int ret;

	if (pd->protection_domain) {
		if (atomic_load(&pd->users))
			return EBUSY;
		atomic_fetch_sub(&pd->protection_domain->users, 1);
		if (pd->td)
			atomic_fetch_sub(&pd->td->users, 1);
		free(pd);
		return 0;
	}
	if (atomic_load(&pd->users))
		return EBUSY;
	ret = ibv_cmd_dealloc_pd(ibpd);
	if (!ret)
		free(pd);
	return ret;
}

static struct ibv_td *sodp_alloc_td(struct ibv_context *ctx,
				    struct ibv_td_init_attr *attr)
{
	struct sodp_td *td;

	if (attr->comp_mask) {
		errno = EINVAL;
		return NULL;
	}
	td = calloc(1, sizeof(*td));
	if (!td) {
		errno = ENOMEM;
		return NULL;
	}
	td->ibv_td.context = ctx;
	return &td->ibv_td;
}

static int sodp_dealloc_td(struct ibv_td *ibtd)
{
	struct sodp_td *td = container_of(ibtd, struct sodp_td, ibv_td);

	if (atomic_load(&td->users))
		return EBUSY;
	free(td);
	return 0;
}

static struct ibv_pd *
sodp_alloc_parent_domain(struct ibv_context *ctx,
			 struct ibv_parent_domain_init_attr *attr)
{
	struct sodp_pd *pd;

	if (!attr->pd || attr->pd->context != ctx ||
	    to_spd(attr->pd)->protection_domain ||
	    (attr->td && attr->td->context != ctx) ||
	    (attr->comp_mask & ~(IBV_PARENT_DOMAIN_INIT_ATTR_ALLOCATORS |
				 IBV_PARENT_DOMAIN_INIT_ATTR_PD_CONTEXT))) {
		errno = EINVAL;
		return NULL;
	}
	pd = calloc(1, sizeof(*pd));
	if (!pd) {
		errno = ENOMEM;
		return NULL;
	}
	/* The same handle: every command on it names the PD. */
	pd->ibv_pd.context = ctx;
	pd->ibv_pd.handle = attr->pd->handle;
	pd->protection_domain = to_spd(attr->pd);
	atomic_fetch_add(&pd->protection_domain->users, 1);
	if (attr->td) {
		pd->td = container_of(attr->td, struct sodp_td, ibv_td);
		atomic_fetch_add(&pd->td->users, 1);
	}
	return &pd->ibv_pd;
}

static struct ibv_mr *sodp_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
				  uint64_t hca_va, int access)
{
	struct sodp_cmd_reg_mr cmd;
	struct ib_uverbs_reg_mr_resp resp;
	struct verbs_mr *vmr = calloc(1, sizeof(*vmr));
	int ret;

	if (!vmr)
		return NULL;
	ret = ibv_cmd_reg_mr(pd, addr, length, hca_va, access, vmr, &cmd,
			     sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(vmr);
		errno = ret;
		return NULL;
	}
	return &vmr->ibv_mr;
}

static int sodp_rereg_mr(struct verbs_mr *vmr, int flags, struct ibv_pd *pd,
			 void *addr, size_t length, int access)
{
	struct sodp_cmd_rereg_mr cmd;
	struct ib_uverbs_rereg_mr_resp resp;

	return ibv_cmd_rereg_mr(vmr, flags, addr, length, (uintptr_t)addr,
				access, pd, &cmd, sizeof(cmd), &resp, sizeof(resp));
}

static int sodp_advise_mr(struct ibv_pd *pd, enum ibv_advise_mr_advice advice,
			  uint32_t flags, struct ibv_sge *sg_list, uint32_t num_sge)
{
	return ibv_cmd_advise_mr(pd, advice, flags, sg_list, num_sge);
}

static int sodp_dereg_mr(struct verbs_mr *vmr)
{
	int ret = ibv_cmd_dereg_mr(vmr);

	if (!ret)
		free(vmr);
	return ret;
}

static struct ibv_mw *sodp_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type)
{
	struct sodp_cmd_alloc_mw cmd;
	struct ib_uverbs_alloc_mw_resp resp;
	struct sodp_mw *mw = calloc(1, sizeof(*mw));
	int ret;

	if (!mw) {
		errno = ENOMEM;
		return NULL;
	}
	ret = ibv_cmd_alloc_mw(pd, type, &mw->ibv_mw, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret) {
		free(mw);
		errno = ret;
		return NULL;
	}
	mw->pd_handle = pd->handle;
	return &mw->ibv_mw;
}

static int sodp_dealloc_mw(struct ibv_mw *mw)
{
	int ret = ibv_cmd_dealloc_mw(mw);

	if (!ret)
		free(to_smw(mw));
	return ret;
}

/* ibv_bind_mw(): a type 1 window, bound by a BIND_MW in the send queue. */
static int sodp_bind_mw(struct ibv_qp *qp, struct ibv_mw *mw,
			struct ibv_mw_bind *mw_bind)
{
	struct ibv_send_wr wr = {
		.wr_id = mw_bind->wr_id,
		.opcode = IBV_WR_BIND_MW,
		.send_flags = mw_bind->send_flags,
		.bind_mw = {
			.mw = mw,
			.rkey = ibv_inc_rkey(mw->rkey),
			.bind_info = mw_bind->bind_info,
		},
	}, *bad;
	int ret;

	/*
	 * An XRC target QP has no send queue (nor, opened, a PD); a handle
	 * names a PD of its command file only.
	 */
	if (mw->type != IBV_MW_TYPE_1 || qp->qp_type == IBV_QPT_XRC_RECV ||
	    mw->context->cmd_fd != qp->context->cmd_fd ||
	    to_smw(mw)->pd_handle != to_sqp(qp)->pd_handle)
		return EINVAL;
	ret = sodp_post_send(qp, &wr, &bad);
	if (!ret)
		mw->rkey = wr.bind_mw.rkey;
	return ret;
}

static struct ibv_ah *sodp_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct {
		struct ib_uverbs_create_ah_resp ibv;
		struct sodp_create_ah_resp drv;
	} resp = {};
	struct sodp_ah *ah = calloc(1, sizeof(*ah));
	int ret;

	if (!ah)
		return NULL;
	ret = ibv_cmd_create_ah(pd, &ah->ibv_ah, attr, &resp, sizeof(resp));
	if (ret) {
		free(ah);
		errno = ret;
		return NULL;
	}
	ah->ah_num = resp.drv.ah_num;
	return &ah->ibv_ah;
}

static int sodp_destroy_ah(struct ibv_ah *ibah)
{
	int ret = ibv_cmd_destroy_ah(ibah);

	if (!ret)
		free(to_sah(ibah));
	return ret;
}

/*
 * The device's clock is the one its completion timestamps are read on:
 * CLOCK_MONOTONIC in nanoseconds (hca_core_clock says 1 GHz), given raw
 * in tv_nsec as other providers give their counters.
 */
static int sodp_query_rt_values(struct ibv_context *ibctx,
				struct ibv_values_ex *values)
{
	struct timespec now;

	if (!(to_sctx(ibctx)->flags & SODP_CTX_CQE_TIMESTAMP))
		return EOPNOTSUPP;
	if (values->comp_mask & ~IBV_VALUES_MASK_RAW_CLOCK)
		return EINVAL;
	if (values->comp_mask & IBV_VALUES_MASK_RAW_CLOCK) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		values->raw_clock.tv_sec = 0;
		values->raw_clock.tv_nsec = now.tv_sec * 1000000000LL + now.tv_nsec;
	}
	return 0;
}

static void sodp_free_context(struct ibv_context *ibctx)
{
	struct sodp_context *ctx = to_sctx(ibctx);

	verbs_uninit_context(&ctx->ibv_ctx);
	free(ctx);
}

/*
 * Another process's PD and MR, by handle, in a context imported from its
 * command fd (ibv_import_device()).  A PD is only its handle here; an MR
 * the kernel describes (ibv_cmd_query_mr() checks the handle).  Unimported,
 * they stay the other process's.
 */
static struct ibv_pd *sodp_import_pd(struct ibv_context *ctx, uint32_t pd_handle)
{
	struct sodp_pd *pd = calloc(1, sizeof(*pd));

	if (!pd)
		return NULL;
	pd->ibv_pd.context = ctx;
	pd->ibv_pd.handle = pd_handle;
	return &pd->ibv_pd;
}

/* Only what ibv_import_pd() made: a parent domain, or a PD one uses, stays. */
static void sodp_unimport_pd(struct ibv_pd *ibpd)
{
	struct sodp_pd *pd = to_spd(ibpd);

	if (pd->protection_domain || atomic_load(&pd->users))
		return;
	free(pd);
}

static struct ibv_mr *sodp_import_mr(struct ibv_pd *pd, uint32_t mr_handle)
{
	struct verbs_mr *vmr = calloc(1, sizeof(*vmr));
	int ret;

	if (!vmr)
		return NULL;
	ret = ibv_cmd_query_mr(pd, vmr, mr_handle);
	if (ret) {
		free(vmr);
		errno = ret;
		return NULL;
	}
	return &vmr->ibv_mr;
}

static void sodp_unimport_mr(struct ibv_mr *ibmr)
{
	free(container_of(ibmr, struct verbs_mr, ibv_mr));
}

static const struct verbs_context_ops sodp_ctx_ops = {
	.advise_mr = sodp_advise_mr,
	.alloc_mw = sodp_alloc_mw,
	.alloc_parent_domain = sodp_alloc_parent_domain,
	.alloc_pd = sodp_alloc_pd,
	.alloc_td = sodp_alloc_td,
	.attach_mcast = ibv_cmd_attach_mcast,
	.bind_mw = sodp_bind_mw,
	.close_xrcd = sodp_close_xrcd,
	.create_ah = sodp_create_ah,
	.create_cq = sodp_create_cq,
	.create_cq_ex = sodp_create_cq_ex,
	.create_qp = sodp_create_qp,
	.create_qp_ex = sodp_create_qp_ex,
	.create_srq = sodp_create_srq,
	.create_srq_ex = sodp_create_srq_ex,
	.dealloc_mw = sodp_dealloc_mw,
	.dealloc_pd = sodp_dealloc_pd,
	.dealloc_td = sodp_dealloc_td,
	.dereg_mr = sodp_dereg_mr,
	.destroy_ah = sodp_destroy_ah,
	.destroy_cq = sodp_destroy_cq,
	.destroy_qp = sodp_destroy_qp,
	.destroy_srq = sodp_destroy_srq,
	.detach_mcast = ibv_cmd_detach_mcast,
	.free_context = sodp_free_context,
	.get_srq_num = sodp_get_srq_num,
	.import_mr = sodp_import_mr,
	.import_pd = sodp_import_pd,
	.modify_qp = sodp_modify_qp,
	.modify_srq = sodp_modify_srq,
	.open_qp = sodp_open_qp,
	.open_xrcd = sodp_open_xrcd,
	.poll_cq = sodp_poll_cq,
	.post_recv = sodp_post_recv,
	.post_send = sodp_post_send,
	.post_srq_recv = sodp_post_srq_recv,
	.query_device_ex = sodp_query_device_ex,
	.query_port = sodp_query_port,
	.query_qp = sodp_query_qp,
	.query_rt_values = sodp_query_rt_values,
	.query_srq = sodp_query_srq,
	.reg_mr = sodp_reg_mr,
	.req_notify_cq = sodp_req_notify_cq,
	.rereg_mr = sodp_rereg_mr,
	.resize_cq = sodp_resize_cq,
	.unimport_mr = sodp_unimport_mr,
	.unimport_pd = sodp_unimport_pd,
};

static struct verbs_context *sodp_alloc_context(struct ibv_device *ibdev,
						int cmd_fd, void *private_data)
{
	struct sodp_cmd_get_context cmd;
	struct {
		struct ib_uverbs_get_context_resp ibv;
		struct sodp_alloc_ucontext_resp drv;
	} resp = {};
	struct sodp_context *ctx;

	ctx = _verbs_init_and_alloc_context(ibdev, cmd_fd, sizeof(*ctx),
					    &((struct sodp_context *)NULL)->ibv_ctx,
					    RDMA_DRIVER_UNKNOWN);
	if (!ctx)
		return NULL;
	if (sodp_ibv_cmd_get_context(&ctx->ibv_ctx, &cmd, sizeof(cmd), &resp,
				     sizeof(resp))) {
		verbs_uninit_context(&ctx->ibv_ctx);
		free(ctx);
		return NULL;
	}
	ctx->max_sge = resp.drv.max_sge;
	ctx->max_inline = resp.drv.max_inline;
	ctx->flags = resp.drv.flags;
	verbs_set_ops(&ctx->ibv_ctx, &sodp_ctx_ops);
	return &ctx->ibv_ctx;
}

/*
 * The response of the context's creation, which an importing process never
 * saw: the driver's attribute of UVERBS_METHOD_QUERY_CONTEXT.
 */
static int sodp_query_context_resp(int cmd_fd, struct sodp_alloc_ucontext_resp *resp)
{
	struct {
		struct ib_uverbs_ioctl_hdr hdr;
		struct ib_uverbs_attr attr;
	} req = {
		.hdr = {
			.length = sizeof(req), .object_id = UVERBS_OBJECT_DEVICE,
			.method_id = UVERBS_METHOD_QUERY_CONTEXT, .num_attrs = 1,
			.driver_id = RDMA_DRIVER_UNKNOWN,
		},
		.attr = {
			.attr_id = SODP_ATTR_QUERY_CONTEXT_RESP_UCTX,
			.len = sizeof(*resp), .data = (uintptr_t)resp,
		},
	};

	return ioctl(cmd_fd, RDMA_VERBS_IOCTL, &req) ? errno : 0;
}

/* ibv_import_device(): a context of another process's command fd. */
static struct verbs_context *sodp_import_context(struct ibv_device *ibdev, int cmd_fd)
{
	struct sodp_alloc_ucontext_resp resp = {};
	struct sodp_context *ctx;
	int ret;

	ctx = _verbs_init_and_alloc_context(ibdev, cmd_fd, sizeof(*ctx),
					    &((struct sodp_context *)NULL)->ibv_ctx,
					    RDMA_DRIVER_UNKNOWN);
	if (!ctx)
		return NULL;
	ret = ibv_cmd_query_context(&ctx->ibv_ctx.context, NULL);
	if (!ret)
		ret = sodp_query_context_resp(cmd_fd, &resp);
	if (ret) {
		verbs_uninit_context(&ctx->ibv_ctx);
		free(ctx);
		errno = ret;
		return NULL;
	}
	ctx->max_sge = resp.max_sge;
	ctx->max_inline = resp.max_inline;
	ctx->flags = resp.flags;
	verbs_set_ops(&ctx->ibv_ctx, &sodp_ctx_ops);
	return &ctx->ibv_ctx;
}

static struct verbs_device *sodp_alloc_device(struct verbs_sysfs_dev *sysfs_dev)
{
	return calloc(1, sizeof(struct verbs_device));
}

static void sodp_uninit_device(struct verbs_device *vdev)
{
	free(vdev);
}

static const struct verbs_match_ent sodp_match_table[] = {
	VERBS_NAME_MATCH("sodp", NULL),
	{},
};

static const struct verbs_device_ops sodp_dev_ops = {
	.name = "sodp",
	.match_min_abi_version = SODP_UVERBS_ABI_VERSION,
	.match_max_abi_version = SODP_UVERBS_ABI_VERSION,
	.match_table = sodp_match_table,
	.alloc_device = sodp_alloc_device,
	.uninit_device = sodp_uninit_device,
	.alloc_context = sodp_alloc_context,
	.import_context = sodp_import_context,
};

static __attribute__((constructor)) void sodp_register_driver(void)
{
	verbs_register_driver(&sodp_dev_ops);
}
