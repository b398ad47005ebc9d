// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-mpi-pingpong: two MPI ranks, a ping-pong (latency) and a window of
 * messages one way (bandwidth) for sizes from 8 B to 1 MiB, every byte of
 * every message checked.  Prints a line per size; exit status 0 when all
 * data arrived as sent.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZE	(1 << 20)
#define WINDOW		16

/* Byte i of message n: distinct per message, so a stale buffer shows. */
static uint8_t expected(size_t i, int n)
{
	return (uint8_t)(i * 7 + n * 131 + (i >> 8));
}

static void fill(uint8_t *buf, size_t len, int n)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = expected(i, n);
}

static int check(const uint8_t *buf, size_t len, int n)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != expected(i, n)) {
			fprintf(stderr, "message %d: byte %zu of %zu wrong\n", n, i, len);
			return 1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	int rank, nranks, bad = 0, iters;
	uint8_t *buf[WINDOW];
	MPI_Request req[WINDOW];

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	if (nranks != 2) {
		if (!rank)
			fprintf(stderr, "run with 2 ranks\n");
		MPI_Finalize();
		return 2;
	}
	for (int w = 0; w < WINDOW; w++) {
		buf[w] = malloc(MAX_SIZE);
		if (!buf[w])
			MPI_Abort(MPI_COMM_WORLD, 1);
	}
	if (!rank)
		printf("%10s %12s %12s\n", "bytes", "latency-us", "MB/s");
	for (size_t size = 8; size <= MAX_SIZE; size *= 4) {
		double t0, lat, bw;

		iters = size >= 65536 ? 20 : 100;
		/* Ping-pong: each side checks what it got, then answers. */
		MPI_Barrier(MPI_COMM_WORLD);
		t0 = MPI_Wtime();
		for (int n = 0; n < iters; n++) {
			if (!rank) {
				fill(buf[0], size, n);
				MPI_Send(buf[0], size, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
				MPI_Recv(buf[1], size, MPI_BYTE, 1, 0, MPI_COMM_WORLD,
					 MPI_STATUS_IGNORE);
				bad |= check(buf[1], size, n + 1);
			} else {
				MPI_Recv(buf[1], size, MPI_BYTE, 0, 0, MPI_COMM_WORLD,
					 MPI_STATUS_IGNORE);
				bad |= check(buf[1], size, n);
				fill(buf[0], size, n + 1);
				MPI_Send(buf[0], size, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
			}
		}
		lat = (MPI_Wtime() - t0) / iters / 2 * 1e6;

		/* Bandwidth: windows of WINDOW messages from rank 0 to rank 1. */
		MPI_Barrier(MPI_COMM_WORLD);
		t0 = MPI_Wtime();
		for (int n = 0; n < iters; n++) {
			for (int w = 0; w < WINDOW; w++) {
				if (!rank) {
					fill(buf[w], size, n * WINDOW + w);
					MPI_Isend(buf[w], size, MPI_BYTE, 1, w,
						  MPI_COMM_WORLD, &req[w]);
				} else {
					MPI_Irecv(buf[w], size, MPI_BYTE, 0, w,
						  MPI_COMM_WORLD, &req[w]);
				}
			}
			MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
			if (rank)
				for (int w = 0; w < WINDOW; w++)
					bad |= check(buf[w], size, n * WINDOW + w);
		}
		/* The receiver's clock: its last byte checked ends the run. */
		MPI_Barrier(MPI_COMM_WORLD);
		bw = (double)size * WINDOW * iters / (MPI_Wtime() - t0) / 1e6;
		if (!rank)
			printf("%10zu %12.2f %12.1f\n", size, lat, bw);
	}
	MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
	if (!rank)
		printf("%s\n", bad ? "DATA ERRORS" : "all data checked");
	for (int w = 0; w < WINDOW; w++)
		free(buf[w]);
	MPI_Finalize();
	return bad;
}
