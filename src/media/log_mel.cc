#include "media/log_mel.h"

#include <cmath>
#include <complex>
#include <numbers>

namespace g4 {
namespace {

constexpr int kFrame = 320;  // samples per frame (the 321-sample window minus its last sample)
constexpr int kHop = 160;
constexpr int kFft = 512;
constexpr int kBins = kFft / 2 + 1;
constexpr double kMelFloor = 1e-3;
constexpr double kMaxHz = 8000;

double HzToMel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double MelToHz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

// [kBins][kMelBins]: triangles between consecutive edges, against bin frequencies k·fs/kFft.
std::vector<double> MelFilters() {
  double edges[kMelBins + 2];
  for (int i = 0; i < kMelBins + 2; ++i) edges[i] = MelToHz(HzToMel(kMaxHz) * i / (kMelBins + 1));
  std::vector<double> filters(kBins * kMelBins);
  for (int k = 0; k < kBins; ++k) {
    const double hz = static_cast<double>(k) * kAudioSampleRate / kFft;
    for (int m = 0; m < kMelBins; ++m) {
      const double up = (hz - edges[m]) / (edges[m + 1] - edges[m]);
      const double down = (edges[m + 2] - hz) / (edges[m + 2] - edges[m + 1]);
      filters[k * kMelBins + m] = std::max(0.0, std::min(up, down));
    }
  }
  return filters;
}

// In-place iterative radix-2 FFT of kFft complex values.
void Fft(std::complex<double>* x) {
  for (int i = 1, j = 0; i < kFft; ++i) {
    int bit = kFft >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(x[i], x[j]);
  }
  for (int len = 2; len <= kFft; len <<= 1) {
    const std::complex<double> step = std::polar(1.0, -2.0 * std::numbers::pi / len);
    for (int start = 0; start < kFft; start += len) {
      std::complex<double> w = 1.0;
      for (int i = 0; i < len / 2; ++i) {
        const std::complex<double> a = x[start + i];
        const std::complex<double> b = x[start + i + len / 2] * w;
        x[start + i] = a + b;
        x[start + i + len / 2] = a - b;
        w *= step;
      }
    }
  }
}

}  // namespace

int64_t LogMelFrames(int64_t n_samples) {
  const int64_t padded = n_samples + kHop;
  return padded < kFrame + 1 ? 0 : (padded - (kFrame + 1)) / kHop + 1;
}

std::vector<float> LogMel(const float* pcm, int64_t n_samples) {
  static const std::vector<double> filters = MelFilters();
  const int64_t frames = LogMelFrames(n_samples);
  std::vector<float> out(frames * kMelBins);
  double window[kFrame];
  for (int n = 0; n < kFrame; ++n) window[n] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * n / kFrame);
  std::complex<double> spectrum[kFft];
  double magnitude[kBins];
  for (int64_t f = 0; f < frames; ++f) {
    // Frame f covers samples [160·f − 160, 160·f + 160) of the clip (zeros before it).
    for (int n = 0; n < kFft; ++n) {
      const int64_t i = f * kHop - kHop + n;
      spectrum[n] = n < kFrame && i >= 0 && i < n_samples ? pcm[i] * window[n] : 0.0;
    }
    Fft(spectrum);
    for (int k = 0; k < kBins; ++k) magnitude[k] = std::abs(spectrum[k]);
    for (int m = 0; m < kMelBins; ++m) {
      double mel = 0;
      for (int k = 0; k < kBins; ++k) mel += magnitude[k] * filters[k * kMelBins + m];
      out[f * kMelBins + m] = static_cast<float>(std::log(mel + kMelFloor));
    }
  }
  return out;
}

}  // namespace g4
