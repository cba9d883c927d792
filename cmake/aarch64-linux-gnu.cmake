# Cross build for 64-bit Arm Linux (Raspberry Pi 4/5 and the like) on an x86-64 Debian host,
# with Debian's g++-aarch64-linux-gnu; tests run under qemu-user (qemu-aarch64).
#   cmake -S . -B build-arm -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# scripts/test_arm.sh does this and runs ctest. Only the engine core builds: no arm64 builds of
# the media, network or CLI libraries are installed, so this file turns G4_ENGINE_CORE_ONLY on.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(G4_ARM_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${G4_ARM_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${G4_ARM_TRIPLE}-g++)

# Debian's arm64 C and C++ runtime for the cross compiler lives here (libc6-arm64-cross).
set(G4_ARM_SYSROOT /usr/${G4_ARM_TRIPLE})
# Libraries and CMake packages only from the arm64 tree, never the host's x86-64 ones; programs
# (qemu, ninja) from the host.
set(CMAKE_FIND_ROOT_PATH ${G4_ARM_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest and gtest_discover_tests run the test programs through this. -L: the arm64 dynamic
# loader and libraries; -cpu max: every feature qemu emulates, so run-time SIMD dispatch sees
# the widest Arm CPU.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L ${G4_ARM_SYSROOT} -cpu max)

set(G4_ENGINE_CORE_ONLY ON CACHE BOOL "Build only the engine core (no media decoding, server, hub or CLI)")
