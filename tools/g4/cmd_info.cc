// g4 info: what a model file holds and what running it takes.
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/human_bytes.h"
#include "commands.h"
#include "g4/engine.h"

namespace g4::cli {
namespace {

struct InfoArgs {
  std::string model;
  int context = 4096;
  bool json = false;
};

std::string HumanCount(double n) {
  char buf[64];
  if (n >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  } else if (n >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", n);
  }
  return buf;
}

// "S S S S F" style pattern with KV-sharing marks.
std::string LayerPattern(const ModelSummary& s) {
  std::string out;
  for (const LayerSummary& l : s.layers) out += l.attention == "sliding" ? 'S' : 'F';
  return out;
}

int RunInfo(const InfoArgs& args) {
  std::unique_ptr<LoadedModel> model;
  Status st = LoadedModel::Load(args.model, &model);
  if (!st.ok()) {
    std::fprintf(stderr, "g4 info: %s\n", st.message().c_str());
    return 1;
  }
  const ModelSummary s = model->Summary();
  const int context = args.context > 0 ? args.context : s.context_length;
  const uint64_t kv = model->KvCacheBytes(context);
  const uint64_t kv_full = model->KvCacheBytes(s.context_length);
  // Activations for one token plus the logits row; small next to weights and cache.
  const uint64_t buffers = static_cast<uint64_t>(s.vocab_size) * 4 * 2 + static_cast<uint64_t>(s.d_model) * 4 * 64;
  const uint64_t total = s.text_weight_bytes + kv + buffers;

  if (args.json) {
    nlohmann::json j;
    j["path"] = s.path;
    j["format"] = s.format;
    j["architecture"] = s.architecture;
    j["variant"] = s.variant;
    j["n_layers"] = s.n_layers;
    j["d_model"] = s.d_model;
    j["vocab_size"] = s.vocab_size;
    j["context_length"] = s.context_length;
    j["sliding_window"] = s.sliding_window;
    j["per_layer_embedding_dim"] = s.ple_dim;
    j["experts"] = s.n_experts;
    j["experts_used"] = s.n_experts_used;
    j["expert_ff_dim"] = s.expert_ff_dim;
    j["first_kv_shared_layer"] = s.first_kv_shared_layer;
    j["final_logit_softcap"] = s.final_softcap;
    j["layer_pattern"] = LayerPattern(s);
    j["parameters"] = s.text_parameters;
    j["weight_bytes"] = s.text_weight_bytes;
    j["multimodal_tensors"] = s.multimodal_tensors;
    for (const auto& [name, tc] : s.tensor_types) {
      j["tensor_types"][name] = {{"tensors", tc.tensors}, {"elements", tc.elements}, {"bytes", tc.bytes}};
    }
    for (const LayerSummary& l : s.layers) {
      j["layers"].push_back({{"attention", l.attention}, {"n_heads", l.n_heads}, {"n_kv_heads", l.n_kv_heads},
                             {"head_dim", l.head_dim}, {"window", l.window}, {"rope_pairs", l.rope_pairs},
                             {"kv_source", l.kv_source}, {"keys_as_values", l.keys_as_values},
                             {"ff_dim", l.ff_dim}, {"moe", l.moe}});
    }
    j["memory"] = {{"context", context}, {"kv_cache_bytes", kv}, {"total_bytes", total},
                   {"kv_cache_bytes_full_context", kv_full}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }

  std::printf("model:          %s (%s)\n", s.path.c_str(), s.format.c_str());
  std::printf("architecture:   %s, variant %s\n", s.architecture.c_str(), s.variant.c_str());
  std::printf("parameters:     %s (%lld)\n", HumanCount(static_cast<double>(s.text_parameters)).c_str(),
              static_cast<long long>(s.text_parameters));
  std::printf("layers:         %d, hidden %d, vocab %d, context %d\n", s.n_layers, s.d_model, s.vocab_size,
              s.context_length);
  std::printf("layer pattern:  %s (S = sliding window %d, F = full)\n", LayerPattern(s).c_str(), s.sliding_window);
  for (const char* kind : {"sliding", "full"}) {
    for (const LayerSummary& l : s.layers) {
      if (l.attention != kind) continue;
      std::printf("  %-8s layers: %d heads, %d KV heads, head dim %d, %d rotated pairs%s\n", kind, l.n_heads,
                  l.n_kv_heads, l.head_dim, l.rope_pairs, l.keys_as_values ? ", keys reused as values" : "");
      break;
    }
  }
  if (s.first_kv_shared_layer < s.n_layers) {
    std::printf("KV sharing:     layers %d-%d reuse the caches of earlier layers\n", s.first_kv_shared_layer,
                s.n_layers - 1);
  }
  int min_ff = s.layers.front().ff_dim, max_ff = min_ff;
  for (const LayerSummary& l : s.layers) {
    min_ff = std::min(min_ff, l.ff_dim);
    max_ff = std::max(max_ff, l.ff_dim);
  }
  std::printf("feed-forward:   %d", min_ff);
  if (max_ff != min_ff) std::printf(" to %d", max_ff);
  if (s.n_experts > 0) {
    std::printf(" dense, plus %d experts (top %d) of width %d", s.n_experts, s.n_experts_used, s.expert_ff_dim);
  }
  std::printf("\n");
  if (s.ple_dim > 0) std::printf("per-layer embeddings: %d per layer\n", s.ple_dim);
  std::printf("logit softcap:  %g\n", s.final_softcap);
  std::printf("tensor types:\n");
  for (const auto& [name, tc] : s.tensor_types) {
    std::printf("  %-6s %5lld tensors, %s parameters, %s\n", name.c_str(), static_cast<long long>(tc.tensors),
                HumanCount(static_cast<double>(tc.elements)).c_str(), HumanBytes(static_cast<double>(tc.bytes)).c_str());
  }
  if (s.multimodal_tensors > 0) {
    std::printf("  (%lld vision/audio tensors present, not counted)\n", static_cast<long long>(s.multimodal_tensors));
  }
  std::printf("memory at context %d: %s weights + %s KV cache + %s buffers = %s\n", context,
              HumanBytes(static_cast<double>(s.text_weight_bytes)).c_str(), HumanBytes(static_cast<double>(kv)).c_str(),
              HumanBytes(static_cast<double>(buffers)).c_str(), HumanBytes(static_cast<double>(total)).c_str());
  std::printf("KV cache at the full context (%d): %s\n", s.context_length, HumanBytes(static_cast<double>(kv_full)).c_str());
  return 0;
}

}  // namespace

Runner AddInfoCommand(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* sub = app.add_subcommand("info", "Describe a model: architecture, layers, tensor types, memory");
  sub->add_option("-m,--model", args->model, "GGUF file or Hugging Face checkpoint folder")->required();
  sub->add_option("-c,--ctx", args->context, "context size for the memory estimate (0: the model's)");
  sub->add_flag("--json", args->json, "print JSON");
  return [args] { return RunInfo(*args); };
}

}  // namespace g4::cli
