# Every third-party dependency is a Debian package (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
# The model store downloads with libcurl (libcurl4-openssl-dev) and checks sha256 with OpenSSL.
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
if(G4_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
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
