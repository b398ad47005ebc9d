// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: device and port attributes, user contexts, mmap of the rings,
 * protection domains, address handles, and the verbs table.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <net/addrconf.h>
#include <rdma/ib_addr.h>
#include <rdma/ib_cache.h>
#include <rdma/ib_mad.h>
#include <rdma/uverbs_ioctl.h>

#define UVERBS_MODULE_NAME sodp_ib
#include <rdma/uverbs_named_ioctl.h>

#include "sodp.h"

static int sodp_query_device(struct ib_device *ibdev, struct ib_device_attr *attr,
			     struct ib_udata *udata)
{
	/* The core also asks with no udata (at registration, on newer kernels). */
	if (udata && (udata->inlen || udata->outlen))
		return -EINVAL;

	memset(attr, 0, sizeof(*attr));
	attr->fw_ver = 1;
	attr->sys_image_guid = ibdev->node_guid;
	attr->max_mr_size = U64_MAX;
	attr->page_size_cap = PAGE_SIZE;
	attr->vendor_id = 0xffffff;
	attr->vendor_part_id = 0x50d9;
	attr->hw_ver = 1;
	attr->max_qp = SODP_MAX_QP;
	attr->max_qp_wr = SODP_MAX_QP_WR;
	/*
	 * Memory management extensions (fast registration, invalidation)
	 * and memory windows of type 1 and 2B.
	 */
	attr->device_cap_flags = IB_DEVICE_BAD_PKEY_CNTR | IB_DEVICE_BAD_QKEY_CNTR |
				 IB_DEVICE_SYS_IMAGE_GUID | IB_DEVICE_RC_RNR_NAK_GEN |
				 IB_DEVICE_SRQ_RESIZE | IB_DEVICE_MEM_MGT_EXTENSIONS |
				 IB_DEVICE_MEM_WINDOW | IB_DEVICE_MEM_WINDOW_TYPE_2B |
				 IB_DEVICE_XRC;
	/* An atomic write is an 8-byte store: 64-bit kernels only. */
	if (IS_ENABLED(CONFIG_64BIT))
		attr->device_cap_flags |= SODP_DEVICE_ATOMIC_WRITE;
	attr->max_mw = SODP_MAX_MW;
	attr->max_fast_reg_page_list_len = SODP_MAX_FAST_REG_PAGES;
	attr->kernel_cap_flags = IBK_ALLOW_USER_UNREG | IBK_ON_DEMAND_PAGING;
	/* What the engine faults through ib_umem_hmm, and tests show. */
	attr->odp_caps.general_caps = IB_ODP_SUPPORT | IB_ODP_SUPPORT_IMPLICIT;
	attr->odp_caps.per_transport_caps.rc_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV | IB_ODP_SUPPORT_WRITE |
		IB_ODP_SUPPORT_READ | IB_ODP_SUPPORT_ATOMIC | IB_ODP_SUPPORT_SRQ_RECV;
	attr->odp_caps.per_transport_caps.xrc_odp_caps =
		attr->odp_caps.per_transport_caps.rc_odp_caps;
	attr->odp_caps.per_transport_caps.ud_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV | IB_ODP_SUPPORT_SRQ_RECV;
	attr->max_send_sge = SODP_MAX_SGE;
	attr->max_recv_sge = SODP_MAX_SGE;
	attr->max_sge_rd = SODP_MAX_SGE;
	attr->max_cq = SODP_MAX_CQ;
	attr->max_cqe = SODP_MAX_CQE - 1;
	attr->max_mr = SODP_MAX_MR;
	attr->max_pd = SODP_MAX_PD;
	attr->max_qp_rd_atom = SODP_MAX_RD_ATOMIC;
	attr->max_qp_init_rd_atom = SODP_MAX_INIT_RD_ATOMIC;
	attr->max_res_rd_atom = SODP_MAX_RD_ATOMIC * SODP_MAX_QP;
	attr->atomic_cap = IB_ATOMIC_HCA;
	attr->max_ah = SODP_MAX_AH;
	attr->max_srq = SODP_MAX_SRQ;
	attr->max_srq_wr = SODP_MAX_SRQ_WR;
	attr->max_srq_sge = SODP_MAX_SGE;
	attr->max_mcast_grp = SODP_MAX_MCAST_GRP;
	attr->max_mcast_qp_attach = SODP_MAX_MCAST_QP_ATTACH;
	attr->max_total_mcast_qp_attach = SODP_MAX_MCAST_GRP * SODP_MAX_MCAST_QP_ATTACH;
	attr->max_pkeys = 1;
	attr->local_ca_ack_delay = 15;
	/* Completion timestamps count nanoseconds (a 1 GHz clock). */
	attr->hca_core_clock = 1000000;
	attr->timestamp_mask = U64_MAX;
	return 0;
}

