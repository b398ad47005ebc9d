// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * umem_hmm_test: exposes ib_umem_hmm to user space so that the backend can
 * be tested alone, the way lib/test_hmm.c exposes HMM.  Each open file is
 * a "device context": it registers ranges of the caller's memory and then
 * reads, writes and compare-and-swaps them through the pages ib_umem_hmm
 * maps, as a NIC would by DMA.
 *
 * Two ib_devices stand behind it: one virtual-DMA (no dma_device: "DMA
 * addresses" are kernel addresses, like rdma_sodp) and one bus-DMA (a
 * struct device with a 64-bit mask, mapped by the DMA API; valid where no
 * IOMMU translates, as in the test VM).
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/delay.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_umem_hmm.h>
#include <rdma/ib_verbs.h>
#include <uapi/rdma/umem_hmm_test.h>

#include "umem_hmm_test.h"

#define UMEM_HMM_TEST_CHUNK	SZ_64K
#define UMEM_HMM_TEST_MAX_HOLD_US	1000000

/* Never registered: it only gives ib_dma_map_page() a device. */
struct umem_hmm_test_ibdev {
	struct ib_device ibdev;
};

struct umem_hmm_test_dev {
	struct ib_device *ibdev;
	struct ib_umem_hmm_device hdev;
};

struct umem_hmm_test_reg_ctx {
	struct umem_hmm_test_dev *dev;
	struct ib_umem_hmm *umem;	/* ODP */
	struct ib_umem *pinned;		/* UMEM_HMM_TEST_PINNED */
	atomic64_t invalidate_calls;
};

struct umem_hmm_test_file {
	struct xarray regs;
	struct mm_struct *mm;		/* the opener's, grabbed */
};

static struct umem_hmm_test_dev test_virt, test_bus;
static struct device bus_dma_dev;
static u64 bus_dma_mask = DMA_BIT_MASK(64);

static void umem_hmm_test_invalidate(struct ib_umem_hmm *umem, u64 start, u64 end)
{
	struct umem_hmm_test_reg_ctx *reg = umem->priv;

	/* The "device" copies under the span lock, so it has stopped already. */
	atomic64_inc(&reg->invalidate_calls);
}

static const struct ib_umem_hmm_ops umem_hmm_test_ops = {
	.invalidate = umem_hmm_test_invalidate,
};

/*
 * Where the "device" reaches the byte at @addr of a locked span, and (in
 * *@contig) how many bytes from there are contiguous: through the DMA
 * address, or, for a page in our own device memory (UMEM_HMM_TEST_DEVICE_OWNER),
 * in that memory directly, as a GPU reaches its own.
 */
static void *umem_hmm_test_kaddr(struct umem_hmm_test_dev *dev,
				 const struct ib_umem_hmm_span *span, u64 addr,
				 u64 *contig)
{
	struct page *dpage = ib_umem_hmm_span_device_page(span, addr);
	u64 dma;

	if (dpage) {
		*contig = min(PAGE_SIZE - offset_in_page(addr),
			      span->start + span->len - addr);
		return umem_hmm_test_dmem_kaddr(dpage) + offset_in_page(addr);
	}
	dma = ib_umem_hmm_span_dma(span, addr, contig);
	if (dev == &test_virt)
		return (void *)(uintptr_t)dma;
	return phys_to_virt(dma_to_phys(&bus_dma_dev, dma));
}

static void umem_hmm_test_reg_free(struct umem_hmm_test_reg_ctx *reg)
{
	if (reg->umem)
		ib_umem_hmm_release(reg->umem);
	if (reg->pinned)
		ib_umem_release(reg->pinned);
	kfree(reg);
}

