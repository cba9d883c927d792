// Image preprocessing for the vision encoder (spec/gemma4-io.md §4.2, Hugging Face's
// Gemma4ImageProcessor): an aspect-preserving resize, up or down, to the largest size whose
// sides are multiples of 48 (patch 16 × pooling 3) and whose soft-token count fits the budget.
#pragma once

#include <array>
#include <cstdint>

#include "media/image.h"

namespace g4 {

// The budgets the official processor accepts: 70, 140, 280 (default), 560, 1120.
inline constexpr std::array<int, 5> kImageTokenBudgets = {70, 140, 280, 560, 1120};
inline constexpr int kDefaultImageTokens = 280;
bool IsImageTokenBudget(int max_soft_tokens);

struct ImageSize {
  int width = 0;
  int height = 0;
};

// The size §4.2 resizes a width × height image to for `max_soft_tokens` (degenerate cases
// included). side_multiple is the encoder's patch size × pooling (48 for Gemma 4). Throws
// g4::Error for a budget that is not one of the accepted values.
ImageSize VisionInputSize(int width, int height, int max_soft_tokens, int side_multiple = 48);

// Resampling with a bicubic kernel (a = -0.5) whose support widens with the reduction factor
// (antialiased), as PIL's Image.resize(BICUBIC) and torchvision's antialiased bicubic do.
Image ResizeBicubic(const Image& image, int width, int height);

// VisionInputSize + ResizeBicubic; returns the image unchanged when the size already matches.
Image PrepareImageForVision(const Image& image, int max_soft_tokens, int side_multiple = 48);

}  // namespace g4
