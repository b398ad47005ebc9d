// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* ib_core turns its netdev's state into port events itself (6.13). */
#include <rdma/ib_verbs.h>

void probe(struct ib_device *dev, struct net_device *ndev)
{
	ib_dispatch_port_state_event(dev, ndev);
}
