// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proc.h"

long proc_status_kb(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			kb = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return kb;
}

int drop_cap_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[CAP_IPC_LOCK / 32].effective &= ~(1U << (CAP_IPC_LOCK % 32));
	data[CAP_IPC_LOCK / 32].permitted &= ~(1U << (CAP_IPC_LOCK % 32));
	return syscall(SYS_capset, &hdr, data) ? -1 : 0;
}

enum inject_mode inject_mode(void)
{
	const char *v = getenv("SODP_INJECT_FAILURES");

	if (v && !strcmp(v, "task"))
		return INJECT_TASK;
	if (v && !strcmp(v, "engine"))
		return INJECT_ENGINE;
	return INJECT_NONE;
}

int make_it_fail(bool on)
{
	/* Opened while nothing fails, so that turning it off cannot fail. */
	static _Thread_local int fd = -1;

	if (fd < 0)
		fd = open("/proc/thread-self/make-it-fail", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	return pwrite(fd, on ? "1" : "0", 1, 0) == 1 ? 0 : -1;
}
