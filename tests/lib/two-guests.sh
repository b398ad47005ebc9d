# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Helpers for a script that runs in each of two guests on one Ethernet
# segment (tools/sodp-vm --net socket:...): guest a is 10.83.0.1, guest b
# 10.83.0.2, both on eth0.  Both run the same steps in the same order; a
# barrier over TCP (port 7000 of a) keeps them in step.

# two_guests_init a|b: sets role, me and peer; eth0 up; returns once the
# peer is on the segment.
two_guests_init() {
	role=$1
	me=$([ "$role" = a ] && echo 10.83.0.1 || echo 10.83.0.2)
	peer=$([ "$role" = a ] && echo 10.83.0.2 || echo 10.83.0.1)
	modprobe virtio_net 2> /dev/null
	ip link set eth0 up && ip addr add "$me/24" dev eth0 || fail "eth0"
	barrier "up"
}

# barrier NAME: returns on both sides once both reached NAME (5 min at most).
barrier() {
	/usr/bin/python3 - "$role" "$1" <<'PY' || fail "barrier $1"
import socket, sys, time
role, name = sys.argv[1], sys.argv[2].encode()
end = time.time() + 300
if role == "a":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.83.0.1", 7000))
    s.listen(1)
    s.settimeout(300)
    c, _ = s.accept()
    got = c.recv(256)
    c.sendall(name)
    sys.exit(0 if got == name else 1)
while time.time() < end:
    try:
        c = socket.create_connection(("10.83.0.1", 7000), timeout=5)
        c.sendall(name)
        sys.exit(0 if c.recv(256) == name else 1)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
}

# two_guests_link sodp|rxe: the device of that kind on eth0 (the other
# kind removed: both bind UDP 4791), once it has its IPv4 GID; sets dev.
two_guests_link() {
	if [ "$1" = sodp ]; then
		unload_sodp_modules rdma_rxe
		load_sodp_module rdma_sodp
		rdma link add sodp0 type sodp netdev eth0 || fail "rdma link add sodp0"
		dev=sodp0
	else
		if grep -q "^rdma_sodp " /proc/modules; then
			rdma link del sodp0 2> /dev/null
			unload_sodp_modules rdma_sodp
		fi
		modprobe rdma_rxe && rdma link add rxe0 type rxe netdev eth0 ||
			fail "rdma link add rxe0"
		dev=rxe0
	fi
	for _ in $(seq 50); do
		grep -q "0000:0000:0000:0000:0000:ffff" \
			/sys/class/infiniband/$dev/ports/1/gids/* && return 0
		sleep 0.1
	done
	fail "$dev has no IPv4 GID"
}
