// g4 bench: prefill and decode speed of a model, llama-bench style, with the memory-bandwidth
// limit of decoding next to it.
//   prefill (ppP): one Eval of P tokens into an empty session, keeping only the last logits;
//   decode  (tgN): N single-token Evals starting from an empty session.
// Each test runs once to warm up (page cache, allocations), then `reps` timed times; the table
// shows the median tokens/s and the spread (min - max). The bandwidth limit is the bytes one
// decoded token must read (every weight matrix once; only the routed share of MoE experts; one
// row of the embedding tables) divided by a measured multi-threaded read bandwidth.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_encoders.h"
#include "commands.h"
#include "g4/engine.h"
#include "media/audio.h"
#include "model/model.h"
#include "ops/simd.h"

namespace g4::cli {
namespace {

struct BenchArgs {
  std::string model;
  int prompt = 512;
  int gen = 128;
  int threads = 0;
  std::string kv_type = "f16";
  int reps = 5;
  int bw_mib = 1024;
  bool json = false;
  std::string mmproj;        // towers to time as well (HF checkpoints carry their own)
  int image_tokens = 280;    // 0: skip the image test
  double audio_seconds = 30;  // 0: skip the audio test
};

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Bytes a single decoded token reads from the weights.
double BytesPerDecodedToken(const Model& model) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  double bytes = 0;
  auto all = [&](const TensorView& t) { bytes += static_cast<double>(t.nbytes); };
  auto one_row = [&](const TensorView& t) {
    if (t.data != nullptr && t.n_rows() > 0) bytes += static_cast<double>(t.row_bytes());
  };
  one_row(w.token_embd);
  one_row(w.ple_token_embd);
  all(w.ple_model_proj);
  all(w.output);
  const double expert_share = c.n_experts > 0 ? static_cast<double>(c.n_experts_used) / c.n_experts : 0.0;
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down, &l.ple_gate,
                                &l.ple_proj, &l.router}) {
      all(*t);
    }
    for (const TensorView* t : {&l.experts_gate_up, &l.experts_gate, &l.experts_up, &l.experts_down}) {
      bytes += expert_share * static_cast<double>(t->nbytes);
    }
  }
  return bytes;
}

// Multi-threaded streaming read of a buffer much larger than the caches; returns bytes/s
// (best of a few passes).
double MeasureReadBandwidth(int threads, size_t mib) {
  const size_t n = mib * (size_t{1} << 20) / sizeof(uint64_t);
  std::vector<uint64_t> buffer(n);
  for (size_t i = 0; i < n; ++i) buffer[i] = i;  // touch every page
  double best = 0;
  for (int pass = 0; pass < 4; ++pass) {
    std::vector<uint64_t> sums(threads);
    const double t0 = Now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t begin = n * t / threads, end = n * (t + 1) / threads;
        sums[t] = ReadSum(buffer.data() + begin, end - begin);
      });
    }
    for (std::thread& th : pool) th.join();
    const double dt = Now() - t0;
    uint64_t total = 0;
    for (uint64_t s : sums) total += s;
    if (total == 42) std::fprintf(stderr, " ");  // keep the sums alive
    best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / dt);
  }
  return best;
}

struct Stats {
  double median = 0, min = 0, max = 0;
  std::vector<double> samples;
};

Stats Summarize(std::vector<double> v) {
  Stats s;
  s.samples = v;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  const size_t m = v.size() / 2;
  s.median = v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
  return s;
}

double PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;
}

std::string Gib(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  return buf;
}

