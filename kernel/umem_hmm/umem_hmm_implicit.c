// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ib_umem_hmm: implicit ODP.  An implicit umem covers the whole user
 * address space; it tracks nothing itself.  The first device access in an
 * aligned chunk (1 GiB) creates a child umem for that chunk, with its own
 * interval notifier and page tracking.  A child whose pages have all been
 * invalidated, and that no access holds, is freed by a work item.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "umem_hmm.h"

static unsigned long umem_hmm_chunk(u64 addr)
{
	return addr >> UMEM_HMM_CHUNK_SHIFT;
}

/*
 * umem_hmm_child_get - the child covering @addr, with a reference
 *
 * Creates it if @create.  Returns NULL if it does not exist and !@create,
 * or an ERR_PTR.  Release the reference with umem_hmm_child_put().
 */
struct ib_umem_hmm *umem_hmm_child_get(struct ib_umem_hmm *root, u64 addr,
				       bool create)
{
	unsigned long idx = umem_hmm_chunk(addr);
	struct ib_umem_hmm *child;
	u64 start;
	int ret;

	rcu_read_lock();
	child = xa_load(&root->children, idx);
	if (child && !refcount_inc_not_zero(&child->users))
		child = NULL;
	/*
	 * Only while it holds a reference: the reaper, which needs the last
	 * one, then finds it here and clears it.
	 */
	if (child)
		rcu_assign_pointer(root->child_hint, child);
	rcu_read_unlock();
	if (child || !create)
		return child;

	mutex_lock(&root->children_lock);
	child = xa_load(&root->children, idx);
	if (child) {
		/* Only the reaper drops the xarray's reference, under this lock. */
		refcount_inc(&child->users);
		goto out;
	}
	/*
	 * Inserting an interval notifier needs a live mm: the process that
	 * registered may have exited while a peer (or a forked child) still
	 * uses its region.
	 */
	if (!mmget_not_zero(root->mm)) {
		child = ERR_PTR(-EFAULT);
		goto out;
	}
	start = (u64)idx << UMEM_HMM_CHUNK_SHIFT;
	child = umem_hmm_alloc_leaf(root->hdev, root->mm, start,
				    umem_hmm_chunk_end(start) - start,
				    root->access, root->ops, root->priv);
	mmput_async(root->mm);
	if (IS_ERR(child))
		goto out;
	child->parent = root;
	child->dev_private_owner = root->dev_private_owner;
	ret = xa_err(xa_store(&root->children, idx, child, GFP_KERNEL));
	if (ret) {
		umem_hmm_free_leaf(child);
		child = ERR_PTR(ret);
		goto out;
	}
	refcount_inc(&child->users);
out:
	if (!IS_ERR(child))
		rcu_assign_pointer(root->child_hint, child);
	mutex_unlock(&root->children_lock);
	return child;
}

/* A child may have become idle: let the reaper look at its parent. */
void umem_hmm_child_idle(struct ib_umem_hmm *child)
{
	queue_work(umem_hmm_wq, &child->parent->reap_work);
}

/* Take out one child that has no pages and that nothing holds. */
static struct ib_umem_hmm *umem_hmm_reap_one(struct ib_umem_hmm *root)
{
	struct ib_umem_hmm *child;
	unsigned long idx;

	lockdep_assert_held(&root->children_lock);
	xa_for_each(&root->children, idx, child) {
		if (READ_ONCE(child->npages) || !refcount_dec_if_one(&child->users))
			continue;
		xa_erase(&root->children, idx);
		/*
		 * A hint is set only with a reference held, and dropping it
		 * is a release: after this barrier, one set before the last
		 * put is seen (the cmpxchg orders nothing when it fails).
		 */
		smp_mb();
		cmpxchg(&root->child_hint, RCU_INITIALIZER(child), NULL);
		return child;
	}
	return NULL;
}

void umem_hmm_reap_work(struct work_struct *work)
{
	struct ib_umem_hmm *root = container_of(work, struct ib_umem_hmm, reap_work);
	struct ib_umem_hmm *child;

	for (;;) {
		mutex_lock(&root->children_lock);
		child = umem_hmm_reap_one(root);
		mutex_unlock(&root->children_lock);
		if (!child)
			break;
		umem_hmm_free_leaf(child);
	}
}

/**
 * ib_umem_hmm_get_implicit - mirror the whole address space of the process
 * @hdev: the device
 * @access: IB_ACCESS_* flags, kept for the driver
 * @ops: driver callbacks, called with the child umem that holds the pages
 * @priv: driver data, in umem->priv of the umem and of its children
 *
 * Nothing is allocated per page or per chunk until the device accesses it.
 *
 * Return: the umem or ERR_PTR(-ENOMEM) / ERR_PTR(-EINVAL) (no mm).
 */
struct ib_umem_hmm *ib_umem_hmm_get_implicit(struct ib_umem_hmm_device *hdev,
					     int access,
					     const struct ib_umem_hmm_ops *ops,
					     void *priv)
{
	struct ib_umem_hmm *umem;

	if (!current->mm)
		return ERR_PTR(-EINVAL);
	umem = kzalloc(sizeof(*umem), GFP_KERNEL);
	if (!umem)
		return ERR_PTR(-ENOMEM);
	umem->hdev = hdev;
	umem->address = 0;
	umem->length = TASK_SIZE;
	umem->access = access;
	umem->implicit = true;
	umem->ops = ops;
	umem->priv = priv;
	umem->mm = current->mm;
	mmgrab(umem->mm);
	mutex_init(&umem->children_lock);
	xa_init(&umem->children);
	INIT_WORK(&umem->reap_work, umem_hmm_reap_work);
	atomic_set(&umem->prefetches, 0);
	umem_hmm_stat_add(umem, IB_UMEM_HMM_STAT_UMEMS, 1);
	return umem;
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_get_implicit);

/* Free every child of an implicit umem that is going away. */
void umem_hmm_release_children(struct ib_umem_hmm *root)
{
	struct ib_umem_hmm *child;
	unsigned long idx;

	for (;;) {
		mutex_lock(&root->children_lock);
		idx = 0;
		child = xa_find(&root->children, &idx, ULONG_MAX, XA_PRESENT);
		if (child) {
			xa_erase(&root->children, idx);
			cmpxchg(&root->child_hint, RCU_INITIALIZER(child), NULL);
		}
		mutex_unlock(&root->children_lock);
		if (!child)
			break;
		WARN_ON_ONCE(refcount_read(&child->users) != 1);
		umem_hmm_free_leaf(child);
	}
	/* No child is left to queue the reaper again. */
	cancel_work_sync(&root->reap_work);
	xa_destroy(&root->children);
	mutex_destroy(&root->children_lock);
}
