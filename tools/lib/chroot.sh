# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# shellcheck shell=sh
# sodp_in_chroot ROOT DIR... -- COMMAND...: run COMMAND in the chroot ROOT
# (a Debian release made by tools/sodp-kernel), in a mount namespace of its
# own where each DIR is seen at its own path, with /dev and /proc.
sodp_in_chroot() {
	unshare -m sh -c '
		set -e
		root=$1
		shift
		while [ "$1" != -- ]; do
			mkdir -p "$root$1"
			mount --bind "$1" "$root$1"
			shift
		done
		shift
		mount --bind /dev "$root/dev"
		mount -t proc proc "$root/proc"
		exec chroot "$root" "$@"
	' sh "$@"
}
