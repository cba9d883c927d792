// The multimodal half of g4 bench: how long the vision encoder takes per image at a soft-token
// budget, and the audio encoder's real-time factor (encode time ÷ clip length, log-mel included).
#pragma once

#include <string>
#include <vector>

#include "g4/engine.h"

namespace g4::cli {

struct EncoderBenchResult {
  std::string name;           // "image 280" / "audio 30 s"
  std::string unit;           // "ms/image" or "RTF"
  std::string detail;         // e.g. "768x768 -> 256 tokens"
  std::vector<double> samples;
};

// Times `reps` runs (after one warm-up) of each tower the model has. Synthetic inputs: a 4:3
// pattern image resized to the budget's size (spec §4.2), a sweep plus noise for audio.
std::vector<EncoderBenchResult> BenchEncoders(const LoadedModel& model, int image_tokens, double audio_seconds,
                                              int reps, int threads);

}  // namespace g4::cli
