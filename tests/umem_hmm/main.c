// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * umem-hmm-tests: the ib_umem_hmm tests, run in the VM against
 * umem_hmm_test.ko.  Arguments name the cases to run (default: all;
 * --list names them).  Each case registers itself with CHECK_CASE().
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

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Listing needs no device. */
	if (uht_open() && !(argc == 2 && !strcmp(argv[1], "--list"))) {
		perror("open /dev/umem_hmm_test (is umem_hmm_test.ko loaded?)");
		return 1;
	}
	return check_main(argc, argv);
}