int RunBench(const BenchArgs& args) {
  const bool encoders_only = args.prompt == 0 && args.gen == 0 && !args.mmproj.empty();
  if (args.reps < 1 || args.prompt < 0 || args.gen < 0 || (args.prompt == 0 && args.gen == 0 && !encoders_only)) {
    std::fprintf(stderr, "g4 bench: need -r >= 1 and at least one of -p, -n above 0 (or --mmproj)\n");
    return 2;
  }
  std::unique_ptr<LoadedModel> model;
  Status st = LoadedModel::Load(args.model, LoadOptions{.mmproj_path = args.mmproj}, &model);
  if (!st.ok()) {
    std::fprintf(stderr, "g4 bench: %s\n", st.message().c_str());
    return 1;
  }
  const ModelSummary summary = model->Summary();
  const int threads = args.threads > 0 ? args.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  SessionConfig sc;
  sc.n_threads = threads;
  sc.kv_type = args.kv_type;
  sc.context = std::max(args.prompt, args.gen) + 1;
  std::unique_ptr<Session> session;
  st = Session::Create(*model, sc, &session);
  if (!st.ok()) {
    std::fprintf(stderr, "g4 bench: %s\n", st.message().c_str());
    return 1;
  }
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> token(0, model->vocab_size() - 1);
  std::vector<int32_t> prompt(args.prompt), gen(args.gen);
  for (int32_t& t : prompt) t = token(rng);
  for (int32_t& t : gen) t = token(rng);

  std::vector<float> logits;
  auto run_prefill = [&]() -> double {
    session->Reset();
    const double t0 = Now();
    Status s = session->Eval(prompt, false, &logits);
    const double dt = Now() - t0;
    if (!s.ok()) throw std::runtime_error(s.message());
    return args.prompt / dt;
  };
  auto run_decode = [&]() -> double {
    session->Reset();
    const double t0 = Now();
    for (int32_t id : gen) {
      Status s = session->Eval({id}, false, &logits);
      if (!s.ok()) throw std::runtime_error(s.message());
    }
    return args.gen / (Now() - t0);
  };

  struct Test {
    std::string name;
    Stats stats;
  };
  std::vector<Test> tests;
  std::vector<EncoderBenchResult> encoder_results;
  try {
    if (args.prompt > 0) {
      run_prefill();
      std::vector<double> v;
      for (int r = 0; r < args.reps; ++r) v.push_back(run_prefill());
      tests.push_back({"pp" + std::to_string(args.prompt), Summarize(v)});
    }
    if (args.gen > 0) {
      run_decode();
      std::vector<double> v;
      for (int r = 0; r < args.reps; ++r) v.push_back(run_decode());
      tests.push_back({"tg" + std::to_string(args.gen), Summarize(v)});
    }
    encoder_results = BenchEncoders(*model, args.image_tokens, args.audio_seconds, args.reps, threads);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "g4 bench: %s\n", e.what());
    return 1;
  }
  if (tests.empty() && encoder_results.empty()) {
    std::fprintf(stderr, "g4 bench: nothing to time: -p and -n are 0 and --image-tokens and --audio-seconds skip "
                         "every encoder test\n");
    return 2;
  }
  const double peak_rss = PeakRssBytes();
  const double bytes_per_token = BytesPerDecodedToken(model->internal());
  const bool measure_bandwidth = args.bw_mib > 0 && !tests.empty();
  const double bandwidth = measure_bandwidth ? MeasureReadBandwidth(threads, static_cast<size_t>(args.bw_mib)) : 0.0;
  const double limit = bandwidth > 0 ? bandwidth / bytes_per_token : 0.0;

  std::string types;
  for (const auto& [name, count] : summary.tensor_types) {
    if (name == "f32" && summary.tensor_types.size() > 1) continue;
    types += (types.empty() ? "" : "+") + name;
  }
  const std::string model_name = summary.variant + " " + types;
  const char* simd = SimdLevelName(ActiveSimdLevel());

  if (args.json) {
    nlohmann::json j;
    j["model"] = summary.path;
    j["variant"] = summary.variant;
    j["types"] = types;
    j["weight_bytes"] = summary.text_weight_bytes;
    j["parameters"] = summary.text_parameters;
    j["threads"] = threads;
    j["simd"] = simd;
    j["reps"] = args.reps;
    for (const Test& t : tests) {
      j["tests"].push_back({{"test", t.name},
                            {"tokens_per_s_median", t.stats.median},
                            {"tokens_per_s_min", t.stats.min},
                            {"tokens_per_s_max", t.stats.max},
                            {"samples", t.stats.samples}});
    }
    j["peak_rss_bytes"] = peak_rss;
    j["bytes_per_decoded_token"] = bytes_per_token;
    j["read_bandwidth_bytes_per_s"] = bandwidth;
    j["decode_limit_tokens_per_s"] = limit;
    for (const EncoderBenchResult& r : encoder_results) {
      const Stats e = Summarize(r.samples);
      j["encoders"].push_back({{"test", r.name}, {"unit", r.unit}, {"detail", r.detail}, {"median", e.median},
                               {"min", e.min}, {"max", e.max}, {"samples", e.samples}});
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  if (!tests.empty()) {
    std::printf("| %-16s | %10s | %8s | %7s | %-7s | %6s | %24s |\n", "model", "size", "params", "threads", "simd",
                "test", "t/s (median, min - max)");
    std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", std::string(16, '-').c_str(), std::string(10, '-').c_str(),
                std::string(8, '-').c_str(), std::string(7, '-').c_str(), std::string(7, '-').c_str(),
                std::string(6, '-').c_str(), std::string(24, '-').c_str());
    char params[32];
    std::snprintf(params, sizeof params, "%.2f B", summary.text_parameters / 1e9);
    for (const Test& t : tests) {
      char cell[64];
      std::snprintf(cell, sizeof cell, "%.2f (%.2f - %.2f)", t.stats.median, t.stats.min, t.stats.max);
      std::printf("| %-16s | %10s | %8s | %7d | %-7s | %6s | %24s |\n", model_name.c_str(),
                  Gib(static_cast<double>(summary.text_weight_bytes)).c_str(), params, threads, simd, t.name.c_str(),
                  cell);
    }
    std::printf("\npeak RSS %s; decode reads %.3f GB of weights per token; measured read bandwidth %.1f GB/s "
                "(%d threads) -> decode limit %.2f tok/s\n",
                Gib(peak_rss).c_str(), bytes_per_token / 1e9, bandwidth / 1e9, threads, limit);
    for (const Test& t : tests) {
      if (t.name.rfind("tg", 0) == 0 && limit > 0) {
        std::printf("decode at %.0f%% of the bandwidth limit\n", 100.0 * t.stats.median / limit);
      }
    }
  }
  if (!encoder_results.empty()) std::printf("\n| %-12s | %-30s | %-34s |\n", "encoder", "median (min - max)", "input");
  for (const EncoderBenchResult& r : encoder_results) {
    const Stats e = Summarize(r.samples);
    char cell[64];
    std::snprintf(cell, sizeof cell, "%.3g %s (%.3g - %.3g)", e.median, r.unit.c_str(), e.min, e.max);
    std::printf("| %-12s | %-30s | %-34s |\n", r.name.c_str(), cell, r.detail.c_str());
  }
  return 0;
}

}  // namespace

