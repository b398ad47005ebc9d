// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-roce-check: read every RoCEv2 packet crossing an interface (both
 * directions, AF_PACKET) and check it against the specification, with
 * code of its own (nothing shared with the driver):
 *
 *   sodp-roce-check IFNAME SECONDS
 *
 * It stops after SECONDS, or at SIGTERM or SIGINT.
 * Each packet to UDP port 4791 must have: IPv4 with DF set (or IPv6),
 * UDP checksum 0, a known opcode, TVer 0, P_Key 0xFFFF, a length that
 * matches its headers and pad (payload and pad a multiple of 4 bytes),
 * and the ICRC recomputed here: CRC-32 over eight 0xFF bytes, the IP and
 * UDP headers and the BTH with their variant fields masked to ones, then
 * the rest, stored least significant byte first and inverted.
 * Prints the counts; exits 1 if any packet was wrong or none was seen.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* zlib's crc32: pre- and post-inverted. */
static uint32_t crc32_z(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* Extension headers after the BTH per opcode, in bytes; -1: unknown. */
static int ext_len(uint8_t op)
{
	/* XRC: RC's operations; its requests carry an XRCETH first. */
	if (op >= 0xa0 && op <= 0xbd) {
		uint8_t rc = op - 0xa0;
		int n = ext_len(rc);

		if (n < 0)
			return -1;
		return rc >= 0x0d && rc <= 0x12 ? n : n + 4;
	}
	switch (op) {
	case 0x00: case 0x01: case 0x02: case 0x04: case 0x07: case 0x08:
	case 0x0e:
		return 0;
	case 0x03: case 0x05: case 0x09: case 0x16: case 0x17:
		return 4;			/* ImmDt, IETH */
	case 0x06: case 0x0a: case 0x0c: case 0x1d:
		return 16;			/* RETH (0x1d: atomic write) */
	case 0x0b:
		return 20;			/* RETH + ImmDt */
	case 0x0d: case 0x0f: case 0x10: case 0x11:
		return 4;			/* AETH */
	case 0x12:
		return 12;			/* AETH + AtomicAckETH */
	case 0x13: case 0x14:
		return 28;			/* AtomicETH */
	case 0x64:
		return 8;			/* DETH */
	case 0x65:
		return 12;			/* DETH + ImmDt */
	case 0x81:
		return 16;			/* CNP: reserved */
	default:
		return -1;
	}
}

static unsigned long seen, bad;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

static void complain(const char *why, const uint8_t *bth)
{
	bad++;
	if (bad <= 20)
		printf("bad packet (%s): opcode %#x psn %u\n", why, bth[0],
		       (bth[9] << 16) | (bth[10] << 8) | bth[11]);
}

static void check(const uint8_t *f, size_t len)
{
	uint8_t masked[40 + 8 + 12], lrh[8];
	size_t iplen, l4;
	const uint8_t *ip, *udp, *bth;
	uint32_t crc, icrc;
	size_t roce;
	int ext;

	if (len < 14)
		return;
	ip = f + 14;
	if (f[12] == 0x08 && f[13] == 0x00) {
		if (len < 14 + 20 || (ip[0] >> 4) != 4 || ip[9] != 17)
			return;
		iplen = (ip[0] & 15) * 4;
		l4 = ((size_t)ip[2] << 8 | ip[3]);
		if (iplen != 20 || l4 > len - 14)
			return;
		l4 -= iplen;
	} else if (f[12] == 0x86 && f[13] == 0xdd) {
		if (len < 14 + 40 || ip[6] != 17)
			return;
		iplen = 40;
		l4 = (size_t)ip[4] << 8 | ip[5];
		if (l4 > len - 14 - 40)
			return;
	} else {
		return;
	}
	udp = ip + iplen;
	if (l4 < 8 || (udp[2] << 8 | udp[3]) != 4791)
		return;
	seen++;
	bth = udp + 8;
	roce = l4 - 8;		/* BTH to ICRC */
	if (roce < 12 + 4) {
		complain("short", bth);
		return;
	}
	if (iplen == 20 && !(ip[6] & 0x40)) {
		complain("IPv4 without DF", bth);
		return;
	}
	if (udp[6] || udp[7]) {
		complain("UDP checksum not 0", bth);
		return;
	}
	ext = ext_len(bth[0]);
	if (ext < 0) {
		complain("unknown opcode", bth);
		return;
	}
	if ((bth[1] & 15) || bth[2] != 0xff || bth[3] != 0xff) {
		complain("TVer or P_Key", bth);
		return;
	}
	if (roce < 12 + (size_t)ext + ((bth[1] >> 4) & 3) + 4 || roce % 4) {
		complain("length, headers and pad disagree", bth);
		return;
	}
	memcpy(masked, ip, iplen + 8 + 12);
	if (iplen == 20) {
		masked[1] = 0xff;			/* TOS */
		masked[8] = 0xff;			/* TTL */
		masked[10] = masked[11] = 0xff;		/* header checksum */
	} else {
		masked[0] |= 0x0f;			/* traffic class ... */
		masked[1] = masked[2] = masked[3] = 0xff; /* ... and flow label */
		masked[7] = 0xff;			/* hop limit */
	}
	masked[iplen + 6] = masked[iplen + 7] = 0xff;	/* UDP checksum */
	masked[iplen + 8 + 4] = 0xff;			/* FECN, BECN, resv */
	memset(lrh, 0xff, sizeof(lrh));
	crc = crc32_z(0, lrh, sizeof(lrh));
	crc = crc32_z(crc, masked, iplen + 8 + 12);
	crc = crc32_z(crc, bth + 12, roce - 12 - 4);
	icrc = bth[roce - 4] | bth[roce - 3] << 8 | bth[roce - 2] << 16 |
	       (uint32_t)bth[roce - 1] << 24;
	if (crc != icrc)
		complain("ICRC", bth);
}

int main(int argc, char **argv)
{
	static uint8_t frame[65536];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	time_t end;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s IFNAME SECONDS\n", argv[0]);
		return 2;
	}
	crc_init();
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = if_nametoindex(argv[1]);
	if (fd < 0 || !sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		perror(argv[1]);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	end = time(NULL) + atoi(argv[2]);
	while (!stop && time(NULL) < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 200) <= 0)
			continue;
		n = recv(fd, frame, sizeof(frame), MSG_TRUNC);
		if (n > (ssize_t)sizeof(frame)) {
			bad++;
			continue;
		}
		if (n > 0)
			check(frame, n);
	}
	printf("roce-check %s: %lu RoCEv2 packets, %lu bad\n", argv[1], seen, bad);
	return bad || !seen ? 1 : 0;
}
