// g4-random-model: writes a Gemma 4 GGUF with seeded random weights and real (or tiny golden)
// shapes, for testing and benchmarking without downloading checkpoints.
//
//   g4-random-model --preset e2b --type q4_0 --seed 1 -o e2b-q4_0.gguf
//
// Values are a pure function of (seed, tensor name, element index), so the output does not
// depend on the thread count. Tensors are generated in row chunks by worker threads and written
// in order by the main thread, so memory stays small even for the 30+ GB models.
#include <sys/statvfs.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "model/gguf_writer.h"
#include "ops/dtype.h"
#include "mmproj_presets.h"
#include "presets.h"
#include "tokenizer/tokenizer.h"

namespace g4 {
namespace {

constexpr size_t kJobBytes = size_t{4} << 20;  // output bytes per work item

volatile std::sig_atomic_t g_interrupted = 0;
void OnInterrupt(int) { g_interrupted = 1; }

// splitmix64's finaliser: a strong 64-bit mix, run once per four weights.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t TensorKey(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return Mix64(h ^ Mix64(seed + 0x9e3779b97f4a7c15ull));
}

// 65536 quantiles of the standard normal distribution: a 16-bit random draw indexes it, so one
// 64-bit hash yields four normal values (a large share of the run time is spent here). The
// tails stop at +-4.3 sigma, so no outliers dominate the quantization blocks.
const float* NormalTable() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    double z = -4.0;
    for (size_t k = 0; k < t.size(); ++k) {
      const double p = (static_cast<double>(k) + 0.5) / 65536.0;
      // Newton on Phi(z) = p, starting from the previous (nearby) quantile.
      for (int it = 0; it < 8; ++it) {
        const double cdf = 0.5 * std::erfc(-z / std::sqrt(2.0));
        const double pdf = std::exp(-0.5 * z * z) / std::sqrt(2.0 * std::numbers::pi);
        const double step = (cdf - p) / pdf;
        z -= step;
        if (std::fabs(step) < 1e-12) break;
      }
      t[k] = static_cast<float>(z);
    }
    return t;
  }();
  return table.data();
}

// Calls f(i, r) for i in [0, n) with r a 16-bit random number that depends only on (base, i).
template <typename F>
inline void ForEachDraw(uint64_t base, int64_t n, F&& f) {
  int64_t i = 0;
  for (uint64_t c = 0; i < n; ++c) {
    uint64_t x = Mix64(base + c * 0x9e3779b97f4a7c15ull);
    if (i + 4 <= n) {
      f(i, x & 0xffff);
      f(i + 1, (x >> 16) & 0xffff);
      f(i + 2, (x >> 32) & 0xffff);
      f(i + 3, x >> 48);
      i += 4;
    } else {
      for (; i < n; ++i, x >>= 16) f(i, x & 0xffff);
    }
  }
}

void FillRow(const TensorPlan& t, uint64_t key, int64_t row, float* out) {
  const int64_t n = t.row_length();
  const uint64_t base = Mix64(key + static_cast<uint64_t>(row) * 0xd1b54a32d192ed03ull);
  const float* normal = NormalTable();
  const float scale = t.scale;
  const float span = t.scale2 - t.scale;
  switch (t.kind) {
    case ValueKind::kNormal:
      ForEachDraw(base, n, [=](int64_t i, uint64_t r) { out[i] = scale * normal[r]; });
      break;
    case ValueKind::kNorm:
      ForEachDraw(base, n, [=](int64_t i, uint64_t r) { out[i] = 1.0f + 0.1f * normal[r]; });
      break;
    case ValueKind::kAround:
      ForEachDraw(base, n,
                  [=](int64_t i, uint64_t r) { out[i] = scale * (1.0f + 0.1f * normal[r]); });
      break;
    case ValueKind::kUniform:
      ForEachDraw(base, n, [=](int64_t i, uint64_t r) {
        out[i] = scale + span * ((static_cast<float>(r) + 0.5f) * (1.0f / 65536.0f));
      });
      break;
    case ValueKind::kRopeFreqs:
      // llama.cpp divides the angle by these factors: 1e30 freezes the non-rotated pairs.
      for (int64_t i = 0; i < n; ++i) out[i] = i < t.rotated ? 1.0f : 1e30f;
      break;
  }
}

struct Job {
  size_t tensor;
  int64_t row_begin;
  int64_t row_end;
};

std::string GigaBytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB", static_cast<double>(bytes) / 1e9);
  return buf;
}

