// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: a soft RoCE device whose memory regions can be paged on
 * demand.  Devices are created with "rdma link add NAME type sodp netdev
 * IF"; this file owns their life cycle and follows their netdev.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/module.h>
#include <linux/if_arp.h>
#include <linux/if_vlan.h>
#include <net/addrconf.h>
#include <rdma/ib_cache.h>
#include <rdma/rdma_netlink.h>

#include "sodp.h"
#include "sodp_udp.h"

struct workqueue_struct *sodp_wq;

/*
 * Every registered sodp device; in-kernel delivery looks for peers here,
 * for every message, under RCU.  Writers hold sodp_devices_lock, which
 * also makes "rdma link add" one at a time.
 */
static LIST_HEAD(sodp_devices);
static DEFINE_MUTEX(sodp_devices_lock);

/*
 * The device that holds @gid in its GID table, in the network namespace of
 * @from's netdev (another namespace may use the same addresses), with a
 * reference (ib_device_put() it), or NULL.
 */
struct sodp_dev *sodp_find_dev_by_gid(struct sodp_dev *from, const union ib_gid *gid)
{
	struct net *net = dev_net(from->ndev);
	struct sodp_dev *sdev, *found = NULL;

	rcu_read_lock();
	list_for_each_entry_rcu(sdev, &sodp_devices, entry) {
		const struct ib_gid_attr *attr;

		/* Listed before it is registered: only a live device is looked at. */
		if (!ib_device_try_get(&sdev->ibdev))
			continue;
		if (net_eq(dev_net(sdev->ndev), net)) {
			attr = rdma_find_gid_by_port(&sdev->ibdev, gid,
						     IB_GID_TYPE_ROCE_UDP_ENCAP, 1, NULL);
			if (!IS_ERR(attr)) {
				rdma_put_gid_attr(attr);
				found = sdev;
				break;
			}
		}
		ib_device_put(&sdev->ibdev);
	}
	rcu_read_unlock();
	return found;
}

/*
 * Our device bound to @ndev, with a reference (ib_device_put() it), or
 * NULL.  Any context (the wire's receive path runs in softirq).
 */
struct sodp_dev *sodp_find_dev_by_netdev(struct net_device *ndev)
{
	struct sodp_dev *sdev, *found = NULL;

	rcu_read_lock();
	list_for_each_entry_rcu(sdev, &sodp_devices, entry) {
		if (sdev->ndev == ndev && ib_device_try_get(&sdev->ibdev)) {
			found = sdev;
			break;
		}
	}
	rcu_read_unlock();
	return found;
}

#ifndef HAVE_IB_DISPATCH_PORT_STATE_EVENT
static void sodp_port_event(struct sodp_dev *sdev, enum ib_event_type type)
{
	struct ib_event ev = {
		.device = &sdev->ibdev,
		.element.port_num = 1,
		.event = type,
	};

	ib_dispatch_event(&ev);
}
#endif

/*
 * Register a new device, with sodp_devices_lock held.  It is listed first
 * (lookups skip it until it is live), so that an "rdma link delete" right
 * after ib_register_device() finds it listed.  On failure the caller
 * unlists and deallocates it; sodp_dealloc_driver() undoes the rest.
 */