Runner AddBenchCommand(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* sub = app.add_subcommand("bench", "Measure prefill and decode speed (llama-bench style)");
  sub->add_option("-m,--model", args->model, "GGUF file or Hugging Face checkpoint folder")->required();
  sub->add_option("-p,--n-prompt", args->prompt, "prefill test: tokens in one batch (0: skip)");
  sub->add_option("-n,--n-gen", args->gen, "decode test: tokens generated one at a time (0: skip)");
  sub->add_option("-t,--threads", args->threads, "threads (default: all cores)");
  sub->add_option("--kv-type", args->kv_type, "KV cache entries: f16 (default), bf16, q8_0, f32");
  sub->add_option("-r,--repetitions", args->reps, "timed runs per test (median and spread are reported)");
  sub->add_option("--bw-mib", args->bw_mib, "MiB read by the bandwidth measurement (0: skip it)");
  sub->add_flag("--json", args->json, "print the results as JSON");
  sub->add_option("--mmproj", args->mmproj,
                  "also time the vision/audio towers of this mmproj GGUF (-p 0 -n 0 to time only them)");
  sub->add_option("--image-tokens", args->image_tokens, "image test: soft-token budget (0: skip)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--audio-seconds", args->audio_seconds, "audio test: clip length in seconds (0: skip)")
      ->check(CLI::Range(0.0, kMaxAudioSeconds));
  return [args] { return RunBench(*args); };
}

}  // namespace g4::cli
