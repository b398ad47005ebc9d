# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Shell helpers shared by the sodp tools: which Debian kernel to use.

# The newest installed Debian amd64 kernel that has an image and modules.
sodp_newest_kernel() {
	local v
	for v in $(ls /boot/vmlinuz-*-amd64 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V -r); do
		if [ -d "/lib/modules/$v/kernel" ]; then
			echo "$v"
			return 0
		fi
	done
	return 1
}

# The newest Debian amd64 kernel headers (what modules are built against).
sodp_newest_headers() {
	ls -d /usr/src/linux-headers-*-amd64 2>/dev/null |
		sed 's|/usr/src/linux-headers-||' | sort -V -r | head -n 1 | grep .
}