static int sodp_register(struct sodp_dev *sdev, const char *name)
{
	struct ib_device *ibdev = &sdev->ibdev;
	int ret;

	xa_init_flags(&sdev->qps, XA_FLAGS_ALLOC);
	xa_init_flags(&sdev->mrs, XA_FLAGS_ALLOC1);
	xa_init_flags(&sdev->mws, XA_FLAGS_ALLOC);
	xa_init_flags(&sdev->ahs, XA_FLAGS_ALLOC1 | XA_FLAGS_LOCK_IRQ);
	xa_init_flags(&sdev->srqs, XA_FLAGS_ALLOC);
	skb_queue_head_init(&sdev->rx_queue);
	INIT_WORK(&sdev->rx_work, sodp_wire_rx_work);
	sdev->next_qpn = SODP_QPN_MIN;
	/* Keys are not handed out in an order a process could predict. */
	sdev->next_mr_index = 1 + get_random_u32_below(SODP_MR_INDEX_MAX);
	sdev->next_mw_index = SODP_MW_INDEX_MIN +
			      get_random_u32_below(SODP_MW_INDEX_MAX - SODP_MW_INDEX_MIN);

	ibdev->node_type = RDMA_NODE_IB_CA;
	ibdev->phys_port_cnt = 1;
	ibdev->num_comp_vectors = num_possible_cpus();
	ibdev->local_dma_lkey = 0;
	addrconf_addr_eui48((unsigned char *)&ibdev->node_guid,
			    sdev->ndev->dev_addr);
	strscpy(ibdev->node_desc, "sodp", sizeof(ibdev->node_desc));
	/* Doorbells (post with no WR) and CQ arming; the rest is mmap'ed. */
	ibdev->uverbs_cmd_mask |= BIT_ULL(IB_USER_VERBS_CMD_POST_SEND) |
				  BIT_ULL(IB_USER_VERBS_CMD_POST_RECV) |
				  BIT_ULL(IB_USER_VERBS_CMD_REQ_NOTIFY_CQ);
	ib_set_device_ops(ibdev, &sodp_dev_ops);
	ibdev->driver_def = sodp_uapi_defs;
	/* Before the device is visible: memory may be registered at once. */
	ib_umem_hmm_device_init(&sdev->hmm, ibdev, name);

	ret = ib_device_set_netdev(ibdev, sdev->ndev, 1);
	if (ret)
		return ret;
	/*
	 * As a RoCE NIC's function: a child of the netdev's device, so that
	 * tools find the netdev under the RDMA device's device/net/.
	 */
	ibdev->dev.parent = sdev->ndev->dev.parent;
	sodp_udp_open(sdev);
	list_add_tail_rcu(&sdev->entry, &sodp_devices);
	sdev->listed = true;
	/* A soft device: "DMA" addresses are kernel virtual addresses. */
	return ib_register_device(ibdev, name, NULL);
}

static void sodp_unlist(struct sodp_dev *sdev)
{
	lockdep_assert_held(&sodp_devices_lock);
	if (!sdev->listed)
		return;
	list_del_rcu(&sdev->entry);
	sdev->listed = false;
	/* Lookups under RCU may still be walking past it. */
	synchronize_rcu();
}

static int sodp_newlink(const char *name, struct net_device *ndev)
{
	struct sodp_dev *sdev;
	int ret;

	if (ndev->type != ARPHRD_ETHER || is_vlan_dev(ndev))
		return -EINVAL;

	/* One at a time: a netdev gets at most one sodp device. */
	mutex_lock(&sodp_devices_lock);
	sdev = sodp_find_dev_by_netdev(ndev);
	if (sdev) {
		ib_device_put(&sdev->ibdev);
		ret = -EEXIST;
		goto out;
	}
	sdev = ib_alloc_device(sodp_dev, ibdev);
	if (!sdev) {
		ret = -ENOMEM;
		goto out;
	}
	/* Ours until dealloc_driver: the core drops its own hold earlier. */
	dev_hold(ndev);
	sdev->ndev = ndev;
	ret = sodp_register(sdev, name);
	if (ret) {
		sodp_unlist(sdev);
		ib_dealloc_device(&sdev->ibdev);
	} else if (READ_ONCE(ndev->reg_state) != NETREG_REGISTERED) {
		/* Its NETDEV_UNREGISTER came before we could see it. */
		ib_unregister_device_queued(&sdev->ibdev);
	}
out:
	mutex_unlock(&sodp_devices_lock);
	return ret;
}

/*
 * ib_device_ops.dealloc_driver: the last step of unregistration, and of a
 * failed registration (ib_dealloc_device() calls it too).
 */
void sodp_dealloc_driver(struct ib_device *ibdev)
{
	struct sodp_dev *sdev = to_sdev(ibdev);

	/* A failed newlink unlisted it already (and holds the lock). */
	if (sdev->listed) {
		mutex_lock(&sodp_devices_lock);
		sodp_unlist(sdev);
		mutex_unlock(&sodp_devices_lock);
	}
	/* No packet can find it now: drop those it still has. */
	sodp_udp_close(sdev);
	cancel_work_sync(&sdev->rx_work);
	skb_queue_purge(&sdev->rx_queue);
	sodp_mcast_cleanup(sdev);
	dev_put(sdev->ndev);
	ib_umem_hmm_device_cleanup(&sdev->hmm);
	WARN_ON(!xa_empty(&sdev->qps));
	WARN_ON(!xa_empty(&sdev->mrs));
	WARN_ON(!xa_empty(&sdev->ahs));
	xa_destroy(&sdev->qps);
	xa_destroy(&sdev->mrs);
	xa_destroy(&sdev->mws);
	xa_destroy(&sdev->ahs);
	xa_destroy(&sdev->srqs);
}

