#include "model/memory_estimate.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "model/gemma4_text.h"
#include "model/gguf.h"
#include "model/kv_cache.h"
#include "ops/kernels.h"

namespace g4 {

namespace {

constexpr uint64_t kPage = 4096;

uint64_t RoundUpPages(uint64_t bytes) { return (bytes + kPage - 1) / kPage * kPage; }

// Resident bytes of the weights the decoder reads. Tables read by row (the per-layer token
// embeddings, and the token embeddings when the output head is a separate matrix) count the
// pages of one row per distinct token, at most one per context position.
uint64_t WeightBytes(const Model& model, int64_t context) {
  const ModelWeights& w = model.weights();
  std::set<const uint8_t*> seen;
  uint64_t bytes = 0;
  auto whole = [&](const TensorView& t) {
    if (t.data != nullptr && seen.insert(t.data).second) bytes += t.nbytes;
  };
  auto rows = [&](const TensorView& t) {
    if (t.data == nullptr || seen.count(t.data) != 0) return;
    const uint64_t n_rows = static_cast<uint64_t>(std::min<int64_t>(context, t.n_rows()));
    const uint64_t per_row = RoundUpPages(t.row_bytes()) + (t.row_bytes() % kPage != 0 ? kPage : 0);
    bytes += std::min<uint64_t>(RoundUpPages(t.nbytes), n_rows * per_row);
  };
  whole(w.output);
  rows(w.token_embd);
  rows(w.ple_token_embd);
  whole(w.ple_model_proj);
  uint64_t floats = w.output_norm.size() + w.ple_proj_norm.size();
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down, &l.ple_gate,
                                &l.ple_proj, &l.router, &l.experts_gate_up, &l.experts_gate, &l.experts_up,
                                &l.experts_down}) {
      whole(*t);
    }
    for (const std::vector<float>* v : {&l.attn_norm, &l.q_norm, &l.k_norm, &l.post_attn_norm, &l.ffn_norm,
                                        &l.post_ffw_norm, &l.ple_post_norm, &l.router_scale, &l.expert_scale,
                                        &l.pre_ffw_norm_2, &l.post_ffw_norm_1, &l.post_ffw_norm_2}) {
      floats += v->size();
    }
  }
  return bytes + floats * sizeof(float);
}

// KvCache with the default f16 entries, plus an int32 position per slot; a full layer's arrays
// grow by doubling, so the last growth briefly holds the old and the new K (or V) array. A
// sequence also keeps up to kDefaultCheckpoints copies of its sliding-window rings for prefix reuse.
uint64_t KvBytes(const ModelConfig& c, int64_t context) {
  constexpr DType kType = DType::kF16;
  uint64_t bytes = KvCache::BytesAtContext(c, context, kType);
  uint64_t largest_full = 0, rings = 0;
  for (const LayerSpec& l : c.layers) {
    if (!l.owns_kv) continue;
    const int64_t slots = l.window > 0 ? std::min<int64_t>(l.window, context) : context;
    const uint64_t row = RowBytes(kType, static_cast<int64_t>(l.n_kv_heads) * l.head_dim);
    bytes += static_cast<uint64_t>(slots) * sizeof(int32_t);
    if (l.window == 0 || l.window >= context) {
      largest_full = std::max<uint64_t>(largest_full, static_cast<uint64_t>(slots) * row);
    } else {
      rings += static_cast<uint64_t>(slots) * (2 * row + sizeof(int32_t));
    }
  }
  return bytes + largest_full + uint64_t{kDefaultCheckpoints} * rings;
}

