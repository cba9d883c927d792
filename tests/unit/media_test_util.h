// Helpers for the media tests: files in a per-test temp directory, independent references run
// at test time (PIL through Debian's /usr/bin/python3, the `ffmpeg` program), test images.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "media/image.h"

namespace g4::media_test {

inline const std::string kPilOracle = std::string(G4_TEST_DATA_DIR) + "/../tools/media/pil_oracle.py";
// Debian's interpreter: the one that has python3-pil (a pyenv python3 on PATH may not).
inline const std::string kPython = "/usr/bin/python3";

// A fresh file name in the test temp dir (the file itself is not created).
inline std::string TempPath(const std::string& suffix) {
  static std::atomic<int> counter{0};
  return (std::filesystem::path(testing::TempDir()) /
          ("g4_media_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + suffix))
      .string();
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void WriteBytes(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// Runs a shell command; returns its stdout, or fails the test with the exit status.
inline std::string RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return output;
  }
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << command << "\n" << output;
  return output;
}

inline std::string Quote(const std::string& s) { return "'" + s + "'"; }

// A smooth gradient plus a hash-like texture: edges and flat parts, every channel different.
inline Image PatternImage(int width, int height) {
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &image.rgb[(static_cast<size_t>(y) * width + x) * 3];
      const uint32_t h = (static_cast<uint32_t>(x) * 73856093u) ^ (static_cast<uint32_t>(y) * 19349663u);
      p[0] = static_cast<uint8_t>(x * 255 / std::max(width - 1, 1));
      p[1] = static_cast<uint8_t>(y * 255 / std::max(height - 1, 1));
      p[2] = (x / 7 + y / 5) % 2 ? static_cast<uint8_t>(h >> 8) : static_cast<uint8_t>(40 + (h & 63));
    }
  }
  return image;
}

// The largest per-channel difference between two equally sized images.
inline int MaxPixelDifference(const Image& a, const Image& b) {
  int worst = 0;
  for (size_t i = 0; i < a.rgb.size() && i < b.rgb.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<int>(a.rgb[i]) - static_cast<int>(b.rgb[i])));
  }
  return worst;
}

inline std::string ErrorText(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace g4::media_test