static int sodp_query_port(struct ib_device *ibdev, u32 port,
			   struct ib_port_attr *attr)
{
	struct net_device *ndev = to_sdev(ibdev)->ndev;
	bool up = netif_running(ndev) && netif_carrier_ok(ndev);

	/* The core cleared *attr and fills the GID/pkey table lengths. */
	attr->state = up ? IB_PORT_ACTIVE : IB_PORT_DOWN;
	attr->phys_state = up ? IB_PORT_PHYS_STATE_LINK_UP :
				IB_PORT_PHYS_STATE_DISABLED;
	attr->max_mtu = IB_MTU_4096;
	attr->active_mtu = ib_mtu_int_to_enum(sodp_port_mtu(to_sdev(ibdev)));
	attr->gid_tbl_len = SODP_GID_TABLE_LEN;
	attr->port_cap_flags = IB_PORT_CM_SUP;
	attr->max_msg_sz = SODP_MAX_MSG_SIZE;
	attr->bad_pkey_cntr = 0;
	attr->qkey_viol_cntr = 0;
	attr->pkey_tbl_len = 1;
	attr->lid = 0;
	attr->sm_lid = 0;
	attr->lmc = 0;
	attr->max_vl_num = 1;
	attr->active_width = IB_WIDTH_4X;
	attr->active_speed = IB_SPEED_EDR;
	return 0;
}

static int sodp_get_port_immutable(struct ib_device *ibdev, u32 port,
				   struct ib_port_immutable *imm)
{
	struct ib_port_attr attr = {};
	int ret = ib_query_port(ibdev, port, &attr);

	if (ret)
		return ret;
	imm->core_cap_flags = RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP;
	imm->pkey_tbl_len = attr.pkey_tbl_len;
	imm->gid_tbl_len = attr.gid_tbl_len;
	imm->max_mad_size = IB_MGMT_MAD_SIZE;
	return 0;
}

static enum rdma_link_layer sodp_get_link_layer(struct ib_device *ibdev, u32 port)
{
	return IB_LINK_LAYER_ETHERNET;
}

static int sodp_query_pkey(struct ib_device *ibdev, u32 port, u16 index, u16 *pkey)
{
	if (index)
		return -EINVAL;
	*pkey = IB_DEFAULT_PKEY_FULL;
	return 0;
}

/* What a process learns of its context, when it makes or imports one. */
static const struct sodp_alloc_ucontext_resp sodp_ucontext_resp = {
	.max_sge = SODP_MAX_SGE,
	.max_inline = SODP_MAX_INLINE,
	.flags = SODP_CTX_CQE_TIMESTAMP,
};

static int sodp_alloc_ucontext(struct ib_ucontext *uctx, struct ib_udata *udata)
{
	struct sodp_alloc_ucontext_resp resp = sodp_ucontext_resp;

	/* A provider from before flags takes the part it knows. */
	if (udata->outlen < offsetofend(typeof(resp), max_inline))
		return -EINVAL;
	return ib_copy_to_udata(udata, &resp, min_t(size_t, udata->outlen,
						    sizeof(resp)));
}

static void sodp_dealloc_ucontext(struct ib_ucontext *uctx)
{
}

/* ibv_import_device(): the context's response again, if asked for. */
static int sodp_query_ucontext(struct ib_ucontext *uctx,
			       struct uverbs_attr_bundle *attrs)
{
	int ret = uverbs_copy_to(attrs, SODP_ATTR_QUERY_CONTEXT_RESP_UCTX,
				 &sodp_ucontext_resp, sizeof(sodp_ucontext_resp));

	return IS_UVERBS_COPY_ERR(ret) ? ret : 0;
}

