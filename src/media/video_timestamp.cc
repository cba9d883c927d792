// VideoTimestamp apart from the FFmpeg decoder in video.cc: the prompt builder needs it in
// every build, including the core-only one without media decoding.
#include "media/video.h"

#include <cinttypes>
#include <cstdio>

namespace g4 {

std::string VideoTimestamp(double seconds) {
  const int64_t whole = seconds > 0 ? static_cast<int64_t>(seconds) : 0;
  char text[32];
  std::snprintf(text, sizeof text, "%02" PRId64 ":%02" PRId64, whole / 60, whole % 60);
  return text;
}

}  // namespace g4
