// Video decoding with FFmpeg's libraries (MP4, MKV, WebM, MOV, ... whatever libavformat reads):
// frames sampled evenly over the clip, as RGB images with their time stamps, and the audio track
// (mono 16 kHz) when there is one, for the E2B/E4B audio encoder (spec/gemma4-io.md §4.6).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "media/audio.h"
#include "media/image.h"

namespace g4 {

inline constexpr int kDefaultVideoFrames = 32;
inline constexpr int kMaxVideoFrames = 256;
// All sampled frames together, at their own size: 256 Mpx (768 MiB of RGB), e.g. 32 frames of
// 3840 x 2160. A request beyond it is refused before decoding; fewer frames fit.
inline constexpr int64_t kMaxVideoSampledPixels = int64_t{1} << 28;

struct VideoOptions {
  int max_frames = kDefaultVideoFrames;  // frames sampled evenly over the clip (fewer if it is short)
  bool with_audio = true;                // also decode the first audio stream, if any
};

struct VideoFrame {
  Image image;          // RGB at the stream's own size (resizing is the vision preprocessing's job)
  int64_t index = 0;    // frame number in the stream, from 0
  double seconds = 0;   // index / fps, what the prompt's MM:SS stamp shows (§4.6)
};

struct VideoClip {
  double fps = 0;                   // the stream's average frame rate (24 when unknown, as HF does)
  double duration_seconds = 0;
  std::vector<VideoFrame> frames;   // in time order
  std::optional<AudioClip> audio;   // the audio track, when asked for and present
};

// "MM:SS" of §4.6: whole seconds, truncated, zero padded (minutes may exceed 99).
std::string VideoTimestamp(double seconds);

// Throws g4::Error naming `what` for an empty, truncated or corrupt file, one without a video
// stream, an unsupported codec, oversized frames, or audio longer than kMaxAudioSeconds.
VideoClip DecodeVideo(const uint8_t* data, size_t size, const std::string& what, const VideoOptions& options);
VideoClip DecodeVideoFile(const std::string& path, const VideoOptions& options);

}  // namespace g4