// Activations of one prefill chunk of n tokens (gemma4_text.cc): the residual stream, the
// per-layer inputs, every owning layer's new K/V for the chunk, and the largest set of one
// layer's temporaries (attention or feed-forward), plus the logits row and matmul scratch.
// Scratch of matmuls over Q4_0 / Q8_0 rows (ops/matmul.cc, kernels_*_quant.cc, kernels_*_u8.cc):
// each distinct input of a call quantized, on the calling thread, to int16 for Q8_0 rows or to
// bytes for Q4_0 rows (on SIMD levels each with a copy in the grouped layout), with a float
// scale and an int32 sum per 32 values (and a float minimum for the bytes); and per thread the
// prefill loop's packed rows. n: tokens of a prefill piece; widest_input: the widest input of
// one matmul (BufferBytes); types: the quantized row types the model has.
uint64_t QuantScratchBytes(const ModelConfig& c, uint64_t n, uint64_t threads, uint64_t widest_input,
                           const std::vector<DType>& types) {
  const KernelTable& kt = ActiveKernels();
  uint64_t widest = std::max<uint64_t>(widest_input, static_cast<uint64_t>(c.ple_dim));
  uint64_t panel = 0;
  auto matrix = [&](int64_t rows, int64_t k) {
    if (rows <= 0 || k <= 0) return;
    for (DType type : types) panel = std::max<uint64_t>(panel, kt.quant_prefill_scratch(type, rows, k));
  };
  matrix(static_cast<int64_t>(c.n_layers) * c.ple_dim, c.d_model);
  for (const LayerSpec& l : c.layers) {
    const int64_t q_dim = static_cast<int64_t>(l.n_heads) * l.head_dim;
    const int64_t kv_dim = static_cast<int64_t>(l.n_kv_heads) * l.head_dim;
    matrix(q_dim, c.d_model);
    matrix(kv_dim, c.d_model);
    matrix(c.d_model, q_dim);
    matrix(l.ff_dim, c.d_model);
    matrix(c.d_model, l.ff_dim);
    matrix(c.ple_dim, c.d_model);
    matrix(c.d_model, c.ple_dim);
    if (l.has_moe) {
      // One call quantizes the inputs of all routed experts of a pass.
      widest = std::max<uint64_t>(widest, static_cast<uint64_t>(c.n_experts_used) *
                                              std::max<uint64_t>(c.d_model, c.expert_ff_dim));
      matrix(2 * static_cast<int64_t>(c.expert_ff_dim), c.d_model);
      matrix(c.d_model, c.expert_ff_dim);
    }
  }
  // The grouped copies exist only for levels whose prefill loops read them.
  const bool grouped = kt.prefill_reads_grouped;
  const uint64_t blocks = n * (widest / kActBlock + kLaneGroup);
  uint64_t bytes = threads * panel;
  for (DType type : types) {
    if (UsesU8Acts(type)) {
      bytes += blocks * (kActBlock * (grouped ? 2 : 1) + 3 * sizeof(float));
    } else {
      bytes += n * widest * sizeof(int16_t) + (grouped ? blocks * kActBlock * sizeof(int16_t) : 0) + blocks * 2 * sizeof(float);
    }
  }
  return bytes;
}

uint64_t BufferBytes(const ModelConfig& c, int64_t context, int n_threads, const std::vector<DType>& quant_types) {
  const uint64_t n = static_cast<uint64_t>(std::min<int64_t>(context, kPrefillChunk));
  const uint64_t d = c.d_model;
  uint64_t floats = n * d + n * static_cast<uint64_t>(c.n_layers) * c.ple_dim;
  // Per layer: the pass's work slots (gemma4_text.cc, Batch::slot: normed input, attention
  // output / FFN gate / PLE gate, branch output, FFN up), each as wide as its widest use and
  // held for the whole pass; the layer's queries; and the routed experts' own buffers.
  uint64_t wide = static_cast<uint64_t>(c.ple_dim), ff = 0, q_max = 0, kv_max = 0, moe = 0;
  for (const LayerSpec& l : c.layers) {
    const uint64_t q_dim = static_cast<uint64_t>(l.n_heads) * l.head_dim;
    const uint64_t kv_dim = static_cast<uint64_t>(l.n_kv_heads) * l.head_dim;
    if (l.owns_kv) floats += 2 * n * kv_dim;
    wide = std::max<uint64_t>({wide, q_dim, static_cast<uint64_t>(l.ff_dim)});
    ff = std::max<uint64_t>(ff, static_cast<uint64_t>(l.ff_dim));
    q_max = std::max(q_max, q_dim);
    kv_max = std::max(kv_max, kv_dim);
    if (l.has_moe) {
      const uint64_t routed = n * c.n_experts_used;
      moe = std::max(moe, n * (2 * d + c.n_experts) + routed * (2 * d + 2 * static_cast<uint64_t>(c.expert_ff_dim)));
    }
  }
  floats += n * (2 * d + wide + ff) + n * (q_max + kv_max) + moe;
  floats += 2 * static_cast<uint64_t>(c.vocab_size);  // logits and the sampler's copy
  // Matmul scratch (ops/matmul.cc), kept per thread between calls: the calling thread copies a
  // misaligned activation matrix to aligned rows (n x the widest matmul input).
  uint64_t widest_input = std::max<uint64_t>(d, static_cast<uint64_t>(c.expert_ff_dim));
  for (const LayerSpec& l : c.layers) {
    widest_input = std::max<uint64_t>({widest_input, static_cast<uint64_t>(l.n_heads) * l.head_dim,
                                       static_cast<uint64_t>(l.ff_dim)});
  }
  floats += n * widest_input;
  // Per thread: its stack and malloc arena, a prefill weight tile (18 x 1024 floats), and the
  // attention scores and value pointers over the context (4 + 8 bytes per position).
  const uint64_t threads = static_cast<uint64_t>(std::max(1, n_threads));
  floats += threads * ((256u << 10) / sizeof(float) + 18 * 1024 + 3 * static_cast<uint64_t>(context));
  return floats * sizeof(float) + QuantScratchBytes(c, n, threads, widest_input, quant_types);
}

// malloc's cost of an n-byte block: 16-byte granules plus the chunk header.
uint64_t HeapBlock(uint64_t n) { return n == 0 ? 0 : (n + 8 + 15) / 16 * 16; }