ADD_UVERBS_ATTRIBUTES_SIMPLE(
	sodp_query_context, UVERBS_OBJECT_DEVICE, UVERBS_METHOD_QUERY_CONTEXT,
	UVERBS_ATTR_PTR_OUT(SODP_ATTR_QUERY_CONTEXT_RESP_UCTX,
			    UVERBS_ATTR_STRUCT(struct sodp_alloc_ucontext_resp, max_inline)));

const struct uapi_definition sodp_uapi_defs[] = {
	UAPI_DEF_CHAIN_OBJ_TREE(UVERBS_OBJECT_DEVICE, &sodp_query_context),
	{},
};

/*
 * Nothing to do: the core destroys the objects and zaps the mappings; the
 * ring pages stay with the process until it unmaps them.
 */
static void sodp_disassociate_ucontext(struct ib_ucontext *uctx)
{
}

static int sodp_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	struct sodp_dev *sdev = to_sdev(ibpd->device);

	if (atomic_inc_return(&sdev->num_pds) > SODP_MAX_PD) {
		atomic_dec(&sdev->num_pds);
		return -ENOMEM;
	}
	return 0;
}

static int sodp_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	atomic_dec(&to_sdev(ibpd->device)->num_pds);
	return 0;
}

static int sodp_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init,
			  struct ib_udata *udata)
{
	struct rdma_ah_attr *attr = init->ah_attr;
	struct sodp_dev *sdev = to_sdev(ibah->device);
	struct sodp_ah *ah = to_sah(ibah);
	const struct ib_global_route *grh;
	struct sodp_create_ah_resp resp = {};
	unsigned long irqflags;
	int ret;

	if (!(rdma_ah_get_ah_flags(attr) & IB_AH_GRH))
		return -EINVAL;
	grh = rdma_ah_read_grh(attr);
	if (!grh->sgid_attr)
		return -EINVAL;
	ah->dgid = grh->dgid;
	ah->sgid = grh->sgid_attr->gid;
	ah->net_type = rdma_gid_attr_network_type(grh->sgid_attr);
	ah->tclass = grh->traffic_class;
	ah->hop_limit = grh->hop_limit;
	ah->flow_label = grh->flow_label;

	/* Kernel consumers may create AHs in atomic context. */
	if (init->flags & RDMA_CREATE_AH_SLEEPABLE) {
		ret = xa_alloc_irq(&sdev->ahs, &ah->num, ah, XA_LIMIT(1, SODP_MAX_AH),
				   GFP_KERNEL);
	} else {
		xa_lock_irqsave(&sdev->ahs, irqflags);
		ret = __xa_alloc(&sdev->ahs, &ah->num, ah, XA_LIMIT(1, SODP_MAX_AH),
				 GFP_ATOMIC);
		xa_unlock_irqrestore(&sdev->ahs, irqflags);
	}
	if (ret)
		return ret == -EBUSY ? -ENOMEM : ret;
	if (udata && udata->outlen) {
		resp.ah_num = ah->num;
		ret = ib_copy_to_udata(udata, &resp, min(udata->outlen, sizeof(resp)));
		if (ret) {
			xa_erase_irq(&sdev->ahs, ah->num);
			return ret;
		}
	}
	return 0;
}

/* The core frees the AH on return: the requester copies it under the lock. */
static int sodp_destroy_ah(struct ib_ah *ibah, u32 flags)
{
	struct sodp_ah *ah = to_sah(ibah);
	struct xarray *ahs = &to_sdev(ibah->device)->ahs;
	unsigned long irqflags;

	/* Also called in atomic context (non-sleepable destroy). */
	xa_lock_irqsave(ahs, irqflags);
	__xa_erase(ahs, ah->num);
	xa_unlock_irqrestore(ahs, irqflags);
	return 0;
}

/* The operations whose signature differs between kernels (kernel/compat). */
#ifdef HAVE_CREATE_CQ_ATTRS
static int sodp_create_cq_op(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
			     struct uverbs_attr_bundle *attrs)
{
	/* A kernel consumer's CQ comes without a bundle. */
	return sodp_create_cq(ibcq, attr, attrs ? &attrs->driver_udata : NULL);
}
#else
#define sodp_create_cq_op sodp_create_cq
#endif

#ifdef HAVE_RESIZE_USER_CQ
static int sodp_resize_user_cq(struct ib_cq *ibcq, unsigned int cqe,
			       struct ib_udata *udata)
{
	return cqe >= SODP_MAX_CQE ? -EINVAL : sodp_resize_cq(ibcq, cqe, udata);
}
#endif