static struct rdma_link_ops sodp_link_ops = {
	.type = "sodp",
	.newlink = sodp_newlink,
};

static int sodp_netdev_event(struct notifier_block *nb, unsigned long event,
			     void *arg)
{
	struct net_device *ndev = netdev_notifier_info_to_dev(arg);
	struct sodp_dev *sdev;
	struct ib_device *ibdev;

	/*
	 * Our own list: ib_device_get_by_netdev() with no driver id of ours
	 * could return another driver's device on the same netdev (rxe).
	 */
	sdev = sodp_find_dev_by_netdev(ndev);
	if (!sdev)
		return NOTIFY_DONE;
	ibdev = &sdev->ibdev;

	switch (event) {
	case NETDEV_UNREGISTER:
		ib_unregister_device_queued(ibdev);
		break;
#ifndef HAVE_IB_DISPATCH_PORT_STATE_EVENT
	/* (Newer ib_core sends these itself, from its own notifier.) */
	case NETDEV_UP:
	case NETDEV_DOWN:
	case NETDEV_CHANGE:
		sodp_port_event(to_sdev(ibdev),
				netif_running(ndev) && netif_carrier_ok(ndev) ?
				IB_EVENT_PORT_ACTIVE : IB_EVENT_PORT_ERR);
		break;
#endif
	default:
		break;
	}
	ib_device_put(ibdev);
	return NOTIFY_OK;
}

static struct notifier_block sodp_netdev_notifier = {
	.notifier_call = sodp_netdev_event,
};

static int __init sodp_init(void)
{
	int ret;

	/*
	 * The engine sleeps (page faults), so it runs in work, not softirq.
	 * High priority, as a NIC does not wait for the CPU: a process polling
	 * its CQ on the same CPU would otherwise take half of it from the work
	 * that fills the CQ.  CPUs and priority can be set in
	 * /sys/devices/virtual/workqueue/sodp.
	 */
	sodp_wq = alloc_workqueue("sodp", WQ_UNBOUND | WQ_HIGHPRI | WQ_MEM_RECLAIM |
				  WQ_SYSFS, 0);
	if (!sodp_wq)
		return -ENOMEM;
	ret = sodp_udp_init();
	if (ret)
		goto err_wq;
	ret = register_netdevice_notifier(&sodp_netdev_notifier);
	if (ret)
		goto err_udp;
	rdma_link_register(&sodp_link_ops);
	return 0;

err_udp:
	sodp_udp_exit();
err_wq:
	destroy_workqueue(sodp_wq);
	return ret;
}

/* Unregister every device, including those a netdev event queued. */
static void sodp_unregister_all(void)
{
	struct sodp_dev *sdev;

	for (;;) {
		mutex_lock(&sodp_devices_lock);
		sdev = list_first_entry_or_null(&sodp_devices, struct sodp_dev, entry);
		if (sdev)
			get_device(&sdev->ibdev.dev);
		mutex_unlock(&sodp_devices_lock);
		if (!sdev)
			break;
		/* Waits for an unregistration in progress; dealloc_driver unlists. */
		ib_unregister_device(&sdev->ibdev);
		put_device(&sdev->ibdev.dev);
	}
}

static void __exit sodp_exit(void)
{
	rdma_link_unregister(&sodp_link_ops);
	unregister_netdevice_notifier(&sodp_netdev_notifier);
	sodp_unregister_all();
	sodp_udp_exit();
	destroy_workqueue(sodp_wq);
}

module_init(sodp_init);
module_exit(sodp_exit);

MODULE_AUTHOR("The sodp authors");
MODULE_DESCRIPTION("Soft RoCE device with on-demand paging");
MODULE_LICENSE("Dual BSD/GPL");
MODULE_ALIAS_RDMA_LINK("sodp");
/* User verbs: on newer kernels nothing we link against pulls ib_uverbs in. */
MODULE_SOFTDEP("pre: ib_uverbs");
