// MatMul and MatMulMulti: quantize the activations where the weights take int16 ones, split the
// output rows between the pool's threads (each streams its own contiguous part of the
// weights) and run the kernels of the active SIMD level on them. Every output follows the
// fixed float sequence of kernels.h, so it does not depend on the number of tokens or the
// split (batch invariance).
#include <algorithm>
#include <cstring>
#include <vector>

#include "base/error.h"
#include "ops/kernels.h"
#include "ops/ops.h"

namespace g4 {

namespace {

// Up to this many tokens a matmul runs the decode loops, which stream the stored rows once for
// all tokens; above it, the prefill loops, which tile rows and tokens. Both give the same
// results (kernels.h), so this is a speed choice only.
constexpr int64_t kGemvMaxTokens = 8;
// Prefill work units of Q4_0 / Q8_0 rows: a multiple of the AVX2 kernel's 8-row panels.
constexpr int64_t kQuantPanelRows = 8;
// Prefill tiles of rows converted to float: kTileRows rows by kFloatChunk columns (72 KiB,
// L2-resident); a multiple of the AVX2 micro-kernel's 3 rows.
constexpr int64_t kTileRows = 18;
// Below this many multiply-adds a product runs on the calling thread.
constexpr int64_t kMinParallelWork = 32768;

// 32-byte aligned storage inside a vector (vector loads that straddle cache lines cost
// the prefill kernel about 20%).
template <typename T>
T* Aligned32(std::vector<T>& v, size_t n) {
  const size_t pad = 32 / sizeof(T);
  if (v.size() < n + pad) v.resize(n + pad);
  const uintptr_t p = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<T*>((p + 31) / 32 * 32);
}

// Per-thread scratch, grown on demand and kept for the next call.
struct Scratch {
  std::vector<int16_t> q, grouped;
  std::vector<uint8_t> u8, grouped_u8;
  std::vector<float> d, mn, tile, x;
  std::vector<int32_t> s;
  std::vector<MatMulJob> packed_jobs;
  std::vector<QActs> acts;
  std::vector<int64_t> first_unit;
  std::vector<int> act_source;
};
Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// How one job is computed.
enum class Path {
  kQuant,      // Q4_0 / Q8_0 rows times int16 activations (decode and prefill)
  kFloatGemv,  // float rows, decode
  kTiles,      // rows converted to float a tile at a time (prefill; every type without kQuant)
};

Path PathOf(DType type, int64_t n_tokens) {
  if (UsesQuantizedActs(type)) return Path::kQuant;
  if (HasFloatGemv(type) && n_tokens <= kGemvMaxTokens) return Path::kFloatGemv;
  return Path::kTiles;
}

// Rows per work unit.
int64_t UnitRows(Path path, int64_t n_tokens) {
  switch (path) {
    case Path::kQuant:
      return n_tokens <= kGemvMaxTokens ? 1 : kQuantPanelRows;
    case Path::kFloatGemv:
      return 1;
    case Path::kTiles:
      break;
  }
  return kTileRows;
}

void FloatGemvRows(const KernelTable& kt, const MatMulJob& job, int64_t n, int64_t r0, int64_t r1) {
  const WeightRows& w = job.w;
  switch (w.type) {
    case DType::kF32:
      return kt.gemv_f32(w.data, w.row_bytes, r0, r1, job.x, n, w.in, job.x_stride, job.y, job.y_stride);
    case DType::kF16:
      return kt.gemv_f16(w.data, w.row_bytes, r0, r1, job.x, n, w.in, job.x_stride, job.y, job.y_stride);
    case DType::kBF16:
      return kt.gemv_bf16(w.data, w.row_bytes, r0, r1, job.x, n, w.in, job.x_stride, job.y, job.y_stride);
    default:
      G4_CHECK(false, "no decode kernel for ", DTypeName(w.type));
  }
}

// Columns [c0, c0 + m) of one stored row, as floats.
void RowToFloat(const KernelTable& kt, const WeightRows& w, int64_t r, int64_t c0, int64_t m, float* out) {
  const DTypeInfo& info = Info(w.type);
  const uint8_t* src =
      w.data + static_cast<size_t>(r) * w.row_bytes + static_cast<size_t>(c0 / info.block_elems) * info.block_bytes;
  switch (w.type) {
    case DType::kQ4_0:
      return kt.to_float_q4_0(src, out, m);
    case DType::kQ8_0:
      return kt.to_float_q8_0(src, out, m);
    case DType::kF16:
      return kt.to_float_f16(src, out, m);
    case DType::kBF16:
      return kt.to_float_bf16(src, out, m);
    default:
      return DequantizeRow(w.type, src, out, m);
  }
}

// Prefill rows [r0, r1) in float: tile by tile, converted once and multiplied with every
// token. Column chunks start on multiples of kFloatChunk (1024), so they stay on block and
// super-block boundaries and form the chunks of the float scheme (kernels.h).
void GemmRows(const KernelTable& kt, const MatMulJob& job, int64_t n, int64_t r0, int64_t r1) {
  const WeightRows& w = job.w;
  const bool in_place = w.type == DType::kF32 && reinterpret_cast<uintptr_t>(w.data) % alignof(float) == 0 &&
                        w.row_bytes % alignof(float) == 0;
  const float* rows = reinterpret_cast<const float*>(w.data);
  const int64_t stride = static_cast<int64_t>(w.row_bytes / sizeof(float));
  float* tile = in_place ? nullptr : Aligned32(ThreadScratch().tile, static_cast<size_t>(kTileRows * kFloatChunk));
  for (int64_t t0 = r0; t0 < r1; t0 += kTileRows) {
    const int64_t rr = std::min(kTileRows, r1 - t0);
    for (int64_t c0 = 0; c0 < w.in; c0 += kFloatChunk) {
      const int64_t m = std::min(kFloatChunk, w.in - c0);
      float* y = job.y + t0;
      if (in_place) {
        kt.gemm_f32(rows + t0 * stride + c0, stride, rr, job.x + c0, job.x_stride, n, m, y, job.y_stride, c0 > 0);
        continue;
      }
      for (int64_t r = 0; r < rr; ++r) RowToFloat(kt, w, t0 + r, c0, m, tile + r * kFloatChunk);
      kt.gemm_f32(tile, kFloatChunk, rr, job.x + c0, job.x_stride, n, m, y, job.y_stride, c0 > 0);
    }
  }
}

void RunRows(const KernelTable& kt, Path path, const MatMulJob& job, int64_t n, const QActs& qx, int64_t r0,
             int64_t r1) {
  const WeightRows& w = job.w;
  switch (path) {
    case Path::kQuant:
      if (w.type == DType::kQ4_0) return kt.matmul_q4_0(w.data, w.row_bytes, r0, r1, qx, job.y, job.y_stride);
      return kt.matmul_q8_0(w.data, w.row_bytes, r0, r1, qx, job.y, job.y_stride);
    case Path::kFloatGemv:
      return FloatGemvRows(kt, job, n, r0, r1);
    case Path::kTiles:
      return GemmRows(kt, job, n, r0, r1);
  }
}

// Quantizes the activations of every kQuant job into scratch, once per distinct matrix.
void QuantizeJobs(const KernelTable& kt, const MatMulJob* jobs, int count, int64_t n, Scratch& scratch) {
  const bool grouped = n > kGemvMaxTokens && kt.prefill_reads_grouped;
  // Jobs that read the same activations (q, k and v; gate and up) share one quantized copy:
  // source[i] is the first job with job i's input in job i's format (bytes for Q4_0 rows, int16
  // for Q8_0 ones).
  std::vector<int>& source = scratch.act_source;
  source.assign(count, -1);
  size_t q_size = 0, q_blocks = 0, u_blocks = 0;
  for (int i = 0; i < count; ++i) {
    if (!UsesQuantizedActs(jobs[i].w.type)) continue;
    source[i] = i;
    for (int j = 0; j < i; ++j) {
      if (source[j] == j && UsesU8Acts(jobs[j].w.type) == UsesU8Acts(jobs[i].w.type) && jobs[j].x == jobs[i].x &&
          jobs[j].x_stride == jobs[i].x_stride && jobs[j].w.in == jobs[i].w.in) {
        source[i] = j;
        break;
      }
    }
    if (source[i] != i) continue;
    const size_t blocks = static_cast<size_t>(n * PaddedBlocks(jobs[i].w.in));
    if (UsesU8Acts(jobs[i].w.type)) {
      u_blocks += blocks;
    } else {
      q_blocks += blocks;
      q_size += static_cast<size_t>(n * jobs[i].w.in);
    }
  }
  // Per token and input: int16 values (k of them, and 32 per padded block in the grouped copy)
  // or bytes (32 per padded block, twice with the grouped copy); a scale per block
  // (one array for both formats); the bytes' block minima and sums.
  const size_t d_size = q_blocks + u_blocks;
  int16_t* q_all = Aligned32(scratch.q, q_size);
  int16_t* g_all = grouped ? Aligned32(scratch.grouped, q_blocks * kActBlock) : nullptr;
  uint8_t* u_all = Aligned32(scratch.u8, u_blocks * kActBlock);
  uint8_t* gu_all = grouped ? Aligned32(scratch.grouped_u8, u_blocks * kActBlock) : nullptr;
  if (scratch.d.size() < d_size) scratch.d.resize(d_size);
  if (scratch.s.size() < u_blocks) scratch.s.resize(u_blocks);
  if (scratch.mn.size() < u_blocks) scratch.mn.resize(u_blocks);
  size_t q_off = 0, qb_off = 0, ub_off = 0;
  for (int i = 0; i < count; ++i) {
    const MatMulJob& job = jobs[i];
    if (source[i] < 0) continue;
    if (source[i] != i) {
      scratch.acts[i] = scratch.acts[source[i]];
      continue;
    }
    const int64_t k = job.w.in, nbp = PaddedBlocks(k);
    if (UsesU8Acts(job.w.type)) {
      QActs a;
      a.n = n;
      a.k = k;
      a.u8 = u_all + ub_off * kActBlock;
      a.grouped_u8 = grouped ? gu_all + ub_off * kActBlock : nullptr;
      float* d = scratch.d.data() + q_blocks + ub_off;
      float* mn = scratch.mn.data() + ub_off;
      int32_t* sums = scratch.s.data() + ub_off;
      for (int64_t t = 0; t < n; ++t) {
        uint8_t* u = u_all + (ub_off + t * nbp) * kActBlock;
        kt.quantize_acts_u8(job.x + t * job.x_stride, k, u, d + t * nbp, mn + t * nbp, sums + t * nbp);
        if (grouped) kt.group_acts_u8(u, k, gu_all + (ub_off + t * nbp) * kActBlock);
      }
      a.d = d;
      a.s = sums;
      a.mn = mn;
      scratch.acts[i] = a;
      ub_off += static_cast<size_t>(n * nbp);
      continue;
    }
    int16_t* q = q_all + q_off;
    int16_t* g = grouped ? g_all + qb_off * kActBlock : nullptr;
    float* d = scratch.d.data() + qb_off;
    for (int64_t t = 0; t < n; ++t) {
      kt.quantize_acts(job.x + t * job.x_stride, k, q + t * k, d + t * nbp);
      if (grouped) GroupActs(q + t * k, k, g + t * nbp * kActBlock);
    }
    scratch.acts[i] = {q, g, d, nullptr, n, k};
    q_off += static_cast<size_t>(n * k);
    qb_off += static_cast<size_t>(n * nbp);
  }
}

}  // namespace

void MatMulMulti(const MatMulJob* jobs, int count, int64_t n_tokens, ThreadPool* pool) {
  if (count <= 0 || n_tokens <= 0) return;
  const KernelTable& kt = ActiveKernels();
  Scratch& scratch = ThreadScratch();
  scratch.acts.assign(count, QActs{});
  QuantizeJobs(kt, jobs, count, n_tokens, scratch);

  // Prefill in float tiles: activations the kernel would read misaligned are copied once to
  // aligned rows.
  size_t x_size = 0;
  auto needs_copy = [&](const MatMulJob& job) {
    return PathOf(job.w.type, n_tokens) == Path::kTiles &&
           (reinterpret_cast<uintptr_t>(job.x) % 32 != 0 || job.x_stride % 8 != 0);
  };
  for (int i = 0; i < count; ++i) {
    if (needs_copy(jobs[i])) x_size += static_cast<size_t>(n_tokens * ((jobs[i].w.in + 7) / 8 * 8));
  }
  if (x_size > 0) {
    float* x_copy = Aligned32(scratch.x, x_size);
    scratch.packed_jobs.assign(jobs, jobs + count);
    for (int i = 0; i < count; ++i) {
      MatMulJob& job = scratch.packed_jobs[i];
      if (!needs_copy(job)) continue;
      bool shared = false;
      for (int j = 0; j < i && !shared; ++j) {
        if (jobs[j].x == job.x && jobs[j].x_stride == job.x_stride && jobs[j].w.in == job.w.in &&
            needs_copy(jobs[j])) {
          job.x = scratch.packed_jobs[j].x;
          job.x_stride = scratch.packed_jobs[j].x_stride;
          shared = true;
        }
      }
      if (shared) continue;
      const int64_t stride = (job.w.in + 7) / 8 * 8;
      for (int64_t t = 0; t < n_tokens; ++t) {
        std::memcpy(x_copy + t * stride, job.x + t * job.x_stride, static_cast<size_t>(job.w.in) * sizeof(float));
      }
      job.x = x_copy;
      job.x_stride = stride;
      x_copy += n_tokens * stride;
    }
    jobs = scratch.packed_jobs.data();
  }

  // Work units (groups of rows, see UnitRows), numbered across all jobs.
  scratch.first_unit.resize(count + 1);
  scratch.first_unit[0] = 0;
  int64_t work = 0;
  for (int i = 0; i < count; ++i) {
    const int64_t unit = UnitRows(PathOf(jobs[i].w.type, n_tokens), n_tokens);
    scratch.first_unit[i + 1] = scratch.first_unit[i] + (jobs[i].w.rows + unit - 1) / unit;
    work += jobs[i].w.rows * jobs[i].w.in * n_tokens;
  }
  const std::vector<QActs>& acts = scratch.acts;
  const std::vector<int64_t>& first_unit = scratch.first_unit;
  auto run = [&](int64_t u0, int64_t u1) {
    for (int i = 0; i < count; ++i) {
      const int64_t a = std::max(u0, first_unit[i]) - first_unit[i];
      const int64_t b = std::min(u1, first_unit[i + 1]) - first_unit[i];
      if (a >= b) continue;
      const Path path = PathOf(jobs[i].w.type, n_tokens);
      const int64_t unit = UnitRows(path, n_tokens);
      RunRows(kt, path, jobs[i], n_tokens, acts[i], a * unit, std::min(jobs[i].w.rows, b * unit));
    }
  };
  const int64_t total = first_unit[count];
  if (pool == nullptr || pool->size() == 1 || work < kMinParallelWork) {
    run(0, total);
  } else {
    // About 8 chunks per thread: enough to even out a thread that runs slower, few enough
    // that each chunk still streams long runs of rows.
    const bool decode = n_tokens <= kGemvMaxTokens;
    const int64_t chunk = std::max<int64_t>(decode ? 32 : 1, total / (8 * pool->size()));
    pool->ParallelForDynamic(total, chunk, run);
  }
}

void MatMul(const float* x, int64_t n_tokens, int64_t x_stride, const WeightRows& w, float* y, int64_t y_stride,
            ThreadPool* pool) {
  const MatMulJob job{x, x_stride, w, y, y_stride};
  MatMulMulti(&job, 1, n_tokens, pool);
}

void MatMulReference(const float* x, int64_t n_tokens, int64_t x_stride, const WeightRows& w, float* y,
                     int64_t y_stride) {
  std::vector<float> row(static_cast<size_t>(w.in));
  for (int64_t r = 0; r < w.rows; ++r) {
    DequantizeRow(w.type, w.data + static_cast<size_t>(r) * w.row_bytes, row.data(), w.in);
    for (int64_t t = 0; t < n_tokens; ++t) {
      double sum = 0;
      for (int64_t i = 0; i < w.in; ++i) sum += static_cast<double>(x[t * x_stride + i]) * row[i];
      y[t * y_stride + r] = static_cast<float>(sum);
    }
  }
}

}  // namespace g4