#ifdef HAVE_REG_USER_MR_DMAH
static struct ib_mr *sodp_reg_user_mr_op(struct ib_pd *pd, u64 start, u64 length,
					 u64 iova, int access, struct ib_dmah *dmah,
					 struct ib_udata *udata)
{
	/* There is no alloc_dmah: a handle cannot name anything of ours. */
	if (dmah)
		return ERR_PTR(-EOPNOTSUPP);
	return sodp_reg_user_mr(pd, start, length, iova, access, udata);
}
#else
#define sodp_reg_user_mr_op sodp_reg_user_mr
#endif

const struct ib_device_ops sodp_dev_ops = {
	.owner = THIS_MODULE,
	.driver_id = RDMA_DRIVER_UNKNOWN,
	.uverbs_abi_ver = SODP_UVERBS_ABI_VERSION,

	.advise_mr = sodp_advise_mr,
	.alloc_hw_port_stats = sodp_alloc_hw_port_stats,
	.alloc_mr = sodp_alloc_mr,
	.alloc_mw = sodp_alloc_mw,
	.alloc_pd = sodp_alloc_pd,
	.alloc_ucontext = sodp_alloc_ucontext,
	.alloc_xrcd = sodp_alloc_xrcd,
	.attach_mcast = sodp_attach_mcast,
	.create_ah = sodp_create_ah,
	.create_cq = sodp_create_cq_op,
	.create_qp = sodp_create_qp,
	.create_srq = sodp_create_srq,
	.create_user_ah = sodp_create_ah,
	.dealloc_driver = sodp_dealloc_driver,
	.dealloc_mw = sodp_dealloc_mw,
	.dealloc_pd = sodp_dealloc_pd,
	.dealloc_ucontext = sodp_dealloc_ucontext,
	.dealloc_xrcd = sodp_dealloc_xrcd,
	.dereg_mr = sodp_dereg_mr,
	.destroy_ah = sodp_destroy_ah,
	.destroy_cq = sodp_destroy_cq,
	.destroy_qp = sodp_destroy_qp,
	.destroy_srq = sodp_destroy_srq,
	.detach_mcast = sodp_detach_mcast,
	.disassociate_ucontext = sodp_disassociate_ucontext,
	.get_dma_mr = sodp_get_dma_mr,
	.get_hw_stats = sodp_get_hw_stats,
	.get_link_layer = sodp_get_link_layer,
	.get_port_immutable = sodp_get_port_immutable,
	.map_mr_sg = sodp_map_mr_sg,
	.mmap = sodp_mmap,
	.mmap_free = sodp_mmap_free,
	.modify_qp = sodp_modify_qp,
	.modify_srq = sodp_modify_srq,
	.poll_cq = sodp_poll_cq,
	.post_recv = sodp_post_recv,
	.post_send = sodp_post_send,
	.post_srq_recv = sodp_post_srq_recv,
	.query_device = sodp_query_device,
	.query_pkey = sodp_query_pkey,
	.query_port = sodp_query_port,
	.query_qp = sodp_query_qp,
	.query_srq = sodp_query_srq,
	.query_ucontext = sodp_query_ucontext,
	.reg_user_mr = sodp_reg_user_mr_op,
	.req_notify_cq = sodp_req_notify_cq,
	.rereg_user_mr = sodp_rereg_user_mr,
#ifdef HAVE_RESIZE_USER_CQ
	.resize_user_cq = sodp_resize_user_cq,
#else
	.resize_cq = sodp_resize_cq,
#endif

	INIT_RDMA_OBJ_SIZE(ib_ah, sodp_ah, ibah),
	INIT_RDMA_OBJ_SIZE(ib_cq, sodp_cq, ibcq),
	INIT_RDMA_OBJ_SIZE(ib_mw, sodp_mw, ibmw),
	INIT_RDMA_OBJ_SIZE(ib_pd, sodp_pd, ibpd),
	INIT_RDMA_OBJ_SIZE(ib_qp, sodp_qp, ibqp),
	INIT_RDMA_OBJ_SIZE(ib_srq, sodp_srq, ibsrq),
	INIT_RDMA_OBJ_SIZE(ib_ucontext, sodp_ucontext, ibuc),
	INIT_RDMA_OBJ_SIZE(ib_xrcd, sodp_xrcd, ibxrcd),
};
