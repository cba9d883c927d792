#include "bench_encoders.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>

#include "media/image_resize.h"
#include "model/gemma4_audio.h"
#include "model/gemma4_vision.h"
#include "model/mmproj.h"

namespace g4::cli {
namespace {

double MillisecondsOf(const std::function<void()>& fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Smooth gradients with a few edges: content is irrelevant to the work done, but constant
// pixels would make every patch identical.
Image PatternImage(int width, int height) {
  Image image{.width = width, .height = height, .rgb = std::vector<uint8_t>(static_cast<size_t>(width) * height * 3)};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.rgb.data() + (static_cast<size_t>(y) * width + x) * 3;
      p[0] = static_cast<uint8_t>(x * 255 / width);
      p[1] = static_cast<uint8_t>(y * 255 / height);
      p[2] = static_cast<uint8_t>(((x / 37) ^ (y / 23)) & 1 ? 220 : 40);
    }
  }
  return image;
}

std::vector<float> SweepWithNoise(double seconds) {
  const int64_t n = static_cast<int64_t>(seconds * 16000);
  std::vector<float> pcm(static_cast<size_t>(n));
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  double phase = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double f = 100.0 + 3900.0 * static_cast<double>(i) / static_cast<double>(n);
    phase += 2 * std::numbers::pi * f / 16000.0;
    pcm[static_cast<size_t>(i)] = 0.4f * static_cast<float>(std::sin(phase)) + noise(rng);
  }
  return pcm;
}

}  // namespace

std::vector<EncoderBenchResult> BenchEncoders(const LoadedModel& model, int image_tokens, double audio_seconds,
                                              int reps, int threads) {
  std::vector<EncoderBenchResult> results;
  const MultimodalTowers* towers = model.towers();
  if (towers == nullptr) return results;
  if (towers->vision() != nullptr && image_tokens > 0) {
    Gemma4VisionEncoder encoder(*towers->vision(), threads);
    const ImageSize size = VisionInputSize(1024, 768, image_tokens, static_cast<int>(encoder.side_multiple()));
    const Image image = PatternImage(size.width, size.height);
    EncoderBenchResult r;
    r.name = "image " + std::to_string(image_tokens);
    r.unit = "ms/image";
    int64_t tokens = 0;
    for (int i = 0; i <= reps; ++i) {
      const double ms = MillisecondsOf([&] { tokens = encoder.Encode(image).n_tokens; });
      if (i > 0) r.samples.push_back(ms);
    }
    r.detail = std::to_string(size.width) + "x" + std::to_string(size.height) + " -> " + std::to_string(tokens) +
               " tokens";
    results.push_back(std::move(r));
  }
  if (towers->audio() != nullptr && audio_seconds > 0) {
    Gemma4AudioEncoder encoder(*towers->audio(), threads);
    const std::vector<float> pcm = SweepWithNoise(audio_seconds);
    char name[32];
    std::snprintf(name, sizeof name, "audio %g s", audio_seconds);
    EncoderBenchResult r;
    r.name = name;
    r.unit = "RTF";
    int64_t tokens = 0;
    for (int i = 0; i <= reps; ++i) {
      const double ms =
          MillisecondsOf([&] { tokens = encoder.EncodePcm(pcm.data(), static_cast<int64_t>(pcm.size())).n_tokens; });
      if (i > 0) r.samples.push_back(ms / 1000.0 / audio_seconds);
    }
    r.detail = "log-mel + encoder, " + std::to_string(tokens) + " tokens";
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace g4::cli
