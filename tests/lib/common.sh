# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Helpers for the shell tests (host and guest).

: "${SODP_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${SODP_BUILD:=$SODP_SRC/build}"
SODP_VM=$SODP_SRC/tools/sodp-vm
SODP_KO=$SODP_BUILD/kbuild/kernel

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# wait_listen PORT: until a TCP server listens on PORT (at most 20 s).  A
# client started before its server fails, and no fixed sleep is enough on
# a loaded, emulated machine.
wait_listen() {
	for _ in $(seq 200); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	fail "nothing listens on port $1"
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# tool_ok CMD RC OUT PINGS: true when the stock tool CMD (its command line)
# ended well: exit status RC 0; for rping, also PINGS verified pings in
# its output OUT (the client's, run with -v; the server prints none), and
# one failure forgiven: rdma-core 44's rping closes its event channel
# while its CM thread goes back to read it, and that thread exits 255 with
# "rdma_get_cm_event: Bad file descriptor" after a clean run (later rping
# wakes the thread with an eventfd first).
tool_ok() {
	local cmd=$1 rc=$2 out=$3 pings=$4
	case $cmd in
	rping*) ;;
	*) [ "$rc" = 0 ]; return ;;
	esac
	[ "$(grep -c '^ping data' "$out")" = "$pings" ] || return 1
	[ "$rc" = 0 ] && return 0
	[ "$rc" = 255 ] || return 1
	grep -q '^rdma_get_cm_event: Bad file descriptor' "$out" || return 1
	! grep -vE '^(ping data|(client|server) DISCONNECT EVENT|rdma_get_cm_event: Bad file descriptor)' "$out" | grep -q .
}

# load_sodp_module NAME [PARAM=VALUE...]: insmod a module from the build tree after its
# dependencies: ours from the build tree, the kernel's from /lib/modules.
load_sodp_module() {
	local ko dep
	grep -q "^$1 " /proc/modules && return 0
	ko=$(find "$SODP_KO" -name "$1.ko" | head -n 1)
	[ -n "$ko" ] || fail "module $1 not built"
	# Soft dependencies first (modprobe would load them: insmod does not).
	for dep in $(modinfo -F softdep "$ko" | sed -n 's/^pre: *//p'); do
		modprobe -q "$dep" || fail "modprobe $dep"
	done
	for dep in $(modinfo -F depends "$ko" | tr ',' ' '); do
		if [ -n "$(find "$SODP_KO" -name "$dep.ko")" ]; then
			load_sodp_module "$dep"
		else
			modprobe -q "$dep" || fail "modprobe $dep"
		fi
	done
	insmod "$ko" "${@:2}" || fail "insmod $ko"
}

# umem_hmm_test, with device-coherent memory where the guest has RAM
# reserved for it (memmap=SIZE$ADDR on its command line, as tests/run-all
# boots it) and the kernel has device memory (else no such parameter).
load_umem_hmm_test() {
	local ko r
	ko=$(find "$SODP_KO" -name umem_hmm_test.ko | head -n 1)
	r=$(tr ' ' '\n' < /proc/cmdline |
		sed -n 's/^memmap=\([0-9]*\)M\$\(0x[0-9a-fA-F]*\)$/\1 \2/p' | head -n 1)
	if [ -n "$r" ] && [ -n "$ko" ] && modinfo -F parm "$ko" | grep -q '^coherent_addr:'; then
		load_sodp_module umem_hmm_test "coherent_addr=${r#* }" \
			"coherent_size=$((${r% *} << 20))"
	else
		load_sodp_module umem_hmm_test
	fi
}

# unload_sodp_modules NAME...: rmmod, users before the modules they use.
unload_sodp_modules() {
	local m left=("$@") again
	while [ ${#left[@]} -gt 0 ]; do
		again=()
		for m in "${left[@]}"; do
			grep -q "^$m " /proc/modules || continue
			rmmod "$m" 2>/dev/null || again+=("$m")
		done
		[ ${#again[@]} -lt ${#left[@]} ] || fail "cannot unload: ${again[*]}"
		left=("${again[@]}")
	done
}

# umem_hmm_stat DEVICE NAME: a counter of /sys/kernel/debug/ib_umem_hmm/DEVICE
umem_hmm_stat() {
	awk -v n="$2" '$1 == n { print $2 }' "/sys/kernel/debug/ib_umem_hmm/$1/stats"
}
