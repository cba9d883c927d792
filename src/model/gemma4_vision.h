// Gemma 4 vision encoder (spec/gemma4-io.md §4.3): image pixels -> soft-token embeddings of the
// text model's width. Both tower sizes (E2B/E4B: clipped linears; 26B/31B: std_bias/std_scale)
// run the same code; every size comes from the VisionTower. Activations are float32.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "media/image.h"
#include "model/vision_weights.h"

namespace g4 {

struct VisionEmbeddings {
  int64_t grid_w = 0, grid_h = 0;  // soft tokens per row and per column (pooled grid)
  int64_t n_tokens = 0;            // grid_w · grid_h, row-major: token = y·grid_w + x
  int64_t width = 0;               // text width
  std::vector<float> data;         // [n_tokens][width]
};

class Gemma4VisionEncoder {
 public:
  // `tower` must outlive the encoder. n_threads counts the calling thread (0: one per core).
  Gemma4VisionEncoder(const VisionTower& tower, int n_threads);

  const VisionConfig& config() const { return c_; }
  // The pixel granularity an image must have to be encoded as is: patch size × pooling (48).
  int64_t side_multiple() const { return c_.patch_size * c_.pooling; }

  // Encodes the pixels exactly as given (no resizing): both sides must be multiples of
  // side_multiple() and fit the position tables. Throws g4::Error naming the size otherwise.
  VisionEmbeddings Encode(const Image& image);

 private:
  struct Grid;  // the patch grid of one image and its RoPE tables
  std::vector<float> EmbedPatches(const Image& image, const Grid& g);
  void Attention(const VisionLayerWeights& w, const Grid& g, std::vector<float>& x);
  void FeedForward(const VisionLayerWeights& w, const Grid& g, std::vector<float>& x);
  void AttendHeads(const Grid& g, const std::vector<float>& q, const std::vector<float>& k,
                   const std::vector<float>& v, std::vector<float>& out);
  std::vector<float> Pool(const Grid& g, const std::vector<float>& x) const;

  const VisionConfig& c_;
  const VisionWeights& w_;
  ThreadPool pool_;
};

}  // namespace g4
