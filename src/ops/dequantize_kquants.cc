#include "ops/dequantize_kquants.h"

#include <cstring>

#include "base/half.h"

// The arithmetic below is ordered as in ggml's reference dequantizers (scale products formed
// first, then applied to the quant), so results match llama.cpp bit for bit.

namespace g4 {
namespace {

float LoadHalf(const uint8_t* p) { return HalfToFloat(static_cast<uint16_t>(p[0] | (p[1] << 8))); }

// Q4_K and Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes: sub-blocks 0-3
// keep theirs in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 keep
// their low 4 bits in the nibbles of bytes 8-11 and their top 2 bits in the spare top bits of
// bytes 0-3 (scales) and 4-7 (mins).
void ScaleMinK4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace

// Q2_K: 16 bytes of (4-bit scale | 4-bit min << 4) per 16 values, 64 bytes of 2-bit quants,
// f16 d, f16 dmin. Each 128-value half uses 32 quant bytes; value 32 * g + l of the half
// (g = 0..3) is bits 2g..2g+1 of byte l.
void DequantizeQ2K(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, src += kQ2KBytes) {
    const uint8_t* scales = src;
    const uint8_t* q = src + 16;
    const float d = LoadHalf(src + 80);
    const float dmin = LoadHalf(src + 82);
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part) {
          const uint8_t sc = scales[is++];
          const float dl = d * static_cast<float>(sc & 0x0f);
          const float ml = dmin * static_cast<float>(sc >> 4);
          const uint8_t* qp = q + 16 * part;
          for (int l = 0; l < 16; ++l) {
            *dst++ = dl * static_cast<float>((qp[l] >> shift) & 3) - ml;
          }
        }
      }
    }
  }
}

// Q3_K: 32 bytes of high bits (bit g of byte l belongs to value 32 * g + l), 64 bytes of low
// 2-bit quants laid out as in Q2_K, sixteen 6-bit scales biased by 32 packed into 12 bytes,
// f16 d. A clear high bit means the quant is 4 lower.
void DequantizeQ3K(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, src += kQ3KBytes) {
    const uint8_t* hmask = src;
    const uint8_t* q = src + 32;
    const uint8_t* packed = src + 96;
    const float d = LoadHalf(src + 108);
    // Scale i: low 4 bits in a nibble of byte i % 8 (low nibble for i < 8), high 2 bits in
    // byte 8 + i % 4 at bit 2 * (i / 4).
    int scales[16];
    for (int i = 0; i < 16; ++i) {
      const int low = i < 8 ? (packed[i] & 0x0f) : (packed[i - 8] >> 4);
      const int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
      scales[i] = (low | (high << 4)) - 32;
    }
    int is = 0;
    uint8_t m = 1;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
        for (int part = 0; part < 2; ++part) {
          const float dl = d * static_cast<float>(scales[is++]);
          const uint8_t* qp = q + 16 * part;
          const uint8_t* hp = hmask + 16 * part;
          for (int l = 0; l < 16; ++l) {
            const int value = ((qp[l] >> shift) & 3) - ((hp[l] & m) ? 0 : 4);
            *dst++ = dl * static_cast<float>(value);
          }
        }
      }
    }
  }
}

// Q4_K: f16 d, f16 dmin, 12 bytes of scales/mins (ScaleMinK4), 128 bytes of nibbles. Each
// 64-value chunk reads 32 bytes: the low nibbles are sub-block 2c, the high nibbles 2c + 1.
// x = d * scale * q - dmin * min.
void DequantizeQ4K(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, src += kQ4KBytes) {
    const float d = LoadHalf(src);
    const float dmin = LoadHalf(src + 2);
    const uint8_t* packed = src + 4;
    const uint8_t* q = src + 16;
    for (int chunk = 0; chunk < 4; ++chunk, q += 32) {
      uint8_t sc, mn;
      ScaleMinK4(2 * chunk, packed, &sc, &mn);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(mn);
      ScaleMinK4(2 * chunk + 1, packed, &sc, &mn);
      const float d2 = d * static_cast<float>(sc);
      const float m2 = dmin * static_cast<float>(mn);
      for (int l = 0; l < 32; ++l) *dst++ = d1 * static_cast<float>(q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) *dst++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

// Q5_K: as Q4_K plus 32 bytes of fifth bits after the scales: bit s of byte l is the high bit
// of value l in sub-block s.
void DequantizeQ5K(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, src += kQ5KBytes) {
    const float d = LoadHalf(src);
    const float dmin = LoadHalf(src + 2);
    const uint8_t* packed = src + 4;
    const uint8_t* qh = src + 16;
    const uint8_t* q = src + 48;
    for (int chunk = 0; chunk < 4; ++chunk, q += 32) {
      uint8_t sc, mn;
      ScaleMinK4(2 * chunk, packed, &sc, &mn);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(mn);
      ScaleMinK4(2 * chunk + 1, packed, &sc, &mn);
      const float d2 = d * static_cast<float>(sc);
      const float m2 = dmin * static_cast<float>(mn);
      const uint8_t bit1 = static_cast<uint8_t>(1u << (2 * chunk));
      const uint8_t bit2 = static_cast<uint8_t>(1u << (2 * chunk + 1));
      for (int l = 0; l < 32; ++l) {
        const int value = (q[l] & 0x0f) + ((qh[l] & bit1) ? 16 : 0);
        *dst++ = d1 * static_cast<float>(value) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        const int value = (q[l] >> 4) + ((qh[l] & bit2) ? 16 : 0);
        *dst++ = d2 * static_cast<float>(value) - m2;
      }
    }
  }
}

// Q6_K: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 int8 scales (one per 16
// values), f16 d. In each 128-value half, value 32 * g + l takes its low nibble from byte
// l + 32 * (g & 1) of the half's 64 ql bytes (high nibble when g >= 2) and its top bits from
// bits 2g..2g+1 of qh byte l; quants are biased by 32.
void DequantizeQ6K(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, src += kQ6KBytes) {
    const uint8_t* ql = src;
    const uint8_t* qh = src + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(src + 192);
    const float d = LoadHalf(src + 208);
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, dst += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        dst[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        dst[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        dst[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        dst[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

// Q8_K: f32 d, 256 int8 quants, 16 int16 partial sums (used only by dot products).
void DequantizeQ8K(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, src += kQ8KBytes) {
    float d;
    std::memcpy(&d, src, sizeof(d));
    const int8_t* q = reinterpret_cast<const int8_t*>(src + 4);
    for (int l = 0; l < kQK_K; ++l) *dst++ = d * static_cast<float>(q[l]);
  }
}

}  // namespace g4
