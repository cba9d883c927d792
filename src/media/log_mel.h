// Gemma 4's audio front end (spec/gemma4-io.md §5.1, Hugging Face's Gemma4AudioFeatureExtractor):
// 16 kHz mono PCM -> log-mel frames. 160 zeros are prepended (semicausal padding), frames of
// 320 samples every 160 (10 ms), a periodic Hann window, a 512-point FFT, the magnitude, 128 HTK
// mel triangles from 0 to 8000 Hz (peak 1, no area normalisation), and log(mel + 1e-3): the
// floor is added, as the official extractor does (llama.cpp clamps instead).
#pragma once

#include <cstdint>
#include <vector>

namespace g4 {

inline constexpr int kMelBins = 128;
inline constexpr int kAudioSampleRate = 16000;

// Frames a clip of n_samples gives: floor((n + 160 − 321) / 160) + 1, or 0 below 161 samples.
int64_t LogMelFrames(int64_t n_samples);

// [frames][128] log-mel values, frame-major.
std::vector<float> LogMel(const float* pcm, int64_t n_samples);

}  // namespace g4
