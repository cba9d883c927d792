// Audio decoding for the audio encoder: any container and codec FFmpeg's libraries read (WAV,
// FLAC, MP3, OGG/Vorbis/Opus, M4A/AAC, ...), mixed to mono and resampled to 16 kHz with
// libswresample, as float samples in [-1, 1].
//
// Limits are checked before samples pile up: a clip longer than kMaxAudioSeconds is refused
// with an error naming it, so memory stays bounded whatever the file claims.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace g4 {

// 10 minutes: 20 chunks of 30 s, 15000 soft tokens — more than any Gemma 4 prompt wants.
inline constexpr double kMaxAudioSeconds = 600.0;

struct AudioClip {
  std::vector<float> samples;  // mono, 16 kHz (kAudioSampleRate of log_mel.h)
  int source_rate = 0;         // the stream's own sample rate and channel count
  int source_channels = 0;
  double seconds() const { return static_cast<double>(samples.size()) / 16000.0; }
};

// Decodes audio held in memory. `what` names it in errors ("speech.mp3", "message 1 part 2").
// Throws g4::Error naming `what` for an empty, truncated, corrupt or unsupported file, a file
// without an audio stream, or one longer than kMaxAudioSeconds.
AudioClip DecodeAudio(const uint8_t* data, size_t size, const std::string& what);
// Reads and decodes a file; errors name the path.
AudioClip DecodeAudioFile(const std::string& path);

}  // namespace g4
