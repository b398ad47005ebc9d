// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Copyright (c) 2026 The sodp authors.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "uverbs_dev.h"

int open_uverbs(const char *ibdev)
{
	char path[300], name[64] = "";
	struct dirent *e;
	DIR *dir = opendir("/sys/class/infiniband_verbs");
	int fd = -1;

	while (dir && (e = readdir(dir))) {
		FILE *fp;

		if (strncmp(e->d_name, "uverbs", 6))
			continue;
		snprintf(path, sizeof(path), "/sys/class/infiniband_verbs/%s/ibdev", e->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		if (fscanf(fp, "%63s", name) == 1 && !strcmp(name, ibdev)) {
			snprintf(path, sizeof(path), "/dev/infiniband/%s", e->d_name);
			fd = open(path, O_RDWR | O_CLOEXEC);
		}
		fclose(fp);
		if (fd >= 0)
			break;
	}
	if (dir)
		closedir(dir);
	return fd;
}
