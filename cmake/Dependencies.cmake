# Every third-party dependency is a Debian package (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
if(CMAKE_CROSSCOMPILING)
  # nlohmann-json is header-only and the same for every architecture: the host's package serves
  # the cross build too (outside the toolchain's arm64-only search root).
  find_package(nlohmann_json 3.10 REQUIRED NO_CMAKE_FIND_ROOT_PATH)
else()
  find_package(nlohmann_json 3.10 REQUIRED)
endif()
if(G4_BUILD_TESTS)
  if(CMAKE_CROSSCOMPILING)
    # Debian's libgtest-dev is built for the host only; build GoogleTest from Debian's source
    # package (googletest, /usr/src/googletest) with the cross compiler.
    set(G4_GTEST_SOURCE_DIR /usr/src/googletest CACHE PATH "GoogleTest sources for cross builds")
    set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    add_subdirectory(${G4_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL SYSTEM)
  else()
    find_package(GTest REQUIRED)
  endif()
endif()
if(G4_ENGINE_CORE_ONLY)
  # The engine core needs nothing more: no media decoding, network, server or CLI libraries.
  return()
endif()
find_package(CLI11 REQUIRED)
# The model store downloads with libcurl (libcurl4-openssl-dev) and checks sha256 with OpenSSL.
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
# HTTP server: Debian's cpp-httplib (libcpp-httplib-dev), found through pkg-config.
find_package(PkgConfig REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
# Image decoding: Debian's libpng (libpng-dev), libjpeg-turbo (libjpeg-dev) with libexif
# (libexif-dev) for the EXIF orientation, libwebp (libwebp-dev), giflib (libgif-dev) and stb
# (libstb-dev) for BMP.
find_package(PNG 1.6 REQUIRED)
pkg_check_modules(MEDIA_IMAGE REQUIRED IMPORTED_TARGET libjpeg libexif libwebp libgif stb)
# Audio and video decoding: FFmpeg's libraries (libavformat-dev, libavcodec-dev, libavutil-dev,
# libswresample-dev, libswscale-dev).
pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswresample libswscale)