static int umem_hmm_test_reg(struct umem_hmm_test_file *tf, void __user *arg)
{
	const int access = IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE |
			   IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_ATOMIC;
	struct umem_hmm_test_reg_ctx *reg;
	struct umem_hmm_test_reg r;
	u32 handle;
	int ret;

	if (copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	if (r.flags & ~(UMEM_HMM_TEST_IMPLICIT | UMEM_HMM_TEST_PINNED |
			UMEM_HMM_TEST_BUS_DMA | UMEM_HMM_TEST_DEVICE_OWNER))
		return -EINVAL;
	if ((r.flags & UMEM_HMM_TEST_PINNED) &&
	    (r.flags & (UMEM_HMM_TEST_IMPLICIT | UMEM_HMM_TEST_BUS_DMA |
			UMEM_HMM_TEST_DEVICE_OWNER)))
		return -EINVAL;
	if ((r.flags & UMEM_HMM_TEST_DEVICE_OWNER) && !umem_hmm_test_dmem_owner())
		return -EOPNOTSUPP;

	reg = kzalloc(sizeof(*reg), GFP_KERNEL);
	if (!reg)
		return -ENOMEM;
	reg->dev = (r.flags & UMEM_HMM_TEST_BUS_DMA) ? &test_bus : &test_virt;

	if (r.flags & UMEM_HMM_TEST_PINNED) {
		reg->pinned = ib_umem_get_va(reg->dev->ibdev, r.addr, r.length, access);
		ret = PTR_ERR_OR_ZERO(reg->pinned);
		if (ret)
			reg->pinned = NULL;
	} else {
		if (r.flags & UMEM_HMM_TEST_IMPLICIT)
			reg->umem = ib_umem_hmm_get_implicit(&reg->dev->hdev, access,
							     &umem_hmm_test_ops, reg);
		else
			reg->umem = ib_umem_hmm_get(&reg->dev->hdev, r.addr, r.length,
						    access, &umem_hmm_test_ops, reg);
		ret = PTR_ERR_OR_ZERO(reg->umem);
		if (ret)
			reg->umem = NULL;
		else if (r.flags & UMEM_HMM_TEST_DEVICE_OWNER)
			ib_umem_hmm_set_owner(reg->umem, umem_hmm_test_dmem_owner());
	}
	if (ret)
		goto err;

	ret = xa_alloc(&tf->regs, &handle, reg, xa_limit_32b, GFP_KERNEL);
	if (ret)
		goto err;
	r.handle = handle;
	if (copy_to_user(arg, &r, sizeof(r))) {
		xa_erase(&tf->regs, handle);
		ret = -EFAULT;
		goto err;
	}
	return 0;
err:
	umem_hmm_test_reg_free(reg);
	return ret;
}

static int umem_hmm_test_dereg(struct umem_hmm_test_file *tf, void __user *arg)
{
	struct umem_hmm_test_reg_ctx *reg;
	u32 handle;

	if (get_user(handle, (u32 __user *)arg))
		return -EFAULT;
	reg = xa_erase(&tf->regs, handle);
	if (!reg)
		return -ENOENT;
	umem_hmm_test_reg_free(reg);
	return 0;
}

/* The ODP registration of a handle, or an ERR_PTR. */
static struct umem_hmm_test_reg_ctx *umem_hmm_test_odp(struct umem_hmm_test_file *tf,
						       u32 handle)
{
	struct umem_hmm_test_reg_ctx *reg = xa_load(&tf->regs, handle);

	if (!reg)
		return ERR_PTR(-ENOENT);
	if (!reg->umem)
		return ERR_PTR(-EINVAL);
	return reg;
}

/*
 * Copy between the kernel buffer and the registered pages at [addr, addr +
 * len), as a DMA engine would.  Implicit spans may end at a chunk boundary,
 * so this loops until all is copied.
 */
static int umem_hmm_test_dma(struct umem_hmm_test_reg_ctx *reg, u64 addr, u64 len,
			     void *kbuf, bool write, unsigned int flags,
			     u32 hold_us, u32 chunk)
{
	unsigned int lock_flags = write ? IB_UMEM_HMM_WRITE : 0;
	struct ib_umem_hmm_span span;
	int ret;

	if (flags & UMEM_HMM_TEST_NO_FAULT)
		lock_flags |= IB_UMEM_HMM_NO_FAULT;

	while (len) {
		u64 pos, done;

		ret = ib_umem_hmm_lock(reg->umem, addr, min_t(u64, len, chunk),
				       lock_flags, &span);
		if (ret)
			return ret;
		for (pos = addr; pos < addr + span.len; pos += done) {
			void *p = umem_hmm_test_kaddr(reg->dev, &span, pos, &done);

			if (write)
				memcpy(p, kbuf, done);
			else
				memcpy(kbuf, p, done);
			kbuf += done;
		}
		if (hold_us)
			usleep_range(hold_us, hold_us + 100);
		ib_umem_hmm_unlock(&span);
		addr += span.len;
		len -= span.len;
	}
	return 0;
}

/* One chunk every stride bytes: a device touching many pages a little. */
static int umem_hmm_test_gather(struct umem_hmm_test_file *tf,
				struct umem_hmm_test_access *a, bool write)
{
	struct umem_hmm_test_reg_ctx *reg = umem_hmm_test_odp(tf, a->handle);
	u64 n, total, i;
	void *kbuf;
	int ret = 0;

	if (IS_ERR(reg))
		return PTR_ERR(reg);
	if (a->chunk > a->stride)
		return -EINVAL;
	n = div64_u64(a->length, a->stride);
	total = n * a->chunk;
	if (!n || total > UMEM_HMM_TEST_CHUNK)
		return -EINVAL;
	kbuf = kmalloc(total, GFP_KERNEL);
	if (!kbuf)
		return -ENOMEM;
	if (write && copy_from_user(kbuf, u64_to_user_ptr(a->buf), total))
		ret = -EFAULT;
	for (i = 0; i < n && !ret; i++)
		ret = umem_hmm_test_dma(reg, a->addr + i * a->stride, a->chunk,
					kbuf + i * a->chunk, write, a->flags,
					a->hold_us, a->chunk);
	if (!ret && !write && copy_to_user(u64_to_user_ptr(a->buf), kbuf, total))
		ret = -EFAULT;
	kfree(kbuf);
	return ret;
}

static int umem_hmm_test_access(struct umem_hmm_test_file *tf, void __user *arg,
				bool write)
{
	struct umem_hmm_test_reg_ctx *reg;
	struct umem_hmm_test_access a;
	u64 off;
	void *kbuf;
	int ret = 0;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if ((a.flags & ~UMEM_HMM_TEST_NO_FAULT) || a.chunk > UMEM_HMM_TEST_CHUNK ||
	    a.hold_us > UMEM_HMM_TEST_MAX_HOLD_US || a.reserved || !a.length)
		return -EINVAL;
	if (!a.chunk)
		a.chunk = UMEM_HMM_TEST_CHUNK;
	if (a.stride)
		return umem_hmm_test_gather(tf, &a, write);
	reg = umem_hmm_test_odp(tf, a.handle);
	if (IS_ERR(reg))
		return PTR_ERR(reg);

	kbuf = kmalloc(UMEM_HMM_TEST_CHUNK, GFP_KERNEL);
	if (!kbuf)
		return -ENOMEM;
	/* User memory is touched only with no span held (it may fault). */
	for (off = 0; off < a.length && !ret; off += UMEM_HMM_TEST_CHUNK) {
		u64 len = min_t(u64, a.length - off, UMEM_HMM_TEST_CHUNK);
		void __user *ubuf = u64_to_user_ptr(a.buf + off);

		if (write && copy_from_user(kbuf, ubuf, len)) {
			ret = -EFAULT;
			break;
		}
		ret = umem_hmm_test_dma(reg, a.addr + off, len, kbuf, write,
					a.flags, a.hold_us, a.chunk);
		if (!ret && !write && copy_to_user(ubuf, kbuf, len))
			ret = -EFAULT;
	}
	kfree(kbuf);
	return ret;
}

static int umem_hmm_test_cas(struct umem_hmm_test_file *tf, void __user *arg)
{
	struct umem_hmm_test_reg_ctx *reg;
	struct ib_umem_hmm_span span;
	struct umem_hmm_test_cas c;
	unsigned int lock_flags = IB_UMEM_HMM_WRITE;
	u64 *p, contig;
	int ret;

	if (copy_from_user(&c, arg, sizeof(c)))
		return -EFAULT;
	if ((c.flags & ~UMEM_HMM_TEST_NO_FAULT) || !IS_ALIGNED(c.addr, 8))
		return -EINVAL;
	reg = umem_hmm_test_odp(tf, c.handle);
	if (IS_ERR(reg))
		return PTR_ERR(reg);
	if (c.flags & UMEM_HMM_TEST_NO_FAULT)
		lock_flags |= IB_UMEM_HMM_NO_FAULT;

	ret = ib_umem_hmm_lock(reg->umem, c.addr, 8, lock_flags, &span);
	if (ret)
		return ret;
	p = umem_hmm_test_kaddr(reg->dev, &span, c.addr, &contig);
	c.orig = cmpxchg64(p, c.compare, c.swap);
	ib_umem_hmm_unlock(&span);

	return copy_to_user(arg, &c, sizeof(c)) ? -EFAULT : 0;
}

static int umem_hmm_test_prefetch(struct umem_hmm_test_file *tf, void __user *arg)
{
	struct umem_hmm_test_reg_ctx *reg;
	struct umem_hmm_test_prefetch pf;
	unsigned int flags = 0;

	if (copy_from_user(&pf, arg, sizeof(pf)))
		return -EFAULT;
	if (pf.flags & ~(UMEM_HMM_TEST_NO_FAULT | UMEM_HMM_TEST_FOR_WRITE |
			 UMEM_HMM_TEST_ASYNC))
		return -EINVAL;
	reg = umem_hmm_test_odp(tf, pf.handle);
	if (IS_ERR(reg))
		return PTR_ERR(reg);
	if (pf.flags & UMEM_HMM_TEST_NO_FAULT)
		flags |= IB_UMEM_HMM_NO_FAULT;
	if (pf.flags & UMEM_HMM_TEST_FOR_WRITE)
		flags |= IB_UMEM_HMM_WRITE;
	if (pf.flags & UMEM_HMM_TEST_ASYNC)
		flags |= IB_UMEM_HMM_ASYNC;
	return ib_umem_hmm_prefetch(reg->umem, pf.addr, pf.length, flags);
}

static int umem_hmm_test_snapshot(struct umem_hmm_test_file *tf, void __user *arg)
{
	struct umem_hmm_test_snapshot s;
	struct umem_hmm_test_reg_ctx *reg;
	u8 *state;
	int ret;

	if (copy_from_user(&s, arg, sizeof(s)))
		return -EFAULT;
	reg = umem_hmm_test_odp(tf, s.handle);
	if (IS_ERR(reg))
		return PTR_ERR(reg);
	if (!s.npages || s.npages > SZ_1M)
		return -EINVAL;
	state = kvmalloc(s.npages, GFP_KERNEL);
	if (!state)
		return -ENOMEM;
	ret = ib_umem_hmm_page_state(reg->umem, s.addr, s.npages, state);
	if (!ret && copy_to_user(u64_to_user_ptr(s.states), state, s.npages))
		ret = -EFAULT;
	kvfree(state);
	s.invalidate_calls = atomic64_read(&reg->invalidate_calls);
	if (!ret && copy_to_user(arg, &s, sizeof(s)))
		ret = -EFAULT;
	return ret;
}

static int umem_hmm_test_stats(void __user *arg)
{
	struct umem_hmm_test_stats st = {};
	struct umem_hmm_test_dev *dev;
	int i;

	if (get_user(st.flags, (u32 __user *)arg))
		return -EFAULT;
	if (st.flags & ~UMEM_HMM_TEST_BUS_DMA)
		return -EINVAL;
	dev = (st.flags & UMEM_HMM_TEST_BUS_DMA) ? &test_bus : &test_virt;
	BUILD_BUG_ON(IB_UMEM_HMM_NUM_STATS > UMEM_HMM_TEST_MAX_STATS);
	st.count = IB_UMEM_HMM_NUM_STATS;
	for (i = 0; i < IB_UMEM_HMM_NUM_STATS; i++)
		st.values[i] = atomic64_read(&dev->hdev.stats[i]);
	return copy_to_user(arg, &st, sizeof(st)) ? -EFAULT : 0;
}

static int umem_hmm_test_page_refs(void __user *arg)
{
	struct umem_hmm_test_page_refs r;
	struct page *page;
	int ret;

	if (copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	if (r.reserved)
		return -EINVAL;
	/*
	 * Fast GUP only: the slow path marks the page accessed, which may
	 * queue it for activation with a reference of its own.
	 */
	ret = get_user_pages_fast_only(r.addr & PAGE_MASK, 1, 0, &page);
	if (ret != 1)
		return -EFAULT;
	r.refs = folio_ref_count(page_folio(page)) - 1;
	put_page(page);
	return copy_to_user(arg, &r, sizeof(r)) ? -EFAULT : 0;
}

static long umem_hmm_test_ioctl(struct file *file, unsigned int cmd,
				unsigned long arg)
{
	struct umem_hmm_test_file *tf = file->private_data;
	void __user *uarg = (void __user *)arg;

	/* Registrations mirror the opener's mm; others may not use them. */
	if (current->mm != tf->mm)
		return -EPERM;

	switch (cmd) {
	case UMEM_HMM_TEST_REG:
		return umem_hmm_test_reg(tf, uarg);
	case UMEM_HMM_TEST_DEREG:
		return umem_hmm_test_dereg(tf, uarg);
	case UMEM_HMM_TEST_READ:
		return umem_hmm_test_access(tf, uarg, false);
	case UMEM_HMM_TEST_WRITE:
		return umem_hmm_test_access(tf, uarg, true);
	case UMEM_HMM_TEST_CAS:
		return umem_hmm_test_cas(tf, uarg);
	case UMEM_HMM_TEST_PREFETCH:
		return umem_hmm_test_prefetch(tf, uarg);
	case UMEM_HMM_TEST_SNAPSHOT:
		return umem_hmm_test_snapshot(tf, uarg);
	case UMEM_HMM_TEST_STATS:
		return umem_hmm_test_stats(uarg);
	case UMEM_HMM_TEST_PAGE_REFS:
		return umem_hmm_test_page_refs(uarg);
	case UMEM_HMM_TEST_MIGRATE:
	case UMEM_HMM_TEST_WHERE:
	case UMEM_HMM_TEST_DMEM_STATS:
		return umem_hmm_test_dmem_ioctl(tf->mm, cmd, uarg);
	default:
		return -ENOTTY;
	}
}

static int umem_hmm_test_open(struct inode *inode, struct file *file)
{
	struct umem_hmm_test_file *tf;

	tf = kzalloc(sizeof(*tf), GFP_KERNEL);
	if (!tf)
		return -ENOMEM;
	xa_init_flags(&tf->regs, XA_FLAGS_ALLOC);
	tf->mm = current->mm;
	mmgrab(tf->mm);
	file->private_data = tf;
	return 0;
}

static int umem_hmm_test_release(struct inode *inode, struct file *file)
{
	struct umem_hmm_test_file *tf = file->private_data;
	struct umem_hmm_test_reg_ctx *reg;
	unsigned long handle;

	xa_for_each(&tf->regs, handle, reg) {
		xa_erase(&tf->regs, handle);
		umem_hmm_test_reg_free(reg);
	}
	xa_destroy(&tf->regs);
	mmdrop(tf->mm);
	kfree(tf);
	return 0;
}

static const struct file_operations umem_hmm_test_fops = {
	.owner = THIS_MODULE,
	.open = umem_hmm_test_open,
	.release = umem_hmm_test_release,
	.unlocked_ioctl = umem_hmm_test_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice umem_hmm_test_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "umem_hmm_test",
	.fops = &umem_hmm_test_fops,
	.mode = 0600,
};

static void bus_dma_dev_release(struct device *dev)
{
}

static int umem_hmm_test_dev_init(struct umem_hmm_test_dev *dev,
				  struct device *dma_device, const char *name)
{
	struct umem_hmm_test_ibdev *tdev;

	tdev = ib_alloc_device(umem_hmm_test_ibdev, ibdev);
	if (!tdev)
		return -ENOMEM;
	dev->ibdev = &tdev->ibdev;
	dev->ibdev->dma_device = dma_device;
	return ib_umem_hmm_device_init(&dev->hdev, dev->ibdev, name);
}

static void umem_hmm_test_dev_cleanup(struct umem_hmm_test_dev *dev)
{
	ib_umem_hmm_device_cleanup(&dev->hdev);
	ib_dealloc_device(dev->ibdev);
}

static int __init umem_hmm_test_init(void)
{
	int ret;

	device_initialize(&bus_dma_dev);
	bus_dma_dev.release = bus_dma_dev_release;
	dev_set_name(&bus_dma_dev, "umem_hmm_test_bus");
	bus_dma_dev.dma_mask = &bus_dma_mask;
	bus_dma_dev.coherent_dma_mask = DMA_BIT_MASK(64);

	ret = umem_hmm_test_dev_init(&test_virt, NULL, "umem_hmm_test_virt");
	if (ret)
		goto err_put;
	ret = umem_hmm_test_dev_init(&test_bus, &bus_dma_dev, "umem_hmm_test_bus");
	if (ret)
		goto err_virt;
	ret = umem_hmm_test_dmem_init();
	if (ret)
		goto err_bus;
	ret = misc_register(&umem_hmm_test_misc);
	if (ret)
		goto err_dmem;
	return 0;

err_dmem:
	umem_hmm_test_dmem_exit();
err_bus:
	umem_hmm_test_dev_cleanup(&test_bus);
err_virt:
	umem_hmm_test_dev_cleanup(&test_virt);
err_put:
	put_device(&bus_dma_dev);
	return ret;
}

static void __exit umem_hmm_test_exit(void)
{
	misc_deregister(&umem_hmm_test_misc);
	umem_hmm_test_dmem_exit();
	umem_hmm_test_dev_cleanup(&test_bus);
	umem_hmm_test_dev_cleanup(&test_virt);
	put_device(&bus_dma_dev);
}

module_init(umem_hmm_test_init);
module_exit(umem_hmm_test_exit);

MODULE_AUTHOR("The sodp authors");
MODULE_DESCRIPTION("Test driver exposing ib_umem_hmm to user space");
MODULE_LICENSE("Dual BSD/GPL");
