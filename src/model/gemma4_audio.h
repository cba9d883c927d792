// Gemma 4 audio encoder (spec/gemma4-io.md §5.2-5.4): log-mel frames -> soft-token embeddings of
// the text model's width, one per 40 ms. Subsampling convolutions (SSCP), a conformer stack
// (macaron feed-forwards, local self-attention with relative positions and a softcap, a light
// convolution module), the output projection and embed_audio. Activations are float32.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "model/audio_weights.h"

namespace g4 {

struct AudioEmbeddings {
  int64_t n_tokens = 0;  // ceil(ceil(frames / 2) / 2)
  int64_t width = 0;     // text width
  std::vector<float> data;  // [n_tokens][width]
};

class Gemma4AudioEncoder {
 public:
  // `tower` must outlive the encoder. n_threads counts the calling thread (0: one per core).
  Gemma4AudioEncoder(const AudioTower& tower, int n_threads);

  const AudioConfig& config() const { return c_; }

  // Encodes one clip's log-mel frames ([frames][n_mel], frame-major) as a single sequence.
  // Throws g4::Error for an empty clip.
  AudioEmbeddings Encode(const float* mel, int64_t frames);
  // 16 kHz mono PCM: the log-mel front end (media/log_mel.h), then Encode. Clips longer than
  // 30 s are split into 30 s chunks encoded independently, their tokens concatenated, as the
  // reference implementations do.
  AudioEmbeddings EncodePcm(const float* pcm, int64_t n_samples);

  static constexpr int64_t kChunkSamples = 30 * 16000;

 private:
  std::vector<float> Subsample(const float* mel, int64_t frames, int64_t* n_out);
  void FeedForward(const AudioFfnWeights& w, int64_t n, std::vector<float>& x);
  void Attention(const AudioLayerWeights& w, int64_t n, std::vector<float>& x);
  void LightConv(const AudioLayerWeights& w, int64_t n, std::vector<float>& x);

  const AudioConfig& c_;
  const AudioWeights& w_;
  ThreadPool pool_;
  std::vector<float> rel_pos_;  // [chunk_size][d] sinusoids s(δ) of the distances δ = 0 … chunk_size − 1
};

}  // namespace g4