std::string WithCommas(uint64_t v) {
  const std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

class Progress {
 public:
  Progress(uint64_t total, bool quiet)
      : total_(total),
        quiet_(quiet),
        tty_(isatty(STDERR_FILENO) != 0),
        start_(std::chrono::steady_clock::now()),
        last_(start_) {}

  void Update(uint64_t done, const std::string& tensor) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    const double since_last = std::chrono::duration<double>(now - last_).count();
    if (done < total_ && since_last < (tty_ ? 0.25 : 5.0)) return;
    Print(now, done, tensor);
  }
  void Done() {
    if (quiet_) return;
    if (tty_) std::fprintf(stderr, "\n");
  }
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  void Print(std::chrono::steady_clock::time_point now, uint64_t done, const std::string& tensor) {
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double pct =
        total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0;
    std::fprintf(stderr, "%s%s / %s  %5.1f%%  %6.0f MB/s  %-40s%s", tty_ ? "\r" : "",
                 GigaBytes(done).c_str(), GigaBytes(total_).c_str(), pct,
                 secs > 0 ? static_cast<double>(done) / secs / 1e6 : 0.0, tensor.c_str(),
                 tty_ ? "" : "\n");
    std::fflush(stderr);
  }

  uint64_t total_;
  bool quiet_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

// Worker threads fill a ring of output slots; the calling thread writes them in job order.
class ParallelWriter {
 public:
  ParallelWriter(const std::vector<TensorPlan>& plan, const std::vector<DType>& types,
                 uint64_t seed, int threads)
      : plan_(plan), types_(types), threads_(std::max(1, threads)) {
    for (size_t i = 0; i < plan.size(); ++i) {
      keys_.push_back(TensorKey(seed, plan[i].name));
      const size_t row_bytes = RowBytes(types[i], plan[i].row_length());
      const int64_t rows = plan[i].n_rows();
      const int64_t step =
          std::max<int64_t>(1, static_cast<int64_t>(kJobBytes / std::max<size_t>(row_bytes, 1)));
      for (int64_t r = 0; r < rows; r += step) jobs_.push_back({i, r, std::min(rows, r + step)});
    }
    // Enough slack for workers finishing out of order; each slot holds about kJobBytes.
    slots_.resize(static_cast<size_t>(2 * threads_ + 2));
  }

  void Run(GgufWriter& w, Progress& progress) {
    std::vector<std::thread> workers;
    // Stops and joins the workers however this function exits (errors, Ctrl-C included).
    struct Joiner {
      ParallelWriter* self;
      std::vector<std::thread>* workers;
      ~Joiner() {
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->stop_ = true;
        }
        self->cv_.notify_all();
        for (std::thread& t : *workers) t.join();
      }
    } joiner{this, &workers};
    for (int i = 0; i < threads_; ++i) workers.emplace_back([this] { Work(); });

    uint64_t done = 0;
    const int64_t n_slots = static_cast<int64_t>(slots_.size());
    for (int64_t j = 0; j < static_cast<int64_t>(jobs_.size()); ++j) {
      Slot& slot = slots_[static_cast<size_t>(j % n_slots)];
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return slot.ready_job == j || error_ != nullptr; });
        if (error_ != nullptr) std::rethrow_exception(error_);
      }
      if (g_interrupted) Fail("interrupted");
      w.WriteTensorData(slot.bytes.data(), slot.bytes.size());
      done += slot.bytes.size();
      {
        std::lock_guard<std::mutex> lock(mu_);
        slot.ready_job = -1;
        written_ = j + 1;
      }
      cv_.notify_all();
      progress.Update(done, plan_[jobs_[static_cast<size_t>(j)].tensor].name);
    }
  }

 private:
  struct Slot {
    std::vector<uint8_t> bytes;
    int64_t ready_job = -1;
  };

  void Work() {
    std::vector<float> row;
    const int64_t n_jobs = static_cast<int64_t>(jobs_.size());
    const int64_t n_slots = static_cast<int64_t>(slots_.size());
    for (;;) {
      int64_t j;
      {
        std::unique_lock<std::mutex> lock(mu_);
        // Job j reuses the slot of job j - n_slots, so it waits until that one is written.
        cv_.wait(lock,
                 [&] { return stop_ || next_job_ >= n_jobs || next_job_ < written_ + n_slots; });
        if (stop_ || next_job_ >= n_jobs) return;
        j = next_job_++;
      }
      try {
        const Job& job = jobs_[static_cast<size_t>(j)];
        const TensorPlan& t = plan_[job.tensor];
        const DType type = types_[job.tensor];
        const int64_t n = t.row_length();
        const size_t row_bytes = RowBytes(type, n);
        Slot& slot = slots_[static_cast<size_t>(j % n_slots)];
        slot.bytes.resize(static_cast<size_t>(job.row_end - job.row_begin) * row_bytes);
        row.resize(static_cast<size_t>(n));
        for (int64_t r = job.row_begin; r < job.row_end; ++r) {
          FillRow(t, keys_[job.tensor], r, row.data());
          QuantizeRow(type, row.data(),
                      slot.bytes.data() + static_cast<size_t>(r - job.row_begin) * row_bytes, n);
        }
        std::lock_guard<std::mutex> lock(mu_);
        slot.ready_job = j;
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (error_ == nullptr) error_ = std::current_exception();
        stop_ = true;
      }
      cv_.notify_all();
    }
  }

  const std::vector<TensorPlan>& plan_;
  const std::vector<DType>& types_;
  int threads_;
  std::vector<uint64_t> keys_;
  std::vector<Job> jobs_;
  std::vector<Slot> slots_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t next_job_ = 0;
  int64_t written_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

