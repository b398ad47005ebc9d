/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * What differs between the kernels sodp builds for (Debian's 6.1, 6.12 and
 * 7.2), by what each kernel has (sodp_compat_autoconf.h, written by
 * conftest.sh from the probes), never by its version number.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_COMPAT_H
#define SODP_COMPAT_H

#include <linux/mm.h>
#include <net/flow.h>
#include <net/udp_tunnel.h>
#include <rdma/ib_umem.h>

#include "sodp_compat_autoconf.h"

#ifdef HAVE_LINUX_UNALIGNED_H
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

#ifndef HAVE_IB_UMEM_GET_VA
static inline struct ib_umem *ib_umem_get_va(struct ib_device *device,
					     unsigned long addr, size_t size,
					     int access)
{
	return ib_umem_get(device, addr, size, access);
}
#endif

#ifndef HAVE_VM_FLAGS_SET
static inline void vm_flags_set(struct vm_area_struct *vma, unsigned long flags)
{
	vma->vm_flags |= flags;
}
#endif

/* The UDP tunnel calls take the socket's struct sock on newer kernels. */
#ifdef HAVE_UDP_TUNNEL_SOCK_SK
#define sodp_setup_udp_tunnel_sock(net, sock, cfg) \
	setup_udp_tunnel_sock(net, (sock)->sk, cfg)
#define sodp_udp_tunnel_sock_release(sock) udp_tunnel_sock_release((sock)->sk)
#else
#define sodp_setup_udp_tunnel_sock(net, sock, cfg) setup_udp_tunnel_sock(net, sock, cfg)
#define sodp_udp_tunnel_sock_release(sock) udp_tunnel_sock_release(sock)
#endif

#ifdef HAVE_FLOWI4_DSCP
#include <net/inet_dscp.h>
/* The routing key of a traffic class: its DSCP. */
static inline void sodp_flowi4_set_tclass(struct flowi4 *fl, u8 tclass)
{
	fl->flowi4_dscp = inet_dsfield_to_dscp(tclass);
}
#else
#include <net/route.h>
static inline void sodp_flowi4_set_tclass(struct flowi4 *fl, u8 tclass)
{
	fl->flowi4_tos = RT_TOS(tclass);
}
#endif

#endif /* SODP_COMPAT_H */
