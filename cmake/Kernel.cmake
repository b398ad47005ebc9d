# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#
# Kernel modules are built by Kbuild against a Debian kernel's headers (not
# necessarily the running kernel: these machines' own kernel loads no
# modules).  Kbuild writes its objects next to the sources, so the tree is
# mirrored into the build directory as symlinks first and the source tree
# stays clean.

execute_process(
  COMMAND sh -c ". '${CMAKE_SOURCE_DIR}/tools/lib/kernel.sh' && sodp_newest_headers"
  OUTPUT_VARIABLE _sodp_newest_kernel OUTPUT_STRIP_TRAILING_WHITESPACE)
set(SODP_KERNEL "${_sodp_newest_kernel}" CACHE STRING
    "Kernel version the modules are built for (e.g. 6.1.0-56-amd64)")
set(SODP_KERNEL_DIR "/usr/src/linux-headers-${SODP_KERNEL}" CACHE PATH
    "Kbuild tree (headers) of SODP_KERNEL")

set(SODP_KBUILD_CHROOT "" CACHE PATH
    "Chroot (tools/sodp-kernel) that builds for SODP_KERNEL: its compiler; SODP_KERNEL_DIR is inside it")

set(SODP_KBUILD_DIR "${CMAKE_BINARY_DIR}/kbuild")
file(GLOB_RECURSE _sodp_kernel_sources CONFIGURE_DEPENDS
     "${CMAKE_SOURCE_DIR}/kernel/*.c" "${CMAKE_SOURCE_DIR}/kernel/*.h"
     "${CMAKE_SOURCE_DIR}/kernel/Kbuild" "${CMAKE_SOURCE_DIR}/kernel/*/Kbuild"
     "${CMAKE_SOURCE_DIR}/include/*.h")

if(NOT EXISTS "${SODP_KBUILD_CHROOT}${SODP_KERNEL_DIR}/Makefile")
  message(WARNING "No kernel headers at ${SODP_KERNEL_DIR}: kernel modules "
                  "will not be built (apt-get install linux-headers-amd64)")
else()
  message(STATUS "sodp: kernel modules for ${SODP_KERNEL}")
  add_custom_command(
    OUTPUT "${SODP_KBUILD_DIR}/kernel/modules.order"
    COMMAND "${CMAKE_COMMAND}" -E env "SODP_KBUILD_CHROOT=${SODP_KBUILD_CHROOT}"
            "${CMAKE_SOURCE_DIR}/tools/kbuild" "${CMAKE_SOURCE_DIR}"
            "${SODP_KBUILD_DIR}" "${SODP_KERNEL_DIR}"
    DEPENDS ${_sodp_kernel_sources} "${CMAKE_SOURCE_DIR}/tools/kbuild"
            "${CMAKE_SOURCE_DIR}/kernel/compat/conftest.sh"
    COMMENT "Building kernel modules for ${SODP_KERNEL}"
    USES_TERMINAL VERBATIM)
  add_custom_target(kernel-modules ALL
    DEPENDS "${SODP_KBUILD_DIR}/kernel/modules.order")
endif()
