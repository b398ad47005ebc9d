/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * What the tests ask of the kernel about their own process.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_TESTS_PROC_H
#define SODP_TESTS_PROC_H

/* A field of /proc/self/status, in kB, or -1. */
long proc_status_kb(const char *field);
/* Give up CAP_IPC_LOCK, which lifts RLIMIT_MEMLOCK; 0 or -1. */
int drop_cap_ipc_lock(void);

#endif
