// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * umem-hmm-tests: the ib_umem_hmm tests, run in the VM against
 * umem_hmm_test.ko.  Arguments name the cases to run (default: all).
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/check.h"
#include "tests.h"
#include "uht.h"

int run_in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 1;
	if (!pid) {
		fflush(stdout);
		_exit(fn());
	}
	if (waitpid(pid, &status, 0) != pid)
		return 1;
	return !WIFEXITED(status) || WEXITSTATUS(status);
}

static const struct check_case cases[] = {
	{ "no_pin", test_no_pin },
	{ "memlock", test_memlock },
	{ "data", test_data },
	{ "data_bus_dma", test_data_bus_dma },
	{ "write_bounds", test_write_bounds },
	{ "cas", test_cas },
	{ "errors", test_errors },
	{ "stats", test_stats },
	{ "prefetch_modes", test_prefetch_modes },
	{ "fault_ahead", test_fault_ahead },
	{ "huge", test_huge },
	{ "implicit", test_implicit },
	{ "implicit_idle", test_implicit_idle },
	{ "tracking_bytes", test_tracking_bytes },
	{ "gather", test_gather },
	{ "inval_munmap", test_inval_munmap },
	{ "inval_map_fixed", test_inval_map_fixed },
	{ "inval_dontneed", test_inval_dontneed },
	{ "inval_mremap", test_inval_mremap },
	{ "inval_mprotect", test_inval_mprotect },
	{ "inval_fork_parent", test_inval_fork_parent },
	{ "inval_fork_child", test_inval_fork_child },
	{ "inval_thp_split", test_inval_thp_split },
	{ "inval_migrate", test_inval_migrate },
	{ "inval_shared", test_inval_shared },
	{ "inval_truncate", test_inval_truncate },
	{ "inval_waits_for_device", test_inval_waits_for_device },
	{ "churn", test_churn },
	{ "kill_mid_fault", test_kill_mid_fault },
	{ "close_with_mappings", test_close_with_mappings },
	{ "alloc_failures", test_alloc_failures },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (uht_open()) {
		perror("open /dev/umem_hmm_test (is umem_hmm_test.ko loaded?)");
		return 1;
	}
	return check_main(cases, argc, argv);
}