DType ParseType(const std::string& s) {
  if (s == "f32") return DType::kF32;
  if (s == "f16") return DType::kF16;
  if (s == "bf16") return DType::kBF16;
  if (s == "q8_0") return DType::kQ8_0;
  if (s == "q4_0") return DType::kQ4_0;
  Fail("unknown --type '", s, "' (f32, f16, bf16, q8_0, q4_0)");
}

uint64_t CountParameters(const std::vector<TensorPlan>& plan) {
  uint64_t n = 0;
  for (const TensorPlan& t : plan) {
    if (t.is_parameter) n += static_cast<uint64_t>(t.n_elements());
  }
  return n;
}

void ListPresets() {
  std::printf("%-10s %6s %6s %7s %15s  %s\n", "preset", "layers", "d", "vocab", "parameters",
              "shapes");
  for (const ModelPreset& p : BuiltinPresets()) {
    std::printf("%-10s %6lld %6lld %7lld %15s  %s\n", p.name.c_str(),
                static_cast<long long>(p.n_layer), static_cast<long long>(p.n_embd),
                static_cast<long long>(p.n_vocab),
                WithCommas(CountParameters(PlanTensors(p, false))).c_str(), p.summary.c_str());
  }
}

void CheckFreeSpace(const std::string& path, uint64_t needed) {
  std::string dir = ".";
  const size_t slash = path.find_last_of('/');
  if (slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  struct statvfs st;
  if (statvfs(dir.c_str(), &st) != 0) return;  // unknown: let the writes report any problem
  const uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  if (free_bytes < needed) {
    Fail(path, ": needs about ", GigaBytes(needed), " but only ", GigaBytes(free_bytes),
         " are free in ", dir);
  }
}

struct Options {
  std::string preset;
  std::string config;
  std::string type = "q4_0";
  uint64_t seed = 1;
  std::string output;
  int threads = 0;
  bool list = false;
  bool shared_kv_tensors = false;
  bool quiet = false;
  bool mmproj = false;  // write the preset's multimodal towers instead of its text model
  std::string vocab;  // a Gemma 4 tokenizer.json to embed instead of the placeholder vocabulary
};

// Writes the plan's tensors after the metadata `write_metadata` sets; prints what was written.
int WritePlan(const Options& o, const std::string& what, const std::vector<TensorPlan>& plan, DType wtype,
              const std::function<void(GgufWriter&)>& write_metadata) {
  std::vector<DType> types;
  uint64_t data_bytes = 0;
  for (const TensorPlan& t : plan) {
    types.push_back(StorageType(t, wtype));
    data_bytes += RowBytes(types.back(), t.row_length()) * static_cast<uint64_t>(t.n_rows());
  }
  // Plus alignment padding and a header that a 262144-token vocabulary makes a few MB long.
  CheckFreeSpace(o.output, data_bytes + 32 * plan.size() + (uint64_t{64} << 20));
  const int threads = o.threads > 0
                          ? o.threads
                          : static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  if (!o.quiet) {
    std::fprintf(stderr, "g4-random-model: %s (%s), seed %llu, %zu tensors, %d threads -> %s\n", what.c_str(),
                 o.type.c_str(), static_cast<unsigned long long>(o.seed), plan.size(), threads, o.output.c_str());
  }

  GgufWriter w(o.output);
  write_metadata(w);
  for (size_t i = 0; i < plan.size(); ++i) w.DeclareTensor(plan[i].name, types[i], plan[i].shape);
  w.WriteHeader();
  Progress progress(data_bytes, o.quiet);
  ParallelWriter(plan, types, o.seed, threads).Run(w, progress);
  w.Finish();
  progress.Done();

  const double secs = progress.Seconds();
  const uint64_t params = CountParameters(plan);
  const uint64_t file_bytes = std::filesystem::file_size(o.output);
  std::printf("wrote %s: %zu tensors, %s (%s bytes) in %.1f s (%.0f MB/s)\n", o.output.c_str(),
              plan.size(), GigaBytes(file_bytes).c_str(), WithCommas(file_bytes).c_str(), secs,
              secs > 0 ? static_cast<double>(file_bytes) / secs / 1e6 : 0.0);
  std::printf("parameters: %s (%.2f B)\n", WithCommas(params).c_str(),
              static_cast<double>(params) / 1e9);
  return 0;
}

std::string Description(const Options& o, const std::string& preset) {
  return Concat("random weights, preset=", preset, ", seed=", o.seed, ", wtype=", o.type,
                "; generated by g4-random-model");
}

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) Fail(path, ": cannot open");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    Fail(path, ": invalid JSON: ", e.what());
  }
  return j;
}

