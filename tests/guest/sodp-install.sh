#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# A real install, as tools/sodp-install does it (cmake --install for the
# provider, DKMS for the modules, built here for this kernel), into a
# throw-away root: an overlay over the guest's read-only root, or, on a
# kernel of another Debian release, over that release's own root
# (SODP_OS_ROOT: its chroot, with its DKMS and compiler).  In it, with
# no environment variable at all, the modules load from DKMS's directory,
# "rdma link add" creates a device, the system's libibverbs finds the provider
# (ibv_devinfo) and ibv_rc_pingpong runs.  Then it is removed again: no
# file of it is left, the modules unload.  DKMS compiles in the guest:
# minutes under TCG.
# timeout-factor: 3
. "$SODP_SRC/tests/lib/common.sh"

unload_sodp_modules rdma_sodp umem_hmm_test ib_umem_hmm
top=/tmp/install-test
root=$top/root
kver=$(uname -r)
mkdir -p "$top/upper" "$top/work" "$root"
modprobe overlay || fail "no overlayfs"
os_root=${SODP_OS_ROOT:-/}
mount -t overlay overlay -o "lowerdir=$os_root,upperdir=$top/upper,workdir=$top/work" "$root" ||
	fail "overlay over $os_root"
cleanup() {
	chroot "$root" /bin/sh -c 'rmmod rdma_sodp ib_umem_hmm' 2> /dev/null
	ip link del inst0 2> /dev/null
	umount -R "$root" 2> /dev/null
}
trap cleanup EXIT
uppers=("$top/upper")
# overlay_at DIR NAME: a writable overlay of the guest's DIR at DIR in the
# root, for what is a mount of its own in the guest, so not in the root's
# lower layer.
overlay_at() {
	mkdir -p "$top/$2-upper" "$top/$2-work" "$root$1"
	mount -t overlay overlay -o "lowerdir=$1,upperdir=$top/$2-upper,workdir=$top/$2-work" \
		"$root$1" || fail "overlay over $1"
}
for d in proc sys dev; do
	mount --rbind "/$d" "$root/$d"
done
mount -t tmpfs tmpfs "$root/tmp"
mount -t tmpfs tmpfs "$root/var/tmp"
# A kernel whose modules come from elsewhere (the debug kernel's, another
# release's).
if mountpoint -q /lib/modules; then
	overlay_at /lib/modules modules
	uppers+=("$top/modules-upper")
fi
# The source and build trees (shares of their own when under /tmp or
# /root, the build tree inside the source tree too); the build tree gets
# cmake's install manifest.
overlay_at "$SODP_SRC" src
overlay_at "$SODP_BUILD" build

# in_root CMD...: as root in the new root, with a clean environment.
in_root() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"
}

# On another release's root, the provider built for its libibverbs
# (tools/sodp-build --kernel).
inst_build=$SODP_BUILD
[ "$os_root" = / ] || inst_build=$SODP_BUILD/os-provider

t0=$(date +%s)
in_root env SODP_BUILD="$inst_build" "$SODP_SRC/tools/sodp-install" -k "$kver" ||
	fail "sodp-install"
# files: what of sodp is in the root (not depmod's indexes, whose folder
# is named after a kernel release that may say "sodp").
files() {
	find "${uppers[@]}" -type f \( -name "*.ko*" -o -path "*/sodp*" -o -path "*/libsodp*" \) | sort
}
echo "installed in $(($(date +%s) - t0)) s: $(files | wc -l) files, among them"
files | grep -v "/usr/src/sodp-"
in_root dkms status -m sodp | grep -q "installed" || fail "dkms status: not installed"
[ -f "$root/etc/libibverbs.d/sodp.driver" ] || fail "no /etc/libibverbs.d/sodp.driver"

# Loaded from where DKMS put them, by name, as a user would.
in_root modprobe rdma_sodp || fail "modprobe rdma_sodp"
in_root modinfo -n rdma_sodp | grep -q /updates/dkms/ || fail "rdma_sodp not from DKMS"
ip link add inst0 type dummy
ip addr add 10.78.0.1/24 dev inst0
ip link set inst0 up
in_root rdma link add sodp9 type sodp netdev inst0 || fail "rdma link add"
for _ in $(seq 50); do
	grep -q "0000:0000:0000:0000:0000:ffff" /sys/class/infiniband/sodp9/ports/1/gids/* && break
	sleep 0.1
done
in_root ibv_devinfo -d sodp9 | grep -q PORT_ACTIVE ||
	fail "ibv_devinfo does not see sodp9 through the installed provider"
in_root ibv_rc_pingpong -d sodp9 -g 1 -n 100 > /tmp/inst-pp.srv 2>&1 &
srv=$!
wait_listen 18515
in_root timeout 60 ibv_rc_pingpong -d sodp9 -g 1 -n 100 127.0.0.1 || fail "pingpong client"
wait "$srv" || { cat /tmp/inst-pp.srv; fail "pingpong server"; }
in_root rdma link del sodp9
in_root rmmod rdma_sodp ib_umem_hmm || fail "modules do not unload"

in_root env SODP_BUILD="$inst_build" "$SODP_SRC/tools/sodp-install" --remove ||
	fail "sodp-install --remove"
left=$(files)
[ -z "$left" ] || fail "left after removal: $left"
in_root dkms status -m sodp | grep -q . && fail "dkms still knows sodp"
echo "removed: no sodp file left in the root"
exit 0