// Heap bytes of a parsed GGUF metadata value's strings and arrays (the tokenizer arrays hold
// about a million values); the value itself is counted by its parent.
uint64_t ValueHeapBytes(const GgufValue& v) {
  uint64_t bytes = v.str.capacity() > 15 ? HeapBlock(v.str.capacity() + 1) : 0;
  bytes += HeapBlock(v.array.capacity() * sizeof(GgufValue));
  for (const GgufValue& e : v.array) bytes += ValueHeapBytes(e);
  return bytes;
}

// The program itself (binary, shared libraries, allocator arenas): the peak RSS of `g4 --version`
// is about 11 MiB in a Release build.
constexpr uint64_t kProgramBytes = 12ull << 20;

// Program, the parsed GGUF metadata, and the tokenizer's tables (pieces, and for
// BPE the merge ranks), which dominate for a 262,144-token vocabulary. Per-entry costs were
// measured on the real Gemma 4 vocabulary (peak RSS of `g4 info` against `g4 tokenize`).
uint64_t RuntimeBytes(const Model& model) {
  uint64_t bytes = kProgramBytes;
  const uint64_t vocab = static_cast<uint64_t>(model.config().vocab_size);
  uint64_t merges = 0;
  if (const GgufFile* g = model.gguf(); g != nullptr) {
    for (const auto& [key, value] : g->metadata()) {
      bytes += 2 * HeapBlock(64 + key.size()) + sizeof(GgufValue) + ValueHeapBytes(value);  // map node, order entry
    }
    if (const GgufValue* v = g->Find("tokenizer.ggml.merges"); v != nullptr) merges = v->array.size();
  } else {
    // A Hugging Face checkpoint's tokenizer.json is parsed whole: about 7 bytes per file byte
    // at the peak (16 MB for Gemma 4: 105 MiB).
    struct stat st {};
    if (::stat((model.path() + "/tokenizer.json").c_str(), &st) == 0) return bytes + 7 * static_cast<uint64_t>(st.st_size);
  }
  return bytes + vocab * 40 + merges * 125;
}

uint64_t ParseBytes(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || value < 0) return 0;
  double scale = 1;
  switch (*end) {
    case 'k': case 'K': scale = 1024.0; break;
    case 'm': case 'M': scale = 1024.0 * 1024; break;
    case 'g': case 'G': scale = 1024.0 * 1024 * 1024; break;
    case 't': case 'T': scale = 1024.0 * 1024 * 1024 * 1024; break;
    default: break;
  }
  return static_cast<uint64_t>(value * scale);
}

uint64_t ReadNumberFile(const std::string& path, bool* ok) {
  std::ifstream in(path);
  std::string text;
  *ok = static_cast<bool>(in >> text) && text != "max";
  return *ok ? std::strtoull(text.c_str(), nullptr, 10) : 0;
}

}  // namespace

MemoryNeeds EstimateMemoryNeeds(const Model& model, int64_t context, int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  // The session never holds more than the model's context (gemma4_text.cc DefaultContext).
  const int64_t model_context = model.config().context_length;
  if (model_context > 0) context = std::min(context, model_context);
  MemoryNeeds m;
  m.context = context;
  m.weights = WeightBytes(model, context);
  m.kv_cache = KvBytes(model.config(), context);
  // The formats quantized activations take: one per row type with quantized activations (Q4_0
  // and Q8_0 ones take different ones).
  std::vector<DType> quant_types;
  for (const TensorView* t : model.AllTensors()) {
    if (Model::IsMultimodalTensor(t->name) || !UsesQuantizedActs(t->type)) continue;
    if (std::find(quant_types.begin(), quant_types.end(), t->type) == quant_types.end()) quant_types.push_back(t->type);
  }
  m.buffers = BufferBytes(model.config(), context, n_threads, quant_types);
  m.runtime = RuntimeBytes(model);
  return m;
}

uint64_t AvailableMemoryBytes() {
  if (const char* limit = std::getenv("G4_MEMORY_LIMIT"); limit != nullptr && *limit != '\0') {
    return ParseBytes(limit);
  }
  uint64_t available = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemAvailable:", 0) == 0) {
      std::istringstream fields(line.substr(13));
      uint64_t kib = 0;
      fields >> kib;
      available = kib * 1024;
      break;
    }
  }
  // cgroup v2: the container's own limit, when it has one.
  bool ok_max = false, ok_cur = false;
  const uint64_t max = ReadNumberFile("/sys/fs/cgroup/memory.max", &ok_max);
  const uint64_t current = ReadNumberFile("/sys/fs/cgroup/memory.current", &ok_cur);
  if (ok_max && ok_cur && max > current) {
    available = available == 0 ? max - current : std::min(available, max - current);
  }
  if (available == 0) return 0;
  // What this process holds already (program, parsed metadata) is part of the estimate but no
  // longer part of MemAvailable.
  uint64_t resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long size = 0, pages = 0;
    if (std::fscanf(f, "%lu %lu", &size, &pages) == 2) resident = static_cast<uint64_t>(pages) * sysconf(_SC_PAGESIZE);
    std::fclose(f);
  }
  return available + resident;
}

}  // namespace g4