int GenerateMmproj(const Options& o) {
  MmprojPreset preset;
  if (!o.config.empty()) {
    preset = MmprojPresetFromGoldenConfig(ReadJson(o.config));
  } else {
    const MmprojPreset* p = FindMmprojPreset(o.preset);
    if (p == nullptr) Fail("--mmproj: preset '", o.preset, "' has no multimodal towers (e2b, e4b, 26b-a4b, 31b do)");
    preset = *p;
  }
  const DType wtype = ParseType(o.type);
  return WritePlan(o, preset.name + " towers", PlanMmprojTensors(preset), wtype, [&](GgufWriter& w) {
    WriteMmprojMetadata(w, preset, wtype, Description(o, preset.name + " mmproj"));
  });
}

int Generate(const Options& o) {
  ModelPreset preset;
  if (!o.config.empty()) {
    preset = PresetFromGoldenConfig(ReadJson(o.config));
  } else {
    const ModelPreset* p = FindPreset(o.preset);
    if (p == nullptr) Fail("unknown preset '", o.preset, "' (see --list)");
    preset = *p;
  }
  std::unique_ptr<Tokenizer> vocabulary;
  if (!o.vocab.empty()) {
    vocabulary = Tokenizer::FromHfJson(o.vocab);
    if (vocabulary->vocab_size() != preset.n_vocab) {
      Fail(o.vocab, ": has ", vocabulary->vocab_size(), " tokens but preset '", preset.name, "' has a vocabulary of ",
           preset.n_vocab);
    }
  }
  const DType wtype = ParseType(o.type);
  return WritePlan(o, preset.name, PlanTensors(preset, o.shared_kv_tensors), wtype, [&](GgufWriter& w) {
    WriteMetadata(w, preset, wtype, Description(o, preset.name), vocabulary.get());
  });
}

}  // namespace
}  // namespace g4

int main(int argc, char** argv) {
  g4::Options o;
  CLI::App app{"Writes a Gemma 4 GGUF with seeded random weights and real or tiny shapes."};
  auto* preset = app.add_option("-p,--preset", o.preset, "model shapes (see --list)");
  auto* config = app.add_option("--config", o.config,
                                "take the shapes from a golden *.config.json instead of a preset")
                     ->check(CLI::ExistingFile);
  preset->excludes(config);
  app.add_option("-t,--type", o.type, "matrix storage type")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "q4_0"}))
      ->capture_default_str();
  app.add_option("-s,--seed", o.seed, "random seed")->capture_default_str();
  app.add_option("-o,--output", o.output, "output GGUF path");
  app.add_option("-j,--threads", o.threads, "generator threads (default: all cores)");
  app.add_flag("--shared-kv-tensors", o.shared_kv_tensors,
               "also write the unused attn_k/attn_v/attn_k_norm of KV-shared layers, as official "
               "checkpoints do");
  app.add_flag("-q,--quiet", o.quiet, "no progress on stderr");
  app.add_option("--vocab", o.vocab,
                 "embed this Gemma 4 tokenizer.json (the real vocabulary) instead of a placeholder one");
  app.add_flag("--mmproj", o.mmproj,
               "write the preset's vision (and audio) towers as a llama.cpp-style mmproj GGUF instead of "
               "the text model (matrices f16 unless --type is given); with --config, a golden "
               "*.mmproj.*.gguf.config.json");
  app.add_flag("-l,--list", o.list, "list the presets and exit");
  CLI11_PARSE(app, argc, argv);

  try {
    if (o.list) {
      g4::ListPresets();
      return 0;
    }
    if (o.preset.empty() && o.config.empty())
      g4::Fail("give --preset NAME or --config FILE (see --list)");
    if (o.output.empty()) g4::Fail("give an output path with -o");
    std::signal(SIGINT, g4::OnInterrupt);
    std::signal(SIGTERM, g4::OnInterrupt);
    if (o.mmproj) {
      if (app.count("--type") == 0) o.type = "f16";
      return g4::GenerateMmproj(o);
    }
    return g4::Generate(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\ng4-random-model: error: %s\n", e.what());
    return 1;
  }
}
