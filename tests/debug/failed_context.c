// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-failed-context IBDEV PROCESSES: processes whose GET_CONTEXT fails
 * on the ioctl path, twice each: once in the driver (sodp refuses a
 * context it cannot answer, no response buffer) and once in ib_core (the
 * file already has a context, made on the write path).  Each must get
 * EINVAL and exit.  ib_core takes a reference on the calling task for the
 * context's resource tracking before the driver is asked; Linux 6.1 drops
 * it on the write path's error unwind but not on the ioctl path's, which
 * leaks the whole task_struct of every such process.  The caller checks
 * kmemleak afterwards (tests/debug/failed-context.sh).
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/ib_user_verbs.h>
#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/rdma_user_ioctl_cmds.h>

#include "../lib/uverbs_dev.h"

/* GET_CONTEXT through the ioctl path, without driver data; errno or 0. */
static int ioctl_get_context(int fd)
{
	struct ib_uverbs_ioctl_hdr hdr = {
		.length = sizeof(hdr),
		.object_id = UVERBS_OBJECT_DEVICE,
		.method_id = UVERBS_METHOD_GET_CONTEXT,
		.driver_id = RDMA_DRIVER_UNKNOWN,	/* sodp's */
	};

	return ioctl(fd, RDMA_VERBS_IOCTL, &hdr) < 0 ? errno : 0;
}

/* GET_CONTEXT through the write path, with room for any driver's answer. */
static int write_get_context(int fd)
{
	char resp[1024];
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_get_context cmd;
	} req = {
		.hdr = {
			.command = IB_USER_VERBS_CMD_GET_CONTEXT,
			.in_words = sizeof(req) / 4,
			.out_words = sizeof(resp) / 4,
		},
		.cmd = { .response = (uintptr_t)resp },
	};

	return write(fd, &req, sizeof(req)) < 0 ? errno : 0;
}

static int one_process(const char *ibdev)
{
	int fd = open_uverbs(ibdev), ret;

	if (fd < 0) {
		fprintf(stderr, "cannot open the uverbs device of %s\n", ibdev);
		return 1;
	}
	ret = ioctl_get_context(fd);
	if (ret != EINVAL) {
		fprintf(stderr, "GET_CONTEXT without a response: %s, expected EINVAL\n",
			strerror(ret));
		return 1;
	}
	ret = write_get_context(fd);
	if (ret) {
		fprintf(stderr, "GET_CONTEXT (write): %s\n", strerror(ret));
		return 1;
	}
	ret = ioctl_get_context(fd);
	if (ret != EINVAL) {
		fprintf(stderr, "second GET_CONTEXT: %s, expected EINVAL\n", strerror(ret));
		return 1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	int n, failed = 0;

	if (argc != 3 || (n = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s IBDEV PROCESSES\n", argv[0]);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		int status;

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (!pid)
			_exit(one_process(argv[1]));
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			failed++;
	}
	printf("%d processes, %d failed\n", n, failed);
	return failed ? 1 : 0;
}
