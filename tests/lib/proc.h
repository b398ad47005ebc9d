/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * What the tests ask of the kernel about their own process.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_TESTS_PROC_H
#define SODP_TESTS_PROC_H

#include <stdbool.h>

/* A field of /proc/self/status, in kB, or -1. */
long proc_status_kb(const char *field);
/* Give up CAP_IPC_LOCK, which lifts RLIMIT_MEMLOCK; 0 or -1. */
int drop_cap_ipc_lock(void);

/*
 * Fault injection: the harness (tests/debug) sets failslab and
 * fail_page_alloc up with task-filter and says in SODP_INJECT_FAILURES
 * whose allocations fail: "task", those of threads a test chooses (it
 * turns make_it_fail() on around the calls it wants to fail; threads
 * created meanwhile inherit it), or "engine", those of the device's own
 * workers.  Either way a test then tolerates the documented failures.
 */
enum inject_mode { INJECT_NONE, INJECT_TASK, INJECT_ENGINE };

enum inject_mode inject_mode(void);
/* 0, or -1 (no fault injection in this kernel). */
int make_it_fail(bool on);

#endif
